/**
 * One task's life in the gateway: record (forward, learn the upstream's labels), shadow (a distilled
 * student answers in the background only), serve (the certified cascade: the student answers what it
 * keeps at τ, the rest is forwarded), watch (the audit of the certified quantity — the cascade's agreement
 * with the upstream — and on a drift alarm back to record, to re-distill from the labels collected since).
 */
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { errorMessage } from "../core/redact.js";
import { Random } from "../core/random.js";
import { routesToLlm } from "../strategies/cascade.js";
import { AuditBudget } from "../server/audit-budget.js";
import { LabelStore, exportLabels } from "../server/label-store.js";
import { newWatchState, observeOutcome, watchFigures, type WatchFigures, type WatchState } from "../server/watch.js";
import type { GatewayTask } from "./config.js";
import { distillTask } from "./distiller.js";
import { StudentSlot, type StudentPrediction } from "./student.js";
import { changeStage, type GatewayStore, type Stage, type StudentRecord, type TaskCounters, type TaskState } from "./store.js";

export type { StudentPrediction };
export { changeStage };

export interface RuntimeDeps {
  store: GatewayStore;
  labels: LabelStore;
  /** Where students are distilled (one folder per attempt). */
  dir: string;
  /** The state database's file (for the distill child). */
  db: string;
  /** The upstream spec a task's labels come from (its requests' wire), for the distill's cascade. */
  upstreamSpec: () => string;
  distillCommand?: readonly string[];
  log: (level: "info" | "warn" | "error", message: string, fields?: Record<string, unknown>) => void;
  random: Random;
}

export interface TaskView {
  name: string;
  stage: Stage;
  since: string;
  generation: number;
  /** Labels recorded since the generation began, and how many the next distill waits for. */
  labels: number;
  nextDistillAt: number | null;
  distill: TaskState["distill"];
  student: StudentRecord | null;
  /** What the certified student would take off the upstream: share and dollars per 1,000 requests at the upstream's mean price. */
  projected: { localShare: number; savedPer1000Usd: number | null } | null;
  /** Live, since the stage began: in shadow, what the student would have kept and how often it agreed. */
  shadow: { texts: number; kept: number; keptAgreement: number | null } | null;
  counters: TaskCounters;
  /** The share of the task's requests answered locally (all time). */
  localShare: number | null;
  audit: (WatchFigures & { target: number; confidence: number; quantity: string }) | null;
  autoPromote: boolean;
  history: TaskState["history"];
}

export class TaskRuntime {
  private state: TaskState;
  counters: TaskCounters;
  private labelsSince = 0;
  private readonly student: StudentSlot;
  private watch: WatchState = newWatchState();
  private shadowFigures = { texts: 0, kept: 0, keptAgreed: 0 };
  private readonly budget: AuditBudget;
  private distilling?: Promise<void>;
  private countersDirty = false;
  private closed = false;
  private readonly stopping = new AbortController();
  readonly strategyName: string;

  constructor(readonly task: GatewayTask, private readonly deps: RuntimeDeps) {
    const state = deps.store.task(task.name);
    this.state = state;
    this.counters = state.counters;
    this.strategyName = `gateway:${task.name}`;
    this.student = new StudentSlot(task.name, task.labels);
    // The same gates as a served cascade's audit: the day's dollars (a restart keeps what was spent) and the rate.
    const today = new Date().toISOString().slice(0, 10);
    this.budget = new AuditBudget({ maxCostPerDay: task.audit.maxCostPerDay, rpm: task.audit.rpm }, deps.labels.auditCostSince(this.strategyName, `${today}T00:00:00.000Z`));
    this.labelsSince = deps.labels.countSince(this.strategyName, state.since);
  }

  /** Loads the student of a shadowing or serving task and replays the audit since its reset; starts a distill that is due. */
  async start(): Promise<void> {
    if (this.state.distill.state === "running") this.state = this.deps.store.update(this.task.name, (s) => ({ ...s, distill: { ...s.distill, state: "idle" } }));
    if (this.state.student && this.state.stage !== "record") await this.loadStudent(this.state.student);
    if (this.state.stage === "serve") this.replayAudit();
    this.maybeDistill();
  }

  get stage(): Stage {
    return this.state.stage;
  }

  private replayAudit(): void {
    this.watch = newWatchState();
    for (const row of this.deps.labels.sampleSinceReset(this.strategyName)) {
      const outcome = row.kind === "llm" ? 1 : row.encoderLabel === row.llmLabel ? 1 : 0;
      this.watch = observeOutcome(this.watch, outcome, this.quantity());
    }
  }

  private quantity() {
    return { target: this.task.targetAgreement, confidence: this.task.confidence };
  }

  private async loadStudent(record: StudentRecord): Promise<void> {
    try {
      await this.student.load(record);
    } catch (error) {
      this.deps.log("error", `task ${this.task.name}: the student in ${record.dir} does not load (${errorMessage(error)}); forwarding everything`, { task: this.task.name });
      await this.student.clear();
    }
  }

  /** The student's answer (its label, confidence and probabilities in the task's label order). */
  predict(text: string): Promise<StudentPrediction | undefined> {
    return this.student.predict(text);
  }

  /** In serve: the student's answer when it keeps the text at the certified τ; undefined → forward. */
  async answerLocally(text: string): Promise<{ kept: StudentPrediction | undefined; prediction: StudentPrediction | undefined }> {
    const record = this.student.record;
    if (this.state.stage !== "serve" || !record?.certified) return { kept: undefined, prediction: undefined };
    const prediction = await this.predict(text);
    const kept = prediction && !routesToLlm(prediction.confidence, record.tau) ? prediction : undefined;
    return { kept, prediction };
  }

  /**
   * Whether this request goes into the audit sample: drawn uniformly, before knowing who answers it, and
   * only while an audit call could be paid for (so that the sample stays uniform over all answers).
   */
  drawAudit(): boolean {
    if (this.state.stage !== "serve" || this.task.audit.share <= 0) return false;
    if (this.deps.random.nextFloat() >= this.task.audit.share) return false;
    return this.budget.gate(0) === "open";
  }

  /** A forwarded request's label (after its response was sent). `drawn`: in the audit sample (an agreement at no cost). */
  recordUpstream(entry: { text: string; label: string | null; costUsd: number; latencyMs: number; drawn: boolean; prediction?: StudentPrediction; teacher: string }): void {
    this.counters.requests++;
    this.counters.forwarded++;
    this.counters.forwardedUsd += entry.costUsd;
    this.countersDirty = true;
    if (entry.label === null) {
      this.counters.unparseable++;
      return;
    }
    const prediction = entry.prediction;
    // Before serving, every request is forwarded and recorded: all of them are a uniform sample of the
    // traffic (what distill may calibrate on). While serving, only the audit's draws are.
    const sample = entry.drawn || this.state.stage !== "serve";
    this.deps.labels.collect({
      id: randomUUID(), strategy: this.strategyName, kind: "llm", answeredBy: "upstream", text: entry.text, storeText: true, llmLabel: entry.label,
      encoderLabel: prediction?.label ?? null, encoderConfidence: prediction?.confidence ?? null, costUsd: entry.costUsd, sample, teacher: { type: "llm", model: entry.teacher }, latencyMs: entry.latencyMs,
    });
    this.labelsSince++;
    if (entry.drawn) this.observe(1);
    this.maybeDistill();
  }

  /** In shadow: the student's answer to a forwarded text, computed after the response went out. */
  recordShadow(label: string, prediction: StudentPrediction): void {
    const record = this.student.record;
    if (this.state.stage !== "shadow" || !record) return;
    this.shadowFigures.texts++;
    if (!routesToLlm(prediction.confidence, record.tau)) {
      this.shadowFigures.kept++;
      if (prediction.label === label) this.shadowFigures.keptAgreed++;
    }
  }

  /** A request the student answered; `saved`: the upstream's mean price, counted as saved. */
  recordLocal(): void {
    this.counters.requests++;
    this.counters.local++;
    this.counters.savedUsd += this.meanUpstreamCost() ?? 0;
    this.countersDirty = true;
  }

  /** The upstream's answer to a kept text drawn into the audit: one outcome of the watch. */
  recordAudit(entry: { text: string; label: string | null; costUsd: number; latencyMs: number; prediction: StudentPrediction; teacher: string }): void {
    this.counters.audits++;
    this.counters.auditUsd += entry.costUsd;
    this.countersDirty = true;
    this.budget.spent(entry.costUsd);
    if (entry.label === null) return;
    this.deps.labels.collect({
      id: randomUUID(), strategy: this.strategyName, kind: "audit", answeredBy: "student", text: entry.text, storeText: true, llmLabel: entry.label,
      encoderLabel: entry.prediction.label, encoderConfidence: entry.prediction.confidence, costUsd: entry.costUsd, sample: true, teacher: { type: "llm", model: entry.teacher }, latencyMs: entry.latencyMs,
    });
    this.labelsSince++;
    this.observe(entry.label === entry.prediction.label ? 1 : 0);
  }

  /** Takes one audit call from the rate budget (the caller has drawn the text). */
  takeAuditCall(): void {
    this.budget.take();
  }

  private observe(outcome: 0 | 1): void {
    if (this.state.stage !== "serve") return;
    const before = this.watch.alarmAt;
    this.watch = observeOutcome(this.watch, outcome, this.quantity());
    if (before === null && this.watch.alarmAt !== null) {
      const figures = watchFigures(this.watch, this.quantity());
      void this.setStage("record", `drift alarm: the audit's test rejects "the cascade agrees with the upstream on at least ${this.task.targetAgreement} of texts" (evidence ${figures.evidence.toFixed(0)} after ${figures.observed} audited answers, ${(figures.successes / Math.max(1, figures.observed) * 100).toFixed(1)}% of them agreeing); forwarding everything and re-distilling from the labels recorded from now on`);
    }
  }

  meanUpstreamCost(): number | null {
    return this.counters.forwarded > 0 ? this.counters.forwardedUsd / this.counters.forwarded : null;
  }

  /** Changes the stage (promote, demote, an alarm) and writes it. */
  async setStage(to: Stage, why: string): Promise<void> {
    const from = this.state.stage;
    if (from === to) return;
    const now = new Date().toISOString();
    this.state = this.deps.store.update(this.task.name, (s) => {
      const next: TaskState = { ...s, stage: to, history: [...s.history, { at: now, from, to, why }] };
      if (to === "record") Object.assign(next, { since: now, generation: s.generation + 1, distill: { state: "idle", error: null, at: null, labels: 0 } });
      return next;
    });
    await this.applyStage(from, why);
  }

  private async applyStage(from: Stage, why: string): Promise<void> {
    const to = this.state.stage;
    this.deps.log(to === "record" && from === "serve" ? "warn" : "info", `task ${this.task.name}: ${from} → ${to} (${why})`, { task: this.task.name, from, to });
    if (to === "serve") {
      this.deps.labels.reset(this.strategyName, `promoted: ${why}`);
      this.watch = newWatchState();
    }
    if (to === "record") {
      this.deps.labels.reset(this.strategyName, why);
      this.watch = newWatchState();
      this.labelsSince = 0;
      await this.student.clear();
    }
    if (to === "shadow") this.shadowFigures = { texts: 0, kept: 0, keptAgreed: 0 };
    if (to !== "record" && this.state.student && this.student.record !== this.state.student) await this.loadStudent(this.state.student);
  }

  /** Picks up a change another process (the CLI) wrote. */
  async refresh(): Promise<void> {
    const revision = this.deps.store.revision(this.task.name);
    if (revision === undefined || revision === this.state.revision) return;
    const from = this.state.stage;
    this.state = this.deps.store.task(this.task.name);
    if (from !== this.state.stage) {
      const last = this.state.history.at(-1);
      if (this.state.stage === "record") this.labelsSince = this.deps.labels.countSince(this.strategyName, this.state.since);
      await this.applyStage(from, last?.why ?? "changed from the command line");
    }
  }

  /** Labels the next distill waits for, or null when none is due (serving, or one running). */
  nextDistillAt(): number | null {
    if (this.state.stage === "serve" || this.state.distill.state === "running") return null;
    const last = this.state.distill.labels ?? 0;
    const studentLabels = this.state.stage === "shadow" ? (this.state.student?.labels ?? 0) : 0;
    return Math.max(this.task.distillAfter, 2 * Math.max(last, studentLabels));
  }

  private maybeDistill(): void {
    const due = this.nextDistillAt();
    if (this.closed || this.distilling || due === null || this.labelsSince < due) return;
    this.distilling = this.runDistill().finally(() => (this.distilling = undefined));
  }

  private async runDistill(): Promise<void> {
    const generation = this.state.generation;
    // The generation's labels: the newest `labelsSince` (a row written in the millisecond the generation began belongs to the one before).
    const rows = exportLabels(this.deps.labels, { strategy: this.strategyName, since: this.state.since }).rows.slice(-this.labelsSince).map((r) => ({ text: String(r.text), label: String(r.label), costUsd: Number(r.cost_usd ?? 0), sample: r.sample === 1 }));
    const started = new Date().toISOString();
    this.state = this.deps.store.update(this.task.name, (s) => ({ ...s, distill: { state: "running", error: null, at: started, labels: rows.length } }));
    this.deps.log("info", `task ${this.task.name}: distilling a student from ${rows.length} recorded labels (in the background)`, { task: this.task.name, labels: rows.length });
    try {
      const record = await distillTask({
        task: this.task, rows, upstream: this.deps.upstreamSpec(), db: this.deps.db, command: this.deps.distillCommand, signal: this.stopping.signal,
        dir: join(this.deps.dir, this.task.name, `g${generation}-${rows.length}-${Date.now()}`),
      });
      if (this.closed) return;
      // An alarm or a reset while it ran: this student learned from the old generation's labels.
      if (this.deps.store.task(this.task.name).generation !== generation) return;
      const served = this.state.stage === "serve" ? this.state.student : null;
      // While serving, a new student takes over only with a certificate keeping at least as much.
      if (served?.certified && !(record.certified && record.localShare >= served.localShare)) {
        this.state = this.deps.store.update(this.task.name, (s) => ({ ...s, distill: { state: "idle", error: null, at: record.at, labels: rows.length } }));
        this.deps.log("info", `task ${this.task.name}: a student distilled from ${rows.length} labels ${record.certified ? `keeps ${(record.localShare * 100).toFixed(1)}%` : "is not certified"}; the served one (${(served.localShare * 100).toFixed(1)}%) stays`, { task: this.task.name, tau: record.tau, certified: record.certified, localShare: record.localShare });
        return;
      }
      this.state = this.deps.store.update(this.task.name, (s) => ({ ...s, student: record, distill: { state: "idle", error: null, at: record.at, labels: rows.length } }));
      this.deps.log("info", `task ${this.task.name}: student distilled from ${rows.length} labels: ${record.certified ? `certified at τ ${record.tau.toFixed(3)}, projected local share ${(record.localShare * 100).toFixed(1)}%` : "not certified (more labels needed): it shadows, the upstream answers everything"}`, { task: this.task.name, tau: record.tau, certified: record.certified, localShare: record.localShare });
      if (this.state.stage === "record") await this.setStage("shadow", `student distilled from ${rows.length} labels`);
      else {
        await this.loadStudent(record);
        // A new certificate: its audit starts afresh.
        if (served) {
          this.deps.labels.reset(this.strategyName, `a new student (${rows.length} labels) serves`);
          this.watch = newWatchState();
        }
      }
      if (this.task.autoPromote && record.certified && record.localShare >= this.task.minShare && this.state.stage === "shadow") {
        await this.setStage("serve", `auto_promote: certified local share ${(record.localShare * 100).toFixed(1)}% ≥ min_share ${(this.task.minShare * 100).toFixed(0)}%`);
      }
    } catch (error) {
      if (this.closed) return;
      const message = errorMessage(error);
      this.state = this.deps.store.update(this.task.name, (s) => ({ ...s, distill: { state: "failed", error: message, at: new Date().toISOString(), labels: rows.length } }));
      this.deps.log("error", `task ${this.task.name}: distill failed (${message}); retrying at ${this.nextDistillAt()} labels`, { task: this.task.name });
    }
  }

  view(): TaskView {
    const student = this.state.student;
    const mean = this.meanUpstreamCost();
    const figures = this.state.stage === "serve" ? watchFigures(this.watch, this.quantity()) : null;
    return {
      name: this.task.name,
      stage: this.state.stage,
      since: this.state.since,
      generation: this.state.generation,
      labels: this.labelsSince,
      nextDistillAt: this.nextDistillAt(),
      distill: this.state.distill,
      student,
      projected: student && this.state.stage !== "record" ? { localShare: student.localShare, savedPer1000Usd: mean === null ? null : student.localShare * mean * 1000 } : null,
      shadow: this.state.stage === "shadow" && student ? { texts: this.shadowFigures.texts, kept: this.shadowFigures.kept, keptAgreement: this.shadowFigures.kept ? this.shadowFigures.keptAgreed / this.shadowFigures.kept : null } : null,
      counters: { ...this.counters },
      localShare: this.counters.requests ? this.counters.local / this.counters.requests : null,
      audit: figures ? { ...figures, target: this.task.targetAgreement, confidence: this.task.confidence, quantity: "agreement of the cascade's answers with the upstream alone" } : null,
      autoPromote: this.task.autoPromote,
      history: this.state.history,
    };
  }

  flushCounters(): void {
    if (!this.countersDirty) return;
    this.deps.store.saveCounters(this.task.name, this.counters);
    this.countersDirty = false;
  }

  /** Waits for a distill in flight (tests, shutdown). */
  async settled(): Promise<void> {
    await this.distilling;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stopping.abort();
    await this.distilling;
    this.flushCounters();
    await this.student.clear();
  }
}
