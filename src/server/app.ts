/**
 * `tandem serve`: the HTTP service. Fastify validates every request and serializes every response from
 * JSON schemas, which also make the OpenAPI 3.1 document (/openapi.json) and the reference page (/docs).
 * Models load once at start-up (/readyz turns ready then); encoders get dynamic batching; LLM calls go
 * through the engine's cache, limits, retries and cost accounting. API keys, limits, load shedding,
 * per-request timeouts, Prometheus metrics, JSON logs and a graceful shutdown come with it.
 */
import Fastify, { type FastifyInstance } from "fastify";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import { UserError } from "../core/errors.js";
import { addSecret, redact } from "../core/redact.js";
import { openStore } from "../core/store.js";
import type { StrategyConfig } from "../strategies/config.js";
import { createStrategies, type StrategyFile, type StrategySet } from "../strategies/factory.js";
import { snakeCaseKeys } from "../strategies/config.js";
import { memberConfig } from "../strategies/members.js";
import type { EncoderStrategy } from "../strategies/encoder.js";
import { isLoopback } from "./auth.js";
import { refuse } from "./http-errors.js";
import { batchingStrategy, SERVED_ENCODER_DEFAULTS, type BatchingStrategy } from "./batcher.js";
import { createMetrics } from "./metrics.js";
import { LabelStore } from "./label-store.js";
import { auditSettings, StrategyMonitor } from "./monitor.js";
import type { RecentAnswer, ServerContext } from "./context.js";
import { installHttpHooks } from "./http-hooks.js";
import { classifyRoutes } from "./routes/classify.js";
import { healthRoutes } from "./routes/health.js";
import { strategyRoutes } from "./routes/strategies.js";
import { teiPlugin } from "./tei.js";
import { describeQuantity } from "./watch.js";

export interface ServeOptions {
  strategies: StrategyFile;
  host?: string;
  port?: number;
  /** Bearer tokens; required when the host is not loopback. */
  apiKeys?: readonly string[];
  /** State database (LLM cache, jobs). */
  store?: string;
  pricing?: string;
  /** Dynamic batching of encoders (default on). */
  batching?: boolean;
  maxBatch?: number;
  maxWaitMs?: number;
  /** Texts per request. */
  maxTexts?: number;
  /** Characters per text. */
  maxTextLength?: number;
  /** Bytes per request body. */
  bodyLimit?: number;
  requestTimeoutMs?: number;
  /** Texts accepted and unanswered beyond which requests get 429. */
  maxQueue?: number;
  /** JSON logs (pino): true for info level on stdout, false for none. */
  logger?: boolean | { level: string };
  /** Adds routes (the jobs API) once the strategies are loaded. */
  plugins?: Array<(app: FastifyInstance, context: ServerContext) => Promise<void> | void>;
  /** Answers remembered for POST /v1/feedback (the most recent ones; default 50,000). */
  feedbackWindow?: number;
  /** Milliseconds between points of the live series (default 60,000). */
  seriesIntervalMs?: number;
}

export type { ServerContext } from "./context.js";

export interface RunningServer {
  app: FastifyInstance;
  url: string;
  /** Resolves when every model is loaded. */
  ready: Promise<void>;
  /** Stops accepting, answers the requests in flight, frees the models. */
  close(): Promise<void>;
}

const DEFAULTS = { host: "127.0.0.1", port: 8080, maxBatch: 64, maxWaitMs: 0, maxTexts: 256, maxTextLength: 20_000, bodyLimit: 10 * 1024 * 1024, requestTimeoutMs: 60_000, maxQueue: 4096 };

/** A cascade's LLM member as a self-contained strategy config (snake_case, no name): recorded with what it answered, so the next distill knows its teacher. */
function teacherRecord(ref: string | StrategyConfig, byName: ReadonlyMap<string, StrategyConfig>): Record<string, unknown> | undefined {
  const config = memberConfig(ref, byName);
  if (!config || config.type !== "llm") return undefined;
  const { name: _name, ...rest } = config;
  return snakeCaseKeys(Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)), []) as Record<string, unknown>;
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const host = options.host ?? DEFAULTS.host;
  const apiKeys = options.apiKeys ?? [];
  for (const key of apiKeys) addSecret(key);
  if (apiKeys.length === 0 && !isLoopback(host)) {
    throw new UserError(`serving on ${host} (not loopback) needs API keys: set TANDEM_API_KEYS or --api-keys-file`);
  }
  const limits = {
    maxTexts: options.maxTexts ?? DEFAULTS.maxTexts,
    maxTextLength: options.maxTextLength ?? DEFAULTS.maxTextLength,
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
    maxQueue: options.maxQueue ?? DEFAULTS.maxQueue,
  };
  const batchers: BatchingStrategy[] = [];
  let inFlight = 0;
  const metrics = createMetrics(() => inFlight);
  let set: StrategySet | undefined;
  let loadError: unknown;
  const monitors = new Map<string, StrategyMonitor>();
  // Recent answers, for feedback by id (oldest dropped first).
  const recent = new Map<string, RecentAnswer>();
  const feedbackWindow = options.feedbackWindow ?? 50_000;
  let labelStore: LabelStore | undefined;
  let seriesTimer: NodeJS.Timeout | undefined;
  const byName = new Map(options.strategies.strategies.map((c) => [c.name!, c]));
  // Every strategy's series from the start, at 0: a share or rate computed from them needs no gaps.
  for (const strategy of byName.keys()) for (const counter of [metrics.llmItems, metrics.cost, metrics.cacheHits]) counter.inc({ strategy }, 0);

  const app = Fastify({
    logger:
      options.logger === false || options.logger === undefined
        ? false
        : {
            level: options.logger === true ? "info" : options.logger.level,
            redact: ["req.headers.authorization", "req.headers.cookie"],
            // Errors pass through the one redaction step: a provider's message may hold a key.
            serializers: { err: (error: Error) => ({ type: error.name, message: redact(error.message ?? String(error)), stack: redact(error.stack ?? "") }) },
          },
    bodyLimit: options.bodyLimit ?? DEFAULTS.bodyLimit,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    return503OnClosing: true,
  });

  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: { title: "tandem", description: "Cost-aware text classification: encoders and LLMs in tandem.", version: "1" },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
      security: apiKeys.length ? [{ bearer: [] }] : [],
    },
  });
  await app.register(swaggerUi, { routePrefix: "/docs" });

  let shuttingDown = false;
  installHttpHooks(app, { apiKeys, metrics, bodyLimit: options.bodyLimit ?? DEFAULTS.bodyLimit, closing: () => shuttingDown });

  const context: ServerContext = {
    strategies: () => set,
    monitors: () => monitors,
    loadError: () => loadError,
    labelStore: () => labelStore,
    file: options.strategies,
    defaultStrategy: options.strategies.default,
    metrics,
    options: limits,
    inFlight: { add: (texts) => void (inFlight += texts), done: (texts) => void (inFlight -= texts) },
    answers: {
      remember(id, answer) {
        recent.set(id, answer);
        if (recent.size > feedbackWindow) recent.delete(recent.keys().next().value!);
      },
      recall: (id) => recent.get(id),
      window: feedbackWindow,
    },
    admit(reply, texts) {
      const queued = inFlight + batchers.reduce((sum, b) => sum + b.queueDepth(), 0);
      if (queued + texts > limits.maxQueue && inFlight > 0) {
        metrics.rejected.inc({ reason: "overloaded" });
        reply.header("retry-after", "1");
        refuse(reply, 429, `overloaded: ${queued} texts are waiting (limit ${limits.maxQueue}); retry after 1 s`);
        return false;
      }
      return true;
    },
  };

  await app.register(healthRoutes(context));
  await app.register(strategyRoutes(context));
  await app.register(classifyRoutes(context));
  // Clients written for Hugging Face's text-embeddings-inference work unchanged (POST /predict, GET /info).
  await app.register(teiPlugin(context));
  for (const plugin of options.plugins ?? []) await plugin(app, context);

  try {
    await app.listen({ host, port: options.port ?? DEFAULTS.port });
  } catch (error) {
    await app.close();
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") throw new UserError(`port ${options.port ?? DEFAULTS.port} on ${host} is in use: stop what listens there, or choose another with --port`);
    if (code === "EACCES") throw new UserError(`port ${options.port ?? DEFAULTS.port} on ${host} needs privileges this user lacks: choose a port above 1023 with --port`);
    if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND") throw new UserError(`cannot listen on ${host}: not an address of this machine (--host)`);
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : (options.port ?? DEFAULTS.port);
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;

  const ready = createStrategies(options.strategies.strategies, {
    store: options.store,
    pricing: options.pricing,
    encoderDefaults: SERVED_ENCODER_DEFAULTS,
    decorate: (strategy) => {
      if (strategy.type === "encoder" && "model" in strategy) {
        const { model, packing, replicas } = strategy as EncoderStrategy;
        app.log.info({ strategy: strategy.name, replicas, packing: packing ?? `off${model.packingRefusal ? ` (${model.packingRefusal})` : ""}`, ...(model.packingAlignmentUsed ? { packing_alignment: model.packingAlignmentUsed } : {}) }, "encoder loaded");
      }
      if (strategy.type !== "encoder" || options.batching === false) return strategy;
      const batched = batchingStrategy(strategy, { maxBatch: options.maxBatch ?? DEFAULTS.maxBatch, maxWaitMs: options.maxWaitMs ?? DEFAULTS.maxWaitMs, onBatch: (size) => metrics.batchSize.observe(size) });
      batchers.push(batched);
      return batched;
    },
  }).then(
    (built) => {
      set = built;
      labelStore = new LabelStore(openStore(options.store));
      for (const config of options.strategies.strategies) {
        const strategy = built.strategies.get(config.name!)!;
        const members = config.type === "cascade" ? { encoder: strategy.members[0], llm: strategy.members[1], llmConfig: teacherRecord(config.llm, byName) } : {};
        monitors.set(config.name!, new StrategyMonitor(config.name!, config.type === "cascade" ? auditSettings(config) : undefined, members, labelStore, metrics, app.log));
      }
      const sample = () => monitors.forEach((m) => m.sample());
      sample();
      seriesTimer = setInterval(sample, options.seriesIntervalMs ?? 60_000);
      seriesTimer.unref();
      app.log.info({ strategies: [...built.strategies.keys()] }, "models loaded; ready");
      for (const config of options.strategies.strategies) {
        if (config.type !== "cascade") continue;
        const audit = monitors.get(config.name!)?.audit;
        if (config.certificate) {
          app.log.info({ strategy: config.name, tau: config.tau, certificate: snakeCaseKeys(config.certificate, []) }, "cascade certificate");
          if (!audit) app.log.warn({ strategy: config.name }, "certified cascade served without an audit: nothing checks that the certificate still holds on this traffic, and nothing is collected for the next distill (add audit: { share: 0.2, max_cost_per_day: 2 } to the cascade)");
        } else app.log.warn({ strategy: config.name, tau: config.tau }, "cascade without a certificate: τ carries no guarantee (tandem tune cascade --write-config certifies one)");
        if (audit) app.log.info({ strategy: config.name, quantity: describeQuantity(audit.quantity), target: audit.quantity.target, confidence: audit.quantity.confidence, target_from: audit.quantity.from, share: audit.share }, "audit: watching the certified quantity");
      }
    },
    (error: unknown) => {
      loadError = error;
      app.log.error({ err: error }, "loading the models failed");
      throw error;
    },
  );
  ready.catch(() => {}); // reported through /readyz and to whoever awaits `ready`

  let closing: Promise<void> | undefined;
  return {
    app,
    url,
    ready,
    close: () =>
      (closing ??= (async () => {
        shuttingDown = true;
        // Keep-alive connections would hold the close open for the keep-alive timeout: answers in flight
        // go out with "Connection: close", and connections that turn idle are closed as they do.
        const sweep = setInterval(() => app.server.closeIdleConnections(), 50);
        try {
          await app.close();
        } finally {
          clearInterval(sweep);
        }
        await ready.catch(() => {});
        clearInterval(seriesTimer);
        // Audit calls already sent finish (and are stored); the rest of the audit queue is dropped.
        await Promise.all([...monitors.values()].map((m) => m.close()));
        await set?.close();
      })()),
  };
}
