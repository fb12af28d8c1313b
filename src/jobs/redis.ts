/**
 * Jobs on many workers: chunks go onto a BullMQ queue in Redis; `tandem worker` processes (on this
 * machine or others) classify them and return the results through the queue; the server persists them
 * in SQLite and removes the chunk from Redis at once, so Redis holds only chunks in flight. A worker
 * killed mid-chunk loses no row: BullMQ's stalled-job check hands the chunk to another worker. Each
 * slice of a chunk is kept in Redis as it lands, so the retry redoes (and pays for) only the slice that
 * was in flight.
 */
import { randomUUID } from "node:crypto";
import { Queue, QueueEvents, Worker, type Job } from "bullmq";
import { Redis as IORedis } from "ioredis";
import { UserError } from "../core/errors.js";
import type { StrategySet } from "../strategies/factory.js";
import type { Prediction } from "../strategies/strategy.js";
import { classifyRows, type JobQueue } from "./queue.js";
import type { ChunkRows, JobRecord, JobStore } from "./store.js";

export const QUEUE_NAME = "tandem-chunks";

type ChunkResult = Array<{ row: number; prediction: Prediction }>;

/**
 * A Redis client for BullMQ (which needs maxRetriesPerRequest null for its blocking calls). The URL may
 * hold a password: it goes to the client only, never into messages.
 */
export function redisConnection(url: string): IORedis {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UserError("invalid Redis URL (e.g. redis://127.0.0.1:6379)");
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") throw new UserError(`invalid Redis URL: use redis://HOST:PORT (not ${parsed.protocol})`);
  return new IORedis(url, { maxRetriesPerRequest: null, lazyConnect: false });
}

/** Redis answers within 10 s, or a one-line error (ioredis itself would retry for ever). */
async function reachable<T>(ready: Promise<T>, seconds = 10): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([ready, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new UserError(`Redis did not answer within ${seconds} s (is it running? check --redis / REDIS_URL)`)), seconds * 1000)))]);
  } finally {
    clearTimeout(timer);
  }
}

const chunkId = (jobId: string, chunk: number) => `${jobId}--${chunk}`;
const partialKey = (jobId: string, chunk: number) => `tandem:partial:${jobId}:${chunk}`;

export interface RedisQueueOptions {
  redis: string;
  queueName?: string;
  /** Attempts of a chunk that throws (a killed worker's chunk is retried by the stalled check, not counted here). */
  attempts?: number;
  log?: (message: string, error?: unknown) => void;
}

/** The server side: enqueues chunks and persists what workers return. */
export class RedisJobQueue implements JobQueue {
  private readonly queue: Queue;
  private readonly events: QueueEvents;
  private readonly log: (message: string, error?: unknown) => void;
  private sweeping: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly connections: IORedis[];

  /** A key this server writes once: when it is gone, Redis lost its data (restarted without persistence). */
  private readonly markerKey: string;
  private readonly marker = randomUUID();

  constructor(private readonly store: JobStore, private readonly options: RedisQueueOptions) {
    const name = options.queueName ?? QUEUE_NAME;
    this.markerKey = `tandem:queue-marker:${name}`;
    this.log = options.log ?? (() => {});
    this.connections = [redisConnection(options.redis), redisConnection(options.redis)];
    this.queue = new Queue(name, { connection: this.connections[0]! });
    this.events = new QueueEvents(name, { connection: this.connections[1]! });
    this.events.on("completed", () => this.sweep());
    this.events.on("failed", ({ jobId, failedReason }) => void this.onFailed(jobId, failedReason));
    // A worker took a chunk: its job is running (the embedded queue says so too).
    this.events.on("active", ({ jobId }) => {
      const at = jobId.lastIndexOf("--");
      if (at > 0) this.store.markChunk(jobId.slice(0, at), Number(jobId.slice(at + 2)), "running");
    });
    // Also on a timer: completions while this server was down, or events missed, are persisted too; and
    // chunks Redis lost are queued again from the database.
    this.timer = setInterval(() => this.sweep(), 2000);
  }

  /** Checks the connection and persists what finished while no server listened; re-enqueues unfinished chunks. */
  async start(): Promise<void> {
    try {
      await reachable(Promise.all([this.queue.waitUntilReady(), this.events.waitUntilReady()]));
    } catch (error) {
      await this.close().catch(() => {});
      throw error;
    }
    await (await this.queue.getBackend().client).set(this.markerKey, this.marker);
    await this.sweep();
    await this.requeuePending();
  }

  /** Every unfinished chunk of every unfinished job onto the queue again (idempotent: chunk ids are fixed). */
  private async requeuePending(): Promise<number> {
    const pending = this.store.pendingChunks();
    for (const id of new Set(pending.map((c) => c.jobId))) await this.enqueue(this.store.job(id)!);
    return pending.length;
  }

  /**
   * Redis without persistence forgets everything when it restarts: the chunks waiting and in flight, and
   * the slices kept of them. The database still knows which chunks are unfinished, so they go back on the
   * queue (a chunk a worker finishes meanwhile is saved once: saveChunk ignores a chunk already done).
   */
  private async recoverLostQueue(): Promise<void> {
    const client = await this.queue.getBackend().client;
    if ((await client.get(this.markerKey)) !== null) return;
    await client.set(this.markerKey, this.marker);
    const chunks = await this.requeuePending();
    this.log(`Redis lost its data (restarted without persistence?): ${chunks} unfinished chunks queued again from the database`);
  }

  async enqueue(job: JobRecord): Promise<void> {
    const pending = this.store.pendingChunks({ jobId: job.id });
    // Custom ids make enqueuing idempotent: a chunk already on the queue is not added twice.
    await this.queue.addBulk(pending.map(({ chunk }) => ({
      name: "chunk",
      data: this.store.chunkRows(job.id, chunk),
      opts: { jobId: chunkId(job.id, chunk), attempts: this.options.attempts ?? 3, backoff: { type: "exponential", delay: 1000 }, removeOnComplete: false, removeOnFail: false },
    })));
    for (const { chunk } of pending) this.store.markChunk(job.id, chunk, "queued");
  }

  async cancel(jobId: string): Promise<void> {
    const waiting = await this.queue.getJobs(["waiting", "delayed", "prioritized"]);
    for (const job of waiting) if ((job.data as ChunkRows).jobId === jobId) await job.remove().catch(() => {});
  }

  private sweep(): Promise<void> {
    return (this.sweeping ??= (async () => {
      await this.recoverLostQueue();
      await this.persistCompleted();
    })()
      .catch((error: unknown) => this.log("persisting finished chunks failed", error))
      .finally(() => (this.sweeping = undefined)));
  }

  private async persistCompleted(): Promise<void> {
    for (;;) {
      const done = await this.queue.getCompleted(0, 99);
      if (done.length === 0) return;
      for (const job of done) await this.persist(job);
    }
  }

  private async persist(job: Job): Promise<void> {
    const data = job.data as ChunkRows;
    const results = job.returnvalue as ChunkResult | null;
    if (results) this.store.saveChunk(data.jobId, data.chunk, results);
    await job.remove();
    await (await this.queue.getBackend().client).del(partialKey(data.jobId, data.chunk));
  }

  private async onFailed(id: string, reason: string): Promise<void> {
    const job = await this.queue.getJob(id);
    if (!job || job.attemptsMade < (job.opts.attempts ?? 1)) return;
    const data = job.data as ChunkRows;
    this.store.failJob(data.jobId, `chunk ${data.chunk} failed ${job.attemptsMade} times: ${reason}`);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.sweeping;
    await this.events.close();
    await this.queue.close();
    for (const connection of this.connections) connection.disconnect();
  }
}

export interface WorkerOptions {
  redis: string;
  queueName?: string;
  /** Chunks processed at once by this worker. */
  concurrency?: number;
  /** Rows per slice kept in Redis as they land (bounds what a killed worker's retry pays again). */
  slice?: number;
  /** Seconds a chunk's lock lasts without renewal: a killed worker's chunk is retried after about this long. */
  lockSeconds?: number;
  onChunk?: (chunk: ChunkRows, seconds: number) => void;
  log?: (message: string, error?: unknown) => void;
}

/** A worker process's loop: take a chunk, classify it slice by slice, return its results. */
export async function runWorker(set: StrategySet, options: WorkerOptions): Promise<{ worker: Worker; close(): Promise<void> }> {
  const connection = redisConnection(options.redis);
  const lockDuration = (options.lockSeconds ?? 30) * 1000;
  const worker = new Worker(
    options.queueName ?? QUEUE_NAME,
    async (job: Job) => {
      const started = performance.now();
      const data = job.data as ChunkRows;
      const strategy = set.strategies.get(data.strategy);
      if (!strategy) throw new Error(`this worker has no strategy "${data.strategy}" (${[...set.strategies.keys()].join(", ")})`);
      const client = await worker.getBackend().client;
      const key = partialKey(data.jobId, data.chunk);
      const kept = await client.hgetall(key);
      const done = new Map(Object.entries(kept).map(([row, json]) => [Number(row), JSON.parse(String(json)) as Prediction]));
      const results = await classifyRows(strategy, data.rows, {
        slice: options.slice ?? 32,
        done,
        onSlice: async (landed) => {
          if (landed.length === 0) return;
          await client.hset(key, Object.fromEntries(landed.map((r) => [String(r.row), JSON.stringify(r.prediction)])));
        },
      });
      options.onChunk?.(data, (performance.now() - started) / 1000);
      return results;
    },
    { connection, concurrency: options.concurrency ?? 1, lockDuration, stalledInterval: lockDuration, maxStalledCount: 10 },
  );
  worker.on("failed", (job, error) => options.log?.(`chunk ${job?.id} failed`, error));
  // While Redis is away the client retries with backoff; the worker says so once a minute, not on every try.
  let lastSaid = 0;
  let quiet = 0;
  worker.on("error", (error) => {
    const now = Date.now();
    if (now - lastSaid < 60_000) return void quiet++;
    options.log?.(quiet > 0 ? `worker error (${quiet} more since the last one; retrying with backoff)` : "worker error (retrying with backoff)", error);
    lastSaid = now;
    quiet = 0;
  });
  try {
    await reachable(worker.waitUntilReady());
  } catch (error) {
    await worker.close(true).catch(() => {});
    connection.disconnect();
    throw error;
  }
  return {
    worker,
    close: async () => {
      await worker.close();
      connection.disconnect();
    },
  };
}
