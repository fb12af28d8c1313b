/**
 * Anytime-valid inference for a stream of yes/no outcomes (a served cascade's agreement with its LLM on
 * audited items, an answer being right on feedback): statements that hold at every moment at once, so an
 * operator may look after every item without inflating the error rate. Pure.
 *
 * - The confidence sequence is the beta-binomial conjugate mixture of Howard, Ramdas, McAuliffe and
 *   Sekhon, "Time-uniform, nonparametric, nonasymptotic confidence sequences" (Ann. Statist. 2021, §3 and
 *   Robbins 1970): for every p the mixture likelihood ratio M_t(p) = B(a + S_t, b + F_t) / (B(a, b) ·
 *   p^S_t (1 − p)^F_t) is a nonnegative martingale when p is the true mean, so by Ville's inequality
 *   P(∃t: M_t(p) ≥ 1/α) ≤ α, and {p : M_t(p) < 1/α} covers p at all times t at once with probability ≥ 1 − α.
 * - The drift alarm is a test by betting of H0 "the mean is at least the target" (Shafer 2021;
 *   Waudby-Smith & Ramdas, JRSS-B 2024): wealth K_t = Π (1 + λ_i (target − X_i)) with λ_i ≥ 0 chosen from
 *   the outcomes before i only. Under H0 each factor has conditional mean ≤ 1, so K is a nonnegative
 *   supermartingale and P(∃t: K_t ≥ 1/α) ≤ α — the false-alarm probability over the whole stream, however
 *   long. λ_i is the Kelly bet against the recent mean, so the wealth stays near 1 while the mean is above
 *   the target and grows fast once it falls below: detection takes tens of items after a drop, not a
 *   share of the whole history as a cumulative bound would.
 */
import betaln from "@stdlib/math-base-special-betaln";

/** A Beta(a, b) mixing distribution for the confidence sequence (fixed before any data). */
export interface MixturePrior {
  a: number;
  b: number;
}

/** The prior tandem uses for agreement near a target level: mean at the level, worth `weight` outcomes. */
export function priorNear(level: number, weight = 10): MixturePrior {
  const mean = Math.min(0.995, Math.max(0.005, level));
  return { a: mean * weight, b: (1 - mean) * weight };
}

/** ln M_t(p): the log mixture likelihood ratio of S successes and F failures at p. */
export function logMixtureRatio(successes: number, failures: number, p: number, prior: MixturePrior): number {
  const mixture = betaln(prior.a + successes, prior.b + failures) - betaln(prior.a, prior.b);
  if (p <= 0) return successes > 0 ? Infinity : mixture;
  if (p >= 1) return failures > 0 ? Infinity : mixture;
  return mixture - successes * Math.log(p) - failures * Math.log(1 - p);
}

/**
 * The confidence sequence at S successes of n: [lower, upper] = {p : M_n(p) < 1/α}, an interval around
 * S/n (ln M is convex in p), found by bisection to 1e-12.
 */
export function mixtureConfidenceSequence(successes: number, trials: number, alpha: number, prior: MixturePrior): { lower: number; upper: number } {
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`alpha must be in (0, 1), got ${alpha}`);
  if (!Number.isInteger(trials) || trials < 0 || !Number.isInteger(successes) || successes < 0 || successes > trials) throw new RangeError(`need integers 0 ≤ successes ≤ trials, got ${successes} of ${trials}`);
  const failures = trials - successes;
  const threshold = Math.log(1 / alpha);
  const inside = (p: number) => logMixtureRatio(successes, failures, p, prior) < threshold;
  // The centre of the set: the minimiser of ln M, the sample mean (the prior mean before any data).
  const centre = trials === 0 ? prior.a / (prior.a + prior.b) : successes / trials;
  if (!inside(centre)) return { lower: centre, upper: centre };
  const edge = (outside: number, within: number) => {
    let lo = outside;
    let hi = within;
    for (let i = 0; i < 200 && Math.abs(hi - lo) > 1e-12; i++) {
      const mid = (lo + hi) / 2;
      if (inside(mid)) hi = mid;
      else lo = mid;
    }
    return hi;
  };
  return { lower: inside(0) ? 0 : edge(0, centre), upper: inside(1) ? 1 : edge(1, centre) };
}

export interface DriftTestState {
  /** ln K_t. */
  logWealth: number;
  /** The largest ln K reached (the alarm fires the first time it passes ln(1/α)). */
  maxLogWealth: number;
  observed: number;
  /** Outcomes of the last `window` items, oldest first. */
  recent: number[];
}

export interface DriftTestOptions {
  /** H0: the mean is at least this. */
  target: number;
  alpha: number;
  /** Items the bet's estimate of the current mean looks back on (default 50). */
  window?: number;
  /** Pseudo-outcomes at the target that shrink the estimate (default 10): no bet on a few items. */
  shrinkage?: number;
}

export function newDriftTest(): DriftTestState {
  return { logWealth: 0, maxLogWealth: 0, observed: 0, recent: [] };
}

/** λ for the next outcome: Kelly's bet against H0 at the recent (shrunk) mean, 0 while that is at or above the target. */
export function driftBet(state: DriftTestState, options: DriftTestOptions): number {
  const t = options.target;
  const shrink = options.shrinkage ?? 10;
  const sum = state.recent.reduce((a, b) => a + b, 0);
  const estimate = (sum + shrink * t) / (state.recent.length + shrink);
  if (estimate >= t) return 0;
  // argmax over λ of E[ln(1 + λ(t − X))] when X ~ Bernoulli(estimate); capped so a factor never falls below ½.
  return Math.min((t - estimate) / (t * (1 - t)), 0.5 / (1 - t));
}

/** The state after one more outcome (1: agreed / right, 0: not). */
export function observeDrift(state: DriftTestState, outcome: 0 | 1, options: DriftTestOptions): DriftTestState {
  const lambda = driftBet(state, options);
  const logWealth = state.logWealth + Math.log(1 + lambda * (options.target - outcome));
  const window = options.window ?? 50;
  const recent = [...state.recent, outcome];
  if (recent.length > window) recent.shift();
  return { logWealth, maxLogWealth: Math.max(state.maxLogWealth, logWealth), observed: state.observed + 1, recent };
}

/** Whether the evidence against "mean ≥ target" has reached 1/α (once reached, it stays: an alarm is latched). */
export function driftAlarm(state: DriftTestState, alpha: number): boolean {
  return state.maxLogWealth >= Math.log(1 / alpha);
}
