/**
 * scikit-learn's classification_report(output_dict=True), precision_recall_fscore_support and
 * confusion_matrix, reproduced exactly (same formulas, same zero-division rules, same keys). Pure.
 */
import { classCounts, encodePairs, type ClassCounts, type EncodedPairs } from "./labels.js";

/** scikit-learn's zero_division: "warn" (the default) behaves as 0. */
export type ZeroDivision = 0 | 1 | "nan";

export interface ClassScores {
  precision: number;
  recall: number;
  "f1-score": number;
  support: number;
}

/** Class keys in label order, then "accuracy" (or "micro avg"), "macro avg", "weighted avg". */
export type ClassificationReport = Record<string, ClassScores | number>;

export interface PerClassScores {
  precision: Float64Array;
  recall: Float64Array;
  fscore: Float64Array;
  support: Float64Array;
}

function zeroDivisionValue(zeroDivision: ZeroDivision): number {
  return zeroDivision === "nan" ? Number.NaN : zeroDivision;
}

export function divide(numerator: number, denominator: number, zeroDivision: ZeroDivision): number {
  return denominator === 0 ? zeroDivisionValue(zeroDivision) : numerator / denominator;
}

/** precision_recall_fscore_support(average=None) from class counts. */
export function scoresFromCounts(counts: ClassCounts, beta = 1, zeroDivision: ZeroDivision = 0): PerClassScores {
  const k = counts.tp.length;
  const precision = new Float64Array(k);
  const recall = new Float64Array(k);
  const fscore = new Float64Array(k);
  const beta2 = beta * beta;
  for (let j = 0; j < k; j++) {
    const tp = counts.tp[j] as number;
    const predicted = counts.predSum[j] as number;
    const actual = counts.trueSum[j] as number;
    precision[j] = divide(tp, predicted, zeroDivision);
    recall[j] = divide(tp, actual, zeroDivision);
    if (beta === Number.POSITIVE_INFINITY) fscore[j] = recall[j] as number;
    else if (beta === 0) fscore[j] = precision[j] as number;
    else fscore[j] = divide((1 + beta2) * tp, beta2 * actual + predicted, zeroDivision);
  }
  return { precision, recall, fscore, support: Float64Array.from(counts.trueSum) };
}

/**
 * Mean that skips NaN, as scikit-learn's _nanaverage: NaN when every value is NaN; when the values left
 * all have weight 0 (no support), their plain mean — so a weighted average over classes without support
 * is the mean of their scores, not the zero_division value.
 */
function average(values: Float64Array, weights: Float64Array | undefined, zeroDivision: ZeroDivision): number {
  let sum = 0;
  let weightSum = 0;
  let plainSum = 0;
  let defined = 0;
  for (let j = 0; j < values.length; j++) {
    const value = values[j] as number;
    if (Number.isNaN(value)) continue;
    const weight = weights ? (weights[j] as number) : 1;
    sum += value * weight;
    weightSum += weight;
    plainSum += value;
    defined++;
  }
  if (weightSum > 0) return sum / weightSum;
  if (defined > 0) return plainSum / defined;
  return values.length === 0 ? zeroDivisionValue(zeroDivision) : Number.NaN;
}

/**
 * Macro-averaged F1 straight from counts: the inner loop of the bootstrap. With `presentOnly`, classes
 * neither in the gold labels nor predicted are left out of the average — scikit-learn's f1_score
 * without `labels`, whose classes are those of (y_true, y_pred) — so another system's stray label does
 * not count against this one.
 */
export function macroF1FromCounts(tp: ArrayLike<number>, predSum: ArrayLike<number>, trueSum: ArrayLike<number>, presentOnly = false): number {
  let sum = 0;
  let classes = 0;
  for (let j = 0; j < tp.length; j++) {
    const denominator = (trueSum[j] as number) + (predSum[j] as number);
    if (denominator > 0) {
      sum += (2 * (tp[j] as number)) / denominator;
      classes++;
    }
  }
  const count = presentOnly ? classes : tp.length;
  return count === 0 ? 0 : sum / count;
}

export interface ReportOptions {
  /** Class order; default: the sorted union of gold and predicted labels. */
  labels?: readonly string[];
  zeroDivision?: ZeroDivision;
}

export function classificationReportFromCounts(
  labels: readonly string[],
  counts: ClassCounts,
  microIsAccuracy: boolean,
  zeroDivision: ZeroDivision = 0,
): ClassificationReport {
  const scores = scoresFromCounts(counts, 1, zeroDivision);
  const report: ClassificationReport = {};
  labels.forEach((label, j) => {
    report[label] = {
      precision: scores.precision[j] as number,
      recall: scores.recall[j] as number,
      "f1-score": scores.fscore[j] as number,
      support: scores.support[j] as number,
    };
  });
  const totalSupport = scores.support.reduce((a, b) => a + b, 0);
  if (microIsAccuracy) {
    report.accuracy = counts.total === 0 ? zeroDivisionValue(zeroDivision) : counts.correct / counts.total;
  } else {
    const tp = counts.tp.reduce((a, b) => a + b, 0);
    const predicted = counts.predSum.reduce((a, b) => a + b, 0);
    const precision = divide(tp, predicted, zeroDivision);
    const recall = divide(tp, totalSupport, zeroDivision);
    report["micro avg"] = {
      precision,
      recall,
      "f1-score": divide(2 * tp, totalSupport + predicted, zeroDivision),
      support: totalSupport,
    };
  }
  report["macro avg"] = {
    precision: average(scores.precision, undefined, zeroDivision),
    recall: average(scores.recall, undefined, zeroDivision),
    "f1-score": average(scores.fscore, undefined, zeroDivision),
    support: totalSupport,
  };
  report["weighted avg"] = {
    precision: average(scores.precision, scores.support, zeroDivision),
    recall: average(scores.recall, scores.support, zeroDivision),
    "f1-score": average(scores.fscore, scores.support, zeroDivision),
    support: totalSupport,
  };
  return report;
}

/** classification_report(y_true, y_pred, labels=..., output_dict=True, zero_division=...). */
export function classificationReport(
  gold: readonly string[],
  pred: readonly string[],
  options: ReportOptions = {},
): ClassificationReport {
  const encoded = encodePairs(gold, pred, options.labels);
  const counts = classCounts(encoded);
  // scikit-learn prints "accuracy" unless a given label list leaves out labels that occur in the data.
  const microIsAccuracy = !options.labels || counts.outside === 0;
  return classificationReportFromCounts(encoded.labels, counts, microIsAccuracy, options.zeroDivision ?? 0);
}

/** confusion_matrix(y_true, y_pred, labels=...) for the listed classes: rows are gold labels, columns predictions. */
export function confusionMatrix(encoded: EncodedPairs, indices?: ArrayLike<number>, classes?: number[]): number[][] {
  const k = encoded.labels.length;
  const full = new Float64Array(k * k);
  const n = indices ? indices.length : encoded.gold.length;
  for (let t = 0; t < n; t++) {
    const i = indices ? (indices[t] as number) : t;
    const g = encoded.gold[i] as number;
    const p = encoded.pred[i] as number;
    if (g < k && p < k) full[g * k + p]++;
  }
  const order = classes ?? Array.from({ length: k }, (_, c) => c);
  return order.map((g) => order.map((p) => full[g * k + p] as number));
}

export interface FBetaScores {
  beta: number;
  per_class: Record<string, number>;
  "macro avg": number;
  "weighted avg": number;
}

/** fbeta_score(average=None/macro/weighted) for one beta. */
export function fbetaFromCounts(
  labels: readonly string[],
  counts: ClassCounts,
  beta: number,
  zeroDivision: ZeroDivision = 0,
): FBetaScores {
  const scores = scoresFromCounts(counts, beta, zeroDivision);
  const perClass: Record<string, number> = {};
  labels.forEach((label, j) => (perClass[label] = scores.fscore[j] as number));
  return {
    beta,
    per_class: perClass,
    "macro avg": average(scores.fscore, undefined, zeroDivision),
    "weighted avg": average(scores.fscore, scores.support, zeroDivision),
  };
}
