// int8 quantization against independent computations: one DynamicQuantizeMatMul against the integer
// arithmetic written out here (ONNX's DynamicQuantizeLinear rules), a quantized tiny BERT against the
// plain-loop transformer run on the dequantized weights, and the CLI's quality guard on the starter.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import onnxProto from "onnx-proto";
import { rowwiseActivations, widenInt8Weights } from "../src/encoders/int8-rewrites.js";
import { exposeMatMulInputs, floatValues, quantizeOnnx, quantizeSymmetric } from "../src/encoders/quantize.js";
import { createSession } from "../src/encoders/int8-kernel.js";
import { interpolateTensors } from "../src/training/soup.js";
import { calibrateActivationRanges, quantizeModel } from "../src/encoders/quantize-model.js";
import { EncoderModel } from "../src/encoders/model.js";
import { runEncoder } from "../src/encoders/inference.js";
import { GraphBuilder } from "../src/encoders/onnx-graph.js";
import { hasInt8Products, matmulFlopsPerSample } from "../src/encoders/bench.js";
import { Random } from "../src/core/random.js";
import { UserError } from "../src/core/errors.js";
import { randomBertWeights, referenceForward, writeModelDir, type BertWeights } from "./fixtures/bert-graph.js";
import { runCli, SHARED, tempDir, tempFile } from "./helpers.js";

const TOKENIZER_DIR = join(SHARED, "models/tokenizers/bert-base-uncased");
const tokenizerFiles = Object.fromEntries(["tokenizer.json", "tokenizer_config.json"].map((name) => [name, readFileSync(join(TOKENIZER_DIR, name))]));

test("symmetric int8: scale = max|w| / 127 per column (or row), values rounded and kept in [-127, 127]", () => {
  // 2 × 3, columns: [1, -0.25], [0.254, 0.1], [0, 0] (an all-zero column gets scale 1)
  const { q, scales } = quantizeSymmetric(Float32Array.from([1, 0.254, 0, -0.25, 0.1, 0]), 2, 3, 1);
  assert.deepEqual([...scales].map((s) => Number(s.toPrecision(5))), [Number((1 / 127).toPrecision(5)), Number((0.254 / 127).toPrecision(5)), 1]);
  assert.deepEqual([...q], [127, 127, 0, -32, 50, 0]);
  const rows = quantizeSymmetric(Float32Array.from([2, -1, 0.5, 0.25]), 2, 2, 0);
  assert.deepEqual([...rows.q], [127, -64, 127, 64]);
});

// ONNX DynamicQuantizeLinear: uint8, scale = (max(0, max x) − min(0, min x)) / 255, zero point =
// round(−min / scale) saturated to [0, 255], q = saturate(round(x / scale) + zero point); round half to even.
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

test("DynamicQuantizeMatMul with per-column int8 weights equals the integer arithmetic written out (per tensor, as stored)", async () => {
  const random = new Random(3);
  const [m, k, n] = [5, 64, 96];
  const a = Float32Array.from({ length: m * k }, () => random.nextFloat() * 4 - 1.5);
  const w = Float32Array.from({ length: k * n }, () => (random.nextFloat() * 2 - 1) * (0.1 + random.nextFloat()));
  const graph = new GraphBuilder("one-matmul");
  graph.output(graph.op("MatMul", [graph.input("a", [m, k]), graph.float(w, [k, n])]), "y", [m, n]);
  const { bytes, summary } = quantizeOnnx(graph.encode(), { minElements: 1 });
  assert.equal(summary.matmuls, 1);
  // Widened by hand: the uint8 form runs ONNX Runtime's U8U8 kernel, exact on every CPU.
  const widened = widenInt8Weights(bytes);
  assert.equal(widened.widened, 1);
  const session = await ort.InferenceSession.create(widened.bytes);
  const y = (await session.run({ a: new ort.Tensor("float32", a, [m, k]) })).y!.data as Float32Array;
  await session.release();

  const { q: qw, scales } = quantizeSymmetric(w, k, n, 1);
  const max = Math.max(0, ...a);
  const min = Math.min(0, ...a);
  const scaleA = Math.fround((max - min) / 255);
  const zero = Math.min(255, Math.max(0, roundHalfEven(-min / scaleA)));
  const qa = Array.from(a, (x) => Math.min(255, Math.max(0, roundHalfEven(x / scaleA) + zero)));
  for (let r = 0; r < m; r++) {
    for (let c = 0; c < n; c++) {
      let sum = 0;
      for (let i = 0; i < k; i++) sum += ((qa[r * k + i] as number) - zero) * (qw[i * n + c] as number);
      const expected = sum * scaleA * (scales[c] as number);
      const got = y[r * n + c] as number;
      assert.ok(Math.abs(got - expected) <= 1e-5 * Math.max(1, Math.abs(expected)), `y[${r},${c}]: ${got} vs ${expected}`);
    }
  }
});

test("int8 graphs as tandem opens them quantize activations per row: the product equals the per-row arithmetic, and a row's answer does not depend on the other rows", async () => {
  const random = new Random(5);
  const [m, k, n] = [4, 64, 48];
  const a = Float32Array.from({ length: m * k }, () => random.nextFloat() * 4 - 1.5);
  // Row 3 holds an outlier 50× the rest: per tensor it would coarsen every row's quantization.
  a[3 * k + 7] = 100;
  const w = Float32Array.from({ length: k * n }, () => (random.nextFloat() * 2 - 1) * (0.1 + random.nextFloat()));
  const graph = new GraphBuilder("one-matmul");
  graph.output(graph.op("MatMul", [graph.input("a", ["rows", k]), graph.float(w, [k, n])]), "y", ["rows", n]);
  const { bytes } = quantizeOnnx(graph.encode(), { minElements: 1 });
  const rewritten = rowwiseActivations(bytes);
  assert.equal(rewritten.rewritten, 1);
  const ops = onnxProto.onnx.ModelProto.decode(rewritten.bytes).graph!.node!.map((node) => node.opType);
  assert.ok(!ops.includes("DynamicQuantizeMatMul") && ops.includes("MatMulIntegerToFloat") && ops.includes("QuantizeLinear"), ops.join(" "));
  const session = await createSession(bytes);
  const run = async (rows: number[]) => {
    const input = new Float32Array(rows.length * k);
    rows.forEach((r, i) => input.set(a.subarray(r * k, (r + 1) * k), i * k));
    return (await session.run({ a: new ort.Tensor("float32", input, [rows.length, k]) })).y!.data as Float32Array;
  };
  const all = await run([0, 1, 2, 3]);
  const { q: qw, scales } = quantizeSymmetric(w, k, n, 1);
  for (let r = 0; r < m; r++) {
    // Symmetric per row: x · (127 / max|row|) rounded half to even (zero point 128 in the graph, the same integers).
    const row = a.subarray(r * k, (r + 1) * k);
    const max = Math.max(...Array.from(row, Math.abs));
    const inverse = Math.fround(127 / max);
    const qa = Array.from(row, (x) => Math.min(127, Math.max(-127, roundHalfEven(Math.fround(x * inverse)))));
    const alone = await run([r]);
    for (let c = 0; c < n; c++) {
      let sum = 0;
      for (let i = 0; i < k; i++) sum += (qa[i] as number) * (qw[i * n + c] as number);
      const expected = (sum * max * (scales[c] as number)) / 127;
      const got = all[r * n + c] as number;
      assert.ok(Math.abs(got - expected) <= 1e-5 * Math.max(1, Math.abs(expected)), `y[${r},${c}]: ${got} vs ${expected}`);
      assert.equal(alone[c], got, `row ${r} alone and among the others, column ${c}`);
    }
  }
  await session.release();
  // Per tensor (TANDEM_INT8_ACTIVATIONS=tensor, as stored) the outlier row changes row 0's product.
  const perTensor = await ort.InferenceSession.create(widenInt8Weights(bytes).bytes);
  const together = (await perTensor.run({ a: new ort.Tensor("float32", a, [m, k]) })).y!.data as Float32Array;
  const first = (await perTensor.run({ a: new ort.Tensor("float32", a.slice(0, k), [1, k]) })).y!.data as Float32Array;
  await perTensor.release();
  assert.ok(Array.from(first).some((v, c) => v !== together[c]), "per tensor, row 0 depends on its batch-mates");
});

test("static activations: the calibrated range fixes scale and zero point, the bias is folded into MatMulIntegerToFloat, the product equals the integer arithmetic written out, a row's answer does not depend on the other rows, and widened weights give the same numbers", async () => {
  const random = new Random(9);
  const [m, k, n] = [4, 32, 24];
  const a = Float32Array.from({ length: m * k }, () => random.nextFloat() * 3 - 0.5);
  const w = Float32Array.from({ length: k * n }, () => (random.nextFloat() * 2 - 1) * (0.1 + random.nextFloat()));
  const bias = Float32Array.from({ length: n }, () => random.nextFloat() - 0.5);
  const graph = new GraphBuilder("one-linear");
  graph.output(graph.op("Add", [graph.op("MatMul", [graph.input("a", ["rows", k]), graph.float(w, [k, n])]), graph.float(bias, [n])]), "y", ["rows", n]);
  // Calibrated ranges: channel j saw [lower_j, upper_j]; row 0 of the input exceeds them (it saturates).
  const lower = Float32Array.from({ length: k }, (_, j) => -0.5 + 0.01 * j);
  const upper = Float32Array.from({ length: k }, (_, j) => 2 + 0.02 * j);
  const maxima = Float32Array.from({ length: k }, (_, j) => Math.max(-(lower[j] as number), upper[j] as number));
  a[5] = 40;
  const alpha = 0.5;
  const { bytes, summary } = quantizeOnnx(graph.encode(), { minElements: 1, activations: "static", smoothing: { maxima: new Map([["a", maxima]]), lower: new Map([["a", lower]]), upper: new Map([["a", upper]]), alpha } });
  assert.equal(summary.activations, "static");
  assert.equal(summary.foldedBiases, 1);
  const opTypes = onnxProto.onnx.ModelProto.decode(bytes).graph!.node!.map((node) => node.opType);
  assert.deepEqual(opTypes, ["Mul", "QuantizeLinear", "MatMulIntegerToFloat", "Identity"], "the Identity names the output");

  // The same arithmetic by hand: s_j = a_j^α / w_j^(1−α); the range of x_j / s_j; asymmetric uint8.
  const rowMax = Array.from({ length: k }, (_, j) => Math.max(...Array.from({ length: n }, (_, c) => Math.abs(w[j * n + c] as number))));
  const s = Float32Array.from({ length: k }, (_, j) => (maxima[j] as number) ** alpha / (rowMax[j] as number) ** (1 - alpha));
  let lo = 0;
  let hi = 0;
  for (let j = 0; j < k; j++) {
    lo = Math.min(lo, (lower[j] as number) / (s[j] as number));
    hi = Math.max(hi, (upper[j] as number) / (s[j] as number));
  }
  const scale = (hi - lo) / 255;
  const zero = Math.round(-lo / scale);
  const smoothed = Float32Array.from(w, (v, i) => v * (s[Math.floor(i / n)] as number));
  const { q: qw, scales } = quantizeSymmetric(smoothed, k, n, 1);
  const inverse = Float32Array.from(s, (v) => 1 / (v * scale));
  const qa = Array.from(a, (x, i) => Math.min(255, Math.max(0, roundHalfEven(Math.fround(x * (inverse[i % k] as number))) + zero)));
  assert.equal(qa[5], 255, "past the calibrated range: saturated");

  for (const widen of [false, true]) {
    const session = await ort.InferenceSession.create(widen ? widenInt8Weights(bytes).bytes : bytes);
    const run = async (rows: number[]) => {
      const input = new Float32Array(rows.length * k);
      rows.forEach((r, i) => input.set(a.subarray(r * k, (r + 1) * k), i * k));
      return (await session.run({ a: new ort.Tensor("float32", input, [rows.length, k]) })).y!.data as Float32Array;
    };
    const all = await run([0, 1, 2, 3]);
    for (let r = 0; r < m; r++) {
      const alone = await run([r]);
      for (let c = 0; c < n; c++) {
        let sum = 0;
        for (let i = 0; i < k; i++) sum += ((qa[r * k + i] as number) - zero) * (qw[i * n + c] as number);
        const expected = sum * scale * (scales[c] as number) + (bias[c] as number);
        const got = all[r * n + c] as number;
        assert.ok(Math.abs(got - expected) <= 1e-5 * Math.max(1, Math.abs(expected)), `${widen ? "widened " : ""}y[${r},${c}]: ${got} vs ${expected}`);
        assert.equal(alone[c], got, `row ${r} alone and among the others, column ${c}`);
      }
    }
    await session.release();
  }
  assert.throws(() => quantizeOnnx(graph.encode(), { minElements: 1, activations: "static" }), /needs calibration maxima/);
});

test("bench encoder's peak share counts every weight product: a float MatMul, its dynamic and its static int8 forms all cost 2·K·N per token, and the int8 forms are known as int8", () => {
  const [k, n, tokens] = [32, 24, 10];
  const random = new Random(4);
  const graph = new GraphBuilder("one-product");
  graph.output(graph.op("MatMul", [graph.input("a", ["rows", k]), graph.float(Float32Array.from({ length: k * n }, () => random.nextFloat() - 0.5), [k, n])]), "y", ["rows", n]);
  const fp32 = graph.encode();
  const maxima = new Float32Array(k).fill(2);
  const forms = {
    fp32,
    dynamic: quantizeOnnx(fp32, { minElements: 1 }).bytes,
    static: quantizeOnnx(fp32, { minElements: 1, activations: "static", smoothing: { maxima: new Map([["a", maxima]]), lower: new Map([["a", new Float32Array(k).fill(-1)]]), upper: new Map([["a", maxima]]) } }).bytes,
  };
  // One layer of width 8: the attention products add 4 · tokens · 8 per token.
  const expected = tokens * (2 * k * n + 4 * tokens * 8);
  for (const [form, bytes] of Object.entries(forms)) {
    assert.equal(matmulFlopsPerSample(bytes, tokens, { layers: 1, hidden: 8 }), expected, form);
    assert.equal(hasInt8Products(bytes), form !== "fp32", form);
  }
});

test("activation smoothing: a Mul by 1/s before the MatMul, rows of W times s_j = a_j^α / w_j^(1−α); an outlier channel no longer ruins the product", async () => {
  const random = new Random(11);
  const [m, k, n] = [8, 32, 48];
  // Channel 5 carries outliers 60× the others (as LayerNorm outputs in BERTs do).
  const a = Float32Array.from({ length: m * k }, (_, i) => (random.nextFloat() * 2 - 1) * (i % k === 5 ? 60 : 1));
  const w = Float32Array.from({ length: k * n }, () => random.nextFloat() * 2 - 1);
  const graph = new GraphBuilder("one-matmul");
  graph.output(graph.op("MatMul", [graph.input("a", [m, k]), graph.float(w, [k, n])]), "y", [m, n]);
  const source = graph.encode();
  const exposed = exposeMatMulInputs(source, { minElements: 1 });
  assert.deepEqual(exposed.names, ["a"]);
  const maxima = new Float32Array(k);
  for (let i = 0; i < a.length; i++) maxima[i % k] = Math.max(maxima[i % k] as number, Math.abs(a[i] as number));
  const alpha = 0.8;
  const plain = quantizeOnnx(source, { minElements: 1 });
  const smoothed = quantizeOnnx(source, { minElements: 1, smoothing: { maxima: new Map([["a", maxima]]), alpha } });
  assert.equal(smoothed.summary.smoothed, 1);
  assert.equal(plain.summary.smoothed, 0);

  const decoded = onnxProto.onnx.ModelProto.decode(smoothed.bytes).graph!;
  const mul = decoded.node!.find((node) => node.opType === "Mul")!;
  assert.deepEqual(mul.input, ["a", "a_smooth_inverse"]);
  assert.equal(decoded.node!.find((node) => node.opType === "DynamicQuantizeMatMul")!.input![0], "a_smoothed");
  const inverse = floatValues(decoded.initializer!.find((t) => t.name === "a_smooth_inverse")!);
  for (let j = 0; j < k; j++) {
    let rowMax = 0;
    for (let c = 0; c < n; c++) rowMax = Math.max(rowMax, Math.abs(w[j * n + c] as number));
    const s = (maxima[j] as number) ** alpha / rowMax ** (1 - alpha);
    assert.ok(Math.abs((inverse[j] as number) - 1 / s) <= 1e-6 * (1 / s), `channel ${j}: ${inverse[j]} vs ${1 / s}`);
  }

  const exact = new Float32Array(m * n);
  for (let r = 0; r < m; r++) for (let c = 0; c < n; c++) for (let i = 0; i < k; i++) exact[r * n + c] = (exact[r * n + c] as number) + (a[r * k + i] as number) * (w[i * n + c] as number);
  const error = async (bytes: Uint8Array) => {
    const session = await createSession(bytes);
    const y = (await session.run({ a: new ort.Tensor("float32", a, [m, k]) })).y!.data as Float32Array;
    await session.release();
    return Math.sqrt(y.reduce((sum, v, i) => sum + (v - (exact[i] as number)) ** 2, 0) / y.length);
  };
  const [plainError, smoothedError] = [await error(plain.bytes), await error(smoothed.bytes)];
  assert.ok(smoothedError < plainError / 2, `RMS error ${smoothedError} smoothed vs ${plainError} plain`);
});

test("model soup: (1 − t)·a + t·b tensor by tensor; mismatched checkpoints are refused by name", () => {
  const a = new Map([["x", { shape: [2], data: Float32Array.from([1, 3]) }], ["y", { shape: [1], data: Float32Array.from([0]) }]]);
  const b = new Map([["x", { shape: [2], data: Float32Array.from([5, -1]) }], ["y", { shape: [1], data: Float32Array.from([8]) }]]);
  const mixed = interpolateTensors(a, b, 0.25);
  assert.deepEqual([...mixed.get("x")!.data], [2, 2]);
  assert.deepEqual([...mixed.get("y")!.data], [2]);
  assert.throws(() => interpolateTensors(a, new Map([["x", b.get("x")!]]), 0.5), /tensor y is in the first checkpoint only/);
  assert.throws(() => interpolateTensors(a, new Map([["x", { shape: [1, 2], data: Float32Array.from([0, 0]) }], ["y", b.get("y")!]]), 0.5), /tensor x: shape 2 vs 1×2/);
});

/** The weights as the int8 graph holds them: every matrix through quantize → dequantize. */
function dequantized(weights: BertWeights): BertWeights {
  const h = weights.shape.hidden;
  const f = weights.shape.intermediate;
  const roundTrip = (values: Float32Array, rows: number, cols: number, axis: 0 | 1) => {
    const { q, scales } = quantizeSymmetric(values, rows, cols, axis);
    return Float32Array.from(q, (v, i) => v * (scales[axis === 1 ? i % cols : Math.floor(i / cols)] as number));
  };
  return {
    ...weights,
    word: roundTrip(weights.word, weights.shape.vocab, h, 0),
    layers: weights.layers.map((l) => ({ ...l, wq: roundTrip(l.wq, h, h, 1), wk: roundTrip(l.wk, h, h, 1), wv: roundTrip(l.wv, h, h, 1), wo: roundTrip(l.wo, h, h, 1), w1: roundTrip(l.w1, h, f, 1), w2: roundTrip(l.w2, f, h, 1) })),
    classifier: weights.classifier && { ...weights.classifier, weight: roundTrip(weights.classifier.weight, h, weights.classifier.labels, 1) },
  };
}

test("a quantized tiny BERT equals the plain-loop transformer on dequantized weights (up to activation rounding); the folder loads unchanged", async () => {
  const weights = randomBertWeights({ vocab: 30522, hidden: 32, layers: 2, heads: 4, intermediate: 64, maxPositions: 64 }, 21, 3);
  const dir = writeModelDir(join(tempDir(), "q-fp32"), weights, tokenizerFiles, { id2label: { 0: "negative", 1: "neutral", 2: "positive" } });
  const out = join(tempDir(), "q-int8");
  const result = quantizeModel(dir, out, { minElements: 1 });
  assert.equal(result.matmuls, 2 * 6 + 1, "six weight MatMuls per layer and the classifier's");
  assert.equal(result.floatMatmuls, 2 * 2, "the attention products stay float");
  assert.equal(result.embeddings, 1, "the word table (the position table has 64 rows, under the threshold)");
  assert.ok(result.graphBytesAfter < result.graphBytesBefore / 3, `${result.graphBytesAfter} vs ${result.graphBytesBefore}`);
  const config = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
  assert.equal(config.quantization.matmuls, 13);
  assert.deepEqual(config.quantization.fused, { multi_head_attention: 2 }, "the file is written with self-attention fused");
  assert.equal(onnxProto.onnx.ModelProto.decode(readFileSync(join(out, "onnx", "model.onnx"))).graph!.node!.filter((node) => node.opType === "MultiHeadAttention").length, 2);
  assert.deepEqual(config.id2label, { 0: "negative", 1: "neutral", 2: "positive" });

  const model = await EncoderModel.load(out);
  const texts = ["A gorgeous, witty, seductive movie.", "The food was cold and the waiter rude.", "Meh"];
  const logits = (await runEncoder(model, texts)).values;
  await model.release();
  const reference = dequantized(weights);
  let worst = 0;
  let scale = 0;
  texts.forEach((text, row) => {
    const ids = model.tokenizer.encode(text, 64).ids;
    const expected = referenceForward(reference, ids);
    for (let c = 0; c < 3; c++) {
      worst = Math.max(worst, Math.abs((logits[row * 3 + c] as number) - (expected[c] as number)));
      scale = Math.max(scale, Math.abs(expected[c] as number));
    }
  });
  // Activations are rounded to 1/255 of their range before each product: a few percent at most.
  assert.ok(worst <= 0.03 * scale, `largest logit difference ${worst} (logits up to ${scale})`);

  assert.throws(() => quantizeModel(out, join(tempDir(), "q-again")), (error: unknown) => error instanceof UserError && /already quantized/.test(error.message));

  // Static activations, ranges calibrated on texts: as close to the reference, and recorded in config.json.
  const calibration = ["A gorgeous, witty, seductive movie.", "The food was cold and the waiter rude.", "Meh", "It is a film.", "Not what I expected, but I liked it a lot more than the first one.", "Never again."];
  const ranges = await calibrateActivationRanges(dir, calibration, { minElements: 1 });
  const staticOut = join(tempDir(), "q-static");
  const staticResult = quantizeModel(dir, staticOut, { minElements: 1, activations: "static", smoothing: { ...ranges, texts: calibration.length } });
  assert.equal(staticResult.activations, "static");
  assert.equal(staticResult.foldedBiases, 13, "every weight MatMul's bias");
  assert.match(JSON.parse(readFileSync(join(staticOut, "config.json"), "utf8")).quantization.activations, /one range per tensor fixed by calibration/);
  const staticModel = await EncoderModel.load(staticOut);
  const staticLogits = (await runEncoder(staticModel, texts)).values;
  await staticModel.release();
  let staticWorst = 0;
  texts.forEach((text, row) => {
    const expected = referenceForward(reference, model.tokenizer.encode(text, 64).ids);
    for (let c = 0; c < 3; c++) staticWorst = Math.max(staticWorst, Math.abs((staticLogits[row * 3 + c] as number) - (expected[c] as number)));
  });
  assert.ok(staticWorst <= 0.05 * scale, `static: largest logit difference ${staticWorst} (logits up to ${scale})`);
});

test("CLI: tandem quantize --check prints the quality guard; the int8 folder classifies; an int8 folder (the starter) is refused", () => {
  const input = join(SHARED, "data/sentiment-merged/test_all.csv");
  const weights = randomBertWeights({ vocab: 30522, hidden: 64, layers: 2, heads: 4, intermediate: 128, maxPositions: 128 }, 31, 3);
  const source = writeModelDir(join(tempDir(), "guard-fp32"), weights, tokenizerFiles, { id2label: { 0: "negative", 1: "neutral", 2: "positive" } });
  const out = join(tempDir(), "guard-int8");
  const run = runCli(["quantize", source, "-o", out, "--check", input, "--limit", "600", "-f", "json"]);
  assert.equal(run.status, 0, run.stderr);
  const report = JSON.parse(run.stdout);
  assert.equal(report.check.rows, 600);
  assert.equal(report.matmuls, 12, "six per layer; the 64 × 3 classifier is under --min-elements");
  // A fixed sample, a seeded model: agreement and the probability change are bounded.
  assert.ok(report.check.agreement >= 0.95, `label agreement ${report.check.agreement}`);
  assert.ok(report.check.mean_probability_change < 0.02, `mean probability change ${report.check.mean_probability_change}`);
  assert.ok(report.check.max_probability_change < 0.2, `largest probability change ${report.check.max_probability_change}`);
  assert.equal(typeof report.check.macro_f1.int8, "number");
  assert.ok(existsSync(join(out, "onnx", "model.onnx")) && !existsSync(join(out, "model.safetensors")));
  const sample = tempFile("quantize-sample.csv", "sentence,label\nA gorgeous and witty movie.,positive\nThe food was cold.,negative\n");
  const classified = runCli(["classify", "--strategy", "encoder", "--model", out, "-i", sample, "-o", join(tempDir(), "int8-pred.csv")]);
  assert.equal(classified.status, 0, classified.stderr);
  const text = runCli(["quantize", source, "-o", join(tempDir(), "guard-int8-text"), "--check", input, "--limit", "600", "--keep-float", "output"]);
  assert.match(text.stdout, /quality guard on 600 rows of .*: label agreement \d+\.\d+%, probability change max/);
  // Calibrated: every activation the quantized MatMuls read is smoothed (Q/K/V share one), and the folder says so.
  const calibratedOut = join(tempDir(), "guard-int8-calibrated");
  const calibrated = runCli(["quantize", source, "-o", calibratedOut, "--calibrate", input, "--calibrate-limit", "64", "--alpha", "0.8", "-f", "json"]);
  assert.equal(calibrated.status, 0, calibrated.stderr);
  const calibratedReport = JSON.parse(calibrated.stdout);
  assert.equal(calibratedReport.smoothed, 8, "per layer: Q/K/V input, attention output, FFN in, FFN out");
  assert.equal(calibratedReport.activations, "static", "calibrated: static activations by default");
  assert.equal(calibratedReport.fused_attention, 2);
  const dynamicOut = runCli(["quantize", source, "-o", join(tempDir(), "guard-int8-dynamic"), "--calibrate", input, "--calibrate-limit", "64", "--activations", "dynamic", "-f", "json"]);
  assert.equal(JSON.parse(dynamicOut.stdout).activations, "dynamic");
  assert.match(runCli(["quantize", source, "-o", join(tempDir(), "w"), "--activations", "static"]).stderr, /--activations static needs --calibrate FILE/);
  assert.deepEqual(JSON.parse(readFileSync(join(calibratedOut, "config.json"), "utf8")).quantization.activation_smoothing, { method: "SmoothQuant (per input channel, folded into the weights)", alpha: 0.8, tensors: 8, calibration_texts: 64 });
  assert.match(runCli(["quantize", source, "-o", join(tempDir(), "z"), "--calibrate", input, "--alpha", "2"]).stderr, /--alpha/);

  const starter = runCli(["quantize", "starter", "-o", join(tempDir(), "twice")]);
  assert.equal(starter.status, 2);
  assert.match(starter.stderr, /^tandem: error: .*config\.json: the model is already quantized/m);
  const missing = runCli(["quantize", join(tempDir(), "no-such-model"), "-o", join(tempDir(), "x")]);
  assert.notEqual(missing.status, 0);
  assert.equal(missing.stderr.trim().split("\n").length, 1, missing.stderr);
  const badPattern = runCli(["quantize", source, "-o", join(tempDir(), "y"), "--keep-float", "("]);
  assert.match(badPattern.stderr, /--keep-float: Invalid regular expression/);
});

test("token-length bucketing: batches hold texts of equal token counts even where character lengths disagree", async () => {
  const model = await EncoderModel.load(writeModelDir(join(tempDir(), "bucket-model"), randomBertWeights({ vocab: 30522, hidden: 16, layers: 1, heads: 2, intermediate: 32, maxPositions: 64 }, 5, 3), tokenizerFiles, {}));
  // Long words are one token each; short ones many: character order and token order differ.
  const texts = ["unbelievable", "a b c d e f", "wonderful", "x y z w v", "extraordinary", "p q r s t u v"];
  const lengths = texts.map((text) => model.tokenizer.encode(text, 64).ids.length);
  const result = await runEncoder(model, texts, { batchSize: 3 });
  const sorted = [...lengths].sort((x, y) => x - y);
  const best = 3 * (sorted[2] as number) + 3 * (sorted[5] as number);
  assert.equal(result.padded, best, `padded tokens with lengths ${lengths}`);
  const unsorted = await runEncoder(model, texts, { batchSize: 3, bucketing: false });
  assert.ok(unsorted.padded > best);
  for (let i = 0; i < result.values.length; i++) assert.ok(Math.abs((result.values[i] as number) - (unsorted.values[i] as number)) < 1e-4, "same outputs in the input order");
  await model.release();
});
