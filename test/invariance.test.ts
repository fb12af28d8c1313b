// Same text → same answer: the bundled int8 starter gives each text the same label and probabilities
// (within 1e-5) whatever its batch-mates, batch size, order, packing or the server's concurrency, because
// int8 activations are quantized per row (one scale per token) as tandem opens the graph. Under ONNX
// Runtime's per-tensor DynamicQuantizeMatMul (TANDEM_INT8_ACTIVATIONS=tensor) they did not.
import assert from "node:assert/strict";
import { join } from "node:path";
import { before, test } from "node:test";
import { cellText, readTable } from "../src/data/readers.js";
import { classifyWithEncoder } from "../src/encoders/inference.js";
import { EncoderModel } from "../src/encoders/model.js";
import { resolveModelDir } from "../src/encoders/hub.js";
import { startServer } from "../src/server/app.js";
import { parseStrategyFile } from "../src/strategies/factory.js";
import { SHARED, tempDir } from "./helpers.js";

let texts: string[];
let starter: string;
before(async () => {
  const table = await readTable(join(SHARED, "data/sentiment-merged/test_all.csv"));
  texts = table.records.filter((_, i) => i % 16 === 0).map((r) => cellText(r.values.sentence));
  starter = await resolveModelDir("starter");
});

type Answers = { predictions: string[]; probabilities: Float32Array };

function sameAnswers(reference: Answers, other: Answers, rows: readonly number[], what: string): void {
  let labels = 0;
  let largest = 0;
  rows.forEach((row, j) => {
    if (reference.predictions[row] !== other.predictions[j]) labels++;
    for (let c = 0; c < 3; c++) largest = Math.max(largest, Math.abs((reference.probabilities[row * 3 + c] as number) - (other.probabilities[j * 3 + c] as number)));
  });
  assert.equal(labels, 0, `${what}: ${labels} of ${rows.length} labels differ`);
  assert.ok(largest <= 1e-5, `${what}: probabilities differ by up to ${largest}`);
}

test("int8 starter: shuffled order, batch 1 vs 32, and packed rows give every text the same label and probabilities (within 1e-5)", async () => {
  const model = await EncoderModel.load(starter);
  let reference: Answers;
  try {
    reference = await classifyWithEncoder(model, texts, { batchSize: 32, maxLength: 256 });
    // Shuffled (a fixed permutation), unsorted: each text meets other batch-mates and other padding.
    const order = texts.map((_, i) => i).sort((a, b) => ((a * 7919) % texts.length) - ((b * 7919) % texts.length));
    sameAnswers(reference, await classifyWithEncoder(model, order.map((i) => texts[i]!), { batchSize: 32, bucketing: false, maxLength: 256 }), order, "shuffled");
    const first = texts.slice(0, 120).map((_, i) => i);
    sameAnswers(reference, await classifyWithEncoder(model, texts.slice(0, 120), { batchSize: 1, maxLength: 256 }), first, "batch 1");
    sameAnswers(reference, await classifyWithEncoder(model, order.map((i) => texts[i]!), { batchSize: 7, bucketing: false, maxLength: 256 }), order, "batches of 7");
  } finally {
    await model.release();
  }
  const packed = await EncoderModel.load(starter, { packing: true });
  try {
    sameAnswers(reference, await classifyWithEncoder(packed, texts, { batchSize: 32, bucketing: false, packing: 64, maxLength: 256 }), texts.map((_, i) => i), "packed");
  } finally {
    await packed.release();
  }
});

test("served under concurrency (dynamic batching, packing) the starter answers each text as offline", async () => {
  const model = await EncoderModel.load(starter);
  let offline: Answers;
  try {
    offline = await classifyWithEncoder(model, texts, { batchSize: 32, maxLength: 256 });
  } finally {
    await model.release();
  }
  const server = await startServer({ strategies: parseStrategyFile("type: encoder\nname: encoder\nmodel: starter\n", "encoder.yaml"), port: 0, store: join(tempDir(), `invariance-${process.pid}.db`), logger: false });
  await server.ready;
  try {
    const served: Answers = { predictions: [], probabilities: new Float32Array(texts.length * 3) };
    // 64 one-text requests in flight at a time: the server gathers them into batches of whatever arrives.
    for (let i = 0; i < texts.length; i += 64) {
      const answers = await Promise.all(texts.slice(i, i + 64).map(async (text) => {
        const response = await fetch(`${server.url}/v1/classify`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ texts: [text] }) });
        return ((await response.json()) as { results: Array<{ label: string; probabilities: Record<string, number> }> }).results[0]!;
      }));
      answers.forEach((answer, j) => {
        served.predictions[i + j] = answer.label;
        ["negative", "neutral", "positive"].forEach((label, c) => (served.probabilities[(i + j) * 3 + c] = answer.probabilities[label]!));
      });
    }
    sameAnswers(offline, served, texts.map((_, i) => i), "served");
  } finally {
    await server.close();
  }
});
