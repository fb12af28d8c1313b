/**
 * Transformer fusion in tandem's own graph code: a BERT-family graph's self-attention (the head-splitting
 * reshapes and transposes, the scaled product, the mask, softmax, the weighted sum and the merge: about
 * twenty operators a layer) becomes one ONNX Runtime `MultiHeadAttention`. ONNX Runtime's online
 * attention fusion does not match these graphs (it needs shapes the exporters leave out, and quantized or
 * smoothed projections break its pattern); its layer-norm, GELU and MatMul-scale fusions still run at
 * load. Residual Add + layer normalization as `SkipLayerNormalization` was measured and left out: ONNX
 * Runtime 1.30's CPU kernel took 88 ms where Add and LayerNormalization took 41 (the starter, batch 32).
 * A pattern that does not match exactly is left as it is. Pure: bytes in, bytes out.
 */
import onnxProto from "onnx-proto";
import { FLOAT, MS_DOMAIN, type Node, type Tensor } from "./onnx-tensors.js";
import { floatValues } from "./quantize.js";

const { onnx } = onnxProto;
const INT64 = onnx.TensorProto.DataType.INT64;

export interface FusionSummary {
  /** Self-attention blocks now one MultiHeadAttention. */
  attention: number;
}

/** Whether the graph already holds the fused operators (nothing left to fuse). */
export function isFused(bytes: Uint8Array): boolean {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return text.includes("MultiHeadAttention");
}

export function fuseEncoderGraph(bytes: Uint8Array): { bytes: Uint8Array; summary: FusionSummary } {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph;
  if (!graph) throw new Error("the file holds no ONNX graph");
  const summary: FusionSummary = { attention: 0 };
  // Weights in external data files are found relative to the graph's path, which bytes no longer carry.
  if ((graph.initializer ?? []).some((t) => (t.externalData?.length ?? 0) > 0)) return { bytes, summary };
  const nodes = [...(graph.node ?? [])];
  const initializers = new Map<string, Tensor>((graph.initializer ?? []).map((t) => [t.name ?? "", t]));
  const graphOutputs = new Set((graph.output ?? []).map((o) => o.name ?? ""));
  const producer = new Map<string, Node>();
  const consumers = new Map<string, Node[]>();
  for (const node of nodes) {
    for (const output of node.output ?? []) producer.set(output, node);
    for (const input of node.input ?? []) consumers.set(input, [...(consumers.get(input) ?? []), node]);
  }
  const only = (tensor: string | undefined): Node | undefined => {
    if (tensor === undefined || graphOutputs.has(tensor)) return undefined;
    const readers = consumers.get(tensor) ?? [];
    return readers.length === 1 ? readers[0] : undefined;
  };
  const op = (node: Node | undefined, type: string): node is Node => node !== undefined && node.opType === type && (node.domain ?? "") === "";
  const ints = (node: Node, name: string) => node.attribute?.find((a) => a.name === name)?.ints?.map(Number);
  const constant = (tensor: string | undefined): Float32Array | BigInt64Array | undefined => {
    if (tensor === undefined) return undefined;
    const value = initializers.get(tensor) ?? producer.get(tensor)?.attribute?.find((a) => a.name === "value" && producer.get(tensor)?.opType === "Constant")?.t ?? undefined;
    if (!value) return undefined;
    if (value.dataType === FLOAT) return floatValues(value);
    if (value.dataType === INT64) {
      if (value.rawData && value.rawData.length > 0) return new BigInt64Array(new Uint8Array(value.rawData).buffer);
      return BigInt64Array.from((value.int64Data ?? []).map((v) => BigInt(String(v))));
    }
    return undefined;
  };
  const scalar = (tensor: string | undefined): number | undefined => {
    const value = constant(tensor);
    return value && value.length === 1 ? Number(value[0]) : undefined;
  };
  const removed = new Set<Node>();
  const replacement = new Map<Node, Node>();
  const expanded = new Set<string>();
  const addedInitializers: Tensor[] = [];
  /** Nodes computing a fused block's expanded mask, placed just before that block's replacement (its inputs exist there). */
  const prologue: { before: string; node: Node }[] = [];

  // Self-attention: Softmax(Q·Kᵀ / c + mask) · V between head-splitting reshapes and the merging one.
  for (const softmax of nodes) {
    if (!op(softmax, "Softmax") || removed.has(softmax)) continue;
    const axis = softmax.attribute?.find((a) => a.name === "axis")?.i;
    if (axis !== undefined && Number(axis) !== -1 && Number(axis) !== 3) continue;
    const maskAdd = producer.get(softmax.input?.[0] ?? "");
    if (!op(maskAdd, "Add") || only(maskAdd.output?.[0]) !== softmax) continue;
    const scaling = [producer.get(maskAdd.input?.[0] ?? ""), producer.get(maskAdd.input?.[1] ?? "")].find((n) => (op(n, "Div") || op(n, "Mul")) && only(n.output?.[0]) === maskAdd);
    if (!scaling) continue;
    const mask = maskAdd.input?.find((name) => name !== scaling.output?.[0]) as string;
    const factor = scalar(scaling.input?.[1]);
    const scores = producer.get(scaling.input?.[0] ?? "");
    if (factor === undefined || !op(scores, "MatMul") || only(scores.output?.[0]) !== scaling) continue;
    const scale = scaling.opType === "Div" ? 1 / factor : factor;
    const query = headSplit(producer.get(scores.input?.[0] ?? ""), [0, 2, 1, 3]);
    const key = headSplit(producer.get(scores.input?.[1] ?? ""), [0, 2, 3, 1]);
    const weighted = only(softmax.output?.[0]);
    if (!query || !key || !op(weighted, "MatMul") || weighted.input?.[0] !== softmax.output?.[0]) continue;
    const value = headSplit(producer.get(weighted.input?.[1] ?? ""), [0, 2, 1, 3]);
    const merge = only(weighted.output?.[0]);
    if (!value || !op(merge, "Transpose") || !sameInts(ints(merge, "perm"), [0, 2, 1, 3])) continue;
    const reshape = only(merge.output?.[0]);
    if (!op(reshape, "Reshape")) continue;
    const heads = query.heads ?? key.heads ?? value.heads;
    if (heads === undefined) continue;
    for (const node of [...query.nodes, ...key.nodes, ...value.nodes, scores, scaling, maskAdd, softmax, weighted, merge, reshape]) removed.add(node);
    const bias = expandedBias(mask, query.input);
    replacement.set(reshape, onnx.NodeProto.create({
      name: `tandem_multi_head_attention_${summary.attention}`, opType: "MultiHeadAttention", domain: MS_DOMAIN,
      // query, key, value [batch, sequence, hidden]; no packed bias, no padding mask (the additive mask is the attention bias).
      input: [query.input, key.input, value.input, "", "", bias], output: [reshape.output?.[0] as string],
      attribute: [
        { name: "num_heads", type: onnx.AttributeProto.AttributeType.INT, i: heads },
        { name: "scale", type: onnx.AttributeProto.AttributeType.FLOAT, f: scale },
      ],
    }));
    summary.attention++;
  }

  /**
   * The additive mask as MultiHeadAttention's attention bias, [batch or 1, heads or 1, sequence, sequence]:
   * a padding mask [batch, 1, 1, sequence] is expanded along the query's sequence once per mask (a packed
   * graph's block-diagonal bias already has that shape; expanding it changes nothing).
   */
  function expandedBias(mask: string, query: string): string {
    const name = `${mask}_attention_bias`;
    if (expanded.has(name)) return name;
    expanded.add(name);
    const int64 = (tensorName: string, values: bigint[]) => onnx.TensorProto.create({ name: tensorName, dims: [values.length], dataType: INT64, rawData: new Uint8Array(BigInt64Array.from(values).buffer) });
    addedInitializers.push(int64(`${name}_one`, [1n]), int64(`${name}_start`, [1n]), int64(`${name}_end`, [2n]));
    prologue.push(
      { before: mask, node: onnx.NodeProto.create({ opType: "Shape", input: [query], output: [`${name}_query_shape`] }) },
      { before: mask, node: onnx.NodeProto.create({ opType: "Slice", input: [`${name}_query_shape`, `${name}_start`, `${name}_end`], output: [`${name}_sequence`] }) },
      { before: mask, node: onnx.NodeProto.create({ opType: "Concat", input: [`${name}_one`, `${name}_one`, `${name}_sequence`, `${name}_one`], output: [`${name}_shape`], attribute: [{ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: 0 }] }) },
      { before: mask, node: onnx.NodeProto.create({ opType: "Expand", input: [mask, `${name}_shape`], output: [name] }) },
    );
    return name;
  }
  /** Reshape [batch, sequence, heads, head size] then Transpose by `perm`, each read only once: the 3-D input and the head count when the shape says it. */
  function headSplit(transpose: Node | undefined, perm: number[]): { input: string; heads?: number; nodes: Node[] } | undefined {
    if (!op(transpose, "Transpose") || !sameInts(ints(transpose, "perm"), perm) || only(transpose.output?.[0]) === undefined) return undefined;
    const reshape = producer.get(transpose.input?.[0] ?? "");
    if (!op(reshape, "Reshape") || only(reshape.output?.[0]) !== transpose) return undefined;
    return { input: reshape.input?.[0] as string, heads: headCount(reshape.input?.[1]), nodes: [reshape, transpose] };
  }
  /** The third entry of a Reshape's target shape: a constant, or a Concat whose third input is one. */
  function headCount(shape: string | undefined): number | undefined {
    const direct = constant(shape);
    if (direct && direct.length === 4) return Number(direct[2]) > 0 ? Number(direct[2]) : undefined;
    const concat = producer.get(shape ?? "");
    if (!op(concat, "Concat") || (concat.input ?? []).length !== 4) return undefined;
    const third = scalar(concat.input?.[2]);
    return third !== undefined && third > 0 ? third : undefined;
  }

  if (summary.attention === 0) return { bytes, summary };
  const rewritten: Node[] = [];
  const placed = new Set<Node>();
  for (const node of nodes) {
    const fused = replacement.get(node);
    if (fused) {
      for (const entry of prologue) {
        if (placed.has(entry.node) || !(fused.input ?? []).some((input) => input.startsWith(`${entry.before}_attention_bias`))) continue;
        rewritten.push(entry.node);
        placed.add(entry.node);
      }
      rewritten.push(fused);
    } else if (!removed.has(node)) rewritten.push(node);
  }
  graph.initializer = [...(graph.initializer ?? []), ...addedInitializers];
  graph.node = withoutDeadNodes(rewritten, graphOutputs);
  const read = new Set(graph.node.flatMap((node) => node.input ?? []));
  graph.initializer = (graph.initializer ?? []).filter((t) => read.has(t.name ?? "") || graphOutputs.has(t.name ?? ""));
  if (!(model.opsetImport ?? []).some((o) => o.domain === MS_DOMAIN)) model.opsetImport = [...(model.opsetImport ?? []), { domain: MS_DOMAIN, version: 1 }];
  return { bytes: onnx.ModelProto.encode(model).finish(), summary };
}

function sameInts(a: number[] | undefined, b: number[]): boolean {
  return a !== undefined && a.length === b.length && a.every((v, i) => v === b[i]);
}

/** The nodes whose outputs something still reads (the shape arithmetic of fused reshapes goes). */
function withoutDeadNodes(nodes: Node[], graphOutputs: ReadonlySet<string>): Node[] {
  let kept = nodes;
  for (;;) {
    const read = new Set(kept.flatMap((node) => node.input ?? []));
    const next = kept.filter((node) => (node.output ?? []).some((output) => read.has(output) || graphOutputs.has(output)));
    if (next.length === kept.length) return kept;
    kept = next;
  }
}

