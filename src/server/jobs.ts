/**
 * The jobs API: POST /v1/jobs (a CSV, TSV or JSONL body, or a multipart upload) → a job id; GET
 * /v1/jobs/:id (state, rows done and failed, cost so far, ETA); GET /v1/jobs/:id/results (streamed CSV
 * or JSONL in input order, the same columns as `tandem classify`); DELETE /v1/jobs/:id (cancel).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import multipart from "@fastify/multipart";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { isUserError, UserError } from "../core/errors.js";
import { loadDataset } from "../data/dataset.js";
import type { TableFormat } from "../data/readers.js";
import { tableLines } from "../data/writers.js";
import { LocalJobQueue, type JobQueue } from "../jobs/queue.js";
import { loadOptional } from "../core/optional.js";
import { JobStore, type JobRecord } from "../jobs/store.js";
import type { StrategyConfig } from "../strategies/config.js";
import { involvesLlm } from "../strategies/members.js";
import { outputColumns } from "../strategies/output.js";
import type { ServerContext } from "./context.js";
import { errorSchema } from "./schemas.js";
import { clip, refuse } from "./http-errors.js";

export interface JobsOptions {
  /** State database holding jobs (default: the server's). */
  store?: string;
  /** Redis URL: chunks go to `tandem worker` processes through BullMQ; without it they run in the server. */
  redis?: string;
  /** Rows per chunk. */
  chunkSize?: number;
  /** Bytes per uploaded file. */
  bodyLimit?: number;
}

const FORMATS: Record<string, TableFormat> = {
  "text/csv": "csv",
  "application/csv": "csv",
  "text/tab-separated-values": "tsv",
  "application/x-ndjson": "jsonl",
  "application/jsonl": "jsonl",
  "application/x-jsonlines": "jsonl",
};

const jobSchema = {
  type: "object",
  required: ["id", "state", "strategy", "rows", "done", "failed", "cost_usd", "chunks"],
  properties: {
    id: { type: "string" },
    state: { type: "string", enum: ["queued", "running", "done", "failed", "cancelled"] },
    strategy: { type: "string" },
    rows: { type: "integer" },
    done: { type: "integer", description: "Rows with a result" },
    failed: { type: "integer", description: "Rows whose result has no label" },
    cost_usd: { type: "number", description: "Dollars so far" },
    chunks: { type: "integer" },
    eta_seconds: { type: ["number", "null"] },
    error: { type: ["string", "null"] },
    created_at: { type: "string" },
    finished_at: { type: ["string", "null"] },
  },
} as const;

function wireJob(job: JobRecord) {
  const started = job.startedAt ? Date.parse(job.startedAt) : undefined;
  const elapsed = started ? (Date.now() - started) / 1000 : 0;
  const rate = elapsed > 0 && job.done > 0 ? job.done / elapsed : undefined;
  return {
    id: job.id,
    state: job.state,
    strategy: job.strategy,
    rows: job.rows,
    done: job.done,
    failed: job.failed,
    cost_usd: job.costUsd,
    chunks: job.chunks,
    eta_seconds: job.state === "done" ? 0 : rate ? (job.rows - job.done) / rate : null,
    error: job.error ?? null,
    created_at: job.createdAt,
    finished_at: job.finishedAt ?? null,
  };
}

export function jobsPlugin(options: JobsOptions, configs: readonly StrategyConfig[], storeFile?: string) {
  return async (app: FastifyInstance, context: ServerContext): Promise<void> => {
    const store = new JobStore(options.store ?? storeFile);
    const log = (message: string, error?: unknown) => app.log.error({ err: error }, message);
    // Redis clients load only when jobs go to Redis (optional dependencies).
    const redis = options.redis ? new (await loadOptional("redis", () => import("../jobs/redis.js"))).RedisJobQueue(store, { redis: options.redis, log }) : undefined;
    const queue: JobQueue & { start(): unknown } = redis ?? new LocalJobQueue(store, context.strategies, log);
    const byName = new Map(configs.map((c) => [c.name!, c]));
    const bodyLimit = options.bodyLimit ?? 512 * 1024 * 1024;
    await app.register(multipart, { limits: { fileSize: bodyLimit, files: 1 } });
    app.addContentTypeParser(Object.keys(FORMATS), { parseAs: "buffer", bodyLimit }, (_request, body, done) => done(null, body));
    if (redis) await redis.start();
    // The in-process queue starts once the models are loaded (and resumes unfinished chunks then).
    const started = (async () => {
      if (!options.redis) {
        while (!context.strategies()) await new Promise((resolve) => setTimeout(resolve, 50));
        queue.start();
      }
    })();
    app.addHook("onClose", async () => {
      await queue.close();
    });
    void started;


    app.post(
      "/v1/jobs",
      {
        bodyLimit,
        schema: {
          summary: "Submit a file as a batch job",
          description: "The body is the file (text/csv, text/tab-separated-values, application/x-ndjson), or multipart/form-data with a `file` part and the parameters as fields.",
          querystring: { type: "object", additionalProperties: false, properties: { strategy: { type: "string" }, text_col: { type: "string" }, chunk_size: { type: "string", pattern: "^[1-9][0-9]{0,5}$", description: "Rows per chunk (default 500)" } } },
          response: { 202: jobSchema, "4xx": errorSchema },
        },
      },
      async (request: FastifyRequest, reply) => {
        const query = request.query as { strategy?: string; text_col?: string; chunk_size?: string };
        let params: { strategy?: string; text_col?: string; chunk_size?: number } = { ...query, chunk_size: query.chunk_size === undefined ? undefined : Number(query.chunk_size) };
        let bytes: Buffer;
        let format: TableFormat | undefined;
        let name = "body";
        if (request.isMultipart()) {
          // Without a boundary the parts cannot be told apart: the client's mistake, said as such.
          if (!/;\s*boundary=\S/i.test(request.headers["content-type"] ?? "")) return refuse(reply, 400, "multipart/form-data without a boundary parameter in Content-Type: let the client library set the header (e.g. curl -F file=@data.csv)", "content-type");
          const parts = request.parts();
          let file: Buffer | undefined;
          for await (const part of parts) {
            if (part.type === "file") {
              file = await part.toBuffer();
              name = part.filename || "upload";
              format = name.endsWith(".jsonl") || name.endsWith(".ndjson") ? "jsonl" : name.endsWith(".tsv") ? "tsv" : FORMATS[part.mimetype] ?? "csv";
            } else {
              const value = String(part.value);
              if (part.fieldname === "chunk_size") params = { ...params, chunk_size: Number(value) };
              else if (part.fieldname === "strategy" || part.fieldname === "text_col") params = { ...params, [part.fieldname]: value };
              else return refuse(reply, 400, `unknown field "${clip(part.fieldname)}" (file, strategy, text_col, chunk_size)`, part.fieldname);
            }
          }
          if (!file) return refuse(reply, 400, "the upload has no file part", "file");
          bytes = file;
        } else {
          const type = (request.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
          format = FORMATS[type];
          if (!format || !Buffer.isBuffer(request.body)) return refuse(reply, 415, `send the file as text/csv, text/tab-separated-values or application/x-ndjson, or as multipart/form-data`);
          bytes = request.body;
        }
        const set = context.strategies();
        const strategyName = params.strategy ?? context.defaultStrategy;
        const config = byName.get(strategyName);
        if (!config) return refuse(reply, 400, `unknown strategy "${clip(strategyName)}" (${[...byName.keys()].join(", ")})`, "strategy");
        if (params.chunk_size !== undefined && !(Number.isInteger(params.chunk_size) && params.chunk_size >= 1)) return refuse(reply, 400, "chunk_size must be a positive integer", "chunk_size");
        const dir = mkdtempSync(join(tmpdir(), "tandem-job-"));
        const file = join(dir, `input.${format}`);
        try {
          writeFileSync(file, bytes);
          const dataset = await loadDataset(file, { columns: { text: params.text_col }, requireLabels: false });
          const job = store.createJob({
            strategy: strategyName,
            columns: dataset.columns,
            textColumn: dataset.textColumn,
            chunkSize: params.chunk_size ?? options.chunkSize ?? 500,
            rows: dataset.examples.map((e) => ({ text: e.text, record: e.row })),
          });
          await queue.enqueue(job);
          app.log.info({ job: job.id, rows: job.rows, chunks: job.chunks, strategy: strategyName, ready: Boolean(set) }, "job submitted");
          return reply.code(202).send(wireJob(store.job(job.id)!));
        } catch (error) {
          if (isUserError(error)) {
            // Name the upload, not the temporary file.
            const located = new UserError(error.message, { ...error.location, file: name });
            return refuse(reply, 400, located.describe(), error.location.column);
          }
          throw error;
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    );

    app.get("/v1/jobs", { schema: { summary: "Jobs, newest first", response: { 200: { type: "object", properties: { jobs: { type: "array", items: jobSchema } } } } } }, async () => ({ jobs: store.listJobs().map(wireJob) }));

    const idParams = { type: "object", required: ["id"], properties: { id: { type: "string" } } } as const;
    app.get("/v1/jobs/:id", { schema: { summary: "A job's state, progress, cost and ETA", params: idParams, response: { 200: jobSchema, 404: errorSchema } } }, async (request, reply) => {
      const job = store.job((request.params as { id: string }).id);
      if (!job) return refuse(reply, 404, "no such job");
      return wireJob(job);
    });

    app.delete("/v1/jobs/:id", { schema: { summary: "Cancel a job", params: idParams, response: { 200: jobSchema, 404: errorSchema } } }, async (request, reply) => {
      const id = (request.params as { id: string }).id;
      if (!store.job(id)) return refuse(reply, 404, "no such job");
      const job = store.cancelJob(id)!;
      await queue.cancel(id);
      return wireJob(job);
    });

    app.get(
      "/v1/jobs/:id/results",
      {
        schema: {
          summary: "A job's results in input order (CSV or JSONL), the columns of tandem classify",
          params: idParams,
          querystring: { type: "object", additionalProperties: false, properties: { format: { type: "string", enum: ["csv", "tsv", "jsonl"] }, partial: { type: "string", enum: ["true", "false"] } } },
          response: { 404: errorSchema, 409: errorSchema },
        },
      },
      async (request, reply) => {
        const id = (request.params as { id: string }).id;
        const query = request.query as { format?: TableFormat; partial?: string };
        const partial = query.partial === "true";
        const job = store.job(id);
        if (!job) return refuse(reply, 404, "no such job");
        if (job.state !== "done" && !partial) return refuse(reply, 409, `the job is ${job.state}: ${job.done} of ${job.rows} rows done (add ?partial=true for the rows so far)`);
        const strategy = context.strategies()?.strategies.get(job.strategy);
        const config = byName.get(job.strategy);
        if (!strategy || !config) return refuse(reply, 409, `the server no longer has strategy "${job.strategy}"`);
        const output = outputColumns(strategy, involvesLlm(config, byName), job.columns);
        const format = query.format ?? "csv";
        const lines = tableLines(format, output.columns);
        const body = Readable.from((function* () {
          if (lines.header) yield lines.header;
          let batch = "";
          for (const { record, prediction } of store.results(id)) {
            if (!prediction && !partial) continue;
            batch += lines.line(prediction ? { ...record, ...output.values(prediction) } : record);
            if (batch.length > 1 << 16) {
              yield batch;
              batch = "";
            }
          }
          if (batch) yield batch;
        })());
        reply.header("content-type", format === "jsonl" ? "application/x-ndjson" : format === "tsv" ? "text/tab-separated-values" : "text/csv");
        return reply.send(body);
      },
    );
  };
}
