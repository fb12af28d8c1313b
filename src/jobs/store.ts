/**
 * Batch jobs in the state database: each job's input rows, its chunks and every row's result. A result
 * is written once per row (a retried chunk cannot write a row twice), and a chunk's results land in one
 * transaction, so a restart resumes exactly the chunks not yet done.
 */
import { randomBytes } from "node:crypto";
import { redact } from "../core/redact.js";
import { migrate, openStore, type Store } from "../core/store.js";
import type { Prediction, PredictionStatus } from "../strategies/strategy.js";

export type JobState = "queued" | "running" | "done" | "failed" | "cancelled";

export interface JobRecord {
  id: string;
  strategy: string;
  /** Input columns, in order. */
  columns: string[];
  textColumn: string;
  rows: number;
  chunkSize: number;
  chunks: number;
  state: JobState;
  /** Rows with a result. */
  done: number;
  /** Rows whose result has no label (unparseable, error, skipped). */
  failed: number;
  costUsd: number;
  error?: string;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
}

export interface ChunkRows {
  jobId: string;
  chunk: number;
  strategy: string;
  rows: Array<{ row: number; text: string }>;
}

interface JobRow {
  id: string;
  strategy: string;
  columns: string;
  text_column: string;
  rows: number;
  chunk_size: number;
  chunks: number;
  state: string;
  done: number;
  failed: number;
  cost_usd: number;
  error: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

const record = (row: JobRow): JobRecord => ({
  id: row.id,
  strategy: row.strategy,
  columns: JSON.parse(row.columns) as string[],
  textColumn: row.text_column,
  rows: row.rows,
  chunkSize: row.chunk_size,
  chunks: row.chunks,
  state: row.state as JobState,
  done: row.done,
  failed: row.failed,
  costUsd: row.cost_usd,
  error: row.error ?? undefined,
  createdAt: row.created_at,
  startedAt: row.started_at ?? undefined,
  finishedAt: row.finished_at ?? undefined,
});

export class JobStore {
  readonly db: Store;

  constructor(db?: Store | string) {
    this.db = typeof db === "object" ? db : openStore(db);
    migrate(
      this.db,
      "jobs_v1",
      `CREATE TABLE jobs (
         id TEXT PRIMARY KEY,
         strategy TEXT NOT NULL,
         columns TEXT NOT NULL,
         text_column TEXT NOT NULL,
         rows INTEGER NOT NULL,
         chunk_size INTEGER NOT NULL,
         chunks INTEGER NOT NULL,
         state TEXT NOT NULL,
         done INTEGER NOT NULL DEFAULT 0,
         failed INTEGER NOT NULL DEFAULT 0,
         cost_usd REAL NOT NULL DEFAULT 0,
         error TEXT,
         created_at TEXT NOT NULL,
         started_at TEXT,
         finished_at TEXT
       );
       CREATE TABLE job_inputs (
         job_id TEXT NOT NULL,
         row INTEGER NOT NULL,
         text TEXT NOT NULL,
         record TEXT NOT NULL,
         PRIMARY KEY (job_id, row)
       );
       CREATE TABLE job_chunks (
         job_id TEXT NOT NULL,
         chunk INTEGER NOT NULL,
         state TEXT NOT NULL,
         attempts INTEGER NOT NULL DEFAULT 0,
         PRIMARY KEY (job_id, chunk)
       );
       CREATE TABLE job_results (
         job_id TEXT NOT NULL,
         row INTEGER NOT NULL,
         label TEXT NOT NULL,
         probabilities TEXT,
         answered_by TEXT,
         raw TEXT,
         status TEXT NOT NULL,
         error TEXT,
         input_tokens INTEGER,
         output_tokens INTEGER,
         cost_usd REAL NOT NULL,
         cached INTEGER,
         PRIMARY KEY (job_id, row)
       );`,
    );
  }

  /** Records a job with its rows, split into chunks of `chunkSize` rows. */
  createJob(input: { strategy: string; columns: string[]; textColumn: string; chunkSize: number; rows: Array<{ text: string; record: Record<string, unknown> }> }): JobRecord {
    const id = `job-${new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "").replace("T", "-")}-${randomBytes(4).toString("hex")}`;
    const chunks = Math.ceil(input.rows.length / input.chunkSize);
    const insertRow = this.db.prepare("INSERT INTO job_inputs (job_id, row, text, record) VALUES (?, ?, ?, ?)");
    const insertChunk = this.db.prepare("INSERT INTO job_chunks (job_id, chunk, state) VALUES (?, ?, 'pending')");
    this.db.transaction(() => {
      this.db
        .prepare("INSERT INTO jobs (id, strategy, columns, text_column, rows, chunk_size, chunks, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?)")
        .run(id, input.strategy, JSON.stringify(input.columns), input.textColumn, input.rows.length, input.chunkSize, chunks, new Date().toISOString());
      input.rows.forEach((r, row) => insertRow.run(id, row, r.text, JSON.stringify(r.record)));
      for (let chunk = 0; chunk < chunks; chunk++) insertChunk.run(id, chunk);
    })();
    return this.job(id)!;
  }

  job(id: string): JobRecord | undefined {
    const row = this.db.prepare("SELECT * FROM jobs WHERE id = ?").get(id) as JobRow | undefined;
    return row ? record(row) : undefined;
  }

  listJobs(): JobRecord[] {
    return (this.db.prepare("SELECT * FROM jobs ORDER BY created_at DESC, id DESC").all() as JobRow[]).map(record);
  }

  /**
   * Chunks not yet done of unfinished jobs (of one job, when given), oldest job first, at most `limit`:
   * what a restarted server resumes and what the in-process queue takes next.
   */
  pendingChunks(options: { jobId?: string; limit?: number } = {}): Array<{ jobId: string; chunk: number }> {
    return this.db
      .prepare(
        `SELECT c.job_id AS jobId, c.chunk AS chunk FROM job_chunks c JOIN jobs j ON j.id = c.job_id
         WHERE c.state != 'done' AND j.state IN ('queued', 'running') AND (? IS NULL OR c.job_id = ?)
         ORDER BY j.created_at, c.job_id, c.chunk LIMIT ?`,
      )
      .all(options.jobId ?? null, options.jobId ?? null, options.limit ?? -1) as Array<{ jobId: string; chunk: number }>;
  }

  chunkRows(jobId: string, chunk: number): ChunkRows {
    const job = this.job(jobId)!;
    const rows = this.db.prepare("SELECT row, text FROM job_inputs WHERE job_id = ? AND row >= ? AND row < ? ORDER BY row").all(jobId, chunk * job.chunkSize, (chunk + 1) * job.chunkSize) as Array<{ row: number; text: string }>;
    return { jobId, chunk, strategy: job.strategy, rows };
  }

  markChunk(jobId: string, chunk: number, state: "pending" | "queued" | "running"): void {
    this.db.transaction(() => {
      this.db.prepare("UPDATE job_chunks SET state = ?, attempts = attempts + ? WHERE job_id = ? AND chunk = ? AND state != 'done'").run(state, state === "running" ? 1 : 0, jobId, chunk);
      if (state === "running") this.db.prepare("UPDATE jobs SET state = 'running', started_at = COALESCE(started_at, ?) WHERE id = ? AND state = 'queued'").run(new Date().toISOString(), jobId);
    })();
  }

  /**
   * A chunk's results, once: rows that already have a result keep it. Returns whether the chunk was new
   * (false for a retried chunk already saved, or a job no longer running).
   */
  saveChunk(jobId: string, chunk: number, results: ReadonlyArray<{ row: number; prediction: Prediction }>): boolean {
    const insert = this.db.prepare(
      "INSERT OR IGNORE INTO job_results (job_id, row, label, probabilities, answered_by, raw, status, error, input_tokens, output_tokens, cost_usd, cached) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    );
    return this.db.transaction(() => {
      const job = this.job(jobId);
      if (!job || job.state === "cancelled" || job.state === "done") return false;
      const state = this.db.prepare("SELECT state FROM job_chunks WHERE job_id = ? AND chunk = ?").get(jobId, chunk) as { state: string } | undefined;
      if (!state || state.state === "done") return false;
      let added = 0;
      let failed = 0;
      let cost = 0;
      for (const { row, prediction: p } of results) {
        const changes = insert.run(jobId, row, p.label, p.probabilities ? JSON.stringify(p.probabilities) : null, p.answeredBy ?? null, p.raw ?? null, p.status, p.error ?? null, p.inputTokens ?? null, p.outputTokens ?? null, p.costUsd, p.cached === undefined ? null : p.cached ? 1 : 0).changes;
        if (changes === 0) continue;
        added++;
        if (p.status !== "ok") failed++;
        cost += p.costUsd;
      }
      this.db.prepare("UPDATE job_chunks SET state = 'done' WHERE job_id = ? AND chunk = ?").run(jobId, chunk);
      // A queue that reports no chunk as taken (a missed event) still shows the job running once rows land.
      this.db.prepare("UPDATE jobs SET state = 'running', started_at = COALESCE(started_at, ?) WHERE id = ? AND state = 'queued'").run(new Date().toISOString(), jobId);
      this.db.prepare("UPDATE jobs SET done = done + ?, failed = failed + ?, cost_usd = cost_usd + ? WHERE id = ?").run(added, failed, cost, jobId);
      const left = this.db.prepare("SELECT COUNT(*) AS n FROM job_chunks WHERE job_id = ? AND state != 'done'").get(jobId) as { n: number };
      if (left.n === 0) this.db.prepare("UPDATE jobs SET state = 'done', finished_at = ? WHERE id = ?").run(new Date().toISOString(), jobId);
      return true;
    })();
  }

  /** A job that cannot go on (a chunk failed every attempt). */
  failJob(jobId: string, error: string): void {
    this.db.prepare("UPDATE jobs SET state = 'failed', error = ?, finished_at = ? WHERE id = ? AND state IN ('queued', 'running')").run(redact(error), new Date().toISOString(), jobId);
  }

  cancelJob(jobId: string): JobRecord | undefined {
    this.db.prepare("UPDATE jobs SET state = 'cancelled', finished_at = ? WHERE id = ? AND state IN ('queued', 'running')").run(new Date().toISOString(), jobId);
    return this.job(jobId);
  }

  /** Every row with its input record and result (when there is one), in input order, a page at a time. */
  *results(jobId: string, pageSize = 2000): Generator<{ row: number; record: Record<string, unknown>; prediction?: Prediction }> {
    const page = this.db.prepare(
      `SELECT i.row, i.record, r.label, r.probabilities, r.answered_by, r.raw, r.status, r.error, r.input_tokens, r.output_tokens, r.cost_usd, r.cached
       FROM job_inputs i LEFT JOIN job_results r ON r.job_id = i.job_id AND r.row = i.row
       WHERE i.job_id = ? AND i.row >= ? ORDER BY i.row LIMIT ?`,
    );
    for (let from = 0; ; from += pageSize) {
      const rows = page.all(jobId, from, pageSize) as Array<{ row: number; record: string; label: string | null; probabilities: string | null; answered_by: string | null; raw: string | null; status: string | null; error: string | null; input_tokens: number | null; output_tokens: number | null; cost_usd: number | null; cached: number | null }>;
      for (const r of rows) {
        yield {
          row: r.row,
          record: JSON.parse(r.record) as Record<string, unknown>,
          prediction: r.status === null ? undefined : {
            label: r.label ?? "",
            probabilities: r.probabilities ? (JSON.parse(r.probabilities) as number[]) : undefined,
            answeredBy: r.answered_by ?? undefined,
            raw: r.raw ?? undefined,
            status: r.status as PredictionStatus,
            error: r.error ?? undefined,
            inputTokens: r.input_tokens ?? undefined,
            outputTokens: r.output_tokens ?? undefined,
            costUsd: r.cost_usd ?? 0,
            cached: r.cached === null ? undefined : r.cached === 1,
          },
        };
      }
      if (rows.length < pageSize) return;
    }
  }
}
