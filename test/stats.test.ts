// Significance tests against scipy's binomtest / chi2.sf and a straightforward bootstrap.
import { test } from "node:test";
import assert from "node:assert/strict";
import { binomialCdfHalf, mcnemar, mcnemarFromTable } from "../src/stats/mcnemar.js";
import { pairedBootstrapMacroF1 } from "../src/stats/bootstrap.js";
import { percentileSorted } from "../src/stats/percentile.js";
import { compareClassifiers } from "../src/stats/compare.js";
import { Random } from "../src/core/random.js";
import { classificationReport, type ClassScores } from "../src/metrics/report.js";

const close = (actual: number, expected: number, relative = 1e-9) =>
  assert.ok(Math.abs(actual - expected) <= relative * Math.abs(expected), `${actual} vs ${expected}`);

test("binomial CDF at p = 1/2 by hand", () => {
  close(binomialCdfHalf(2, 10), 56 / 1024, 1e-12);
  close(binomialCdfHalf(0, 5), 1 / 32, 1e-12);
  close(binomialCdfHalf(3, 20), (1 + 20 + 190 + 1140) / 1048576, 1e-12);
  assert.equal(binomialCdfHalf(5, 5), 1);
});

test("McNemar exact and chi-square p-values equal scipy's", () => {
  const cases: Array<[number, number, number, number]> = [
    [10, 3, 0.09228515625, 0.0960923294556734],
    [25, 40, 0.08168153394154003, 0.08247788747320971],
    [0, 5, 0.0625, 0.07363827012030258],
    [300, 250, 0.03657874554910267, 0.03667469760670498],
    [1200, 1100, 0.03896685268382056, 0.03898997282365651],
    [7, 7, 1.0, 0.7892680261342813],
  ];
  for (const [b, c, exact, chi2] of cases) {
    const result = mcnemarFromTable([
      [100, b],
      [c, 50],
    ]);
    close(result.pValue, exact);
    close(result.pValueChi2, chi2);
  }
  assert.deepEqual(mcnemarFromTable([[5, 0], [0, 5]]).pValue, 1);
});

test("McNemar table counts paired correctness", () => {
  const result = mcnemar([1, 1, 0, 0, 1, 0], [1, 0, 1, 0, 0, 0]);
  assert.deepEqual(result.table, [
    [1, 2],
    [1, 2],
  ]);
});

test("percentile interpolates like numpy", () => {
  const sorted = [1, 1, 2, 3, 4, 5, 6, 9];
  assert.equal(percentileSorted(sorted, 2.5), 1);
  assert.equal(percentileSorted(sorted, 50), 3.5);
  close(percentileSorted(sorted, 97.5), 8.475000000000001);
});

function syntheticPredictions(n: number, seed: number, accuracyA: number, accuracyB: number) {
  const random = new Random(seed);
  const labels = ["negative", "neutral", "positive"];
  const gold: string[] = [];
  const predA: string[] = [];
  const predB: string[] = [];
  for (let i = 0; i < n; i++) {
    const g = labels[random.nextInt(3)]!;
    gold.push(g);
    predA.push(random.nextFloat() < accuracyA ? g : labels[random.nextInt(3)]!);
    predB.push(random.nextFloat() < accuracyB ? g : labels[random.nextInt(3)]!);
  }
  return { gold, predA, predB };
}

test("the bootstrap equals a straightforward resampling with the same draws", () => {
  const { gold, predA, predB } = syntheticPredictions(200, 7, 0.6, 0.7);
  const labels = ["negative", "neutral", "positive"];
  const index = (v: string) => labels.indexOf(v);
  const g = Int32Array.from(gold, index);
  const a = Int32Array.from(predA, index);
  const b = Int32Array.from(predB, index);
  const fast = pairedBootstrapMacroF1(g, a, b, 3, { iterations: 50, seed: 3 });
  // Reference: draw indices with the same generator and score each resample with the report code.
  const random = new Random(3);
  const differences: number[] = [];
  for (let r = 0; r < 50; r++) {
    const sampleGold: string[] = [];
    const sampleA: string[] = [];
    const sampleB: string[] = [];
    for (let i = 0; i < gold.length; i++) {
      const j = random.nextInt(gold.length);
      sampleGold.push(gold[j]!);
      sampleA.push(predA[j]!);
      sampleB.push(predB[j]!);
    }
    const f1 = (pred: string[]) => (classificationReport(sampleGold, pred, { labels })["macro avg"] as ClassScores)["f1-score"]!;
    differences.push(f1(sampleB) - f1(sampleA));
  }
  differences.sort((x, y) => x - y);
  close(fast.ci[0], percentileSorted(differences, 2.5), 1e-12);
  close(fast.ci[1], percentileSorted(differences, 97.5), 1e-12);
  close(fast.meanDifference, differences.reduce((s, v) => s + v, 0) / 50, 1e-12);
});

test("the bootstrap is seeded, brackets the observed difference, and detects a real gap", () => {
  const { gold, predA, predB } = syntheticPredictions(2000, 11, 0.55, 0.75);
  const first = compareClassifiers({ gold, predA, predB, iterations: 2000, seed: 5 });
  const again = compareClassifiers({ gold, predA, predB, iterations: 2000, seed: 5 });
  const other = compareClassifiers({ gold, predA, predB, iterations: 2000, seed: 6 });
  assert.deepEqual(first.bootstrap, again.bootstrap);
  assert.notDeepEqual(first.bootstrap.ci, other.bootstrap.ci);
  assert.ok(first.difference > 0.1);
  assert.ok(first.bootstrap.ci[0] < first.difference && first.difference < first.bootstrap.ci[1]);
  assert.ok(first.bootstrap.ci[0] > 0, "B is clearly better: the interval excludes 0");
  assert.ok(first.bootstrap.pValue < 0.001);
  assert.ok(first.mcnemar.pValue < 1e-6);
});

test("identical classifiers: difference 0, interval [0, 0], p-values 1", () => {
  const { gold, predA } = syntheticPredictions(300, 2, 0.6, 0.6);
  const result = compareClassifiers({ gold, predA, predB: predA, iterations: 500, seed: 1, stabilitySeeds: [1, 2, 3] });
  assert.equal(result.difference, 0);
  assert.deepEqual(result.bootstrap.ci, [0, 0]);
  assert.equal(result.bootstrap.pValue, 1);
  assert.equal(result.mcnemar.pValue, 1);
  assert.equal(result.stability!.runs.length, 3);
  assert.equal(result.stability!.ciLow.sd, 0);
});

test("stability mode reports the spread of the bounds over seeds", () => {
  const { gold, predA, predB } = syntheticPredictions(500, 4, 0.6, 0.65);
  const result = compareClassifiers({ gold, predA, predB, iterations: 300, stabilitySeeds: [1, 2, 3, 4] });
  const lows = result.stability!.runs.map((run) => run.ci[0]);
  assert.equal(result.stability!.ciLow.min, Math.min(...lows));
  assert.equal(result.stability!.ciLow.max, Math.max(...lows));
  assert.ok(result.stability!.ciLow.sd > 0);
});

test("the generator: fixed sequence for a seed, batched draws equal single draws, uniform counts", () => {
  // Golden values: splits and bootstraps must not change between platforms or releases.
  const first = new Random(42);
  assert.deepEqual([first.nextUint32(), first.nextUint32(), first.nextUint32()], [2837322924, 544945897, 479756282]);
  const single = new Random(9);
  const batched = new Random(9);
  const out = new Int32Array(1000);
  batched.fillInts(out, 6530);
  assert.deepEqual([...out], Array.from({ length: 1000 }, () => single.nextInt(6530)));
  const words = new Uint32Array(5);
  new Random(42).fillUint32(words);
  assert.deepEqual([...words].slice(0, 3), [2837322924, 544945897, 479756282]);
  assert.equal(batched.nextUint32(), single.nextUint32(), "the batched generator continues the same sequence");
  const counts = new Array(7).fill(0);
  const random = new Random(1);
  for (let i = 0; i < 70000; i++) counts[random.nextInt(7)]++;
  for (const count of counts) assert.ok(Math.abs(count - 10000) < 400, `count ${count}`);
});

