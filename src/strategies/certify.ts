/**
 * Certified cascades: τ chosen with a finite-sample guarantee, on rows the choice never saw.
 *
 * The procedure is Learn then Test (Angelopoulos, Bates, Candès, Jordan & Lei, 2021) with fixed-sequence
 * testing: for each τ of a grid fixed in advance, from high τ (the LLM answers nearly everything) down,
 * the null hypothesis H0(τ): "the metric at τ is below the target A" is tested with the exact one-sided
 * binomial test at level δ = 1 − confidence, and testing stops at the first τ it cannot reject. The
 * certified τ is the lowest τ rejected. Fixed-sequence testing controls the family-wise error rate at δ
 * without splitting δ over the grid (each hypothesis is only tested when all before it were rejected),
 * so P(metric at the certified τ < A) ≤ δ, for every data distribution and sample size, as long as the
 * calibration rows and the future rows are independent draws from the same distribution.
 *
 * Metrics: accuracy against gold labels or agreement with the LLM alone (no gold needed), either of the
 * whole cascade (every row is a trial) or of the rows the encoder keeps (a trial per kept row: given
 * their number, the kept rows are independent draws of the distribution of confident items, so the test
 * is exact conditionally, as in Jung et al., "Trust or Escalate", ICLR 2025). Pure: no I/O.
 */
import { createHash } from "node:crypto";
import { classCounts, encodePairs, sortLabels, unionOf } from "../metrics/labels.js";
import { macroF1FromCounts } from "../metrics/report.js";
import { stratifiedSplit } from "../data/split.js";
import { binomialTestGreater, clopperPearsonLower } from "../stats/binomial.js";
import { routesToLlm } from "./cascade.js";


export type CertifyMetric = "accuracy" | "agreement";
/** cascade: the metric of every answer of the cascade; encoder: of the answers the encoder keeps (≥ τ). */
export type CertifyScope = "cascade" | "encoder";

export interface CertifyTarget {
  metric: CertifyMetric;
  /** The level A the metric must reach (a fraction, e.g. 0.95). */
  level: number;
  on?: CertifyScope;
}

/** Stored predictions of both members on the same rows (gold labels where there are any). */
export interface CertifyRows {
  encoderPred: readonly string[];
  /** The encoder's top probability per row (NaN: unknown, routed to the LLM). */
  encoderConfidence: ArrayLike<number>;
  llmPred: readonly string[];
  gold?: readonly string[];
  /** Dollars of each row's LLM answer (paid only where the cascade routes the row). */
  llmCost?: ArrayLike<number>;
  /** Dollars of each row's encoder answer (paid for every row). */
  encoderCost?: ArrayLike<number>;
}

export const CERTIFY_METHOD =
  "Learn then Test (Angelopoulos et al. 2021): fixed-sequence testing over the τ grid from high to low, each H0 \"metric(τ) < target\" rejected by the exact one-sided binomial test (Clopper–Pearson) at level 1 − confidence; the sequence stops at the first τ not rejected";

/** τ from 1 down to 0 in steps of 0.01: the default grid of the certificate (tested from the top). */
export const CERTIFY_TAUS = Array.from({ length: 101 }, (_, i) => Number(((100 - i) / 100).toFixed(2)));

/** What a cascade at τ does on a set of rows. Fractions 0–1; null where a figure needs what the rows lack. */
export interface CascadeFigures {
  rows: number;
  /** Rows the encoder answers (top probability ≥ τ). */
  encoderRows: number;
  llmCalls: number;
  llmShare: number;
  /** Share of the cascade's answers equal to the LLM's alone. */
  agreement: number;
  /** Of the encoder's kept answers, the share equal to the LLM's (null when it keeps none). */
  encoderAgreement: number | null;
  /** Against gold (null without gold). */
  accuracy: number | null;
  macroF1: number | null;
  /** Of the encoder's kept answers, the share equal to gold. */
  encoderAccuracy: number | null;
  /** Dollars per 1,000 rows (LLM answers of routed rows + encoder answers), null when no cost is known. */
  costPerThousand: number | null;
}

/** The exact test of one τ on the calibration rows. */
export interface CertificationTest {
  /** Rows the metric is measured on: every calibration row, or the ones the encoder keeps. */
  trials: number;
  successes: number;
  /** successes / trials (NaN when there are no trials). */
  estimate: number;
  /** One-sided Clopper–Pearson lower bound at the confidence level. */
  lowerBound: number;
  /** P(X ≥ successes) for X ~ Bin(trials, target): the exact one-sided binomial p-value. */
  pValue: number;
  /** passed: H0 rejected (certified); failed: the first not rejected (the sequence stops); not tested: after it. */
  outcome: "passed" | "failed" | "not tested";
}

export interface CertifiedPoint {
  tau: number;
  test: CertificationTest;
  calibration: CascadeFigures;
  /** The same figures on the held-out rows (null when there are none). */
  heldOut: CascadeFigures | null;
}

export interface CascadeCertificate {
  /** True when some τ of the grid passed; false: nothing could be certified, τ is 1 (the LLM answers everything). */
  certified: boolean;
  tau: number;
  /** The lower confidence bound of the metric at τ on the calibration rows (null when τ was not tested). */
  lowerBound: number | null;
  target: Required<CertifyTarget>;
  confidence: number;
  method: string;
  calibrationRows: number;
  /** sha256 of the calibration rows as tested (each row's encoder label, confidence, LLM label, gold). */
  calibrationHash: string;
  heldOutRows: number;
  /** Figures at τ: on the calibration rows (in-sample for the choice) and held out. */
  calibration: CascadeFigures;
  heldOut: CascadeFigures | null;
  /** One sentence: what was certified, or why nothing could be. */
  summary: string;
}

export interface CertifyResult {
  certificate: CascadeCertificate;
  /** Every τ of the grid, highest first. */
  points: CertifiedPoint[];
}

export interface CertifyOptions {
  calibration: CertifyRows;
  /** Rows never used for the choice: every figure reported "held out" is computed here. */
  heldOut?: CertifyRows;
  target: CertifyTarget;
  /** 1 − δ (default 0.95). */
  confidence?: number;
  /** The grid, fixed before seeing the data (default CERTIFY_TAUS); tested from the highest down. */
  taus?: readonly number[];
  /** Label set for macro F1 (default: every label in the rows, as scikit-learn does). */
  labels?: readonly string[];
}

function rowCount(rows: CertifyRows): number {
  return rows.encoderPred.length;
}

function checkRows(rows: CertifyRows, where: string): void {
  const n = rowCount(rows);
  const lengths: Array<[string, number | undefined]> = [
    ["encoderConfidence", rows.encoderConfidence.length],
    ["llmPred", rows.llmPred.length],
    ["gold", rows.gold?.length],
    ["llmCost", rows.llmCost?.length],
    ["encoderCost", rows.encoderCost?.length],
  ];
  for (const [field, length] of lengths) if (length !== undefined && length !== n) throw new RangeError(`${where}: ${field} has ${length} rows, encoderPred ${n}`);
}

/** The rows at `indices`, in that order. */
export function selectRows(rows: CertifyRows, indices: readonly number[]): CertifyRows {
  const pick = <T,>(values: ArrayLike<T> | undefined): T[] | undefined => (values ? indices.map((i) => values[i] as T) : undefined);
  return {
    encoderPred: pick(rows.encoderPred)!,
    encoderConfidence: pick(rows.encoderConfidence)!,
    llmPred: pick(rows.llmPred)!,
    gold: pick(rows.gold),
    llmCost: pick(rows.llmCost),
    encoderCost: pick(rows.encoderCost),
  };
}

export interface CalibrationSplit {
  calibration: number[];
  heldOut: number[];
  /** What the split is stratified by: gold labels when every row has one, else the LLM's labels. */
  stratifiedBy: "gold" | "llm";
}

/** A seeded split of rows into a calibration part (`share` of each stratum) and a held-out part. */
export function splitForCalibration(rows: CertifyRows, share = 0.5, seed = 42): CalibrationSplit {
  if (!(share > 0 && share <= 1)) throw new RangeError(`calibration share must be in (0, 1], got ${share}`);
  const byGold = rows.gold !== undefined && rows.gold.every((g) => g !== "");
  const strata = [...(byGold ? rows.gold! : rows.llmPred)];
  if (share === 1) return { calibration: strata.map((_, i) => i), heldOut: [], stratifiedBy: byGold ? "gold" : "llm" };
  const [calibration, heldOut] = stratifiedSplit(strata, [share, 1 - share], seed) as [number[], number[]];
  return { calibration, heldOut, stratifiedBy: byGold ? "gold" : "llm" };
}

/** The cascade's answer for row i at τ. */
function answerAt(rows: CertifyRows, i: number, tau: number): string {
  return routesToLlm(rows.encoderConfidence[i] as number, tau) ? (rows.llmPred[i] as string) : (rows.encoderPred[i] as string);
}

export function cascadeFigures(rows: CertifyRows, tau: number, labels?: readonly string[]): CascadeFigures {
  const n = rowCount(rows);
  let kept = 0;
  let agree = 0;
  let keptAgree = 0;
  let keptCorrect = 0;
  let cost = 0;
  const pred: string[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const routed = routesToLlm(rows.encoderConfidence[i] as number, tau);
    const answer = routed ? (rows.llmPred[i] as string) : (rows.encoderPred[i] as string);
    pred[i] = answer;
    if (answer === rows.llmPred[i]) agree++;
    if (!routed) {
      kept++;
      if (answer === rows.llmPred[i] && answer !== "") keptAgree++;
      if (rows.gold && answer === rows.gold[i]) keptCorrect++;
    } else if (rows.llmCost) cost += rows.llmCost[i] as number;
    if (rows.encoderCost) cost += rows.encoderCost[i] as number;
  }
  let accuracy: number | null = null;
  let macroF1: number | null = null;
  if (rows.gold && n > 0) {
    const labelSet = labels ? [...labels] : sortLabels(unionOf(rows.gold, rows.encoderPred, rows.llmPred));
    const counts = classCounts(encodePairs(rows.gold, pred, labelSet));
    accuracy = counts.correct / counts.total;
    // Without given labels: scikit-learn's macro F1 over the labels present in (gold, prediction).
    macroF1 = macroF1FromCounts(counts.tp, counts.predSum, counts.trueSum, !labels);
  }
  return {
    rows: n,
    encoderRows: kept,
    llmCalls: n - kept,
    llmShare: n ? (n - kept) / n : 0,
    agreement: n ? agree / n : Number.NaN,
    encoderAgreement: kept ? keptAgree / kept : null,
    accuracy,
    macroF1,
    encoderAccuracy: rows.gold && kept ? keptCorrect / kept : null,
    costPerThousand: rows.llmCost || rows.encoderCost ? (n ? (cost / n) * 1000 : 0) : null,
  };
}

/** Trials and successes of the target's metric at τ. */
export function targetCounts(rows: CertifyRows, tau: number, target: CertifyTarget): { trials: number; successes: number } {
  const n = rowCount(rows);
  const reference = target.metric === "accuracy" ? rows.gold : rows.llmPred;
  if (!reference) throw new RangeError("an accuracy target needs gold labels");
  const onEncoder = (target.on ?? "cascade") === "encoder";
  let trials = 0;
  let successes = 0;
  for (let i = 0; i < n; i++) {
    const routed = routesToLlm(rows.encoderConfidence[i] as number, tau);
    if (onEncoder && routed) continue;
    trials++;
    const answer = answerAt(rows, i, tau);
    // A routed row's answer is the LLM's own: it agrees with the LLM alone even when that is a failure.
    if (target.metric === "agreement" ? routed || (answer === reference[i] && answer !== "") : answer === reference[i] && answer !== "") successes++;
  }
  return { trials, successes };
}

/** The hash of the calibration rows as the certificate used them. */
export function calibrationHash(rows: CertifyRows): string {
  const hash = createHash("sha256");
  const n = rowCount(rows);
  for (let i = 0; i < n; i++) hash.update(`${rows.encoderPred[i]}\t${rows.encoderConfidence[i]}\t${rows.llmPred[i]}\t${rows.gold?.[i] ?? ""}\n`);
  return `sha256:${hash.digest("hex")}`;
}

function checkTarget(target: CertifyTarget, confidence: number): Required<CertifyTarget> {
  if (!(target.level > 0 && target.level < 1)) throw new RangeError(`target level must be in (0, 1), got ${target.level}`);
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`confidence must be in (0, 1), got ${confidence}`);
  return { metric: target.metric, level: target.level, on: target.on ?? "cascade" };
}

/** Certifies a cascade's τ on calibration rows (Learn then Test, fixed sequence, exact binomial tests). */
export function certifyCascade(options: CertifyOptions): CertifyResult {
  const confidence = options.confidence ?? 0.95;
  const target = checkTarget(options.target, confidence);
  checkRows(options.calibration, "calibration");
  if (options.heldOut) checkRows(options.heldOut, "heldOut");
  if (target.metric === "accuracy" && (!options.calibration.gold || (options.heldOut && !options.heldOut.gold))) throw new RangeError("an accuracy target needs gold labels on every row");
  const delta = 1 - confidence;
  // Highest τ first; a selective target has no trials at τ = 1 (the encoder keeps nothing there).
  const grid = [...new Set(options.taus ?? CERTIFY_TAUS)].sort((a, b) => b - a);
  for (const tau of grid) if (!(tau >= 0 && tau <= 1)) throw new RangeError(`τ must be in [0, 1], got ${tau}`);
  const labels = options.labels ?? sortLabels(unionOf(...[options.calibration, options.heldOut].flatMap((r) => (r ? [r.encoderPred, r.llmPred, ...(r.gold ? [r.gold] : [])] : []))));
  const figuresOf = (rows: CertifyRows, tau: number) => cascadeFigures(rows, tau, options.labels ?? labels);
  let stopped = false;
  let certifiedAt: CertifiedPoint | undefined;
  let failedAt: CertifiedPoint | undefined;
  const points: CertifiedPoint[] = grid.map((tau) => {
    const { trials, successes } = targetCounts(options.calibration, tau, target);
    const testable = !(target.on === "encoder" && tau >= 1);
    const pValue = trials === 0 ? 1 : binomialTestGreater(successes, trials, target.level);
    let outcome: CertificationTest["outcome"] = "not tested";
    if (testable && !stopped) {
      outcome = pValue <= delta ? "passed" : "failed";
      if (outcome === "failed") stopped = true;
    }
    const point: CertifiedPoint = {
      tau,
      test: { trials, successes, estimate: trials ? successes / trials : Number.NaN, lowerBound: trials ? clopperPearsonLower(successes, trials, confidence) : 0, pValue, outcome },
      calibration: figuresOf(options.calibration, tau),
      heldOut: options.heldOut ? figuresOf(options.heldOut, tau) : null,
    };
    if (outcome === "passed") certifiedAt = point;
    if (outcome === "failed") failedAt = point;
    return point;
  });
  const name = `${target.metric}${target.on === "encoder" ? " of the encoder's answers" : " of the cascade"}`;
  const percent = (x: number) => `${(x * 100).toFixed(2)}%`;
  const tested = certifiedAt ?? points.find((p) => p.tau >= 1 && p.test.outcome !== "not tested");
  const tau = certifiedAt?.tau ?? 1;
  let summary: string;
  if (certifiedAt) {
    summary = `τ = ${tau}: with ${percent(confidence)} confidence the ${name} is at least ${percent(target.level)} (lower bound ${percent(certifiedAt.test.lowerBound)} from ${certifiedAt.test.successes} of ${certifiedAt.test.trials} calibration rows); the LLM answers ${percent(certifiedAt.calibration.llmShare)} of them`;
    if (failedAt) summary += `; the next τ, ${failedAt.tau}, failed (bound ${percent(failedAt.test.lowerBound)})`;
  } else {
    const first = failedAt;
    const minimumRows = Math.ceil(Math.log(delta) / Math.log(target.level));
    const reason = first
      ? first.test.trials === 0
        ? `τ = ${first.tau}, the first τ tested, keeps no calibration rows`
        : `τ = ${first.tau}, the first τ tested, has a lower bound of ${percent(first.test.lowerBound)} (${first.test.successes} of ${first.test.trials} rows${first.test.trials < minimumRows ? `; even all correct, at least ${minimumRows} rows are needed` : ""})`
      : "the grid has no τ to test";
    summary = `no τ can be certified for ${name} ≥ ${percent(target.level)} at ${percent(confidence)} confidence: ${reason}; τ = 1, the LLM answers everything`;
  }
  const heldOutRows = options.heldOut ? rowCount(options.heldOut) : 0;
  return {
    certificate: {
      certified: certifiedAt !== undefined,
      tau,
      lowerBound: tested ? tested.test.lowerBound : null,
      target,
      confidence,
      method: CERTIFY_METHOD,
      calibrationRows: rowCount(options.calibration),
      calibrationHash: calibrationHash(options.calibration),
      heldOutRows,
      calibration: certifiedAt?.calibration ?? figuresOf(options.calibration, 1),
      heldOut: options.heldOut ? (certifiedAt?.heldOut ?? figuresOf(options.heldOut, 1)) : null,
      summary,
    },
    points,
  };
}

export interface Suspect {
  /** The row's index in the rows given. */
  row: number;
  confidence: number;
  encoder: string;
  llm: string;
  gold: string | null;
  /** Whom the confident encoder contradicts. */
  disagreesWith: "llm" | "gold" | "both";
}

/**
 * Rows where the encoder is confident (≥ τ: the cascade keeps its answer) but disagrees with the LLM or
 * the gold label, most confident first: often label or LLM errors, worth a look.
 */
export function cascadeSuspects(rows: CertifyRows, tau: number): Suspect[] {
  const out: Suspect[] = [];
  for (let i = 0; i < rowCount(rows); i++) {
    const confidence = rows.encoderConfidence[i] as number;
    if (routesToLlm(confidence, tau)) continue;
    const encoder = rows.encoderPred[i] as string;
    const llm = rows.llmPred[i] as string;
    const gold = rows.gold?.[i] ?? null;
    const offLlm = encoder !== llm;
    const offGold = gold !== null && gold !== "" && encoder !== gold;
    if (!offLlm && !offGold) continue;
    out.push({ row: i, confidence, encoder, llm, gold, disagreesWith: offLlm && offGold ? "both" : offLlm ? "llm" : "gold" });
  }
  return out.sort((a, b) => b.confidence - a.confidence || a.row - b.row);
}

/**
 * Calibration rows a certificate needs to certify "metric ≥ target" at `confidence` for a τ whose metric
 * is `rate` on them: the smallest n at which the exact one-sided binomial test rejects with ⌊rate·n⌋
 * successes. Null when rate ≤ target (no number of rows is enough), or when more than `limit` are needed.
 * This is the count for one τ: a lower τ (more answers kept) has a lower rate and needs more.
 */
export function rowsToCertify(rate: number, target: number, confidence: number, limit = 100_000): number | null {
  if (!(rate > target) || !(target > 0 && target < 1) || !(confidence > 0 && confidence < 1)) return null;
  const delta = 1 - confidence;
  // Fewer rows than ln δ / ln target cannot pass even all agreeing; from there, the first n that passes.
  for (let n = Math.max(1, Math.ceil(Math.log(delta) / Math.log(target) - 1e-9)); n <= limit; n++) {
    if (binomialTestGreater(Math.floor(rate * n + 1e-9), n, target) <= delta) return n;
  }
  return null;
}
