/**
 * Dynamic batching: texts from concurrent requests are gathered into one encoder call. A call starts
 * when `maxBatch` texts wait or the oldest has waited `maxWaitMs` (0: at once when a copy of the encoder
 * is idle); while every copy runs, new texts gather for the next call, which starts as soon as one is
 * free. The encoder itself groups texts of similar length inside a call (length bucketing), so one
 * request's texts never wait for another's LLM.
 */
import { inSpan } from "../core/spans.js";
import type { EncoderConfig } from "../strategies/config.js";
import type { ClassifyOptions, Prediction, Strategy } from "../strategies/strategy.js";

/**
 * How a server loads an encoder its config leaves these out of (`tandem serve`, the gateway's students).
 * Gathered calls hold texts of every length: packed rows cost their real tokens (where the graph allows).
 * One single-threaded copy per core: independent batches at once keep the cores busier than one batch split
 * across them. No thread spins between operators while the event loop needs the CPU.
 */
export const SERVED_ENCODER_DEFAULTS = { spinWait: false, packing: "auto", replicas: "auto" } as const satisfies Partial<EncoderConfig>;

export interface BatchingOptions {
  /** Most texts in one encoder call. */
  maxBatch: number;
  /** Longest a text waits for others before its call starts. */
  maxWaitMs: number;
  /** Calls running at once (default: the encoder's replicas, else 1). */
  concurrency?: number;
  /** Called with the size of every call made. */
  onBatch?: (size: number) => void;
}

interface Waiting {
  text: string;
  resolve: (prediction: Prediction) => void;
  reject: (error: unknown) => void;
}

export interface BatchingStrategy extends Strategy {
  /** Texts waiting for an encoder call. */
  queueDepth(): number;
}

export function batchingStrategy(inner: Strategy, options: BatchingOptions): BatchingStrategy {
  const waiting: Waiting[] = [];
  let timer: NodeJS.Timeout | undefined;
  let running = 0;
  const concurrency = Math.max(1, options.concurrency ?? (inner as { replicas?: number }).replicas ?? 1);

  let soon: NodeJS.Immediate | undefined;

  const schedule = () => {
    if (running >= concurrency || waiting.length === 0) return;
    if (waiting.length >= options.maxBatch) {
      void flush();
      return;
    }
    // maxWaitMs 0: an idle copy starts after this turn of the event loop, once every request already
    // read has queued its texts (starting at the first one would run a burst one text at a time).
    if (options.maxWaitMs <= 0) {
      soon ??= setImmediate(() => {
        soon = undefined;
        void flush();
      });
      return;
    }
    timer ??= setTimeout(() => {
      timer = undefined;
      void flush();
    }, options.maxWaitMs);
  };

  async function flush(): Promise<void> {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (running >= concurrency || waiting.length === 0) return;
    // Idle copies share what waits evenly, up to maxBatch each.
    const share = Math.min(options.maxBatch, Math.ceil(waiting.length / (concurrency - running)));
    running++;
    const batch = waiting.splice(0, share);
    options.onBatch?.(batch.length);
    // The batch span is a child of the request whose text started the flush (the context active then);
    // it carries the batch size, since it serves several requests at once.
    const call = inSpan(`batch ${inner.name}`, { "tandem.strategy": inner.name, "tandem.batch.size": batch.length }, () => inner.classify(batch.map((w) => w.text)));
    // Another idle copy takes the rest now.
    if (waiting.length > 0 && running < concurrency) void flush();
    try {
      const predictions = await call;
      batch.forEach((w, i) => w.resolve(predictions[i] as Prediction));
    } catch (error) {
      for (const w of batch) w.reject(error);
    } finally {
      running--;
      // Texts that arrived while the copies ran have waited already: start at once when enough wait.
      if (waiting.length >= options.maxBatch) void flush();
      else schedule();
    }
  }

  return {
    name: inner.name,
    type: inner.type,
    labels: inner.labels,
    members: inner.members,
    queueDepth: () => waiting.length,
    async classify(texts: readonly string[], classifyOptions: ClassifyOptions = {}): Promise<Prediction[]> {
      const promises = texts.map((text) => new Promise<Prediction>((resolve, reject) => waiting.push({ text, resolve, reject })));
      schedule();
      const predictions = await Promise.all(promises);
      classifyOptions.onProgress?.(texts.length);
      return predictions;
    },
    close: () => inner.close(),
  };
}
