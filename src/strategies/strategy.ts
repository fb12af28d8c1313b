/** The one interface of everything that classifies: texts in; labels, probabilities, who answered, status, tokens, cost and latency out. */
import type { StrategyType } from "./config.js";

/** ok: a label; unparseable: the model answered, but with no single label; error: the call failed; skipped: not run (interrupted, budget). */
export type PredictionStatus = "ok" | "unparseable" | "error" | "skipped";

export interface Prediction {
  /** The predicted label, or "" when there is none (counted as wrong). */
  label: string;
  /** Class probabilities in the strategy's label order, when it has them. */
  probabilities?: number[];
  /** The strategy that gave this answer (a cascade's encoder or LLM, or the strategy itself). */
  answeredBy?: string;
  status: PredictionStatus;
  /** Why there is no label (status unparseable, error or skipped). */
  error?: string;
  /** The model's answer as it was written (LLMs). */
  raw?: string;
  inputTokens?: number;
  outputTokens?: number;
  /** Money spent on this item, in US dollars (answers from the cache count their original price). */
  costUsd: number;
  latencyMs?: number;
  /** Answered from the response cache (nothing paid in this run). */
  cached?: boolean;
}

export interface ClassifyOptions {
  /** Called with the number of texts done so far. */
  onProgress?: (done: number) => void;
  /** Predictions that members already made for these same texts: used instead of running them again. */
  known?: ReadonlyMap<Strategy, readonly Prediction[]>;
  /** Hints for an LLM's prompt given by the caller (e.g. the encoder columns of a file), one per text. */
  hints?: readonly Prediction[];
  /** Sampling seed for the LLMs inside (replicates); overrides their configured one. */
  samplingSeed?: number;
  /** Aborts calls in flight (their answers are lost). */
  signal?: AbortSignal;
  /** Stops dispatching new calls: calls in flight finish and are cached, the rest are "skipped". */
  stop?: AbortSignal;
  /** A cascade sends every text to its LLM for this call (τ = 1: a degraded audit's override); others ignore it. */
  forceLlm?: boolean;
  /** Facts of this call, reported by each strategy that ran (members included), not kept on the instance. */
  onReport?: (report: CallReport) => void;
}

/** What one classify call of one strategy met, beside its predictions. */
export interface CallReport {
  strategy: string;
  /** Texts cut at the encoder's token limit. */
  truncated?: { count: number; limit: number };
  /** Texts cut at an LLM's input cap (characters). */
  cut?: { count: number; maxChars: number };
  /** LLM calls retried (rate limits, server errors). */
  retries?: number;
}

export interface Strategy {
  readonly name: string;
  readonly type: StrategyType;
  /** Label order of the probability vectors. */
  readonly labels: readonly string[];
  /** The strategies this one is built on (cascade: encoder, llm; ensemble: members; llm: its hints). */
  readonly members: readonly Strategy[];
  /** One prediction per text, in input order. */
  classify(texts: readonly string[], options?: ClassifyOptions): Promise<Prediction[]>;
  /** Frees sessions and models (members too); safe to call more than once. */
  close(): Promise<void>;
}

/** A member's predictions for these texts: known already, or computed now. */
export async function memberPredictions(member: Strategy, texts: readonly string[], options: ClassifyOptions = {}): Promise<readonly Prediction[]> {
  const known = options.known?.get(member);
  if (known) return known;
  return member.classify(texts, { known: options.known, samplingSeed: options.samplingSeed, signal: options.signal, stop: options.stop, onReport: options.onReport });
}

/** `known` restricted to some rows (for members run on a subset of the texts). */
export function knownSubset(known: ReadonlyMap<Strategy, readonly Prediction[]> | undefined, rows: readonly number[]): Map<Strategy, Prediction[]> | undefined {
  if (!known) return undefined;
  return new Map([...known].map(([strategy, predictions]) => [strategy, rows.map((i) => predictions[i] as Prediction)]));
}

/** Probabilities re-ordered from one label order to another (labels missing from `from` get 0). */
export function reorderProbabilities(probabilities: readonly number[] | undefined, from: readonly string[], to: readonly string[]): number[] | undefined {
  if (!probabilities) return undefined;
  if (from.length === to.length && from.every((label, i) => label === to[i])) return [...probabilities];
  return to.map((label) => {
    const j = from.indexOf(label);
    return j < 0 ? 0 : (probabilities[j] as number);
  });
}

/** A close() that runs once. */
export function closeOnce(release: () => Promise<void>): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => (closing ??= release());
}
