/**
 * ROC AUC as scikit-learn's roc_auc_score computes it: binary from the positive class's score, and
 * one-vs-rest macro for multiclass. Computed as the Mann–Whitney statistic (pairs ranked correctly,
 * ties counting one half), which equals the trapezoidal area under the ROC curve. Pure.
 */

/** AUC of `scores` for `isPositive`; NaN when only one class is present (scikit-learn raises there). */
export function binaryRocAuc(isPositive: ArrayLike<boolean | number>, scores: ArrayLike<number>): number {
  let positives = 0;
  for (let i = 0; i < scores.length; i++) if (isPositive[i]) positives++;
  const negatives = scores.length - positives;
  if (positives === 0 || negatives === 0) return Number.NaN;
  // Two native numeric sorts and one merge, instead of an index sort with a comparator.
  const pos = new Float64Array(positives);
  const neg = new Float64Array(negatives);
  for (let i = 0, p = 0, q = 0; i < scores.length; i++) {
    if (isPositive[i]) pos[p++] = scores[i] as number;
    else neg[q++] = scores[i] as number;
  }
  pos.sort();
  neg.sort();
  let below = 0; // negatives with a lower score than the current positive
  let upTo = 0; // negatives with a score not above it
  let pairs = 0; // doubled to stay in integers: 2 per correctly ranked pair, 1 per tie
  for (let i = 0; i < positives; i++) {
    const value = pos[i] as number;
    while (below < negatives && (neg[below] as number) < value) below++;
    if (upTo < below) upTo = below;
    while (upTo < negatives && (neg[upTo] as number) <= value) upTo++;
    pairs += below + upTo;
  }
  return pairs / 2 / (positives * negatives);
}

export interface MulticlassAuc {
  /** Mean over classes whose AUC is defined. */
  macro: number;
  /** Per-class one-vs-rest AUC (NaN where a class is absent or alone). */
  perClass: number[];
  /** Support-weighted mean, as roc_auc_score(average="weighted"). */
  weighted: number;
}

/** One-vs-rest AUC for each class from an n×k row-major probability matrix. */
export function ovrRocAuc(gold: Int32Array, probabilities: Float64Array, k: number): MulticlassAuc {
  const n = gold.length;
  const perClass: number[] = [];
  const scores = new Float64Array(n);
  const isPositive = new Uint8Array(n);
  const supports: number[] = [];
  for (let c = 0; c < k; c++) {
    let support = 0;
    for (let i = 0; i < n; i++) {
      scores[i] = probabilities[i * k + c] as number;
      isPositive[i] = gold[i] === c ? 1 : 0;
      support += isPositive[i] as number;
    }
    supports.push(support);
    perClass.push(binaryRocAuc(isPositive, scores));
  }
  let sum = 0;
  let defined = 0;
  let weightedSum = 0;
  let weightTotal = 0;
  perClass.forEach((auc, c) => {
    if (Number.isNaN(auc)) return;
    sum += auc;
    defined++;
    weightedSum += auc * (supports[c] as number);
    weightTotal += supports[c] as number;
  });
  return {
    macro: defined ? sum / defined : Number.NaN,
    perClass,
    weighted: weightTotal ? weightedSum / weightTotal : Number.NaN,
  };
}
