// Self-attention fused into ONNX Runtime's MultiHeadAttention (src/encoders/fusions.ts): the same answers
// as the unfused graph and as a plain-loop transformer, padding included; graphs that do not match are
// left byte for byte as they were.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import onnxProto from "onnx-proto";
import { fuseEncoderGraph, isFused } from "../src/encoders/fusions.js";
import { GraphBuilder } from "../src/encoders/onnx-graph.js";
import { bertGraph, randomBertWeights, referenceForward } from "./fixtures/bert-graph.js";

const ops = (bytes: Uint8Array) => onnxProto.onnx.ModelProto.decode(bytes).graph!.node!.map((node) => node.opType as string);

test("fused self-attention: one MultiHeadAttention per layer, the same logits as the unfused graph and the plain-loop transformer, padded rows included", async () => {
  const weights = randomBertWeights({ vocab: 200, hidden: 32, layers: 3, heads: 4, intermediate: 64, maxPositions: 32 }, 7, 3);
  const plain = bertGraph(weights);
  const { bytes, summary } = fuseEncoderGraph(plain);
  assert.equal(summary.attention, 3);
  const fusedOps = ops(bytes);
  assert.equal(fusedOps.filter((op) => op === "MultiHeadAttention").length, 3);
  assert.ok(!fusedOps.includes("Softmax") && !fusedOps.includes("Transpose"), fusedOps.join(" "));
  assert.ok(fusedOps.length < ops(plain).length - 3 * 10, `${fusedOps.length} nodes fused, ${ops(plain).length} before`);
  assert.ok(isFused(bytes) && !isFused(plain));

  // Two texts of 5 and 9 tokens in one padded batch.
  const rows = [[1, 17, 42, 99, 2], [1, 5, 6, 7, 8, 9, 10, 11, 2]];
  const sequence = 9;
  const ids = new BigInt64Array(rows.length * sequence);
  const mask = new BigInt64Array(rows.length * sequence);
  rows.forEach((row, r) => row.forEach((id, s) => ((ids[r * sequence + s] = BigInt(id)), (mask[r * sequence + s] = 1n))));
  const feeds = { input_ids: new ort.Tensor("int64", ids, [rows.length, sequence]), attention_mask: new ort.Tensor("int64", mask, [rows.length, sequence]) };
  const logits = async (graph: Uint8Array) => {
    const session = await ort.InferenceSession.create(graph);
    const out = (await session.run(feeds)).logits!.data as Float32Array;
    await session.release();
    return out;
  };
  const [before, after] = [await logits(plain), await logits(bytes)];
  rows.forEach((row, r) => {
    const expected = referenceForward(weights, row);
    for (let c = 0; c < 3; c++) {
      assert.ok(Math.abs((after[r * 3 + c] as number) - (before[r * 3 + c] as number)) < 1e-5, `row ${r} logit ${c}: fused ${after[r * 3 + c]}, unfused ${before[r * 3 + c]}`);
      assert.ok(Math.abs((after[r * 3 + c] as number) - (expected[c] as number)) < 1e-4, `row ${r} logit ${c}: fused ${after[r * 3 + c]}, reference ${expected[c]}`);
    }
  });
});

test("a graph whose attention does not match the pattern is returned unchanged (no mask added before softmax)", () => {
  const g = new GraphBuilder("unmasked");
  const x = g.input("x", ["batch", 4, 8, 8]);
  g.output(g.op("MatMul", [g.op("Softmax", [g.op("MatMul", [x, x])], { axis: -1 }), x]), "y", ["batch", 4, 8, 8]);
  const bytes = g.encode();
  const result = fuseEncoderGraph(bytes);
  assert.equal(result.summary.attention, 0);
  assert.equal(result.bytes, bytes);
});

test("a graph keeping weights in external data files is left unfused (its weights are found relative to the file, which bytes do not carry)", () => {
  const weights = randomBertWeights({ vocab: 50, hidden: 8, layers: 1, heads: 2, intermediate: 16, maxPositions: 16 }, 3, 3);
  const model = onnxProto.onnx.ModelProto.decode(bertGraph(weights));
  const first = model.graph!.initializer![0]!;
  first.externalData = [onnxProto.onnx.StringStringEntryProto.create({ key: "location", value: "model.onnx_data" })];
  first.dataLocation = onnxProto.onnx.TensorProto.DataLocation.EXTERNAL;
  const bytes = onnxProto.onnx.ModelProto.encode(model).finish();
  assert.equal(fuseEncoderGraph(bytes).summary.attention, 0);
  assert.equal(fuseEncoderGraph(bertGraph(weights)).summary.attention, 1, "the same graph with its weights inside fuses");
});
