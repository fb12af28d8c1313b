// The encoder engine against independent computations: a plain-loop transformer (fixtures/bert-graph.ts),
// pooling and head written out here, the real bert-base-uncased tokenizer, and a local "hub".
import { before, after, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadTokenizer } from "../src/encoders/tokenizer.js";
import { loadDataset } from "../src/data/dataset.js";
import { pool, headForward, headWeightsFromTensors, type HeadConfig } from "../src/encoders/head.js";
import { readSafetensors, writeSafetensors, type Tensor } from "../src/encoders/safetensors.js";
import { EncoderModel } from "../src/encoders/model.js";
import { classifyWithEncoder, runEncoder, planBatches } from "../src/encoders/inference.js";
import { resolveModelDir } from "../src/encoders/hub.js";
import { readVectors } from "../src/encoders/vectors.js";
import { Random } from "../src/core/random.js";
import { UserError } from "../src/core/errors.js";
import { randomBertWeights, referenceForward, writeModelDir, type BertShape } from "./fixtures/bert-graph.js";
import { runCli, SHARED, tempDir, tempFile } from "./helpers.js";

const TOKENIZER_DIR = join(SHARED, "models/tokenizers/bert-base-uncased");
const tokenizerFiles = Object.fromEntries(
  ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"].map((name) => [name, readFileSync(join(TOKENIZER_DIR, name))]),
);
const SHAPE: BertShape = { vocab: 30522, hidden: 16, layers: 2, heads: 4, intermediate: 32, maxPositions: 64 };
const LABELS = ["negative", "neutral", "positive"];
const id2label = { 0: "negative", 1: "neutral", 2: "positive" };
const TEXTS = [
  "A gorgeous, witty, seductive movie.",
  "The food was cold and the waiter rude.",
  "It is a film.",
  "I had called in advance to see if they offered non-dairy milk and was told they had soy and almond...Yasss!",
  "Meh",
  "This is neither good nor bad, just long, very long, and then some more words to make it longer than the rest.",
];

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tolerance: number, what: string) => {
  assert.equal(a.length, b.length, `${what}: lengths`);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs((a[i] as number) - (b[i] as number)) <= tolerance, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
};

// ---- independent pooling and head (plain code, not the engine's) ----
function meanPool(hidden: Float64Array, length: number, dim: number): number[] {
  return Array.from({ length: dim }, (_, d) => {
    let sum = 0;
    for (let t = 0; t < length; t++) sum += hidden[t * dim + d]!;
    return sum / length;
  });
}
function dense(x: number[], w: Tensor, b: Tensor): number[] {
  const [out, inn] = w.shape as [number, number];
  return Array.from({ length: out }, (_, o) => b.data[o]! + x.reduce((s, v, i) => s + v * w.data[o * inn + i]!, 0));
}
function swishglu(x: number[], w: Tensor, b: Tensor): number[] {
  const y = dense(x, w, b);
  const half = y.length / 2;
  return y.slice(0, half).map((a, i) => a * (y[half + i]! / (1 + Math.exp(-y[half + i]!))));
}

let classifierDir = "";
let backboneDir = "";
let embeddingDir = "";
let headTensors: Map<string, Tensor>;
const classifierWeights = randomBertWeights(SHAPE, 11, 3);
const backboneWeights = randomBertWeights(SHAPE, 12);
const HEAD: HeadConfig = { pooling: "mean", inputDim: 16, hiddenDim: 8, activation: "swishglu", numLayers: 2, numLabels: 3, dropoutRate: 0.3 };

function randomTensor(random: Random, shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, data: Float32Array.from({ length: n }, () => random.nextFloat() * 2 - 1) };
}

before(() => {
  const root = tempDir();
  classifierDir = writeModelDir(join(root, "classifier"), classifierWeights, tokenizerFiles, { id2label, num_labels: 3 });
  backboneDir = writeModelDir(join(root, "backbone"), backboneWeights, tokenizerFiles, {
    id2label, num_labels: 3, pooling: "mean", hidden_dim: 8, hidden_activation: "SwishGLU", num_layers: 2, dropout_rate: 0.3,
  });
  // The research layout: Sequential [Linear, act, Dropout] × 2 + Linear → Linears at 0, 3, 6; SwishGLU at 1 and 4.
  const random = new Random(5);
  headTensors = new Map([
    ["classifier.layers.0.weight", randomTensor(random, [8, 16])], ["classifier.layers.0.bias", randomTensor(random, [8])],
    ["classifier.layers.3.weight", randomTensor(random, [8, 8])], ["classifier.layers.3.bias", randomTensor(random, [8])],
    ["classifier.layers.6.weight", randomTensor(random, [3, 8])], ["classifier.layers.6.bias", randomTensor(random, [3])],
    ["classifier.layers.1.projection.weight", randomTensor(random, [16, 8])], ["classifier.layers.1.projection.bias", randomTensor(random, [16])],
  ]);
  writeSafetensors(join(backboneDir, "head.safetensors"), headTensors);
  embeddingDir = writeModelDir(join(root, "embedding"), backboneWeights, tokenizerFiles, { pooling: "mean" });
});

test("the real bert-base-uncased tokenizer gives the known ids; vocab.txt alone gives the same", () => {
  const tokenizer = loadTokenizer(TOKENIZER_DIR);
  assert.deepEqual(tokenizer.encode("Hello, world!", 512).ids, [101, 7592, 1010, 2088, 999, 102]);
  assert.deepEqual(tokenizer.encode("I've been waiting for a HuggingFace course my whole life.", 512).ids, [
    101, 1045, 1005, 2310, 2042, 3403, 2005, 1037, 17662, 12172, 2607, 2026, 2878, 2166, 1012, 102,
  ]);
  const truncated = tokenizer.encode("one two three four five six", 5);
  assert.deepEqual(truncated, { ids: [101, 2028, 2048, 2093, 102], truncated: true });
  const vocabOnly = join(tempDir(), "vocab-only");
  mkdirSync(vocabOnly, { recursive: true });
  writeFileSync(join(vocabOnly, "vocab.txt"), tokenizerFiles["vocab.txt"]!);
  writeFileSync(join(vocabOnly, "tokenizer_config.json"), tokenizerFiles["tokenizer_config.json"]!);
  const fromVocab = loadTokenizer(vocabOnly);
  const rows = readFileSync(join(SHARED, "data/sentiment-merged/test_all.csv"), "utf8").split("\n").slice(1, 400);
  for (const row of rows) assert.deepEqual(fromVocab.encode(row, 512).ids, tokenizer.encode(row, 512).ids, row);
});

test("the ASCII fast path gives the engine's ids, id for id, on every text of ../shared and on random ASCII (controls, brackets, special tokens' text, words past 100 characters)", async () => {
  const texts: string[] = [];
  for (const file of ["data/sentiment-merged/test_all.csv", "data/sentiment-merged/val_all.csv"]) texts.push(...(await loadDataset(join(SHARED, file))).examples.map((e) => e.text));
  texts.push(...readFileSync(join(SHARED, "data/sst-trees/train.txt"), "utf8").split("\n"));
  const random = new Random(17);
  const alphabet = "abcXYZ  .,!?'-[]()#$%^&*_{}~`|\\/<>:;\"@+=0123456789\t\n\r\u000b\u000c\u0000\u0001\u007f";
  for (let i = 0; i < 3000; i++) texts.push(Array.from({ length: 1 + Math.floor(random.nextFloat() * 40) }, () => alphabet[Math.floor(random.nextFloat() * alphabet.length)]).join(""));
  texts.push("", "   ", "[CLS] hello [SEP]", "a [MASK] b", "[unk]", "x".repeat(100), "x".repeat(101), "unaffable ##ing", "café", "naïve 日本");
  let ascii = 0;
  for (const dir of [TOKENIZER_DIR, join(import.meta.dirname, "..", "models", "starter")]) {
    const fast = loadTokenizer(dir);
    const engine = loadTokenizer(dir, { engineOnly: true });
    for (const text of texts) {
      assert.deepEqual(fast.encode(text, 512), engine.encode(text, 512), JSON.stringify(text));
      if ([...text].every((c) => c.charCodeAt(0) < 128)) ascii++;
    }
  }
  assert.ok(ascii > texts.length, `most texts take the fast path (${ascii} of ${2 * texts.length})`);
});

test("pooling: cls, mean over unmasked tokens, max with padded positions as zeros", () => {
  // batch 1, seq 3 (last position padded), dim 2
  const hidden = Float32Array.from([1, -4, 3, -2, 9, -9]);
  const mask = [1, 1, 0];
  assert.deepEqual([...pool(hidden, mask, 1, 3, 2, "cls")], [1, -4]);
  assert.deepEqual([...pool(hidden, mask, 1, 3, 2, "mean")], [2, -3]);
  // max over (1,3,0·9) = 3 and over (-4,-2,0·-9 = -0) = 0: the padded zero wins, as in the research code.
  assert.deepEqual([...pool(hidden, mask, 1, 3, 2, "max")].map((v) => v + 0), [3, 0]);
});

test("the head reads SwishGLU weights stored once or under every layer, and rejects wrong shapes", () => {
  const pooled = Float32Array.from({ length: 16 }, (_, i) => Math.sin(i));
  const once = headWeightsFromTensors(headTensors, HEAD);
  const everyLayer = new Map(headTensors);
  everyLayer.set("model.classifier.layers.4.projection.weight", headTensors.get("classifier.layers.1.projection.weight")!);
  everyLayer.set("model.classifier.layers.4.projection.bias", headTensors.get("classifier.layers.1.projection.bias")!);
  const onlyLater = new Map([...everyLayer].filter(([name]) => !name.includes("layers.1.projection")));
  const logits = headForward(pooled, 1, HEAD, once);
  close(headForward(pooled, 1, HEAD, headWeightsFromTensors(onlyLater, HEAD)), logits, 0, "layer-4 copy");
  // Independent computation: shared SwishGLU after both hidden Linears.
  const t = (name: string) => headTensors.get(name)!;
  const g = (x: number[]) => swishglu(x, t("classifier.layers.1.projection.weight"), t("classifier.layers.1.projection.bias"));
  const h1 = g(dense([...pooled], t("classifier.layers.0.weight"), t("classifier.layers.0.bias")));
  const h2 = g(dense(h1, t("classifier.layers.3.weight"), t("classifier.layers.3.bias")));
  close(logits, dense(h2, t("classifier.layers.6.weight"), t("classifier.layers.6.bias")), 1e-5, "head logits");
  const wrong = new Map(headTensors);
  wrong.set("classifier.layers.3.weight", { shape: [8, 4], data: new Float32Array(32) });
  assert.throws(() => headWeightsFromTensors(wrong, HEAD), /classifier\.layers\.3\.weight has shape \[8,4\] but the config implies \[8, 8\]/);
});

test("safetensors: round trip, F16 and BF16 decoding, selective reads", () => {
  const file = join(tempDir(), "t.safetensors");
  writeSafetensors(file, { a: { shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) }, b: { shape: [1], data: Float32Array.of(-0.5) } });
  const back = readSafetensors(file);
  assert.deepEqual([...back.get("a")!.data], [1, 2, 3, 4]);
  assert.deepEqual(back.get("a")!.shape, [2, 2]);
  assert.deepEqual([...readSafetensors(file, (n) => n === "b").keys()], ["b"]);
  // Hand-made file: F16 1.5 (0x3E00) and -2 (0xC000); BF16 of 3.0 is 0x4040.
  const header = Buffer.from(JSON.stringify({ h: { dtype: "F16", shape: [2], data_offsets: [0, 4] }, b: { dtype: "BF16", shape: [1], data_offsets: [4, 6] } }));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  const data = Buffer.from([0x00, 0x3e, 0x00, 0xc0, 0x40, 0x40]);
  const halfFile = tempFile("half.safetensors", Buffer.concat([length, header, data]));
  const half = readSafetensors(halfFile);
  assert.deepEqual([...half.get("h")!.data], [1.5, -2]);
  assert.deepEqual([...half.get("b")!.data], [3]);
});

test("kind 1, a sequence classifier graph: logits equal the plain-loop transformer's", async () => {
  const model = await EncoderModel.load(classifierDir, { threads: 1 });
  assert.equal(model.kind, "classifier");
  assert.deepEqual(model.labels, LABELS);
  const result = await runEncoder(model, TEXTS, { batchSize: 4 });
  assert.equal(result.width, 3);
  TEXTS.forEach((text, row) => {
    const ids = model.tokenizer.encode(text, 512).ids;
    close(result.values.subarray(row * 3, row * 3 + 3), referenceForward(classifierWeights, ids), 1e-4, `logits of "${text}"`);
  });
  await model.release();
});

test("kind 2, backbone + research head: mean pooling and the SwishGLU head in TypeScript", async () => {
  const model = await EncoderModel.load(backboneDir, { threads: 1 });
  assert.equal(model.kind, "backbone+head");
  const result = await runEncoder(model, TEXTS, { batchSize: 3 });
  const t = (name: string) => headTensors.get(name)!;
  const g = (x: number[]) => swishglu(x, t("classifier.layers.1.projection.weight"), t("classifier.layers.1.projection.bias"));
  TEXTS.forEach((text, row) => {
    const ids = model.tokenizer.encode(text, 512).ids;
    const pooled = meanPool(referenceForward(backboneWeights, ids), ids.length, 16);
    const h2 = g(dense(g(dense(pooled, t("classifier.layers.0.weight"), t("classifier.layers.0.bias"))), t("classifier.layers.3.weight"), t("classifier.layers.3.bias")));
    close(result.values.subarray(row * 3, row * 3 + 3), dense(h2, t("classifier.layers.6.weight"), t("classifier.layers.6.bias")), 1e-4, `logits of "${text}"`);
  });
  const classified = await classifyWithEncoder(model, TEXTS);
  for (let row = 0; row < TEXTS.length; row++) {
    const p = classified.probabilities.subarray(row * 3, row * 3 + 3);
    close([p.reduce((a, b) => a + b, 0)], [1], 1e-6, "softmax sums to 1");
    assert.equal(classified.predictions[row], LABELS[p.indexOf(Math.max(...p))]);
  }
  await model.release();
});

test("kind 3, an embedding model: L2-normalised mean-pooled vectors", async () => {
  const model = await EncoderModel.load(embeddingDir, { threads: 1 });
  assert.equal(model.kind, "embedding");
  const result = await runEncoder(model, TEXTS.slice(0, 3));
  assert.equal(result.width, 16);
  TEXTS.slice(0, 3).forEach((text, row) => {
    const ids = model.tokenizer.encode(text, 512).ids;
    const pooled = meanPool(referenceForward(backboneWeights, ids), ids.length, 16);
    const norm = Math.hypot(...pooled);
    close(result.values.subarray(row * 16, row * 16 + 16), pooled.map((v) => v / norm), 1e-5, `vector of "${text}"`);
  });
  await model.release();
});

test("batching invariance: the same outputs whatever the batch size, order and bucketing; truncation counted", async () => {
  const model = await EncoderModel.load(backboneDir, { threads: 1 });
  const reference = await runEncoder(model, TEXTS, { batchSize: 1 });
  for (const batchSize of [2, 4, 64]) {
    for (const bucketing of [true, false]) {
      close((await runEncoder(model, TEXTS, { batchSize, bucketing })).values, reference.values, 2e-5, `batch ${batchSize}, bucketing ${bucketing}`);
    }
  }
  const reversed = await runEncoder(model, [...TEXTS].reverse(), { batchSize: 4 });
  TEXTS.forEach((_, row) => close(reversed.values.subarray((TEXTS.length - 1 - row) * 3, (TEXTS.length - row) * 3), reference.values.subarray(row * 3, row * 3 + 3), 2e-5, "reversed order"));
  const short = await runEncoder(model, TEXTS, { maxLength: 8 });
  assert.equal(short.truncated, 4);
  assert.deepEqual(planBatches([5, 1, 3, 1], 2, true), [[1, 3], [2, 0]]);
  // With a padding slack: lengths 10, 10, 11 share a batch (padded 33 ≤ 1.15 × 31); 20 would pad 4 × 20 = 80 > 1.15 × 51, so it starts
  // the next, which 21 joins (42 ≤ 1.15 × 41); the size cap (4) still holds for equal lengths.
  assert.deepEqual(planBatches([20, 10, 11, 10, 21], 4, true, 0.15), [[1, 3, 2], [0, 4]]);
  assert.deepEqual(planBatches([7, 7, 7, 7, 7], 4, true, 0.15), [[0, 1, 2, 3], [4]]);
  const slack = await runEncoder(model, TEXTS, { batchSize: 16, paddingSlack: 0.1 });
  TEXTS.forEach((_, row) => close(slack.values.subarray(row * 3, row * 3 + 3), reference.values.subarray(row * 3, row * 3 + 3), 2e-5, "padding slack"));
  assert.ok(slack.padded <= 1.1 * slack.tokens, `${slack.padded} positions for ${slack.tokens} tokens`);
  await model.release();
});

test("bad model folders are clear errors", async () => {
  await assert.rejects(EncoderModel.load(tempDir()), (error: UserError) => /no config\.json/.test(error.describe()));
  const noGraph = join(tempDir(), "no-graph");
  mkdirSync(noGraph, { recursive: true });
  writeFileSync(join(noGraph, "config.json"), "{}");
  await assert.rejects(EncoderModel.load(noGraph), /no ONNX graph: expected onnx\/model\.onnx or model\.onnx/);
});

let server: Server | undefined;
after(() => server?.close());

test("hub ids download once into the cache; offline gives advice, not a stack trace", async () => {
  const requests: string[] = [];
  server = createServer((request, response) => {
    requests.push(request.url!);
    const match = /^\/acme\/tiny\/resolve\/main\/(.+)$/.exec(request.url!);
    const file = match ? join(classifierDir, match[1]!) : "";
    if (!match || !existsSync(file)) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200).end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const cache = join(tempDir(), "cache");
  process.env.TANDEM_HUB_URL = `http://127.0.0.1:${port}`;
  process.env.TANDEM_CACHE = cache;
  try {
    const dir = await resolveModelDir("acme/tiny");
    assert.ok(existsSync(join(dir, "onnx", "model.onnx")));
    const model = await EncoderModel.load(dir, { threads: 1 });
    assert.equal(model.kind, "classifier");
    await model.release();
    const count = requests.length;
    await resolveModelDir("acme/tiny");
    assert.ok(requests.length - count <= 2, "cached files are not fetched again (only absent optional files are asked for)");
    await assert.rejects(resolveModelDir("acme/missing"), /does not exist \(404\)/);
    process.env.TANDEM_HUB_URL = "http://127.0.0.1:9";
    await assert.rejects(resolveModelDir("other/model"), /cannot download .*offline\? put the model in a folder/);
  } finally {
    delete process.env.TANDEM_HUB_URL;
    delete process.env.TANDEM_CACHE;
  }
});

test("CLI: classify --strategy encoder → evaluate; embed → vectors file; bench encoder; label mismatch", () => {
  const input = tempFile("encoder-in.csv", "sentence,label\n" + TEXTS.map((t, i) => `"${t.replaceAll('"', '""')}",${LABELS[i % 3]}`).join("\n") + "\n");
  const out = join(tempDir(), "encoder-out.csv");
  const classify = runCli(["classify", "--strategy", "encoder", "--model", backboneDir, "-i", input, "-o", out, "--batch-size", "2"]);
  assert.equal(classify.status, 0, classify.stderr);
  const evaluate = runCli(["evaluate", "-i", out, "--probs", "probabilities", "-f", "json"]);
  assert.equal(evaluate.status, 0, evaluate.stderr);
  assert.equal(JSON.parse(evaluate.stdout).overall["macro avg"].support, TEXTS.length);

  const vectors = join(tempDir(), "vectors.bin");
  const embed = runCli(["embed", "--model", embeddingDir, "-i", input, "-o", vectors]);
  assert.equal(embed.status, 0, embed.stderr);
  const read = readVectors(vectors);
  assert.deepEqual([read.rows, read.dim], [TEXTS.length, 16]);
  close([Math.hypot(...read.data.subarray(0, 16))], [1], 1e-5, "unit norm");

  const bench = runCli(["bench", "encoder", "--model", classifierDir, "-i", input, "--batch-sizes", "1,4", "--repeats", "1", "-f", "json"]);
  assert.equal(bench.status, 0, bench.stderr);
  const rows = JSON.parse(bench.stdout).rows;
  assert.deepEqual(rows.map((r: { batchSize: number }) => r.batchSize), [1, 4]);
  assert.ok(rows.every((r: { samplesPerSecond: number; ratioToBare: number }) => r.samplesPerSecond > 0 && r.ratioToBare > 0));

  const stars = tempFile("stars.csv", "text,label\ngreat,5\nbad,1\n");
  // A guessed gold column that does not hold the model's labels is set aside with a note; named, it is an error.
  const guessed = runCli(["classify", "--strategy", "encoder", "--model", classifierDir, "-i", stars, "-o", join(tempDir(), "x.csv")]);
  assert.equal(guessed.status, 0, guessed.stderr);
  assert.match(guessed.stderr, /note: column "label" looked like gold labels, but its values \(5, 1\) are not the model's labels \(negative, neutral, positive\): it is not used as gold/);
  const mismatch = runCli(["classify", "--strategy", "encoder", "--model", classifierDir, "-i", stars, "--label-col", "label", "-o", join(tempDir(), "x.csv")]);
  assert.equal(mismatch.status, 2);
  assert.match(mismatch.stderr, /stars\.csv, column "label": the gold labels \(5, 1\) are not among the model's labels \(negative, neutral, positive\)/);
  assert.equal(runCli(["classify", "--strategy", "encoder", "--model", classifierDir, "-i", stars, "--no-label-col", "-o", join(tempDir(), "x.csv")]).status, 0);
  const embeddingAsClassifier = runCli(["classify", "--strategy", "encoder", "--model", embeddingDir, "-i", input, "-o", join(tempDir(), "y.csv")]);
  assert.match(embeddingAsClassifier.stderr, /embedding model/);
});
