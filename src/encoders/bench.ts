/**
 * Encoder throughput: tandem's end-to-end path (tokenize, batch, run, pool/head, restore order) against
 * a bare ONNX Runtime session fed the same batches with inputs prepared in advance, and bucketing
 * against unsorted batches and fixed padding.
 */
import { planBatches, runEncoder } from "./inference.js";
import type { EncoderModel } from "./model.js";

export interface BenchRow {
  batchSize: number;
  /** tandem end to end, with bucketing. */
  samplesPerSecond: number;
  tokensPerSecond: number;
  /** The bare session on the same (bucketed) batches, inputs built before timing. */
  bareSamplesPerSecond: number;
  /** end-to-end / bare. */
  ratioToBare: number;
  /** tandem end to end without sorting by length (dynamic padding per batch). */
  unsortedSamplesPerSecond: number;
  /** The bare session with every batch padded to the longest text (fixed padding). */
  fixedPaddingSamplesPerSecond: number;
}

export interface BenchOptions {
  batchSizes: number[];
  maxLength?: number;
  /** Repeat each measurement and keep the fastest (noisy machines). */
  repeats?: number;
  onRow?: (row: BenchRow) => void;
}

async function best(repeats: number, run: () => Promise<void>): Promise<number> {
  let fastest = Infinity;
  for (let r = 0; r < repeats; r++) {
    const started = performance.now();
    await run();
    fastest = Math.min(fastest, (performance.now() - started) / 1000);
  }
  return fastest;
}

export async function benchEncoder(model: EncoderModel, texts: readonly string[], options: BenchOptions): Promise<BenchRow[]> {
  const repeats = options.repeats ?? 2;
  const maxLength = Math.min(options.maxLength ?? 512, model.maxPositions);
  const tokenized = texts.map((text) => model.tokenizer.encode(text, maxLength).ids);
  const tokens = tokenized.reduce((sum, ids) => sum + ids.length, 0);
  const longest = Math.max(...tokenized.map((ids) => ids.length));
  const rows: BenchRow[] = [];
  await runEncoder(model, texts.slice(0, 64), { batchSize: 8, maxLength }); // warm-up
  for (const batchSize of options.batchSizes) {
    const ours = await best(repeats, async () => {
      await runEncoder(model, texts, { batchSize, maxLength, bucketing: true });
    });
    const unsorted = await best(repeats, async () => {
      await runEncoder(model, texts, { batchSize, maxLength, bucketing: false });
    });
    const bucketed = planBatches(texts.map((text) => text.length), batchSize, true);
    const bareFeeds = bucketed.map((batch) => model.feeds(batch.map((i) => tokenized[i] as number[])).feeds);
    const bare = await best(repeats, async () => {
      for (const feeds of bareFeeds) await model.session.run(feeds);
    });
    const fixedFeeds = bucketed.map((batch) => model.feeds(batch.map((i) => tokenized[i] as number[]), longest).feeds);
    const fixed = await best(repeats, async () => {
      for (const feeds of fixedFeeds) await model.session.run(feeds);
    });
    const row: BenchRow = {
      batchSize,
      samplesPerSecond: texts.length / ours,
      tokensPerSecond: tokens / ours,
      bareSamplesPerSecond: texts.length / bare,
      ratioToBare: bare / ours,
      unsortedSamplesPerSecond: texts.length / unsorted,
      fixedPaddingSamplesPerSecond: texts.length / fixed,
    };
    rows.push(row);
    options.onRow?.(row);
  }
  return rows;
}
