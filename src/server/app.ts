/**
 * `tandem serve`: the HTTP service. Fastify validates every request and serializes every response from
 * JSON schemas, which also make the OpenAPI 3.1 document (/openapi.json) and the reference page (/docs).
 * Models load once at start-up (/readyz turns ready then); encoders get dynamic batching; LLM calls go
 * through the engine's cache, limits, retries and cost accounting. API keys, limits, load shedding,
 * per-request timeouts, Prometheus metrics, JSON logs and a graceful shutdown come with it.
 */
import { context as otelContext, trace } from "@opentelemetry/api";
import { SpanKind, tracer } from "../core/spans.js";
import { randomUUID } from "node:crypto";
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import { UserError } from "../core/errors.js";
import { addSecret, redact } from "../core/redact.js";
import { openStore } from "../core/store.js";
import type { StrategyConfig } from "../strategies/config.js";
import { createStrategies, type StrategyFile, type StrategySet } from "../strategies/factory.js";
import { snakeCaseKeys } from "../strategies/config.js";
import { memberRefs } from "../strategies/registry.js";
import { memberConfig } from "../strategies/members.js";
import type { EncoderStrategy } from "../strategies/encoder.js";
import type { Prediction, Strategy } from "../strategies/strategy.js";
import { bearerToken, isLoopback, keyChecker } from "./auth.js";
import { clip, refuse } from "./http-errors.js";
import { batchingStrategy, type BatchingStrategy } from "./batcher.js";
import { createMetrics, type ServerMetrics } from "./metrics.js";
import { LabelStore } from "./label-store.js";
import { auditSettings, StrategyMonitor } from "./monitor.js";
import { teiPlugin } from "./tei.js";
import { describeQuantity } from "./watch.js";
import { auditResetResponseSchema, classifyRequestSchema, classifyResponseSchema, errorSchema, feedbackRequestSchema, feedbackResponseSchema, healthSchema, readySchema, strategiesResponseSchema } from "./schemas.js";

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

export interface ServerContext {
  strategies: () => StrategySet | undefined;
  /** Live state per strategy (audit, feedback, traffic), once the strategies are loaded. */
  monitors: () => ReadonlyMap<string, StrategyMonitor>;
  defaultStrategy: string;
  metrics: ServerMetrics;
  options: Required<Pick<ServeOptions, "maxTexts" | "maxTextLength" | "requestTimeoutMs" | "maxQueue">>;
  /** Refuses work beyond the queue limit: false (and a 429 sent) when the server is full. */
  admit(reply: FastifyReply, texts: number): boolean;
}

export interface RunningServer {
  app: FastifyInstance;
  url: string;
  /** Resolves when every model is loaded. */
  ready: Promise<void>;
  /** Stops accepting, answers the requests in flight, frees the models. */
  close(): Promise<void>;
}

const DEFAULTS = { host: "127.0.0.1", port: 8080, maxBatch: 64, maxWaitMs: 0, maxTexts: 256, maxTextLength: 20_000, bodyLimit: 10 * 1024 * 1024, requestTimeoutMs: 60_000, maxQueue: 4096 };

function memberTypes(strategy: Strategy, into = new Map<string, string>()): Map<string, string> {
  into.set(strategy.name, strategy.type);
  for (const member of strategy.members) memberTypes(member, into);
  return into;
}

function modelsOf(config: StrategyConfig, byName: ReadonlyMap<string, StrategyConfig>): string[] {
  const own = config.type === "encoder" || config.type === "llm" ? [config.model] : [];
  return [...new Set([...own, ...memberRefs(config).flatMap(({ ref }) => {
    const target = typeof ref === "string" ? byName.get(ref) : ref;
    return target ? modelsOf(target, byName) : [];
  })])];
}

/** A cascade's LLM member as a self-contained strategy config (snake_case, no name): recorded with what it answered, so the next distill knows its teacher. */
function teacherRecord(ref: string | StrategyConfig, byName: ReadonlyMap<string, StrategyConfig>): Record<string, unknown> | undefined {
  const config = memberConfig(ref, byName);
  if (!config || config.type !== "llm") return undefined;
  const { name: _name, ...rest } = config;
  return snakeCaseKeys(Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)), []) as Record<string, unknown>;
}

function wire(p: Prediction, labels: readonly string[], id?: string) {
  return {
    id,
    label: p.label,
    probabilities: p.probabilities ? Object.fromEntries(labels.map((label, c) => [label, p.probabilities![c] as number])) : null,
    answered_by: p.answeredBy ?? null,
    status: p.status,
    error: p.error ?? null,
    raw: p.raw ?? null,
    input_tokens: p.inputTokens ?? 0,
    output_tokens: p.outputTokens ?? 0,
    cost_usd: p.costUsd,
    latency_ms: p.latencyMs ?? null,
    cached: p.cached ?? false,
  };
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
  const recent = new Map<string, { strategy: string; text: string; answeredBy: string; label: string }>();
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

  // Validation and framework errors as one JSON line naming the field; nothing of the input is echoed.
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.validation) {
      const first = error.validation[0]!;
      const params = first.params as { missingProperty?: string; additionalProperty?: string };
      const path = first.instancePath.slice(1).replace(/\//g, ".");
      const field = [path, params.missingProperty ?? params.additionalProperty].filter(Boolean).join(".") || undefined;
      const what = params.additionalProperty ? "is not a known field" : (first.message ?? "is invalid");
      return refuse(reply, 400, `${field ?? error.validationContext ?? "body"} ${what}`, field);
    }
    if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      metrics.rejected.inc({ reason: "body_too_large" });
      return refuse(reply, 413, `the request body is larger than ${options.bodyLimit ?? DEFAULTS.bodyLimit} bytes`);
    }
    if (error.statusCode && error.statusCode < 500) return refuse(reply, error.statusCode, error.message.replace(/[\r\n].*/s, ""));
    if (error instanceof UserError) return refuse(reply, 400, error.describe());
    request.log.error({ err: error }, "internal error");
    return refuse(reply, 500, "internal error");
  });

  // Every route's methods, for a 405 (with Allow) where a path exists but not with the method asked; and,
  // when keys are required, a 401 in each operation's documented responses.
  const routes: Array<{ pattern: RegExp; method: string }> = [];
  app.addHook("onRoute", (route) => {
    const url = route.url ?? route.path;
    const pattern = new RegExp(`^${url.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/:[^/]+/g, "[^/]+").replace(/\*/g, ".*")}/?$`);
    for (const method of [route.method].flat()) routes.push({ pattern, method: String(method) });
    if (!route.schema || route.schema.hide || url === "/openapi.json" || url.startsWith("/docs")) return;
    // Every documented operation answers errors in the one shape; with keys, a 401 too.
    const open = ["/healthz", "/readyz"].includes(url);
    route.schema.response = { ...(open ? {} : { "4xx": errorSchema }), "5xx": errorSchema, ...(route.schema.response as Record<string, unknown> | undefined), ...(apiKeys.length > 0 && !open ? { 401: errorSchema } : {}) };
  });
  const allowedMethods = (path: string) => [...new Set(routes.filter((r) => r.pattern.test(path)).map((r) => r.method))].filter((m) => m !== "HEAD");
  // A method no route of the path has is 405 before anything reads its body (a QUERY without a type would be 400).
  app.addHook("onRequest", async (request, reply) => {
    if (request.routeOptions.url !== undefined) return;
    const path = request.url.replace(/\?.*/s, "");
    const allowed = allowedMethods(path);
    if (allowed.length > 0 && !allowed.includes(request.method)) {
      reply.header("allow", allowed.join(", "));
      return refuse(reply, 405, `${request.method} is not allowed on ${clip(path)} (${allowed.join(", ")})`);
    }
  });
  // Every error has the one body shape, an unknown route included.
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.replace(/\?.*/s, "");
    const allowed = allowedMethods(path);
    if (allowed.length > 0) {
      reply.header("allow", allowed.join(", "));
      return refuse(reply, 405, `${request.method} is not allowed on ${clip(path)} (${allowed.join(", ")})`);
    }
    return refuse(reply, 404, `no route ${request.method} ${clip(path)}`);
  });

  const checkKey = keyChecker(apiKeys);
  app.addHook("onRequest", async (request, reply) => {
    (request as FastifyRequest & { started?: number }).started = performance.now();
    const url = request.url;
    // The web app's page and assets hold no data (its API, /api/view, is protected like the rest).
    if (apiKeys.length === 0 || url === "/healthz" || url === "/readyz" || url === "/openapi.json" || url.startsWith("/docs") || url === "/" || url.startsWith("/assets/")) return;
    if (!checkKey(bearerToken(request.headers.authorization))) {
      metrics.rejected.inc({ reason: "unauthorized" });
      reply.header("www-authenticate", 'Bearer realm="tandem"');
      return refuse(reply, 401, "missing or invalid API key (Authorization: Bearer KEY)");
    }
  });
  let shuttingDown = false;
  app.addHook("onSend", async (_request, reply) => {
    if (shuttingDown) reply.header("connection", "close");
  });
  app.addHook("onResponse", async (request, reply) => {
    const route = request.routeOptions.url ?? "unmatched";
    metrics.requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    const started = (request as FastifyRequest & { started?: number }).started;
    if (started !== undefined) metrics.latency.observe({ route }, (performance.now() - started) / 1000);
  });

  const context: ServerContext = {
    strategies: () => set,
    monitors: () => monitors,
    defaultStrategy: options.strategies.default,
    metrics,
    options: limits,
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

  app.get("/healthz", { schema: { summary: "Liveness: the process answers (no key needed)", security: [], response: { 200: healthSchema } } }, async () => ({ status: "ok" }));
  app.get("/readyz", { schema: { summary: "Readiness: 200 once every model is loaded (with the degraded cascades), 503 while loading or after a failed load (no key needed)", security: [], response: { 200: readySchema, 503: readySchema } } }, async (_, reply) => {
    if (set) return { status: "ready", strategies: [...set.strategies.keys()], degraded: [...monitors.values()].filter((m) => m.degraded).map((m) => m.name) };
    return reply.code(503).send({ status: loadError ? "failed" : "loading", error: loadError ? String((loadError as Error).message ?? loadError) : undefined });
  });
  app.get("/metrics", { schema: { summary: "Prometheus metrics (text exposition format)", response: { 200: { description: "Prometheus text format", content: { "text/plain": { schema: { type: "string" } } } } } } }, async (_, reply) => {
    reply.header("content-type", metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());

  const liveState = (name: string) => {
    const monitor = monitors.get(name);
    if (!monitor) return {};
    const audit = monitor.snapshot();
    return snakeCaseKeys({ traffic: monitor.traffic(), liveAccuracy: monitor.liveAccuracy(), ...(audit ? { audit } : {}) }, []) as Record<string, unknown>;
  };

  app.get("/v1/strategies", { schema: { summary: "The strategies this server runs", response: { 200: strategiesResponseSchema } } }, async () => ({
    default: options.strategies.default,
    strategies: options.strategies.strategies.map((config) => {
      const built = set?.strategies.get(config.name!);
      return {
        name: config.name!,
        type: config.type,
        labels: built ? [...built.labels] : [],
        models: modelsOf(config, byName),
        members: memberRefs(config).map(({ ref }) => (typeof ref === "string" ? ref : ref.type)),
        ...(config.type === "cascade" ? { tau: config.tau, ...(config.certificate ? { certificate: snakeCaseKeys(config.certificate, []) } : {}) } : {}),
        ...liveState(config.name!),
      };
    }),
  }));

  app.post(
    "/v1/classify",
    { schema: { summary: "Classify texts with a strategy", body: classifyRequestSchema, response: { 200: classifyResponseSchema, "4xx": errorSchema, "5xx": errorSchema } } },
    async (request, reply) => {
      const body = request.body as { texts: string[]; strategy?: string };
      if (!set) return refuse(reply, 503, loadError ? "the models failed to load" : "loading the models; try again shortly");
      const name = body.strategy ?? options.strategies.default;
      const strategy = set.strategies.get(name);
      if (!strategy) return refuse(reply, 400, `unknown strategy "${clip(name)}" (${[...set.strategies.keys()].join(", ")})`, "strategy");
      if (body.texts.length > limits.maxTexts) {
        metrics.rejected.inc({ reason: "too_many_texts" });
        return refuse(reply, 413, `${body.texts.length} texts in one request; the limit is ${limits.maxTexts} (send a job for large files: POST /v1/jobs)`, "texts");
      }
      const nul = body.texts.findIndex((t) => t.includes("\u0000"));
      if (nul >= 0) return refuse(reply, 400, `texts.${nul} holds a NUL character (\\u0000), which no model reads as text: remove it`, `texts.${nul}`);
      const long = body.texts.findIndex((t) => t.length > limits.maxTextLength);
      if (long >= 0) {
        metrics.rejected.inc({ reason: "text_too_long" });
        return refuse(reply, 413, `texts.${long} has ${body.texts[long]!.length} characters; the limit is ${limits.maxTextLength}`, `texts.${long}`);
      }
      if (!context.admit(reply, body.texts.length)) return reply;
      const started = performance.now();
      const abort = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      inFlight += body.texts.length;
      const span = tracer().startSpan("POST /v1/classify", { kind: SpanKind.SERVER, attributes: { "http.request.method": "POST", "http.route": "/v1/classify", "tandem.strategy": name, "tandem.texts": body.texts.length } });
      try {
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            abort.abort(new Error("timeout"));
            reject(new UserError("timeout"));
          }, limits.requestTimeoutMs);
        });
        let predictions: Prediction[];
        const monitor = monitors.get(name);
        // A degraded cascade with on_degraded: llm lets its LLM answer everything until a reset.
        const forceLlm = monitor?.routeToLlm === true;
        try {
          predictions = await otelContext.with(trace.setSpan(otelContext.active(), span), () => Promise.race([strategy.classify(body.texts, { signal: abort.signal, forceLlm }), timeout]));
        } catch (error) {
          if (abort.signal.aborted) return refuse(reply, 504, `not answered within ${limits.requestTimeoutMs} ms`);
          throw error;
        }
        const types = memberTypes(strategy);
        let llm = 0;
        for (const p of predictions) {
          const by = p.answeredBy ?? strategy.name;
          metrics.items.inc({ strategy: name, answered_by: by, status: p.status });
          if (types.get(by) === "llm") llm++;
          if (p.cached) metrics.cacheHits.inc({ strategy: name });
        }
        if (llm) metrics.llmItems.inc({ strategy: name }, llm);
        const ids = body.texts.map(() => randomUUID());
        ids.forEach((id, i) => {
          const p = predictions[i]!;
          if (p.status !== "ok") return;
          recent.set(id, { strategy: name, text: body.texts[i]!, answeredBy: p.answeredBy ?? name, label: p.label });
          if (recent.size > feedbackWindow) recent.delete(recent.keys().next().value!);
        });
        monitor?.observe(body.texts, predictions, ids, types);
        const costUsd = predictions.reduce((sum, p) => sum + p.costUsd, 0);
        if (costUsd > 0) metrics.cost.inc({ strategy: name }, costUsd);
        span.setAttributes({ "tandem.llm_items": llm, "tandem.cost_usd": costUsd });
        const count = (status: string) => predictions.filter((p) => p.status === status).length;
        return {
          strategy: name,
          labels: [...strategy.labels],
          results: predictions.map((p, i) => wire(p, strategy.labels, ids[i])),
          totals: {
            texts: predictions.length,
            ok: count("ok"),
            unparseable: count("unparseable"),
            error: count("error"),
            skipped: count("skipped"),
            llm_share: predictions.length ? llm / predictions.length : 0,
            cost_usd: costUsd,
            input_tokens: predictions.reduce((sum, p) => sum + (p.inputTokens ?? 0), 0),
            output_tokens: predictions.reduce((sum, p) => sum + (p.outputTokens ?? 0), 0),
            seconds: (performance.now() - started) / 1000,
          },
        };
      } finally {
        span.end();
        clearTimeout(timer);
        inFlight -= body.texts.length;
      }
    },
  );

  app.post(
    "/v1/feedback",
    { schema: { summary: "The right label for an earlier answer (by its id): live accuracy by member, and training data", body: feedbackRequestSchema, response: { 200: feedbackResponseSchema, "4xx": errorSchema } } },
    async (request, reply) => {
      const body = request.body as { id: string; label: string };
      if (!set || !labelStore) return refuse(reply, 503, "loading the models; try again shortly");
      const known = recent.get(body.id) ?? (() => {
        const stored = labelStore!.get(body.id);
        return stored && stored.answer !== null ? { strategy: stored.strategy, text: stored.text ?? "", answeredBy: stored.answeredBy ?? "?", label: stored.answer } : undefined;
      })();
      if (!known) return refuse(reply, 404, `no answer with id "${clip(body.id)}": feedback is taken for the last ${feedbackWindow} answers of this server process (held in memory, so not across a restart) and for every answer a cascade collected (LLM answers and audited ones, kept in the state database)`, "id");
      const strategy = set.strategies.get(known.strategy)!;
      if (!strategy.labels.includes(body.label)) return refuse(reply, 400, `label "${clip(body.label)}" is not one of ${strategy.labels.join(", ")}`, "label");
      const config = byName.get(known.strategy);
      const storeText = config?.type === "cascade" ? (config.storeTexts ?? true) : true;
      // A second feedback for the same answer replaces the first (in the store and in the counts).
      const previous = labelStore.feedback({ id: body.id, strategy: known.strategy, text: known.text, storeText, answeredBy: known.answeredBy, answer: known.label, label: body.label });
      const monitor = monitors.get(known.strategy)!;
      monitor.feedbackReceived(known.answeredBy, known.label, body.label, previous);
      return snakeCaseKeys({ id: body.id, strategy: known.strategy, answeredBy: known.answeredBy, answer: known.label, label: body.label, correct: known.label === body.label, liveAccuracy: monitor.liveAccuracy() }, []);
    },
  );

  app.post<{ Params: { name: string } }>(
    "/v1/strategies/:name/audit/reset",
    { schema: { summary: "Clears a cascade's audit evidence and its degraded state (an operator's decision)", params: { type: "object", required: ["name"], properties: { name: { type: "string" } } }, response: { 200: auditResetResponseSchema, "4xx": errorSchema } } },
    async (request, reply) => {
      const monitor = monitors.get(request.params.name);
      if (!monitor?.audit) return refuse(reply, 404, `no audited strategy "${request.params.name}"`);
      return { strategy: monitor.name, audit: snakeCaseKeys(monitor.reset(`reset through the API from ${request.ip}`), []) };
    },
  );

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
    // Gathered calls hold texts of every length: packed rows cost their real tokens (where the graph allows).
    encoderDefaults: { spinWait: false, packing: "auto" },
    decorate: (strategy) => {
      if (strategy.type === "encoder" && "model" in strategy) {
        const { model, packing } = strategy as EncoderStrategy;
        app.log.info({ strategy: strategy.name, packing: packing ?? `off${model.packingRefusal ? ` (${model.packingRefusal})` : ""}`, ...(model.packingAlignmentUsed ? { packing_alignment: model.packingAlignmentUsed } : {}) }, "encoder loaded");
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
