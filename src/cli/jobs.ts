/** `tandem jobs submit|status|results|cancel|list` (a client of `tandem serve`) and `tandem worker` (a BullMQ worker). */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import type { Command } from "commander";
import { EXIT_CODES, UserError } from "../core/errors.js";
import { loadDotEnv } from "../core/env.js";
import { errorMessage } from "../core/redact.js";
import { detectFormat } from "../data/readers.js";
import { loadStrategyFile } from "../strategies/factory.js";
import { formatUsd } from "../llm/pricing.js";
import { parseFormat, parseInteger, parseNumber, printJson } from "./options.js";
import { progressBar } from "./progress.js";
import { loadOptional } from "../core/optional.js";

interface ClientOptions {
  server: string;
  format?: string;
}

interface JobWire {
  id: string;
  state: string;
  strategy: string;
  rows: number;
  done: number;
  failed: number;
  cost_usd: number;
  chunks: number;
  eta_seconds: number | null;
  error: string | null;
}

const CONTENT_TYPES = { csv: "text/csv", tsv: "text/tab-separated-values", jsonl: "application/x-ndjson" } as const;

/** One call to the server; errors become one line with the server's message (never the key). */
async function call(options: ClientOptions, method: string, path: string, body?: { data: Buffer; type: string }): Promise<Response> {
  loadDotEnv();
  const headers: Record<string, string> = {};
  if (process.env.TANDEM_API_KEY) headers.authorization = `Bearer ${process.env.TANDEM_API_KEY}`;
  if (body) headers["content-type"] = body.type;
  let response: Response;
  try {
    response = await fetch(`${options.server.replace(/\/$/, "")}${path}`, { method, headers, body: body?.data });
  } catch (error) {
    throw new UserError(`cannot reach ${options.server} (${(error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message}); is \`tandem serve\` running? (--server URL or TANDEM_SERVER)`);
  }
  if (!response.ok) {
    const text = await response.text();
    let message = text;
    try {
      message = (JSON.parse(text) as { error?: string }).error ?? text;
    } catch {
      // not JSON
    }
    throw new UserError(`${method} ${path}: HTTP ${response.status}: ${message.slice(0, 500)}${response.status === 401 ? " (set TANDEM_API_KEY)" : ""}`);
  }
  return response;
}

function describe(job: JobWire): string {
  return `${job.id}  ${job.state.padEnd(9)}  ${job.done}/${job.rows} rows  ${job.failed} failed  ${formatUsd(job.cost_usd)}${job.eta_seconds && job.state !== "done" ? `  ETA ${Math.ceil(job.eta_seconds)} s` : ""}${job.error ? `  — ${job.error}` : ""}`;
}

async function downloadResults(options: ClientOptions, id: string, out: string): Promise<void> {
  const format = detectFormat(out);
  const response = await call(options, "GET", `/v1/jobs/${encodeURIComponent(id)}/results?format=${format}`);
  // Complete or not at all: written beside the target, renamed when whole.
  const part = `${out}.part`;
  writeFileSync(part, Buffer.from(await response.arrayBuffer()));
  renameSync(part, out);
}

export function registerJobs(program: Command): void {
  const server = (command: Command) => command.option("--server <url>", "the tandem serve address (default TANDEM_SERVER or http://127.0.0.1:8080); the key comes from TANDEM_API_KEY", process.env.TANDEM_SERVER ?? "http://127.0.0.1:8080");
  const jobs = program.command("jobs").description("Batch jobs on a running `tandem serve`: submit a file, follow it, download the results, cancel.");

  server(jobs.command("submit"))
    .description("Send a CSV, TSV or JSONL file as a job; prints its id (with --wait: follows it and downloads the results).")
    .argument("<file>", "the input file")
    .option("--strategy <name>", "a strategy of the server (default: its default)")
    .option("--text-col <column>", "text column (default: guessed)")
    .option("--chunk-size <n>", "rows per chunk (default 500)", parseInteger("--chunk-size", 1))
    .option("--wait", "follow the job until it ends")
    .option("-o, --out <file>", "with --wait: write the results here (CSV, TSV or JSONL by extension)")
    .option("--poll-seconds <s>", "seconds between status checks", parseNumber("--poll-seconds", 0.05), 1)
    .option("-f, --format <format>", "text or json", parseFormat(["text", "json"] as const), "text")
    .action(async (file: string, options: ClientOptions & { strategy?: string; textCol?: string; chunkSize?: number; wait?: boolean; out?: string; pollSeconds: number }) => {
      let data: Buffer;
      try {
        data = readFileSync(file);
      } catch {
        throw new UserError("file not found", { file });
      }
      const query = new URLSearchParams();
      if (options.strategy) query.set("strategy", options.strategy);
      if (options.textCol) query.set("text_col", options.textCol);
      if (options.chunkSize) query.set("chunk_size", String(options.chunkSize));
      const submitted = (await (await call(options, "POST", `/v1/jobs?${query}`, { data, type: CONTENT_TYPES[detectFormat(file)] })).json()) as JobWire;
      if (!options.wait) {
        if (options.format === "json") printJson(submitted);
        else process.stdout.write(`${submitted.id}\n`);
        return;
      }
      process.stderr.write(`job ${submitted.id}: ${submitted.rows} rows in ${submitted.chunks} chunks\n`);
      const bar = progressBar(submitted.rows, submitted.id);
      let job = submitted;
      while (job.state === "queued" || job.state === "running") {
        await new Promise((resolve) => setTimeout(resolve, options.pollSeconds * 1000));
        job = (await (await call(options, "GET", `/v1/jobs/${submitted.id}`)).json()) as JobWire;
        bar.update(job.done, { cost: formatUsd(job.cost_usd) });
      }
      bar.stop();
      if (options.format === "json") printJson(job);
      else process.stderr.write(describe(job) + "\n");
      if (job.state !== "done") throw new UserError(`job ${job.id} ended ${job.state}${job.error ? `: ${job.error}` : ""}`, {}, "failed");
      if (options.out) {
        await downloadResults(options, job.id, options.out);
        process.stderr.write(`${job.rows} rows → ${options.out}\n`);
      }
      if (job.failed > 0) process.exitCode = EXIT_CODES["rows-failed"];
    });

  server(jobs.command("status"))
    .description("A job's state, rows done and failed, cost so far and ETA.")
    .argument("<id>", "job id")
    .option("-f, --format <format>", "text or json", parseFormat(["text", "json"] as const), "text")
    .action(async (id: string, options: ClientOptions) => {
      const job = (await (await call(options, "GET", `/v1/jobs/${encodeURIComponent(id)}`)).json()) as JobWire;
      if (options.format === "json") printJson(job);
      else process.stdout.write(describe(job) + "\n");
    });

  server(jobs.command("results"))
    .description("Download a finished job's results in input order (the columns of tandem classify).")
    .argument("<id>", "job id")
    .requiredOption("-o, --out <file>", "CSV, TSV or JSONL by extension")
    .action(async (id: string, options: ClientOptions & { out: string }) => {
      await downloadResults(options, id, options.out);
      process.stderr.write(`→ ${options.out}\n`);
    });

  server(jobs.command("cancel"))
    .description("Cancel a job (chunks in progress finish; the rest are dropped).")
    .argument("<id>", "job id")
    .action(async (id: string, options: ClientOptions) => {
      const job = (await (await call(options, "DELETE", `/v1/jobs/${encodeURIComponent(id)}`)).json()) as JobWire;
      process.stdout.write(describe(job) + "\n");
    });

  server(jobs.command("list"))
    .description("The server's jobs, newest first.")
    .option("-f, --format <format>", "text or json", parseFormat(["text", "json"] as const), "text")
    .action(async (options: ClientOptions) => {
      const { jobs: list } = (await (await call(options, "GET", "/v1/jobs")).json()) as { jobs: JobWire[] };
      if (options.format === "json") printJson(list);
      else process.stdout.write(list.length ? list.map(describe).join("\n") + "\n" : "no jobs\n");
    });

  program
    .command("worker")
    .description("Process job chunks from Redis (BullMQ) with the strategies of a config file; run any number, on any machine that reaches Redis.")
    .option("--redis <url>", "Redis URL (default REDIS_URL)", process.env.REDIS_URL)
    .requiredOption("--config <file>", "the same strategy file as the server's")
    .option("--db <file>", "state database for the LLM cache (default .tandem/tandem.db, or TANDEM_DB); workers on one machine share it")
    .option("--pricing <file>", "prices on top of the built-in table")
    .option("--concurrency <n>", "chunks at once", parseInteger("--concurrency", 1), 1)
    .option("--slice <n>", "rows kept in Redis as they land (a killed worker's retry redoes at most one slice)", parseInteger("--slice", 1), 32)
    .option("--lock-seconds <s>", "a killed worker's chunk goes to another worker after about this long", parseNumber("--lock-seconds", 1), 30)
    .action(async (options: { redis?: string; config: string; db?: string; pricing?: string; concurrency: number; slice: number; lockSeconds: number }) => {
      if (!options.redis) throw new UserError("tandem worker needs --redis URL (or REDIS_URL)");
      const file = loadStrategyFile(options.config);
      const { createStrategies } = await import("../strategies/factory.js");
      const { runWorker } = await loadOptional("redis", () => import("../jobs/redis.js"));
      const set = await createStrategies(file.strategies, { store: options.db, pricing: options.pricing });
      const worker = await runWorker(set, {
        redis: options.redis,
        concurrency: options.concurrency,
        slice: options.slice,
        lockSeconds: options.lockSeconds,
        onChunk: (chunk, seconds) => process.stderr.write(`${chunk.jobId} chunk ${chunk.chunk}: ${chunk.rows.length} rows in ${seconds.toFixed(1)} s\n`),
        log: (message, error) => process.stderr.write(`${message}: ${errorMessage(error)}\n`),
      });
      process.stderr.write(`tandem worker: waiting for chunks (strategies: ${[...set.strategies.keys()].join(", ")})\n`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.stderr.write("tandem worker: finishing the chunk in progress…\n");
          void worker.close().then(() => set.close()).then(resolve);
        };
        process.once("SIGTERM", stop);
        process.once("SIGINT", stop);
      });
    });
}
