/**
 * The gateway's state in the state database: each task's stage and student, its counters, and the
 * unmatched prompts kept for `tandem gateway tasks`. The labels themselves are in the label store (strategy
 * `gateway:TASK`), with the serve command's.
 */
import { migrate, type Store } from "../core/store.js";
import type { RecordedPrompt } from "./templates.js";
import type { Wire } from "./wire.js";

export type Stage = "record" | "shadow" | "serve";

export interface StudentRecord {
  /** The distilled folder (model/, cascade.yaml, distill.json). */
  dir: string;
  tau: number;
  certified: boolean;
  /** Share of the calibration texts the student keeps at τ: the projected local share. */
  localShare: number;
  /** The student's agreement with the upstream on calibration texts. */
  agreement: number | null;
  /** Labels it was distilled from. */
  labels: number;
  at: string;
}

export interface TaskState {
  name: string;
  stage: Stage;
  /** When the stage began (labels recorded since then feed the next distill after a drift alarm). */
  since: string;
  /** Counts distills and alarms: a new generation distills from the labels recorded since it began. */
  generation: number;
  student: StudentRecord | null;
  /** The last distill: its state, error, time and how many labels it was given. */
  distill: { state: "idle" | "running" | "failed"; error: string | null; at: string | null; labels?: number };
  /** Stage changes, newest last (at most 50). */
  history: Array<{ at: string; from: Stage; to: Stage; why: string }>;
  /** Bumped by every change, so that a gateway sees a change made by the CLI. */
  revision: number;
}

export interface TaskCounters {
  requests: number;
  /** Answered by the student. */
  local: number;
  forwarded: number;
  /** Forwarded answers with no label (returned unchanged, not learned from). */
  unparseable: number;
  /** Dollars paid upstream for the task's forwarded requests. */
  forwardedUsd: number;
  /** Audit calls (kept answers asked upstream too) and their dollars. */
  audits: number;
  auditUsd: number;
  /** Dollars the local answers would have cost upstream (at the mean cost of the task's forwarded requests). */
  savedUsd: number;
}

export const ZERO_COUNTERS: TaskCounters = { requests: 0, local: 0, forwarded: 0, unparseable: 0, forwardedUsd: 0, audits: 0, auditUsd: 0, savedUsd: 0 };

interface TaskRow {
  name: string;
  stage: string;
  since: string;
  generation: number;
  student: string | null;
  distill: string;
  history: string;
  revision: number;
  counters: string;
}

export class GatewayStore {
  constructor(private readonly db: Store) {
    migrate(
      db,
      "gateway_v1",
      `CREATE TABLE gateway_tasks (name TEXT PRIMARY KEY, stage TEXT NOT NULL, since TEXT NOT NULL, generation INTEGER NOT NULL, student TEXT, distill TEXT NOT NULL,
         history TEXT NOT NULL, revision INTEGER NOT NULL, counters TEXT NOT NULL);
       CREATE TABLE gateway_unmatched (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, wire TEXT NOT NULL, model TEXT NOT NULL, messages TEXT NOT NULL,
         answer TEXT, response_format TEXT);`,
    );
  }

  /** The task's state, created at `record` the first time. */
  task(name: string): TaskState & { counters: TaskCounters } {
    const row = this.db.prepare("SELECT * FROM gateway_tasks WHERE name = ?").get(name) as TaskRow | undefined;
    if (row) return this.read(row);
    const state: TaskState = { name, stage: "record", since: new Date().toISOString(), generation: 1, student: null, distill: { state: "idle", error: null, at: null }, history: [], revision: 1 };
    this.db
      .prepare("INSERT OR IGNORE INTO gateway_tasks (name, stage, since, generation, student, distill, history, revision, counters) VALUES (?, ?, ?, ?, NULL, ?, '[]', 1, ?)")
      .run(name, state.stage, state.since, state.generation, JSON.stringify(state.distill), JSON.stringify(ZERO_COUNTERS));
    return this.read(this.db.prepare("SELECT * FROM gateway_tasks WHERE name = ?").get(name) as TaskRow);
  }

  /** Every task the database knows (the CLI's view, without a running gateway). */
  tasks(): Array<TaskState & { counters: TaskCounters }> {
    return (this.db.prepare("SELECT * FROM gateway_tasks ORDER BY name").all() as TaskRow[]).map((row) => this.read(row));
  }

  revision(name: string): number | undefined {
    return (this.db.prepare("SELECT revision FROM gateway_tasks WHERE name = ?").get(name) as { revision: number } | undefined)?.revision;
  }

  private read(row: TaskRow): TaskState & { counters: TaskCounters } {
    return {
      name: row.name,
      stage: row.stage as Stage,
      since: row.since,
      generation: row.generation,
      student: row.student ? (JSON.parse(row.student) as StudentRecord) : null,
      distill: JSON.parse(row.distill) as TaskState["distill"],
      history: JSON.parse(row.history) as TaskState["history"],
      revision: row.revision,
      counters: { ...ZERO_COUNTERS, ...(JSON.parse(row.counters) as Partial<TaskCounters>) },
    };
  }

  /** Changes a task's state from its stored value, under one write lock (the gateway and the CLI both write); the revision is bumped. */
  update(name: string, change: (state: TaskState) => TaskState): TaskState {
    return this.db
      .transaction(() => {
        const { counters: _counters, ...current } = this.task(name);
        const next = change(current);
        const revision = current.revision + 1;
        this.db
          .prepare("UPDATE gateway_tasks SET stage = ?, since = ?, generation = ?, student = ?, distill = ?, history = ?, revision = ? WHERE name = ?")
          .run(next.stage, next.since, next.generation, next.student ? JSON.stringify(next.student) : null, JSON.stringify(next.distill), JSON.stringify(next.history.slice(-50)), revision, name);
        return { ...next, history: next.history.slice(-50), revision };
      })
      .immediate();
  }

  saveCounters(name: string, counters: TaskCounters): void {
    this.db.prepare("UPDATE gateway_tasks SET counters = ? WHERE name = ?").run(JSON.stringify(counters), name);
  }

  /** Keeps an unmatched prompt, dropping the oldest beyond `keep`. */
  keepUnmatched(prompt: RecordedPrompt, keep: number): void {
    if (keep <= 0) return;
    const insert = this.db.prepare("INSERT INTO gateway_unmatched (at, wire, model, messages, answer, response_format) VALUES (?, ?, ?, ?, ?, ?)");
    const info = insert.run(new Date().toISOString(), prompt.wire, prompt.model, JSON.stringify(prompt.messages), prompt.answer, prompt.responseFormat ? JSON.stringify(prompt.responseFormat) : null);
    const id = Number(info.lastInsertRowid);
    if (id % 100 === 0) this.db.prepare("DELETE FROM gateway_unmatched WHERE id <= ?").run(id - keep);
  }

  unmatched(limit = 20_000): RecordedPrompt[] {
    const rows = this.db.prepare("SELECT wire, model, messages, answer, response_format FROM gateway_unmatched ORDER BY id DESC LIMIT ?").all(limit) as Array<{ wire: string; model: string; messages: string; answer: string | null; response_format: string | null }>;
    return rows.reverse().map((r) => ({ wire: r.wire as Wire, model: r.model, messages: JSON.parse(r.messages) as RecordedPrompt["messages"], answer: r.answer, ...(r.response_format ? { responseFormat: JSON.parse(r.response_format) as Record<string, unknown> } : {}) }));
  }
}

/** Promote or demote from outside a running gateway (the CLI): checked, written, picked up by the gateway within a second. */
export function changeStage(store: GatewayStore, name: string, to: "serve" | "shadow", why: string): TaskState {
  const known = store.tasks().find((t) => t.name === name);
  if (!known) throw new Error(`no task "${name}" in this state database (tasks appear once the gateway has seen their requests)`);
  if (to === "serve") {
    if (!known.student) throw new Error(`task "${name}" has no student yet (stage ${known.stage}; distill ${known.distill.state}): it distills after distill_after recorded labels`);
    if (!known.student.certified) throw new Error(`task "${name}": its student is not certified (τ could not be set from ${known.student.labels} labels): wait for the next distill`);
  }
  if (to === "shadow" && !known.student) throw new Error(`task "${name}" has no student to shadow (stage ${known.stage})`);
  if (known.stage === to) return known;
  const now = new Date().toISOString();
  return store.update(name, (s) => ({ ...s, stage: to, history: [...s.history, { at: now, from: s.stage, to, why }] }));
}
