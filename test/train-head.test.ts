// Head training in TypeScript: the ONNX training-step graph's gradients against finite differences of
// the plain-loop head, the optimizers against PyTorch, the schedules, learning and reproducibility on
// toy vectors, and `tandem train head` end to end on a tiny BERT backbone with the encodings cache.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import * as ort from "onnxruntime-node";
import { Random } from "../src/core/random.js";
import { headForward, type Activation, type HeadConfig } from "../src/encoders/head.js";
import { EncoderModel } from "../src/encoders/model.js";
import { classifyWithEncoder } from "../src/encoders/inference.js";
import { headParameters, headTrainingStepGraph } from "../src/training/head-graphs.js";
import { Optimizer, scheduleFactor, type OptimizerName } from "../src/training/optimizer.js";
import { initialParameters, predictHead, trainHead, weightsFromParameters, type HeadTrainingSettings, type LabelledVectors } from "../src/training/train-head.js";
import { randomBertWeights, writeModelDir, type BertShape } from "./fixtures/bert-graph.js";
import { runCli, SHARED, tempDir } from "./helpers.js";

async function stepGradients(config: HeadConfig, params: Float32Array[], x: Float32Array, labels: number[], masks: Float32Array[] = []) {
  const specs = headParameters(config);
  const B = labels.length;
  const K = config.numLabels;
  const y = new Float32Array(B * K);
  labels.forEach((label, r) => (y[r * K + label] = 1));
  const session = await ort.InferenceSession.create(headTrainingStepGraph(config), { logSeverityLevel: 3 });
  const feeds: Record<string, ort.Tensor> = {
    x: new ort.Tensor("float32", x, [B, config.inputDim]),
    y: new ort.Tensor("float32", y, [B, K]),
    inv_batch: new ort.Tensor("float32", Float32Array.of(1 / B), []),
  };
  masks.forEach((mask, l) => (feeds[`mask${l}`] = new ort.Tensor("float32", mask, [B, config.hiddenDim])));
  specs.forEach((spec, k) => (feeds[spec.name] = new ort.Tensor("float32", params[k]!, spec.dims)));
  const out = await session.run(feeds);
  await session.release();
  return { loss: (out.loss!.data as Float32Array)[0]!, grads: specs.map((spec) => out[`grad_${spec.name}`]!.data as Float32Array) };
}

/** Mean cross-entropy of the plain-loop head (head.ts), in double precision from its logits. */
function referenceLoss(config: HeadConfig, params: Float32Array[], x: Float32Array, labels: number[]): number {
  const B = labels.length;
  const K = config.numLabels;
  const logits = headForward(x, B, config, weightsFromParameters(config, params));
  let loss = 0;
  for (let r = 0; r < B; r++) {
    let max = -Infinity;
    for (let c = 0; c < K; c++) max = Math.max(max, logits[r * K + c]!);
    let sum = 0;
    for (let c = 0; c < K; c++) sum += Math.exp(logits[r * K + c]! - max);
    loss += Math.log(sum) + max - logits[r * K + labels[r]!]!;
  }
  return loss / B;
}

const ACTIVATIONS: Activation[] = ["tanh", "relu", "sigmoid", "leaky_relu", "gelu", "swish", "swishglu"];

test("the training-step graph's loss and gradients match finite differences of the plain-loop head (every activation; 0, 1 and 2 layers)", async () => {
  for (const activation of ACTIVATIONS) {
    for (const numLayers of [0, 1, 2]) {
      const config: HeadConfig = { pooling: "mean", inputDim: 5, hiddenDim: 4, activation, numLayers, numLabels: 3, dropoutRate: 0 };
      const random = new Random(7 + numLayers);
      const params = initialParameters(headParameters(config), random);
      const x = Float32Array.from({ length: 6 * 5 }, () => random.nextFloat() * 4 - 2);
      const labels = [0, 1, 2, 1, 0, 2];
      const { loss, grads } = await stepGradients(config, params, x, labels);
      assert.ok(Math.abs(loss - referenceLoss(config, params, x, labels)) < 1e-5, `${activation}/${numLayers}: loss`);
      const numeric = (p: Float32Array, i: number, h: number) => {
        const original = p[i]!;
        p[i] = original + h;
        const up = referenceLoss(config, params, x, labels);
        p[i] = original - h;
        const down = referenceLoss(config, params, x, labels);
        p[i] = original;
        return (up - down) / (2 * h);
      };
      let checked = 0;
      let kinks = 0;
      params.forEach((p, k) => {
        for (let i = 0; i < p.length; i++) {
          const wide = numeric(p, i, 1e-2);
          // A ReLU kink inside ±h makes the two estimates disagree: such elements cannot be checked this way.
          if (activation.includes("relu") && Math.abs(wide - numeric(p, i, 2.5e-3)) > 1e-3) {
            kinks++;
            continue;
          }
          checked++;
          assert.ok(Math.abs(wide - grads[k]![i]!) <= 2e-4 + 1e-2 * Math.abs(wide), `${activation}/${numLayers}: ${headParameters(config)[k]!.name}[${i}] ${grads[k]![i]} vs ${wide}`);
        }
      });
      assert.ok(kinks <= checked / 10, `${activation}/${numLayers}: ${kinks} kinks, ${checked} checked`);
    }
  }
});

test("dropout masks enter the gradients: all-ones masks change nothing, a dropped unit gets no output-layer gradient", async () => {
  const plain: HeadConfig = { pooling: "mean", inputDim: 5, hiddenDim: 4, activation: "swishglu", numLayers: 2, numLabels: 3, dropoutRate: 0 };
  const withDropout = { ...plain, dropoutRate: 0.5 };
  const random = new Random(3);
  const params = initialParameters(headParameters(plain), random);
  const x = Float32Array.from({ length: 4 * 5 }, () => random.nextFloat() * 2 - 1);
  const labels = [0, 1, 2, 0];
  const reference = await stepGradients(plain, params, x, labels);
  const ones = await stepGradients(withDropout, params, x, labels, [new Float32Array(16).fill(1), new Float32Array(16).fill(1)]);
  assert.equal(ones.loss, reference.loss);
  ones.grads.forEach((g, k) => assert.deepEqual(g, reference.grads[k]));
  const drop = new Float32Array(16).fill(2);
  for (let r = 0; r < 4; r++) drop[r * 4 + 1] = 0; // unit 1 of the last hidden layer, every row
  const dropped = await stepGradients(withDropout, params, x, labels, [new Float32Array(16).fill(1), drop]);
  const outputWeights = dropped.grads[headParameters(plain).findIndex((s) => s.name === "w2")]!;
  for (let c = 0; c < 3; c++) assert.equal(outputWeights[c * 4 + 1], 0);
  assert.notEqual(dropped.loss, reference.loss);
});

test("AdamW, Adam (L2) and SGD with momentum give PyTorch's parameters after three steps", () => {
  // torch 1.13, float64: p = [0.5, -1, 2], lr 0.1, weight_decay 0.1, SGD momentum 0.9, these three gradients.
  const expected: Record<OptimizerName, number[]> = {
    adamw: [0.4535477198, -0.9703626128, 1.7668339162],
    adam: [0.4371302589, -0.9493032298, 1.750835918],
    sgd: [0.5010685, -1.005437, 1.829145],
  };
  const grads = [[0.1, -0.2, 0.3], [-0.4, 0.5, 0.05], [0.2, 0.2, -0.3]];
  for (const name of Object.keys(expected) as OptimizerName[]) {
    const optimizer = new Optimizer({ name, lr: 0.1, weightDecay: 0.1, momentum: 0.9 }, [3]);
    const p = optimizer.params[0]!;
    p.set([0.5, -1, 2]);
    for (const g of grads) {
      optimizer.grads[0]!.set(g);
      optimizer.step(0.1);
    }
    expected[name].forEach((value, i) => assert.ok(Math.abs(p[i]! - value) < 2e-6, `${name}[${i}]: ${p[i]} vs ${value}`));
  }
});

test("the committed optimizer WebAssembly is optimizer.wat compiled (npm run build:wasm)", async () => {
  const { compileWat } = await import("../scripts/wat.js");
  const { OPTIMIZER_WASM_BASE64 } = await import("../src/training/wasm/optimizer-wasm.js");
  const compiled = await compileWat(readFileSync(join(import.meta.dirname, "..", "src", "training", "wasm", "optimizer.wat"), "utf8"));
  assert.equal(Buffer.from(compiled).toString("base64"), OPTIMIZER_WASM_BASE64);
});

test("schedules: linear warm-up from 0, then cosine or linear decay to 0, or constant", () => {
  assert.equal(scheduleFactor("cosine", 0, 10, 2), 0);
  assert.equal(scheduleFactor("cosine", 1, 10, 2), 0.5);
  assert.equal(scheduleFactor("cosine", 2, 10, 2), 1);
  assert.ok(Math.abs(scheduleFactor("cosine", 6, 10, 2) - 0.5) < 1e-12);
  assert.ok(Math.abs(scheduleFactor("cosine", 4, 10, 2) - (1 + Math.SQRT1_2) / 2) < 1e-12);
  assert.equal(scheduleFactor("cosine", 10, 10, 2), 0);
  assert.equal(scheduleFactor("linear", 6, 10, 2), 0.5);
  assert.equal(scheduleFactor("constant", 9, 10, 2), 1);
  assert.equal(scheduleFactor("cosine", 0, 10, 0), 1);
});

/** Three Gaussian classes in 8 dimensions: class c shifts dimensions c and c + 3. */
function blobs(rows: number, seed: number): LabelledVectors {
  const random = new Random(seed);
  const dim = 8;
  const labels = Int32Array.from({ length: rows }, () => random.nextInt(3));
  const data = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    for (let d = 0; d < dim; d++) data[r * dim + d] = random.nextFloat() * 2 - 1 + (d === labels[r] || d === labels[r]! + 3 ? 1.5 : 0);
  }
  return { vectors: { rows, dim, data }, labels };
}

const SETTINGS: HeadTrainingSettings = {
  optimizer: { name: "adamw", lr: 1e-2, weightDecay: 0.01 }, scheduler: "cosine", warmupRatio: 0.1, epochs: 8, batchSize: 32,
  earlyStop: "score", patience: 0, tolerance: 0, seed: 5, threads: 1,
};
const MLP: HeadConfig = { pooling: "mean", inputDim: 8, hiddenDim: 16, activation: "swishglu", numLayers: 2, numLabels: 3, dropoutRate: 0.2 };
const SOFTMAX: HeadConfig = { ...MLP, numLayers: 0, hiddenDim: 0, dropoutRate: 0 };

test("trainHead learns separable classes (MLP and softmax regression), the loss falls, and the same seed gives the same weights", async () => {
  const train = blobs(600, 1);
  const val = blobs(200, 2);
  for (const config of [MLP, SOFTMAX]) {
    const result = await trainHead(config, SETTINGS, train, val);
    const first = result.history[0]!;
    const last = result.history.at(-1)!;
    assert.ok(last.train_loss < first.train_loss * 0.8, `loss ${first.train_loss} → ${last.train_loss}`);
    assert.ok(Math.max(...result.history.map((h) => h.val_macro_f1!)) > 0.9, `val macro F1 ${result.history.map((h) => h.val_macro_f1)}`);
    const best = result.history.reduce((a, b) => (b.val_macro_f1! > a.val_macro_f1! ? b : a));
    assert.equal(result.bestEpoch, best.epoch);
    // ONNX Runtime's forward graph and the plain-loop head agree on the trained weights.
    const logits = await predictHead(config, result.weights, val.vectors, 1);
    const reference = headForward(val.vectors.data, val.vectors.rows, config, result.weights);
    for (let i = 0; i < logits.length; i++) assert.ok(Math.abs(logits[i]! - reference[i]!) < 1e-4 * Math.max(1, Math.abs(reference[i]!)), `${logits[i]} vs ${reference[i]}`);
  }
  const again = await trainHead(MLP, SETTINGS, train, val);
  const once = await trainHead(MLP, SETTINGS, train, val);
  once.weights.linears.forEach((linear, l) => assert.deepEqual(linear.weight, again.weights.linears[l]!.weight));
  const otherSeed = await trainHead(MLP, { ...SETTINGS, seed: 6 }, train, val);
  assert.notDeepEqual(otherSeed.weights.linears[0]!.weight, once.weights.linears[0]!.weight);
});

test("early stopping: patience, target score, and clear errors for mismatched data", async () => {
  const train = blobs(200, 3);
  const val = blobs(100, 4);
  const frozen = await trainHead(SOFTMAX, { ...SETTINGS, optimizer: { name: "sgd", lr: 0, weightDecay: 0 }, patience: 2 }, train, val);
  assert.equal(frozen.history.length, 3);
  assert.equal(frozen.bestEpoch, 1);
  assert.match(frozen.stopReason!, /no improvement in validation macro F1 for 2 epoch/);
  const target = await trainHead(SOFTMAX, { ...SETTINGS, targetScore: 0.5 }, train, val);
  assert.ok(target.history.length < SETTINGS.epochs);
  assert.match(target.stopReason!, /reached the target 0.5/);
  await assert.rejects(trainHead({ ...SOFTMAX, inputDim: 9 }, SETTINGS, train, val), /training vectors have width 8 but the head expects 9/);
  await assert.rejects(trainHead({ ...SOFTMAX, numLabels: 2 }, SETTINGS, train, val), /label index 2 outside 0\.\.1/);
});

// ---- tandem train head, end to end ----

const TOKENIZER_DIR = join(SHARED, "models/tokenizers/bert-base-uncased");
const SHAPE: BertShape = { vocab: 30522, hidden: 16, layers: 1, heads: 2, intermediate: 32, maxPositions: 64 };
let backboneDir: string;
let classifierOnlyDir: string;
let trainCsv: string;
let valCsv: string;

before(() => {
  const root = tempDir();
  const tokenizerFiles = Object.fromEntries(["tokenizer.json", "tokenizer_config.json", "vocab.txt"].map((f) => [f, readFileSync(join(TOKENIZER_DIR, f))]));
  backboneDir = writeModelDir(join(root, "backbone"), randomBertWeights(SHAPE, 21), tokenizerFiles, { pooling: "mean" });
  classifierOnlyDir = writeModelDir(join(root, "classifier"), randomBertWeights(SHAPE, 22, 3), tokenizerFiles, { id2label: { 0: "negative", 1: "neutral", 2: "positive" } });
  const words = { negative: ["awful", "terrible", "bad", "boring"], neutral: ["table", "window", "paper", "street"], positive: ["great", "wonderful", "good", "lovely"] };
  const random = new Random(9);
  const rows = (n: number) => {
    const lines = ["sentence,label,source"];
    for (let i = 0; i < n; i++) {
      const label = (["negative", "neutral", "positive"] as const)[i % 3]!;
      const pick = () => words[label][random.nextInt(4)];
      lines.push(`the ${pick()} and ${pick()} thing,${label},${i % 2 ? "a" : "b"}`);
    }
    return lines.join("\n") + "\n";
  };
  trainCsv = join(root, "train.csv");
  valCsv = join(root, "val.csv");
  writeFileSync(trainCsv, rows(240));
  writeFileSync(valCsv, rows(60));
});

test("tandem train head: encodes once (cached), trains, writes a backbone + head folder that classify reproduces", async () => {
  const out = join(tempDir(), "head-model");
  const cache = join(tempDir(), "encodings");
  const args = ["train", "head", "--encoder", backboneDir, "--train", trainCsv, "--val", valCsv, "-o", out, "--hidden-dim", "16", "--epochs", "12", "--lr", "0.01", "--batch-size", "16", "--cache-dir", cache, "--format", "json"];
  const run = runCli(args);
  assert.equal(run.status, 0, run.stderr);
  const summary = JSON.parse(run.stdout);
  assert.deepEqual([summary.encodings.train.cached, summary.encodings.val.cached], [false, false]);
  assert.equal(summary.head.numLayers, 2);
  assert.equal(summary.head.activation, "swishglu");
  const macro = summary.validation.overall["macro avg"]["f1-score"];
  assert.ok(macro > 0.8, `validation macro F1 ${macro}`);
  assert.deepEqual(Object.keys(summary.validation.by), ["a", "b"]);
  const log = JSON.parse(readFileSync(join(out, "training_log.json"), "utf8"));
  assert.equal(log.best_epoch, summary.best_epoch);
  assert.ok(log.history[log.history.length - 1].train_loss < log.history[0].train_loss);

  // The folder loads as backbone + head and gives the validation report's predictions.
  const model = await EncoderModel.load(out);
  assert.equal(model.kind, "backbone+head");
  assert.deepEqual(model.labels, ["negative", "neutral", "positive"]);
  await model.release();
  const predictions = join(tempDir(), "pred.csv");
  const classify = runCli(["classify", "--strategy", "encoder", "--model", out, "-i", valCsv, "-o", predictions]);
  assert.equal(classify.status, 0, classify.stderr);
  const evaluation = runCli(["evaluate", "-i", predictions, "-f", "json"]);
  assert.equal(evaluation.status, 0, evaluation.stderr);
  assert.ok(Math.abs(JSON.parse(evaluation.stdout).overall["macro avg"]["f1-score"] - macro) < 1e-12);

  // Second run, softmax head: the same texts come from the cache.
  const again = runCli([...args.slice(0, 8), "-o", join(tempDir(), "softmax"), "--head", "softmax", "--epochs", "2", "--cache-dir", cache, "--format", "json"]);
  assert.equal(again.status, 0, again.stderr);
  const second = JSON.parse(again.stdout);
  assert.deepEqual([second.encodings.train.cached, second.encodings.val.cached], [true, true]);
  assert.equal(second.head.numLayers, 0);
});

test("tandem train head: pooled vectors are what the saved model's head sees", async () => {
  const model = await EncoderModel.load(backboneDir);
  const texts = ["the great thing", "a table"];
  const out = join(tempDir(), "m");
  const run = runCli(["train", "head", "--encoder", backboneDir, "--train", trainCsv, "--val-fraction", "0.2", "-o", out, "--head", "softmax", "--epochs", "1", "--no-cache"]);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /model folder → .* \(best epoch 1; validation macro F1 \d+\.\d\d%/);
  const trained = await EncoderModel.load(out);
  const viaModel = await classifyWithEncoder(trained, texts);
  await trained.release();
  // Softmax regression by hand on the backbone's pooled vectors, with the saved weights.
  const pooled = await model.run(model.feeds(texts.map((t) => model.tokenizer.encode(t, 64).ids)), 2, "pooled");
  await model.release();
  const head = (await import("../src/encoders/safetensors.js")).readSafetensors(join(out, "head.safetensors"));
  const w = head.get("classifier.layers.0.weight")!.data;
  const b = head.get("classifier.layers.0.bias")!.data;
  for (let r = 0; r < 2; r++) {
    const logits = [0, 1, 2].map((c) => b[c]! + Array.from({ length: 16 }, (_, d) => pooled.values[r * 16 + d]! * w[c * 16 + d]!).reduce((s, v) => s + v, 0));
    const max = Math.max(...logits);
    const z = logits.reduce((s, v) => s + Math.exp(v - max), 0);
    logits.forEach((v, c) => assert.ok(Math.abs(Math.exp(v - max) / z - viaModel.probabilities[r * 3 + c]!) < 1e-5));
  }
});

test("tandem train head: clear errors for a graph without hidden states, unknown labels and bad options", () => {
  const out = join(tempDir(), "x");
  const noHidden = runCli(["train", "head", "--encoder", classifierOnlyDir, "--train", trainCsv, "-o", out]);
  assert.equal(noHidden.status, 2);
  assert.match(noHidden.stderr, /no last_hidden_state output.*tandem export/);
  const stars = join(tempDir(), "stars.csv");
  writeFileSync(stars, "sentence,label\nfine,neutral\nwow,5 stars\n");
  const badLabel = runCli(["train", "head", "--encoder", backboneDir, "--train", stars, "-o", out]);
  assert.equal(badLabel.status, 2);
  assert.match(badLabel.stderr, /stars\.csv, line 3.*5 stars/);
  const badOption = runCli(["train", "head", "--encoder", backboneDir, "--train", trainCsv, "-o", out, "--activation", "softplus"]);
  assert.equal(badOption.status, 2);
  assert.match(badOption.stderr, /unknown activation "softplus"/);
});
