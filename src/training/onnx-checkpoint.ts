/**
 * A trainable checkpoint from a model folder that ships only its ONNX graph (the bundled starter is int8
 * ONNX): the weights read back out of the graph under their PyTorch names, so that the PyTorch engine can
 * fine-tune from them. Named initializers (biases, LayerNorms, position embeddings, the head) keep their
 * names; a MatMul's weight is named after the bias its output is added to; int8 weights are dequantized
 * (q × column scale; embedding rows × row scale; DynamicQuantizeMatMul or static MatMulIntegerToFloat)
 * and activation smoothing is undone (row j ÷ s_j). The
 * int8 rounding stays in the weights — a warm start for fine-tuning, not a bit-exact copy.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import onnxProto from "onnx-proto";
import { UserError } from "../core/errors.js";
import { writeSafetensors } from "../encoders/safetensors.js";
import { floatValues } from "../encoders/quantize.js";

const { onnx } = onnxProto;
type Tensor = onnxProto.onnx.ITensorProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const UINT8 = onnx.TensorProto.DataType.UINT8;

const dims = (t: Tensor) => (t.dims ?? []).map(Number);

function int8Values(t: Tensor): Int8Array | Uint8Array {
  const raw = t.rawData!;
  return t.dataType === UINT8 ? new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength) : new Int8Array(raw.buffer, raw.byteOffset, raw.byteLength);
}

/** The PyTorch name of an ONNX initializer name (the exporter's wrapper adds "model."). */
const torchName = (name: string) => name.replace(/^model\./, "");

/** The weights of a tandem-exported BERT-family graph, by PyTorch name, float32. */
export function weightsFromOnnx(bytes: Uint8Array): Map<string, { shape: number[]; data: Float32Array }> {
  const graph = onnx.ModelProto.decode(bytes).graph;
  if (!graph) throw new Error("the file holds no ONNX graph");
  const init = new Map((graph.initializer ?? []).map((t) => [t.name ?? "", t]));
  const consumers = new Map<string, onnxProto.onnx.INodeProto[]>();
  for (const node of graph.node ?? []) for (const input of node.input ?? []) consumers.set(input, [...(consumers.get(input) ?? []), node]);
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  // Named float tensors keep their names (biases, LayerNorms, position and token-type embeddings, the head).
  for (const [name, t] of init) {
    if (!name.startsWith("model.") || t.dataType !== FLOAT || name.endsWith("_row_scale")) continue;
    out.set(torchName(name), { shape: dims(t), data: floatValues(t) });
  }
  // An int8 embedding table: rows × their scales.
  for (const [name, t] of init) {
    const match = /^(model\..*)_int8$/.exec(name);
    const scales = match ? init.get(`${match[1]}_row_scale`) : undefined;
    if (!match || !scales) continue;
    const [rows, cols] = dims(t) as [number, number];
    const q = int8Values(t);
    const s = floatValues(scales);
    const data = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) data[r * cols + c] = (q[r * cols + c] as number) * (s[r] as number);
    out.set(torchName(match[1]!), { shape: [rows, cols], data });
  }
  const producer = new Map<string, onnxProto.onnx.INodeProto>();
  for (const node of graph.node ?? []) for (const output of node.output ?? []) producer.set(output, node);
  // MatMul weights: [in, out] in the graph, [out, in] in PyTorch, named after the bias added to the product
  // (or folded into a static MatMulIntegerToFloat).
  for (const node of graph.node ?? []) {
    const isStatic = node.opType === "MatMulIntegerToFloat";
    const quantized = isStatic || node.opType === "DynamicQuantizeMatMul";
    if (!quantized && node.opType !== "MatMul") continue;
    const inputs = node.input ?? [];
    const [activation, weightName] = inputs;
    const [scaleName, zeroName] = isStatic ? [inputs[3], inputs[5]] : [inputs[2], inputs[3]];
    const weight = init.get(weightName ?? "");
    if (!weight || dims(weight).length !== 2) continue;
    const add = (consumers.get(node.output?.[0] ?? "") ?? []).find((n) => n.opType === "Add");
    const folded = isStatic && inputs[6]?.endsWith(".bias") && init.has(inputs[6]) ? inputs[6] : undefined;
    const bias = folded ?? add?.input?.find((input) => input.endsWith(".bias") && init.has(input));
    if (!bias) continue;
    const [k, n] = dims(weight) as [number, number];
    let values: Float32Array;
    if (quantized) {
      const q = int8Values(weight);
      const scale = floatValues(init.get(scaleName ?? "")!);
      const zero = zeroName ? init.get(zeroName) : undefined;
      const zeros = zero ? Array.from(int8Values(zero)) : undefined;
      values = new Float32Array(k * n);
      for (let r = 0; r < k; r++) for (let c = 0; c < n; c++) values[r * n + c] = ((q[r * n + c] as number) - (zeros?.[c] ?? 0)) * (scale[c] as number);
    } else values = floatValues(weight);
    // Activation smoothing multiplied row j by s_j (the Mul before it divides the input by s_j): undone.
    // Static: the Mul before QuantizeLinear multiplies by 1 / (s_j × scale), so s_j⁻¹ is that times the scale.
    let inv: Float32Array | undefined;
    if (isStatic) {
      const quantize = producer.get(activation ?? "");
      const scaling = quantize?.opType === "QuantizeLinear" ? producer.get(quantize.input?.[0] ?? "") : undefined;
      const perLevel = scaling?.opType === "Mul" ? init.get(scaling.input?.[1] ?? "") : undefined;
      const activationScale = floatValues(init.get(inputs[2] ?? "")!)[0] as number;
      if (perLevel && dims(perLevel).length === 1) inv = Float32Array.from(floatValues(perLevel), (v) => v * activationScale);
    } else {
      const inverse = activation?.endsWith("_smoothed") ? init.get(activation.replace(/_smoothed$/, "_smooth_inverse")) : undefined;
      if (inverse) inv = floatValues(inverse);
    }
    if (inv) for (let r = 0; r < k; r++) for (let c = 0; c < n; c++) values[r * n + c] = (values[r * n + c] as number) * (inv[r] as number);
    const transposed = new Float32Array(k * n);
    for (let r = 0; r < k; r++) for (let c = 0; c < n; c++) transposed[c * k + r] = values[r * n + c] as number;
    out.set(torchName(bias).replace(/\.bias$/, ".weight"), { shape: [n, k], data: transposed });
  }
  return out;
}

const TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"];

/**
 * A folder the PyTorch engine can fine-tune from (config.json without `quantization`, model.safetensors,
 * the tokenizer) for a model folder that has only its ONNX graph; written under a temporary name and
 * renamed. Returns `dir` itself when it already has model.safetensors.
 */
export function trainableCheckpoint(dir: string, out: string): string {
  if (existsSync(join(dir, "model.safetensors"))) return dir;
  if (existsSync(join(out, "model.safetensors"))) return out;
  const graph = [join(dir, "onnx", "model.onnx"), join(dir, "model.onnx")].find(existsSync);
  if (!graph) throw new UserError("neither model.safetensors nor an ONNX graph to fine-tune from", { file: dir });
  const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
  const weights = weightsFromOnnx(readFileSync(graph));
  if (![...weights.keys()].some((k) => k.endsWith("word_embeddings.weight"))) throw new UserError("cannot read the weights back out of this graph (not a BERT-family graph exported by tandem)", { file: graph });
  const partial = join(dirname(out), `.${basename(out)}.partial-${process.pid}`);
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  const { quantization: _quantization, ...plain } = config;
  writeFileSync(join(partial, "config.json"), JSON.stringify({ ...plain, reconstructed_from: "the ONNX graph (int8 weights dequantized): a warm start for fine-tuning" }, null, 2) + "\n");
  writeSafetensors(join(partial, "model.safetensors"), weights);
  for (const file of TOKENIZER_FILES) if (existsSync(join(dir, file))) copyFileSync(join(dir, file), join(partial, file));
  rmSync(out, { recursive: true, force: true });
  mkdirSync(dirname(out), { recursive: true });
  renameSync(partial, out);
  return out;
}
