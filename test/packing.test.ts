// Sequence packing against independent computations: several texts share a row, and each must still
// get exactly what the plain-loop transformer (fixtures/bert-graph.ts) gives it alone, unpadded.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readTable } from "../src/data/readers.js";
import { EncoderModel } from "../src/encoders/model.js";
import { runEncoder } from "../src/encoders/inference.js";
import { packedFeeds, packGraph, PackingUnsupported, planPackedRows } from "../src/encoders/packing.js";
import { fuseEncoderGraph } from "../src/encoders/fusions.js";
import { writeSafetensors } from "../src/encoders/safetensors.js";
import { startServer } from "../src/server/app.js";
import { parseStrategyFile } from "../src/strategies/factory.js";
import { GraphBuilder } from "../src/encoders/onnx-graph.js";
import { randomBertWeights, referenceForward, writeModelDir, type BertShape } from "./fixtures/bert-graph.js";
import { runCli, SHARED, tempDir, tempFile } from "./helpers.js";

const TOKENIZER_DIR = join(SHARED, "models/tokenizers/bert-base-uncased");
const tokenizerFiles = Object.fromEntries(["tokenizer.json", "tokenizer_config.json", "vocab.txt"].map((name) => [name, readFileSync(join(TOKENIZER_DIR, name))]));
const SHAPE: BertShape = { vocab: 30522, hidden: 16, layers: 2, heads: 4, intermediate: 32, maxPositions: 64 };
const TEXTS = [
  "A gorgeous, witty, seductive movie.",
  "The food was cold and the waiter rude.",
  "It is a film.",
  "Meh",
  "This is neither good nor bad, just long, very long, and then some more words to make it longer than a row.",
  "Fine.",
  "Not what I expected, but I liked it.",
];
const classifierWeights = randomBertWeights(SHAPE, 31, 3);
const backboneWeights = randomBertWeights(SHAPE, 32);
let classifierDir = "";
let embeddingDir = "";
let maxPoolDir = "";

before(() => {
  const root = tempDir();
  classifierDir = writeModelDir(join(root, "classifier"), classifierWeights, tokenizerFiles, { id2label: { 0: "negative", 1: "neutral", 2: "positive" } }, { hiddenOutput: true });
  embeddingDir = writeModelDir(join(root, "embedding"), backboneWeights, tokenizerFiles, { pooling: "mean" });
  maxPoolDir = writeModelDir(join(root, "max"), backboneWeights, tokenizerFiles, { pooling: "max", id2label: { 0: "negative", 1: "neutral", 2: "positive" }, hidden_dim: 4, hidden_activation: "relu", num_layers: 1 });
  writeSafetensors(join(maxPoolDir, "head.safetensors"), new Map([
    ["classifier.layers.0.weight", { shape: [4, 16], data: new Float32Array(64).fill(0.1) }], ["classifier.layers.0.bias", { shape: [4], data: new Float32Array(4) }],
    ["classifier.layers.3.weight", { shape: [3, 4], data: new Float32Array(12).fill(0.2) }], ["classifier.layers.3.bias", { shape: [3], data: new Float32Array(3) }],
  ]));
});

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tolerance: number, what: string) => {
  assert.equal(a.length, b.length, `${what}: lengths`);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs((a[i] as number) - (b[i] as number)) <= tolerance, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
};

test("rows are filled first-fit from the longest text down; positions restart per text; the bias is block-diagonal", () => {
  assert.deepEqual(planPackedRows([5, 9, 3, 4], 10), [
    [{ item: 1, start: 0, length: 9 }],
    [{ item: 0, start: 0, length: 5 }, { item: 3, start: 5, length: 4 }],
    [{ item: 2, start: 0, length: 3 }],
  ]);
  assert.throws(() => planPackedRows([11], 10), /11 tokens, more than a row's 10/);
  // Aligned to 4: every text starts at a multiple of 4 (what makes packed answers bit-identical to padded ones).
  assert.deepEqual(planPackedRows([5, 9, 3, 4], 16, 4), [
    [{ item: 1, start: 0, length: 9 }, { item: 3, start: 12, length: 4 }],
    [{ item: 0, start: 0, length: 5 }, { item: 2, start: 8, length: 3 }],
  ]);
  const fed = packedFeeds([[7, 8], [9, 10, 11]], [[{ item: 1, start: 0, length: 3 }, { item: 0, start: 3, length: 2 }]], 0);
  assert.equal(fed.sequence, 5);
  assert.deepEqual([...fed.inputIds].map(Number), [9, 10, 11, 7, 8]);
  assert.deepEqual([...fed.positionIds].map(Number), [0, 1, 2, 0, 1]);
  // Query 0 (first text) sees keys 0–2 only; query 4 (second text) sees keys 3–4 only.
  const row = (q: number) => [...fed.attentionBias.subarray(q * 5, q * 5 + 5)].map((v) => (v === 0 ? 1 : 0));
  assert.deepEqual(row(0), [1, 1, 1, 0, 0]);
  assert.deepEqual(row(4), [0, 0, 0, 1, 1]);
});

test("packed rows give every text what it gets alone: classifier logits (head split from the graph) and embedding vectors", async () => {
  const classifier = await EncoderModel.load(classifierDir, { threads: 1, packing: true });
  assert.ok(classifier.canPack);
  // Rows of 16 tokens: short texts share rows, the long one (over 16) runs padded beside them.
  const result = await runEncoder(classifier, TEXTS, { batchSize: 8, packing: 16 });
  TEXTS.forEach((text, row) => {
    const ids = classifier.tokenizer.encode(text, 512).ids;
    close(result.values.subarray(row * 3, row * 3 + 3), referenceForward(classifierWeights, ids), 1e-4, `logits of "${text}"`);
  });
  assert.ok(result.padded < TEXTS.length * Math.max(...TEXTS.map((t) => classifier.tokenizer.encode(t, 512).ids.length)), "fewer positions than padding to the longest");
  await classifier.release();

  // A file written fused (tandem quantize writes MultiHeadAttention with an expanded attention bias) packs too.
  const fusedDir = join(tempDir(), "classifier-fused");
  cpSync(classifierDir, fusedDir, { recursive: true });
  const fusedFile = join(fusedDir, "onnx", "model.onnx");
  const fused = fuseEncoderGraph(readFileSync(fusedFile));
  assert.equal(fused.summary.attention, SHAPE.layers);
  writeFileSync(fusedFile, fused.bytes);
  const fusedClassifier = await EncoderModel.load(fusedDir, { threads: 1, packing: true });
  assert.ok(fusedClassifier.canPack, fusedClassifier.packingRefusal);
  const fusedResult = await runEncoder(fusedClassifier, TEXTS, { batchSize: 8, packing: 16 });
  TEXTS.forEach((text, row) => close(fusedResult.values.subarray(row * 3, row * 3 + 3), referenceForward(classifierWeights, fusedClassifier.tokenizer.encode(text, 512).ids), 1e-4, `fused, logits of "${text}"`));
  await fusedClassifier.release();

  const embedding = await EncoderModel.load(embeddingDir, { threads: 1, packing: true });
  const vectors = await runEncoder(embedding, TEXTS, { batchSize: 3, packing: 24, bucketing: false });
  const plain = await runEncoder(embedding, TEXTS, { batchSize: 1 });
  close(vectors.values, plain.values, 2e-5, "packed vs one at a time");
  await embedding.release();
});

test("graphs that packing would change are refused with the reason", async () => {
  // A mask applied with Where (DistilBERT's way), not added to the scores.
  const g = new GraphBuilder("where-mask");
  g.input("input_ids", ["batch", "sequence"], "int64");
  g.input("attention_mask", ["batch", "sequence"], "int64");
  const length = g.op("Gather", [g.op("Shape", ["input_ids"]), g.int64s([1], [])], { axis: 0 });
  const x = g.op("Add", [g.op("Gather", [g.float(new Float32Array(40 * 4).fill(0.01), [40, 4]), "input_ids"]), g.op("Gather", [g.float(new Float32Array(16 * 4).fill(0.02), [16, 4]), g.op("Range", [g.int64s([0], []), length, g.int64s([1], [])])])]);
  const scores = g.op("MatMul", [x, g.op("Transpose", [x], { perm: [0, 2, 1] })]);
  const allowed = g.op("Cast", [g.op("Unsqueeze", ["attention_mask", g.int64s([1])])], { to: 9 });
  const masked = g.op("Where", [allowed, scores, g.float(-10000)]);
  g.output(g.op("MatMul", [g.op("Softmax", [masked], { axis: -1 }), x]), "last_hidden_state", ["batch", "sequence", 4]);
  assert.throws(() => packGraph(g.encode()), (error: unknown) => error instanceof PackingUnsupported && /mask enters the graph through Where/.test((error as Error).message));
  // Max pooling counts padding as zeros: packed rows would change its answers.
  await assert.rejects(EncoderModel.load(maxPoolDir, { threads: 1, packing: true }), /max pooling counts padding as zeros/);
  // "auto" (the server's default) pads instead, and says why.
  const auto = await EncoderModel.load(maxPoolDir, { threads: 1, packing: "auto" });
  assert.equal(auto.canPack, false);
  assert.match(auto.packingRefusal ?? "", /max pooling counts padding as zeros/);
  assert.equal((await runEncoder(auto, TEXTS)).values.length, TEXTS.length * 3);
  await auto.release();
});

test("CLI: classify --packing on the bundled starter agrees with padded batches; a model it cannot pack is one line", async () => {
  const input = tempFile("packing-input.csv", readFileSync(join(SHARED, "data/sentiment-merged/test_all.csv"), "utf8").split("\n").slice(0, 401).join("\n") + "\n");
  const packedOut = join(tempDir(), "packed.csv");
  const plainOut = join(tempDir(), "plain.csv");
  const packed = runCli(["classify", "-i", input, "--strategy", "encoder", "--packing", "-o", packedOut]);
  assert.equal(packed.status, 0, packed.stderr);
  assert.equal(runCli(["classify", "-i", input, "--strategy", "encoder", "-o", plainOut]).status, 0);
  const labels = async (file: string) => (await readTable(file)).records.map((record) => String(record.values.prediction));
  const [a, b] = [await labels(packedOut), await labels(plainOut)];
  assert.ok(a.length > 300 && a.length === b.length, `${a.length} and ${b.length} rows`);
  // The int8 starter quantizes activations per call, so packed and padded calls differ in the last digits, rarely in a label.
  const agreement = a.filter((label, i) => label === b[i]).length / a.length;
  assert.ok(agreement >= 0.97, `agreement ${agreement}`);
  const where = tempDir();
  const refused = runCli(["classify", "-i", input, "--strategy", "encoder", "--model", maxPoolDir, "--packing", "-o", join(where, "out.csv")]);
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /config\.json.*max pooling counts padding as zeros/);
  assert.equal(refused.stderr.trim().split("\n").length, 1, refused.stderr);
});

test("serve: a packed encoder answers concurrent one-text requests in shared calls, each as the text alone", async () => {
  const yaml = `strategies:\n  - name: packed\n    type: encoder\n    model: ${JSON.stringify(classifierDir)}\n    batch_size: 16\n    packing: 24\ndefault: packed\n`;
  const server = await startServer({ strategies: parseStrategyFile(yaml, "serve.yaml"), port: 0, store: join(tempDir(), "packed-serve.db"), maxWaitMs: 20 });
  try {
    await server.ready;
    const texts = Array.from({ length: 20 }, (_, i) => TEXTS[i % TEXTS.length] + " ".repeat(i % 3) + (i % 2 ? " really" : ""));
    const answers = await Promise.all(texts.map((text) => fetch(`${server.url}/v1/classify`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ texts: [text] }) }).then((r) => r.json() as Promise<{ results: { probabilities: Record<string, number> }[] }>)));
    const calls = Number(/tandem_encoder_batch_size_count (\d+)/.exec(await (await fetch(`${server.url}/metrics`)).text())?.[1]);
    assert.ok(calls < texts.length, `${calls} encoder calls for ${texts.length} requests`);
    const alone = await EncoderModel.load(classifierDir, { threads: 1 });
    for (const [i, text] of texts.entries()) {
      const expected = await runEncoder(alone, [text]);
      const logits = [...expected.values];
      const exp = logits.map((v) => Math.exp(v - Math.max(...logits)));
      const probabilities = exp.map((v) => v / exp.reduce((a, b) => a + b, 0));
      close(Object.values(answers[i]!.results[0]!.probabilities), probabilities, 1e-5, `request ${i}`);
    }
    await alone.release();
  } finally {
    await server.close();
  }
});
