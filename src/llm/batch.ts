/**
 * OpenAI's Batch API (half price, answers within 24 hours): the uncached requests are written as a JSONL
 * batch file, uploaded, and a batch is created; its id is kept in the state database so that a
 * restarted run resumes polling instead of paying again. Finished answers go into the response cache,
 * priced at the batch rate, and the normal run then reads them from there.
 */
import { createHash } from "node:crypto";
import OpenAI, { toFile } from "openai";
import { UserError } from "../core/errors.js";
import { migrate, type Store } from "../core/store.js";
import { cacheKey, type ResponseCache } from "./cache.js";
import { costOf, type PriceLookup } from "./pricing.js";
import { buildRequest, type LlmRunOptions } from "./runner.js";
import { chatCompletionBody, chatResponseFrom } from "./openai-wire.js";

export interface BatchProgress {
  batchId: string;
  status: string;
  completed: number;
  failed: number;
  total: number;
}

const FINAL = new Set(["completed", "failed", "expired", "cancelled"]);

function ensureTable(db: Store): void {
  migrate(
    db,
    "llm_batches_v1",
    `CREATE TABLE llm_batches (
       run_key TEXT PRIMARY KEY,
       batch_id TEXT NOT NULL,
       input_file_id TEXT NOT NULL,
       requests INTEGER NOT NULL,
       status TEXT NOT NULL,
       created_at TEXT NOT NULL,
       updated_at TEXT NOT NULL
     )`,
  );
}

interface BatchOutputLine {
  custom_id: string;
  response?: { status_code: number; body: OpenAI.Chat.ChatCompletion };
  error?: { message?: string } | null;
}

export interface BatchRunOptions {
  client: OpenAI;
  db: Store;
  cache: ResponseCache;
  prices: PriceLookup;
  pollSeconds?: number;
  onProgress?: (progress: BatchProgress) => void;
  signal?: AbortSignal;
}

/**
 * Sends the requests of `run` that are not cached through the Batch API and caches the answers.
 * Returns the number of answers added; failed lines are left uncached (the normal run then calls them).
 */
export async function fillCacheWithBatch(run: LlmRunOptions, options: BatchRunOptions): Promise<{ added: number; failed: number; costUsd: number; batchId?: string }> {
  ensureTable(options.db);
  const pending = new Map<string, ReturnType<typeof buildRequest>>();
  for (let i = 0; i < run.count; i++) {
    const request = buildRequest(run, run.messages(i));
    const key = cacheKey(run.model.provider, run.model.model, request);
    if (!options.cache.get(key)) pending.set(key, request);
  }
  if (pending.size === 0) return { added: 0, failed: 0, costUsd: 0 };
  const runKey = createHash("sha256").update([...pending.keys()].sort().join("\n")).digest("hex");
  let state = options.db.prepare("SELECT batch_id, status FROM llm_batches WHERE run_key = ?").get(runKey) as { batch_id: string; status: string } | undefined;
  if (!state || ["failed", "expired", "cancelled"].includes(state.status)) {
    const lines = [...pending.entries()].map(([key, request]) => JSON.stringify({ custom_id: key, method: "POST", url: "/v1/chat/completions", body: chatCompletionBody(run.model.model, request) }));
    const file = await options.client.files.create({ file: await toFile(Buffer.from(lines.join("\n") + "\n"), "tandem-batch.jsonl"), purpose: "batch" });
    const batch = await options.client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    const now = new Date().toISOString();
    options.db
      .prepare("INSERT OR REPLACE INTO llm_batches (run_key, batch_id, input_file_id, requests, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
      .run(runKey, batch.id, file.id, pending.size, batch.status, now, now);
    state = { batch_id: batch.id, status: batch.status };
  }
  let batch = await options.client.batches.retrieve(state.batch_id);
  for (;;) {
    options.db.prepare("UPDATE llm_batches SET status = ?, updated_at = ? WHERE run_key = ?").run(batch.status, new Date().toISOString(), runKey);
    options.onProgress?.({
      batchId: batch.id,
      status: batch.status,
      completed: batch.request_counts?.completed ?? 0,
      failed: batch.request_counts?.failed ?? 0,
      total: batch.request_counts?.total ?? pending.size,
    });
    if (FINAL.has(batch.status)) break;
    await new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, (options.pollSeconds ?? 30) * 1000);
      options.signal?.addEventListener("abort", () => (clearTimeout(timer), reject(new UserError(`stopped waiting for batch ${batch.id}; run the same command again to resume it`, {}, "interrupted"))), { once: true });
    });
    batch = await options.client.batches.retrieve(batch.id);
  }
  if (batch.status !== "completed") {
    throw new UserError(`batch ${batch.id} ended as ${batch.status}${batch.errors?.data?.length ? `: ${batch.errors.data.map((e) => e.message).join("; ")}` : ""}; run again to submit a new batch`);
  }
  let added = 0;
  let failed = 0;
  let costUsd = 0;
  if (batch.output_file_id) {
    const text = await (await options.client.files.content(batch.output_file_id)).text();
    for (const line of text.split("\n")) {
      if (line.trim() === "") continue;
      const item = JSON.parse(line) as BatchOutputLine;
      const completion = item.response?.body;
      const response = completion && item.response?.status_code === 200 && pending.has(item.custom_id) ? chatResponseFrom(completion, run.model.model) : undefined;
      if (!response) {
        failed++;
        continue;
      }
      const cost = costOf(response.usage, options.prices, true);
      options.cache.put(item.custom_id, run.model.provider, run.model.model, response, cost);
      costUsd += cost;
      added++;
    }
  }
  failed += Math.max(0, pending.size - added - failed);
  return { added, failed, costUsd, batchId: batch.id };
}
