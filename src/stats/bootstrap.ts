/**
 * Paired bootstrap of the macro-F1 difference between two classifiers on the same items. Pure and
 * seeded. Each resample draws n item indices with replacement; an item is reduced beforehand to one
 * cell of the (gold, prediction A, prediction B) table, so a resample is n counter increments.
 */
import { Random } from "../core/random.js";
import { percentileSorted } from "./percentile.js";
import { macroF1FromCounts } from "../metrics/report.js";

export interface BootstrapOptions {
  iterations?: number;
  seed?: number;
  /** Width of the percentile interval, default 0.95. */
  confidence?: number;
  /** Each side's macro F1 over the classes of (gold, its predictions) in each resample, as scikit-learn without `labels`. */
  presentOnly?: boolean;
}

export interface BootstrapResult {
  iterations: number;
  seed: number;
  confidence: number;
  /** macro-F1(B) − macro-F1(A) on the original items. */
  observedDifference: number;
  meanDifference: number;
  /** Percentile interval of the resampled differences (numpy's linear interpolation). */
  ci: [number, number];
  /**
   * Two-sided p-value for "no difference" by the shift method: the share of resampled differences,
   * centred on the observed one, at least as far from it as the observed difference is from zero,
   * counted as (1 + hits) / (1 + iterations).
   */
  pValue: number;
}

/** Classes are 0..k−1; the value k marks a label outside the list (never counted as a class). */
export function pairedBootstrapMacroF1(
  gold: Int32Array,
  predA: Int32Array,
  predB: Int32Array,
  k: number,
  options: BootstrapOptions = {},
): BootstrapResult {
  const iterations = options.iterations ?? 10_000;
  const seed = options.seed ?? 42;
  const confidence = options.confidence ?? 0.95;
  const n = gold.length;
  if (n === 0) throw new RangeError("the bootstrap needs at least one item");
  const width = k + 1;
  const cellCount = width * width * width;
  const cells = new Int32Array(n);
  for (let i = 0; i < n; i++) cells[i] = ((gold[i] as number) * width + (predA[i] as number)) * width + (predB[i] as number);

  const counts = new Int32Array(cellCount);
  const tpA = new Float64Array(k);
  const tpB = new Float64Array(k);
  const predSumA = new Float64Array(k);
  const predSumB = new Float64Array(k);
  const trueSum = new Float64Array(k);
  const differenceOf = (table: Int32Array): number => {
    tpA.fill(0);
    tpB.fill(0);
    predSumA.fill(0);
    predSumB.fill(0);
    trueSum.fill(0);
    for (let cell = 0; cell < cellCount; cell++) {
      const count = table[cell] as number;
      if (count === 0) continue;
      const b = cell % width;
      const a = ((cell - b) / width) % width;
      const g = (cell - b - a * width) / (width * width);
      if (g < k) trueSum[g] += count;
      if (a < k) predSumA[a] += count;
      if (b < k) predSumB[b] += count;
      if (g < k && a === g) tpA[g] += count;
      if (g < k && b === g) tpB[g] += count;
    }
    return macroF1FromCounts(tpB, predSumB, trueSum, options.presentOnly) - macroF1FromCounts(tpA, predSumA, trueSum, options.presentOnly);
  };

  for (let i = 0; i < n; i++) counts[cells[i] as number]++;
  const observed = differenceOf(counts);

  const random = new Random(seed);
  const differences = new Float64Array(iterations);
  const draws = new Int32Array(n);
  for (let r = 0; r < iterations; r++) {
    counts.fill(0);
    random.fillInts(draws, n);
    for (let i = 0; i < n; i++) counts[cells[draws[i] as number] as number]++;
    differences[r] = differenceOf(counts);
  }

  let sum = 0;
  let hits = 0;
  const distance = Math.abs(observed);
  for (let r = 0; r < iterations; r++) {
    const value = differences[r] as number;
    sum += value;
    // A tiny tolerance so that ties with the observed distance count as "at least as far".
    if (Math.abs(value - observed) >= distance - 1e-12) hits++;
  }
  differences.sort();
  const tail = ((1 - confidence) / 2) * 100;
  return {
    iterations,
    seed,
    confidence,
    observedDifference: observed,
    meanDifference: sum / iterations,
    ci: [percentileSorted(differences, tail), percentileSorted(differences, 100 - tail)],
    pValue: (1 + hits) / (1 + iterations),
  };
}

export interface Spread {
  min: number;
  max: number;
  mean: number;
  sd: number;
}

export interface BootstrapStability {
  seeds: number[];
  runs: BootstrapResult[];
  ciLow: Spread;
  ciHigh: Spread;
  pValue: Spread;
}

function spread(values: number[]): Spread {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.length > 1 ? values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1) : 0;
  return { min: Math.min(...values), max: Math.max(...values), mean, sd: Math.sqrt(variance) };
}

/** The bootstrap repeated with several seeds, and how much the interval bounds move between them. */
export function bootstrapStability(
  gold: Int32Array,
  predA: Int32Array,
  predB: Int32Array,
  k: number,
  seeds: number[],
  options: Omit<BootstrapOptions, "seed"> = {},
): BootstrapStability {
  const runs = seeds.map((seed) => pairedBootstrapMacroF1(gold, predA, predB, k, { ...options, seed }));
  return {
    seeds,
    runs,
    ciLow: spread(runs.map((run) => run.ci[0])),
    ciHigh: spread(runs.map((run) => run.ci[1])),
    pValue: spread(runs.map((run) => run.pValue)),
  };
}
