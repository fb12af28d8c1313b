/**
 * Fine-tuning jobs through OpenAI's API (and OpenAI-compatible fine-tuning APIs via a base URL):
 * upload the files, create the job, and follow its events and metrics until it ends. Every job and
 * the last event seen are kept in the state database, so `follow` resumes after Ctrl-C or a network
 * failure, and the fine-tuned model id is recorded when the job succeeds.
 */
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import OpenAI, { toFile } from "openai";
import { UserError } from "../core/errors.js";
import { errorMessage, redact } from "../core/redact.js";
import { migrate, type Store } from "../core/store.js";

export interface JobRow {
  id: string;
  spec: string;
  base_model: string;
  status: string;
  fine_tuned_model: string | null;
  training_file: string;
  validation_file: string | null;
  hyperparameters: string;
  sweep: string | null;
  suffix: string | null;
  trained_tokens: number | null;
  estimate_usd: number | null;
  error: string | null;
  last_event: string | null;
  metadata: string | null;
  macro_f1: number | null;
  created_at: string;
  updated_at: string;
}

export function ensureJobTable(db: Store): void {
  migrate(
    db,
    "finetune_jobs_v1",
    `CREATE TABLE finetune_jobs (
       id TEXT PRIMARY KEY,
       spec TEXT NOT NULL,
       base_model TEXT NOT NULL,
       status TEXT NOT NULL,
       fine_tuned_model TEXT,
       training_file TEXT NOT NULL,
       validation_file TEXT,
       hyperparameters TEXT NOT NULL,
       sweep TEXT,
       suffix TEXT,
       trained_tokens INTEGER,
       estimate_usd REAL,
       error TEXT,
       last_event TEXT,
       metadata TEXT,
       macro_f1 REAL,
       created_at TEXT NOT NULL,
       updated_at TEXT NOT NULL
     );
     CREATE TABLE finetune_events (
       job_id TEXT NOT NULL,
       event_id TEXT NOT NULL,
       created_at INTEGER NOT NULL,
       level TEXT,
       message TEXT,
       step INTEGER,
       train_loss REAL,
       valid_loss REAL,
       PRIMARY KEY (job_id, event_id)
     );`,
  );
}

export interface Hyperparameters {
  n_epochs?: number | "auto";
  batch_size?: number | "auto";
  learning_rate_multiplier?: number | "auto";
}

export interface StartOptions {
  client: OpenAI;
  db: Store;
  spec: string;
  baseModel: string;
  trainingPath: string;
  validationPath?: string;
  hyperparameters: Hyperparameters;
  seed?: number;
  suffix?: string;
  sweep?: string;
  estimateUsd?: number | null;
  metadata?: unknown;
  /** Already uploaded files (a sweep uploads once). */
  uploaded?: { training: string; validation?: string };
}

/** Rejections and failures with the provider's message verbatim. */
export function providerMessage(error: unknown): string {
  // The SDK's message already starts with the HTTP status ("400 Job ... has already ended").
  if (error instanceof OpenAI.APIError) return redact(error.status === undefined ? `network error: ${error.message}` : error.message);
  return errorMessage(error);
}

export async function uploadTrainingFiles(client: OpenAI, trainingPath: string, validationPath?: string): Promise<{ training: string; validation?: string }> {
  const upload = async (path: string) => {
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch {
      throw new UserError("file not found", { file: path });
    }
    try {
      return (await client.files.create({ file: await toFile(bytes, basename(path)), purpose: "fine-tune" })).id;
    } catch (error) {
      throw new UserError(`upload rejected: ${providerMessage(error)}`, { file: path });
    }
  };
  const training = await upload(trainingPath);
  const validation = validationPath ? await upload(validationPath) : undefined;
  return { training, validation };
}

export async function startJob(options: StartOptions): Promise<JobRow> {
  const files = options.uploaded ?? (await uploadTrainingFiles(options.client, options.trainingPath, options.validationPath));
  const hyperparameters: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options.hyperparameters)) if (value !== undefined) hyperparameters[key] = value;
  let job: OpenAI.FineTuning.FineTuningJob;
  try {
    job = await options.client.fineTuning.jobs.create({
      model: options.baseModel,
      training_file: files.training,
      validation_file: files.validation,
      seed: options.seed,
      suffix: options.suffix,
      method: { type: "supervised", supervised: { hyperparameters } },
    });
  } catch (error) {
    throw new UserError(`the provider refused the job: ${providerMessage(error)}`);
  }
  const now = new Date().toISOString();
  const row: JobRow = {
    id: job.id,
    spec: options.spec,
    base_model: options.baseModel,
    status: job.status,
    fine_tuned_model: job.fine_tuned_model ?? null,
    training_file: files.training,
    validation_file: files.validation ?? null,
    hyperparameters: JSON.stringify(hyperparameters),
    sweep: options.sweep ?? null,
    suffix: options.suffix ?? null,
    trained_tokens: null,
    estimate_usd: options.estimateUsd ?? null,
    error: null,
    last_event: null,
    metadata: options.metadata === undefined ? null : JSON.stringify(options.metadata),
    macro_f1: null,
    created_at: now,
    updated_at: now,
  };
  ensureJobTable(options.db);
  options.db
    .prepare(
      `INSERT INTO finetune_jobs (id, spec, base_model, status, fine_tuned_model, training_file, validation_file, hyperparameters, sweep, suffix, trained_tokens, estimate_usd, error, last_event, metadata, macro_f1, created_at, updated_at)
       VALUES (@id, @spec, @base_model, @status, @fine_tuned_model, @training_file, @validation_file, @hyperparameters, @sweep, @suffix, @trained_tokens, @estimate_usd, @error, @last_event, @metadata, @macro_f1, @created_at, @updated_at)`,
    )
    .run(row);
  return row;
}

export function jobRow(db: Store, id: string): JobRow {
  ensureJobTable(db);
  const row = db.prepare("SELECT * FROM finetune_jobs WHERE id = ?").get(id) as JobRow | undefined;
  if (!row) throw new UserError(`no fine-tuning job ${id} in the state database (see \`tandem finetune list\`)`);
  return row;
}

export function listJobs(db: Store, sweep?: string): JobRow[] {
  ensureJobTable(db);
  return (sweep
    ? db.prepare("SELECT * FROM finetune_jobs WHERE sweep = ? ORDER BY created_at, id").all(sweep)
    : db.prepare("SELECT * FROM finetune_jobs ORDER BY created_at, id").all()) as JobRow[];
}

export function recordScore(db: Store, id: string, macroF1: number): void {
  db.prepare("UPDATE finetune_jobs SET macro_f1 = ?, updated_at = ? WHERE id = ?").run(macroF1, new Date().toISOString(), id);
}

const FINAL = new Set(["succeeded", "failed", "cancelled"]);
export const isFinal = (status: string) => FINAL.has(status);

export interface FollowEvent {
  jobId: string;
  message: string;
  step?: number;
  trainLoss?: number;
  validLoss?: number;
  totalSteps?: number;
  createdAt: number;
}

/** Refreshes a job from the provider and stores its new events; returns the new events, oldest first. */
export async function refreshJob(client: OpenAI, db: Store, id: string): Promise<{ row: JobRow; events: FollowEvent[] }> {
  const row = jobRow(db, id);
  const job = await client.fineTuning.jobs.retrieve(id);
  const events: OpenAI.FineTuning.FineTuningJobEvent[] = [];
  // Events come newest first; page back until the last one already stored.
  let after: string | undefined;
  for (;;) {
    const page = await client.fineTuning.jobs.listEvents(id, { limit: 100, ...(after ? { after } : {}) });
    const data = page.data ?? [];
    let reachedSeen = false;
    for (const event of data) {
      if (event.id === row.last_event) {
        reachedSeen = true;
        break;
      }
      events.push(event);
    }
    if (reachedSeen || !page.has_more || data.length === 0) break;
    after = data[data.length - 1]!.id;
  }
  events.reverse();
  const insert = db.prepare(
    "INSERT OR IGNORE INTO finetune_events (job_id, event_id, created_at, level, message, step, train_loss, valid_loss) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
  );
  const followEvents: FollowEvent[] = events.map((event) => {
    const data = (event.data ?? {}) as { step?: number; train_loss?: number; valid_loss?: number; total_steps?: number };
    insert.run(id, event.id, event.created_at, event.level, event.message, data.step ?? null, data.train_loss ?? null, data.valid_loss ?? null);
    return { jobId: id, message: event.message, step: data.step, trainLoss: data.train_loss, validLoss: data.valid_loss, totalSteps: data.total_steps, createdAt: event.created_at };
  });
  const lastEvent = events.length > 0 ? events[events.length - 1]!.id : row.last_event;
  const error = job.error ? redact(`${job.error.code ?? "error"}: ${job.error.message}`) : null;
  db.prepare("UPDATE finetune_jobs SET status = ?, fine_tuned_model = ?, trained_tokens = ?, error = ?, last_event = ?, updated_at = ? WHERE id = ?").run(
    job.status,
    job.fine_tuned_model ?? null,
    job.trained_tokens ?? null,
    error,
    lastEvent,
    new Date().toISOString(),
    id,
  );
  return { row: jobRow(db, id), events: followEvents };
}

export async function cancelJob(client: OpenAI, db: Store, id: string): Promise<JobRow> {
  jobRow(db, id);
  try {
    await client.fineTuning.jobs.cancel(id);
  } catch (error) {
    throw new UserError(`cancel refused: ${providerMessage(error)}`);
  }
  return (await refreshJob(client, db, id)).row;
}
