/** Paired comparison of two classifiers on the same items: macro F1 of each, McNemar, paired bootstrap. Pure. */
import { classCounts, encodePairs, sortLabels, unionOf } from "../metrics/labels.js";
import { macroF1FromCounts } from "../metrics/report.js";
import { bootstrapStability, pairedBootstrapMacroF1, type BootstrapStability } from "./bootstrap.js";
import { mcnemar, type McNemarResult } from "./mcnemar.js";

export interface ComparisonInput {
  gold: readonly string[];
  predA: readonly string[];
  predB: readonly string[];
  labels?: readonly string[];
  iterations?: number;
  seed?: number;
  /** Repeat the bootstrap with these seeds and report the spread of the bounds. */
  stabilitySeeds?: number[];
  confidence?: number;
}

export interface SideSummary {
  macroF1: number;
  accuracy: number;
  correct: number;
}

export interface Comparison {
  rows: number;
  labels: string[];
  a: SideSummary;
  b: SideSummary;
  /** macro-F1(b) − macro-F1(a). */
  difference: number;
  mcnemar: McNemarResult;
  bootstrap: {
    iterations: number;
    seed: number;
    confidence: number;
    ci: [number, number];
    pValue: number;
    meanDifference: number;
  };
  stability?: Omit<BootstrapStability, "runs"> & { runs: Array<{ seed: number; ci: [number, number]; pValue: number }> };
}

export function compareClassifiers(input: ComparisonInput): Comparison {
  const labels = input.labels ? [...input.labels] : sortLabels(unionOf(input.gold, input.predA, input.predB));
  const a = encodePairs(input.gold, input.predA, labels);
  const b = encodePairs(input.gold, input.predB, labels);
  const k = labels.length;
  // Without given labels each system's macro F1 is scikit-learn's on (gold, its own predictions).
  const presentOnly = !input.labels;
  const summary = (encoded: typeof a): SideSummary => {
    const counts = classCounts(encoded);
    return { macroF1: macroF1FromCounts(counts.tp, counts.predSum, counts.trueSum, presentOnly), accuracy: counts.correct / counts.total, correct: counts.correct };
  };
  const sideA = summary(a);
  const sideB = summary(b);
  // The bootstrap needs only "which class, or none": fold "outside the list" and "empty" together.
  const clamp = (codes: Int32Array) => Int32Array.from(codes, (code) => Math.min(code, k));
  const gold = clamp(a.gold);
  const predA = clamp(a.pred);
  const predB = clamp(b.pred);
  const boot = pairedBootstrapMacroF1(gold, predA, predB, k, {
    iterations: input.iterations,
    seed: input.seed,
    confidence: input.confidence,
    presentOnly,
  });
  const result: Comparison = {
    rows: input.gold.length,
    labels,
    a: sideA,
    b: sideB,
    difference: sideB.macroF1 - sideA.macroF1,
    mcnemar: mcnemar(a.correct, b.correct),
    bootstrap: {
      iterations: boot.iterations,
      seed: boot.seed,
      confidence: boot.confidence,
      ci: boot.ci,
      pValue: boot.pValue,
      meanDifference: boot.meanDifference,
    },
  };
  if (input.stabilitySeeds && input.stabilitySeeds.length > 0) {
    const stability = bootstrapStability(gold, predA, predB, k, input.stabilitySeeds, {
      iterations: input.iterations,
      confidence: input.confidence,
      presentOnly,
    });
    result.stability = { ...stability, runs: stability.runs.map((run) => ({ seed: run.seed, ci: run.ci, pValue: run.pValue })) };
  }
  return result;
}
