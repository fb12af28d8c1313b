/**
 * Cascades: the encoder answers when its top probability is at least τ, the LLM answers the rest.
 * The live cascade strategy asks the LLM about those items only.
 * The what-if curve computes macro F1, accuracy and the share of items sent to the LLM for every τ from
 * stored predictions (no calls), and τ is chosen for a target macro F1 at the lowest LLM share, or
 * for the best macro F1 within a budget of LLM share.
 */
import { classCounts, encodePairs, sortLabels, unionOf } from "../metrics/labels.js";
import { macroF1FromCounts } from "../metrics/report.js";
import { closeOnce, knownSubset, memberPredictions, reorderProbabilities, type Prediction, type Strategy } from "./strategy.js";

/**
 * The one routing rule of every cascade (live, from stored predictions, the what-if curve, the
 * certificate): the LLM answers when the encoder's top probability is below τ, and also when the
 * encoder gave none (NaN), since an unknown confidence is not a confident answer. τ = 1 is the LLM
 * alone: a float32 softmax can round to exactly 1, and "τ = 1" must not let those through.
 */
export function routesToLlm(confidence: number, tau: number): boolean {
  return tau >= 1 || !(confidence >= tau);
}

/** The top class probability of a prediction, NaN when it has none or gave no label. */
export function topProbability(prediction: Pick<Prediction, "probabilities" | "status">): number {
  if (prediction.status !== "ok" || !prediction.probabilities || prediction.probabilities.length === 0) return Number.NaN;
  return Math.max(...prediction.probabilities);
}

export interface CascadePoint {
  tau: number;
  macroF1: number;
  accuracy: number;
  /** Share of items answered by the LLM (0–1). */
  llmShare: number;
  llmCalls: number;
  /** Dollars of the LLM answers used at this τ, when per-item costs are known. */
  llmCostUsd?: number;
}

export interface CascadeInput {
  gold: readonly string[];
  encoderPred: readonly string[];
  /** The encoder's top probability per item (NaN: unknown, routed to the LLM). */
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
    if (!routesToLlm(input.encoderConfidence[i] as number, tau)) return input.encoderPred[i] as string;
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
      // Without given labels: scikit-learn's macro F1 on (gold, the cascade's predictions at this τ).
      macroF1: macroF1FromCounts(counts.tp, counts.predSum, counts.trueSum, !input.labels),
      accuracy: counts.correct / counts.total,
      llmShare: input.gold.length ? llmCalls / input.gold.length : 0,
      llmCalls: llmCalls,
    };
    if (input.llmCost) {
      let cost = 0;
      for (let i = 0; i < input.gold.length; i++) if (routesToLlm(input.encoderConfidence[i] as number, tau)) cost += input.llmCost[i] as number;
      point.llmCostUsd = cost;
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
  const byF1 = (a: CascadePoint, b: CascadePoint) => b.macroF1 - a.macroF1 || a.llmShare - b.llmShare;
  if (options.targetF1 !== undefined) {
    const reaching = points.filter((p) => p.macroF1 >= options.targetF1!).sort((a, b) => a.llmShare - b.llmShare || b.macroF1 - a.macroF1);
    if (reaching.length > 0) return { best: reaching[0]!, rule: `lowest LLM share with macro F1 ≥ ${options.targetF1}` };
    return { best: [...points].sort(byF1)[0]!, rule: `no τ reaches macro F1 ${options.targetF1}: best macro F1 instead` };
  }
  if (options.budgetUsd !== undefined) {
    const within = points.filter((p) => (p.llmCostUsd ?? 0) <= options.budgetUsd! + 1e-12).sort(byF1);
    if (within.length > 0) return { best: within[0]!, rule: `best macro F1 with LLM cost ≤ $${options.budgetUsd}` };
    return { best: [...points].sort((a, b) => (a.llmCostUsd ?? 0) - (b.llmCostUsd ?? 0))[0]!, rule: `no τ stays within $${options.budgetUsd}: cheapest instead` };
  }
  if (options.maxLlmShare !== undefined) {
    const within = points.filter((p) => p.llmShare <= options.maxLlmShare! + 1e-12).sort(byF1);
    if (within.length > 0) return { best: within[0]!, rule: `best macro F1 with LLM share ≤ ${options.maxLlmShare}` };
    return { best: [...points].sort((a, b) => a.llmShare - b.llmShare)[0]!, rule: `no τ keeps the LLM share ≤ ${options.maxLlmShare}: lowest share instead` };
  }
  return { best: [...points].sort(byF1)[0]!, rule: "best macro F1 (ties: lower LLM share)" };
}

/**
 * A cascade's answers from its members' answers: the encoder's where it is confident, the LLM's
 * elsewhere (`llm[i]` is only read for routed items, so a live cascade passes a sparse array). Costs
 * add up: the encoder's for every item, the LLM's for routed ones. Probabilities are in `labels` order.
 */
export function combineCascade(
  encoder: readonly Prediction[],
  llm: ReadonlyArray<Prediction | undefined>,
  tau: number,
  orders: { labels: readonly string[]; encoderLabels: readonly string[]; llmLabels: readonly string[] },
): Prediction[] {
  return encoder.map((first, i) => {
    if (!routesToLlm(topProbability(first), tau)) return { ...first, probabilities: reorderProbabilities(first.probabilities, orders.encoderLabels, orders.labels) };
    const answer = llm[i];
    if (!answer) throw new Error(`cascade: no LLM answer for routed item ${i}`);
    return {
      ...answer,
      probabilities: reorderProbabilities(answer.probabilities, orders.llmLabels, orders.labels),
      costUsd: first.costUsd + answer.costUsd,
      latencyMs: (first.latencyMs ?? 0) + (answer.latencyMs ?? 0),
    };
  });
}

/** Rows a cascade sends to the LLM, given the encoder's answers. */
export function routedRows(encoder: readonly Prediction[], tau: number): number[] {
  const rows: number[] = [];
  encoder.forEach((p, i) => {
    if (routesToLlm(topProbability(p), tau)) rows.push(i);
  });
  return rows;
}

/** A live cascade: the encoder first, the LLM only for the items it routes. */
export function cascadeStrategy(encoder: Strategy, llm: Strategy, tau: number, name = `cascade(τ=${tau})`): Strategy {
  const labels = encoder.labels;
  return {
    name,
    type: "cascade",
    labels,
    members: [encoder, llm],
    async classify(texts, options = {}) {
      const first = await memberPredictions(encoder, texts, options);
      const callTau = options.forceLlm ? 1 : tau;
      const rows = routedRows(first, callTau);
      options.onProgress?.(texts.length - rows.length);
      const known = options.known?.get(llm);
      const sparse: Array<Prediction | undefined> = new Array(texts.length);
      if (known) rows.forEach((i) => (sparse[i] = known[i]));
      else if (rows.length > 0) {
        const subsetKnown = knownSubset(options.known, rows) ?? new Map<Strategy, Prediction[]>();
        // The LLM's hints, when they are this cascade's encoder, are already known for these rows.
        subsetKnown.set(encoder, rows.map((i) => first[i] as Prediction));
        const second = await llm.classify(rows.map((i) => texts[i] as string), {
          ...options,
          known: subsetKnown,
          hints: options.hints ? rows.map((i) => options.hints![i] as Prediction) : undefined,
          onProgress: (done) => options.onProgress?.(texts.length - rows.length + done),
        });
        rows.forEach((i, j) => (sparse[i] = second[j]));
      }
      options.onProgress?.(texts.length);
      return combineCascade(first, sparse, callTau, { labels, encoderLabels: encoder.labels, llmLabels: llm.labels });
    },
    close: closeOnce(async () => {
      await encoder.close();
      await llm.close();
    }),
  };
}
