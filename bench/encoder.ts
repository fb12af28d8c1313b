// Benchmark: encoder throughput against what users would pick instead, on one DistilBERT-base-sized
// model (BERT, 6 layers, hidden 768, 12 heads, FFN 3072, vocab 30522; random weights from the PyTorch
// engine — no pretrained weights of that size are reachable here, and throughput depends on shapes,
// not values) over 512 texts spread across ../shared/data/sentiment-merged/test_all.csv:
//   tandem fp32 and tandem int8 (tandem quantize) end to end; a bare ONNX Runtime session fed batches
//   sorted by token length with inputs built before timing; transformers.js' pipeline("text-classification")
//   on the same fp32 folder, batches sorted by character length; PyTorch eager (2 threads, inference
//   mode) on the same weights and token-sorted batches.
//   tandem int8 runs activations quantized per row (batch-invariant answers); "int8 per tensor" the stored form.
// Alternating rounds, best of three, at batch 1, 8, 32. Targets: int8 ≥ 2.3× fp32 and ≥ 2× transformers.js
// at batch 8; fp32 ≥ 0.95× bare.
// Usage: node --import tsx bench/encoder.ts [model dir] [texts=512] [batch sizes=1,8,32]
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { loadDataset } from "../src/data/dataset.js";
import { planBatches, runEncoder } from "../src/encoders/inference.js";
import { EncoderModel } from "../src/encoders/model.js";
import { quantizeModel } from "../src/encoders/quantize-model.js";
import { ENGINE_DIR, findPython } from "../src/training/engine.js";

const ROOT = join(import.meta.dirname, "..");
const SHARED = join(ROOT, "..", "shared");
const dir = process.argv[2] ?? join(tmpdir(), "tandem-bench-bert6-768");
const count = Number(process.argv[3] ?? 512);
const batchSizes = (process.argv[4] ?? "1,8,32").split(",").map(Number);
const ROUNDS = 3;
const threads = Math.min(availableParallelism(), 2);
const python = findPython();

if (!existsSync(join(dir, "onnx", "model.onnx"))) {
  console.log(`building a DistilBERT-base-sized model folder in ${dir} (once; needs Python with torch) ...`);
  mkdirSync(dirname(dir), { recursive: true });
  const init = join(tmpdir(), "tandem-bench-init.json");
  writeFileSync(init, JSON.stringify({ model_type: "bert", vocab_size: 30522, hidden_size: 768, num_hidden_layers: 6, num_attention_heads: 12, intermediate_size: 3072, max_position_embeddings: 512, pooling: "cls", num_layers: 1 }));
  const made = spawnSync(python, ["-m", "tandem_torch.export", "--init", init, "--out", dir, "--labels", "negative,neutral,positive", "--tokenizer", join(SHARED, "models/tokenizers/bert-base-uncased")], { cwd: ENGINE_DIR, env: { ...process.env, PYTHONPATH: ENGINE_DIR }, encoding: "utf8" });
  if (made.status !== 0) throw new Error(made.stderr || made.stdout);
}
const int8Dir = `${dir}-int8`;
if (!existsSync(join(int8Dir, "onnx", "model.onnx"))) quantizeModel(dir, int8Dir);

const dataset = await loadDataset(join(SHARED, "data/sentiment-merged/test_all.csv"));
const step = Math.max(1, Math.floor(dataset.examples.length / count));
const texts = dataset.examples.filter((_, i) => i % step === 0).slice(0, count).map((e) => e.text);
const fp32 = await EncoderModel.load(dir, { threads });
const int8 = await EncoderModel.load(int8Dir, { threads });
// The stored per-tensor activation quantization (what tandem ran before answers were made batch-invariant).
process.env.TANDEM_INT8_ACTIVATIONS = "tensor";
const int8Tensor = await EncoderModel.load(int8Dir, { threads });
delete process.env.TANDEM_INT8_ACTIVATIONS;
const maxLength = 512;
const ids = texts.map((text) => fp32.tokenizer.encode(text, maxLength).ids);
const tokens = ids.reduce((sum, row) => sum + row.length, 0);

// transformers.js on the same folder (its own copy of the tokenizer and session).
const transformers = await import("@huggingface/transformers");
transformers.env.allowRemoteModels = false;
transformers.env.localModelPath = dirname(dir) + "/";
const pipe = await transformers.pipeline("text-classification", basename(dir), { dtype: "fp32", device: "cpu", session_options: { intraOpNumThreads: threads } } as never);
const byCharacters = planBatches(texts.map((text) => text.length), 1, true).flat();

const torchAvailable = spawnSync(python, ["-c", "import torch"]).status === 0 && existsSync(join(dir, "model.safetensors"));

async function timed(run: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await run();
  return (performance.now() - started) / 1000;
}

console.log(`model: ${dir} (${(readFileSync(join(dir, "onnx", "model.onnx")).length / 1e6).toFixed(0)} MB fp32, ${(readFileSync(join(int8Dir, "onnx", "model.onnx")).length / 1e6).toFixed(0)} MB int8), ${texts.length} texts (${(tokens / texts.length).toFixed(1)} tokens on average), ${threads} threads, best of ${ROUNDS} alternating rounds`);
console.log("samples/s       batch  tandem fp32  tandem int8  int8 per tensor  bare ORT (token-sorted)  transformers.js  PyTorch eager  int8/fp32  int8/transformers.js  fp32/bare  per row/per tensor");
for (const batchSize of batchSizes) {
  const sorted = planBatches(ids.map((row) => row.length), batchSize, true);
  const bareFeeds = sorted.map((batch) => fp32.feeds(batch.map((i) => ids[i] as number[])).feeds);
  const charBatches: string[][] = [];
  for (let start = 0; start < byCharacters.length; start += batchSize) charBatches.push(byCharacters.slice(start, start + batchSize).map((i) => texts[i] as string));
  const idsFile = join(tmpdir(), `tandem-bench-ids-${batchSize}.json`);
  writeFileSync(idsFile, JSON.stringify(sorted.flat().map((i) => ids[i])));
  const contenders: Record<string, () => Promise<number>> = {
    "tandem fp32": () => timed(async () => void (await runEncoder(fp32, texts, { batchSize, maxLength }))),
    "tandem int8": () => timed(async () => void (await runEncoder(int8, texts, { batchSize, maxLength }))),
    "int8 per tensor": () => timed(async () => void (await runEncoder(int8Tensor, texts, { batchSize, maxLength }))),
    bare: () => timed(async () => {
      for (const feeds of bareFeeds) await fp32.session.run(feeds);
    }),
    "transformers.js": () => timed(async () => {
      for (const batch of charBatches) await pipe(batch);
    }),
    ...(torchAvailable
      ? {
          pytorch: async () => {
            const run = spawnSync(python, [join(ROOT, "bench/torch_encoder.py"), dir, idsFile, String(batchSize), String(threads), ENGINE_DIR], { encoding: "utf8" });
            if (run.status !== 0) throw new Error(run.stderr);
            return (JSON.parse(run.stdout.trim().split("\n").pop()!) as { seconds: number }).seconds;
          },
        }
      : {}),
  };
  for (const run of Object.values(contenders)) await run(); // warm-up
  const best: Record<string, number> = {};
  for (let round = 0; round < ROUNDS; round++) {
    const names = round % 2 === 0 ? Object.keys(contenders) : Object.keys(contenders).reverse();
    for (const name of names) best[name] = Math.min(best[name] ?? Infinity, await contenders[name]!());
  }
  const rate = (name: string) => (best[name] === undefined ? NaN : texts.length / best[name]);
  const cell = (value: number, width: number) => (Number.isNaN(value) ? "-" : value.toFixed(1)).padStart(width);
  console.log(
    `${String(batchSize).padStart(19)} ${cell(rate("tandem fp32"), 12)} ${cell(rate("tandem int8"), 12)} ${cell(rate("int8 per tensor"), 16)} ${cell(rate("bare"), 24)} ${cell(rate("transformers.js"), 16)} ${cell(rate("pytorch"), 14)} ${(rate("tandem int8") / rate("tandem fp32")).toFixed(2).padStart(9)}× ${(rate("tandem int8") / rate("transformers.js")).toFixed(2).padStart(20)}× ${(rate("tandem fp32") / rate("bare")).toFixed(2).padStart(9)}× ${(rate("tandem int8") / rate("int8 per tensor")).toFixed(2).padStart(18)}×`,
  );
}
await fp32.release();
await int8.release();
await int8Tensor.release();
