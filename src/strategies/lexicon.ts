/**
 * The rule-based baseline: VADER's compound score (a maintained lexicon and rule set) with a neutral
 * band. Probabilities are a softmax of the distances past the band, so their argmax is the label and
 * they rank items by the compound score (useful for ROC AUC).
 */
import vader from "vader-sentiment";
import type { LexiconConfig } from "./config.js";
import type { Prediction, Strategy } from "./strategy.js";

export const LEXICON_LABELS = ["negative", "neutral", "positive"] as const;

export type LexiconOptions = Pick<LexiconConfig, "neutralThreshold" | "temperature">;

export function lexiconPrediction(text: string, options: LexiconOptions = {}, answeredBy = "lexicon"): Prediction {
  const threshold = options.neutralThreshold ?? 0.05;
  const sharpness = 1 / (options.temperature ?? 0.2);
  const started = performance.now();
  const compound = vader.SentimentIntensityAnalyzer.polarity_scores(text).compound;
  const scores = [sharpness * (-compound - threshold), 0, sharpness * (compound - threshold)];
  const max = Math.max(...scores);
  const exps = scores.map((s) => Math.exp(s - max));
  const total = exps.reduce((a, b) => a + b, 0);
  const probabilities = exps.map((e) => e / total);
  const label = compound >= threshold ? "positive" : compound <= -threshold ? "negative" : "neutral";
  return { label, probabilities, answeredBy, status: "ok", costUsd: 0, latencyMs: performance.now() - started };
}

export function lexiconStrategy(options: LexiconOptions = {}, name = "lexicon"): Strategy {
  return {
    name,
    type: "lexicon",
    labels: LEXICON_LABELS,
    members: [],
    async classify(texts, { onProgress } = {}) {
      const out: Prediction[] = [];
      for (const text of texts) {
        out.push(lexiconPrediction(text, options, name));
        if (out.length % 256 === 0) onProgress?.(out.length);
      }
      onProgress?.(out.length);
      return out;
    },
    close: async () => {},
  };
}
