/** Binary metrics for one chosen positive label, optionally re-deciding predictions at a probability threshold. Pure. */
import { divide, type ZeroDivision } from "./report.js";

export interface BinaryMetrics {
  positive_label: string;
  threshold: number | null;
  tp: number;
  fp: number;
  fn: number;
  tn: number;
  precision: number;
  recall: number;
  "f1-score": number;
  specificity: number;
  accuracy: number;
}

/**
 * Predictions re-decided at `threshold`: the positive label when its probability is at least the
 * threshold (scikit-learn's `>=` convention), else the most probable other label.
 */
export function thresholdPredictions(
  probabilities: Float64Array,
  k: number,
  positive: number,
  threshold: number,
): Int32Array {
  const n = probabilities.length / k;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    if ((probabilities[i * k + positive] as number) >= threshold) {
      out[i] = positive;
      continue;
    }
    let best = -1;
    let bestValue = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < k; c++) {
      if (c === positive) continue;
      const value = probabilities[i * k + c] as number;
      if (value > bestValue) {
        bestValue = value;
        best = c;
      }
    }
    out[i] = best;
  }
  return out;
}

export function binaryMetrics(
  gold: Int32Array,
  pred: Int32Array,
  positive: number,
  positiveLabel: string,
  threshold: number | null = null,
  zeroDivision: ZeroDivision = 0,
): BinaryMetrics {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tn = 0;
  for (let i = 0; i < gold.length; i++) {
    const isGold = gold[i] === positive;
    const isPred = pred[i] === positive;
    if (isGold && isPred) tp++;
    else if (isPred) fp++;
    else if (isGold) fn++;
    else tn++;
  }
  // Every ratio follows scikit-learn's zero_division, as the report's own rows do: specificity is
  // recall_score(y_true != positive, y_pred != positive), so with no gold negatives (TN + FP = 0) it
  // is the zero_division value like recall with no gold positives.
  const sklearn = (a: number, b: number) => divide(a, b, zeroDivision);
  return {
    positive_label: positiveLabel,
    threshold,
    tp,
    fp,
    fn,
    tn,
    precision: sklearn(tp, tp + fp),
    recall: sklearn(tp, tp + fn),
    "f1-score": sklearn(2 * tp, 2 * tp + fp + fn),
    specificity: sklearn(tn, tn + fp),
    accuracy: sklearn(tp + tn, gold.length),
  };
}
