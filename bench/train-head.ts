// Benchmark: head training in TypeScript (tandem train head's engine) on 100,000 cached vectors of width
// 768 (synthetic: three Gaussian classes; speed depends on shapes, not values), one epoch per head:
// softmax regression, a one-layer ReLU MLP, and the research head (2 layers, width 1024, SwishGLU,
// dropout 0.3). Also the bare ONNX Runtime time of the same training-step graph on fixed feeds, so the
// ratio shows what tandem's loop (batching, dropout masks, the optimizer) adds. Target: < 60 s/epoch.
// Usage: node --import tsx bench/train-head.ts [rows=100000] [batch=128, tandem train head's default]
import * as ort from "onnxruntime-node";
import { Random } from "../src/core/random.js";
import type { HeadConfig } from "../src/encoders/head.js";
import { headParameters, headTrainingStepGraph } from "../src/training/head-graphs.js";
import { initialParameters, trainHead, type HeadTrainingSettings } from "../src/training/train-head.js";

const rows = Number(process.argv[2] ?? 100_000);
const batchSize = Number(process.argv[3] ?? 128);
const dim = 768;
const random = new Random(1);
const labels = Int32Array.from({ length: rows }, () => random.nextInt(3));
const data = new Float32Array(rows * dim);
for (let r = 0; r < rows; r++) for (let d = 0; d < dim; d++) data[r * dim + d] = random.nextFloat() - 0.5 + (d % 3 === labels[r] ? 0.2 : 0);
const train = { vectors: { rows, dim, data }, labels };

const heads: Record<string, HeadConfig> = {
  "softmax regression": { pooling: "mean", inputDim: dim, hiddenDim: 0, activation: "relu", numLayers: 0, numLabels: 3, dropoutRate: 0 },
  "MLP 1 × 768 ReLU, dropout 0.1": { pooling: "mean", inputDim: dim, hiddenDim: 768, activation: "relu", numLayers: 1, numLabels: 3, dropoutRate: 0.1 },
  "research head 2 × 1024 SwishGLU, dropout 0.3": { pooling: "mean", inputDim: dim, hiddenDim: 1024, activation: "swishglu", numLayers: 2, numLabels: 3, dropoutRate: 0.3 },
};
const settings: HeadTrainingSettings = {
  optimizer: { name: "adamw", lr: 1e-3, weightDecay: 0.01 }, scheduler: "cosine", warmupRatio: 0.1, epochs: 1, batchSize,
  earlyStop: "loss", patience: 0, tolerance: 0, seed: 1,
};

/** Seconds for the step graph alone over one epoch's worth of batches, feeds built once. */
async function bareStepSeconds(config: HeadConfig): Promise<number> {
  const session = await ort.InferenceSession.create(headTrainingStepGraph(config), { logSeverityLevel: 3, graphOptimizationLevel: "all" });
  const specs = headParameters(config);
  const feeds: Record<string, ort.Tensor> = {
    x: new ort.Tensor("float32", data.subarray(0, batchSize * dim), [batchSize, dim]),
    y: new ort.Tensor("float32", new Float32Array(batchSize * 3).fill(1 / 3), [batchSize, 3]),
    inv_batch: new ort.Tensor("float32", Float32Array.of(1 / batchSize), []),
  };
  initialParameters(specs, new Random(2)).forEach((p, k) => (feeds[specs[k]!.name] = new ort.Tensor("float32", p, specs[k]!.dims)));
  if (config.dropoutRate > 0) for (let l = 0; l < config.numLayers; l++) feeds[`mask${l}`] = new ort.Tensor("float32", new Float32Array(batchSize * config.hiddenDim).fill(1), [batchSize, config.hiddenDim]);
  const steps = Math.ceil(rows / batchSize);
  const started = performance.now();
  for (let s = 0; s < steps; s++) await session.run(feeds);
  await session.release();
  return (performance.now() - started) / 1000;
}

console.log(`head training, ${rows.toLocaleString("en")} vectors × ${dim}, batch ${batchSize}, AdamW, one epoch (target < 60 s/epoch)`);
for (const [name, config] of Object.entries(heads)) {
  const result = await trainHead(config, settings, train, undefined);
  const epoch = result.history[0]!;
  const bare = await bareStepSeconds(config);
  const parameters = headParameters(config).reduce((sum, spec) => sum + spec.size, 0);
  console.log(`${name} (${parameters.toLocaleString("en")} parameters): ${epoch.seconds.toFixed(1)} s/epoch, ${epoch.samples_per_s.toFixed(0)} samples/s; bare ONNX Runtime step graph ${bare.toFixed(1)} s → tandem/bare ${(epoch.seconds / bare).toFixed(2)}`);
}
