/** The encoder strategy: a fine-tuned encoder classifier run by the inference engine. */
import { inSpan } from "../core/spans.js";
import { UserError } from "../core/errors.js";
import { resolveModelDir } from "../encoders/hub.js";
import { classifyWithEncoder, type InferenceOptions } from "../encoders/inference.js";
import { EncoderModel } from "../encoders/model.js";
import { packingRowTokens } from "../encoders/packing.js";
import type { EncoderConfig } from "./config.js";
import { closeOnce, type Prediction, type Strategy } from "./strategy.js";

export interface EncoderStrategy extends Strategy {
  readonly model: EncoderModel;
  /** The effective token limit (the model's positions when smaller than maxLength). */
  readonly tokenLimit: number;
  /** Tokens per packed row, or undefined when batches are padded. */
  readonly packing?: number;
}

/** A strategy over a loaded model (the caller owns the model unless `ownsModel`). */
export function encoderStrategy(model: EncoderModel, options: Omit<InferenceOptions, "onProgress"> = {}, name = "encoder", ownsModel = false): EncoderStrategy {
  if (model.kind === "embedding") {
    throw new UserError("this model is an embedding model (no classifier head); use `tandem embed`, or train a head with `tandem train head`", { file: model.dir });
  }
  const strategy: EncoderStrategy = {
    name,
    type: "encoder",
    labels: model.labels,
    members: [],
    model,
    tokenLimit: Math.min(options.maxLength ?? 512, model.maxPositions),
    packing: options.packing,
    async classify(texts, { onProgress, onReport } = {}): Promise<Prediction[]> {
      const result = await inSpan(`encoder ${name}`, { "tandem.texts": texts.length }, () => classifyWithEncoder(model, texts, { ...options, onProgress: (done) => onProgress?.(done) }));
      onReport?.({ strategy: name, truncated: { count: result.truncated, limit: strategy.tokenLimit } });
      const k = result.labels.length;
      const latencyMs = texts.length ? (result.seconds * 1000) / texts.length : 0;
      return result.predictions.map((label, row) => ({
        label,
        probabilities: Array.from(result.probabilities.subarray(row * k, (row + 1) * k)),
        answeredBy: name,
        status: "ok",
        costUsd: 0,
        latencyMs,
      }));
    },
    close: closeOnce(async () => {
      if (ownsModel) await model.release();
    }),
  };
  return strategy;
}

/** Loads the config's model (folder, hub id or "starter") and wraps it. */
export async function loadEncoderStrategy(config: EncoderConfig, name: string, onDownload?: (file: string) => void): Promise<EncoderStrategy> {
  const dir = await resolveModelDir(config.model, { onDownload });
  const rowTokens = packingRowTokens(config.packing);
  const model = await EncoderModel.load(dir, { threads: config.threads, executionProvider: config.device, spinWait: config.spinWait, packing: config.packing === "auto" ? "auto" : rowTokens !== undefined });
  return encoderStrategy(model, { batchSize: config.batchSize, maxLength: config.maxLength, bucketing: config.bucketing, paddingSlack: config.paddingSlack, packing: model.canPack ? rowTokens : undefined }, name, true);
}
