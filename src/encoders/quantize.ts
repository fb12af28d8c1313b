/**
 * int8 quantization of an encoder's ONNX graph, in TypeScript on onnx-proto's message types.
 *
 * - Every MatMul whose second input is a 2-D float weight gets int8 weights, symmetric, one scale per
 *   output column, and its integer product runs in ONNX Runtime's VNNI / AVX2 kernels. Its activations
 *   are quantized to uint8 either at run time (dynamic: `com.microsoft.DynamicQuantizeMatMul`, per
 *   tensor, asymmetric) or with a range fixed by calibration (static: QuantizeLinear then
 *   `com.microsoft.MatMulIntegerToFloat`, the bias folded in).
 * - Large embedding tables (Gather of a 2-D float weight by token ids) are stored as int8 with one scale
 *   per row, and dequantized after the lookup (Gather → Cast → Mul by the gathered row scales): the
 *   table is most of a small model's file, and its lookups cost nothing to dequantize.
 * Everything else (LayerNorm, softmax, the head's Gemm) stays float. Pure computation: bytes in, bytes out.
 */
import onnxProto from "onnx-proto";
import { bytesOf, dimsOf, FLOAT, INT8, MS_DOMAIN, UINT8, type Node, type Tensor } from "./onnx-tensors.js";

const { onnx } = onnxProto;
const STATIC_ONE = "tandem_static_one";
/**
 * Migration strength α of activation smoothing. 0.5 is SmoothQuant's default for large decoders; with one
 * activation scale per tensor and a small BERT, more of the range belongs in the weights: on the starter,
 * label agreement with fp32 over the merged validation split rose from 97.6% (no smoothing) through 98.4%
 * (α 0.75) to 98.8% (α 0.85–0.9), and fell again at 0.95.
 */
export const DEFAULT_SMOOTHING_ALPHA = 0.85;

export interface QuantizeOptions {
  /** Weights with fewer elements stay float (default 4096: the quantization would cost more than it saves). */
  minElements?: number;
  /** Quantize embedding tables with at least this many rows (default 1000; 0: leave embeddings float). */
  embeddingMinRows?: number;
  /** MatMuls whose node name matches stay float (e.g. /output\/dense/ for BERT's FFN down-projection, whose inputs have outliers). */
  keepFloat?: RegExp;
  /**
   * Activation smoothing (SmoothQuant, Xiao et al. 2023): the largest |x| of each input channel of the
   * quantized MatMuls, by input tensor name, measured on calibration texts (`activationMaxima`). Channel j
   * of the input is divided by s_j = a_j^α / w_j^(1−α) (a Mul before the MatMul) and row j of the weight
   * multiplied by it: the product is unchanged, but outlier channels no longer stretch the one
   * per-tensor activation scale, at the price of a slightly wider weight range.
   */
  smoothing?: {
    maxima: ReadonlyMap<string, Float32Array>;
    /** Each channel's smallest and largest signed value: static activations then get an asymmetric range (a GELU's output is mostly positive). */
    lower?: ReadonlyMap<string, Float32Array>;
    upper?: ReadonlyMap<string, Float32Array>;
    alpha?: number;
    /** How many calibration texts measured the maxima (recorded only). */
    texts?: number;
  };
  /**
   * How activations are quantized. "dynamic" (the default without calibration): ONNX Runtime's
   * DynamicQuantizeMatMul, one range per call over the whole batch. "static": one range per tensor fixed
   * from the calibration ranges (`smoothing` must be given), so the graph runs one Mul (the smoothing and
   * the scale), QuantizeLinear and MatMulIntegerToFloat (the bias folded in): a text's answer cannot depend
   * on its batch-mates, and no range is computed at run time.
   */
  activations?: "dynamic" | "static";
}

export interface QuantizeSummary {
  /** MatMuls now DynamicQuantizeMatMul. */
  matmuls: number;
  /** MatMuls left float (activation × activation products, or small weights). */
  floatMatmuls: number;
  /** Embedding tables stored as int8. */
  embeddings: number;
  /** Activation tensors smoothed before their quantized MatMuls. */
  smoothed: number;
  /** How activations are quantized (see QuantizeOptions.activations). */
  activations: "dynamic" | "static";
  /** Bias additions folded into the quantized MatMuls (static activations). */
  foldedBiases: number;
  /** Weight bytes before and after (initializers only). */
  weightBytesBefore: number;
  weightBytesAfter: number;
}

/** The float values of an initializer (raw little-endian bytes or the float_data field). Structurally typed, so the declarations need no onnx-proto types. */
export function floatValues(tensor: { rawData?: Uint8Array | null; floatData?: number[] | null }): Float32Array {
  if (tensor.rawData && tensor.rawData.length > 0) {
    const raw = tensor.rawData;
    // Copy: the view into the protobuf buffer is not necessarily 4-byte aligned.
    return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  }
  return Float32Array.from(tensor.floatData ?? []);
}


function tensorBytes(tensor: Tensor): number {
  if (tensor.rawData && tensor.rawData.length > 0) return tensor.rawData.length;
  return (tensor.floatData?.length ?? 0) * 4 + (tensor.int64Data?.length ?? 0) * 8 + (tensor.int32Data?.length ?? 0) * 4;
}

/**
 * Symmetric int8 quantization of a [rows, cols] matrix, one scale per column (axis 1) or per row (axis 0):
 * scale = max |w| / 127 over the group, q = round(w / scale) in [−127, 127].
 */
export function quantizeSymmetric(values: Float32Array, rows: number, cols: number, axis: 0 | 1): { q: Int8Array; scales: Float32Array } {
  const groups = axis === 1 ? cols : rows;
  const scales = new Float32Array(groups);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const g = axis === 1 ? c : r;
      const magnitude = Math.abs(values[r * cols + c] as number);
      if (magnitude > (scales[g] as number)) scales[g] = magnitude;
    }
  }
  for (let g = 0; g < groups; g++) scales[g] = (scales[g] as number) > 0 ? (scales[g] as number) / 127 : 1;
  const q = new Int8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const scale = scales[axis === 1 ? c : r] as number;
      q[r * cols + c] = Math.max(-127, Math.min(127, Math.round((values[r * cols + c] as number) / scale)));
    }
  }
  return { q, scales };
}


function floatMatrix(initializers: ReadonlyMap<string, Tensor>, name: string | undefined): Tensor | undefined {
  const tensor = name === undefined ? undefined : initializers.get(name);
  return tensor !== undefined && tensor.dataType === FLOAT && dimsOf(tensor).length === 2 ? tensor : undefined;
}

/** The weight of a MatMul that quantization converts: a 2-D float initializer, large enough, not kept float. */
function quantizableWeight(node: Node, initializers: ReadonlyMap<string, Tensor>, minElements: number, keepFloat: RegExp | undefined): Tensor | undefined {
  if (node.opType !== "MatMul" || (node.domain ?? "") !== "") return undefined;
  const weight = floatMatrix(initializers, (node.input ?? [])[1]);
  if (!weight) return undefined;
  const [k, n] = dimsOf(weight) as [number, number];
  return k * n < minElements || keepFloat?.test(node.name ?? "") ? undefined : weight;
}

/** Quantizes a serialized ONNX model; returns the new bytes and what changed. */
export function quantizeOnnx(bytes: Uint8Array, options: QuantizeOptions = {}): { bytes: Uint8Array; summary: QuantizeSummary } {
  const minElements = options.minElements ?? 4096;
  const embeddingMinRows = options.embeddingMinRows ?? 1000;
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph;
  if (!graph) throw new Error("the file holds no ONNX graph");
  if ((model.opsetImport ?? []).some((o) => (o.domain ?? "") === MS_DOMAIN) && graph.node?.some((n) => n.opType === "DynamicQuantizeMatMul" || n.opType === "MatMulIntegerToFloat")) {
    throw new Error("the graph is already quantized (it has DynamicQuantizeMatMul or MatMulIntegerToFloat operators)");
  }
  const initializers = new Map<string, Tensor>((graph.initializer ?? []).map((t) => [t.name ?? "", t]));
  if ([...initializers.values()].some((t) => (t.externalData?.length ?? 0) > 0)) {
    throw new Error("the graph keeps its weights in external data files, which tandem quantize does not read yet");
  }
  const weightBytesBefore = [...initializers.values()].reduce((sum, t) => sum + tensorBytes(t), 0);
  const uses = new Map<string, number>();
  for (const node of graph.node ?? []) for (const input of node.input ?? []) uses.set(input, (uses.get(input) ?? 0) + 1);

  const added: Tensor[] = [];
  const removed = new Set<string>();
  const converted = new Map<string, number>();
  const quantizedMatrices = new Map<string, { weight: string; scale: string; zeroPoint: string }>();
  const quantizedTables = new Map<string, { weight: string; scales: string }>();
  const nodes: Node[] = [];
  let matmuls = 0;
  let floatMatmuls = 0;
  let embeddings = 0;
  const isFloatMatrix = (name: string | undefined) => floatMatrix(initializers, name);
  const count = (name: string) => converted.set(name, (converted.get(name) ?? 0) + 1);

  const quantizable = (node: Node) => quantizableWeight(node, initializers, minElements, options.keepFloat);
  const smoothing = planSmoothing(graph.node ?? [], quantizable, options.smoothing);
  const smoothedInputs = new Set<string>();
  const staticActivations = options.activations === "static";
  if (staticActivations && !options.smoothing) throw new Error("static activation quantization needs calibration maxima (the smoothing option)");
  // Static: one QuantizeLinear per activation tensor (shared by query, key and value), and the bias Add
  // after a MatMul folded into it when the MatMul's product has no other reader.
  const quantizedInputs = new Map<string, { q: string; scale: string; zeroPoint: string }>();
  const consumers = new Map<string, Node[]>();
  for (const node of graph.node ?? []) for (const input of node.input ?? []) consumers.set(input, [...(consumers.get(input) ?? []), node]);
  const foldedAdds = new Set<Node>();
  let foldedBiases = 0;

  /** The weight as int8 with column scales (row j times the smoothing factor s_j first), once per weight and smoothed input. */
  const quantizedWeight = (weight: Tensor, name: string, input: string, scales: Float32Array | undefined, k: number, n: number) => {
    const key = scales ? `${name}|${input}` : name;
    let q = quantizedMatrices.get(key);
    if (!q) {
      const values = floatValues(weight);
      if (scales) for (let r = 0; r < k; r++) for (let c = 0; c < n; c++) values[r * n + c] = (values[r * n + c] as number) * (scales[r] as number);
      const { q: quantized, scales: columnScales } = quantizeSymmetric(values, k, n, 1);
      const base = scales ? `${name}_smoothed_${quantizedMatrices.size}` : name;
      q = { weight: `${base}_int8`, scale: `${base}_scale`, zeroPoint: `${base}_zero_point` };
      added.push(
        onnx.TensorProto.create({ name: q.weight, dims: [k, n], dataType: INT8, rawData: bytesOf(quantized) }),
        onnx.TensorProto.create({ name: q.scale, dims: [n], dataType: FLOAT, rawData: bytesOf(columnScales) }),
        onnx.TensorProto.create({ name: q.zeroPoint, dims: [n], dataType: INT8, rawData: new Uint8Array(n) }),
      );
      quantizedMatrices.set(key, q);
    }
    return q;
  };
  /**
   * The activation quantized with its calibrated range: x_j / s_j over the calibration texts (s_j the
   * smoothing factor of x's channel, 1 without smoothing) spans [lo, hi] (asymmetric, 256 levels, when the
   * signed ranges are known; else ±max|x_j / s_j|, zero point 128). x is multiplied by 1 / (s_j × scale)
   * and quantized with scale 1 and the range's zero point. A value past the calibrated range saturates.
   */
  const staticInput = (activation: string, scales: Float32Array | undefined, k: number) => {
    let input = quantizedInputs.get(activation);
    if (input) return input;
    const maxima = options.smoothing?.maxima.get(activation);
    if (!maxima || maxima.length !== k) throw new Error(`no calibration maxima of ${activation} (${k} channels) for its static range`);
    const lower = options.smoothing?.lower?.get(activation);
    const upper = options.smoothing?.upper?.get(activation);
    const factor = (j: number) => (scales ? (scales[j] as number) : 1);
    let scale: number;
    let zeroPoint: number;
    if (lower && upper && lower.length === k && upper.length === k) {
      let lo = 0;
      let hi = 0;
      for (let j = 0; j < k; j++) {
        if (Number.isFinite(lower[j])) lo = Math.min(lo, (lower[j] as number) / factor(j));
        if (Number.isFinite(upper[j])) hi = Math.max(hi, (upper[j] as number) / factor(j));
      }
      scale = Math.max(hi - lo, 1e-30) / 255;
      zeroPoint = Math.min(255, Math.max(0, Math.round(-lo / scale)));
    } else {
      let range = 0;
      for (let j = 0; j < k; j++) range = Math.max(range, (maxima[j] as number) / factor(j));
      scale = Math.max(range, 1e-30) / 127;
      zeroPoint = 128;
    }
    input = { q: `${activation}_static_u8`, scale: `${activation}_static_scale`, zeroPoint: `${activation}_static_zero_point` };
    added.push(
      onnx.TensorProto.create({ name: input.scale, dims: [], dataType: FLOAT, rawData: bytesOf(Float32Array.of(scale)) }),
      onnx.TensorProto.create({ name: input.zeroPoint, dims: [], dataType: UINT8, rawData: Uint8Array.of(zeroPoint) }),
    );
    // One Mul by 1 / (s_j × scale) and a QuantizeLinear of scale 1: ONNX Runtime's per-tensor
    // QuantizeLinear is vectorized, its per-channel form a scalar loop (ten times slower than the MatMul).
    added.push(onnx.TensorProto.create({ name: `${activation}_static_inverse`, dims: scales ? [k] : [], dataType: FLOAT, rawData: bytesOf(scales ? Float32Array.from(scales, (s) => 1 / (s * scale)) : Float32Array.of(1 / scale)) }));
    nodes.push(
      onnx.NodeProto.create({ name: `${activation}_smooth`, opType: "Mul", input: [activation, `${activation}_static_inverse`], output: [`${activation}_static_levels`] }),
      onnx.NodeProto.create({ name: `${activation}_quantize`, opType: "QuantizeLinear", input: [`${activation}_static_levels`, STATIC_ONE, input.zeroPoint], output: [input.q] }),
    );
    if (scales) smoothedInputs.add(activation);
    quantizedInputs.set(activation, input);
    return input;
  };
  /** The Add of a 1-D bias of n floats that alone reads this MatMul's product, if any. */
  const foldableBias = (node: Node, n: number) => {
    const product = (node.output ?? [])[0] as string;
    const readers = consumers.get(product) ?? [];
    if (readers.length !== 1 || (graph.output ?? []).some((o) => o.name === product)) return undefined;
    const add = readers[0] as Node;
    if (add.opType !== "Add" || (add.domain ?? "") !== "" || (add.input ?? []).length !== 2) return undefined;
    const bias = (add.input ?? []).find((name) => name !== product);
    const tensor = bias === undefined ? undefined : initializers.get(bias);
    if (!tensor || tensor.dataType !== FLOAT || dimsOf(tensor).length !== 1 || dimsOf(tensor)[0] !== n) return undefined;
    return { add, bias: bias as string };
  };
  if (staticActivations) {
    added.push(onnx.TensorProto.create({ name: STATIC_ONE, dims: [], dataType: FLOAT, rawData: bytesOf(Float32Array.of(1)) }));
  }

  for (const node of graph.node ?? []) {
    const inputs = node.input ?? [];
    if (foldedAdds.has(node)) continue;
    if (node.opType === "MatMul" && (node.domain ?? "") === "") {
      const weight = quantizable(node);
      if (!weight) {
        floatMatmuls++;
        nodes.push(node);
        continue;
      }
      const [k, n] = dimsOf(weight) as [number, number];
      const name = inputs[1] as string;
      let activation = inputs[0] as string;
      const scales = smoothing.get(activation);
      if (staticActivations) {
        const input = staticInput(activation, scales, k);
        const q = quantizedWeight(weight, name, activation, scales, k, n);
        count(name);
        matmuls++;
        const bias = foldableBias(node, n);
        if (bias) {
          foldedAdds.add(bias.add);
          foldedBiases++;
        }
        nodes.push(onnx.NodeProto.create({ name: node.name ? `${node.name}_quant` : undefined, opType: "MatMulIntegerToFloat", domain: MS_DOMAIN, input: [input.q, q.weight, input.scale, q.scale, input.zeroPoint, q.zeroPoint, ...(bias ? [bias.bias] : [])], output: bias ? bias.add.output : node.output }));
        continue;
      }
      if (scales) {
        // One Mul per smoothed tensor, placed before its first consumer (the tensor exists by then).
        if (!smoothedInputs.has(activation)) {
          smoothedInputs.add(activation);
          const inverse = Float32Array.from(scales, (v) => 1 / v);
          added.push(onnx.TensorProto.create({ name: `${activation}_smooth_inverse`, dims: [k], dataType: FLOAT, rawData: bytesOf(inverse) }));
          nodes.push(onnx.NodeProto.create({ name: `${activation}_smooth`, opType: "Mul", input: [activation, `${activation}_smooth_inverse`], output: [`${activation}_smoothed`] }));
        }
        activation = `${activation}_smoothed`;
      }
      const q = quantizedWeight(weight, name, inputs[0] as string, scales, k, n);
      count(name);
      matmuls++;
      nodes.push(onnx.NodeProto.create({ name: node.name ? `${node.name}_quant` : undefined, opType: "DynamicQuantizeMatMul", domain: MS_DOMAIN, input: [activation, q.weight, q.scale, q.zeroPoint], output: node.output }));
      continue;
    }
    if (node.opType === "Gather" && (node.domain ?? "") === "" && embeddingMinRows > 0) {
      const table = isFloatMatrix(inputs[0]);
      const axis = Number(node.attribute?.find((a) => a.name === "axis")?.i ?? 0);
      const [rows, cols] = table ? dimsOf(table) : [0, 0];
      if (table && axis === 0 && (rows as number) >= embeddingMinRows && (rows as number) * (cols as number) >= minElements) {
        const name = inputs[0] as string;
        let q = quantizedTables.get(name);
        if (!q) {
          const { q: values, scales } = quantizeSymmetric(floatValues(table), rows as number, cols as number, 0);
          q = { weight: `${name}_int8`, scales: `${name}_row_scale` };
          added.push(
            onnx.TensorProto.create({ name: q.weight, dims: [rows as number, cols as number], dataType: INT8, rawData: bytesOf(values) }),
            onnx.TensorProto.create({ name: q.scales, dims: [rows as number, 1], dataType: FLOAT, rawData: bytesOf(scales) }),
          );
          quantizedTables.set(name, q);
        }
        count(name);
        embeddings++;
        const out = (node.output ?? [])[0] as string;
        const ids = inputs[1] as string;
        nodes.push(
          onnx.NodeProto.create({ opType: "Gather", input: [q.weight, ids], output: [`${out}_int8`] }),
          onnx.NodeProto.create({ opType: "Cast", input: [`${out}_int8`], output: [`${out}_float`], attribute: [{ name: "to", type: onnx.AttributeProto.AttributeType.INT, i: FLOAT }] }),
          onnx.NodeProto.create({ opType: "Gather", input: [q.scales, ids], output: [`${out}_scale`] }),
          onnx.NodeProto.create({ opType: "Mul", input: [`${out}_float`, `${out}_scale`], output: [out] }),
        );
        continue;
      }
    }
    nodes.push(node);
  }
  // A float weight is dropped only when every one of its uses was converted.
  for (const [name, n] of converted) if (n === uses.get(name) && !(graph.output ?? []).some((o) => o.name === name)) removed.add(name);
  graph.node = nodes;
  graph.initializer = [...(graph.initializer ?? []).filter((t) => !removed.has(t.name ?? "")), ...added];
  // Graph inputs may list initializers (older exporters): drop the removed ones there too.
  graph.input = (graph.input ?? []).filter((i) => !removed.has(i.name ?? ""));
  if (!(model.opsetImport ?? []).some((o) => o.domain === MS_DOMAIN)) model.opsetImport = [...(model.opsetImport ?? []), { domain: MS_DOMAIN, version: 1 }];
  const weightBytesAfter = graph.initializer.reduce((sum, t) => sum + tensorBytes(t), 0);
  return { bytes: onnx.ModelProto.encode(model).finish(), summary: { matmuls, floatMatmuls, embeddings, smoothed: smoothedInputs.size, activations: staticActivations ? "static" : "dynamic", foldedBiases, weightBytesBefore, weightBytesAfter } };
}

/**
 * The smoothing factor of each input channel, by activation tensor: s_j = a_j^α / w_j^(1−α), where a_j
 * is the channel's calibrated max |x| and w_j the largest |weight| in row j over every quantized MatMul
 * that reads the tensor (they share one smoothed copy). Channels never seen active keep s = 1.
 */
function planSmoothing(nodes: readonly Node[], quantizable: (node: Node) => Tensor | undefined, smoothing: QuantizeOptions["smoothing"]): Map<string, Float32Array> {
  const plan = new Map<string, Float32Array>();
  if (!smoothing) return plan;
  const alpha = smoothing.alpha ?? DEFAULT_SMOOTHING_ALPHA;
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`the smoothing strength must be between 0 and 1, not ${alpha}`);
  const weightMaxima = new Map<string, Float32Array>();
  for (const node of nodes) {
    const weight = quantizable(node);
    const activation = (node.input ?? [])[0];
    if (!weight || activation === undefined || !smoothing.maxima.has(activation)) continue;
    const [k, n] = dimsOf(weight) as [number, number];
    const values = floatValues(weight);
    const rowMax = weightMaxima.get(activation) ?? new Float32Array(k);
    if (rowMax.length !== k) throw new Error(`${activation} feeds MatMuls of different widths`);
    for (let r = 0; r < k; r++) for (let c = 0; c < n; c++) rowMax[r] = Math.max(rowMax[r] as number, Math.abs(values[r * n + c] as number));
    weightMaxima.set(activation, rowMax);
  }
  for (const [activation, rowMax] of weightMaxima) {
    const maxima = smoothing.maxima.get(activation) as Float32Array;
    if (maxima.length !== rowMax.length) throw new Error(`the calibration of ${activation} has ${maxima.length} channels, its MatMul ${rowMax.length}`);
    plan.set(activation, Float32Array.from(rowMax, (w, j) => {
      const a = maxima[j] as number;
      const s = a > 0 && w > 0 ? a ** alpha / w ** (1 - alpha) : 1;
      return Number.isFinite(s) && s > 1e-5 ? s : 1;
    }));
  }
  return plan;
}

/**
 * The graph with every activation a quantized MatMul reads added as an output, and their names: the
 * calibration run reads them to measure each channel's range. Pure: bytes in, bytes out.
 */
export function exposeMatMulInputs(bytes: Uint8Array, options: Pick<QuantizeOptions, "minElements" | "keepFloat"> = {}): { bytes: Uint8Array; names: string[] } {
  const minElements = options.minElements ?? 4096;
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph;
  if (!graph) throw new Error("the file holds no ONNX graph");
  const initializers = new Map<string, Tensor>((graph.initializer ?? []).map((t) => [t.name ?? "", t]));
  const names: string[] = [];
  for (const node of graph.node ?? []) {
    const activation = (node.input ?? [])[0];
    if (activation === undefined || !quantizableWeight(node, initializers, minElements, options.keepFloat)) continue;
    if (!names.includes(activation) && !initializers.has(activation)) names.push(activation);
  }
  const existing = new Set((graph.output ?? []).map((o) => o.name));
  graph.output = [...(graph.output ?? []), ...names.filter((n) => !existing.has(n)).map((name) => onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: FLOAT } } }))];
  return { bytes: onnx.ModelProto.encode(model).finish(), names };
}
