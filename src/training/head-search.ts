/**
 * Hyper-parameter search for the classifier head: a sampler better than a grid (random for the first
 * trials, then a tree-structured Parzen estimator: candidates are drawn at random and the one most
 * likely under the good trials' density relative to the bad trials' is tried), and median pruning (a
 * trial whose best validation macro F1 after an epoch is below the median of the finished trials' at
 * that epoch stops there). Pure computation: the caller trains and reports each trial's epochs.
 */
import { Random } from "../core/random.js";
import type { Activation } from "../encoders/head.js";

export interface SearchSpace {
  /** Learning rate, sampled log-uniformly. */
  lr: [number, number];
  hiddenDim: number[];
  layers: number[];
  /** Dropout, sampled uniformly. */
  dropout: [number, number];
  activation: Activation[];
}

export const DEFAULT_SEARCH_SPACE: SearchSpace = {
  lr: [1e-4, 3e-3],
  hiddenDim: [128, 256, 512, 1024],
  layers: [1, 2, 3],
  dropout: [0, 0.5],
  activation: ["relu", "gelu", "swishglu", "tanh"],
};

export interface TrialParams {
  lr: number;
  hiddenDim: number;
  layers: number;
  dropout: number;
  activation: Activation;
}

export interface TrialRecord {
  trial: number;
  params: TrialParams;
  /** Validation macro F1 after each epoch run. */
  scores: number[];
  /** The best of `scores` (the epoch whose weights the trial keeps). */
  best: number;
  status: "complete" | "pruned";
  seconds: number;
}

const pick = <T>(random: Random, values: readonly T[]): T => values[Math.floor(random.nextFloat() * values.length)] as T;

function randomParams(space: SearchSpace, random: Random): TrialParams {
  const [lo, hi] = space.lr;
  return {
    lr: Math.exp(Math.log(lo) + random.nextFloat() * (Math.log(hi) - Math.log(lo))),
    hiddenDim: pick(random, space.hiddenDim),
    layers: pick(random, space.layers),
    dropout: space.dropout[0] + random.nextFloat() * (space.dropout[1] - space.dropout[0]),
    activation: pick(random, space.activation),
  };
}

/** Parzen density of x among `points` on [lo, hi]: Gaussians of bandwidth (hi − lo) / √(n + 1) plus a uniform prior. */
function continuousDensity(x: number, points: readonly number[], lo: number, hi: number): number {
  const width = (hi - lo) / Math.sqrt(points.length + 1) || 1;
  let sum = 1 / (hi - lo || 1); // the prior, weighted as one point
  for (const p of points) sum += Math.exp(-0.5 * ((x - p) / width) ** 2) / (width * Math.sqrt(2 * Math.PI));
  return sum / (points.length + 1);
}

/** Smoothed frequency of a category among `points` (one pseudo-count each). */
function categoricalDensity<T>(x: T, points: readonly T[], categories: readonly T[]): number {
  return (points.filter((p) => p === x).length + 1) / (points.length + categories.length);
}

/** log l(x) − log g(x): how much likelier the candidate is among the good trials than among the rest. */
function goodnessRatio(candidate: TrialParams, good: readonly TrialParams[], bad: readonly TrialParams[], space: SearchSpace): number {
  const logLr = space.lr.map(Math.log) as [number, number];
  const terms: Array<[number, number]> = [
    [continuousDensity(Math.log(candidate.lr), good.map((t) => Math.log(t.lr)), ...logLr), continuousDensity(Math.log(candidate.lr), bad.map((t) => Math.log(t.lr)), ...logLr)],
    [continuousDensity(candidate.dropout, good.map((t) => t.dropout), ...space.dropout), continuousDensity(candidate.dropout, bad.map((t) => t.dropout), ...space.dropout)],
    [categoricalDensity(candidate.hiddenDim, good.map((t) => t.hiddenDim), space.hiddenDim), categoricalDensity(candidate.hiddenDim, bad.map((t) => t.hiddenDim), space.hiddenDim)],
    [categoricalDensity(candidate.layers, good.map((t) => t.layers), space.layers), categoricalDensity(candidate.layers, bad.map((t) => t.layers), space.layers)],
    [categoricalDensity(candidate.activation, good.map((t) => t.activation), space.activation), categoricalDensity(candidate.activation, bad.map((t) => t.activation), space.activation)],
  ];
  return terms.reduce((sum, [l, g]) => sum + Math.log(l) - Math.log(g), 0);
}

export interface SamplerOptions {
  /** Random trials before the estimator takes over (default 5). */
  startup?: number;
  /** Share of the finished trials counted as good (default 0.25). */
  gamma?: number;
  /** Random candidates scored per suggestion (default 24). */
  candidates?: number;
}

/** The next trial's parameters given the finished ones (pruned trials count with their best score). */
export function suggestTrial(space: SearchSpace, history: readonly TrialRecord[], random: Random, options: SamplerOptions = {}): TrialParams {
  const startup = options.startup ?? 5;
  if (history.length < startup) return randomParams(space, random);
  const ranked = [...history].sort((a, b) => b.best - a.best);
  const cut = Math.max(1, Math.ceil((options.gamma ?? 0.25) * ranked.length));
  const good = ranked.slice(0, cut).map((t) => t.params);
  const bad = ranked.slice(cut).map((t) => t.params);
  let best: TrialParams | undefined;
  let bestRatio = -Infinity;
  for (let c = 0; c < (options.candidates ?? 24); c++) {
    const candidate = randomParams(space, random);
    const ratio = goodnessRatio(candidate, good, bad, space);
    if (ratio > bestRatio) [best, bestRatio] = [candidate, ratio];
  }
  return best!;
}

/**
 * Median pruning: after `epoch` (1-based, from `minEpoch` on, once `minTrials` trials have finished),
 * a trial whose best score so far is below the median of the finished trials' best-so-far at that
 * epoch stops. Returns the reason, or undefined to go on.
 */
export function pruneReason(scores: readonly number[], history: readonly TrialRecord[], options: { minEpoch?: number; minTrials?: number } = {}): string | undefined {
  const epoch = scores.length;
  if (epoch < (options.minEpoch ?? 2) || history.length < (options.minTrials ?? 3)) return undefined;
  const peers = history.filter((t) => t.scores.length >= epoch).map((t) => Math.max(...t.scores.slice(0, epoch))).sort((a, b) => a - b);
  if (peers.length < (options.minTrials ?? 3)) return undefined;
  const middle = peers.length / 2;
  const median = peers.length % 2 ? (peers[Math.floor(middle)] as number) : ((peers[middle - 1] as number) + (peers[middle] as number)) / 2;
  const mine = Math.max(...scores);
  return mine < median ? `pruned after epoch ${epoch}: best validation macro F1 ${(mine * 100).toFixed(2)} below the median ${(median * 100).toFixed(2)} of ${peers.length} finished trials` : undefined;
}
