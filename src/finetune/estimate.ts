/**
 * Token counts and the cost of a fine-tuning file before it is sent: tokens per example with the model
 * family's tokenizer, examples over the training context limit (truncated by the provider), length
 * distribution, and training tokens × epochs × the training price. Epochs "auto" follows OpenAI's
 * documented default: 3, raised so that at least 100 examples are seen or lowered so that at most
 * 25,000 are (within 1–25 epochs). Pure, given the tokenizer.
 */
import { summarizeLengths, type LengthSummary } from "../data/stats.js";
import { countChatTokens, countTokens } from "../llm/tokens.js";
import type { ChatMessage } from "../llm/types.js";
import type { PriceLookup } from "../llm/pricing.js";

/** Training context (tokens per example) of the fine-tunable models. */
export const TRAINING_CONTEXT: Record<string, number> = {
  "babbage-002": 16_384,
  "davinci-002": 16_384,
  "gpt-4o-mini": 65_536,
  "gpt-4o": 65_536,
  "gpt-4.1": 65_536,
  "gpt-4.1-mini": 65_536,
  "gpt-4.1-nano": 65_536,
  "gpt-3.5-turbo": 16_385,
};

export function trainingContext(model: string): number {
  const key = Object.keys(TRAINING_CONTEXT).filter((name) => model.startsWith(name)).sort((a, b) => b.length - a.length)[0];
  return key ? (TRAINING_CONTEXT[key] as number) : 16_385;
}

export function autoEpochs(examples: number): number {
  const defaultEpochs = 3;
  if (examples * defaultEpochs < 100) return Math.min(25, Math.ceil(100 / examples));
  if (examples * defaultEpochs > 25_000) return Math.max(1, Math.floor(25_000 / examples));
  return defaultEpochs;
}

export interface FineTuneEstimate {
  model: string;
  examples: number;
  tokens: LengthSummary & { total: number };
  overContext: { count: number; lines: number[]; limit: number };
  /** Tokens billed per epoch (examples over the limit count up to the limit). */
  billedTokensPerEpoch: number;
  epochs: number;
  epochsAuto: boolean;
  trainingTokens: number;
  pricePerMillion: number | null;
  costUsd: number | null;
  basis: string;
}

export function estimateFineTune(
  examples: ReadonlyArray<{ messages: ChatMessage[] } | { prompt: string; completion: string }>,
  model: string,
  epochs: number | "auto",
  prices: PriceLookup,
): FineTuneEstimate {
  const limit = trainingContext(model);
  // Prompt/completion examples are billed as their two texts; chat examples with the chat format's overhead.
  const counts = examples.map((example) => ("messages" in example ? countChatTokens(example.messages, model) : countTokens(example.prompt, model) + countTokens(example.completion, model)));
  const over = counts.map((count, i) => (count > limit ? i + 1 : -1)).filter((line) => line > 0);
  const billed = counts.reduce((sum, count) => sum + Math.min(count, limit), 0);
  const resolvedEpochs = epochs === "auto" ? autoEpochs(examples.length) : epochs;
  const trainingTokens = billed * resolvedEpochs;
  const price = prices.training ?? null;
  return {
    model,
    examples: examples.length,
    tokens: { ...summarizeLengths(counts), total: counts.reduce((a, b) => a + b, 0) },
    overContext: { count: over.length, lines: over.slice(0, 5), limit },
    billedTokensPerEpoch: billed,
    epochs: resolvedEpochs,
    epochsAuto: epochs === "auto",
    trainingTokens,
    pricePerMillion: price,
    costUsd: price === null ? null : (trainingTokens * price) / 1e6,
    basis: prices.basis,
  };
}
