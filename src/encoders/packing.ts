/**
 * Sequence packing: several short texts share one row of the encoder's input, each attending only to
 * itself (a block-diagonal attention bias) and numbering its positions from 0, so a batch of texts of
 * random lengths costs about its real tokens instead of rows × the longest. This is what lets a server,
 * whose gathered calls hold texts of every length, run as fast as an offline file sorted by length.
 *
 * `packGraph` rewrites a BERT-family graph (BERT, ELECTRA, MiniLM: learned absolute positions and an
 * additive attention mask) into two graphs: the backbone, fed `position_ids` and `attention_bias`
 * instead of the mask, up to `last_hidden_state`; and, for classifier graphs, the head from the pooled
 * vector to the logits. Pooling per text happens between them (see `poolPackedRows`). Graphs it cannot
 * rewrite safely (positions computed from the token values, as RoBERTa's; masks applied by `Where`, as
 * DistilBERT's; max pooling, where padding changes the answer) are refused with the reason.
 * Pure computation: bytes in, bytes out.
 */
import onnxProto from "onnx-proto";
import { pool, type Pooling } from "./head.js";

const { onnx } = onnxProto;
type Node = onnxProto.onnx.INodeProto;
type Graph = onnxProto.onnx.IGraphProto;

export const POSITION_IDS = "position_ids";
export const ATTENTION_BIAS = "attention_bias";
/** Rows of 64 tokens: on the starter (texts of ~21 tokens) the fastest of 32 / 48 / 64 / 128 / 256. */
export const DEFAULT_ROW_TOKENS = 64;
/** What the bias adds where a token may not attend: the lowest float32, as the exported graphs use. */
const BLOCKED = -3.4028234663852886e38;

export class PackingUnsupported extends Error {}

/** Tokens per row for a packing setting (a flag, `auto`, or a row size), or undefined when off. */
export function packingRowTokens(packing: boolean | number | "auto" | undefined): number | undefined {
  return typeof packing === "number" ? packing : packing ? DEFAULT_ROW_TOKENS : undefined;
}

export const MAX_POOLING_REFUSAL = "max pooling counts padding as zeros, so packed rows would change its answers";

export interface PackedGraphs {
  /** The backbone: input_ids, position_ids, attention_bias (and token_type_ids when used) → last_hidden_state. */
  backbone: Uint8Array;
  /** Classifier graphs: the head, pooled vectors [texts, hidden] → logits. */
  head?: { bytes: Uint8Array; input: string; pooling: Pooling };
}

/** The nodes `outputs` need, in graph order; `stopAt` tensors count as given. */
function cone(nodes: readonly Node[], outputs: readonly string[], stopAt: ReadonlySet<string> = new Set()): Node[] {
  const producer = new Map<string, Node>();
  for (const node of nodes) for (const output of node.output ?? []) producer.set(output, node);
  const needed = new Set<Node>();
  const pending = outputs.filter((name) => !stopAt.has(name));
  while (pending.length > 0) {
    const node = producer.get(pending.pop() as string);
    if (!node || needed.has(node)) continue;
    needed.add(node);
    for (const input of node.input ?? []) if (input && !stopAt.has(input)) pending.push(input);
  }
  return nodes.filter((node) => needed.has(node));
}

/** Every tensor computed (directly or not) from `source` among `nodes`. */
function descendants(nodes: readonly Node[], source: string): Set<string> {
  const reached = new Set([source]);
  for (const node of nodes) if ((node.input ?? []).some((input) => reached.has(input))) for (const output of node.output ?? []) reached.add(output);
  return reached;
}

/** A copy of the model whose graph keeps only `nodes`, with the given inputs and outputs. */
function subModel(model: onnxProto.onnx.ModelProto, nodes: Node[], inputs: onnxProto.onnx.IValueInfoProto[], outputs: string[]): Uint8Array {
  const graph = model.graph as Graph;
  const used = new Set(nodes.flatMap((node) => node.input ?? []));
  const sub = onnx.ModelProto.create({
    ...model,
    graph: onnx.GraphProto.create({
      name: graph.name,
      node: nodes,
      initializer: (graph.initializer ?? []).filter((tensor) => used.has(tensor.name ?? "")),
      input: inputs,
      output: (graph.output ?? []).filter((output) => outputs.includes(output.name ?? "")),
    }),
  });
  return onnx.ModelProto.encode(sub).finish();
}

const tensorInput = (name: string, elemType: number, dims: (string | number)[]) =>
  onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) } } },
  });

/**
 * Rewrites an encoder graph for packed rows. A classifier graph's own pooling (mean over the mask, or the
 * first token) is read from the graph; graphs without logits pool as their config.json says.
 */
export function packGraph(bytes: Uint8Array): PackedGraphs {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph;
  if (!graph) throw new PackingUnsupported("the file holds no ONNX graph");
  const nodes = graph.node ?? [];
  const inputNames = (graph.input ?? []).map((input) => input.name ?? "");
  const outputNames = (graph.output ?? []).map((output) => output.name ?? "");
  if (!inputNames.includes("input_ids") || !inputNames.includes("attention_mask")) throw new PackingUnsupported("the graph has no input_ids and attention_mask inputs");
  if (!outputNames.includes("last_hidden_state")) throw new PackingUnsupported("the graph does not output last_hidden_state");
  const backboneNodes = cone(nodes, ["last_hidden_state"]);

  // Positions: the lookups in the position table (a 2-D weight indexed by a computed range, or named so;
  // an int8 table has two lookups, values and row scales, by the same indices) must not read token values.
  const initializers = new Set((graph.initializer ?? []).map((tensor) => tensor.name ?? ""));
  const positionIndices = new Set<string>();
  for (const node of backboneNodes) {
    const [table, indices] = node.input ?? [];
    if (node.opType !== "Gather" || !table || !indices || !initializers.has(table)) continue;
    if (/position_embeddings/.test(table) || cone(backboneNodes, [indices]).some((producer) => producer.opType === "Range")) positionIndices.add(indices);
  }
  if (positionIndices.size !== 1) throw new PackingUnsupported(`the graph has ${positionIndices.size} kinds of position lookup; packing needs exactly one`);
  const positions = [...positionIndices][0] as string;
  const readsTokenValues = cone(backboneNodes, [positions]).some((node) => node.opType !== "Shape" && (node.input ?? []).includes("input_ids"));
  if (readsTokenValues) throw new PackingUnsupported("the graph computes positions from the token ids (RoBERTa-style); packing needs plain absolute positions");

  // The mask: one tensor computed from attention_mask alone and only ever added to attention scores.
  const fromMask = descendants(backboneNodes, "attention_mask");
  const fromOthers = new Set<string>();
  for (const name of inputNames) if (name !== "attention_mask") for (const tensor of descendants(backboneNodes, name)) fromOthers.add(tensor);
  const biases = new Set<string>();
  const readers = new Map<string, Node[]>();
  for (const node of backboneNodes) for (const input of node.input ?? []) readers.set(input, [...(readers.get(input) ?? []), node]);
  // A fused graph (fusions.ts) expands the bias along the query's sequence for MultiHeadAttention's attention bias.
  const expandsAttentionBias = (node: Node) =>
    node.opType === "Expand" && (readers.get(node.output?.[0] ?? "") ?? []).every((reader) => reader.opType === "MultiHeadAttention" && reader.input?.[5] === node.output?.[0]);
  for (const node of backboneNodes) {
    const inputs = node.input ?? [];
    const maskInputs = inputs.filter((input) => fromMask.has(input) && !fromOthers.has(input));
    if (maskInputs.length === 0 || inputs.every((input) => fromMask.has(input) || !fromOthers.has(input))) continue;
    // A node mixing the mask with the hidden states: the mask must enter through an Add of a bias.
    if (node.opType !== "Add" && !expandsAttentionBias(node)) throw new PackingUnsupported(`the attention mask enters the graph through ${node.opType} (${node.name ?? "unnamed"}); packing needs an additive mask`);
    for (const input of maskInputs) biases.add(input);
  }
  if (biases.size !== 1) throw new PackingUnsupported(`the graph adds ${biases.size} different mask tensors to attention scores; packing needs exactly one`);
  const bias = [...biases][0] as string;

  const rewired = nodes.map((node) =>
    onnx.NodeProto.create({
      ...node,
      input: (node.input ?? []).map((input) => (input === positions ? POSITION_IDS : input === bias ? ATTENTION_BIAS : input)),
    }),
  );
  const packedBackbone = cone(rewired, ["last_hidden_state"]);
  const used = new Set(packedBackbone.flatMap((node) => node.input ?? []));
  const keptInputs = (graph.input ?? []).filter((input) => used.has(input.name ?? ""));
  const backbone = subModel(model, packedBackbone, [
    ...keptInputs,
    tensorInput(POSITION_IDS, onnx.TensorProto.DataType.INT64, ["rows", "sequence"]),
    tensorInput(ATTENTION_BIAS, onnx.TensorProto.DataType.FLOAT, ["rows", 1, "sequence", "sequence"]),
  ], ["last_hidden_state"]);
  if (!outputNames.includes("logits")) return { backbone };
  return { backbone, head: headGraph(model, nodes) };
}

/** The classifier's head as its own graph: from the pooled vector (mean over the mask, or the first token) to the logits. */
function headGraph(model: onnxProto.onnx.ModelProto, nodes: readonly Node[]): NonNullable<PackedGraphs["head"]> {
  const producer = new Map<string, Node>();
  for (const node of nodes) for (const output of node.output ?? []) producer.set(output, node);
  const logitsCone = cone(nodes, ["logits"]);
  // The hidden states by every name: the output's, and what it is an Identity of.
  const hiddenNames = new Set(["last_hidden_state"]);
  const identity = producer.get("last_hidden_state");
  if (identity?.opType === "Identity") hiddenNames.add(identity.input?.[0] as string);
  const isZero = (name: string | undefined): boolean => {
    const constant = producer.get(name ?? "");
    const value = constant?.opType === "Constant" ? constant.attribute?.find((a) => a.name === "value")?.t : (model.graph?.initializer ?? []).find((t) => t.name === name);
    if (!value) return false;
    return (value.rawData?.length ?? 0) > 0 ? value.rawData!.every((b) => b === 0) : [...(value.int64Data ?? []), ...(value.int32Data ?? [])].every((v) => Number(v) === 0);
  };
  let pooled: { tensor: string; pooling: Pooling } | undefined;
  for (const node of logitsCone) {
    const inputs = node.input ?? [];
    // Mean pooling as exported: Div(ReduceSum(Mul(last_hidden_state, mask)), count).
    if (node.opType === "Div") {
      const sum = producer.get(inputs[0] ?? "");
      const product = sum?.opType === "ReduceSum" ? producer.get(sum.input?.[0] ?? "") : undefined;
      if (product?.opType === "Mul" && (product.input ?? []).some((input) => hiddenNames.has(input))) pooled = { tensor: node.output?.[0] as string, pooling: "mean" };
    }
    // The first token (BERT's pooler, CLS pooling): Gather(last_hidden_state, 0, axis 1).
    if (node.opType === "Gather" && hiddenNames.has(inputs[0] ?? "")) {
      const axis = node.attribute?.find((a) => a.name === "axis")?.i;
      if (Number(axis) === 1 && isZero(inputs[1])) pooled = { tensor: node.output?.[0] as string, pooling: "cls" };
    }
    if (pooled) break;
  }
  if (!pooled) throw new PackingUnsupported("the classifier's pooling is neither a mean over the mask nor the first token");
  const headNodes = cone(nodes, ["logits"], new Set([pooled.tensor]));
  const needsOthers = headNodes.some((node) => (node.input ?? []).some((input) => hiddenNames.has(input) || input === "attention_mask" || input === "input_ids"));
  if (needsOthers) throw new PackingUnsupported("the classifier's head reads more than the pooled vector");
  const hidden = tensorInput(pooled.tensor, onnx.TensorProto.DataType.FLOAT, ["texts", "hidden"]);
  return { bytes: subModel(model, headNodes, [hidden], ["logits"]), input: pooled.tensor, pooling: pooled.pooling };
}

export interface PackedSegment {
  /** The item's index in the call. */
  item: number;
  start: number;
  length: number;
}

/**
 * Rows of at most `rowTokens` tokens, filled first-fit from the longest item down; every item must fit.
 * Each item starts at a multiple of `alignment`: ONNX Runtime's vectorized kernels then group a text's
 * positions as they do when the text starts a padded row, so packed answers equal padded ones bit for bit
 * (which int8 models need: a last-bit difference can move a quantized value by a whole step).
 */
export function planPackedRows(lengths: readonly number[], rowTokens: number, alignment = 1): PackedSegment[][] {
  const order = lengths.map((_, i) => i).sort((a, b) => (lengths[b] as number) - (lengths[a] as number) || a - b);
  const rows: { used: number; segments: PackedSegment[] }[] = [];
  const aligned = (used: number) => Math.ceil(used / alignment) * alignment;
  for (const item of order) {
    const length = lengths[item] as number;
    if (length > rowTokens) throw new RangeError(`item ${item} has ${length} tokens, more than a row's ${rowTokens}`);
    let row = rows.find((candidate) => aligned(candidate.used) + length <= rowTokens);
    if (!row) {
      row = { used: 0, segments: [] };
      rows.push(row);
    }
    const start = aligned(row.used);
    row.segments.push({ item, start, length });
    row.used = start + length;
  }
  return rows.map((row) => row.segments);
}

/** The backbone's feeds for packed rows: token ids, positions restarting at every text, and the block-diagonal bias. */
export function packedFeeds(ids: readonly (readonly number[])[], rows: readonly PackedSegment[][], padId: number): { inputIds: BigInt64Array; positionIds: BigInt64Array; attentionBias: Float32Array; rows: number; sequence: number } {
  const sequence = Math.max(1, ...rows.map((row) => row.reduce((end, segment) => Math.max(end, segment.start + segment.length), 0)));
  const inputIds = new BigInt64Array(rows.length * sequence).fill(BigInt(padId));
  const positionIds = new BigInt64Array(rows.length * sequence);
  // Padding at a row's end attends to nothing real; blocked everywhere, its softmax is uniform and unused.
  const attentionBias = new Float32Array(rows.length * sequence * sequence).fill(BLOCKED);
  rows.forEach((row, r) => {
    for (const { item, start, length } of row) {
      const tokens = ids[item] as readonly number[];
      for (let k = 0; k < length; k++) {
        inputIds[r * sequence + start + k] = BigInt(tokens[k] as number);
        positionIds[r * sequence + start + k] = BigInt(k);
        const query = (r * sequence + start + k) * sequence;
        attentionBias.fill(0, query + start, query + start + length);
      }
    }
  });
  return { inputIds, positionIds, attentionBias, rows: rows.length, sequence };
}

/** One pooled vector per item (in item order) from the packed rows' hidden states [rows, sequence, dim]. */
export function poolPackedRows(hidden: Float32Array, rows: readonly PackedSegment[][], items: number, sequence: number, dim: number, pooling: Pooling): Float32Array {
  if (pooling === "max") throw new PackingUnsupported(MAX_POOLING_REFUSAL);
  const pooled = new Float32Array(items * dim);
  rows.forEach((row, r) => {
    for (const { item, start, length } of row) {
      const segment = hidden.subarray((r * sequence + start) * dim, (r * sequence + start + length) * dim);
      pooled.set(pool(segment, new Uint8Array(length).fill(1), 1, length, dim, pooling), item * dim);
    }
  });
  return pooled;
}
