/**
 * Together AI's fine-tuning API through the official `together-ai` SDK. Uploads follow Together's
 * two-step protocol here (POST /files for an upload URL and file id, then PUT the bytes there): the
 * SDK's own helper (0.52) streams a file into fetch without `duplex`, which Node's fetch refuses, and
 * reads its base URL from a variable of its own instead of the client's.
 */
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import type Together from "together-ai";
import type { CreateRequest, FineTuner, TunerEvent, TunerJob, TunerStatus } from "./tuner.js";

/** Together's documented default learning rate; OpenAI-style multipliers scale it. */
const DEFAULT_LEARNING_RATE = 1e-5;

const STATUS: Record<string, TunerStatus> = {
  pending: "queued",
  queued: "queued",
  running: "running",
  compressing: "running",
  uploading: "running",
  cancel_requested: "running",
  cancelled: "cancelled",
  error: "failed",
  completed: "succeeded",
};

type TogetherJob = Awaited<ReturnType<Together["fineTuning"]["retrieve"]>>;

function toJob(job: TogetherJob): TunerJob {
  const status = STATUS[job.status] ?? "running";
  const failure = [...(job.events ?? [])].reverse().find((e) => e.type === "job_error" || e.level === "error");
  return {
    id: job.id,
    status,
    fineTunedModel: status === "succeeded" ? (job.model_output_name ?? null) : null,
    trainedTokens: job.token_count ?? null,
    error: status === "failed" ? `error: ${failure?.message ?? "no reason given"}` : null,
    sent: { n_epochs: job.n_epochs ?? "auto", batch_size: job.batch_size ?? "auto", learning_rate: job.learning_rate ?? "auto" },
  };
}

const DEFAULT_BASE_URL = "https://api.together.xyz/v1";

export async function togetherFineTuner(options: { apiKey: string; baseURL?: string }): Promise<FineTuner> {
  const { default: Client } = await import("together-ai");
  const baseURL = (options.baseURL || DEFAULT_BASE_URL).replace(/\/$/, "");
  const client = new Client({ apiKey: options.apiKey, baseURL, maxRetries: 2 });
  return {
    vendor: "together",
    async upload(path) {
      const params = new URLSearchParams({ file_name: basename(path), file_type: "jsonl", purpose: "fine-tune" });
      const asked = await fetch(`${baseURL}/files?${params}`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${options.apiKey}` },
        redirect: "manual",
        body: params.toString(),
      });
      const location = asked.headers.get("location");
      const id = asked.headers.get("x-together-file-id");
      if (asked.status !== 302 || !location || !id) throw Object.assign(new Error(`no upload URL given: ${(await asked.text()).slice(0, 300)}`), { status: asked.status });
      const put = await fetch(location, { method: "PUT", headers: { "content-type": "application/octet-stream" }, body: readFileSync(path) });
      if (!put.ok) throw Object.assign(new Error(`the upload failed: ${(await put.text()).slice(0, 300)}`), { status: put.status });
      return (await client.files.retrieve(id)).id;
    },
    async create(request: CreateRequest) {
      const { n_epochs: epochs, batch_size: batchSize, learning_rate_multiplier: multiplier } = request.hyperparameters;
      const created = await client.fineTuning.create({
        model: request.baseModel,
        training_file: request.trainingFile,
        validation_file: request.validationFile,
        ...(request.validationFile ? { n_evals: 10 } : {}),
        ...(typeof epochs === "number" ? { n_epochs: epochs } : {}),
        ...(typeof batchSize === "number" ? { batch_size: batchSize } : {}),
        ...(typeof multiplier === "number" ? { learning_rate: DEFAULT_LEARNING_RATE * multiplier } : {}),
        ...(request.seed !== undefined ? { random_seed: request.seed } : {}),
        suffix: request.suffix,
      });
      return toJob(await client.fineTuning.retrieve(created.id));
    },
    async retrieve(id) {
      return toJob(await client.fineTuning.retrieve(id));
    },
    async events(id) {
      const listed = (await client.fineTuning.listEvents(id)).data ?? [];
      const events: TunerEvent[] = listed.map((e, i) => ({ id: `${id}-event-${i}`, createdAt: Math.floor(Date.parse(e.created_at) / 1000), level: e.level ?? undefined, message: e.message, step: e.step, totalSteps: e.total_steps }));
      const metrics = (await client.fineTuning.listMetrics(id)).metrics ?? [];
      for (const m of metrics) {
        const step = m.step ?? m.global_step;
        if (step === undefined) continue;
        events.push({ id: `${id}-metrics-${step}`, createdAt: events.at(-1)?.createdAt ?? 0, message: `step ${step}`, step, trainLoss: m.train_loss ?? m.loss, validLoss: m.eval_loss ?? m.valid_loss });
      }
      return events;
    },
    async cancel(id) {
      await client.fineTuning.cancel(id);
      return toJob(await client.fineTuning.retrieve(id));
    },
  };
}
