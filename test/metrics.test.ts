// Metrics against values computed independently with scikit-learn 1.2 / by hand.
import { test } from "node:test";
import assert from "node:assert/strict";
import { classificationReport, confusionMatrix, type ClassScores } from "../src/metrics/report.js";
import { encodePairs, sortLabels } from "../src/metrics/labels.js";
import { formatClassificationReport, formatFixed } from "../src/metrics/format.js";
import { binaryRocAuc, ovrRocAuc } from "../src/metrics/roc.js";
import { evaluate } from "../src/metrics/evaluate.js";
import { ordinalMetrics, collapseAtCutoff } from "../src/metrics/ordinal.js";
import { binaryMetrics, thresholdPredictions } from "../src/metrics/binary.js";

const GOLD = ["cat", "cat", "cat", "dog", "dog", "bird", "bird", "bird", "bird", "dog"];
const PRED = ["cat", "dog", "cat", "dog", "bird", "bird", "cat", "bird", "bird", "dog"];

test("classification report equals scikit-learn's output_dict", () => {
  const report = classificationReport(GOLD, PRED);
  assert.deepEqual(Object.keys(report), ["bird", "cat", "dog", "accuracy", "macro avg", "weighted avg"]);
  assert.deepEqual(report.bird, { precision: 0.75, recall: 0.75, "f1-score": 0.75, support: 4 });
  assert.deepEqual(report.cat, { precision: 0.6666666666666666, recall: 0.6666666666666666, "f1-score": 0.6666666666666666, support: 3 });
  assert.equal(report.accuracy, 0.7);
  const macro = report["macro avg"] as ClassScores;
  assert.ok(Math.abs(macro["f1-score"]! - 0.6944444444444443) < 1e-15);
  assert.equal(macro.support, 10);
  const weighted = report["weighted avg"] as ClassScores;
  assert.ok(Math.abs(weighted.precision! - 0.7) < 1e-15);
});

test("a label list that leaves labels out gives 'micro avg' instead of accuracy, as scikit-learn does", () => {
  const report = classificationReport(GOLD, PRED, { labels: ["cat", "dog"] });
  assert.deepEqual(Object.keys(report), ["cat", "dog", "micro avg", "macro avg", "weighted avg"]);
  const micro = report["micro avg"] as ClassScores;
  assert.ok(Math.abs(micro.precision! - 2 / 3) < 1e-15);
  assert.equal(micro.support, 6);
});

test("zero division: a never-predicted class scores 0 by default and 1 with zero_division=1", () => {
  const gold = ["a", "b", "c", "a"];
  const pred = ["a", "a", "a", "a"];
  const report = classificationReport(gold, pred);
  assert.deepEqual(report.b, { precision: 0, recall: 0, "f1-score": 0, support: 1 });
  assert.ok(Math.abs((report["macro avg"] as ClassScores).precision! - 1 / 6) < 1e-15);
  assert.ok(Math.abs((report["macro avg"] as ClassScores)["f1-score"]! - 0.2222222222222222) < 1e-15);
  const ones = classificationReport(gold, pred, { zeroDivision: 1 });
  assert.equal((ones.b as ClassScores).precision, 1);
  assert.equal((ones.b as ClassScores)["f1-score"], 0);
  assert.ok(Math.abs((ones["macro avg"] as ClassScores).precision! - 0.8333333333333334) < 1e-15);
  assert.equal((ones["weighted avg"] as ClassScores).precision, 0.75);
});

test("text report is character-for-character scikit-learn's", () => {
  const expected = [
    "              precision    recall  f1-score   support",
    "",
    "        bird       0.75      0.75      0.75         4",
    "         cat       0.67      0.67      0.67         3",
    "         dog       0.67      0.67      0.67         3",
    "",
    "    accuracy                           0.70        10",
    "   macro avg       0.69      0.69      0.69        10",
    "weighted avg       0.70      0.70      0.70        10",
    "",
  ].join("\n");
  assert.equal(formatClassificationReport(classificationReport(GOLD, PRED)), expected);
  const four = formatClassificationReport(classificationReport(GOLD, PRED), 4).split("\n");
  assert.equal(four[2], "        bird     0.7500    0.7500    0.7500         4");
  assert.equal(four[6], "    accuracy                         0.7000        10");
  const micro = formatClassificationReport(classificationReport(GOLD, PRED, { labels: ["cat", "dog"] })).split("\n");
  assert.equal(micro[5], "   micro avg       0.67      0.67      0.67         6");
});

test("fixed-point formatting rounds exact ties to even like Python", () => {
  assert.equal(formatFixed(0.125, 2), "0.12");
  assert.equal(formatFixed(0.375, 2), "0.38");
  assert.equal(formatFixed(0.5, 0), "0");
  assert.equal(formatFixed(2.5, 0), "2");
  assert.equal(formatFixed(0.6944444444444443, 2), "0.69");
  assert.equal(formatFixed(0.015, 2), "0.01"); // 0.015 is stored just below the tie
});

test("confusion matrix: rows gold, columns predicted, in label order", () => {
  const encoded = encodePairs(GOLD, PRED);
  assert.deepEqual(encoded.labels, ["bird", "cat", "dog"]);
  assert.deepEqual(confusionMatrix(encoded, undefined, [2, 0]), [
    [2, 1],
    [0, 3],
  ]);
  assert.deepEqual(confusionMatrix(encoded), [
    [3, 1, 0],
    [0, 2, 1],
    [1, 0, 2],
  ]);
});

test("labels sort like numpy: numerically when all are numbers; empty cells are never a class", () => {
  assert.deepEqual(sortLabels(["10", "9", "1"]), ["1", "9", "10"]);
  assert.deepEqual(sortLabels(["b", "B", "a", ""]), ["B", "a", "b"]);
});

test("F-beta for several betas equals scikit-learn's fbeta_score", () => {
  const result = evaluate({ gold: GOLD, pred: PRED, betas: [0.3, 0.8] });
  const [f03, f08] = result.overall.fbeta!;
  assert.ok(Math.abs(f03!.per_class.bird! - 0.7500000000000002) < 1e-12);
  assert.ok(Math.abs(f03!["macro avg"] - 0.6944444444444446) < 1e-12);
  assert.ok(Math.abs(f08!["weighted avg"] - 0.7) < 1e-12);
});

test("ROC AUC equals scikit-learn's roc_auc_score, ties included", () => {
  assert.equal(binaryRocAuc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 0.75);
  assert.equal(binaryRocAuc([0, 1, 1, 0, 1, 0, 1, 1], [0.2, 0.7, 0.7, 0.7, 0.9, 0.1, 0.4, 0.4]), 0.8);
  assert.ok(Number.isNaN(binaryRocAuc([1, 1], [0.2, 0.3])));
  const probabilities = Float64Array.from([0.7, 0.2, 0.1, 0.2, 0.5, 0.3, 0.1, 0.3, 0.6, 0.3, 0.3, 0.4, 0.6, 0.3, 0.1, 0.5, 0.4, 0.1, 0.2, 0.2, 0.6, 0.3, 0.4, 0.3]);
  const auc = ovrRocAuc(Int32Array.from([0, 1, 2, 2, 1, 0, 2, 1]), probabilities, 3);
  assert.ok(Math.abs(auc.macro - 0.9166666666666666) < 1e-12);
  assert.ok(Math.abs(auc.perClass[1]! - 0.8333333333333333) < 1e-12);
  assert.equal(auc.perClass[2], 1);
});

test("evaluate adds roc_auc from probabilities and reports per slice with the slice's own labels", () => {
  const gold = ["neg", "pos", "pos", "neg", "neu", "neu"];
  const pred = ["neg", "pos", "neg", "neg", "neu", "pos"];
  const by = ["x", "x", "x", "y", "y", "y"];
  const probabilities = Float64Array.from([0.8, 0.1, 0.1, 0.1, 0.1, 0.8, 0.5, 0.1, 0.4, 0.7, 0.2, 0.1, 0.2, 0.6, 0.2, 0.1, 0.3, 0.6]);
  const result = evaluate({ gold, pred, probabilities, by });
  assert.deepEqual(result.labels, ["neg", "neu", "pos"]);
  assert.deepEqual(Object.keys(result.by!), ["x", "y"]);
  // Slice x has no neutral at all, so (like scikit-learn on the subset) it reports two classes.
  assert.deepEqual(Object.keys(result.by!.x!).slice(0, 2), ["neg", "pos"]);
  assert.deepEqual(result.by!.x!.confusion_matrix, [
    [1, 0],
    [1, 1],
  ]);
  assert.equal(typeof result.overall.roc_auc, "number");
  assert.equal(result.by!.x!.roc_auc_per_class!.neu, null);
});

test("ordinal metrics: exact, off-by-one, MAE and the collapsed binary report", () => {
  const gold = [1, 2, 3, 4, 5, 5];
  const pred = [1, 3, 5, 4, 4, 2];
  const m = ordinalMetrics(gold, pred);
  assert.equal(m.exact_accuracy, 2 / 6);
  assert.equal(m.off_by_one_accuracy, 4 / 6);
  assert.equal(m.mae, (0 + 1 + 2 + 0 + 1 + 3) / 6);
  assert.deepEqual(collapseAtCutoff([3, 4], 3), ["<=3", ">3"]);
  const result = evaluate({ gold: gold.map(String), pred: pred.map(String), ordinal: true, cutoff: 3 });
  const collapsed = result.overall.ordinal!.collapsed!;
  // gold <=3: rows 0,1,2; pred <=3: rows 0,1,5 → tp(<=3)=2, so precision 2/3, recall 2/3.
  assert.equal((collapsed["<=3"] as ClassScores).precision, 2 / 3);
  assert.equal(collapsed.accuracy, 4 / 6);
});

test("binary metrics for a chosen positive label, re-decided at a probability threshold", () => {
  const gold = Int32Array.from([1, 1, 0, 0, 1]);
  const probabilities = Float64Array.from([0.2, 0.8, 0.6, 0.4, 0.3, 0.7, 0.9, 0.1, 0.45, 0.55]);
  const at05 = thresholdPredictions(probabilities, 2, 1, 0.5);
  assert.deepEqual([...at05], [1, 0, 1, 0, 1]);
  const m = binaryMetrics(gold, at05, 1, "pos", 0.5);
  assert.deepEqual([m.tp, m.fp, m.fn, m.tn], [2, 1, 1, 1]);
  assert.equal(m.precision, 2 / 3);
  assert.equal(m.specificity, 0.5);
  const at07 = binaryMetrics(gold, thresholdPredictions(probabilities, 2, 1, 0.7), 1, "pos", 0.7);
  assert.deepEqual([at07.tp, at07.fp, at07.fn, at07.tn], [1, 1, 2, 1]);
});

test("rows without probabilities are left out of ROC AUC, and counted", () => {
  const gold = ["neg", "pos", "pos", "neg", "pos"];
  const pred = ["neg", "pos", "", "neg", "pos"];
  const probabilities = Float64Array.from([0.9, 0.1, 0.2, 0.8, NaN, NaN, 0.6, 0.4, 0.3, 0.7]);
  const result = evaluate({ gold, pred, probabilities, labels: ["neg", "pos"] });
  assert.equal(result.overall.roc_auc_rows, 4);
  assert.equal(result.overall.roc_auc, binaryRocAuc([0, 1, 0, 1], [0.1, 0.8, 0.4, 0.7]));
  assert.equal(result.overall.accuracy, 0.8, "the empty prediction counts as wrong");
});
