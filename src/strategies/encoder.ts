/** The encoder strategy: a fine-tuned encoder classifier run by the inference engine. */
import { classifyWithEncoder, type InferenceOptions } from "../encoders/inference.js";
import type { EncoderModel } from "../encoders/model.js";
import type { Prediction, Strategy } from "./strategy.js";

export function encoderStrategy(model: EncoderModel, options: Omit<InferenceOptions, "onProgress"> = {}): Strategy & { lastTruncated: number } {
  const strategy = {
    name: "encoder",
    labels: model.labels,
    lastTruncated: 0,
    async classify(texts: readonly string[], onProgress?: (done: number) => void): Promise<Prediction[]> {
      const result = await classifyWithEncoder(model, texts, { ...options, onProgress: (done) => onProgress?.(done) });
      strategy.lastTruncated = result.truncated;
      const k = result.labels.length;
      const latencyMs = texts.length ? (result.seconds * 1000) / texts.length : 0;
      return result.predictions.map((label, row) => ({
        label,
        probabilities: Array.from(result.probabilities.subarray(row * k, (row + 1) * k)),
        costUsd: 0,
        latencyMs,
      }));
    },
  };
  return strategy;
}
