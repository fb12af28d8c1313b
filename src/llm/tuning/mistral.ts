/**
 * Mistral's fine-tuning API through the official `@mistralai/mistralai` SDK (pinned to 2.3, the last
 * release that carries the fine-tuning endpoints). Jobs start on creation (auto_start); the job record
 * carries its events and checkpoints (with train and validation loss), so one request refreshes a job.
 */
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import type { Mistral } from "@mistralai/mistralai";
import type { CreateRequest, FineTuner, TunerEvent, TunerJob, TunerStatus } from "./tuner.js";

/** Mistral's documented default learning rate; OpenAI-style multipliers scale it. */
const DEFAULT_LEARNING_RATE = 1e-4;

const STATUS: Record<string, TunerStatus> = {
  QUEUED: "queued",
  VALIDATING: "validating_files",
  VALIDATED: "queued",
  STARTED: "running",
  RUNNING: "running",
  CANCELLATION_REQUESTED: "running",
  SUCCESS: "succeeded",
  FAILED: "failed",
  FAILED_VALIDATION: "failed",
  CANCELLED: "cancelled",
};

interface MistralJob {
  id: string;
  status: string;
  fineTunedModel?: string | null;
  trainedTokens?: number | null;
  hyperparameters?: { epochs?: number | null; learningRate?: number };
  events?: Array<{ name: string; data?: Record<string, unknown> | null; createdAt: number }>;
  checkpoints?: Array<{ metrics: { trainLoss?: number | null; validLoss?: number | null }; stepNumber: number; createdAt: number }>;
}

function toJob(job: MistralJob): TunerJob {
  const status = STATUS[job.status] ?? "running";
  // A failure's reason is in the data of its last event.
  const reason = [...(job.events ?? [])].reverse().map((e) => e.data?.error ?? e.data?.message).find((m) => typeof m === "string");
  return {
    id: job.id,
    status,
    fineTunedModel: job.fineTunedModel ?? null,
    trainedTokens: job.trainedTokens ?? null,
    error: status === "failed" ? `${job.status}: ${String(reason ?? "no reason given")}` : null,
    sent: { epochs: job.hyperparameters?.epochs ?? "auto", learning_rate: job.hyperparameters?.learningRate ?? "auto" },
  };
}

export async function mistralFineTuner(options: { apiKey: string; serverURL?: string }): Promise<FineTuner> {
  const { Mistral: Client } = await import("@mistralai/mistralai");
  const client: Mistral = new Client({ apiKey: options.apiKey, serverURL: options.serverURL });
  const get = async (id: string) => (await client.fineTuning.jobs.get({ jobId: id })) as MistralJob;
  return {
    vendor: "mistral",
    async upload(path) {
      return (await client.files.upload({ file: { fileName: basename(path), content: readFileSync(path) }, purpose: "fine-tune" })).id;
    },
    async create(request: CreateRequest) {
      const { n_epochs: epochs, learning_rate_multiplier: multiplier } = request.hyperparameters;
      const hyperparameters = {
        ...(typeof epochs === "number" ? { epochs } : {}),
        ...(typeof multiplier === "number" ? { learningRate: DEFAULT_LEARNING_RATE * multiplier } : {}),
      };
      const job = (await client.fineTuning.jobs.create({
        model: request.baseModel,
        trainingFiles: [{ fileId: request.trainingFile, weight: 1 }],
        validationFiles: request.validationFile ? [request.validationFile] : undefined,
        suffix: request.suffix,
        autoStart: true,
        hyperparameters,
      })) as MistralJob;
      return { ...toJob(job), sent: { epochs: hyperparameters.epochs ?? "auto", learning_rate: hyperparameters.learningRate ?? "auto" } };
    },
    async retrieve(id) {
      return toJob(await get(id));
    },
    async events(id) {
      const job = await get(id);
      const events: TunerEvent[] = (job.events ?? []).map((e, i) => ({ id: `${id}-event-${i}`, createdAt: e.createdAt, message: e.data?.status ? `${e.name}: ${String(e.data.status)}` : e.name }));
      for (const c of job.checkpoints ?? []) {
        events.push({ id: `${id}-checkpoint-${c.stepNumber}`, createdAt: c.createdAt, message: `checkpoint at step ${c.stepNumber}`, step: c.stepNumber, trainLoss: c.metrics.trainLoss ?? undefined, validLoss: c.metrics.validLoss ?? undefined });
      }
      return events.sort((a, b) => a.createdAt - b.createdAt || (a.step ?? 0) - (b.step ?? 0));
    },
    async cancel(id) {
      return toJob((await client.fineTuning.jobs.cancel({ jobId: id })) as MistralJob);
    },
  };
}
