/**
 * What a served cascade's audit watches and reports: its settings (read from the cascade's config and
 * certificate), the snapshot that /v1/strategies, /metrics and the live page show, and the live series.
 */
import type { CascadeConfig } from "../strategies/config.js";
import type { WatchedQuantity } from "./watch.js";

export interface AuditSettings {
  share: number;
  maxCostPerDay?: number;
  rpm?: number;
  /** What is watched: the certificate's quantity and target, or the audit's own target (with its scope). */
  quantity: WatchedQuantity;
  onDegraded: "none" | "llm";
  storeTexts: boolean;
}

/** The audit settings of a cascade config: the quantity its certificate bounds, unless `audit.target` names one. */
export function auditSettings(config: CascadeConfig): AuditSettings | undefined {
  if (!config.audit) return undefined;
  const certificate = config.certificate;
  let quantity: WatchedQuantity;
  if (config.audit.target !== undefined) {
    quantity = { metric: "agreement", on: config.audit.on ?? certificate?.on ?? "cascade", target: config.audit.target, confidence: config.audit.confidence ?? certificate?.confidence ?? 0.95, from: "audit" };
  } else if (certificate) {
    quantity = { metric: certificate.metric, on: certificate.on, target: certificate.target, confidence: config.audit.confidence ?? certificate.confidence, from: "certificate" };
  } else {
    throw new Error(`cascade ${config.name}: audit needs a target (audit.target, or a certificate)`);
  }
  return { share: config.audit.share, maxCostPerDay: config.audit.maxCostPerDay, rpm: config.audit.rpm, quantity, onDegraded: config.onDegraded ?? "none", storeTexts: config.storeTexts ?? true };
}

export interface SeriesPoint {
  at: string;
  /** Texts answered since start. */
  texts: number;
  llmShare: number;
  /** Outcomes of the watched quantity since the last reset. */
  audited: number;
  /** The watched quantity's estimate (null before any outcome). */
  agreement: number | null;
  lowerBound: number;
  upperBound: number;
  degraded: boolean;
}

export interface AuditSnapshot {
  share: number;
  /** The watched quantity, in words and as metric and scope (what the bounds bound and the target tests). */
  quantity: string;
  metric: WatchedQuantity["metric"];
  on: WatchedQuantity["on"];
  /** Where the target comes from: the certificate, or audit.target. */
  targetFrom: WatchedQuantity["from"];
  /** Where the outcomes come from: the audit sample (agreement) or feedback (accuracy). */
  outcomesFrom: "audit" | "feedback";
  target: number;
  confidence: number;
  onDegraded: "none" | "llm";
  /** Outcomes of the watched quantity since the last reset, and how many were successes. */
  audited: number;
  agreed: number;
  /** The watched quantity's estimate (agreement or accuracy; null before any outcome). */
  agreement: number | null;
  /** The anytime-valid confidence sequence of the watched quantity at the confidence level (two-sided). */
  lowerBound: number;
  upperBound: number;
  /** The drift test's evidence against "quantity ≥ target" (the wealth; degraded at 1 / (1 − confidence)). */
  evidence: number;
  recentAgreement: number | null;
  degraded: boolean;
  degradedSince: string | null;
  /** The outcome (counted since the reset) at which the alarm fired. */
  degradedAtAudit: number | null;
  /** Audit calls to the LLM made (kept answers drawn), and the uniform sample collected since the reset. */
  llmCalls: number;
  sample: {
    /** Drawn answers with an LLM label (the rows `distill` may calibrate on). */
    rows: number;
    /** The cascade's agreement on them (routed rows agree by construction), null before any. */
    cascadeAgreement: number | null;
    /** Calibration rows a certificate at the target needs to certify the current τ at that agreement (null: not reachable at it). */
    rowsToRecertify: number | null;
  };
  queued: number;
  dropped: { budget: number; rate: number; queue: number; failed: number };
  costTodayUsd: number;
  since: string;
}

