/** `tandem embed` and `tandem bench encoder`. */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { UserError } from "../core/errors.js";
import { loadDataset } from "../data/dataset.js";
import { evenlySpaced } from "../data/split.js";
import { benchEncoder, encoderShape, hasInt8Products, matmulFlopsPerSample, measureMatmulRates, type BenchRow } from "../encoders/bench.js";
import { EncoderModel } from "../encoders/model.js";
import { runEncoder } from "../encoders/inference.js";
import { resolveModelDir } from "../encoders/hub.js";
import { calibrateActivationRanges, compareQuantized, quantizeModel, type QuantizationCheck } from "../encoders/quantize-model.js";
import { DEFAULT_SMOOTHING_ALPHA, type QuantizeOptions } from "../encoders/quantize.js";
import { pushModel } from "../encoders/push.js";
import { writeVectors } from "../encoders/vectors.js";
import { packingRowTokens } from "../encoders/packing.js";
import { loadEncoderFromCli, withEncoderOptions, type EncoderCliOptions } from "./encoder-options.js";
import { parseFormat, parseInteger, parseNumber, printJson, snakeCaseKeys } from "./options.js";
import { progressBar } from "./progress.js";

export function registerEncoderCommands(program: Command): void {
  withEncoderOptions(
    program
      .command("embed")
      .description("Write one vector per row with an embedding model (pooled, L2-normalised unless config.json says normalize: false).")
      .requiredOption("-i, --input <file>", "CSV, TSV or JSONL with a text column")
      .requiredOption("-o, --out <file>", "vectors file (format: docs/encoders.md, \"Vectors file\")")
      .option("--text-col <column>", "text column (default: guessed)"),
  ).action(async (options: EncoderCliOptions & { input: string; out: string; textCol?: string }) => {
    const dataset = await loadDataset(options.input, { columns: { text: options.textCol }, requireLabels: false });
    const model = await loadEncoderFromCli(options);
    const progress = progressBar(dataset.examples.length, "embed");
    const result = await runEncoder(model, dataset.examples.map((e) => e.text), {
      batchSize: options.batchSize,
      maxLength: options.maxLength,
      bucketing: options.bucketing,
      packing: packingRowTokens(options.packing),
      onProgress: (done) => progress.update(done),
    });
    progress.stop();
    writeVectors(options.out, { rows: dataset.examples.length, dim: result.width, data: result.values });
    process.stderr.write(`${dataset.examples.length} vectors of ${result.width} (${model.kind} model) → ${options.out}${result.truncated ? `; ${result.truncated} texts truncated` : ""}\n`);
  });

  program
    .command("quantize")
    .description("Quantize an encoder to int8: int8 weights with one scale per output column, embedding tables int8 per row, self-attention fused into one ONNX Runtime MultiHeadAttention per layer. With --calibrate, activations are smoothed (SmoothQuant) and quantized with ranges fixed on those texts (static: no range computed at run time, a text's answer independent of its batch); without it, ONNX Runtime quantizes them per call (dynamic; tandem quantizes them per row as it loads the file). Writes an ordinary model folder that classify, embed, train head, bench and serve load unchanged. With --check, prints the quality guard: label agreement, probability change and macro F1 of fp32 vs int8.")
    .argument("<model>", "model folder, \"starter\", or a Hugging Face id already in the cache")
    .requiredOption("-o, --out <dir>", "int8 model folder to write")
    .option("--check <file>", "labelled (or unlabelled) texts to compare fp32 and int8 on (CSV, TSV or JSONL)")
    .option("--limit <n>", "compare on the first n rows of --check", parseInteger("--limit", 1))
    .option("--text-col <column>", "text column of --check (default: guessed)")
    .option("--label-col <column>", "label column of --check (default: guessed)")
    .option("--min-elements <n>", "weights smaller than this stay float", parseInteger("--min-elements", 1), 4096)
    .option("--no-embeddings", "keep the embedding tables float")
    .option("--keep-float <regex>", "MatMuls whose ONNX node name matches stay float (e.g. 'output/dense' keeps BERT's FFN down-projection float: higher agreement, less speed)")
    .option("--calibrate <file>", "texts (CSV, TSV or JSONL; never the test split) to measure activation ranges on: smooths outlier channels into the weights (SmoothQuant) and fixes each activation's int8 range (static)")
    .option("--calibrate-limit <n>", "calibrate on this many texts of --calibrate, evenly spaced through the file (static ranges need the rare large activations: 2,048 texts agreed with fp32 on 98.95% of the starter's test labels, 512 on 98.50%)", parseInteger("--calibrate-limit", 1), 2048)
    .option("--activations <kind>", "how activations are quantized: static (one range per tensor, fixed by --calibrate) or dynamic (ranges computed at run time); default static with --calibrate, dynamic without", parseFormat(["static", "dynamic"] as const))
    .option("--no-fuse", "write the graph without fusing self-attention (tandem still fuses it as it loads the file)")
    .option("--alpha <a>", "smoothing strength: 0 leaves the activations as they are, 1 moves their whole range into the weights", parseNumber("--alpha", 0, 1), DEFAULT_SMOOTHING_ALPHA)
    .option("-f, --format <format>", "text or json", parseFormat(["text", "json"] as const), "text")
    .action(async (spec: string, options: { out: string; check?: string; limit?: number; textCol?: string; labelCol?: string; minElements: number; embeddings: boolean; keepFloat?: string; calibrate?: string; calibrateLimit: number; activations?: "static" | "dynamic"; fuse: boolean; alpha: number; format: string }) => {
      const dir = await resolveModelDir(spec);
      let keepFloat: RegExp | undefined;
      try {
        keepFloat = options.keepFloat === undefined ? undefined : new RegExp(options.keepFloat);
      } catch (error) {
        throw new UserError(`--keep-float: ${(error as Error).message}`);
      }
      let smoothing: QuantizeOptions["smoothing"];
      if (options.calibrate) {
        const dataset = await loadDataset(options.calibrate, { columns: { text: options.textCol }, requireLabels: false });
        const texts = evenlySpaced(dataset.examples.map((e) => e.text), options.calibrateLimit);
        const ranges = await calibrateActivationRanges(dir, texts, { minElements: options.minElements, keepFloat });
        smoothing = { ...ranges, alpha: options.alpha, texts: texts.length };
      }
      const activations = options.activations ?? (smoothing ? "static" : "dynamic");
      if (activations === "static" && !smoothing) throw new UserError("--activations static needs --calibrate FILE (texts to fix each activation's range on)");
      const result = quantizeModel(dir, options.out, { minElements: options.minElements, embeddingMinRows: options.embeddings ? undefined : 0, keepFloat, smoothing, activations, fuse: options.fuse });
      let check: QuantizationCheck | undefined;
      if (options.check) {
        const dataset = await loadDataset(options.check, { columns: { text: options.textCol, label: options.labelCol }, requireLabels: false });
        const examples = dataset.examples.slice(0, options.limit ?? dataset.examples.length);
        const gold = examples.every((e) => e.label !== undefined && e.label !== "") ? examples.map((e) => String(e.label)) : undefined;
        check = await compareQuantized(dir, options.out, examples.map((e) => e.text), gold);
      }
      if (options.format === "json") {
        printJson(snakeCaseKeys({ ...result, check }));
        return;
      }
      const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
      const smoothed = smoothing ? `, ${result.smoothed} activation(s) smoothed (α ${options.alpha}, ${smoothing.texts} calibration texts)` : "";
      const fusedText = result.fusedAttention > 0 ? `, ${result.fusedAttention} attention block(s) fused` : "";
      process.stdout.write(`int8 model folder → ${options.out}: ${result.matmuls} MatMuls int8 (${result.floatMatmuls} left float; activations ${result.activations}${result.foldedBiases > 0 ? `, ${result.foldedBiases} biases folded in` : ""})${smoothed}, ${result.embeddings} embedding table(s) int8${fusedText}; graph ${mb(result.graphBytesBefore)} → ${mb(result.graphBytesAfter)}\n`);
      if (check) {
        const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
        process.stdout.write(`quality guard on ${check.rows} rows of ${options.check}: label agreement ${pct(check.agreement)}, probability change max ${check.maxProbabilityChange.toFixed(4)} mean ${check.meanProbabilityChange.toFixed(4)}`);
        if (check.macroF1) process.stdout.write(`, macro F1 ${pct(check.macroF1.fp32)} (fp32) → ${pct(check.macroF1.int8)} (int8), ${((check.macroF1.int8 - check.macroF1.fp32) * 100).toFixed(2)} points`);
        process.stdout.write(`; ${check.seconds.fp32.toFixed(1)} s fp32, ${check.seconds.int8.toFixed(1)} s int8 (${(check.seconds.fp32 / check.seconds.int8).toFixed(2)}×)\n`);
      } else {
        process.stdout.write("quality not measured: pass --check FILE (labelled texts) to compare fp32 and int8\n");
      }
    });

  program
    .command("push")
    .description("Publish a model folder to the Hugging Face Hub (or a compatible hub: TANDEM_HUB_URL) with its model card, through the official client; the repository is created when missing. The token comes from HF_TOKEN.")
    .argument("<dir>", "model folder")
    .argument("<repo>", "repository id, user/name")
    .option("--private", "create the repository private")
    .option("--message <text>", "commit message")
    .option("-f, --format <format>", "text or json", parseFormat(["text", "json"] as const), "text")
    .action(async (dir: string, repo: string, options: { private?: boolean; message?: string; format: string }) => {
      const result = await pushModel(dir, repo, { private: options.private, message: options.message });
      if (options.format === "json") printJson(result);
      else process.stdout.write(`${result.files.length} files (${(result.files.reduce((s, f) => s + f.bytes, 0) / 1e6).toFixed(1)} MB) → ${result.url}${result.commit ? ` (commit ${result.commit.slice(0, 12)})` : ""}; use it with --model ${repo}\n`);
    });

  const bench = program.command("bench").description("Throughput benchmarks.");
  withEncoderOptions(
    bench
      .command("encoder")
      .description("Samples/s and tokens/s per batch size: tandem end to end against a bare ONNX Runtime session on batches sorted by token length, unsorted batches and fixed padding; with --int8, the int8 model of the same folder beside fp32; and the share of this machine's measured matrix-multiply rate each reaches.")
      .requiredOption("-i, --input <file>", "texts to run (CSV, TSV or JSONL)")
      .option("--text-col <column>", "text column (default: guessed)")
      .option("--batch-sizes <list>", "batch sizes", (v: string) => v.split(",").map((n) => parseInteger("--batch-sizes", 1)(n.trim())), [1, 8, 32, 64])
      .option("--limit <n>", "use the first n texts", parseInteger("--limit", 1), 512)
      .option("--repeats <n>", "alternating rounds per measurement; the fastest counts", parseInteger("--repeats", 1), 3)
      .option("--int8 [dir]", "also measure the int8 model: its folder, or (no value) quantize the model into a temporary folder")
      .option("-f, --format <format>", "text or json", parseFormat(["text", "json"] as const), "text"),
  ).action(async (options: EncoderCliOptions & { input: string; textCol?: string; batchSizes: number[]; limit: number; repeats: number; int8?: string | boolean; format: string }) => {
    const dataset = await loadDataset(options.input, { columns: { text: options.textCol }, requireLabels: false });
    const texts = dataset.examples.slice(0, options.limit).map((e) => e.text);
    if (texts.length === 0) throw new UserError("no texts to benchmark", { file: options.input });
    const model = await loadEncoderFromCli(options);
    const graph = readFileSync(model.graphFile);
    let int8: EncoderModel | undefined;
    let scratch: string | undefined;
    if (options.int8) {
      let dir = typeof options.int8 === "string" ? options.int8 : undefined;
      if (!dir) {
        scratch = mkdtempSync(join(tmpdir(), "tandem-int8-"));
        dir = join(scratch, "model");
        quantizeModel(model.dir, dir);
      }
      int8 = await EncoderModel.load(dir, { threads: options.threads, executionProvider: options.device });
    }
    const config = JSON.parse(readFileSync(join(model.dir, "config.json"), "utf8")) as Record<string, unknown>;
    const maxLength = Math.min(options.maxLength ?? 512, model.maxPositions);
    const meanTokens = texts.reduce((sum, text) => sum + model.tokenizer.encode(text, maxLength).ids.length, 0) / texts.length;
    const shape = encoderShape(config);
    const flopsPerSample = shape.layers > 0 ? matmulFlopsPerSample(graph, meanTokens, shape) : undefined;
    const machine = flopsPerSample ? await measureMatmulRates({ threads: options.threads }) : undefined;
    const header = `${model.kind} model ${model.dir} (${(graph.length / 1e6).toFixed(1)} MB graph), ${texts.length} texts (mean ${meanTokens.toFixed(1)} tokens), max length ${maxLength}, ${options.threads ?? "all"} threads, ${options.device}`;
    if (options.format === "text") {
      process.stdout.write(`${header}\n`);
      if (machine && flopsPerSample) process.stdout.write(`matrix products: ${(flopsPerSample / 1e9).toFixed(2)} GFLOP per sample; this machine's measured rate ${(machine.fp32FlopsPerSecond / 1e9).toFixed(0)} GFLOP/s fp32, ${(machine.int8FlopsPerSecond / 1e9).toFixed(0)} GOP/s int8\n`);
      process.stdout.write(`\n batch  samples/s  tokens/s  bare(token-sorted)  e2e/bare  unsorted  fixed-padding  bucketing/fixed${int8 ? "  int8 samples/s  int8/fp32" : ""}  of peak${int8 ? " (model / int8)" : ""}\n`);
    }
    const pct = (x?: number) => (x === undefined ? "-" : `${(x * 100).toFixed(0)}%`);
    const line = (row: BenchRow) =>
      `${String(row.batchSize).padStart(6)} ${row.samplesPerSecond.toFixed(1).padStart(10)} ${row.tokensPerSecond.toFixed(0).padStart(9)} ${row.bareSamplesPerSecond.toFixed(1).padStart(19)} ${row.ratioToBare.toFixed(3).padStart(9)} ${row.unsortedSamplesPerSecond.toFixed(1).padStart(9)} ${row.fixedPaddingSamplesPerSecond.toFixed(1).padStart(14)} ${(row.samplesPerSecond / row.fixedPaddingSamplesPerSecond).toFixed(2).padStart(15)}×` +
      (row.int8SamplesPerSecond ? ` ${row.int8SamplesPerSecond.toFixed(1).padStart(15)} ${(row.int8SamplesPerSecond / row.samplesPerSecond).toFixed(2).padStart(9)}×` : "") +
      `  ${pct(row.peakShare)}${int8 ? ` / ${pct(row.int8PeakShare)}` : ""}\n`;
    let rows: BenchRow[];
    try {
      rows = await benchEncoder(model, texts, {
        batchSizes: options.batchSizes,
        maxLength,
        repeats: options.repeats,
        int8,
        flopsPerSample,
        machine,
        int8Products: hasInt8Products(graph),
        onRow: (row) => options.format === "text" && process.stdout.write(line(row)),
      });
    } finally {
      await int8?.release();
      if (scratch) rmSync(scratch, { recursive: true, force: true });
    }
    if (options.format === "json") printJson({ model: model.dir, kind: model.kind, graph_bytes: graph.length, texts: texts.length, mean_tokens: meanTokens, flops_per_sample: flopsPerSample, machine, rows });
  });
}
