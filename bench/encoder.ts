// Benchmark: encoder throughput on a DistilBERT-base-sized model (6 layers, hidden 768, 12 heads,
// FFN 3072, vocab 30522; random weights — no pretrained weights are reachable here, and throughput
// depends on shapes, not values) over texts spread across ../shared/data/sentiment-merged/test_all.csv.
// Targets: end to end ≥ 0.9× a bare ONNX Runtime session at batch 32; bucketing ≥ 1.3× fixed padding.
// Usage: node --import tsx bench/encoder.ts [texts=256] [batch sizes=1,8,32,64]
import { existsSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadDataset } from "../src/data/dataset.js";
import { benchEncoder } from "../src/encoders/bench.js";
import { EncoderModel } from "../src/encoders/model.js";
import { randomBertWeights, writeModelDir } from "../test/fixtures/bert-graph.js";

const count = Number(process.argv[2] ?? 256);
const batchSizes = (process.argv[3] ?? "1,8,32,64").split(",").map(Number);
const shared = join(import.meta.dirname, "..", "..", "shared");
const dir = join(tmpdir(), "tandem-bench-distilbert-size");
if (!existsSync(join(dir, "onnx", "model.onnx"))) {
  console.log("building a DistilBERT-base-sized ONNX graph (once) ...");
  const tokenizerDir = join(shared, "models/tokenizers/bert-base-uncased");
  const files = Object.fromEntries(["tokenizer.json", "tokenizer_config.json"].map((f) => [f, readFileSync(join(tokenizerDir, f))]));
  writeModelDir(dir, randomBertWeights({ vocab: 30522, hidden: 768, layers: 6, heads: 12, intermediate: 3072, maxPositions: 512 }, 1, 3), files, {
    id2label: { 0: "negative", 1: "neutral", 2: "positive" },
  });
}
const dataset = await loadDataset(join(shared, "data/sentiment-merged/test_all.csv"));
const step = Math.max(1, Math.floor(dataset.examples.length / count));
const texts = dataset.examples.filter((_, i) => i % step === 0).slice(0, count).map((e) => e.text);
const model = await EncoderModel.load(dir);
const size = statSync(join(dir, "onnx", "model.onnx")).size;
console.log(`model: ${(size / 1e6).toFixed(0)} MB graph (≈${(size / 4e6).toFixed(0)} M parameters), CPU, ${texts.length} texts from test_all.csv (every ${step}th row)`);
console.log("batch  samples/s  tokens/s  bare samples/s  e2e/bare  unsorted samples/s  fixed-padding samples/s  bucketing/fixed");
await benchEncoder(model, texts, {
  batchSizes,
  repeats: 3, // best of three: single runs on these machines swing by ±20%
  onRow: (r) =>
    console.log(
      `${String(r.batchSize).padStart(5)} ${r.samplesPerSecond.toFixed(1).padStart(10)} ${r.tokensPerSecond.toFixed(0).padStart(9)} ${r.bareSamplesPerSecond.toFixed(1).padStart(15)} ${r.ratioToBare.toFixed(3).padStart(9)} ${r.unsortedSamplesPerSecond.toFixed(1).padStart(19)} ${r.fixedPaddingSamplesPerSecond.toFixed(1).padStart(24)} ${(r.samplesPerSecond / r.fixedPaddingSamplesPerSecond).toFixed(2).padStart(15)}×` +
        (r.batchSize === 32 ? `   targets: e2e/bare ≥ 0.9 ${r.ratioToBare >= 0.9 ? "met" : "MISSED"}; bucketing ≥ 1.3× ${r.samplesPerSecond / r.fixedPaddingSamplesPerSecond >= 1.3 ? "met" : "MISSED"}` : ""),
    ),
});
await model.release();
