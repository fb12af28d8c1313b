/** The run store: experiments, each strategy's metrics and timings, and every row's prediction, in the state database. */
import { migrate, type Store } from "../core/store.js";
import type { Prediction } from "../strategies/strategy.js";

export function ensureRunTables(db: Store): void {
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
}

export interface RunRow {
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

export interface StrategyRow {
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

export function savePredictions(db: Store, runId: string, strategy: string, predictions: Prediction[], replicate = 0): void {
  const insert = db.prepare("INSERT OR REPLACE INTO run_predictions (run_id, strategy, replicate, row, label, probabilities, cost_usd) VALUES (?, ?, ?, ?, ?, ?, ?)");
  db.transaction(() => {
    predictions.forEach((p, row) => insert.run(runId, strategy, replicate, row, p.label, p.probabilities ? JSON.stringify(p.probabilities) : null, p.costUsd ?? null));
  })();
}

export function loadPredictions(db: Store, runId: string, strategy: string, replicate = 0): Prediction[] {
  const rows = db.prepare("SELECT label, probabilities, cost_usd FROM run_predictions WHERE run_id = ? AND strategy = ? AND replicate = ? ORDER BY row").all(runId, strategy, replicate) as Array<{ label: string; probabilities: string | null; cost_usd: number | null }>;
  return rows.map((r) => ({ label: r.label, probabilities: r.probabilities ? (JSON.parse(r.probabilities) as number[]) : undefined, costUsd: r.cost_usd ?? undefined }));
}

export function listRuns(db: Store): RunRow[] {
  ensureRunTables(db);
  return db.prepare("SELECT * FROM runs ORDER BY created_at DESC, id DESC").all() as RunRow[];
}

/** Every stored strategy result of a run, all replicates, in strategy order then replicate order. */
export function strategyRows(db: Store, runId: string): StrategyRow[] {
  return db.prepare("SELECT * FROM run_strategies WHERE run_id = ? ORDER BY position, replicate").all(runId) as StrategyRow[];
}
