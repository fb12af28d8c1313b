/**
 * Prices in US dollars per million tokens, in one dated table. Provider prices change: users override
 * or extend the table with a JSON or YAML file of the same shape (`--pricing FILE`). Fine-tuned model
 * ids (ft:BASE:org::id) are priced by their base model's fine-tuned rates. Pure, but for loading the override.
 */
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { UserError } from "../core/errors.js";
import { providerPricing } from "./providers/registry.js";
import type { Usage } from "./types.js";

export interface ModelPrice {
  input: number;
  cachedInput: number;
  output: number;
  /** Inference prices of models fine-tuned from this one. */
  fineTuned?: { input: number; cachedInput: number; output: number };
  /** Training, per million training tokens (tokens × epochs). */
  training?: number;
  /** Batch API discount on input and output (0.5 = half price). */
  batchDiscount?: number;
}

export const PRICES_AS_OF = "2025-06-01";

/** From the providers' published price pages as of PRICES_AS_OF. */
export const DEFAULT_PRICES: Record<string, ModelPrice> = {
  "gpt-4o": { input: 2.5, cachedInput: 1.25, output: 10, fineTuned: { input: 3.75, cachedInput: 1.875, output: 15 }, training: 25, batchDiscount: 0.5 },
  "gpt-4o-2024-08-06": { input: 2.5, cachedInput: 1.25, output: 10, fineTuned: { input: 3.75, cachedInput: 1.875, output: 15 }, training: 25, batchDiscount: 0.5 },
  "gpt-4o-mini": { input: 0.15, cachedInput: 0.075, output: 0.6, fineTuned: { input: 0.3, cachedInput: 0.15, output: 1.2 }, training: 3, batchDiscount: 0.5 },
  "gpt-4o-mini-2024-07-18": { input: 0.15, cachedInput: 0.075, output: 0.6, fineTuned: { input: 0.3, cachedInput: 0.15, output: 1.2 }, training: 3, batchDiscount: 0.5 },
  "gpt-4.1": { input: 2, cachedInput: 0.5, output: 8, fineTuned: { input: 3, cachedInput: 0.75, output: 12 }, training: 25, batchDiscount: 0.5 },
  "gpt-4.1-mini": { input: 0.4, cachedInput: 0.1, output: 1.6, fineTuned: { input: 0.8, cachedInput: 0.2, output: 3.2 }, training: 5, batchDiscount: 0.5 },
  "gpt-4.1-nano": { input: 0.1, cachedInput: 0.025, output: 0.4, fineTuned: { input: 0.2, cachedInput: 0.05, output: 0.8 }, training: 1.5, batchDiscount: 0.5 },
  "gpt-3.5-turbo": { input: 0.5, cachedInput: 0.5, output: 1.5, fineTuned: { input: 3, cachedInput: 3, output: 6 }, training: 8, batchDiscount: 0.5 },
  // Mistral (mistral:): fine-tuned models run at their base model's prices.
  "open-mistral-nemo": { input: 0.15, cachedInput: 0.15, output: 0.15, fineTuned: { input: 0.15, cachedInput: 0.15, output: 0.15 }, training: 1 },
  "mistral-small-latest": { input: 0.1, cachedInput: 0.1, output: 0.3, fineTuned: { input: 0.1, cachedInput: 0.1, output: 0.3 }, training: 4 },
  "codestral-latest": { input: 0.3, cachedInput: 0.3, output: 0.9, fineTuned: { input: 0.3, cachedInput: 0.3, output: 0.9 }, training: 3 },
  "mistral-large-latest": { input: 2, cachedInput: 2, output: 6, fineTuned: { input: 2, cachedInput: 2, output: 6 }, training: 9 },
  // Together AI (together:): LoRA fine-tuning priced by model size (up to 16 B, 17–69 B, 70–100 B).
  "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference": { input: 0.18, cachedInput: 0.18, output: 0.18, fineTuned: { input: 0.18, cachedInput: 0.18, output: 0.18 }, training: 0.48 },
  "meta-llama/Meta-Llama-3.1-70B-Instruct-Reference": { input: 0.88, cachedInput: 0.88, output: 0.88, fineTuned: { input: 0.88, cachedInput: 0.88, output: 0.88 }, training: 2.9 },
  "Qwen/Qwen2.5-7B-Instruct": { input: 0.3, cachedInput: 0.3, output: 0.3, fineTuned: { input: 0.3, cachedInput: 0.3, output: 0.3 }, training: 0.48 },
  "claude-3-5-haiku": { input: 0.8, cachedInput: 0.08, output: 4, batchDiscount: 0.5 },
  "claude-3-haiku": { input: 0.25, cachedInput: 0.03, output: 1.25, batchDiscount: 0.5 },
  "claude-3-5-sonnet": { input: 3, cachedInput: 0.3, output: 15, batchDiscount: 0.5 },
  "claude-sonnet-4": { input: 3, cachedInput: 0.3, output: 15, batchDiscount: 0.5 },
  "claude-opus-4": { input: 15, cachedInput: 1.5, output: 75, batchDiscount: 0.5 },
};

export type PriceTable = Record<string, ModelPrice>;

export function loadPriceTable(file?: string): PriceTable {
  if (!file) return DEFAULT_PRICES;
  let parsed: unknown;
  try {
    const text = readFileSync(file, "utf8");
    parsed = file.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new UserError(`cannot read the pricing file (${(error as Error).message})`, { file });
  }
  if (typeof parsed !== "object" || parsed === null) throw new UserError("the pricing file must map model names to prices", { file });
  for (const [model, price] of Object.entries(parsed as Record<string, unknown>)) {
    const p = price as Partial<ModelPrice>;
    for (const field of ["input", "output"] as const) {
      if (typeof p[field] !== "number") throw new UserError(`"${field}" must be a number (dollars per million tokens)`, { file, column: model });
    }
    p.cachedInput ??= p.input;
  }
  return { ...DEFAULT_PRICES, ...(parsed as PriceTable) };
}

export interface PriceLookup {
  price?: { input: number; cachedInput: number; output: number };
  training?: number;
  batchDiscount: number;
  /** The table entry used, for reports ("gpt-4o-mini (fine-tuned)"). */
  basis: string;
  /** No price is known: costs count 0 and a budget cannot stop the calls. */
  unpriced?: boolean;
}

/**
 * Prices for a model id: the config's own `price` first, then the table — exact, by dated-snapshot
 * prefix, fine-tuned via ft:BASE:... — else unknown. A local model costs nothing; an OpenAI-compatible
 * endpoint (compat:) the table does not name is priced 0 and says so (`unpriced`): a budget cannot stop it.
 */
export function lookupPrice(table: PriceTable, provider: string, id: string, own?: { input: number; output: number; cachedInput?: number }): PriceLookup {
  // How a provider is priced past the table is the registry's to say.
  const pricing = providerPricing(provider);
  if (own) return { price: { input: own.input, cachedInput: own.cachedInput ?? own.input, output: own.output }, batchDiscount: 1, basis: "the strategy's own price" };
  if (pricing === "free" && !table[id]) return { price: { input: 0, cachedInput: 0, output: 0 }, batchDiscount: 1, basis: "local (free)" };
  const fineTuned = id.startsWith("ft:");
  const base = fineTuned ? (id.split(":")[1] ?? "") : id;
  const key = table[base] ? base : Object.keys(table).filter((name) => base.startsWith(name)).sort((a, b) => b.length - a.length)[0];
  if (!key && pricing === "table-else-unpriced-free") return { price: { input: 0, cachedInput: 0, output: 0 }, batchDiscount: 1, basis: `${provider}: no price known (priced 0: give it with price: or --pricing)`, unpriced: true };
  if (!key) return { batchDiscount: 1, basis: "unknown (add it with --pricing)", unpriced: true };
  const entry = table[key] as ModelPrice;
  if (fineTuned) {
    if (!entry.fineTuned) return { batchDiscount: 1, basis: `${key}: no fine-tuned price (add it with --pricing)` };
    return { price: entry.fineTuned, training: entry.training, batchDiscount: entry.batchDiscount ?? 1, basis: `${key} (fine-tuned)` };
  }
  return { price: entry, training: entry.training, batchDiscount: entry.batchDiscount ?? 1, basis: key };
}

/** Dollars for one response's usage (cached input tokens at the cached rate). */
export function costOf(usage: Usage, lookup: PriceLookup, batch = false): number {
  if (!lookup.price) return 0;
  const { input, cachedInput, output } = lookup.price;
  const uncached = Math.max(0, usage.inputTokens - usage.cachedInputTokens);
  const dollars = (uncached * input + usage.cachedInputTokens * cachedInput + usage.outputTokens * output) / 1e6;
  return batch ? dollars * lookup.batchDiscount : dollars;
}

/** Dollars with enough decimals to show what a few calls cost. */
export function formatUsd(dollars: number): string {
  return `$${dollars >= 1 ? dollars.toFixed(2) : dollars >= 0.01 ? dollars.toFixed(4) : dollars.toFixed(6)}`;
}
