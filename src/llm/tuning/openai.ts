/** OpenAI's fine-tuning API (and OpenAI-compatible servers) through the official `openai` SDK. */
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import type OpenAI from "openai";
import { redact } from "../../core/redact.js";
import type { CreateRequest, FineTuner, TunerEvent, TunerJob, TunerStatus } from "./tuner.js";

function toJob(job: OpenAI.FineTuning.FineTuningJob): TunerJob {
  return {
    id: job.id,
    status: job.status as TunerStatus,
    fineTunedModel: job.fine_tuned_model ?? null,
    trainedTokens: job.trained_tokens ?? null,
    error: job.error ? redact(`${job.error.code ?? "error"}: ${job.error.message}`) : null,
    sent: (job.method?.supervised?.hyperparameters ?? job.hyperparameters ?? {}) as Record<string, unknown>,
  };
}

export function openAiFineTuner(client: OpenAI, vendor: "openai" | "compat"): FineTuner {
  return {
    vendor,
    async upload(path) {
      const { toFile } = await import("openai");
      return (await client.files.create({ file: await toFile(readFileSync(path), basename(path)), purpose: "fine-tune" })).id;
    },
    async create(request: CreateRequest) {
      const hyperparameters: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(request.hyperparameters)) if (value !== undefined) hyperparameters[key] = value;
      const job = await client.fineTuning.jobs.create({
        model: request.baseModel,
        training_file: request.trainingFile,
        validation_file: request.validationFile,
        seed: request.seed,
        suffix: request.suffix,
        method: { type: "supervised", supervised: { hyperparameters } },
      });
      return { ...toJob(job), sent: hyperparameters };
    },
    async retrieve(id) {
      return toJob(await client.fineTuning.jobs.retrieve(id));
    },
    async events(id, lastSeen) {
      // Events come newest first; page back until the last one already stored.
      const events: OpenAI.FineTuning.FineTuningJobEvent[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await client.fineTuning.jobs.listEvents(id, { limit: 100, ...(after ? { after } : {}) });
        const data = page.data ?? [];
        let reachedSeen = false;
        for (const event of data) {
          if (event.id === lastSeen) {
            reachedSeen = true;
            break;
          }
          events.push(event);
        }
        if (reachedSeen || !page.has_more || data.length === 0) break;
        after = data[data.length - 1]!.id;
      }
      return events.reverse().map((event): TunerEvent => {
        const data = (event.data ?? {}) as { step?: number; train_loss?: number; valid_loss?: number; total_steps?: number };
        return { id: event.id, createdAt: event.created_at, level: event.level, message: event.message, step: data.step, totalSteps: data.total_steps, trainLoss: data.train_loss, validLoss: data.valid_loss };
      });
    },
    async cancel(id) {
      return toJob(await client.fineTuning.jobs.cancel(id));
    },
  };
}
