/**
 * Exact binomial inference for a success probability p from k successes in n independent trials:
 * the one-sided Clopper–Pearson (1934) confidence bounds and the exact one-sided binomial test. Both are
 * read off the regularized incomplete beta function, P(X ≥ k) = I_p(k, n − k + 1) for X ~ Bin(n, p),
 * computed by @stdlib's ports of Boost's betainc / betaincinv. Pure.
 */
import betainc from "@stdlib/math-base-special-betainc";
import betaincinv from "@stdlib/math-base-special-betaincinv";

function checkCounts(k: number, n: number): void {
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(k) || k < 0 || k > n) throw new RangeError(`binomial: need integers 0 ≤ k ≤ n, got k = ${k}, n = ${n}`);
}

function checkLevel(confidence: number): void {
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`binomial: confidence must be in (0, 1), got ${confidence}`);
}

/** P(X ≥ k) for X ~ Binomial(n, p). */
export function binomialUpperTail(k: number, n: number, p: number): number {
  checkCounts(k, n);
  if (k === 0) return 1;
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  return betainc(p, k, n - k + 1);
}

/**
 * The exact one-sided binomial test of H0: p ≤ p0 against H1: p > p0 (scipy's
 * `binomtest(k, n, p0, alternative="greater").pvalue`): P(X ≥ k) at p = p0, the largest it is under H0.
 */
export function binomialTestGreater(k: number, n: number, p0: number): number {
  return binomialUpperTail(k, n, p0);
}

/**
 * The one-sided Clopper–Pearson lower confidence bound: the p whose P(X ≥ k) is 1 − confidence, the
 * Beta(k, n − k + 1) quantile at 1 − confidence (0 when k = 0 or n = 0). P(p ≥ bound) ≥ confidence for
 * every p and n; p0 ≤ bound exactly when `binomialTestGreater(k, n, p0)` ≤ 1 − confidence.
 */
export function clopperPearsonLower(k: number, n: number, confidence: number): number {
  checkCounts(k, n);
  checkLevel(confidence);
  if (k === 0) return 0;
  if (k === n) return (1 - confidence) ** (1 / n);
  return betaincinv(1 - confidence, k, n - k + 1);
}

/** The one-sided Clopper–Pearson upper bound: the Beta(k + 1, n − k) quantile at confidence (1 when k = n). */
export function clopperPearsonUpper(k: number, n: number, confidence: number): number {
  checkCounts(k, n);
  checkLevel(confidence);
  if (k === n) return 1;
  if (k === 0) return 1 - (1 - confidence) ** (1 / n);
  return betaincinv(confidence, k + 1, n - k);
}
