/**
 * Throttling for provider calls: a concurrency limit, requests-per-minute and tokens-per-minute
 * budgets (token buckets refilled continuously), and retries with exponential backoff and full jitter
 * that wait at least as long as the provider's Retry-After.
 */
import { ProviderError } from "./types.js";

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(timer), reject(signal.reason)), { once: true });
  });

/**
 * A per-minute budget paced smoothly: refilled continuously, holding at most `burstSeconds` worth (one
 * second by default) and starting empty unless told, so a run never bursts far past the provider's limit.
 */
class TokenBucket {
  private available: number;
  private updated = performance.now();
  private readonly capacity: number;

  constructor(private readonly perMinute: number, burstSeconds = 1, startFull = false) {
    this.capacity = Math.max(1, (perMinute / 60) * burstSeconds);
    this.available = startFull ? this.capacity : 0;
  }

  private refill(): void {
    const now = performance.now();
    this.available = Math.min(this.capacity, this.available + ((now - this.updated) * this.perMinute) / 60_000);
    this.updated = now;
  }

  /** Milliseconds until `amount` is available (0 = take it now). A request larger than the bucket waits for a full one. */
  wait(amount: number): number {
    this.refill();
    const needed = Math.min(amount, this.capacity);
    if (this.available >= needed) {
      this.available -= needed;
      return 0;
    }
    return ((needed - this.available) * 60_000) / this.perMinute;
  }

  /** Whether one unit is available now (nothing is taken). */
  ready(): boolean {
    this.refill();
    return this.available >= 1;
  }
}

export class RateLimiter {
  private readonly requests?: TokenBucket;
  private readonly tokens?: TokenBucket;
  private chain: Promise<void> = Promise.resolve();

  /** burstSeconds / startFull: how many requests may go at once (one second's worth by default) and whether the first may go at once. */
  constructor(options: { rpm?: number; tpm?: number; burstSeconds?: number; startFull?: boolean }) {
    if (options.rpm) this.requests = new TokenBucket(options.rpm, options.burstSeconds, options.startFull);
    if (options.tpm) this.tokens = new TokenBucket(options.tpm, options.burstSeconds, options.startFull);
  }

  /** Whether a request could go now without waiting (nothing is taken: see `take`). For callers that drop instead of waiting. */
  ready(): boolean {
    return this.requests?.ready() ?? true;
  }

  /** Takes one request slot now (after `ready` said yes). */
  take(): void {
    this.requests?.wait(1);
  }

  /** Waits for a request slot carrying about `tokens` tokens; callers are served in order. */
  acquire(tokens: number, signal?: AbortSignal): Promise<void> {
    const turn = this.chain.then(async () => {
      for (;;) {
        const wait = Math.max(this.requests?.wait(1) ?? 0, 0);
        if (wait > 0) {
          await sleep(wait, signal);
          continue;
        }
        const tokenWait = this.tokens?.wait(tokens) ?? 0;
        if (tokenWait > 0) {
          await sleep(tokenWait, signal);
          continue;
        }
        return;
      }
    });
    this.chain = turn.catch(() => undefined);
    return turn;
  }
}

export class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

export interface RetryOptions {
  maxRetries: number;
  baseDelayMs: number;
  maxDelayMs: number;
  random?: () => number;
  onRetry?: (error: ProviderError, attempt: number, delayMs: number) => void;
  signal?: AbortSignal;
}

/** Backoff before retry `attempt` (1-based): full jitter over base·2^(attempt−1), capped, never below Retry-After. */
export function backoffDelay(attempt: number, options: Pick<RetryOptions, "baseDelayMs" | "maxDelayMs" | "random">, retryAfterMs?: number): number {
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (attempt - 1));
  const jittered = (options.random ?? Math.random)() * ceiling;
  return Math.max(jittered, retryAfterMs ?? 0);
}

export async function withRetries<T>(call: () => Promise<T>, options: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const failure = error instanceof ProviderError ? error : new ProviderError(String(error), false);
      if (!failure.retryable || attempt > options.maxRetries) throw failure;
      const delay = backoffDelay(attempt, options, failure.retryAfterMs);
      options.onRetry?.(failure, attempt, delay);
      await sleep(delay, options.signal);
    }
  }
}
