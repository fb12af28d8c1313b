/**
 * Head training in TypeScript: the research head (or softmax regression: zero hidden layers) trained on
 * pooled encoder vectors. ONNX Runtime computes each step's loss and gradients (head-graphs.ts); the
 * optimizer, schedule, shuffling, dropout masks, evaluation and early stopping run here. Seeded: the same
 * data, settings, seed and thread count give the same weights.
 */
import * as ort from "onnxruntime-node";
import { Random } from "../core/random.js";
import { UserError } from "../core/errors.js";
import type { HeadConfig, HeadWeights, Linear } from "../encoders/head.js";
import type { Vectors } from "../encoders/vectors.js";
import { macroF1FromCounts } from "../metrics/report.js";
import { headForwardGraph, headParameters, headTrainingStepGraph, type ParameterSpec } from "./head-graphs.js";
import { Optimizer, scheduleFactor, type OptimizerSettings, type SchedulerName } from "./optimizer.js";

export interface LabelledVectors {
  vectors: Vectors;
  /** Class index per row (0 … numLabels−1). */
  labels: Int32Array;
}

export interface HeadTrainingSettings {
  optimizer: OptimizerSettings;
  scheduler: SchedulerName;
  /** Share of all optimizer steps spent warming up linearly from 0. */
  warmupRatio: number;
  epochs: number;
  batchSize: number;
  /** What early stopping and the best epoch go by: validation macro F1 ("score") or loss. */
  earlyStop: "score" | "loss";
  /** Epochs without an improvement larger than `tolerance` before stopping; 0: never stop early. */
  patience: number;
  tolerance: number;
  /** Stop once validation macro F1 reaches this (a fraction). */
  targetScore?: number;
  seed: number;
  /** ONNX Runtime threads (default: all cores). */
  threads?: number;
}

export interface EpochRecord {
  epoch: number;
  train_loss: number;
  val_loss?: number;
  val_macro_f1?: number;
  val_accuracy?: number;
  lr: number;
  seconds: number;
  samples_per_s: number;
}

export interface HeadTrainingEvents {
  onStep?: (epoch: number, step: number, stepsPerEpoch: number, loss: number) => void;
  onEpoch?: (record: EpochRecord) => void;
  /** After each epoch: a reason to stop now (a hyper-parameter search pruning a poor trial), or undefined. */
  prune?: (record: EpochRecord, history: readonly EpochRecord[]) => string | undefined;
}

export interface HeadTrainingResult {
  weights: HeadWeights;
  history: EpochRecord[];
  bestEpoch: number;
  /** Why training ended before the last epoch, if it did. */
  stopReason?: string;
  seconds: number;
}

function createSession(graph: Uint8Array, threads?: number): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(graph, { intraOpNumThreads: threads ?? 0, interOpNumThreads: 1, graphOptimizationLevel: "all", logSeverityLevel: 3 });
}

/** PyTorch's nn.Linear initialisation: weights and biases uniform in ±1/√fan_in. */
export function initialParameters(specs: readonly ParameterSpec[], random: Random): Float32Array[] {
  return specs.map((spec) => {
    const bound = 1 / Math.sqrt(spec.fanIn);
    const values = new Float32Array(spec.size);
    for (let i = 0; i < spec.size; i++) values[i] = (random.nextFloat() * 2 - 1) * bound;
    return values;
  });
}

/** Head weights (head.ts's layout) from the parameters in headParameters' order. */
export function weightsFromParameters(config: HeadConfig, params: readonly Float32Array[]): HeadWeights {
  const specs = headParameters(config);
  const byName = new Map(specs.map((spec, k) => [spec.name, { spec, data: params[k]! }]));
  const linear = (w: string, b: string): Linear => {
    const weight = byName.get(w)!;
    return { weight: weight.data.slice(), bias: byName.get(b)!.data.slice(), inDim: weight.spec.dims[1]!, outDim: weight.spec.dims[0]! };
  };
  const linears = Array.from({ length: config.numLayers + 1 }, (_, l) => linear(`w${l}`, `b${l}`));
  return { linears, glu: byName.has("glu_w") ? linear("glu_w", "glu_b") : undefined };
}

function parameterFeeds(specs: readonly ParameterSpec[], params: readonly Float32Array[]): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  specs.forEach((spec, k) => (feeds[spec.name] = new ort.Tensor("float32", params[k]!, spec.dims)));
  return feeds;
}

/** Logits of the head for every row, in batches, on the forward graph. */
async function predictLogits(forward: ort.InferenceSession, specs: readonly ParameterSpec[], params: readonly Float32Array[], vectors: Vectors, numLabels: number): Promise<Float32Array> {
  const logits = new Float32Array(vectors.rows * numLabels);
  const feeds = parameterFeeds(specs, params);
  const chunk = 2048;
  for (let start = 0; start < vectors.rows; start += chunk) {
    const rows = Math.min(chunk, vectors.rows - start);
    feeds.x = new ort.Tensor("float32", vectors.data.subarray(start * vectors.dim, (start + rows) * vectors.dim), [rows, vectors.dim]);
    const out = await forward.run(feeds);
    logits.set((out.logits as ort.Tensor).data as Float32Array, start * numLabels);
  }
  return logits;
}

export interface HeadEvaluation {
  loss: number;
  macroF1: number;
  accuracy: number;
  /** Predicted class index per row. */
  predictions: Int32Array;
}

/** Mean cross-entropy, macro F1 and accuracy of logits against class indices. Pure. */
export function evaluateLogits(logits: Float32Array, labels: Int32Array, numLabels: number): HeadEvaluation {
  const rows = labels.length;
  const tp = new Float64Array(numLabels);
  const predSum = new Float64Array(numLabels);
  const trueSum = new Float64Array(numLabels);
  const predictions = new Int32Array(rows);
  let loss = 0;
  let correct = 0;
  for (let r = 0; r < rows; r++) {
    let best = 0;
    let max = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < numLabels; c++) {
      const v = logits[r * numLabels + c]!;
      if (v > max) {
        max = v;
        best = c;
      }
    }
    let sum = 0;
    for (let c = 0; c < numLabels; c++) sum += Math.exp(logits[r * numLabels + c]! - max);
    const gold = labels[r]!;
    loss += Math.log(sum) + max - logits[r * numLabels + gold]!;
    predictions[r] = best;
    predSum[best]!++;
    trueSum[gold]!++;
    if (best === gold) {
      tp[best]!++;
      correct++;
    }
  }
  return { loss: rows ? loss / rows : 0, macroF1: macroF1FromCounts(tp, predSum, trueSum), accuracy: rows ? correct / rows : 0, predictions };
}

function checkData(name: string, data: LabelledVectors, config: HeadConfig): void {
  if (data.vectors.dim !== config.inputDim) throw new UserError(`${name} vectors have width ${data.vectors.dim} but the head expects ${config.inputDim}`);
  if (data.labels.length !== data.vectors.rows) throw new UserError(`${name}: ${data.vectors.rows} vectors but ${data.labels.length} labels`);
  for (const label of data.labels) if (!(label >= 0 && label < config.numLabels)) throw new UserError(`${name}: label index ${label} outside 0..${config.numLabels - 1}`);
}

export async function trainHead(config: HeadConfig, settings: HeadTrainingSettings, train: LabelledVectors, val: LabelledVectors | undefined, events: HeadTrainingEvents = {}): Promise<HeadTrainingResult> {
  const started = performance.now();
  checkData("training", train, config);
  if (val) checkData("validation", val, config);
  if (train.vectors.rows === 0) throw new UserError("no training rows");
  const specs = headParameters(config);
  const random = new Random(settings.seed);
  const optimizer = new Optimizer(settings.optimizer, specs.map((spec) => spec.size));
  initialParameters(specs, random).forEach((values, k) => optimizer.params[k]!.set(values));
  const params = optimizer.params;
  const [step, forward] = await Promise.all([createSession(headTrainingStepGraph(config), settings.threads), createSession(headForwardGraph(config), settings.threads)]);

  const { dim } = train.vectors;
  const K = config.numLabels;
  const H = config.hiddenDim;
  const stepsPerEpoch = Math.ceil(train.vectors.rows / settings.batchSize);
  const totalSteps = stepsPerEpoch * settings.epochs;
  const warmup = Math.round(settings.warmupRatio * totalSteps);
  const order = Array.from({ length: train.vectors.rows }, (_, i) => i);
  const maskCount = config.dropoutRate > 0 ? config.numLayers : 0;
  const keepScale = 1 / (1 - config.dropoutRate);
  // A unit is dropped when a uniform 32-bit draw falls below this.
  const dropBelow = Math.round(config.dropoutRate * 4294967296);
  // Full batches reuse one set of buffers (a step is done with them before the next is assembled).
  const buffers = new Map<number, { x: Float32Array; y: Float32Array; draws: Uint32Array; masks: Float32Array[] }>();
  const batchFeeds = (s: number): { rows: number; feeds: Record<string, ort.Tensor> } => {
    const rows = Math.min(settings.batchSize, order.length - s * settings.batchSize);
    let buffer = buffers.get(rows);
    if (!buffer) {
      buffer = { x: new Float32Array(rows * dim), y: new Float32Array(rows * K), draws: new Uint32Array(maskCount > 0 ? rows * H : 0), masks: Array.from({ length: maskCount }, () => new Float32Array(rows * H)) };
      buffers.set(rows, buffer);
    }
    const { x, y, draws, masks } = buffer;
    y.fill(0);
    for (let r = 0; r < rows; r++) {
      const item = order[s * settings.batchSize + r]!;
      x.set(train.vectors.data.subarray(item * dim, (item + 1) * dim), r * dim);
      y[r * K + train.labels[item]!] = 1;
    }
    const feeds: Record<string, ort.Tensor> = {
      x: new ort.Tensor("float32", x, [rows, dim]),
      y: new ort.Tensor("float32", y, [rows, K]),
      inv_batch: new ort.Tensor("float32", Float32Array.of(1 / rows), []),
    };
    masks.forEach((mask, l) => {
      random.fillUint32(draws);
      for (let i = 0; i < mask.length; i++) mask[i] = draws[i]! < dropBelow ? 0 : keepScale;
      feeds[`mask${l}`] = new ort.Tensor("float32", mask, [rows, H]);
    });
    return { rows, feeds };
  };
  // The optimizer updates the parameters in place, so their tensors are made once; ONNX Runtime writes
  // the loss, and the gradients straight into the optimizer's memory, as preallocated outputs.
  const parameterTensors = parameterFeeds(specs, params);
  const lossValue = new Float32Array(1);
  const fetches: Record<string, ort.Tensor> = { loss: new ort.Tensor("float32", lossValue, []) };
  specs.forEach((spec, k) => (fetches[`grad_${spec.name}`] = new ort.Tensor("float32", optimizer.grads[k]!, spec.dims)));

  const history: EpochRecord[] = [];
  const better = (a: number, b: number) => (settings.earlyStop === "score" ? a > b + settings.tolerance : a < b - settings.tolerance);
  let best: { value: number; epoch: number; params: Float32Array[] } | undefined;
  let stale = 0;
  let stopReason: string | undefined;
  let globalStep = 0;
  try {
    for (let epoch = 1; epoch <= settings.epochs; epoch++) {
      const epochStart = performance.now();
      random.shuffle(order);
      let lossSum = 0;
      let lr = settings.optimizer.lr;
      for (let s = 0; s < stepsPerEpoch; s++) {
        const current = batchFeeds(s);
        await step.run({ ...parameterTensors, ...current.feeds }, fetches);
        const loss = lossValue[0]!;
        if (!Number.isFinite(loss)) throw new UserError(`the training loss became ${loss} at epoch ${epoch}, step ${s + 1}: lower --lr`);
        lossSum += loss * current.rows;
        lr = settings.optimizer.lr * scheduleFactor(settings.scheduler, globalStep, totalSteps, warmup);
        optimizer.step(lr);
        globalStep++;
        events.onStep?.(epoch, s + 1, stepsPerEpoch, loss);
      }
      const seconds = (performance.now() - epochStart) / 1000;
      const record: EpochRecord = { epoch, train_loss: lossSum / train.vectors.rows, lr, seconds, samples_per_s: train.vectors.rows / seconds };
      let value = -record.train_loss;
      if (val && val.vectors.rows > 0) {
        const evaluation = evaluateLogits(await predictLogits(forward, specs, params, val.vectors, K), val.labels, K);
        record.val_loss = evaluation.loss;
        record.val_macro_f1 = evaluation.macroF1;
        record.val_accuracy = evaluation.accuracy;
        value = settings.earlyStop === "score" ? evaluation.macroF1 : evaluation.loss;
      } else if (settings.earlyStop === "loss") {
        value = record.train_loss;
      }
      history.push(record);
      events.onEpoch?.(record);
      if (!best || better(value, best.value)) {
        best = { value, epoch, params: params.map((p) => p.slice()) };
        stale = 0;
      } else {
        stale++;
      }
      const pruned = events.prune?.(record, history);
      if (pruned) {
        stopReason = pruned;
        break;
      }
      if (settings.targetScore !== undefined && record.val_macro_f1 !== undefined && record.val_macro_f1 >= settings.targetScore) {
        stopReason = `validation macro F1 ${record.val_macro_f1.toFixed(4)} reached the target ${settings.targetScore}`;
        break;
      }
      if (settings.patience > 0 && stale >= settings.patience && epoch < settings.epochs) {
        stopReason = `no improvement in validation ${settings.earlyStop === "score" ? "macro F1" : "loss"} for ${settings.patience} epoch(s)`;
        break;
      }
    }
  } finally {
    await Promise.all([step.release(), forward.release()]);
  }
  return { weights: weightsFromParameters(config, best!.params), history, bestEpoch: best!.epoch, stopReason, seconds: (performance.now() - started) / 1000 };
}

/** Predicted class indices and logits of trained head weights on vectors, on ONNX Runtime. */
export async function predictHead(config: HeadConfig, weights: HeadWeights, vectors: Vectors, threads?: number): Promise<Float32Array> {
  const specs = headParameters(config);
  const byName = new Map<string, Float32Array>();
  weights.linears.forEach((linear, l) => {
    byName.set(`w${l}`, linear.weight);
    byName.set(`b${l}`, linear.bias);
  });
  if (weights.glu) {
    byName.set("glu_w", weights.glu.weight);
    byName.set("glu_b", weights.glu.bias);
  }
  const forward = await createSession(headForwardGraph(config), threads);
  try {
    return await predictLogits(forward, specs, specs.map((spec) => byName.get(spec.name)!), vectors, config.numLabels);
  } finally {
    await forward.release();
  }
}
