/**
 * Dynamic batching: texts from concurrent requests are gathered into one encoder call. A call starts
 * when `maxBatch` texts wait or the oldest has waited `maxWaitMs` (0: at once when the encoder is
 * idle); while the encoder runs, new texts gather for the next call, which starts as soon as it is free. The encoder itself groups texts of
 * similar length inside a call (length bucketing), so one request's texts never wait for another's LLM.
 */
import { inSpan } from "../core/spans.js";
import type { ClassifyOptions, Prediction, Strategy } from "../strategies/strategy.js";

export interface BatchingOptions {
  /** Most texts in one encoder call. */
  maxBatch: number;
  /** Longest a text waits for others before its call starts. */
  maxWaitMs: number;
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
  let running = false;

  const schedule = () => {
    if (running || waiting.length === 0) return;
    // maxWaitMs 0: an idle encoder starts at once; under load texts gather while it runs.
    if (waiting.length >= options.maxBatch || options.maxWaitMs <= 0) {
      void flush();
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
    if (running || waiting.length === 0) return;
    running = true;
    const batch = waiting.splice(0, options.maxBatch);
    options.onBatch?.(batch.length);
    try {
      // The batch span is a child of the request whose text started the flush (the context active then);
      // it carries the batch size, since it serves several requests at once.
      const predictions = await inSpan(`batch ${inner.name}`, { "tandem.strategy": inner.name, "tandem.batch.size": batch.length }, () => inner.classify(batch.map((w) => w.text)));
      batch.forEach((w, i) => w.resolve(predictions[i] as Prediction));
    } catch (error) {
      for (const w of batch) w.reject(error);
    } finally {
      running = false;
      // Texts that arrived while the encoder ran have waited already: start at once when enough wait.
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
