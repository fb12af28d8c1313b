/**
 * The LLM response cache: responses keyed by a hash of (provider, model, messages, parameters), stored
 * in the state database as they arrive. A re-run costs nothing and gives the same answers; a killed run
 * restarted never pays twice for an item.
 */
import { createHash, randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { migrate, type Store } from "../core/store.js";
import type { ChatRequest, ChatResponse } from "./types.js";

export function cacheKey(provider: string, model: string, request: ChatRequest): string {
  const material = JSON.stringify({
    provider,
    model,
    messages: request.messages,
    labels: request.labels,
    temperature: request.temperature,
    // Absent unless set, so keys of seedless requests are what they always were.
    seed: request.seed,
    maxTokens: request.maxTokens,
    logprobs: request.logprobs,
    topLogprobs: request.logprobs ? request.topLogprobs : 0,
    structured: request.structured,
    // Absent for chat requests, so their keys are what they always were.
    completion: request.completion,
  });
  return createHash("sha256").update(material).digest("hex");
}

export interface CachedResponse {
  response: ChatResponse;
  costUsd: number;
}

/** This process, as the owner of the calls it has claimed. */
const OWNER = `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;

/** Whether the process that owns a claim still runs (always assumed for other machines' processes). */
function ownerAlive(owner: string): boolean {
  const [host, pid] = owner.split(":");
  if (host !== hostname() || !pid) return true;
  try {
    process.kill(Number(pid), 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export class ResponseCache {
  private readonly getStatement;
  private readonly putStatement;
  private readonly claimStatement;
  private readonly releaseStatement;
  private readonly holderStatement;

  constructor(private readonly db: Store) {
    migrate(
      db,
      "llm_cache_v1",
      `CREATE TABLE llm_cache (
         key TEXT PRIMARY KEY,
         provider TEXT NOT NULL,
         model TEXT NOT NULL,
         response TEXT NOT NULL,
         cost_usd REAL NOT NULL,
         created_at TEXT NOT NULL
       )`,
    );
    // Leases: a process about to pay for a call claims its key, so that another process (or request)
    // asking the same waits for that answer instead of paying for it again. A dead owner's lease expires.
    migrate(db, "llm_leases_v1", "CREATE TABLE llm_leases (key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at INTEGER NOT NULL)");
    this.claimStatement = db.prepare(
      "INSERT INTO llm_leases (key, owner, expires_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at WHERE llm_leases.expires_at < ?",
    );
    this.releaseStatement = db.prepare("DELETE FROM llm_leases WHERE key = ? AND owner = ?");
    this.holderStatement = db.prepare("SELECT owner FROM llm_leases WHERE key = ?");
    this.getStatement = db.prepare("SELECT response, cost_usd FROM llm_cache WHERE key = ?");
    this.putStatement = db.prepare(
      "INSERT OR REPLACE INTO llm_cache (key, provider, model, response, cost_usd, created_at) VALUES (?, ?, ?, ?, ?, ?)",
    );
  }

  get(key: string): CachedResponse | undefined {
    const row = this.getStatement.get(key) as { response: string; cost_usd: number } | undefined;
    return row ? { response: JSON.parse(row.response) as ChatResponse, costUsd: row.cost_usd } : undefined;
  }

  put(key: string, provider: string, model: string, response: ChatResponse, costUsd: number): void {
    this.putStatement.run(key, provider, model, JSON.stringify(response), costUsd, new Date().toISOString());
  }

  /** Claims the call of `key` for `ttlMs`; false while another live claim holds it. */
  claim(key: string, ttlMs: number): boolean {
    const now = Date.now();
    return this.claimStatement.run(key, OWNER, now + ttlMs, now).changes > 0;
  }

  release(key: string): void {
    this.releaseStatement.run(key, OWNER);
  }

  /**
   * The answer of a call claimed by someone else: waits until it is cached (returned) or the claim can be
   * taken over (undefined: the caller now holds it and makes the call).
   */
  async awaitClaimed(key: string, ttlMs: number, signal?: AbortSignal, pollMs = 100): Promise<CachedResponse | undefined> {
    for (;;) {
      const hit = this.get(key);
      if (hit) return hit;
      if (this.claim(key, ttlMs)) return undefined;
      // A claim of a process of this machine that is gone (killed) is void at once, not at its expiry.
      const holder = (this.holderStatement.get(key) as { owner: string } | undefined)?.owner;
      if (holder && !ownerAlive(holder)) {
        this.releaseStatement.run(key, holder);
        continue;
      }
      if (signal?.aborted) throw signal.reason ?? new Error("aborted");
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  count(): number {
    return (this.db.prepare("SELECT COUNT(*) AS n FROM llm_cache").get() as { n: number }).n;
  }
}
