/**
 * Encoder throughput: tandem's end-to-end path (tokenize, batch by token length, run, pool/head,
 * restore order) against a bare ONNX Runtime session fed batches sorted by token length with inputs
 * prepared in advance (what a careful user would write), against unsorted batches and fixed padding,
 * and — given the int8 model of the same folder — fp32 against int8. Every contender is measured in
 * alternating rounds, the fastest round counting, because these machines are noisy. The share of the
 * machine's measured matrix-multiply rate reached is reported from the graph's FLOPs per token.
 */
import * as ort from "onnxruntime-node";
import onnxProto from "onnx-proto";
import { GraphBuilder } from "./onnx-graph.js";
import { planBatches, runEncoder } from "./inference.js";
import type { EncoderModel } from "./model.js";
import { quantizeOnnx } from "./quantize.js";
import { createSession } from "./int8-kernel.js";

export interface BenchRow {
  batchSize: number;
  /** tandem end to end, with bucketing. */
  samplesPerSecond: number;
  tokensPerSecond: number;
  /** The bare session on batches sorted by token length, inputs built before timing. */
  bareSamplesPerSecond: number;
  /** end-to-end / bare. */
  ratioToBare: number;
  /** tandem end to end without sorting by length (dynamic padding per batch). */
  unsortedSamplesPerSecond: number;
  /** The bare session with every batch padded to the longest text (fixed padding). */
  fixedPaddingSamplesPerSecond: number;
  /** The int8 model end to end, when one was given. */
  int8SamplesPerSecond?: number;
  /** Share of the measured matrix-multiply rate of the model's own precision (int8 for an int8 graph) its matrix products reach. */
  peakShare?: number;
  /** The same for the int8 model given beside it, against the int8 rate. */
  int8PeakShare?: number;
}

export interface BenchOptions {
  batchSizes: number[];
  maxLength?: number;
  /** Rounds; each contender's fastest round counts (default 3). */
  repeats?: number;
  /** The int8 model of the same folder (tandem quantize), measured beside fp32. */
  int8?: EncoderModel;
  /** Matrix-multiply FLOPs per sample (see matmulFlopsPerSample) and the machine's rates, for the peak shares. */
  flopsPerSample?: number;
  machine?: MatmulRates;
  /** The model's products are int8 (hasInt8Products): its peak share is against the int8 rate. */
  int8Products?: boolean;
  onRow?: (row: BenchRow) => void;
}

async function timed(run: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await run();
  return (performance.now() - started) / 1000;
}

export async function benchEncoder(model: EncoderModel, texts: readonly string[], options: BenchOptions): Promise<BenchRow[]> {
  const repeats = options.repeats ?? 3;
  const maxLength = Math.min(options.maxLength ?? 512, model.maxPositions);
  const tokenized = texts.map((text) => model.tokenizer.encode(text, maxLength).ids);
  const tokens = tokenized.reduce((sum, ids) => sum + ids.length, 0);
  const longest = Math.max(...tokenized.map((ids) => ids.length));
  const rows: BenchRow[] = [];
  await runEncoder(model, texts.slice(0, 64), { batchSize: 8, maxLength }); // warm-up
  if (options.int8) await runEncoder(options.int8, texts.slice(0, 64), { batchSize: 8, maxLength });
  for (const batchSize of options.batchSizes) {
    const sorted = planBatches(tokenized.map((ids) => ids.length), batchSize, true);
    const bareFeeds = sorted.map((batch) => model.feeds(batch.map((i) => tokenized[i] as number[])).feeds);
    const fixedFeeds = sorted.map((batch) => model.feeds(batch.map((i) => tokenized[i] as number[]), longest).feeds);
    const contenders: Record<string, () => Promise<void>> = {
      ours: async () => void (await runEncoder(model, texts, { batchSize, maxLength, bucketing: true })),
      bare: async () => {
        for (const feeds of bareFeeds) await model.session.run(feeds);
      },
      unsorted: async () => void (await runEncoder(model, texts, { batchSize, maxLength, bucketing: false })),
      fixed: async () => {
        for (const feeds of fixedFeeds) await model.session.run(feeds);
      },
      ...(options.int8 ? { int8: async () => void (await runEncoder(options.int8!, texts, { batchSize, maxLength, bucketing: true })) } : {}),
    };
    const best: Record<string, number> = {};
    for (let round = 0; round < repeats; round++) {
      // Alternate the order each round so no contender always runs on a warmer (or hotter) machine.
      const names = Object.keys(contenders);
      const order = round % 2 === 0 ? names : [...names].reverse();
      for (const name of order) best[name] = Math.min(best[name] ?? Infinity, await timed(contenders[name]!));
    }
    const rate = (name: string) => texts.length / (best[name] as number);
    const row: BenchRow = {
      batchSize,
      samplesPerSecond: rate("ours"),
      tokensPerSecond: tokens / (best.ours as number),
      bareSamplesPerSecond: rate("bare"),
      ratioToBare: (best.bare as number) / (best.ours as number),
      unsortedSamplesPerSecond: rate("unsorted"),
      fixedPaddingSamplesPerSecond: rate("fixed"),
    };
    if (options.int8) row.int8SamplesPerSecond = rate("int8");
    if (options.flopsPerSample && options.machine) {
      row.peakShare = (options.flopsPerSample * row.samplesPerSecond) / (options.int8Products ? options.machine.int8FlopsPerSecond : options.machine.fp32FlopsPerSecond);
      if (row.int8SamplesPerSecond) row.int8PeakShare = (options.flopsPerSample * row.int8SamplesPerSecond) / options.machine.int8FlopsPerSecond;
    }
    rows.push(row);
    options.onRow?.(row);
  }
  return rows;
}

/** Operators that multiply an activation by a weight (input 1), float or int8. */
const WEIGHT_PRODUCTS = new Set(["MatMul", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "MatMulInteger"]);
/** Operators that make a graph's products int8. */
const INT8_PRODUCTS = new Set(["DynamicQuantizeMatMul", "MatMulIntegerToFloat", "MatMulInteger"]);

/**
 * Matrix-multiply FLOPs per sample of a transformer encoder graph: 2·K·N per token for every product with
 * a weight (float MatMul, or int8 DynamicQuantizeMatMul, MatMulIntegerToFloat and MatMulInteger), plus the
 * attention products (2 · 2 · tokens · hidden per token per layer: scores and the weighted sum), at a
 * mean sequence length of `tokens`.
 */
export function matmulFlopsPerSample(graph: Uint8Array, tokens: number, shape: { layers: number; hidden: number }): number {
  const model = onnxProto.onnx.ModelProto.decode(graph);
  const initializers = new Map((model.graph?.initializer ?? []).map((t) => [t.name ?? "", t]));
  let perToken = 0;
  for (const node of model.graph?.node ?? []) {
    if (!WEIGHT_PRODUCTS.has(node.opType ?? "")) continue;
    const weight = initializers.get(node.input?.[1] ?? "");
    const dims = (weight?.dims ?? []).map(Number);
    if (dims.length === 2) perToken += 2 * (dims[0] as number) * (dims[1] as number);
  }
  return tokens * (perToken + 4 * tokens * shape.hidden * shape.layers);
}

/** Whether the graph's weight products are int8 (its peak share is then against the int8 rate). */
export function hasInt8Products(graph: Uint8Array): boolean {
  return (onnxProto.onnx.ModelProto.decode(graph).graph?.node ?? []).some((node) => INT8_PRODUCTS.has(node.opType ?? ""));
}

export interface MatmulRates {
  fp32FlopsPerSecond: number;
  /** The faster of int8 with dynamic activations and with static ones (the two forms tandem writes). */
  int8FlopsPerSecond: number;
}

/**
 * The machine's measured matrix-multiply rates through ONNX Runtime, on a [rows × 768] · [768 × 3072]
 * product (a base-size encoder's FFN): fp32 MatMul, and int8 as DynamicQuantizeMatMul and as static
 * QuantizeLinear + MatMulIntegerToFloat (the faster counts), fastest of `repeats`.
 */
export async function measureMatmulRates(options: { threads?: number; repeats?: number; rows?: number } = {}): Promise<MatmulRates> {
  const rows = options.rows ?? 2048;
  const [k, n] = [768, 3072];
  const weights = new Float32Array(k * n).map((_, i) => Math.sin(i) * 0.05);
  const build = () => {
    const graph = new GraphBuilder("matmul-rate");
    const input = graph.input("x", [rows, k]);
    graph.output(graph.op("MatMul", [input, graph.float(weights, [k, n])]), "y", [rows, n]);
    return graph.encode();
  };
  const fp32 = build();
  const values = new Float32Array(rows * k).map((_, i) => Math.cos(i));
  const dynamic = quantizeOnnx(fp32, { minElements: 1 }).bytes;
  // Static activations need each input channel's range; the probe's input is known, so it is its own calibration.
  const lower = new Float32Array(k).fill(Infinity);
  const upper = new Float32Array(k).fill(-Infinity);
  values.forEach((v, i) => {
    const j = i % k;
    lower[j] = Math.min(lower[j] as number, v);
    upper[j] = Math.max(upper[j] as number, v);
  });
  const maxima = lower.map((low, j) => Math.max(Math.abs(low), Math.abs(upper[j] as number)));
  const statik = quantizeOnnx(fp32, { minElements: 1, activations: "static", smoothing: { maxima: new Map([["x", maxima]]), lower: new Map([["x", lower]]), upper: new Map([["x", upper]]) } }).bytes;
  const x = new ort.Tensor("float32", values, [rows, k]);
  const flops = 2 * rows * k * n;
  const rate = async (bytes: Uint8Array) => {
    const session = await createSession(bytes, { intraOpNumThreads: options.threads ?? 0, interOpNumThreads: 1, graphOptimizationLevel: "all", logSeverityLevel: 3 });
    await session.run({ x });
    let fastest = Infinity;
    for (let r = 0; r < (options.repeats ?? 5); r++) fastest = Math.min(fastest, await timed(async () => void (await session.run({ x }))));
    await session.release();
    return flops / fastest;
  };
  return { fp32FlopsPerSecond: await rate(fp32), int8FlopsPerSecond: Math.max(await rate(dynamic), await rate(statik)) };
}

/** The encoder's layer count and width from its config.json (BERT and DistilBERT names). */
export function encoderShape(config: Record<string, unknown>): { layers: number; hidden: number } {
  return { layers: Number(config.num_hidden_layers ?? config.n_layers ?? 0), hidden: Number(config.hidden_size ?? config.dim ?? 0) };
}

