/** `tandem embed` and `tandem bench encoder`. */
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { UserError } from "../core/errors.js";
import { loadDataset } from "../data/dataset.js";
import { benchEncoder, type BenchRow } from "../encoders/bench.js";
import { runEncoder } from "../encoders/inference.js";
import { writeVectors } from "../encoders/vectors.js";
import { loadEncoderFromCli, withEncoderOptions, type EncoderCliOptions } from "./encoder-options.js";
import { parseFormat, parseInteger, printJson } from "./options.js";
import { progressBar } from "./progress.js";

export function registerEncoderCommands(program: Command): void {
  withEncoderOptions(
    program
      .command("embed")
      .description("Write one vector per row with an embedding model (pooled, L2-normalised unless config.json says normalize: false).")
      .requiredOption("-i, --input <file>", "CSV, TSV or JSONL with a text column")
      .requiredOption("-o, --out <file>", "vectors file (format: README, \"Vectors file\")")
      .option("--text-col <column>", "text column (default: guessed)"),
  ).action(async (options: EncoderCliOptions & { input: string; out: string; textCol?: string }) => {
    const dataset = await loadDataset(options.input, { columns: { text: options.textCol }, requireLabels: false });
    const model = await loadEncoderFromCli(options);
    const progress = progressBar(dataset.examples.length, "embed");
    const result = await runEncoder(model, dataset.examples.map((e) => e.text), {
      batchSize: options.batchSize,
      maxLength: options.maxLength,
      bucketing: options.bucketing,
      onProgress: (done) => progress.update(done),
    });
    progress.stop();
    writeVectors(options.out, { rows: dataset.examples.length, dim: result.width, data: result.values });
    process.stderr.write(`${dataset.examples.length} vectors of ${result.width} (${model.kind} model) → ${options.out}${result.truncated ? `; ${result.truncated} texts truncated` : ""}\n`);
  });

  const bench = program.command("bench").description("Throughput benchmarks.");
  withEncoderOptions(
    bench
      .command("encoder")
      .description("Samples/s and tokens/s per batch size, end to end and through a bare ONNX Runtime session on the same batches, with and without bucketing.")
      .requiredOption("-i, --input <file>", "texts to run (CSV, TSV or JSONL)")
      .option("--text-col <column>", "text column (default: guessed)")
      .option("--batch-sizes <list>", "batch sizes", (v: string) => v.split(",").map((n) => parseInteger("--batch-sizes", 1)(n.trim())), [1, 8, 32, 64])
      .option("--limit <n>", "use the first n texts", parseInteger("--limit", 1), 512)
      .option("--repeats <n>", "runs per measurement; the fastest counts", parseInteger("--repeats", 1), 2)
      .option("-f, --format <format>", "text or json", parseFormat(["text", "json"] as const), "text"),
  ).action(async (options: EncoderCliOptions & { input: string; textCol?: string; batchSizes: number[]; limit: number; repeats: number; format: string }) => {
    const dataset = await loadDataset(options.input, { columns: { text: options.textCol }, requireLabels: false });
    const texts = dataset.examples.slice(0, options.limit).map((e) => e.text);
    if (texts.length === 0) throw new UserError("no texts to benchmark", { file: options.input });
    const model = await loadEncoderFromCli(options);
    const graphBytes = (() => {
      try {
        return readFileSync(`${model.dir}/onnx/model.onnx`).length;
      } catch {
        return readFileSync(`${model.dir}/model.onnx`).length;
      }
    })();
    const header = `${model.kind} model ${model.dir} (${(graphBytes / 1e6).toFixed(1)} MB graph), ${texts.length} texts, max length ${options.maxLength}, ${options.threads ?? "all"} threads, ${options.device}`;
    if (options.format === "text") {
      process.stdout.write(`${header}\n\n batch  samples/s  tokens/s  bare samples/s  ratio  unsorted samples/s  fixed-padding samples/s  bucketing vs fixed\n`);
    }
    const line = (row: BenchRow) =>
      `${String(row.batchSize).padStart(6)} ${row.samplesPerSecond.toFixed(1).padStart(10)} ${row.tokensPerSecond.toFixed(0).padStart(9)} ${row.bareSamplesPerSecond.toFixed(1).padStart(15)} ${row.ratioToBare.toFixed(3).padStart(6)} ${row.unsortedSamplesPerSecond.toFixed(1).padStart(19)} ${row.fixedPaddingSamplesPerSecond.toFixed(1).padStart(24)} ${(row.samplesPerSecond / row.fixedPaddingSamplesPerSecond).toFixed(2).padStart(18)}×\n`;
    const rows = await benchEncoder(model, texts, {
      batchSizes: options.batchSizes,
      maxLength: options.maxLength,
      repeats: options.repeats,
      onRow: (row) => options.format === "text" && process.stdout.write(line(row)),
    });
    if (options.format === "json") printJson({ model: model.dir, kind: model.kind, graph_bytes: graphBytes, texts: texts.length, rows });
  });
}
