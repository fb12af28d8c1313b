/**
 * The columns a classification adds to each row — the same in `tandem classify` files and job results,
 * so both are byte-identical for the same input. Probabilities are written in sorted label order (the
 * default order of `tandem evaluate`), six decimals; costs eight.
 */
import { UserError } from "../core/errors.js";
import { sortLabels } from "../metrics/labels.js";
import type { Prediction, Strategy } from "./strategy.js";

export interface OutputColumns {
  /** Added column → name written (plain, or prefixed when the input already has the name). */
  names: Record<string, string>;
  /** Input columns then the added ones. */
  columns: string[];
  /** The added values of one prediction, by written name. */
  values(prediction: Prediction): Record<string, unknown>;
}

/** What a strategy adds: prediction and probabilities; answered_by for cascades; the LLM columns when an LLM is inside. */
export function addedColumns(type: Strategy["type"], withLlm: boolean): string[] {
  return ["prediction", "probabilities", ...(type === "cascade" ? ["answered_by"] : []), ...(withLlm ? ["raw_answer", "error", "status", "input_tokens", "output_tokens", "cost_usd", "cached"] : [])];
}

/**
 * The output columns for an input with `existing` columns. Names clash → prefixed with `prefix` or,
 * when none is given, with `STRATEGY_` (reported through `onPrefix`).
 */
export function outputColumns(strategy: Pick<Strategy, "type" | "labels">, withLlm: boolean, existing: readonly string[], options: { prefix?: string; file?: string; onPrefix?: (message: string) => void } = {}): OutputColumns {
  const added = addedColumns(strategy.type, withLlm);
  const chosen = options.prefix ?? (added.some((name) => existing.includes(name)) ? `${strategy.type}_` : "");
  const names = Object.fromEntries(added.map((name) => [name, `${chosen}${name}`]));
  for (const name of Object.values(names)) {
    if (existing.includes(name)) throw new UserError(`the input already has a "${name}" column; choose another --prefix`, { file: options.file });
  }
  if (chosen && options.prefix === undefined) options.onPrefix?.(`the input already has a "${added.find((n) => existing.includes(n))}" column: writing ${Object.values(names).join(", ")}`);
  const sorted = sortLabels(strategy.labels);
  const position = sorted.map((label) => strategy.labels.indexOf(label));
  return {
    names,
    columns: [...existing, ...Object.values(names)],
    values(p) {
      const all: Record<string, unknown> = {
        prediction: p.label,
        probabilities: p.probabilities ? position.map((j) => Number((p.probabilities![j] as number).toFixed(6))) : undefined,
        answered_by: p.answeredBy,
        raw_answer: p.raw,
        error: p.error,
        status: p.status,
        input_tokens: p.inputTokens ?? 0,
        output_tokens: p.outputTokens ?? 0,
        cost_usd: Number(p.costUsd.toFixed(8)),
        cached: p.cached ?? false,
      };
      return Object.fromEntries(Object.entries(names).map(([key, column]) => [column, all[key]]));
    },
  };
}
