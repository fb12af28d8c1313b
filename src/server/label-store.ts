/**
 * What a served cascade collects, in the state database: the audit pairs (the encoder's answer and the
 * LLM's on the same text), every LLM answer the cascade paid for, and user feedback (gold labels for
 * earlier answers). With the text, or only its sha256 when the strategy says store_texts: false. The
 * LLM answers become training data: `tandem serve export-labels` → `tandem distill --teacher-labels`.
 */
import { createHash } from "node:crypto";
import { migrate, type Store } from "../core/store.js";

export type LabelKind = "audit" | "llm";

export interface CollectedAnswer {
  /** The id of the classify result it belongs to. */
  id: string;
  strategy: string;
  kind: LabelKind;
  /** The member that answered the request (the LLM for kind llm, the encoder for audit). */
  answeredBy: string;
  text: string;
  storeText: boolean;
  llmLabel: string;
  encoderLabel: string | null;
  encoderConfidence: number | null;
  costUsd: number;
  /** In the uniform audit sample of this strategy's traffic (audited kept answers and the routed ones drawn with them). */
  sample: boolean;
  /** The LLM that gave llmLabel, as a strategy config (recorded once per distinct config; see `teacherOf`). */
  teacher?: Record<string, unknown>;
  /** How long the LLM took to answer (the gateway records it). */
  latencyMs?: number;
  at?: string;
}

export interface StoredLabel {
  id: string;
  strategy: string;
  kind: LabelKind | "feedback";
  at: string;
  text: string | null;
  textHash: string;
  llmLabel: string | null;
  encoderLabel: string | null;
  encoderConfidence: number | null;
  answeredBy: string | null;
  answer: string | null;
  costUsd: number;
  sample: boolean;
  feedbackLabel: string | null;
  /** The LLM's strategy config (as served), when recorded. */
  teacher: Record<string, unknown> | null;
}

interface Row {
  id: string;
  strategy: string;
  kind: string;
  at: string;
  text: string | null;
  text_hash: string;
  llm_label: string | null;
  encoder_label: string | null;
  encoder_confidence: number | null;
  answered_by: string | null;
  answer: string | null;
  cost_usd: number;
  sample: number;
  feedback_label: string | null;
  teacher_config?: string | null;
}

export function textHash(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

function stored(row: Row): StoredLabel {
  return {
    id: row.id, strategy: row.strategy, kind: row.kind as StoredLabel["kind"], at: row.at, text: row.text, textHash: row.text_hash,
    llmLabel: row.llm_label, encoderLabel: row.encoder_label, encoderConfidence: row.encoder_confidence, answeredBy: row.answered_by, answer: row.answer,
    costUsd: row.cost_usd, sample: row.sample === 1, feedbackLabel: row.feedback_label,
    teacher: row.teacher_config ? (JSON.parse(row.teacher_config) as Record<string, unknown>) : null,
  };
}

const SELECT = "SELECT served_labels.*, served_teachers.config AS teacher_config FROM served_labels LEFT JOIN served_teachers ON served_teachers.hash = served_labels.teacher";

export class LabelStore {
  constructor(private readonly db: Store) {
    migrate(
      db,
      "served_labels_v1",
      `CREATE TABLE served_labels (id TEXT PRIMARY KEY, strategy TEXT NOT NULL, kind TEXT NOT NULL, at TEXT NOT NULL, text TEXT, text_hash TEXT NOT NULL,
        llm_label TEXT, encoder_label TEXT, encoder_confidence REAL, answered_by TEXT, answer TEXT, cost_usd REAL NOT NULL DEFAULT 0, sample INTEGER NOT NULL DEFAULT 0,
        feedback_label TEXT, feedback_at TEXT);
       CREATE INDEX served_labels_strategy ON served_labels (strategy, at);
       CREATE TABLE audit_resets (strategy TEXT NOT NULL, at TEXT NOT NULL, reason TEXT);`,
    );
    // Which LLM answered: the next distill writes a cascade with the same teacher.
    migrate(
      db,
      "served_labels_v2_teacher",
      `ALTER TABLE served_labels ADD COLUMN teacher TEXT;
       CREATE TABLE served_teachers (hash TEXT PRIMARY KEY, config TEXT NOT NULL);`,
    );
    migrate(db, "served_labels_v3_latency", "ALTER TABLE served_labels ADD COLUMN latency_ms REAL;");
  }

  private readonly teachers = new Map<string, string>();

  /** The id of a teacher config, stored once. */
  private teacherId(config: Record<string, unknown>): string {
    const json = JSON.stringify(config);
    let hash = this.teachers.get(json);
    if (hash === undefined) {
      hash = textHash(json).slice(0, 16);
      this.db.prepare("INSERT OR IGNORE INTO served_teachers (hash, config) VALUES (?, ?)").run(hash, json);
      this.teachers.set(json, hash);
    }
    return hash;
  }

  /** An audit pair or a paid LLM answer (a later feedback on the same id keeps both). */
  collect(answer: CollectedAnswer): void {
    this.db
      .prepare(
        `INSERT INTO served_labels (id, strategy, kind, at, text, text_hash, llm_label, encoder_label, encoder_confidence, answered_by, answer, cost_usd, sample, teacher, latency_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET kind = excluded.kind, llm_label = excluded.llm_label, encoder_label = excluded.encoder_label, encoder_confidence = excluded.encoder_confidence, cost_usd = excluded.cost_usd, sample = excluded.sample, teacher = excluded.teacher`,
      )
      .run(answer.id, answer.strategy, answer.kind, answer.at ?? new Date().toISOString(), answer.storeText ? answer.text : null, textHash(answer.text), answer.llmLabel, answer.encoderLabel, answer.encoderConfidence, answer.answeredBy, answer.kind === "llm" ? answer.llmLabel : answer.encoderLabel, answer.costUsd, answer.sample ? 1 : 0, answer.teacher ? this.teacherId(answer.teacher) : null, answer.latencyMs ?? null);
  }

  /** A gold label for an answer (one per id: a second feedback replaces the first). Returns the label it replaced, if any. */
  feedback(entry: { id: string; strategy: string; text: string; storeText: boolean; answeredBy: string; answer: string; label: string }): string | null {
    const now = new Date().toISOString();
    const previous = (this.db.prepare("SELECT feedback_label FROM served_labels WHERE id = ?").get(entry.id) as { feedback_label: string | null } | undefined)?.feedback_label ?? null;
    this.db
      .prepare(
        `INSERT INTO served_labels (id, strategy, kind, at, text, text_hash, answered_by, answer, feedback_label, feedback_at) VALUES (?, ?, 'feedback', ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET feedback_label = excluded.feedback_label, feedback_at = excluded.feedback_at, answered_by = excluded.answered_by, answer = excluded.answer`,
      )
      .run(entry.id, entry.strategy, now, entry.storeText ? entry.text : null, textHash(entry.text), entry.answeredBy, entry.answer, entry.label, now);
    return previous;
  }

  /** The record of an answer id, if it was collected or got feedback. */
  get(id: string): StoredLabel | undefined {
    const row = this.db.prepare(`${SELECT} WHERE id = ?`).get(id) as Row | undefined;
    return row ? stored(row) : undefined;
  }

  /** The audit sample of a strategy since its last reset (audit pairs and the LLM's answers drawn with them), oldest first: the watch's outcomes, to rebuild it after a restart. */
  sampleSinceReset(strategy: string): StoredLabel[] {
    const reset = this.lastReset(strategy);
    return (this.db.prepare(`${SELECT} WHERE strategy = ? AND sample = 1 AND kind IN ('audit', 'llm') AND at > ? ORDER BY at, served_labels.rowid`).all(strategy, reset ?? "") as Row[]).map(stored);
  }

  /** Feedback of a strategy (since `since` when given), oldest first. */
  feedbackOf(strategy: string, since?: string): StoredLabel[] {
    return (this.db.prepare(`${SELECT} WHERE strategy = ? AND feedback_label IS NOT NULL AND feedback_at > ? ORDER BY feedback_at, served_labels.rowid`).all(strategy, since ?? "") as Row[]).map(stored);
  }

  reset(strategy: string, reason: string): string {
    const at = new Date().toISOString();
    this.db.prepare("INSERT INTO audit_resets (strategy, at, reason) VALUES (?, ?, ?)").run(strategy, at, reason);
    return at;
  }

  lastReset(strategy: string): string | undefined {
    return (this.db.prepare("SELECT MAX(at) AS at FROM audit_resets WHERE strategy = ?").get(strategy) as { at: string | null }).at ?? undefined;
  }

  /** Rows with an LLM label (audit, llm) of a strategy collected at or after `since`. */
  countSince(strategy: string, since: string): number {
    return (this.db.prepare("SELECT COUNT(*) AS n FROM served_labels WHERE strategy = ? AND kind IN ('audit', 'llm') AND llm_label IS NOT NULL AND at >= ?").get(strategy, since) as { n: number }).n;
  }

  /** Dollars of audit calls of a strategy since `since` (the start of the UTC day, for its daily budget). */
  auditCostSince(strategy: string, since: string): number {
    return (this.db.prepare("SELECT COALESCE(SUM(cost_usd), 0) AS usd FROM served_labels WHERE strategy = ? AND kind = 'audit' AND at >= ?").get(strategy, since) as { usd: number }).usd;
  }

  /** Rows for export, oldest first: those with an LLM answer (audit, llm), or with feedback too. */
  exportRows(filter: { strategy?: string; since?: string; kinds: ReadonlyArray<LabelKind | "feedback"> }): StoredLabel[] {
    const rows = this.db
      .prepare(`${SELECT} WHERE (? IS NULL OR strategy = ?) AND at >= ? ORDER BY at, served_labels.rowid`)
      .all(filter.strategy ?? null, filter.strategy ?? null, filter.since ?? "") as Row[];
    return rows.map(stored).filter((r) => filter.kinds.includes(r.kind) || (filter.kinds.includes("feedback") && r.feedbackLabel !== null));
  }
}

/** The columns `tandem serve export-labels` writes (what `tandem distill --teacher-labels` reads); teacher: the LLM's strategy config as JSON. */
export const EXPORT_COLUMNS = ["text", "label", "cost_usd", "kind", "sample", "strategy", "teacher", "at", "encoder_label", "encoder_confidence", "feedback_label", "id"] as const;

export interface ExportedLabels {
  rows: Array<Record<(typeof EXPORT_COLUMNS)[number], string | number | null>>;
  /** Rows left out because only the text's hash was stored (store_texts: false). */
  withoutText: number;
}

/**
 * The collected answers as teacher labels: `label` is the LLM's answer (the feedback's gold label for rows
 * with feedback only), `sample` 1 for the uniform audit sample, oldest first.
 */
export function exportLabels(store: LabelStore, filter: { strategy?: string; since?: string; kinds?: ReadonlyArray<LabelKind | "feedback"> }): ExportedLabels {
  const rows: ExportedLabels["rows"] = [];
  let withoutText = 0;
  for (const row of store.exportRows({ strategy: filter.strategy, since: filter.since, kinds: filter.kinds ?? ["audit", "llm"] })) {
    if (row.text === null) {
      withoutText++;
      continue;
    }
    const label = row.llmLabel ?? row.feedbackLabel;
    if (label === null) continue;
    rows.push({
      text: row.text, label, cost_usd: row.costUsd, kind: row.kind, sample: row.sample ? 1 : 0, strategy: row.strategy, teacher: row.teacher ? JSON.stringify(row.teacher) : null, at: row.at,
      encoder_label: row.encoderLabel, encoder_confidence: row.encoderConfidence, feedback_label: row.feedbackLabel, id: row.id,
    });
  }
  return { rows, withoutText };
}

/** The uniform sample among exported rows: how many, and the cascade's agreement with the LLM on them (a routed row agrees by construction). */
export function sampleSummary(rows: ExportedLabels["rows"]): { rows: number; sample: number; cascadeAgreement: number | null } {
  const sample = rows.filter((r) => r.sample === 1 && (r.kind === "audit" || r.kind === "llm"));
  const agreed = sample.filter((r) => r.kind === "llm" || r.encoder_label === r.label).length;
  return { rows: rows.length, sample: sample.length, cascadeAgreement: sample.length ? agreed / sample.length : null };
}
