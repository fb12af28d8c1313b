/** `tandem serve`: the HTTP service over a strategy file. */
import { Option, type Command } from "commander";
import { existsSync } from "node:fs";
import { UserError } from "../core/errors.js";
import { defaultStorePath, openStore } from "../core/store.js";
import { writeTable } from "../data/writers.js";
import { EXPORT_COLUMNS, exportLabels, LabelStore, sampleSummary } from "../server/label-store.js";
import { rowsToCertify } from "../strategies/certify.js";
import { loadApiKeys } from "../server/auth.js";
import { loadStrategyFile, parseStrategyFile, type StrategyFile } from "../strategies/factory.js";
import { parseFormat, parseInteger, parseNumber, printJson } from "./options.js";
import { loadOptional } from "../core/optional.js";

/** What `tandem serve` serves with no --config: the bundled starter and the lexicon, so a first run works offline. */
export const DEFAULT_SERVE_CONFIG = `strategies:
  - name: encoder
    type: encoder
    model: starter
  - name: lexicon
    type: lexicon
default: encoder
`;

export function defaultServeStrategies(): StrategyFile {
  return parseStrategyFile(DEFAULT_SERVE_CONFIG, "(built-in serve config)");
}

interface ServeCliOptions {
  config?: string;
  otlpEndpoint?: string;
  feedbackWindow: number;
  seriesInterval: number;
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
    .addOption(new Option("--port <n>", "port (0: any free one)").argParser(parseInteger("--port", 0)).default(8080).env("TANDEM_PORT"))
    .option("--api-keys-file <file>", "API keys, one per line (also TANDEM_API_KEYS, comma-separated); clients send Authorization: Bearer KEY (the web app asks for one)");
}

export function registerServe(program: Command): void {
  const serve = withListenOptions(
    program
      .command("serve")
      .description("Serve the strategies of a config file over HTTP: POST /v1/classify, GET /v1/strategies, OpenAPI at /openapi.json and /docs, /healthz, /readyz, /metrics, and the web app at / (the runs of --db).")
      .option("--config <file>", "strategy file (YAML or JSON, the schema of experiment files): `strategies:` and `default:`, or one strategy (default: the bundled starter as `encoder` and a `lexicon`)"),
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
    .option("--feedback-window <n>", "most recent answers POST /v1/feedback can refer to (collected answers always can)", parseInteger("--feedback-window", 1), 50_000)
    .option("--series-interval <seconds>", "seconds between points of the live series (/api/live, the web app's live page)", parseNumber("--series-interval", 1), 60)
    .option("--otlp-endpoint <url>", "send OpenTelemetry traces (OTLP/HTTP JSON) to this collector, e.g. http://127.0.0.1:4318 (also OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT; off when none is set)")
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
      audit: { share: 0.02, max_cost_per_day: 5 }   # anytime-valid drift alarm on a sample (docs/serve.md)
      on_degraded: llm
  default: cascade

With no --config it serves the bundled starter (\`encoder\`, the default) and \`lexicon\`. A certified
cascade comes from \`tandem tune cascade --write-config cascade.yaml\` or \`tandem distill\` (DIR/cascade.yaml).

  curl -s localhost:8080/v1/classify -H 'content-type: application/json' -d '{"texts": ["I love it"]}'

Models load once at start-up; /readyz answers 200 when they have. SIGTERM or Ctrl-C stops accepting,
answers the requests in flight, then exits.`)
    .action(async (options: ServeCliOptions) => {
      const strategies = options.config ? loadStrategyFile(options.config) : defaultServeStrategies();
      // A bad state database is one line now, not a failed load after the port is taken.
      openStore(options.db);
      // Loaded here, not at start-up: other commands need no HTTP framework.
      const { startServer } = await loadOptional("server", () => import("../server/app.js"));
      const { otlpTracesEndpoint, startTracing } = await import("../server/tracing.js");
      const endpoint = otlpTracesEndpoint(options.otlpEndpoint);
      const tracing = endpoint ? await startTracing(endpoint) : undefined;
      const { jobsPlugin } = await loadOptional("server", () => import("../server/jobs.js"));
      const { viewPlugin } = await loadOptional("server", () => import("../server/view.js"));
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
        feedbackWindow: options.feedbackWindow,
        seriesIntervalMs: options.seriesInterval * 1000,
        plugins: [jobsPlugin({ redis: options.redis, chunkSize: options.chunkSize, bodyLimit: options.maxUpload }, strategies.strategies, options.db), viewPlugin({ store: options.db })],
      });
      process.stderr.write(`tandem serve: listening on ${server.url} (strategies: ${strategies.strategies.map((s) => s.name).join(", ")}; default ${strategies.default}; jobs ${options.redis ? "on Redis workers" : "in this process"}${tracing ? `; traces to ${tracing.endpoint}` : ""}); loading models…\n`);
      if (!options.config) process.stderr.write("tandem serve: no --config: serving the bundled starter (`encoder`) and `lexicon`; for a cascade with a certified τ run `tandem tune cascade ... --write-config cascade.yaml` (or `tandem distill`) and `tandem serve --config cascade.yaml`\n");
      const stopped = new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          process.stderr.write(`tandem serve: ${signal}: finishing the requests in flight…\n`);
          void server.close().then(async () => {
            await tracing?.shutdown();
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

  serve
    .command("export-labels")
    .description("Write what served cascades collected — audit pairs, every LLM answer they paid for, feedback — as a teacher-labels file for `tandem distill --teacher-labels` (serve → collect → distill → certify → serve).")
    .option("--db <file>", "the server's state database (default .tandem/tandem.db, or TANDEM_DB)")
    .option("-o, --out <file>", "CSV (or .tsv, .jsonl) to write: text, label (the LLM's answer), cost_usd, kind, sample (1: the uniform audit sample), strategy, teacher (the LLM's strategy config), at, encoder_label, encoder_confidence, feedback_label, id")
    .addOption(new Option("--output <file>").hideHelp())
    .option("--strategy <name>", "only this cascade's rows")
    .option("--since <iso-date>", "only rows collected at or after this time (e.g. 2026-12-01)")
    .option("--kinds <list>", "audit, llm, feedback (comma-separated; feedback adds rows with gold labels)", "audit,llm")
    .option("--target-agreement <a>", "the next certificate's target, for the count of rows it needs", parseNumber("--target-agreement", 0, 1), 0.95)
    .option("--confidence <c>", "the next certificate's confidence, for the same count", parseNumber("--confidence", 0, 1), 0.95)
    .option("-f, --format <format>", "text or json (the summary on stdout; text goes to stderr)", parseFormat(["text", "json"] as const), "text")
    .action(async (options: { db?: string; out?: string; output?: string; strategy?: string; since?: string; kinds: string; targetAgreement: number; confidence: number; format: "text" | "json" }, command: Command) => {
      const output = options.out ?? options.output;
      if (!output) throw new UserError("give the file to write: -o FILE");
      const kinds = options.kinds.split(",").map((k) => k.trim()).filter(Boolean);
      const bad = kinds.find((k) => !["audit", "llm", "feedback"].includes(k));
      if (bad) throw new UserError(`--kinds: "${bad}" is not one of audit, llm, feedback`);
      if (options.since !== undefined && Number.isNaN(Date.parse(options.since))) throw new UserError(`--since: "${options.since}" is not a date (e.g. 2026-12-01 or 2026-12-01T08:00:00Z)`);
      // `serve`'s own --db takes the flag when it comes after the subcommand's name too.
      const file = options.db ?? (command.parent?.opts() as { db?: string } | undefined)?.db ?? defaultStorePath();
      if (!existsSync(file)) throw new UserError("no state database here: give the server's --db (tandem serve keeps it at .tandem/tandem.db unless told)", { file });
      const store = new LabelStore(openStore(file));
      const since = options.since === undefined ? undefined : new Date(options.since).toISOString();
      const exported = exportLabels(store, { strategy: options.strategy, since, kinds: kinds as Array<"audit" | "llm" | "feedback"> });
      writeTable(output, [...EXPORT_COLUMNS], exported.rows);
      const summary = sampleSummary(exported.rows);
      const needed = summary.cascadeAgreement === null ? null : rowsToCertify(summary.cascadeAgreement, options.targetAgreement, options.confidence);
      // distill calibrates on the sample rows only (a calibration share of all rows, from the sample).
      const teachers = new Set(exported.rows.map((r) => r.teacher).filter((t) => t !== null)).size;
      if (options.format === "json") {
        printJson({ file: output, rows: summary.rows, sample: summary.sample, cascade_agreement: summary.cascadeAgreement, rows_to_recertify: needed, target_agreement: options.targetAgreement, confidence: options.confidence, without_text: exported.withoutText, teachers });
      }
      const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
      let line = `tandem serve export-labels: ${summary.rows} rows (${summary.sample} in the audit sample) to ${output}`;
      if (exported.withoutText) line += `; ${exported.withoutText} left out: only their text's hash was stored (store_texts: false)`;
      process.stderr.write(line + "\n");
      if (summary.rows === 0) {
        process.stderr.write("tandem serve export-labels: nothing collected yet: a served cascade collects the LLM answers it pays for, and with `audit:` (distill and tune cascade --write-config write one) a uniform sample of all its answers\n");
        return;
      }
      if (summary.sample === 0) process.stderr.write("tandem serve export-labels: no row is in the audit sample (the cascade has no `audit:`): distill can train on these rows but has nothing to calibrate on\n");
      else process.stderr.write(`tandem serve export-labels: the sample is what the next distill calibrates on; the cascade agreed with the LLM on ${pct(summary.cascadeAgreement!)} of it, where a certificate of agreement >= ${pct(options.targetAgreement)} at ${pct(options.confidence)} confidence for the current τ needs ${needed === null ? "more than any number of rows (the agreement is below the target)" : `about ${needed} calibration rows${needed > summary.sample ? ` (${needed - summary.sample} more than collected)` : " (enough)"}`}\n`);
      if (teachers === 0) process.stderr.write("tandem serve export-labels: the rows name no teacher (collected before tandem recorded it): give distill --llm-strategy\n");
    });
}

export function registerView(program: Command): void {
  withListenOptions(
    program
      .command("view")
      .description("The web app alone, with no models loaded: browse the runs of the state database, read their errors row by row, tune a cascade with a slider, compare two runs. Open the printed URL.")
      .option("--db <file>", "state database holding the runs (default .tandem/tandem.db, or TANDEM_DB)"),
  ).action(async (options: { db?: string; host: string; port: number; apiKeysFile?: string }) => {
      if (options.db !== undefined && !existsSync(options.db)) throw new UserError("no such file: tandem view reads the runs of an existing state database (tandem demo and tandem run make one)", { file: options.db });
      openStore(options.db);
      const { startServer } = await loadOptional("server", () => import("../server/app.js"));
      const { viewPlugin } = await loadOptional("server", () => import("../server/view.js"));
      const server = await startServer({ strategies: { strategies: [], default: "" }, host: options.host, port: options.port, apiKeys: loadApiKeys(options.apiKeysFile), store: options.db, logger: false, plugins: [viewPlugin({ store: options.db })] });
      process.stderr.write(`tandem view: open ${server.url}/ (Ctrl-C to stop)\n`);
      const { RunStore } = await import("../experiments/store.js");
      if (new RunStore(options.db).listRuns().length === 0) process.stderr.write(`tandem view: ${options.db ?? defaultStorePath()} holds no runs yet: \`tandem demo\` makes one (then \`tandem view --db tandem-demo/tandem.db\`), or \`tandem run FILE\`\n`);
      await new Promise<void>((resolve) => {
        const stop = () => void server.close().then(resolve);
        process.once("SIGTERM", stop);
        process.once("SIGINT", stop);
      });
    });
}
