// Benchmark: tandem's int8 encoders against what users would pick instead, on two graphs and the same texts
// (1,000 spread across ../shared/data/sentiment-merged/test_all.csv), at batch 1, 8 and 32:
//   tandem int8      runEncoder on the int8 folder as tandem loads it (fused, batch-invariant activations);
//   bare ORT         an ONNX Runtime session on the same int8 file, fed batches sorted by token length with
//                    the inputs built before timing (tokenizing excluded: what a careful user would write);
//   tjs same file    transformers.js' pipeline("text-classification") on that same int8 file, batches sorted
//                    by characters;
//   tjs own q8       transformers.js on its own q8 file of the same fp32 graph (bench/q8_recipe.py: the q8
//                    mode of its conversion scripts; needs Python with onnxruntime, TANDEM_BENCH_PYTHON);
//   tandem fp32      runEncoder on the fp32 folder.
// Graphs: "starter" is the bundled starter (MiniLM-L6, 6 × 384) as shipped; its fp32 twin is the same graph
// with the int8 weights dequantized (the fp32 checkpoint is a build artefact; throughput depends on shapes).
// "base" is a DistilBERT-base-sized BERT (6 × 768, 12 heads, FFN 3072, random weights from the PyTorch
// engine), quantized by tandem quantize --calibrate (static activations) on 512 validation texts.
// Contenders alternate within each round, 5 rounds, the median counts. Also checked: tandem int8 gives the
// same labels and probabilities at batch 1 and 32. Goal (issue 37): tandem int8 ≥ 1.5× transformers.js' own
// q8 and ≥ 1.0× the bare session at every batch size.
// Usage: node --import tsx bench/encoder.ts [graphs=starter,base] [texts=1000] [batch sizes=1,8,32] [rounds=5]
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import * as ort from "onnxruntime-node";
import onnxProto from "onnx-proto";
import { loadDataset } from "../src/data/dataset.js";
import { classifyWithEncoder, planBatches, runEncoder } from "../src/encoders/inference.js";
import { EncoderModel } from "../src/encoders/model.js";
import { calibrateActivations, quantizeModel } from "../src/encoders/quantize-model.js";
import { floatValues } from "../src/encoders/quantize.js";
import { ENGINE_DIR, findPython } from "../src/training/engine.js";

const ROOT = join(import.meta.dirname, "..");
const SHARED = join(ROOT, "..", "shared");
const WORK = join(tmpdir(), "tandem-bench-encoder");
const graphs = (process.argv[2] ?? "starter,base").split(",");
const count = Number(process.argv[3] ?? 1000);
const batchSizes = (process.argv[4] ?? "1,8,32").split(",").map(Number);
const ROUNDS = Number(process.argv[5] ?? 5);
const threads = Math.min(availableParallelism(), 2);
const benchPython = process.env.TANDEM_BENCH_PYTHON ?? "python3";
const { onnx } = onnxProto;

/**
 * An int8 folder's fp32 twin: the same graph with every int8 weight dequantized into a float MatMul
 * (DynamicQuantizeMatMul; or a static QuantizeLinear + MatMulIntegerToFloat, whose scaling Mul keeps only
 * the smoothing). What the int8 file computes, in float: the throughput of its fp32 form.
 */
function fp32Twin(int8Dir: string, out: string): void {
  if (existsSync(join(out, "onnx", "model.onnx"))) return;
  rmSync(out, { recursive: true, force: true });
  cpSync(int8Dir, out, { recursive: true });
  const model = onnx.ModelProto.decode(readFileSync(join(int8Dir, "onnx", "model.onnx")));
  const graph = model.graph!;
  const initializers = new Map(graph.initializer!.map((t) => [t.name!, t]));
  const producer = new Map(graph.node!.flatMap((node) => node.output!.map((output) => [output, node] as const)));
  const dropped = new Set<onnxProto.onnx.INodeProto>();
  const rescaled = new Map<string, Float32Array>();
  const dequantized = (weight: string, scale: string) => {
    const name = `${weight}_fp32`;
    if (!initializers.has(name)) {
      const tensor = initializers.get(weight)!;
      const [k, n] = tensor.dims!.map(Number) as [number, number];
      const q = new Int8Array(new Uint8Array(tensor.rawData!).buffer);
      const scales = floatValues(initializers.get(scale)!);
      const float = onnx.TensorProto.create({ name, dims: [k, n], dataType: 1, rawData: new Uint8Array(Float32Array.from(q, (v, i) => v * (scales[i % n] as number)).buffer) });
      graph.initializer!.push(float);
      initializers.set(name, float);
    }
    return name;
  };
  const replacements = new Map<onnxProto.onnx.INodeProto, onnxProto.onnx.INodeProto[]>();
  for (const node of graph.node!) {
    let activation: string;
    let weight: string;
    let scale: string;
    let bias: string | undefined;
    if (node.opType === "DynamicQuantizeMatMul") [activation, weight, scale, , bias] = node.input! as string[];
    else if (node.opType === "MatMulIntegerToFloat") {
      const quantize = producer.get(node.input![0]!)!;
      const scaling = producer.get(quantize.input![0]!)!;
      if (quantize.opType !== "QuantizeLinear" || scaling.opType !== "Mul") throw new Error(`${node.name}: not tandem's static form`);
      // Mul by 1 / (s_j × scale) times scale: the smoothing alone, once per quantized input.
      const inverse = scaling.input![1]!;
      if (!rescaled.has(inverse)) rescaled.set(inverse, Float32Array.from(floatValues(initializers.get(inverse)!), (v) => v * (floatValues(initializers.get(node.input![2]!)!)[0] as number)));
      dropped.add(quantize);
      activation = scaling.output![0]!;
      [, weight, , scale] = node.input! as string[];
      bias = node.input![6] || undefined;
    } else continue;
    const product = bias ? `${node.output![0]}_unbiased` : node.output![0]!;
    replacements.set(node, [
      onnx.NodeProto.create({ opType: "MatMul", input: [activation, dequantized(weight!, scale!)], output: [product] }),
      ...(bias ? [onnx.NodeProto.create({ opType: "Add", input: [product, bias], output: node.output })] : []),
    ]);
  }
  for (const [name, values] of rescaled) initializers.get(name)!.rawData = new Uint8Array(values.buffer);
  graph.node = graph.node!.filter((node) => !dropped.has(node)).flatMap((node) => replacements.get(node) ?? [node]);
  const read = new Set(graph.node.flatMap((n) => n.input ?? []));
  graph.initializer = graph.initializer!.filter((t) => read.has(t.name!));
  writeFileSync(join(out, "onnx", "model.onnx"), onnx.ModelProto.encode(model).finish());
  const config = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
  delete config.quantization;
  writeFileSync(join(out, "config.json"), JSON.stringify(config, null, 2));
}

function baseFolder(out: string): void {
  if (existsSync(join(out, "onnx", "model.onnx"))) return;
  console.log(`building a DistilBERT-base-sized model folder in ${out} (once; needs Python with torch) ...`);
  mkdirSync(dirname(out), { recursive: true });
  const init = join(WORK, "base-init.json");
  writeFileSync(init, JSON.stringify({ model_type: "bert", vocab_size: 30522, hidden_size: 768, num_hidden_layers: 6, num_attention_heads: 12, intermediate_size: 3072, max_position_embeddings: 512, pooling: "cls", num_layers: 1 }));
  const made = spawnSync(findPython(), ["-m", "tandem_torch.export", "--init", init, "--out", out, "--labels", "negative,neutral,positive", "--tokenizer", join(SHARED, "models/tokenizers/bert-base-uncased")], { cwd: ENGINE_DIR, env: { ...process.env, PYTHONPATH: ENGINE_DIR }, encoding: "utf8" });
  if (made.status !== 0) throw new Error(made.stderr || made.stdout);
}

/** transformers.js' own q8 file of `fp32Dir` in a folder it loads with dtype "q8" (undefined without Python's onnxruntime). */
function q8Folder(fp32Dir: string, out: string): string | undefined {
  if (existsSync(join(out, "onnx", "model_quantized.onnx"))) return out;
  if (spawnSync(benchPython, ["-c", "import onnxruntime.quantization, onnx"]).status !== 0) return undefined;
  rmSync(out, { recursive: true, force: true });
  cpSync(fp32Dir, out, { recursive: true });
  const made = spawnSync(benchPython, [join(ROOT, "bench/q8_recipe.py"), join(fp32Dir, "onnx", "model.onnx"), join(out, "onnx", "model_quantized.onnx")], { encoding: "utf8" });
  if (made.status !== 0) throw new Error(made.stderr || made.stdout);
  return out;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
async function timed(run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await run();
  return (performance.now() - started) / 1000;
}

mkdirSync(WORK, { recursive: true });
const dataset = await loadDataset(join(SHARED, "data/sentiment-merged/test_all.csv"));
const step = Math.max(1, Math.floor(dataset.examples.length / count));
const texts = dataset.examples.filter((_, i) => i % step === 0).slice(0, count).map((e) => e.text);
const vnni = /avx512_vnni|avx_vnni/.test(readFileSync("/proc/cpuinfo", "utf8"));
console.log(`CPU: ${cpus()[0]?.model ?? "?"} (${vnni ? "with" : "without"} VNNI), ${threads} threads; ${texts.length} texts; ${ROUNDS} alternating rounds, median; ${process.env.TANDEM_FUSE === "0" ? "fusions OFF" : "fused"}`);

const transformers = await import("@huggingface/transformers");
transformers.env.allowRemoteModels = false;
const pipeline = async (dir: string, dtype: "fp32" | "q8") => {
  transformers.env.localModelPath = dirname(dir) + "/";
  return transformers.pipeline("text-classification", basename(dir), { dtype, device: "cpu", session_options: { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: "all" } } as never);
};

for (const graph of graphs) {
  let int8Dir: string;
  let fp32Dir: string;
  if (graph === "starter") {
    int8Dir = process.env.BENCH_STARTER_INT8 ?? join(ROOT, "models", "starter");
    // The twin is cached under the int8 file's digest, so a rebuilt starter gets a new one.
    fp32Dir = join(WORK, `starter-fp32-${createHash("sha256").update(readFileSync(join(int8Dir, "onnx", "model.onnx"))).digest("hex").slice(0, 12)}`);
    fp32Twin(int8Dir, fp32Dir);
  } else if (graph === "base") {
    fp32Dir = join(WORK, "base-fp32");
    baseFolder(fp32Dir);
    int8Dir = join(WORK, "base-int8");
    if (!existsSync(join(int8Dir, "onnx", "model.onnx"))) {
      const validation = await loadDataset(join(SHARED, "data/sentiment-merged/val_all.csv"));
      const calibration = validation.examples.filter((_, i) => i % Math.floor(validation.examples.length / 512) === 0).slice(0, 512).map((e) => e.text);
      quantizeModel(fp32Dir, int8Dir, { smoothing: { maxima: await calibrateActivations(fp32Dir, calibration), texts: calibration.length }, activations: "static" });
    }
  } else throw new Error(`unknown graph ${graph}: starter or base`);
  // transformers.js reads the int8 file under the name of a float one.
  const sameFileDir = join(WORK, `${basename(fp32Dir)}-tjs-same-file`);
  if (!existsSync(join(sameFileDir, "onnx", "model.onnx"))) {
    cpSync(int8Dir, sameFileDir, { recursive: true });
  }
  copyFileSync(join(int8Dir, "onnx", "model.onnx"), join(sameFileDir, "onnx", "model.onnx"));
  const q8Dir = q8Folder(fp32Dir, join(WORK, `${basename(fp32Dir)}-tjs-q8`));

  const int8 = await EncoderModel.load(int8Dir, { threads });
  const fp32 = await EncoderModel.load(fp32Dir, { threads });
  const bare = await ort.InferenceSession.create(join(int8Dir, "onnx", "model.onnx"), { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: "all" });
  const tjsSame = await pipeline(sameFileDir, "fp32");
  const tjsQ8 = q8Dir ? await pipeline(q8Dir, "q8") : undefined;
  const ids = texts.map((text) => int8.tokenizer.encode(text, 512).ids);
  const tokens = ids.reduce((sum, row) => sum + row.length, 0);
  const byCharacters = planBatches(texts.map((text) => text.length), 1, true).flat();
  console.log(`\n${graph}: int8 ${int8Dir} (${(readFileSync(join(int8Dir, "onnx", "model.onnx")).length / 1e6).toFixed(0)} MB), ${(tokens / texts.length).toFixed(1)} tokens a text${q8Dir ? "" : "; transformers.js' own q8 skipped (no Python onnxruntime: set TANDEM_BENCH_PYTHON)"}`);
  console.log("texts/s   batch  tandem int8   bare ORT   tjs same file   tjs own q8   tandem fp32   int8/own q8   int8/bare   int8/tjs same   int8/fp32");

  // Same text, same answer: batch 1 against batch 32.
  const one = await classifyWithEncoder(int8, texts, { batchSize: 1 });
  const many = await classifyWithEncoder(int8, texts, { batchSize: 32 });
  let largest = 0;
  for (let i = 0; i < one.probabilities.length; i++) largest = Math.max(largest, Math.abs((one.probabilities[i] as number) - (many.probabilities[i] as number)));
  const flipped = one.predictions.filter((label, i) => label !== many.predictions[i]).length;

  for (const batchSize of batchSizes) {
    const sorted = planBatches(ids.map((row) => row.length), batchSize, true);
    const bareFeeds = sorted.map((batch) => int8.feeds(batch.map((i) => ids[i] as number[])).feeds);
    const charBatches: string[][] = [];
    for (let start = 0; start < byCharacters.length; start += batchSize) charBatches.push(byCharacters.slice(start, start + batchSize).map((i) => texts[i] as string));
    const contenders: Record<string, () => Promise<number>> = {
      "tandem int8": () => timed(() => runEncoder(int8, texts, { batchSize })),
      "bare ORT": () => timed(async () => {
        for (const feeds of bareFeeds) await bare.run(feeds);
      }),
      "tjs same file": () => timed(async () => {
        for (const batch of charBatches) await tjsSame(batch);
      }),
      ...(tjsQ8
        ? {
            "tjs own q8": () => timed(async () => {
              for (const batch of charBatches) await tjsQ8(batch);
            }),
          }
        : {}),
      "tandem fp32": () => timed(() => runEncoder(fp32, texts, { batchSize })),
    };
    for (const run of Object.values(contenders)) await run(); // warm-up
    const seconds: Record<string, number[]> = {};
    for (let round = 0; round < ROUNDS; round++) {
      const names = round % 2 === 0 ? Object.keys(contenders) : Object.keys(contenders).reverse();
      for (const name of names) (seconds[name] ??= []).push(await contenders[name]!());
    }
    const rate = (name: string) => (seconds[name] ? texts.length / median(seconds[name]) : NaN);
    const cell = (value: number, width: number) => (Number.isNaN(value) ? "-" : value.toFixed(0)).padStart(width);
    const ratio = (a: string, b: string, width: number) => (Number.isNaN(rate(b)) ? "-" : `${(rate(a) / rate(b)).toFixed(2)}×`).padStart(width);
    console.log(`${String(batchSize).padStart(15)} ${cell(rate("tandem int8"), 12)} ${cell(rate("bare ORT"), 10)} ${cell(rate("tjs same file"), 15)} ${cell(rate("tjs own q8"), 12)} ${cell(rate("tandem fp32"), 13)} ${ratio("tandem int8", "tjs own q8", 13)} ${ratio("tandem int8", "bare ORT", 11)} ${ratio("tandem int8", "tjs same file", 15)} ${ratio("tandem int8", "tandem fp32", 11)}`);
  }
  console.log(`tandem int8, batch 1 against batch 32: ${flipped} of ${texts.length} labels differ, largest probability difference ${largest.toExponential(1)}`);
  await int8.release();
  await fp32.release();
  await bare.release();
  await tjsSame.dispose();
  await tjsQ8?.dispose();
}
