/** The encoder strategy: a fine-tuned encoder classifier run by the inference engine. */
import { availableParallelism } from "node:os";
import { inSpan } from "../core/spans.js";
import { UserError } from "../core/errors.js";
import { resolveModelDir } from "../encoders/hub.js";
import { classifyWithEncoder, type InferenceOptions } from "../encoders/inference.js";
import { EncoderModel } from "../encoders/model.js";
import { packingRowTokens } from "../encoders/packing.js";
import type { EncoderConfig } from "./config.js";
import { closeOnce, type Prediction, type Strategy } from "./strategy.js";

export interface EncoderStrategy extends Strategy {
  /** The model (the first copy, when there are replicas). */
  readonly model: EncoderModel;
  /** Copies of the model that run calls at the same time (1 unless loaded with replicas). */
  readonly replicas: number;
  /** The effective token limit (the model's positions when smaller than maxLength). */
  readonly tokenLimit: number;
  /** Tokens per packed row, or undefined when batches are padded. */
  readonly packing?: number;
}

/**
 * A strategy over a loaded model (the caller owns the model unless `ownsModel`). With `replicas` (more
 * copies of the same model, owned like it), each call runs on an idle copy, or waits for one.
 */
export function encoderStrategy(model: EncoderModel, options: Omit<InferenceOptions, "onProgress"> = {}, name = "encoder", ownsModel = false, replicas: readonly EncoderModel[] = []): EncoderStrategy {
  if (model.kind === "embedding") {
    throw new UserError("this model is an embedding model (no classifier head); use `tandem embed`, or train a head with `tandem train head`", { file: model.dir });
  }
  const pool = modelPool([model, ...replicas]);
  const strategy: EncoderStrategy = {
    name,
    type: "encoder",
    labels: model.labels,
    members: [],
    model,
    replicas: 1 + replicas.length,
    tokenLimit: Math.min(options.maxLength ?? 512, model.maxPositions),
    packing: options.packing,
    async classify(texts, { onProgress, onReport } = {}): Promise<Prediction[]> {
      const result = await inSpan(`encoder ${name}`, { "tandem.texts": texts.length }, () => pool.use((copy) => classifyWithEncoder(copy, texts, { ...options, onProgress: (done) => onProgress?.(done) })));
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
      if (ownsModel) for (const copy of [model, ...replicas]) await copy.release();
    }),
  };
  return strategy;
}

/** Calls on idle copies of a model, first come first served; one copy takes every call at once (its session queues them). */
function modelPool(copies: readonly EncoderModel[]): { use<T>(work: (model: EncoderModel) => Promise<T>): Promise<T> } {
  const idle = [...copies];
  const waiting: Array<(model: EncoderModel) => void> = [];
  return {
    async use(work) {
      if (copies.length === 1) return work(copies[0]!);
      const copy = idle.pop() ?? (await new Promise<EncoderModel>((take) => waiting.push(take)));
      try {
        return await work(copy);
      } finally {
        const next = waiting.shift();
        if (next) next(copy);
        else idle.push(copy);
      }
    },
  };
}

/** Loads the config's model (folder, hub id or "starter") and wraps it. */
export async function loadEncoderStrategy(config: EncoderConfig, name: string, onDownload?: (file: string) => void): Promise<EncoderStrategy> {
  const dir = await resolveModelDir(config.model, { onDownload });
  const rowTokens = packingRowTokens(config.packing);
  const { replicas, threads } = replicaPlan(config);
  // Copies compute on worker threads (with replicas set at all, one copy too): calls then run at the same
  // time and the event loop that gathers them stays free.
  const workerThread = config.replicas !== undefined;
  const [model, ...copies] = await EncoderModel.loadCopies(dir, { threads, workerThread, executionProvider: config.device, spinWait: config.spinWait, packing: config.packing === "auto" ? "auto" : rowTokens !== undefined }, replicas);
  return encoderStrategy(model!, { batchSize: config.batchSize, maxLength: config.maxLength, bucketing: config.bucketing, paddingSlack: config.paddingSlack, packing: model!.canPack ? rowTokens : undefined }, name, true, copies);
}

/** Most copies "auto" makes: each holds the whole model in memory, and past a few, threads per copy serve better. */
export const MAX_AUTO_REPLICAS = 4;

/**
 * How many copies, each with how many threads: "auto" is one single-threaded copy per core up to
 * MAX_AUTO_REPLICAS copies, the cores then shared out as threads (fewer copies when `threads` is set).
 */
export function replicaPlan(config: Pick<EncoderConfig, "replicas" | "threads" | "device">, cores = availableParallelism()): { replicas: number; threads: number | undefined } {
  // An accelerator runs one copy: its own scheduling, not the CPU's cores, decides.
  if (config.replicas === undefined || (config.replicas === "auto" && config.device !== undefined && config.device !== "cpu")) return { replicas: 1, threads: config.threads };
  if (config.replicas !== "auto") return { replicas: config.replicas, threads: config.threads ?? (config.replicas > 1 ? Math.max(1, Math.floor(cores / config.replicas)) : undefined) };
  if (config.threads !== undefined) return { replicas: Math.max(1, Math.min(MAX_AUTO_REPLICAS, Math.floor(cores / config.threads))), threads: config.threads };
  const replicas = Math.max(1, Math.min(MAX_AUTO_REPLICAS, cores));
  return { replicas, threads: Math.max(1, Math.floor(cores / replicas)) };
}
