// static per-tensor activation scales on the starter int8 graph: calibrate, rewrite, measure
import { readFileSync, writeFileSync, mkdirSync, cpSync } from "node:fs";
import onnxProto from "onnx-proto";
import * as ort from "onnxruntime-node";
import { cellText, readTable } from "./src/data/readers.js";
import { EncoderModel } from "./src/encoders/model.js";
import { classifyWithEncoder, planBatches } from "./src/encoders/inference.js";
import { portableGraph } from "./src/encoders/int8-kernel.js";
const { onnx } = onnxProto;
const pct = Number(process.env.PCT ?? "1");
const dir = "/tmp/exp/static";
mkdirSync(dir, { recursive: true }); cpSync("models/starter", dir, { recursive: true });
import { widenInt8Weights } from "./src/encoders/quantize.js";
const bytes = widenInt8Weights(readFileSync("models/starter/onnx/model.onnx")).bytes;
const m = onnx.ModelProto.decode(bytes);
const inputs = [...new Set(m.graph!.node!.filter((n) => n.opType === "DynamicQuantizeMatMul").map((n) => n.input![0]!))];
// calibrate: expose inputs
const exp = onnx.ModelProto.decode(bytes);
exp.graph!.output = [...exp.graph!.output!, ...inputs.map((name) => onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: 1 } } }))];
process.env.TANDEM_INT8_ACTIVATIONS = "tensor";
const session = await ort.InferenceSession.create(await portableGraph(onnx.ModelProto.encode(exp).finish()) as Uint8Array);
const model = await EncoderModel.load("models/starter");
const val = await readTable("../shared/data/sentiment-merged/val_all.csv");
const calTexts = val.records.filter((_, i) => i % 10 === 0).slice(0, 512).map((r) => cellText(r.values.sentence));
const tokens = calTexts.map((t) => model.tokenizer.encode(t, 128).ids);
const samples = new Map<string, number[]>();
for (const batch of planBatches(tokens.map((t) => t.length), 16, true)) {
  const { feeds } = model.feeds(batch.map((i) => tokens[i]!));
  const res = await session.run(feeds, inputs);
  // only non-padding rows: mask
  const mask = feeds.attention_mask!.data as BigInt64Array;
  for (const name of inputs) {
    const t = res[name]!; const v = t.data as Float32Array; const w = Number(t.dims.at(-1));
    const arr = samples.get(name) ?? [];
    for (let r = 0; r < v.length / w; r++) { if (mask[r] === 0n) continue; let mx = 0; for (let j = 0; j < w; j++) mx = Math.max(mx, Math.abs(v[r*w+j]!)); arr.push(mx); }
    samples.set(name, arr);
  }
}
const scaleOf = new Map<string, number>();
for (const [name, arr] of samples) { arr.sort((a, b) => a - b); const v = arr[Math.min(arr.length - 1, Math.floor(arr.length * pct))]!; scaleOf.set(name, v / 127); }
await session.release();
// rewrite
const g = m.graph!;
const init = (name: string, dataType: number, dims: number[], raw: Uint8Array) => g.initializer!.push(onnx.TensorProto.create({ name, dims, dataType, rawData: raw }));
init("zp128", 2, [], Uint8Array.of(128));
const nodes: onnxProto.onnx.INodeProto[] = [];
const done = new Set<string>();
for (const n of g.node!) {
  if (n.opType !== "DynamicQuantizeMatMul") { nodes.push(n); continue; }
  const [a, w, ws, wz] = n.input!;
  if (!done.has(a!)) { done.add(a!); init(`${a}_s`, 1, [], new Uint8Array(Float32Array.of(scaleOf.get(a!)!).buffer)); nodes.push(onnx.NodeProto.create({ opType: "QuantizeLinear", input: [a!, `${a}_s`, "zp128"], output: [`${a}_q`] })); }
  nodes.push(onnx.NodeProto.create({ opType: "MatMulIntegerToFloat", domain: "com.microsoft", input: [`${a}_q`, w!, `${a}_s`, ws!, "zp128", wz!], output: n.output }));
}
g.node = nodes;
writeFileSync(`${dir}/onnx/model.onnx`, onnx.ModelProto.encode(m).finish());
await model.release();
