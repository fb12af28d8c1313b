/**
 * Keeping a served cascade's promise: audit sampling, the drift alarm, collection and feedback.
 *
 * Each answer of a cascade with `audit:` is drawn into the audit sample with probability `share` (when the
 * audit budget and rate allow at that moment, the same for every answer, so the sample stays uniform over
 * the traffic). A sampled answer the encoder gave is also sent to the LLM — off the request path, in the
 * background, within the audit's daily budget — and the pair is one outcome: agreed or not. Outcomes
 * feed an anytime-valid confidence sequence of the agreement (Howard et al. 2021) and a test by betting
 * of "agreement ≥ the certificate's target"; when the test rejects, at the certificate's confidence, the
 * strategy is degraded (and with `on_degraded: llm` the LLM answers everything) until an operator resets
 * it. Audit pairs and every LLM answer the cascade paid for are stored for `tandem distill`.
 */
import type { FastifyBaseLogger } from "fastify";
import type { CascadeConfig } from "../strategies/config.js";
import type { Prediction, Strategy } from "../strategies/strategy.js";
import { driftAlarm, mixtureConfidenceSequence, newDriftTest, observeDrift, priorNear, type DriftTestState } from "../stats/sequential.js";
import type { LabelStore } from "./label-store.js";
import type { ServerMetrics } from "./metrics.js";

export interface AuditSettings {
  share: number;
  maxCostPerDay?: number;
  rpm?: number;
  /** H0 of the drift test and the line the bounds are drawn against. */
  target: number;
  confidence: number;
  onDegraded: "none" | "llm";
  storeTexts: boolean;
}

/** The audit settings of a cascade config (target and confidence from its certificate unless given). */
export function auditSettings(config: CascadeConfig): AuditSettings | undefined {
  if (!config.audit) return undefined;
  const certificate = config.certificate?.metric === "agreement" ? config.certificate : undefined;
  const target = config.audit.target ?? certificate?.target;
  if (target === undefined) throw new Error(`cascade ${config.name}: audit needs a target (audit.target, or a certificate of agreement)`);
  return {
    share: config.audit.share,
    maxCostPerDay: config.audit.maxCostPerDay,
    rpm: config.audit.rpm,
    target,
    confidence: config.audit.confidence ?? certificate?.confidence ?? 0.95,
    onDegraded: config.onDegraded ?? "none",
    storeTexts: config.storeTexts ?? true,
  };
}

interface AuditItem {
  id: string;
  text: string;
  encoderLabel: string;
  encoderConfidence: number;
}

export interface SeriesPoint {
  at: string;
  /** Texts answered since start. */
  texts: number;
  llmShare: number;
  audited: number;
  agreement: number | null;
  lowerBound: number;
  upperBound: number;
  degraded: boolean;
}

export interface AuditSnapshot {
  share: number;
  target: number;
  confidence: number;
  onDegraded: "none" | "llm";
  /** Outcomes since the last reset. */
  audited: number;
  agreed: number;
  agreement: number | null;
  /** The anytime-valid confidence sequence of the agreement at the confidence level (two-sided). */
  lowerBound: number;
  upperBound: number;
  /** The drift test's evidence against "agreement ≥ target" (the wealth; degraded at 1 / (1 − confidence)). */
  evidence: number;
  recentAgreement: number | null;
  degraded: boolean;
  degradedSince: string | null;
  /** The audit (counted since the reset) at which the alarm fired. */
  degradedAtAudit: number | null;
  queued: number;
  dropped: { budget: number; rate: number; queue: number; failed: number };
  costTodayUsd: number;
  since: string;
}

export interface LiveAccuracy {
  answeredBy: string;
  n: number;
  correct: number;
  accuracy: number;
  lowerBound: number;
  upperBound: number;
}

const QUEUE_LIMIT = 10_000;
const AUDIT_BATCH = 8;

function utcDay(date = new Date()): string {
  return date.toISOString().slice(0, 10);
}

/** Per-strategy live state: the audit of a cascade (when it has one), feedback, and the traffic series. */
export class StrategyMonitor {
  private test: DriftTestState = newDriftTest();
  private agreed = 0;
  private audited = 0;
  private degradedSince: string | null = null;
  private degradedAtAudit: number | null = null;
  private since: string;
  private queue: AuditItem[] = [];
  private draining: Promise<void> | undefined;
  private readonly dropped = { budget: 0, rate: 0, queue: 0, failed: 0 };
  private readonly recentAudits: number[] = [];
  private day = utcDay();
  private spentToday = 0;
  private meanAuditCost = 0;
  private paidAudits = 0;
  private readonly feedback = new Map<string, { n: number; correct: number }>();
  private readonly minutes: Array<{ minute: number; requests: number; llm: number }> = [];
  private totalTexts = 0;
  private totalLlm = 0;
  readonly series: SeriesPoint[] = [];
  private closed = false;

  constructor(
    readonly name: string,
    readonly audit: AuditSettings | undefined,
    private readonly members: { encoder?: Strategy; llm?: Strategy },
    private readonly labels: LabelStore,
    private readonly metrics: ServerMetrics,
    private readonly log: FastifyBaseLogger,
  ) {
    this.since = labels.lastReset(name) ?? new Date(0).toISOString();
    if (audit) {
      // A restart keeps the evidence: the audit pairs since the last reset are replayed.
      for (const pair of labels.auditsSinceReset(name)) {
        if (pair.llmLabel !== null) this.outcome(pair.llmLabel === pair.encoderLabel ? 1 : 0, false);
      }
      this.spentToday = labels.auditCostSince(name, `${this.day}T00:00:00.000Z`);
      if (this.audited > 0) log.info({ strategy: name, audited: this.audited, agreement: this.agreed / this.audited, degraded: this.degraded }, "audit state restored");
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

  private alpha(): number {
    return 1 - (this.audit?.confidence ?? 0.95);
  }

  private outcome(agreed: 0 | 1, live: boolean): void {
    const audit = this.audit!;
    this.audited++;
    this.agreed += agreed;
    this.recentAudits.push(agreed);
    if (this.recentAudits.length > 100) this.recentAudits.shift();
    this.test = observeDrift(this.test, agreed, { target: audit.target, alpha: this.alpha() });
    if (!this.degraded && driftAlarm(this.test, this.alpha())) {
      this.degradedSince = new Date().toISOString();
      this.degradedAtAudit = this.audited;
      this.metrics.degraded.set({ strategy: this.name }, 1);
      const snapshot = this.snapshot();
      this.log.warn({ strategy: this.name, audited: snapshot?.audited, agreement: snapshot?.agreement, recent_agreement: snapshot?.recentAgreement, target: audit.target, on_degraded: audit.onDegraded }, `degraded: the audit rejects agreement ≥ ${audit.target} at confidence ${audit.confidence}${audit.onDegraded === "llm" ? "; the LLM answers everything until a reset" : ""}`);
    }
    if (live) this.publish();
  }

  private publish(): void {
    const snapshot = this.snapshot();
    if (!snapshot) return;
    const labels = { strategy: this.name };
    this.metrics.auditAgreement.set(labels, snapshot.agreement ?? Number.NaN);
    this.metrics.auditLower.set(labels, snapshot.lowerBound);
    this.metrics.auditUpper.set(labels, snapshot.upperBound);
    this.metrics.auditEvidence.set(labels, snapshot.evidence);
  }

  /** After a request: counts, confidence histograms, collection of LLM answers, and the audit draw. */
  observe(texts: readonly string[], predictions: readonly Prediction[], ids: readonly string[], memberTypes: ReadonlyMap<string, string>): void {
    const minute = Math.floor(Date.now() / 60_000);
    let bucket = this.minutes.at(-1);
    if (!bucket || bucket.minute !== minute) {
      bucket = { minute, requests: 0, llm: 0 };
      this.minutes.push(bucket);
      while (this.minutes.length > 60) this.minutes.shift();
    }
    const encoderName = this.members.encoder?.name;
    predictions.forEach((p, i) => {
      const by = p.answeredBy ?? this.name;
      const llmAnswered = memberTypes.get(by) === "llm";
      bucket!.requests++;
      this.totalTexts++;
      if (llmAnswered) {
        bucket!.llm++;
        this.totalLlm++;
      }
      if (p.probabilities?.length) this.metrics.confidence.observe({ strategy: this.name, member: by }, Math.max(...p.probabilities));
      if (!this.audit || p.status !== "ok") return;
      const sampled = this.draw();
      if (llmAnswered) {
        // Every LLM answer the cascade paid for is training data (a cache hit was paid once: its row costs 0);
        // the ones drawn are part of the uniform sample.
        this.labels.collect({ id: ids[i]!, strategy: this.name, kind: "llm", answeredBy: by, text: texts[i]!, storeText: this.audit.storeTexts, llmLabel: p.label, encoderLabel: null, encoderConfidence: null, costUsd: p.cached ? 0 : p.costUsd, sample: sampled });
      } else if (sampled && by === encoderName) {
        if (this.queue.length >= QUEUE_LIMIT) {
          this.dropped.queue++;
          this.metrics.auditItems.inc({ strategy: this.name, outcome: "dropped" });
          return;
        }
        this.queue.push({ id: ids[i]!, text: texts[i]!, encoderLabel: p.label, encoderConfidence: Math.max(...(p.probabilities ?? [Number.NaN])) });
      }
    });
    this.metrics.llmShareHour.set({ strategy: this.name }, this.llmShareLastHour());
    if (this.queue.length > 0) this.draining ??= this.drain().finally(() => (this.draining = undefined));
  }

  private readonly drawTimes: number[] = [];

  /** Whether this answer is drawn into the audit sample: share, when the budget and the rate allow now. */
  private draw(): boolean {
    const audit = this.audit!;
    if (Math.random() >= audit.share) return false;
    const today = utcDay();
    if (today !== this.day) {
      this.day = today;
      this.spentToday = 0;
    }
    if (audit.maxCostPerDay !== undefined && this.spentToday + this.meanAuditCost * (this.queue.length + 1) > audit.maxCostPerDay) {
      this.dropped.budget++;
      this.metrics.auditItems.inc({ strategy: this.name, outcome: "over_budget" });
      return false;
    }
    if (audit.rpm !== undefined) {
      const now = Date.now();
      while (this.drawTimes.length && this.drawTimes[0]! < now - 60_000) this.drawTimes.shift();
      if (this.drawTimes.length >= audit.rpm) {
        this.dropped.rate++;
        this.metrics.auditItems.inc({ strategy: this.name, outcome: "over_rate" });
        return false;
      }
      this.drawTimes.push(now);
    }
    return true;
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
        this.spentToday += answer.costUsd;
        this.paidAudits++;
        this.meanAuditCost += (answer.costUsd - this.meanAuditCost) / this.paidAudits;
        this.metrics.auditCost.inc({ strategy: this.name }, answer.costUsd);
        this.labels.collect({ id: item.id, strategy: this.name, kind: "audit", answeredBy: this.members.encoder!.name, text: item.text, storeText: this.audit!.storeTexts, llmLabel: answer.label, encoderLabel: item.encoderLabel, encoderConfidence: item.encoderConfidence, costUsd: answer.costUsd, sample: true });
        const agreed = answer.label === item.encoderLabel ? 1 : 0;
        this.metrics.auditItems.inc({ strategy: this.name, outcome: agreed ? "agree" : "disagree" });
        this.outcome(agreed, true);
      });
    }
  }

  /** Resolves when the audit queue is empty (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  reset(reason: string): AuditSnapshot | undefined {
    this.since = this.labels.reset(this.name, reason);
    this.test = newDriftTest();
    this.agreed = 0;
    this.audited = 0;
    this.recentAudits.length = 0;
    this.degradedSince = null;
    this.degradedAtAudit = null;
    this.metrics.degraded.set({ strategy: this.name }, 0);
    this.log.info({ strategy: this.name, reason }, "audit reset: evidence cleared, not degraded");
    this.publish();
    return this.snapshot();
  }

  private llmShareLastHour(): number {
    const cutoff = Math.floor(Date.now() / 60_000) - 60;
    const recent = this.minutes.filter((m) => m.minute > cutoff);
    const requests = recent.reduce((s, m) => s + m.requests, 0);
    return requests ? recent.reduce((s, m) => s + m.llm, 0) / requests : 0;
  }

  snapshot(): AuditSnapshot | undefined {
    const audit = this.audit;
    if (!audit) return undefined;
    const cs = mixtureConfidenceSequence(this.agreed, this.audited, this.alpha(), priorNear(audit.target));
    const recent = this.recentAudits.length ? this.recentAudits.reduce((a, b) => a + b, 0) / this.recentAudits.length : null;
    return {
      share: audit.share, target: audit.target, confidence: audit.confidence, onDegraded: audit.onDegraded,
      audited: this.audited, agreed: this.agreed, agreement: this.audited ? this.agreed / this.audited : null,
      lowerBound: cs.lower, upperBound: cs.upper, evidence: Math.exp(this.test.logWealth), recentAgreement: recent,
      degraded: this.degraded, degradedSince: this.degradedSince, degradedAtAudit: this.degradedAtAudit, queued: this.queue.length, dropped: { ...this.dropped },
      costTodayUsd: this.spentToday, since: this.since,
    };
  }

  countFeedback(answeredBy: string, correct: boolean): void {
    const entry = this.feedback.get(answeredBy) ?? { n: 0, correct: 0 };
    entry.n++;
    if (correct) entry.correct++;
    this.feedback.set(answeredBy, entry);
    this.metrics.feedback.inc({ strategy: this.name, answered_by: answeredBy, correct: correct ? "true" : "false" });
    this.metrics.liveAccuracy.set({ strategy: this.name, answered_by: answeredBy }, entry.correct / entry.n);
  }

  /** Accuracy by member from feedback, with the same anytime-valid bounds (at 95%, or the audit's confidence). */
  liveAccuracy(): LiveAccuracy[] {
    return [...this.feedback.entries()].map(([answeredBy, { n, correct }]) => {
      const cs = mixtureConfidenceSequence(correct, n, this.alpha(), { a: 0.5, b: 0.5 });
      return { answeredBy, n, correct, accuracy: correct / n, lowerBound: cs.lower, upperBound: cs.upper };
    });
  }

  /** The traffic: texts answered so far, the LLM's share of them, and its share over the last hour. */
  traffic(): { texts: number; llmShare: number; llmShareLastHour: number } {
    return { texts: this.totalTexts, llmShare: this.totalTexts ? this.totalLlm / this.totalTexts : 0, llmShareLastHour: this.llmShareLastHour() };
  }

  /** The live state now, as a point of the series. */
  point(): SeriesPoint {
    const audit = this.snapshot();
    return {
      at: new Date().toISOString(), texts: this.totalTexts, llmShare: this.llmShareLastHour(), audited: audit?.audited ?? 0,
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
