/**
 * McNemar's test on the paired correct/incorrect table of two classifiers: the exact binomial form
 * (used in the research) and the chi-square form with continuity correction. Pure.
 */
import erfc from "@stdlib/math-base-special-erfc";

export interface McNemarResult {
  /** [[both correct, only A correct], [only B correct, both wrong]]. */
  table: [[number, number], [number, number]];
  /** Exact two-sided binomial p-value: min(1, 2·P(X ≤ min(b, c))), X ~ Binomial(b + c, 1/2). */
  pValue: number;
  /** (|b − c| − 1)² / (b + c); null when b + c = 0. */
  statisticChi2: number | null;
  /** Upper tail of χ²(1) at the statistic; 1 when b + c = 0. */
  pValueChi2: number;
}

/** P(X ≤ k) for X ~ Binomial(n, 1/2), summed from the largest term down in log space. */
export function binomialCdfHalf(k: number, n: number): number {
  if (k < 0) return 0;
  if (k >= n) return 1;
  // log C(n, k) as a sum of logs: exact enough (relative error ~1e-13 for n in the millions).
  let logChoose = 0;
  for (let i = 1; i <= k; i++) logChoose += Math.log(n - k + i) - Math.log(i);
  // Terms relative to C(n, k): t_{i-1} = t_i · i / (n − i + 1).
  let term = 1;
  let sum = 1;
  for (let i = k; i > 0; i--) {
    term *= i / (n - i + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return Math.min(1, Math.exp(logChoose - n * Math.LN2 + Math.log(sum)));
}

export function mcnemarTable(correctA: ArrayLike<boolean | number>, correctB: ArrayLike<boolean | number>): McNemarResult["table"] {
  let both = 0;
  let onlyA = 0;
  let onlyB = 0;
  let neither = 0;
  for (let i = 0; i < correctA.length; i++) {
    const a = Boolean(correctA[i]);
    const b = Boolean(correctB[i]);
    if (a && b) both++;
    else if (a) onlyA++;
    else if (b) onlyB++;
    else neither++;
  }
  return [
    [both, onlyA],
    [onlyB, neither],
  ];
}

export function mcnemarFromTable(table: McNemarResult["table"]): McNemarResult {
  const b = table[0][1];
  const c = table[1][0];
  const discordant = b + c;
  if (discordant === 0) return { table, pValue: 1, statisticChi2: null, pValueChi2: 1 };
  const exact = Math.min(1, 2 * binomialCdfHalf(Math.min(b, c), discordant));
  const statistic = (Math.abs(b - c) - 1) ** 2 / discordant;
  // χ² with one degree of freedom: P(X > s) = erfc(√(s/2)).
  return { table, pValue: exact, statisticChi2: statistic, pValueChi2: erfc(Math.sqrt(statistic / 2)) };
}

export function mcnemar(correctA: ArrayLike<boolean | number>, correctB: ArrayLike<boolean | number>): McNemarResult {
  return mcnemarFromTable(mcnemarTable(correctA, correctB));
}
