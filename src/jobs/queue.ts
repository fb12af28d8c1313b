/**
 * Where a job's chunks run: in this process (the default; chunks are persisted in SQLite, so a restart
 * resumes them) or on BullMQ workers (redis.ts). Both classify a chunk with the same function.
 */
import type { StrategySet } from "../strategies/factory.js";
import type { Prediction, Strategy } from "../strategies/strategy.js";
import type { JobRecord, JobStore } from "./store.js";

export interface JobQueue {
  /** Starts work on a job's chunks that are not done. */
  enqueue(job: JobRecord): Promise<void>;
  /** Drops a cancelled job's chunks that have not started. */
  cancel(jobId: string): Promise<void>;
  /** Stops taking chunks; the chunk in progress finishes. */
  close(): Promise<void>;
}

/**
 * Classifies a chunk's rows in slices, reporting each slice's results as it lands (so a worker can keep
 * them and a retry of the chunk redoes only the unfinished slice).
 */
export async function classifyRows(
  strategy: Strategy,
  rows: ReadonlyArray<{ row: number; text: string }>,
  options: { slice?: number; done?: ReadonlyMap<number, Prediction>; onSlice?: (results: Array<{ row: number; prediction: Prediction }>) => Promise<void> | void; signal?: AbortSignal } = {},
): Promise<Array<{ row: number; prediction: Prediction }>> {
  const results = new Map(options.done ?? []);
  const todo = rows.filter((r) => !results.has(r.row));
  const slice = options.slice ?? todo.length;
  for (let start = 0; start < todo.length; start += Math.max(1, slice)) {
    const part = todo.slice(start, start + Math.max(1, slice));
    const predictions = await strategy.classify(part.map((r) => r.text), { signal: options.signal });
    const landed = part.map((r, i) => ({ row: r.row, prediction: predictions[i] as Prediction }));
    for (const item of landed) results.set(item.row, item.prediction);
    await options.onSlice?.(landed);
  }
  return rows.map((r) => ({ row: r.row, prediction: results.get(r.row)! }));
}

/** Runs chunks one at a time in this process, oldest job first. */
export class LocalJobQueue implements JobQueue {
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly store: JobStore,
    private readonly strategies: () => StrategySet | undefined,
    private readonly log: (message: string, error?: unknown) => void = () => {},
  ) {}

  /** Resumes what a previous process left unfinished. */
  start(): void {
    this.kick();
  }

  async enqueue(): Promise<void> {
    this.kick();
  }

  async cancel(): Promise<void> {
    // Cancelled jobs' chunks are skipped by pendingChunks().
  }

  async close(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private kick(): void {
    if (this.running || this.stopped) return;
    this.running = this.drain().finally(() => {
      this.running = undefined;
      // Work enqueued while draining finished.
      if (!this.stopped && this.store.pendingChunks({ limit: 1 }).length > 0) this.kick();
    });
  }

  private async drain(): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      const set = this.strategies();
      const next = this.store.pendingChunks({ limit: 1 })[0];
      if (!set || !next) return;
      const chunk = this.store.chunkRows(next.jobId, next.chunk);
      const strategy = set.strategies.get(chunk.strategy);
      if (!strategy) {
        this.store.failJob(next.jobId, `the server has no strategy "${chunk.strategy}"`);
        continue;
      }
      this.store.markChunk(next.jobId, next.chunk, "running");
      try {
        this.store.saveChunk(next.jobId, next.chunk, await classifyRows(strategy, chunk.rows));
      } catch (error) {
        this.log(`job ${next.jobId} chunk ${next.chunk} failed`, error);
        this.store.failJob(next.jobId, `chunk ${next.chunk}: ${(error as Error).message ?? String(error)}`);
      }
    }
  }
}
