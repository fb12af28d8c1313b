/**
 * Keeping a served cascade's promise: the audit sample, the watch of the certified quantity, collection and
 * feedback. The statistics are pure (./watch.ts); this class holds their state for one strategy, draws the
 * sample, asks the LLM in the background, stores what it collects, and publishes (metrics, log).
 *
 * Each answer of a cascade with `audit:` is drawn into the audit sample with probability `share`, when the
 * audit's daily budget and rate allow at that moment — the same for every answer, whoever answered it, so
 * the sample stays uniform over the traffic. What a drawn answer becomes depends on the watched quantity
 * (`auditRole`): for the cascade's agreement (the default certificate), a drawn answer the LLM gave is an
 * agreement at no cost and a drawn answer the encoder kept is also sent to the LLM, off the request path;
 * for the kept answers' agreement, only kept answers are outcomes; for accuracy, outcomes come from
 * feedback. Outcomes feed an anytime-valid confidence sequence and a test by betting of "quantity ≥
 * target"; when the test rejects at the certificate's confidence the strategy is degraded (with
 * `on_degraded: llm` the LLM answers everything, and those answers are not outcomes of the cascade) until
 * an operator resets it. Every LLM answer the cascade paid for and every audit pair is stored for
 * `tandem distill`, marked when it is in the uniform sample.
 */
import type { FastifyBaseLogger } from "fastify";
import type { Prediction, Strategy } from "../strategies/strategy.js";
import { AuditBudget } from "./audit-budget.js";
import { auditSettings, type AuditSettings, type AuditSnapshot, type SeriesPoint } from "./audit-settings.js";
import { FeedbackTally, type LiveAccuracy } from "./feedback-tally.js";
import type { LabelStore } from "./label-store.js";
import type { ServerMetrics } from "./metrics.js";
import { TrafficTally } from "./traffic.js";
import {
  auditRole,
  cascadeAgreement,
  describeQuantity,
  feedbackCounts,
  newWatchState,
  observeOutcome,
  outcomesFrom,
  quantityKey,
  rowsToCertify,
  watchFigures,
  type WatchState,
} from "./watch.js";

interface AuditItem {
  id: string;
  text: string;
  encoderLabel: string;
  encoderConfidence: number;
}

export type { LiveAccuracy };
export { auditSettings, type AuditSettings, type AuditSnapshot, type SeriesPoint };

const QUEUE_LIMIT = 10_000;
const AUDIT_BATCH = 8;


/** Per-strategy live state: the audit of a cascade (when it has one), feedback, and the traffic series. */
export class StrategyMonitor {
  private watch: WatchState = newWatchState();
  private degradedSince: string | null = null;
  private since: string;
  private queue: AuditItem[] = [];
  private draining: Promise<void> | undefined;
  private readonly dropped = { budget: 0, rate: 0, queue: 0, failed: 0 };
  private readonly budget: AuditBudget;
  /** The uniform sample since the reset: rows, and how many the cascade answered as the LLM would. */
  private sampleRows = 0;
  private sampleAgreed = 0;
  private readonly feedback = new FeedbackTally();
  private readonly tally = new TrafficTally();
  readonly series: SeriesPoint[] = [];
  private closed = false;

  constructor(
    readonly name: string,
    readonly audit: AuditSettings | undefined,
    private readonly members: { encoder?: Strategy; llm?: Strategy; llmConfig?: Record<string, unknown> },
    private readonly labels: LabelStore,
    private readonly metrics: ServerMetrics,
    private readonly log: FastifyBaseLogger,
    /** The audit draw's uniform numbers (seeded in tests). */
    private readonly random: () => number = Math.random,
  ) {
    this.since = labels.lastReset(name) ?? new Date(0).toISOString();
    const today = new Date().toISOString().slice(0, 10);
    this.budget = new AuditBudget({ maxCostPerDay: audit?.maxCostPerDay, rpm: audit?.rpm }, audit ? labels.auditCostSince(name, `${today}T00:00:00.000Z`) : 0);
    if (audit) {
      // A restart keeps the evidence: the outcomes since the last reset are replayed.
      this.replay();
      if (this.watch.observed > 0) log.info({ strategy: name, quantity: describeQuantity(audit.quantity), observed: this.watch.observed, estimate: this.watch.successes / this.watch.observed, degraded: this.degraded }, "audit state restored");
    }
    for (const entry of labels.feedbackOf(name)) this.countFeedback(entry.answeredBy ?? "?", entry.answer === entry.feedbackLabel);
    metrics.degraded.set({ strategy: name }, this.degraded ? 1 : 0);
  }

  get degraded(): boolean {
    return this.degradedSince !== null;
  }

  /** Whether requests should go to the LLM alone now. */
  get routeToLlm(): boolean {
    return this.degraded && this.audit?.onDegraded === "llm" && this.members.llm !== undefined;
  }

  /** Rebuilds the watch from the store: the sample's outcomes (agreement) or the feedback (accuracy) since the reset. */
  private replay(): void {
    const quantity = this.audit!.quantity;
    this.watch = newWatchState();
    this.degradedSince = null;
    this.sampleRows = 0;
    this.sampleAgreed = 0;
    const fromAudit = outcomesFrom(quantity) === "audit";
    for (const row of this.labels.sampleSinceReset(this.name)) {
      if (row.llmLabel === null) continue;
      const by = row.kind === "llm" ? "llm" : "encoder";
      const agreed = by === "llm" || row.llmLabel === row.encoderLabel;
      this.countSample(by, agreed);
      // While degraded with on_degraded: llm, the LLM's answers are not the cascade's (as when live).
      if (!fromAudit || (by === "llm" && this.routeToLlm)) continue;
      const role = auditRole(quantity, by);
      if (role !== "collect") this.outcome(agreed ? 1 : 0, false, row.at);
    }
    if (fromAudit) return;
    for (const row of this.labels.feedbackOf(this.name, this.since)) {
      if (feedbackCounts(quantity, this.memberKind(row.answeredBy))) this.outcome(row.answer === row.feedbackLabel ? 1 : 0, false, row.at);
    }
  }

  private memberKind(answeredBy: string | null): "encoder" | "llm" {
    return answeredBy !== null && answeredBy === this.members.llm?.name ? "llm" : "encoder";
  }

  private countSample(by: "encoder" | "llm", agreed: boolean): void {
    this.sampleRows++;
    if (by === "llm" || agreed) this.sampleAgreed++;
  }

  private outcome(success: 0 | 1, live: boolean, at?: string): void {
    const audit = this.audit!;
    const wasDegraded = this.degraded;
    this.watch = observeOutcome(this.watch, success, audit.quantity);
    if (!wasDegraded && this.watch.alarmAt !== null) {
      this.degradedSince = at ?? new Date().toISOString();
      this.metrics.degraded.set({ strategy: this.name }, 1);
      const figures = watchFigures(this.watch, audit.quantity);
      this.log.warn(
        { strategy: this.name, quantity: describeQuantity(audit.quantity), observed: figures.observed, estimate: figures.estimate, recent: figures.recent, target: audit.quantity.target, on_degraded: audit.onDegraded },
        `degraded: the audit rejects ${describeQuantity(audit.quantity)} ≥ ${audit.quantity.target} at confidence ${audit.quantity.confidence}${audit.onDegraded === "llm" ? "; the LLM answers everything until a reset" : ""}`,
      );
    }
    if (live) this.publish();
  }

  private publish(): void {
    const snapshot = this.snapshot();
    if (!snapshot) return;
    const labels = { strategy: this.name, quantity: quantityKey(this.audit!.quantity) };
    this.metrics.auditAgreement.set(labels, snapshot.agreement ?? Number.NaN);
    this.metrics.auditLower.set(labels, snapshot.lowerBound);
    this.metrics.auditUpper.set(labels, snapshot.upperBound);
    this.metrics.auditEvidence.set(labels, snapshot.evidence);
    this.metrics.auditTarget.set(labels, snapshot.target);
  }

  /** After a request: counts, confidence histograms, collection of LLM answers, and the audit draw. */
  observe(texts: readonly string[], predictions: readonly Prediction[], ids: readonly string[], memberTypes: ReadonlyMap<string, string>): void {
    const now = Date.now();
    const encoderName = this.members.encoder?.name;
    const forced = this.routeToLlm;
    predictions.forEach((p, i) => {
      const by = p.answeredBy ?? this.name;
      const llmAnswered = memberTypes.get(by) === "llm";
      this.tally.count(llmAnswered, now);
      if (p.probabilities?.length) this.metrics.confidence.observe({ strategy: this.name, member: by }, Math.max(...p.probabilities));
      if (!this.audit || p.status !== "ok") return;
      // Drawn before knowing who answered matters: the gates below are the same for every answer.
      const sampled = this.draw();
      if (llmAnswered) {
        // Every LLM answer the cascade paid for is training data (a cache hit was paid once: its row costs 0);
        // the ones drawn are part of the uniform sample.
        this.labels.collect({ id: ids[i]!, strategy: this.name, kind: "llm", answeredBy: by, text: texts[i]!, storeText: this.audit.storeTexts, llmLabel: p.label, encoderLabel: null, encoderConfidence: null, costUsd: p.cached ? 0 : p.costUsd, sample: sampled, teacher: this.members.llmConfig });
        if (sampled) {
          this.countSample("llm", true);
          if (!forced && auditRole(this.audit.quantity, "llm") === "agreed") {
            this.metrics.auditItems.inc({ strategy: this.name, outcome: "agree_routed" });
            this.outcome(1, true);
          }
        }
      } else if (sampled && by === encoderName) {
        if (this.queue.length >= QUEUE_LIMIT) {
          this.dropped.queue++;
          this.metrics.auditItems.inc({ strategy: this.name, outcome: "dropped" });
          return;
        }
        this.budget.take();
        this.queue.push({ id: ids[i]!, text: texts[i]!, encoderLabel: p.label, encoderConfidence: Math.max(...(p.probabilities ?? [Number.NaN])) });
      }
    });
    this.metrics.llmShareHour.set({ strategy: this.name }, this.tally.llmShareLastHour(now));
    if (this.queue.length > 0) this.draining ??= this.drain().finally(() => (this.draining = undefined));
  }

  /**
   * Whether this answer is drawn into the audit sample: `share`, when the day's budget and the call rate
   * allow an audit call now. The gates look only at the moment, never at the answer, so every answer has the
   * same chance (a drawn answer the LLM gave costs nothing, but it passes the same gates).
   */
  private draw(): boolean {
    const audit = this.audit!;
    if (this.random() >= audit.share) return false;
    const gate = this.budget.gate(this.queue.length);
    if (gate === "open") return true;
    this.dropped[gate === "over_budget" ? "budget" : "rate"]++;
    this.metrics.auditItems.inc({ strategy: this.name, outcome: gate });
    return false;
  }

  /** Sends queued audit items to the LLM, a few at a time, until the queue is empty. */
  private async drain(): Promise<void> {
    const llm = this.members.llm!;
    while (this.queue.length > 0 && !this.closed) {
      const batch = this.queue.splice(0, AUDIT_BATCH);
      let answers: Prediction[];
      try {
        answers = await llm.classify(batch.map((b) => b.text));
      } catch (error) {
        this.dropped.failed += batch.length;
        this.metrics.auditItems.inc({ strategy: this.name, outcome: "failed" }, batch.length);
        this.log.error({ strategy: this.name, err: error }, "audit call failed");
        continue;
      }
      answers.forEach((answer, j) => {
        const item = batch[j]!;
        if (answer.status !== "ok") {
          this.dropped.failed++;
          this.metrics.auditItems.inc({ strategy: this.name, outcome: "failed" });
          return;
        }
        this.budget.spent(answer.costUsd);
        this.metrics.auditCost.inc({ strategy: this.name }, answer.costUsd);
        this.labels.collect({ id: item.id, strategy: this.name, kind: "audit", answeredBy: this.members.encoder!.name, text: item.text, storeText: this.audit!.storeTexts, llmLabel: answer.label, encoderLabel: item.encoderLabel, encoderConfidence: item.encoderConfidence, costUsd: answer.costUsd, sample: true, teacher: this.members.llmConfig });
        const agreed = answer.label === item.encoderLabel ? 1 : 0;
        this.countSample("encoder", agreed === 1);
        this.metrics.auditItems.inc({ strategy: this.name, outcome: agreed ? "agree" : "disagree" });
        if (auditRole(this.audit!.quantity, "encoder") === "ask" && outcomesFrom(this.audit!.quantity) === "audit") this.outcome(agreed, true);
      });
    }
  }

  /** Resolves when the audit queue is empty (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  reset(reason: string): AuditSnapshot | undefined {
    this.since = this.labels.reset(this.name, reason);
    this.watch = newWatchState();
    this.sampleRows = 0;
    this.sampleAgreed = 0;
    this.degradedSince = null;
    this.metrics.degraded.set({ strategy: this.name }, 0);
    this.log.info({ strategy: this.name, reason }, "audit reset: evidence cleared, not degraded");
    this.publish();
    return this.snapshot();
  }


  snapshot(): AuditSnapshot | undefined {
    const audit = this.audit;
    if (!audit) return undefined;
    const quantity = audit.quantity;
    const figures = watchFigures(this.watch, quantity);
    const sampleAgreement = this.sampleRows ? this.sampleAgreed / this.sampleRows : null;
    // The next distill certifies the cascade's agreement: at the target of an agreement certificate (else 0.95).
    const recertifyTarget = quantity.metric === "agreement" ? (quantity.on === "cascade" ? quantity.target : cascadeAgreement(quantity.target, this.traffic().llmShare)) : 0.95;
    return {
      share: audit.share,
      quantity: describeQuantity(quantity),
      metric: quantity.metric,
      on: quantity.on,
      targetFrom: quantity.from,
      outcomesFrom: outcomesFrom(quantity),
      target: quantity.target,
      confidence: quantity.confidence,
      onDegraded: audit.onDegraded,
      audited: figures.observed,
      agreed: figures.successes,
      agreement: figures.estimate,
      lowerBound: figures.lowerBound,
      upperBound: figures.upperBound,
      evidence: figures.evidence,
      recentAgreement: figures.recent,
      degraded: this.degraded,
      degradedSince: this.degradedSince,
      degradedAtAudit: figures.alarmAt,
      llmCalls: this.budget.calls,
      sample: { rows: this.sampleRows, cascadeAgreement: sampleAgreement, rowsToRecertify: sampleAgreement === null ? null : rowsToCertify(sampleAgreement, recertifyTarget, quantity.confidence) },
      queued: this.queue.length,
      dropped: { ...this.dropped },
      costTodayUsd: this.budget.costToday,
      since: this.since,
    };
  }

  /**
   * Feedback on an answer: live accuracy by member, and an outcome when accuracy is watched. A second
   * feedback for the same answer replaces the first (`previous`: the label it replaces).
   */
  feedbackReceived(answeredBy: string, answer: string, label: string, previous: string | null): void {
    if (previous !== null) this.feedback.takeBack(answeredBy, previous === answer);
    this.countFeedback(answeredBy, answer === label);
    const quantity = this.audit?.quantity;
    if (!quantity || outcomesFrom(quantity) !== "feedback" || !feedbackCounts(quantity, this.memberKind(answeredBy))) return;
    // A replaced label rewrites history: the watch is rebuilt from the stored feedback.
    if (previous !== null) this.replay();
    else this.outcome(answer === label ? 1 : 0, true);
    this.publish();
  }

  private countFeedback(answeredBy: string, correct: boolean): void {
    const accuracy = this.feedback.count(answeredBy, correct);
    this.metrics.feedback.inc({ strategy: this.name, answered_by: answeredBy, correct: correct ? "true" : "false" });
    this.metrics.liveAccuracy.set({ strategy: this.name, answered_by: answeredBy }, accuracy);
  }

  /** Accuracy by member from feedback, with the same anytime-valid bounds (at 95%, or the audit's confidence). */
  liveAccuracy(): LiveAccuracy[] {
    return this.feedback.accuracy(this.audit?.quantity.confidence ?? 0.95);
  }

  /** The traffic: texts answered so far, the LLM's share of them, and its share over the last hour. */
  traffic(): { texts: number; llmShare: number; llmShareLastHour: number } {
    return this.tally.figures(Date.now());
  }

  /** The live state now, as a point of the series. */
  point(): SeriesPoint {
    const audit = this.snapshot();
    return {
      at: new Date().toISOString(), texts: this.tally.figures(Date.now()).texts, llmShare: this.tally.llmShareLastHour(Date.now()), audited: audit?.audited ?? 0,
      agreement: audit?.agreement ?? null, lowerBound: audit?.lowerBound ?? 0, upperBound: audit?.upperBound ?? 1, degraded: this.degraded,
    };
  }

  /** Appends a point to the live series (every --series-interval). */
  sample(): SeriesPoint {
    const point = this.point();
    this.series.push(point);
    if (this.series.length > 1440) this.series.shift();
    return point;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.idle();
  }
}

