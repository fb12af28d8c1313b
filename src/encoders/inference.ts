/**
 * Batched inference: length bucketing (tokenize, sort by token length, batch, restore the original
 * order), dynamic padding to each batch's longest sequence, truncation counted, and the next batch's
 * tensors built while ONNX Runtime computes the current one (session.run works off the main thread).
 */
import { softmaxRows, type Pooling } from "./head.js";
import type { EncoderModel, EncoderOutputKind } from "./model.js";

export interface InferenceOptions {
  batchSize?: number;
  /** Longest sequence in tokens, special tokens included (capped at the model's positions). */
  maxLength?: number;
  /** Sort by length before batching (default true). */
  bucketing?: boolean;
  /**
   * With bucketing: close a batch early when adding the next text would pad it by more than this share
   * of its real tokens (batches are then up to batchSize texts of similar length, fewer where lengths
   * spread). For gathered server calls, whose lengths are random; unset, every batch holds batchSize.
   */
  paddingSlack?: number;
  /**
   * Sequence packing: each batch's texts share rows of this many tokens, each attending only to itself
   * (the model must be loaded with `packing`); texts longer than a row run padded, as without packing.
   * Random-length batches then cost their real tokens (a server's gathered calls).
   */
  packing?: number;
  /** "model" (default): logits or embedding vectors; "pooled": the pooled hidden state a head sees. */
  output?: EncoderOutputKind;
  /** Pooling for output "pooled" (default: the model's). */
  pooling?: Pooling;
  onProgress?: (done: number, total: number) => void;
}

export interface InferenceResult {
  /** rows × width, in the order of the input texts. */
  values: Float32Array;
  width: number;
  /** Texts cut at maxLength. */
  truncated: number;
  /** Tokens fed to the model (padding excluded). */
  tokens: number;
  /** Positions fed to the model, padding included (rows × each batch's longest). */
  padded: number;
  seconds: number;
}

/** Batches of item indices; with bucketing, items of similar length share a batch (and, with a slack, a batch ends where padding would pass it). */
export function planBatches(lengths: readonly number[], batchSize: number, bucketing: boolean, paddingSlack?: number): number[][] {
  const order = lengths.map((_, i) => i);
  if (bucketing) order.sort((a, b) => (lengths[a] as number) - (lengths[b] as number) || a - b);
  const batches: number[][] = [];
  if (!bucketing || paddingSlack === undefined) {
    for (let start = 0; start < order.length; start += batchSize) batches.push(order.slice(start, start + batchSize));
    return batches;
  }
  let current: number[] = [];
  let real = 0;
  for (const item of order) {
    const length = lengths[item] as number;
    // Ascending order: the newcomer is the longest, so the batch would be padded to it.
    if (current.length > 0 && (current.length >= batchSize || (current.length + 1) * length > (1 + paddingSlack) * (real + length))) {
      batches.push(current);
      current = [];
      real = 0;
    }
    current.push(item);
    real += length;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

export async function runEncoder(model: EncoderModel, texts: readonly string[], options: InferenceOptions = {}): Promise<InferenceResult> {
  const started = performance.now();
  const batchSize = Math.max(1, options.batchSize ?? 32);
  const maxLength = Math.min(options.maxLength ?? 512, model.maxPositions);
  // Tokenize first and batch by token length: it costs ~25 µs a text and pads far less than sorting
  // by characters does (a batch is padded to its longest row, in tokens).
  let truncated = 0;
  let tokens = 0;
  const ids = texts.map((text) => {
    const encoded = model.tokenizer.encode(text, maxLength);
    if (encoded.truncated) truncated++;
    tokens += encoded.ids.length;
    return encoded.ids;
  });
  const batches = planBatches(ids.map((row) => row.length), batchSize, options.bucketing ?? true, options.packing ? undefined : options.paddingSlack);
  if (options.packing !== undefined) {
    const { values, width, padded } = await runPackedBatches(model, ids, batches, options.packing, options);
    return { values, width, truncated, tokens, padded, seconds: (performance.now() - started) / 1000 };
  }
  let padded = 0;
  const prepare = (batch: number[]) => {
    const prepared = model.feeds(batch.map((i) => ids[i] as number[]));
    padded += prepared.seq * batch.length;
    return prepared;
  };
  const collected = outputsInInputOrder(texts.length);
  let done = 0;
  let next = batches.length > 0 ? prepare(batches[0] as number[]) : undefined;
  for (let b = 0; b < batches.length; b++) {
    const batch = batches[b] as number[];
    const running = model.run(next!, batch.length, options.output, options.pooling);
    next = b + 1 < batches.length ? prepare(batches[b + 1] as number[]) : undefined;
    collected.place(batch, await running);
    done += batch.length;
    options.onProgress?.(done, texts.length);
  }
  return { ...collected.result(), truncated, tokens, padded, seconds: (performance.now() - started) / 1000 };
}

/** Rows of outputs placed back at their items' positions; the width comes from the first output. */
function outputsInInputOrder(items: number): { place(batch: readonly number[], output: { values: Float32Array; width: number }): void; result(): { values: Float32Array; width: number } } {
  let values: Float32Array | undefined;
  let width = 0;
  return {
    place(batch, output) {
      if (!values) {
        width = output.width;
        values = new Float32Array(items * width);
      }
      batch.forEach((item, row) => values!.set(output.values.subarray(row * width, (row + 1) * width), item * width));
    },
    result: () => ({ values: values ?? new Float32Array(0), width }),
  };
}

/** Each batch: its texts that fit a row packed, the longer ones padded. */
async function runPackedBatches(model: EncoderModel, ids: readonly number[][], batches: readonly number[][], rowTokens: number, options: InferenceOptions): Promise<{ values: Float32Array; width: number; padded: number }> {
  const collected = outputsInInputOrder(ids.length);
  let padded = 0;
  let done = 0;
  for (const batch of batches) {
    const short = batch.filter((item) => (ids[item] as number[]).length <= rowTokens);
    const long = batch.filter((item) => (ids[item] as number[]).length > rowTokens);
    if (short.length > 0) {
      const output = await model.runPacked(short.map((item) => ids[item] as number[]), rowTokens, options.output, options.pooling);
      padded += output.positions;
      collected.place(short, output);
    }
    if (long.length > 0) {
      const prepared = model.feeds(long.map((item) => ids[item] as number[]));
      padded += prepared.seq * long.length;
      collected.place(long, await model.run(prepared, long.length, options.output, options.pooling));
    }
    done += batch.length;
    options.onProgress?.(done, ids.length);
  }
  return { ...collected.result(), padded };
}

export interface Classification {
  labels: string[];
  /** Predicted label per text. */
  predictions: string[];
  /** rows × labels.length softmax probabilities. */
  probabilities: Float32Array;
  truncated: number;
  seconds: number;
}

export async function classifyWithEncoder(model: EncoderModel, texts: readonly string[], options: InferenceOptions = {}): Promise<Classification> {
  if (model.kind === "embedding") throw new Error("an embedding model has no labels to predict");
  const result = await runEncoder(model, texts, options);
  const k = result.width;
  const probabilities = softmaxRows(result.values, texts.length, k);
  const labels = model.labels.length === k ? model.labels : Array.from({ length: k }, (_, i) => `LABEL_${i}`);
  const predictions = texts.map((_, row) => {
    let best = 0;
    for (let c = 1; c < k; c++) if ((probabilities[row * k + c] as number) > (probabilities[row * k + best] as number)) best = c;
    return labels[best] as string;
  });
  return { labels, predictions, probabilities, truncated: result.truncated, seconds: result.seconds };
}
