/**
 * Fine-tuning jobs through any vendor's FineTuner (OpenAI and compatible servers, Mistral, Together):
 * upload the files, create the job, and follow its events and metrics until it ends. Every job and
 * the events seen are kept in the state database, so `follow` resumes after Ctrl-C or a network
 * failure, and the fine-tuned model id is recorded when the job succeeds.
 */
import { existsSync } from "node:fs";
import { UserError } from "../core/errors.js";
import { migrate, type Store } from "../core/store.js";
import { providerMessage, type FineTuner, type TunerHyperparameters } from "../llm/tuning/tuner.js";

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

export interface StartOptions {
  tuner: FineTuner;
  db: Store;
  spec: string;
  baseModel: string;
  trainingPath: string;
  validationPath?: string;
  hyperparameters: TunerHyperparameters;
  seed?: number;
  suffix?: string;
  sweep?: string;
  estimateUsd?: number | null;
  metadata?: unknown;
  /** Already uploaded files (a sweep uploads once per vendor endpoint). */
  uploaded?: { training: string; validation?: string };
}

export async function uploadTrainingFiles(tuner: FineTuner, trainingPath: string, validationPath?: string): Promise<{ training: string; validation?: string }> {
  const upload = async (path: string) => {
    if (!existsSync(path)) throw new UserError("file not found", { file: path });
    try {
      return await tuner.upload(path);
    } catch (error) {
      throw new UserError(`upload to ${tuner.vendor} rejected: ${providerMessage(error)}`, { file: path });
    }
  };
  const training = await upload(trainingPath);
  const validation = validationPath ? await upload(validationPath) : undefined;
  return { training, validation };
}

export async function startJob(options: StartOptions): Promise<JobRow> {
  const files = options.uploaded ?? (await uploadTrainingFiles(options.tuner, options.trainingPath, options.validationPath));
  let job: Awaited<ReturnType<FineTuner["create"]>>;
  try {
    job = await options.tuner.create({ baseModel: options.baseModel, trainingFile: files.training, validationFile: files.validation, hyperparameters: options.hyperparameters, seed: options.seed, suffix: options.suffix });
  } catch (error) {
    throw new UserError(`${options.tuner.vendor} refused the job: ${providerMessage(error)}`);
  }
  const now = new Date().toISOString();
  const row: JobRow = {
    id: job.id,
    spec: options.spec,
    base_model: options.baseModel,
    status: job.status,
    fine_tuned_model: job.fineTunedModel,
    training_file: files.training,
    validation_file: files.validation ?? null,
    hyperparameters: JSON.stringify(job.sent),
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

/** Refreshes a job from its vendor and stores its new events; returns the new events, oldest first. */
export async function refreshJob(tuner: FineTuner, db: Store, id: string): Promise<{ row: JobRow; events: FollowEvent[] }> {
  const row = jobRow(db, id);
  const job = await tuner.retrieve(id);
  const events = await tuner.events(id, row.last_event);
  const insert = db.prepare(
    "INSERT OR IGNORE INTO finetune_events (job_id, event_id, created_at, level, message, step, train_loss, valid_loss) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
  );
  // Vendors that list every event each time: only the ones not stored yet are new.
  const fresh = events.filter((event) => insert.run(id, event.id, event.createdAt, event.level ?? null, event.message, event.step ?? null, event.trainLoss ?? null, event.validLoss ?? null).changes > 0);
  const followEvents: FollowEvent[] = fresh.map((event) => ({ jobId: id, message: event.message, step: event.step, trainLoss: event.trainLoss, validLoss: event.validLoss, totalSteps: event.totalSteps, createdAt: event.createdAt }));
  const lastEvent = events.length > 0 ? events[events.length - 1]!.id : row.last_event;
  db.prepare("UPDATE finetune_jobs SET status = ?, fine_tuned_model = ?, trained_tokens = ?, error = ?, last_event = ?, updated_at = ? WHERE id = ?").run(
    job.status,
    job.fineTunedModel,
    job.trainedTokens,
    job.error,
    lastEvent,
    new Date().toISOString(),
    id,
  );
  return { row: jobRow(db, id), events: followEvents };
}

export async function cancelJob(tuner: FineTuner, db: Store, id: string): Promise<JobRow> {
  jobRow(db, id);
  try {
    await tuner.cancel(id);
  } catch (error) {
    throw new UserError(`cancel refused: ${providerMessage(error)}`);
  }
  return (await refreshJob(tuner, db, id)).row;
}
