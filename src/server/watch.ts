/**
 * What a served cascade watches, and the sequential state of that watch. Pure: no I/O, no clock.
 *
 * The watched quantity is the one the cascade's certificate bounds (or the one `audit.target` names):
 * - agreement of the cascade (`on: cascade`, the default of `tune cascade` and of `distill`): the share of
 *   all the cascade's answers equal to what the LLM alone would answer. The audit draws uniformly from all
 *   answered texts: a drawn text the LLM answered is an agreement at no cost; a drawn text the encoder
 *   kept is sent to the LLM too, and agrees or not.
 * - agreement of the encoder's kept answers (`on: encoder`): the audit's draws among kept answers only.
 * - accuracy (either scope): outcomes come from feedback (`POST /v1/feedback`), on every answer of the
 *   cascade or on the encoder's kept ones.
 * Each outcome (1: agreed / right, 0: not) feeds an anytime-valid confidence sequence of the quantity
 * (Howard et al. 2021) and a test by betting of "quantity ≥ target" (the drift alarm).
 */
export { rowsToCertify } from "../strategies/certify.js";
import { driftAlarm, mixtureConfidenceSequence, newDriftTest, observeDrift, priorNear, type DriftTestState } from "../stats/sequential.js";

export type WatchedMetric = "agreement" | "accuracy";
export type WatchedScope = "cascade" | "encoder";

export interface WatchedQuantity {
  metric: WatchedMetric;
  on: WatchedScope;
  /** H0 of the drift test ("quantity ≥ target") and the line the bounds are drawn against. */
  target: number;
  /** Of the bounds and of the drift alarm. */
  confidence: number;
  /** Where the target comes from: the cascade's certificate, or the audit's own `target`. */
  from: "certificate" | "audit";
}

/** "agreement of the cascade with its LLM", "accuracy of the encoder's kept answers", … */
export function describeQuantity(quantity: Pick<WatchedQuantity, "metric" | "on">): string {
  const what = quantity.on === "cascade" ? "the cascade's answers" : "the encoder's kept answers";
  return quantity.metric === "agreement" ? `agreement of ${what} with the LLM alone` : `accuracy of ${what} (from feedback)`;
}

/** A short key for metric labels: agreement_cascade, accuracy_encoder, … */
export function quantityKey(quantity: Pick<WatchedQuantity, "metric" | "on">): string {
  return `${quantity.metric}_${quantity.on}`;
}

/** Where the watch's outcomes come from. */
export function outcomesFrom(quantity: Pick<WatchedQuantity, "metric">): "audit" | "feedback" {
  return quantity.metric === "agreement" ? "audit" : "feedback";
}

/**
 * What an answer drawn into the audit sample is, for the watch: a free agreement (the LLM answered it and
 * the cascade's agreement is watched), a question to the LLM (the encoder kept it and agreement is
 * watched), or no outcome (the drawn answer is outside the watched population, or accuracy is watched:
 * the draw only collects the LLM's label as training data).
 */
export function auditRole(quantity: Pick<WatchedQuantity, "metric" | "on">, answeredBy: "encoder" | "llm"): "agreed" | "ask" | "collect" {
  if (answeredBy === "llm") return quantity.metric === "agreement" && quantity.on === "cascade" ? "agreed" : "collect";
  return "ask";
}

/** Whether feedback on an answer given by this member counts as an outcome of the watched accuracy. */
export function feedbackCounts(quantity: Pick<WatchedQuantity, "metric" | "on">, answeredBy: "encoder" | "llm"): boolean {
  return quantity.metric === "accuracy" && (quantity.on === "cascade" || answeredBy === "encoder");
}

export interface WatchState {
  observed: number;
  successes: number;
  test: DriftTestState;
  /** The last 100 outcomes. */
  recent: number[];
  /** The outcome (counted from 1) at which the alarm fired; null while it has not. */
  alarmAt: number | null;
}

export function newWatchState(): WatchState {
  return { observed: 0, successes: 0, test: newDriftTest(), recent: [], alarmAt: null };
}

/** The state after one more outcome. The alarm is latched: once fired it stays until a new state. */
export function observeOutcome(state: WatchState, outcome: 0 | 1, quantity: Pick<WatchedQuantity, "target" | "confidence">): WatchState {
  const alpha = 1 - quantity.confidence;
  const test = observeDrift(state.test, outcome, { target: quantity.target, alpha });
  const recent = [...state.recent, outcome];
  if (recent.length > 100) recent.shift();
  const observed = state.observed + 1;
  const alarmAt = state.alarmAt ?? (driftAlarm(test, alpha) ? observed : null);
  return { observed, successes: state.successes + outcome, test, recent, alarmAt };
}

export interface WatchFigures {
  observed: number;
  successes: number;
  /** successes / observed (null before any outcome). */
  estimate: number | null;
  /** The anytime-valid confidence sequence of the quantity at the confidence level. */
  lowerBound: number;
  upperBound: number;
  /** The drift test's wealth against "quantity ≥ target" (the alarm fires at 1 / (1 − confidence)). */
  evidence: number;
  recent: number | null;
  alarm: boolean;
  alarmAt: number | null;
}

export function watchFigures(state: WatchState, quantity: Pick<WatchedQuantity, "target" | "confidence">): WatchFigures {
  const cs = mixtureConfidenceSequence(state.successes, state.observed, 1 - quantity.confidence, priorNear(quantity.target));
  return {
    observed: state.observed,
    successes: state.successes,
    estimate: state.observed ? state.successes / state.observed : null,
    lowerBound: cs.lower,
    upperBound: cs.upper,
    evidence: Math.exp(state.test.logWealth),
    recent: state.recent.length ? state.recent.reduce((a, b) => a + b, 0) / state.recent.length : null,
    alarm: state.alarmAt !== null,
    alarmAt: state.alarmAt,
  };
}

/** The cascade's agreement from its kept answers' agreement and its LLM share: share + (1 − share) · kept. */
export function cascadeAgreement(keptAgreement: number, llmShare: number): number {
  return llmShare + (1 - llmShare) * keptAgreement;
}
