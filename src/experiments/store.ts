/**
 * The run store: experiments, each strategy's metrics and timings, and every row's prediction, in the
 * state database. Every SQL statement about runs lives here.
 */
import { randomBytes } from "node:crypto";
import { migrate, openStore, type Store } from "../core/store.js";
import type { Prediction, PredictionStatus } from "../strategies/strategy.js";
import type { TrialRecord } from "../training/head-search.js";

function ensureRunTables(db: Store): void {
  migrate(
    db,
    "runs_v1",
    `CREATE TABLE runs (
       id TEXT PRIMARY KEY,
       name TEXT NOT NULL,
       config_hash TEXT NOT NULL,
       config TEXT NOT NULL,
       status TEXT NOT NULL,
       rows INTEGER NOT NULL,
       labels TEXT NOT NULL,
       gold TEXT NOT NULL,
       slices TEXT,
       created_at TEXT NOT NULL,
       finished_at TEXT
     );
     CREATE TABLE run_strategies (
       run_id TEXT NOT NULL,
       strategy TEXT NOT NULL,
       position INTEGER NOT NULL,
       type TEXT NOT NULL,
       seconds REAL NOT NULL,
       cost_usd REAL NOT NULL,
       training_cost_usd REAL NOT NULL,
       tokens INTEGER NOT NULL,
       evaluation TEXT NOT NULL,
       extra TEXT,
       PRIMARY KEY (run_id, strategy)
     );
     CREATE TABLE run_predictions (
       run_id TEXT NOT NULL,
       strategy TEXT NOT NULL,
       row INTEGER NOT NULL,
       label TEXT NOT NULL,
       probabilities TEXT,
       cost_usd REAL,
       PRIMARY KEY (run_id, strategy, row)
     );`,
  );
  // Replicates: every strategy result and prediction belongs to one replicate (0 = the first, the one
  // significance tests pair); rows stored before replicates existed become replicate 0.
  migrate(
    db,
    "runs_v2_replicates",
    `CREATE TABLE run_strategies_v2 (
       run_id TEXT NOT NULL,
       strategy TEXT NOT NULL,
       replicate INTEGER NOT NULL,
       seed INTEGER,
       position INTEGER NOT NULL,
       type TEXT NOT NULL,
       seconds REAL NOT NULL,
       cost_usd REAL NOT NULL,
       training_cost_usd REAL NOT NULL,
       tokens INTEGER NOT NULL,
       evaluation TEXT NOT NULL,
       extra TEXT,
       PRIMARY KEY (run_id, strategy, replicate)
     );
     INSERT INTO run_strategies_v2 SELECT run_id, strategy, 0, NULL, position, type, seconds, cost_usd, training_cost_usd, tokens, evaluation, extra FROM run_strategies;
     DROP TABLE run_strategies;
     ALTER TABLE run_strategies_v2 RENAME TO run_strategies;
     CREATE TABLE run_predictions_v2 (
       run_id TEXT NOT NULL,
       strategy TEXT NOT NULL,
       replicate INTEGER NOT NULL,
       row INTEGER NOT NULL,
       label TEXT NOT NULL,
       probabilities TEXT,
       cost_usd REAL,
       PRIMARY KEY (run_id, strategy, replicate, row)
     );
     INSERT INTO run_predictions_v2 SELECT run_id, strategy, 0, row, label, probabilities, cost_usd FROM run_predictions;
     DROP TABLE run_predictions;
     ALTER TABLE run_predictions_v2 RENAME TO run_predictions;`,
  );
  // Why a row has no label (status and reason) and who answered it, kept with every prediction.
  migrate(
    db,
    "runs_v3_status",
    `ALTER TABLE run_predictions ADD COLUMN status TEXT;
     ALTER TABLE run_predictions ADD COLUMN error TEXT;
     ALTER TABLE run_predictions ADD COLUMN answered_by TEXT;
     ALTER TABLE run_predictions ADD COLUMN raw TEXT;`,
  );
}

/** A run as stored. */
export interface RunRecord {
  id: string;
  name: string;
  configHash: string;
  /** The experiment config, as JSON. */
  config: string;
  status: "running" | "done";
  rows: number;
  labels: string[];
  gold: string[];
  slices?: string[];
  createdAt: string;
  finishedAt?: string;
}

/** One strategy's stored result (one replicate). */
export interface StrategyRecord {
  runId: string;
  strategy: string;
  replicate: number;
  seed?: number;
  position: number;
  type: string;
  seconds: number;
  costUsd: number;
  trainingCostUsd: number;
  tokens: number;
  /** The evaluation, as JSON. */
  evaluation: string;
  /** Strategy-specific extras (cascade curve, LLM share, notes), as JSON. */
  extra?: string;
}

interface RunRow {
  id: string;
  name: string;
  config_hash: string;
  config: string;
  status: string;
  rows: number;
  labels: string;
  gold: string;
  slices: string | null;
  created_at: string;
  finished_at: string | null;
}

interface StrategyRow {
  run_id: string;
  strategy: string;
  replicate: number;
  seed: number | null;
  position: number;
  type: string;
  seconds: number;
  cost_usd: number;
  training_cost_usd: number;
  tokens: number;
  evaluation: string;
  extra: string | null;
}

const runRecord = (row: RunRow): RunRecord => ({
  id: row.id,
  name: row.name,
  configHash: row.config_hash,
  config: row.config,
  status: row.status as RunRecord["status"],
  rows: row.rows,
  labels: JSON.parse(row.labels) as string[],
  gold: JSON.parse(row.gold) as string[],
  slices: row.slices ? (JSON.parse(row.slices) as string[]) : undefined,
  createdAt: row.created_at,
  finishedAt: row.finished_at ?? undefined,
});

const strategyRecord = (row: StrategyRow): StrategyRecord => ({
  runId: row.run_id,
  strategy: row.strategy,
  replicate: row.replicate,
  seed: row.seed ?? undefined,
  position: row.position,
  type: row.type,
  seconds: row.seconds,
  costUsd: row.cost_usd,
  trainingCostUsd: row.training_cost_usd,
  tokens: row.tokens,
  evaluation: row.evaluation,
  extra: row.extra ?? undefined,
});

/** A stored head search (tandem train head --search): its trials, best and baseline. */
export interface HeadSearchRecord {
  id: string;
  createdAt: string;
  /** What the trials trained: a head on frozen encodings (train head), or the whole encoder (train full). */
  kind?: "head" | "full";
  encoder: string;
  train: string;
  val: string;
  sampler: string;
  out: string;
  trials: TrialRecord[];
  bestTrial: number;
  bestScore: number;
  baselineScore: number;
}

function ensureSearchTables(db: Store): void {
  migrate(
    db,
    "head_searches_v1",
    `CREATE TABLE head_searches (
       id TEXT PRIMARY KEY,
       created_at TEXT NOT NULL,
       encoder TEXT NOT NULL,
       train TEXT NOT NULL,
       val TEXT NOT NULL,
       sampler TEXT NOT NULL,
       out TEXT NOT NULL,
       best_trial INTEGER NOT NULL,
       best_score REAL NOT NULL,
       baseline_score REAL NOT NULL
     );
     CREATE TABLE head_search_trials (
       search_id TEXT NOT NULL,
       trial INTEGER NOT NULL,
       params TEXT NOT NULL,
       scores TEXT NOT NULL,
       best REAL NOT NULL,
       status TEXT NOT NULL,
       seconds REAL NOT NULL,
       PRIMARY KEY (search_id, trial)
     );`,
  );
  migrate(db, "head_searches_v2_kind", "ALTER TABLE head_searches ADD COLUMN kind TEXT NOT NULL DEFAULT 'head';");
}

export class RunStore {
  readonly db: Store;

  /** A store (or a file; default .tandem/tandem.db or TANDEM_DB); creates or upgrades the tables. */
  constructor(db?: Store | string) {
    this.db = typeof db === "object" ? db : openStore(db);
    ensureRunTables(this.db);
    ensureSearchTables(this.db);
  }

  /** Stores a finished search (`train head --search` or `train full --search`) with every trial; returns its id. */
  saveHeadSearch(search: Omit<HeadSearchRecord, "id" | "createdAt">): HeadSearchRecord {
    const createdAt = new Date().toISOString();
    const id = `search-${createdAt.replace(/[-:T]/g, "").slice(0, 14)}-${randomBytes(3).toString("hex")}`;
    this.db.transaction(() => {
      this.db.prepare("INSERT INTO head_searches (id, created_at, kind, encoder, train, val, sampler, out, best_trial, best_score, baseline_score) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .run(id, createdAt, search.kind ?? "head", search.encoder, search.train, search.val, search.sampler, search.out, search.bestTrial, search.bestScore, search.baselineScore);
      const insert = this.db.prepare("INSERT INTO head_search_trials (search_id, trial, params, scores, best, status, seconds) VALUES (?, ?, ?, ?, ?, ?, ?)");
      for (const t of search.trials) insert.run(id, t.trial, JSON.stringify(t.params), JSON.stringify(t.scores), t.best, t.status, t.seconds);
    })();
    return { ...search, id, createdAt };
  }

  headSearch(id: string): HeadSearchRecord | undefined {
    const row = this.db.prepare("SELECT * FROM head_searches WHERE id = ?").get(id) as Record<string, string & number> | undefined;
    if (!row) return undefined;
    const trials = (this.db.prepare("SELECT * FROM head_search_trials WHERE search_id = ? ORDER BY trial").all(id) as Array<Record<string, string & number>>).map((t) => ({
      trial: t.trial, params: JSON.parse(t.params), scores: JSON.parse(t.scores), best: t.best, status: t.status as TrialRecord["status"], seconds: t.seconds,
    }));
    return { id, createdAt: row.created_at, kind: row.kind === "full" ? "full" : "head", encoder: row.encoder, train: row.train, val: row.val, sampler: row.sampler, out: row.out, trials, bestTrial: row.best_trial, bestScore: row.best_score, baselineScore: row.baseline_score };
  }

  /** The newest unfinished run of this config, to resume. */
  unfinishedRun(configHash: string): RunRecord | undefined {
    const row = this.db.prepare("SELECT * FROM runs WHERE config_hash = ? AND status = 'running' ORDER BY created_at DESC LIMIT 1").get(configHash) as RunRow | undefined;
    return row ? runRecord(row) : undefined;
  }

  /** Records a new run; its id is the name, the time, the config hash and a random part (unique across processes). */
  createRun(run: Pick<RunRecord, "name" | "configHash" | "config" | "rows" | "labels" | "gold" | "slices">): RunRecord {
    const now = new Date();
    const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\..*/, "").replace("T", "-");
    const id = `${run.name.replace(/[^\w.-]+/g, "-")}-${stamp}-${run.configHash.slice(0, 4)}${randomBytes(3).toString("hex")}`;
    this.db
      .prepare("INSERT INTO runs (id, name, config_hash, config, status, rows, labels, gold, slices, created_at) VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?)")
      .run(id, run.name, run.configHash, run.config, run.rows, JSON.stringify(run.labels), JSON.stringify(run.gold), run.slices ? JSON.stringify(run.slices) : null, now.toISOString());
    return { ...run, id, status: "running", createdAt: now.toISOString() };
  }

  finishRun(id: string): void {
    this.db.prepare("UPDATE runs SET status = 'done', finished_at = ? WHERE id = ?").run(new Date().toISOString(), id);
  }

  run(id: string): RunRecord | undefined {
    const row = this.db.prepare("SELECT * FROM runs WHERE id = ?").get(id) as RunRow | undefined;
    return row ? runRecord(row) : undefined;
  }

  /** Every run, newest first. */
  listRuns(): RunRecord[] {
    return (this.db.prepare("SELECT * FROM runs ORDER BY created_at DESC, id DESC").all() as RunRow[]).map(runRecord);
  }

  /** Every stored strategy result of a run, all replicates, in strategy order then replicate order. */
  strategyResults(runId: string): StrategyRecord[] {
    return (this.db.prepare("SELECT * FROM run_strategies WHERE run_id = ? ORDER BY position, replicate").all(runId) as StrategyRow[]).map(strategyRecord);
  }

  /** A strategy's result and its predictions, in one transaction (a kill leaves both or neither). */
  saveStrategyResult(result: StrategyRecord, predictions: readonly Prediction[]): void {
    const insert = this.db.prepare(
      "INSERT OR REPLACE INTO run_predictions (run_id, strategy, replicate, row, label, probabilities, cost_usd, status, error, answered_by, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    );
    this.db.transaction(() => {
      predictions.forEach((p, row) =>
        insert.run(result.runId, result.strategy, result.replicate, row, p.label, p.probabilities ? JSON.stringify(p.probabilities) : null, p.costUsd, p.status, p.error ?? null, p.answeredBy ?? null, p.raw ?? null),
      );
      this.db
        .prepare("INSERT OR REPLACE INTO run_strategies (run_id, strategy, replicate, seed, position, type, seconds, cost_usd, training_cost_usd, tokens, evaluation, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .run(result.runId, result.strategy, result.replicate, result.seed ?? null, result.position, result.type, result.seconds, result.costUsd, result.trainingCostUsd, result.tokens, result.evaluation, result.extra ?? null);
    })();
  }

  /** One strategy's predictions (one replicate), in row order. */
  predictions(runId: string, strategy: string, replicate = 0): Prediction[] {
    const rows = this.db
      .prepare("SELECT label, probabilities, cost_usd, status, error, answered_by, raw FROM run_predictions WHERE run_id = ? AND strategy = ? AND replicate = ? ORDER BY row")
      .all(runId, strategy, replicate) as Array<{ label: string; probabilities: string | null; cost_usd: number | null; status: string | null; error: string | null; answered_by: string | null; raw: string | null }>;
    return rows.map((r) => ({
      label: r.label,
      probabilities: r.probabilities ? (JSON.parse(r.probabilities) as number[]) : undefined,
      costUsd: r.cost_usd ?? 0,
      // Rows stored before statuses were kept: a label means ok.
      status: (r.status ?? (r.label ? "ok" : "error")) as PredictionStatus,
      error: r.error ?? undefined,
      answeredBy: r.answered_by ?? undefined,
      raw: r.raw ?? undefined,
    }));
  }
}
