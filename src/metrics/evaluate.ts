/**
 * The evaluation behind `tandem evaluate`: the classification report with confusion matrix, ROC AUC
 * from probabilities, optional F-beta, binary and ordinal metrics, overall and per slice. Pure.
 * Labels are encoded once; every slice is counted from the integer codes.
 */
import { binaryMetrics, thresholdPredictions, type BinaryMetrics } from "./binary.js";
import { classCounts, encodePairs, selectClasses, sortLabels, unionOf, type EncodedPairs } from "./labels.js";
import { collapseAtCutoff, ordinalMetrics, ordinalValue, type OrdinalMetrics } from "./ordinal.js";
import {
  classificationReport,
  classificationReportFromCounts,
  confusionMatrix,
  fbetaFromCounts,
  type ClassificationReport,
  type ClassScores,
  type FBetaScores,
  type ZeroDivision,
} from "./report.js";
import { binaryRocAuc, ovrRocAuc } from "./roc.js";

export interface EvaluateInput {
  gold: readonly string[];
  pred: readonly string[];
  /** n × k probabilities, row-major, columns in label order; a row of NaN means "none" (left out of ROC AUC). */
  probabilities?: Float64Array;
  /** Slice key per item (e.g. the source column). */
  by?: readonly string[];
  /** Class order; default the sorted union of gold and predicted labels. */
  labels?: readonly string[];
  zeroDivision?: ZeroDivision;
  betas?: number[];
  /** Binary metrics for this label (re-decided at `threshold` when probabilities are given). */
  positiveLabel?: string;
  threshold?: number;
  /** Labels are ordered numbers (stars): add exact / off-by-one accuracy and MAE. */
  ordinal?: boolean;
  /** With ordinal labels: also the report after collapsing to "<=cutoff" vs ">cutoff". */
  cutoff?: number;
}

/** scikit-learn's report dict plus the extras; extras appear only when they apply or were asked for. */
export type EvaluationReport = ClassificationReport & {
  confusion_matrix?: number[][];
  roc_auc?: number | null;
  /** Rows the ROC AUC was computed on, when some rows had no probabilities. */
  roc_auc_rows?: number;
  roc_auc_per_class?: Record<string, number | null>;
  fbeta?: FBetaScores[];
  binary?: BinaryMetrics;
  ordinal?: OrdinalMetrics & { cutoff?: number; collapsed?: ClassificationReport };
};

export interface Evaluation {
  labels: string[];
  rows: number;
  overall: EvaluationReport;
  by?: Record<string, EvaluationReport>;
}

/** The macro-averaged F1 of a report. */
export function macroF1(report: ClassificationReport): number {
  return (report["macro avg"] as ClassScores)["f1-score"];
}

/** Macro F1 of every slice of an evaluation (empty without slices). */
export function sliceMacroF1(evaluation: Evaluation): Record<string, number> {
  return Object.fromEntries(Object.entries(evaluation.by ?? {}).map(([slice, report]) => [slice, macroF1(report)]));
}

const nullIfNaN = (value: number): number | null => (Number.isNaN(value) ? null : value);

function evaluateSubset(input: EvaluateInput, encoded: EncodedPairs, indices: Int32Array | undefined): EvaluationReport {
  const labels = encoded.labels;
  const K = labels.length;
  const zeroDivision = input.zeroDivision ?? 0;
  const counts = classCounts(encoded, indices);
  // Without a given label list a slice reports the labels it contains, as scikit-learn would on the subset.
  const classes = input.labels
    ? labels.map((_, c) => c)
    : labels.map((_, c) => c).filter((c) => (counts.trueSum[c] as number) + (counts.predSum[c] as number) > 0);
  const sliceLabels = classes.map((c) => labels[c] as string);
  const sliceCounts = selectClasses(counts, classes);
  const microIsAccuracy = !input.labels || counts.outside === 0;
  const report: EvaluationReport = classificationReportFromCounts(sliceLabels, sliceCounts, microIsAccuracy, zeroDivision);
  report.confusion_matrix = confusionMatrix(encoded, indices, classes);

  const n = indices ? indices.length : encoded.gold.length;
  const rowOf = (t: number) => (indices ? (indices[t] as number) : t);
  const gold = indices ? Int32Array.from(indices, (i) => encoded.gold[i] as number) : encoded.gold;
  let probabilities: Float64Array | undefined;
  if (input.probabilities) {
    const all = input.probabilities;
    probabilities = indices ? new Float64Array(n * K) : all;
    if (indices) for (let t = 0; t < n; t++) probabilities.set(all.subarray(rowOf(t) * K, rowOf(t) * K + K), t * K);
    // Rows without probabilities (no answer) are left out of ROC AUC, and the count is reported.
    const scored: number[] = [];
    for (let t = 0; t < n; t++) if (!Number.isNaN(probabilities[t * K] as number)) scored.push(t);
    const aucGold = scored.length === n ? gold : Int32Array.from(scored, (t) => gold[t] as number);
    const aucProbabilities = scored.length === n ? probabilities : new Float64Array(scored.length * K);
    if (scored.length !== n) {
      scored.forEach((t, j) => aucProbabilities.set(probabilities!.subarray(t * K, t * K + K), j * K));
      report.roc_auc_rows = scored.length;
    }
    if (K === 2) {
      const isPositive = Uint8Array.from(aucGold, (g) => (g === 1 ? 1 : 0));
      const scores = Float64Array.from({ length: scored.length }, (_, j) => aucProbabilities[j * 2 + 1] as number);
      report.roc_auc = nullIfNaN(binaryRocAuc(isPositive, scores));
    } else {
      const auc = ovrRocAuc(aucGold, aucProbabilities, K);
      report.roc_auc = nullIfNaN(auc.macro);
      report.roc_auc_per_class = Object.fromEntries(labels.map((label, c) => [label, nullIfNaN(auc.perClass[c] as number)]));
    }
  }
  if (input.betas && input.betas.length > 0) {
    report.fbeta = input.betas.map((beta) => fbetaFromCounts(sliceLabels, sliceCounts, beta, zeroDivision));
  }
  if (input.positiveLabel !== undefined) {
    const positive = labels.indexOf(input.positiveLabel);
    let decided = indices ? Int32Array.from(indices, (i) => encoded.pred[i] as number) : encoded.pred;
    let threshold: number | null = null;
    if (input.threshold !== undefined && probabilities) {
      decided = thresholdPredictions(probabilities, K, positive, input.threshold);
      threshold = input.threshold;
    }
    report.binary = binaryMetrics(gold, decided, positive, input.positiveLabel, threshold, zeroDivision);
  }
  if (input.ordinal) {
    const goldValues = Float64Array.from({ length: n }, (_, t) => ordinalValue(input.gold[rowOf(t)]));
    const predValues = Float64Array.from({ length: n }, (_, t) => ordinalValue(input.pred[rowOf(t)]));
    const ordinal: NonNullable<EvaluationReport["ordinal"]> = ordinalMetrics(goldValues, predValues);
    if (input.cutoff !== undefined) {
      ordinal.cutoff = input.cutoff;
      ordinal.collapsed = classificationReport(collapseAtCutoff(goldValues, input.cutoff), collapseAtCutoff(predValues, input.cutoff), {
        labels: [`<=${input.cutoff}`, `>${input.cutoff}`],
        zeroDivision,
      });
    }
    report.ordinal = ordinal;
  }
  return report;
}

export function evaluate(input: EvaluateInput): Evaluation {
  if (input.gold.length !== input.pred.length) {
    throw new RangeError(`gold has ${input.gold.length} items but predictions have ${input.pred.length}`);
  }
  const labels = input.labels ? [...input.labels] : sortLabels(unionOf(input.gold, input.pred));
  const encoded = encodePairs(input.gold, input.pred, labels);
  const result: Evaluation = { labels, rows: input.gold.length, overall: evaluateSubset(input, encoded, undefined) };
  if (input.by) {
    const groups = new Map<string, number[]>();
    input.by.forEach((key, i) => {
      let group = groups.get(key);
      if (!group) groups.set(key, (group = []));
      group.push(i);
    });
    result.by = {};
    for (const key of sortLabels(groups.keys())) result.by[key] = evaluateSubset(input, encoded, Int32Array.from(groups.get(key)!));
  }
  return result;
}
