/**
 * The paper-style comparison of a run: macro F1 and accuracy overall and per slice, cost (inference and
 * training), tokens, cost per macro-F1 point, throughput, and significance of each strategy against the
 * baseline (McNemar exact + paired bootstrap), with Holm's correction over the comparisons. Pure.
 */
import { macroF1, sliceMacroF1 } from "../metrics/evaluate.js";
import { compareClassifiers } from "../stats/compare.js";
import { mcnemar } from "../stats/mcnemar.js";
import type { ExperimentRun } from "./runner.js";

export interface ComparisonRow {
  strategy: string;
  type: string;
  macroF1: number;
  accuracy: number;
  slices: Record<string, number>;
  inferenceCostUsd: number;
  trainingCostUsd: number;
  tokens: number;
  /** Total dollars per macro-F1 point (null when the strategy is free). */
  costPerF1Point: number | null;
  itemsPerSecond: number;
  llmShare?: number;
  vsBaseline?: { difference: number; ci: [number, number]; pBootstrap: number; pMcnemar: number; pHolm: number; significant: boolean };
  pareto: boolean;
  /** Rows whose prediction failed (status error or skipped): such strategies stay out of significance tests unless asked. */
  failed: number;
  note?: string;
  /**
   * With replicates (sampling strategies of a run with replicates > 1): macroF1, accuracy, slices,
   * inference cost and tokens above are means over the replicates; here their spread.
   */
  replicates?: { n: number; seeds: number[]; macroF1: number[]; macroF1Sd: number; accuracySd: number };
}

const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;

/** Sample standard deviation (n − 1); 0 for a single value. */
export function sampleSd(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const m = mean(values);
  return Math.sqrt(values.reduce((sum, v) => sum + (v - m) ** 2, 0) / (values.length - 1));
}

export interface RunComparison {
  run: string;
  rows: number;
  baseline?: string;
  correction: string;
  table: ComparisonRow[];
  /** Exact McNemar p-values between every pair of strategies. */
  pairwise: Record<string, Record<string, number>>;
}

/** Holm–Bonferroni adjusted p-values (step-down, monotone), in the input order. */
export function holm(pValues: number[]): number[] {
  const order = pValues.map((p, i) => ({ p, i })).sort((a, b) => a.p - b.p);
  const adjusted = new Array<number>(pValues.length);
  let running = 0;
  order.forEach(({ p, i }, rank) => {
    running = Math.max(running, Math.min(1, (pValues.length - rank) * p));
    adjusted[i] = running;
  });
  return adjusted;
}

/** Rows of an outcome without an answer: the call failed or never ran. */
export function failedRows(outcome: Pick<ExperimentRun["outcomes"][number], "predictions">): number {
  return outcome.predictions.filter((p) => p.status === "error" || p.status === "skipped").length;
}

export function compareRun(run: ExperimentRun, options: { iterations?: number; seed?: number; alpha?: number; testFailed?: boolean } = {}): RunComparison {
  const alpha = options.alpha ?? 0.05;
  const baseline = run.config.baseline ?? run.outcomes[0]?.name;
  const base = run.outcomes.find((o) => o.name === baseline);
  const table: ComparisonRow[] = run.outcomes.map((o) => {
    const reps = o.replicates && o.replicates.length > 1 ? o.replicates : undefined;
    const macro = reps ? mean(reps.map((r) => r.macroF1)) : macroF1(o.evaluation.overall);
    const costUsd = reps ? mean(reps.map((r) => r.costUsd)) : o.costUsd;
    const seconds = reps ? mean(reps.map((r) => r.seconds)) : o.seconds;
    const single = sliceMacroF1(o.evaluation);
    const slices = reps ? Object.fromEntries(Object.keys(single).map((k) => [k, mean(reps.map((x) => x.slices[k] ?? Number.NaN))])) : single;
    const total = costUsd + o.trainingCostUsd;
    const row: ComparisonRow = {
      strategy: o.name,
      type: o.type,
      macroF1: macro,
      accuracy: reps ? mean(reps.map((r) => r.accuracy)) : (o.evaluation.overall.accuracy as number),
      slices,
      inferenceCostUsd: costUsd,
      trainingCostUsd: o.trainingCostUsd,
      tokens: reps ? Math.round(mean(reps.map((r) => r.tokens))) : o.tokens,
      costPerF1Point: total > 0 ? total / (macro * 100) : null,
      itemsPerSecond: seconds > 0 ? run.gold.length / seconds : Infinity,
      llmShare: o.llmShare,
      pareto: false,
      failed: failedRows(o),
      note: o.note,
    };
    if (reps) {
      row.replicates = { n: reps.length, seeds: reps.map((r) => r.seed), macroF1: reps.map((r) => r.macroF1), macroF1Sd: sampleSd(reps.map((r) => r.macroF1)), accuracySd: sampleSd(reps.map((r) => r.accuracy)) };
    }
    return row;
  });
  // Pareto-optimal: no other strategy is at least as good on both F1 and cost and better on one.
  for (const row of table) {
    const cost = row.inferenceCostUsd + row.trainingCostUsd;
    row.pareto = !table.some((other) => {
      const otherCost = other.inferenceCostUsd + other.trainingCostUsd;
      return other !== row && other.macroF1 >= row.macroF1 && otherCost <= cost && (other.macroF1 > row.macroF1 || otherCost < cost);
    });
  }
  // A strategy whose calls failed would show a large, meaningless "difference": left out unless asked.
  const testable = (o: ExperimentRun["outcomes"][number]) => options.testFailed || failedRows(o) === 0;
  if (base && testable(base)) {
    const others = run.outcomes.filter((o) => o !== base && testable(o));
    const results = others.map((o) =>
      compareClassifiers({ gold: run.gold, predA: base.predictions.map((p) => p.label), predB: o.predictions.map((p) => p.label), labels: run.labels, iterations: options.iterations ?? 10_000, seed: options.seed ?? 42 }),
    );
    const adjusted = holm(results.map((r) => r.mcnemar.pValue));
    others.forEach((o, j) => {
      const r = results[j]!;
      table.find((row) => row.strategy === o.name)!.vsBaseline = {
        difference: r.difference,
        ci: r.bootstrap.ci,
        pBootstrap: r.bootstrap.pValue,
        pMcnemar: r.mcnemar.pValue,
        pHolm: adjusted[j]!,
        significant: adjusted[j]! < alpha,
      };
    });
  }
  const pairwise: Record<string, Record<string, number>> = {};
  for (const a of run.outcomes) {
    pairwise[a.name] = {};
    for (const b of run.outcomes) {
      const correctA = a.predictions.map((p, i) => (p.label === run.gold[i] ? 1 : 0));
      const correctB = b.predictions.map((p, i) => (p.label === run.gold[i] ? 1 : 0));
      pairwise[a.name]![b.name] = a === b ? 1 : mcnemar(correctA, correctB).pValue;
    }
  }
  return {
    run: run.id,
    rows: run.gold.length,
    baseline: base?.name,
    correction: `Holm–Bonferroni over ${base && testable(base) ? run.outcomes.filter((o) => o !== base && testable(o)).length : 0} comparisons with the baseline (McNemar exact p-values), α = ${alpha}${run.outcomes.some((o) => (o.replicates?.length ?? 0) > 1) ? `; strategies with replicates are paired by their first replicate (seed ${run.config.seed})` : ""}`,
    table,
    pairwise,
  };
}
