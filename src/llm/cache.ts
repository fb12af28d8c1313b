/**
 * The LLM response cache: responses keyed by a hash of (provider, model, messages, parameters), stored
 * in the state database as they arrive. A re-run costs nothing and gives the same answers; a killed run
 * restarted never pays twice for an item.
 */
import { createHash } from "node:crypto";
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
  });
  return createHash("sha256").update(material).digest("hex");
}

export interface CachedResponse {
  response: ChatResponse;
  costUsd: number;
}

export class ResponseCache {
  private readonly getStatement;
  private readonly putStatement;

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

  count(): number {
    return (this.db.prepare("SELECT COUNT(*) AS n FROM llm_cache").get() as { n: number }).n;
  }
}
