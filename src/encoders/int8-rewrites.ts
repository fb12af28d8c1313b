/**
 * Rewrites of an int8 graph as tandem opens it (the file is unchanged): weights widened to uint8 where the
 * CPU's U8S8 kernel saturates, and activations quantized per row, so that a text's answer does not depend
 * on its batch-mates. Pure: bytes in, bytes out.
 */
import onnxProto from "onnx-proto";
import { bytesOf, dimsOf, FLOAT, INT8, MS_DOMAIN, UINT8, type Node, type Tensor } from "./onnx-tensors.js";
import { floatValues } from "./quantize.js";

const { onnx } = onnxProto;

/**
 * The same int8 model with every DynamicQuantizeMatMul or MatMulIntegerToFloat weight stored as uint8 with zero point 128
 * (q + 128, zero point z + 128): identical arithmetic, but ONNX Runtime then runs its U8U8 kernel, which
 * widens to 16 bits before multiplying. Its U8S8 kernel on x86 CPUs without VNNI (AVX2, AVX-512 before
 * Cascade Lake) adds pairs of u8 × s8 products into a saturating int16 (VPMADDUBSW), so large products
 * come out wrong there (ONNX Runtime's quantization documentation names this); widened, every CPU gives
 * the answers the integer arithmetic defines. Pure: bytes in, bytes out.
 */
export function widenInt8Weights(bytes: Uint8Array): { bytes: Uint8Array; widened: number } {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph;
  if (!graph) throw new Error("the file holds no ONNX graph");
  const initializers = new Map<string, Tensor>((graph.initializer ?? []).map((t) => [t.name ?? "", t]));
  const done = new Set<string>();
  let widened = 0;
  const widen = (name: string | undefined, length: number | undefined): boolean => {
    const tensor = name === undefined ? undefined : initializers.get(name);
    if (!tensor || tensor.dataType !== INT8) return done.has(name ?? "");
    const signed = int8Values(tensor, length);
    const unsigned = Uint8Array.from(signed, (v) => v + 128);
    tensor.dataType = UINT8;
    tensor.rawData = unsigned;
    tensor.int32Data = [];
    done.add(name as string);
    return true;
  };
  for (const node of graph.node ?? []) {
    // The weight's zero point: DynamicQuantizeMatMul's fourth input, MatMulIntegerToFloat's sixth (static graphs).
    const zeroIndex = node.domain !== MS_DOMAIN ? -1 : node.opType === "DynamicQuantizeMatMul" ? 3 : node.opType === "MatMulIntegerToFloat" ? 5 : -1;
    if (zeroIndex < 0) continue;
    const weightName = (node.input ?? [])[1];
    const zeroName = (node.input ?? [])[zeroIndex];
    const weight = weightName === undefined ? undefined : initializers.get(weightName);
    if (!weight || (weight.dataType !== INT8 && !done.has(weightName as string))) continue;
    const columns = Number(dimsOf(weight).at(-1));
    if (zeroName === undefined || zeroName === "") {
      // No zero point given means 0: add one of 128 per column.
      const name = `${weightName}_zero_point_u8`;
      if (!initializers.has(name)) {
        const tensor = onnx.TensorProto.create({ name, dims: [columns], dataType: UINT8, rawData: new Uint8Array(columns).fill(128) });
        graph.initializer = [...(graph.initializer ?? []), tensor];
        initializers.set(name, tensor);
      }
      const inputs = [...(node.input ?? [])];
      while (inputs.length <= zeroIndex) inputs.push("");
      inputs[zeroIndex] = name;
      node.input = inputs;
    } else if (!widen(zeroName, undefined)) continue;
    if (widen(weightName, undefined)) widened += 1;
  }
  return { bytes: onnx.ModelProto.encode(model).finish(), widened };
}

/** The int8 values of an initializer (raw bytes or the int32_data field). */
function int8Values(tensor: Tensor, length: number | undefined): Int8Array {
  if (tensor.rawData && tensor.rawData.length > 0) return new Int8Array(tensor.rawData.buffer, tensor.rawData.byteOffset, tensor.rawData.byteLength).slice();
  const values = Int8Array.from(tensor.int32Data ?? []);
  return length === undefined ? values : values.slice(0, length);
}

/**
 * The same int8 model with its activations quantized per row (one scale per token) instead of per tensor:
 * every DynamicQuantizeMatMul becomes MatMulInteger on activations quantized symmetrically with the row's
 * own max |x| (uint8, zero point 128), rescaled by that max and the weight's column scales. ONNX Runtime's
 * DynamicQuantizeMatMul computes one scale per call, over every text of the batch and its padding, so a
 * text's answer depended on its batch-mates; per row, a token's product depends on that token alone, and
 * the integer product is exact, so a text gets the same answer in any batch, order or packing. Inputs
 * shared by several MatMuls (query, key, value) are quantized once. Pure: bytes in, bytes out.
 */
export function rowwiseActivations(bytes: Uint8Array): { bytes: Uint8Array; rewritten: number } {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph;
  if (!graph) throw new Error("the file holds no ONNX graph");
  const initializers = new Map<string, Tensor>((graph.initializer ?? []).map((t) => [t.name ?? "", t]));
  const opset = Number((model.opsetImport ?? []).find((o) => (o.domain ?? "") === "")?.version ?? 0);
  if (!(graph.node ?? []).some((n) => n.opType === "DynamicQuantizeMatMul" && n.domain === MS_DOMAIN)) return { bytes, rewritten: 0 };
  const added: Tensor[] = [];
  const constant = (name: string, dataType: number, dims: number[], raw: Uint8Array) => {
    if (!initializers.has(name)) {
      const tensor = onnx.TensorProto.create({ name, dims, dataType, rawData: raw });
      added.push(tensor);
      initializers.set(name, tensor);
    }
    return name;
  };
  const one = constant("tandem_rowwise_one", FLOAT, [], bytesOf(Float32Array.of(1)));
  const levels = constant("tandem_rowwise_127", FLOAT, [], bytesOf(Float32Array.of(127)));
  const tiny = constant("tandem_rowwise_tiny", FLOAT, [], bytesOf(Float32Array.of(1e-30)));
  const mid = constant("tandem_rowwise_zero_point", UINT8, [], Uint8Array.of(128));
  const reduceAxes = opset >= 18 ? constant("tandem_rowwise_last_axis", onnx.TensorProto.DataType.INT64, [1], new Uint8Array(BigInt64Array.of(-1n).buffer)) : "";
  const quantized = new Map<string, { q: string; max: string }>();
  const nodes: Node[] = [];
  let rewritten = 0;
  for (const node of graph.node ?? []) {
    if (node.opType !== "DynamicQuantizeMatMul" || node.domain !== MS_DOMAIN) {
      nodes.push(node);
      continue;
    }
    const [activation, weight, weightScale, weightZero, bias] = node.input ?? [];
    const out = (node.output ?? [])[0] as string;
    let row = quantized.get(activation as string);
    if (!row) {
      const base = `${activation}_row`;
      row = { q: `${base}_q`, max: `${base}_max` };
      const reduce = opset >= 18
        ? onnx.NodeProto.create({ opType: "ReduceMax", input: [`${base}_abs`, reduceAxes], output: [`${base}_absmax`], attribute: [{ name: "keepdims", type: onnx.AttributeProto.AttributeType.INT, i: 1 }] })
        : onnx.NodeProto.create({ opType: "ReduceMax", input: [`${base}_abs`], output: [`${base}_absmax`], attribute: [{ name: "axes", type: onnx.AttributeProto.AttributeType.INTS, ints: [-1] }, { name: "keepdims", type: onnx.AttributeProto.AttributeType.INT, i: 1 }] });
      nodes.push(
        onnx.NodeProto.create({ opType: "Abs", input: [activation], output: [`${base}_abs`] }),
        reduce,
        // An all-zero row keeps a finite scale.
        onnx.NodeProto.create({ opType: "Max", input: [`${base}_absmax`, tiny], output: [row.max] }),
        onnx.NodeProto.create({ opType: "Div", input: [levels, row.max], output: [`${base}_inverse_scale`] }),
        onnx.NodeProto.create({ opType: "Mul", input: [activation, `${base}_inverse_scale`], output: [`${base}_scaled`] }),
        // Round half to even, saturate, shift by the zero point 128: x / (max / 127) + 128 in [1, 255].
        onnx.NodeProto.create({ opType: "QuantizeLinear", input: [`${base}_scaled`, one, mid], output: [row.q] }),
      );
      quantized.set(activation as string, row);
    }
    // The weight's column scales / 127: the product times max(row) times this is the float product.
    const scaleTensor = initializers.get(weightScale as string);
    if (!scaleTensor) throw new Error(`${node.name}: the weight scale is not an initializer`);
    const columnScale = constant(`${weightScale}_per_level`, FLOAT, dimsOf(scaleTensor), bytesOf(Float32Array.from(floatValues(scaleTensor), (v) => v / 127)));
    const weightZeroPoint = weightZero === undefined || weightZero === "" ? constant(`${weight}_zero_point_default`, initializers.get(weight as string)?.dataType ?? INT8, [], new Uint8Array(1)) : weightZero;
    // ONNX Runtime's MatMulIntegerToFloat: the exact integer product, times the column scales (one float op), then the row's max.
    nodes.push(
      onnx.NodeProto.create({ opType: "MatMulIntegerToFloat", domain: MS_DOMAIN, input: [row.q, weight as string, one, columnScale, mid, weightZeroPoint], output: [`${out}_per_level`] }),
      onnx.NodeProto.create({ opType: "Mul", input: [`${out}_per_level`, row.max], output: bias ? [`${out}_unbiased`] : [out] }),
      ...(bias ? [onnx.NodeProto.create({ opType: "Add", input: [`${out}_unbiased`, bias], output: [out] })] : []),
    );
    rewritten++;
  }
  graph.node = nodes;
  // The weight scales the rewritten nodes no longer read go (ONNX Runtime would warn about each at load).
  const read = new Set(nodes.flatMap((node) => node.input ?? []));
  for (const output of graph.output ?? []) read.add(output.name ?? "");
  const subgraphs = nodes.some((node) => (node.attribute ?? []).some((a) => a.g || (a.graphs?.length ?? 0) > 0));
  graph.initializer = [...(graph.initializer ?? []), ...added].filter((t) => subgraphs || read.has(t.name ?? ""));
  return { bytes: onnx.ModelProto.encode(model).finish(), rewritten };
}
