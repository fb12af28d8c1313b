/**
 * The one-call entry: `createClassifier("starter" | folder | hub id | "provider:model" | strategy config)`
 * gives a classifier with `classify(texts)` and `close()`.
 */
import type { StrategyConfigInput } from "./strategies/config.js";
import { createStrategies, createStrategy, type StrategyContext, type StrategyFile } from "./strategies/factory.js";
import type { ClassifyOptions, Prediction, Strategy } from "./strategies/strategy.js";

/** One text's answer: the strategy's prediction plus its probabilities keyed by label. */
export interface ClassificationResult extends Prediction {
  text: string;
  /** Probabilities by label name (empty when the answer has none). */
  probabilitiesByLabel: Record<string, number>;
}

export interface Classifier {
  readonly name: string;
  readonly type: Strategy["type"];
  /** Label order of `probabilities`. */
  readonly labels: readonly string[];
  /** The strategy underneath (for members, estimates and the like). */
  readonly strategy: Strategy;
  /** One result per text, in input order. */
  classify(texts: readonly string[], options?: ClassifyOptions): Promise<ClassificationResult[]>;
  /** Frees models and sessions. */
  close(): Promise<void>;
}

/**
 * Builds a classifier. `spec` is a shorthand string — `"starter"` (the bundled encoder), a model folder,
 * a hub id (`org/name`), `"lexicon"`, or a provider model (`"openai:gpt-4o-mini"`) — or a strategy config
 * (`{ type: "cascade", encoder: "starter", llm: "openai:gpt-4o-mini", tau: 0.7 }`), or a set of named
 * strategies with the one to use (`{ strategies: [...], default: "name" }`).
 *
 * @example
 * const clf = await createClassifier("starter");
 * const [result] = await clf.classify(["I love this place"]);
 * await clf.close();
 */
export async function createClassifier(spec: string | StrategyConfigInput | StrategyFile, context: StrategyContext = {}): Promise<Classifier> {
  let strategy: Strategy;
  let close: () => Promise<void>;
  if (typeof spec === "object" && "strategies" in spec) {
    const set = await createStrategies(spec.strategies, context);
    const chosen = set.strategies.get(spec.default);
    if (!chosen) {
      await set.close();
      throw new Error(`createClassifier: no strategy named "${spec.default}"`);
    }
    strategy = chosen;
    close = set.close;
  } else {
    strategy = await createStrategy(spec, context);
    close = () => strategy.close();
  }
  return {
    name: strategy.name,
    type: strategy.type,
    labels: strategy.labels,
    strategy,
    async classify(texts, options) {
      const predictions = await strategy.classify(texts, options);
      return predictions.map((p, i) => ({
        ...p,
        text: texts[i] as string,
        probabilitiesByLabel: p.probabilities ? Object.fromEntries(strategy.labels.map((label, c) => [label, p.probabilities![c] as number])) : {},
      }));
    },
    close,
  };
}
