/** `tandem serve`: the HTTP service over a strategy file. */
import type { Command } from "commander";
import { loadApiKeys } from "../server/auth.js";
import { loadStrategyFile } from "../strategies/factory.js";
import { parseFormat, parseInteger, parseNumber } from "./options.js";

interface ServeCliOptions {
  config: string;
  host: string;
  port: number;
  apiKeysFile?: string;
  db?: string;
  pricing?: string;
  batching: boolean;
  maxBatch: number;
  maxWaitMs: number;
  maxTexts: number;
  maxTextLength: number;
  bodyLimit: number;
  timeout: number;
  maxQueue: number;
  logLevel: string;
  redis?: string;
  chunkSize: number;
  maxUpload: number;
}

/** Where a server listens and who may call it: `serve` and `view` alike. */
function withListenOptions(command: Command): Command {
  return command
    .option("--host <host>", "address to listen on (API keys are required when it is not loopback)", "127.0.0.1")
    .option("--port <n>", "port (0: any free one)", parseInteger("--port", 0), 8080)
    .option("--api-keys-file <file>", "API keys, one per line (also TANDEM_API_KEYS, comma-separated); clients send Authorization: Bearer KEY (the web app asks for one)");
}

export function registerServe(program: Command): void {
  withListenOptions(
    program
      .command("serve")
      .description("Serve the strategies of a config file over HTTP: POST /v1/classify, GET /v1/strategies, OpenAPI at /openapi.json and /docs, /healthz, /readyz, /metrics, and the web app at / (the runs of --db).")
      .requiredOption("--config <file>", "strategy file (YAML or JSON, the schema of experiment files): `strategies:` and `default:`, or one strategy"),
  )
    .option("--db <file>", "state database for the LLM cache, jobs and the runs the web app shows (default .tandem/tandem.db, or TANDEM_DB)")
    .option("--pricing <file>", "prices on top of the built-in table (JSON or YAML)")
    .option("--no-batching", "run each request's texts on their own instead of gathering concurrent requests into encoder batches")
    .option("--max-batch <n>", "most texts in one encoder call", parseInteger("--max-batch", 1), 64)
    .option("--max-wait-ms <ms>", "longest a text waits for others before its encoder call starts (0: an idle encoder starts at once, and texts gather while it runs)", parseNumber("--max-wait-ms", 0), 0)
    .option("--max-texts <n>", "texts per request (more: 413)", parseInteger("--max-texts", 1), 256)
    .option("--max-text-length <n>", "characters per text (more: 413)", parseInteger("--max-text-length", 1), 20_000)
    .option("--body-limit <bytes>", "bytes per request body (more: 413)", parseInteger("--body-limit", 1024), 10 * 1024 * 1024)
    .option("--timeout <seconds>", "per-request timeout (then 504)", parseNumber("--timeout", 0.001), 60)
    .option("--max-queue <n>", "texts accepted and unanswered beyond which new requests get 429 with Retry-After", parseInteger("--max-queue", 1), 4096)
    .option("--redis <url>", "Redis URL (default REDIS_URL): job chunks go to `tandem worker` processes through BullMQ; without it they run in this process", process.env.REDIS_URL)
    .option("--chunk-size <n>", "rows per job chunk", parseInteger("--chunk-size", 1), 500)
    .option("--max-upload <bytes>", "bytes per job file", parseInteger("--max-upload", 1024), 512 * 1024 * 1024)
    .option("--log-level <level>", "JSON log level on stdout: info, warn, error, silent", parseFormat(["trace", "debug", "info", "warn", "error", "silent"] as const), "info")
    .addHelpText("after", `
Example serve.yaml:
  strategies:
    - name: encoder
      type: encoder
      model: starter
    - name: cascade
      type: cascade
      encoder: encoder
      llm: { type: llm, model: openai:gpt-4o-mini, program: label, hints: encoder }
      tau: 0.8
  default: cascade

  curl -s localhost:8080/v1/classify -H 'content-type: application/json' -d '{"texts": ["I love it"]}'

Models load once at start-up; /readyz answers 200 when they have. SIGTERM or Ctrl-C stops accepting,
answers the requests in flight, then exits.`)
    .action(async (options: ServeCliOptions) => {
      const strategies = loadStrategyFile(options.config);
      // Loaded here, not at start-up: other commands need no HTTP framework.
      const { startServer } = await import("../server/app.js");
      const { jobsPlugin } = await import("../server/jobs.js");
      const { viewPlugin } = await import("../server/view.js");
      const server = await startServer({
        strategies,
        host: options.host,
        port: options.port,
        apiKeys: loadApiKeys(options.apiKeysFile),
        store: options.db,
        pricing: options.pricing,
        batching: options.batching,
        maxBatch: options.maxBatch,
        maxWaitMs: options.maxWaitMs,
        maxTexts: options.maxTexts,
        maxTextLength: options.maxTextLength,
        bodyLimit: options.bodyLimit,
        requestTimeoutMs: options.timeout * 1000,
        maxQueue: options.maxQueue,
        logger: options.logLevel === "silent" ? false : { level: options.logLevel },
        plugins: [jobsPlugin({ redis: options.redis, chunkSize: options.chunkSize, bodyLimit: options.maxUpload }, strategies.strategies, options.db), viewPlugin({ store: options.db })],
      });
      process.stderr.write(`tandem serve: listening on ${server.url} (strategies: ${strategies.strategies.map((s) => s.name).join(", ")}; default ${strategies.default}; jobs ${options.redis ? "on Redis workers" : "in this process"}); loading models…\n`);
      const stopped = new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          process.stderr.write(`tandem serve: ${signal}: finishing the requests in flight…\n`);
          void server.close().then(() => {
            process.stderr.write("tandem serve: stopped\n");
            resolve();
          });
        };
        process.once("SIGTERM", () => stop("SIGTERM"));
        process.once("SIGINT", () => stop("SIGINT"));
      });
      server.ready.then(
        () => process.stderr.write(`tandem serve: ready on ${server.url}\n`),
        (error: unknown) => process.stderr.write(`tandem serve: loading the models failed: ${(error as Error).message}\n`),
      );
      await stopped;
    });
}

export function registerView(program: Command): void {
  withListenOptions(
    program
      .command("view")
      .description("The web app alone, with no models loaded: browse the runs of the state database, read their errors row by row, tune a cascade with a slider, compare two runs. Open the printed URL.")
      .option("--db <file>", "state database holding the runs (default .tandem/tandem.db, or TANDEM_DB)"),
  ).action(async (options: { db?: string; host: string; port: number; apiKeysFile?: string }) => {
      const { startServer } = await import("../server/app.js");
      const { viewPlugin } = await import("../server/view.js");
      const server = await startServer({ strategies: { strategies: [], default: "" }, host: options.host, port: options.port, apiKeys: loadApiKeys(options.apiKeysFile), store: options.db, logger: false, plugins: [viewPlugin({ store: options.db })] });
      process.stderr.write(`tandem view: open ${server.url}/ (Ctrl-C to stop)\n`);
      await new Promise<void>((resolve) => {
        const stop = () => void server.close().then(resolve);
        process.once("SIGTERM", stop);
        process.once("SIGINT", stop);
      });
    });
}
