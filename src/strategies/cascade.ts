/**
 * Cascades: the encoder answers when its top probability is at least τ, the LLM answers the rest.
 * The what-if curve computes macro F1, accuracy and the share of items sent to the LLM for every τ from
 * stored predictions (no calls), and τ is chosen for a target macro F1 at the lowest LLM share, or
 * for the best macro F1 within a budget of LLM share. Pure.
 */
import { classCounts, encodePairs, sortLabels, unionOf } from "../metrics/labels.js";
import { macroF1FromCounts } from "../metrics/report.js";
import type { Prediction, Strategy } from "./strategy.js";

export interface CascadePoint {
  tau: number;
  macro_f1: number;
  accuracy: number;
  /** Share of items answered by the LLM (0–1). */
  llm_share: number;
  llm_calls: number;
  /** Dollars of the LLM answers used at this τ, when per-item costs are known. */
  llm_cost_usd?: number;
}

export interface CascadeInput {
  gold: readonly string[];
  encoderPred: readonly string[];
  /** The encoder's top probability per item. */
  encoderConfidence: ArrayLike<number>;
  llmPred: readonly string[];
  /** Per-item cost of the LLM answer (e.g. the cost_usd column of tandem classify --strategy llm). */
  llmCost?: ArrayLike<number>;
  labels?: readonly string[];
}

/** τ from 0 to 1 in steps of 0.05. */
export const DEFAULT_TAUS = Array.from({ length: 21 }, (_, i) => Number((i * 0.05).toFixed(2)));

export function cascadePredictions(input: CascadeInput, tau: number): { pred: string[]; llmCalls: number } {
  let llmCalls = 0;
  const pred = input.gold.map((_, i) => {
    if ((input.encoderConfidence[i] as number) >= tau) return input.encoderPred[i] as string;
    llmCalls++;
    return input.llmPred[i] as string;
  });
  return { pred, llmCalls };
}

export function cascadeCurve(input: CascadeInput, taus: readonly number[] = DEFAULT_TAUS): CascadePoint[] {
  const labels = input.labels ? [...input.labels] : sortLabels(unionOf(input.gold, input.encoderPred, input.llmPred));
  return taus.map((tau) => {
    const { pred, llmCalls } = cascadePredictions(input, tau);
    const counts = classCounts(encodePairs(input.gold, pred, labels));
    const point: CascadePoint = {
      tau,
      macro_f1: macroF1FromCounts(counts.tp, counts.predSum, counts.trueSum),
      accuracy: counts.correct / counts.total,
      llm_share: input.gold.length ? llmCalls / input.gold.length : 0,
      llm_calls: llmCalls,
    };
    if (input.llmCost) {
      let cost = 0;
      for (let i = 0; i < input.gold.length; i++) if ((input.encoderConfidence[i] as number) < tau) cost += input.llmCost[i] as number;
      point.llm_cost_usd = cost;
    }
    return point;
  });
}

export interface CascadeChoice {
  best: CascadePoint;
  rule: string;
}

/**
 * With `targetF1`: the lowest LLM share reaching it (if none does, the best F1). With `budgetUsd` or
 * `maxLlmShare`: the best F1 within it. Otherwise the best F1 overall, ties to the lower LLM share.
 */
export function chooseTau(points: CascadePoint[], options: { targetF1?: number; maxLlmShare?: number; budgetUsd?: number } = {}): CascadeChoice {
  const byF1 = (a: CascadePoint, b: CascadePoint) => b.macro_f1 - a.macro_f1 || a.llm_share - b.llm_share;
  if (options.targetF1 !== undefined) {
    const reaching = points.filter((p) => p.macro_f1 >= options.targetF1!).sort((a, b) => a.llm_share - b.llm_share || b.macro_f1 - a.macro_f1);
    if (reaching.length > 0) return { best: reaching[0]!, rule: `lowest LLM share with macro F1 ≥ ${options.targetF1}` };
    return { best: [...points].sort(byF1)[0]!, rule: `no τ reaches macro F1 ${options.targetF1}: best macro F1 instead` };
  }
  if (options.budgetUsd !== undefined) {
    const within = points.filter((p) => (p.llm_cost_usd ?? 0) <= options.budgetUsd! + 1e-12).sort(byF1);
    if (within.length > 0) return { best: within[0]!, rule: `best macro F1 with LLM cost ≤ $${options.budgetUsd}` };
    return { best: [...points].sort((a, b) => (a.llm_cost_usd ?? 0) - (b.llm_cost_usd ?? 0))[0]!, rule: `no τ stays within $${options.budgetUsd}: cheapest instead` };
  }
  if (options.maxLlmShare !== undefined) {
    const within = points.filter((p) => p.llm_share <= options.maxLlmShare! + 1e-12).sort(byF1);
    if (within.length > 0) return { best: within[0]!, rule: `best macro F1 with LLM share ≤ ${options.maxLlmShare}` };
    return { best: [...points].sort((a, b) => a.llm_share - b.llm_share)[0]!, rule: `no τ keeps the LLM share ≤ ${options.maxLlmShare}: lowest share instead` };
  }
  return { best: [...points].sort(byF1)[0]!, rule: "best macro F1 (ties: lower LLM share)" };
}

/** A live cascade: the encoder first, the LLM only for the items below τ. */
export function cascadeStrategy(encoder: Strategy, llm: Strategy, tau: number): Strategy {
  return {
    name: `cascade(τ=${tau})`,
    labels: encoder.labels,
    async classify(texts, onProgress) {
      const first = await encoder.classify(texts);
      const uncertain = first.map((p, i) => ({ p, i })).filter(({ p }) => Math.max(...(p.probabilities ?? [0])) < tau);
      const second = await llm.classify(uncertain.map(({ i }) => texts[i] as string), (done) => onProgress?.(texts.length - uncertain.length + done));
      const out: Prediction[] = [...first];
      uncertain.forEach(({ i }, j) => {
        const answer = second[j] as Prediction;
        out[i] = { ...answer, costUsd: (first[i]?.costUsd ?? 0) + (answer.costUsd ?? 0) };
      });
      onProgress?.(texts.length);
      return out;
    },
  };
}
