/**
 * `tandem gateway`: an HTTP endpoint speaking the OpenAI chat-completions and Anthropic messages wire
 * protocols. A request that is a declared task's prompt is recorded (and, once a certified student
 * serves, answered locally when the student keeps it); any other request is passed through untouched.
 * Routes: POST /v1/chat/completions, POST /v1/messages, GET /v1/models and any other /v1/* (passed
 * through); GET /v1/gateway/tasks, POST /v1/gateway/tasks/:name/promote|demote; GET /metrics, /healthz,
 * and / (the tasks page).
 */
import { randomUUID } from "node:crypto";
import { dirname, join, resolve } from "node:path";
import { Readable } from "node:stream";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { Counter, Gauge, Registry } from "prom-client";
import { UserError } from "../core/errors.js";
import { Random } from "../core/random.js";
import { errorMessage, redact } from "../core/redact.js";
import { defaultStorePath, openStore } from "../core/store.js";
import { loadPriceTable, lookupPrice, costOf, type PriceTable } from "../llm/pricing.js";
import { countChatTokens, countTokens } from "../llm/tokens.js";
import { bearerToken, keyChecker } from "../server/auth.js";
import { LabelStore } from "../server/label-store.js";
import { snakeCaseKeys } from "../strategies/config.js";
import type { GatewayTask } from "./config.js";
import { gatewayPage } from "./page.js";
import { TaskRuntime, changeStage, type StudentPrediction, type TaskView } from "./runtime.js";
import { SseReader } from "./sse.js";
import { GatewayStore } from "./store.js";
import { findTask, labelOfAnswer, writeLabel, type RecordedPrompt } from "./templates.js";
import { forward, parseUpstreams, presentedKeys, relayedHeaders, upstreamHeaders, type Upstream } from "./upstream.js";
import { readAnswer, readRequest, readStreamedAnswer, studentResponse, studentStream, unstreamedBody, wireError, type UpstreamAnswer, type Wire, type WireRequest } from "./wire.js";

export interface GatewayOptions {
  /** provider:model specs: one OpenAI-compatible (openai:, compat:) and/or one anthropic:. */
  upstreams: readonly string[];
  tasks?: readonly GatewayTask[];
  /** Unmatched prompts kept for `tandem gateway tasks` (default 5,000; 0: none). */
  keepUnmatched?: number;
  host?: string;
  port?: number;
  /** Keys clients must present (Authorization: Bearer or x-api-key); with keys, upstream calls carry the gateway's own key. */
  apiKeys?: readonly string[];
  /** The state database (labels, task stages); default .tandem/tandem.db or TANDEM_DB. */
  store?: string;
  /** Where students are distilled (default: gateway/ beside the state database). */
  dir?: string;
  pricing?: string;
  logger?: false | { level: string };
  /** How distill is run in the background (default: this tandem's CLI); the arguments are appended. */
  distillCommand?: readonly string[];
  /** Seed of the audit draws. */
  seed?: number;
  /** How often changes made by the CLI (promote, demote) are picked up. */
  pollMs?: number;
  bodyLimit?: number;
}

export interface Gateway {
  url: string;
  app: FastifyInstance;
  tasks(): TaskView[];
  runtime(name: string): TaskRuntime | undefined;
  /** Resolves when the work done after responses (recording, audits, distills) has finished. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

const STAGE_VALUE = { record: 0, shadow: 1, serve: 2 } as const;

function gatewayMetrics(runtimes: () => Iterable<TaskRuntime>) {
  const registry = new Registry();
  const perTask = (name: string, help: string, value: (view: TaskView) => number | null) =>
    new Gauge({
      name, help, labelNames: ["task"], registers: [registry],
      collect() {
        this.reset();
        for (const runtime of runtimes()) {
          const v = value(runtime.view());
          if (v !== null) this.set({ task: runtime.task.name }, v);
        }
      },
    });
  return {
    registry,
    requests: new Counter({ name: "tandem_gateway_requests_total", help: "Requests by task (none: passed through) and who answered (student, upstream)", labelNames: ["task", "answered_by"], registers: [registry] }),
    stage: perTask("tandem_gateway_stage", "Task stage: 0 record, 1 shadow, 2 serve", (v) => STAGE_VALUE[v.stage]),
    localShare: perTask("tandem_gateway_local_share", "Share of the task's requests the student answered", (v) => v.localShare),
    saved: perTask("tandem_gateway_saved_usd", "Dollars the student's answers would have cost upstream", (v) => v.counters.savedUsd),
    spent: perTask("tandem_gateway_upstream_usd", "Dollars paid upstream for the task (forwarded requests and audits)", (v) => v.counters.forwardedUsd + v.counters.auditUsd),
    auditLower: perTask("tandem_gateway_audit_lower_bound", "Anytime-valid lower bound of the cascade's agreement with the upstream (serve stage)", (v) => v.audit?.lowerBound ?? null),
    auditUpper: perTask("tandem_gateway_audit_upper_bound", "Anytime-valid upper bound of the cascade's agreement with the upstream (serve stage)", (v) => v.audit?.upperBound ?? null),
    auditTarget: perTask("tandem_gateway_audit_target", "The certificate's target agreement", (v) => (v.audit ? v.audit.target : null)),
  };
}

/** Starts the gateway and listens. */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const upstreams = parseUpstreams(options.upstreams);
  if (upstreams.size === 0) throw new UserError("give an upstream: --upstream openai:MODEL, compat:URL#MODEL or anthropic:MODEL");
  const dbFile = options.store ?? defaultStorePath();
  const db = openStore(dbFile);
  const gatewayStore = new GatewayStore(db);
  const labelStore = new LabelStore(db);
  const prices: PriceTable = loadPriceTable(options.pricing);
  const tasks = options.tasks ?? [];
  const keepUnmatched = options.keepUnmatched ?? 5000;
  const apiKeys = options.apiKeys ?? [];
  const checkKey = keyChecker(apiKeys);
  const authMode = apiKeys.length ? "gateway" : "forward";
  const host = options.host ?? "127.0.0.1";
  const random = new Random(options.seed ?? Date.now() % 2 ** 31);
  const background = new Set<Promise<unknown>>();
  const later = (work: () => Promise<unknown> | unknown) => {
    const promise = new Promise<void>((resolve) => setImmediate(resolve)).then(work).catch((error: unknown) => app.log.error({ err: error }, "background work failed"));
    background.add(promise);
    void promise.finally(() => background.delete(promise));
  };
  // The wire whose upstream a task's labels came from (for the distill's cascade).
  const taskWire = new Map<string, Wire>();

  const app = Fastify({
    logger:
      options.logger === false || options.logger === undefined
        ? false
        : { level: options.logger.level, redact: ["req.headers.authorization", "req.headers[\"x-api-key\"]", "req.headers.cookie"], serializers: { err: (error: Error) => ({ type: error.name, message: redact(error.message ?? String(error)), stack: redact(error.stack ?? "") }) } },
    bodyLimit: options.bodyLimit ?? 32 * 1024 * 1024,
    return503OnClosing: true,
  });
  // Bodies are kept as the bytes received: a pass-through sends exactly them.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_request, body, done) => done(null, body));

  const runtimes = new Map<string, TaskRuntime>();
  const metrics = gatewayMetrics(() => runtimes.values());
  const log = (level: "info" | "warn" | "error", message: string, fields: Record<string, unknown> = {}) => app.log[level](fields, message);
  for (const task of tasks) {
    runtimes.set(task.name, new TaskRuntime(task, {
      store: gatewayStore, labels: labelStore, db: resolve(dbFile), dir: options.dir ?? join(dirname(resolve(dbFile)), "gateway"), distillCommand: options.distillCommand, log, random,
      upstreamSpec: () => (upstreams.get(taskWire.get(task.name) ?? "openai") ?? [...upstreams.values()][0]!).spec,
    }));
  }

  const wireOfPath = (request: FastifyRequest): Wire => {
    if (request.url.startsWith("/v1/messages")) return "anthropic";
    if (request.url.startsWith("/v1/chat/completions")) return "openai";
    // Elsewhere (models, embeddings, …): Anthropic's SDK sends anthropic-version.
    return request.headers["anthropic-version"] !== undefined && upstreams.has("anthropic") ? "anthropic" : upstreams.has("openai") ? "openai" : "anthropic";
  };
  const fail = (reply: FastifyReply, wire: Wire, status: number, message: string) => reply.code(status).header("content-type", "application/json").send(wireError(wire, status, message));

  app.addHook("onRequest", async (request, reply) => {
    if (apiKeys.length === 0 || request.url === "/healthz" || request.url === "/" || request.url === "/metrics") return;
    const presented = bearerToken(request.headers.authorization) ?? (request.headers["x-api-key"] as string | undefined);
    if (!checkKey(presented)) return fail(reply.header("www-authenticate", 'Bearer realm="tandem"'), wireOfPath(request), 401, "missing or invalid gateway key (Authorization: Bearer KEY, or x-api-key)");
  });
  app.setNotFoundHandler((request, reply) => fail(reply, wireOfPath(request), 404, `no route ${request.method} ${request.url.replace(/\?.*/s, "").slice(0, 60)}`));
  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") return fail(reply, wireOfPath(request), 413, `the request body is larger than ${options.bodyLimit ?? 32 * 1024 * 1024} bytes`);
    if (error.statusCode && error.statusCode < 500) return fail(reply, wireOfPath(request), error.statusCode, error.message.replace(/[\r\n].*/s, ""));
    request.log.error({ err: error }, "internal error");
    return fail(reply, wireOfPath(request), 500, "internal error in the gateway");
  });

  /** Cost of an upstream answer: from its usage, else the prompt and answer counted with the model's tokenizer. */
  const costOfAnswer = (upstream: Upstream, request: WireRequest, answer: UpstreamAnswer): number => {
    const model = answer.model ?? request.model;
    const usage = answer.usage ?? { inputTokens: countChatTokens(request.messages.map((m) => ({ role: m.role as "system" | "user" | "assistant", content: m.content })), model), cachedInputTokens: 0, outputTokens: countTokens(answer.text, model) };
    return costOf(usage, lookupPrice(prices, upstream.provider, model));
  };

  /**
   * Sends the upstream's response on: status, headers and bytes as received (an error body with a key in it
   * has the key taken out). `onBody` gets the whole body text of a 2xx answer once it has been sent.
   */
  const relay = async (reply: FastifyReply, wire: Wire, response: Response, sentHeaders: Record<string, string>, extraHeaders: Record<string, string>, onBody?: (text: string, streamed: SseReader | undefined) => void): Promise<FastifyReply> => {
    const headers = { ...relayedHeaders(response), ...extraHeaders };
    reply.code(response.status).headers(headers);
    if (!response.body) return reply.send();
    if (response.status >= 400) {
      let text = await response.text();
      for (const key of presentedKeys(sentHeaders)) text = text.split(key).join("[redacted]");
      return reply.send(redact(text));
    }
    const streamed = (response.headers.get("content-type") ?? "").includes("text/event-stream");
    if (!streamed) {
      const bytes = Buffer.from(await response.arrayBuffer());
      reply.send(bytes);
      if (onBody) later(() => onBody(bytes.toString("utf8"), undefined));
      return reply;
    }
    const reader = onBody ? new SseReader() : undefined;
    const decoder = new TextDecoder();
    const body = response.body;
    async function* chunks() {
      for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
        reader?.push(decoder.decode(chunk, { stream: true }));
        yield Buffer.from(chunk);
      }
      if (reader && onBody) {
        reader.push(decoder.decode());
        reader.end();
        later(() => onBody("", reader));
      }
    }
    return reply.send(Readable.from(chunks(), { objectMode: false }));
  };

  const send = async (upstream: Upstream, request: FastifyRequest, body: Buffer | undefined, path: string) => {
    const headers = upstreamHeaders(upstream, request.headers, { mode: authMode });
    try {
      return { response: await forward(upstream, path, request.method, headers, body), headers };
    } catch (error) {
      return { error: `the upstream (${new URL(upstream.baseUrl).host}) could not be reached: ${errorMessage((error as { cause?: unknown }).cause ?? error)}`, headers };
    }
  };

  const passThrough = async (request: FastifyRequest, reply: FastifyReply, wire: Wire, upstream: Upstream, raw: Buffer | undefined, prompt?: WireRequest) => {
    metrics.requests.inc({ task: "none", answered_by: "upstream" });
    const path = request.url;
    const sent = await send(upstream, request, raw, path);
    if (!sent.response) return fail(reply, wire, 502, sent.error!);
    const keep = prompt && keepUnmatched > 0 && request.method === "POST";
    return relay(reply, wire, sent.response, sent.headers, {}, keep ? (text, streamed) => {
      const answer = streamed ? readStreamedAnswer(wire, streamed.events) : parseJson(text, (json) => readAnswer(wire, json));
      const recorded: RecordedPrompt = { wire, model: prompt.model, messages: prompt.messages, answer: answer?.text ?? null, ...(prompt.responseFormat ? { responseFormat: prompt.responseFormat } : {}) };
      gatewayStore.keepUnmatched(recorded, keepUnmatched);
    } : undefined);
  };

  const chat = (wire: Wire) => async (request: FastifyRequest, reply: FastifyReply) => {
    const upstream = upstreams.get(wire);
    if (!upstream) return fail(reply, wire, 404, `this gateway has no ${wire === "openai" ? "OpenAI-compatible" : "Anthropic"} upstream (start it with --upstream ${wire === "openai" ? "openai:MODEL or compat:URL#MODEL" : "anthropic:MODEL"})`);
    const raw = request.body as Buffer | undefined;
    const json = raw ? parseJson(raw.toString("utf8"), (value) => value) : undefined;
    const prompt = json === undefined ? undefined : readRequest(wire, json);
    const match = prompt && prompt.choices === 1 ? findTask(tasks, prompt) : undefined;
    if (!prompt || !match) return passThrough(request, reply, wire, upstream, raw, prompt);
    const { task, text } = match;
    const runtime = runtimes.get(task.name)!;
    taskWire.set(task.name, wire);
    const drawn = runtime.drawAudit();
    const { kept, prediction } = await runtime.answerLocally(text);
    if (kept) {
      metrics.requests.inc({ task: task.name, answered_by: "student" });
      runtime.recordLocal();
      const answer = { content: writeLabel(task, kept.label, prompt.responseFormat), probabilities: kept.probabilities, written: task.labels.map((label) => writeLabel(task, label, prompt.responseFormat)), id: wire === "openai" ? `chatcmpl-tandem-${randomUUID()}` : `msg_tandem_${randomUUID().replace(/-/g, "")}`, created: Math.floor(Date.now() / 1000) };
      reply.header("x-tandem-answered-by", "student").header("x-tandem-task", task.name);
      if (prompt.stream) reply.header("content-type", "text/event-stream; charset=utf-8").header("cache-control", "no-cache").send(studentStream(prompt, answer));
      else reply.send(studentResponse(prompt, answer));
      if (drawn) {
        runtime.takeAuditCall();
        const headers = upstreamHeaders(upstream, request.headers, { mode: authMode });
        later(() => auditKept(upstream, wire, task, runtime, prompt, json as Record<string, unknown>, headers, text, kept));
      }
      return reply;
    }
    const started = performance.now();
    const sent = await send(upstream, request, raw, request.url);
    if (!sent.response) return fail(reply, wire, 502, sent.error!);
    metrics.requests.inc({ task: task.name, answered_by: "upstream" });
    return relay(reply, wire, sent.response, sent.headers, { "x-tandem-answered-by": "upstream", "x-tandem-task": task.name }, async (body, streamed) => {
      const latencyMs = performance.now() - started;
      const answer = streamed ? readStreamedAnswer(wire, streamed.events) : parseJson(body, (value) => readAnswer(wire, value));
      const label = answer ? labelOfAnswer(task, answer.text).label : null;
      const costUsd = answer ? costOfAnswer(upstream, prompt, answer) : 0;
      // In shadow the student answers too, off the request path.
      const shadow = runtime.stage === "shadow" && label !== null ? await runtime.predict(text) : undefined;
      runtime.recordUpstream({ text, label, costUsd, latencyMs, drawn, prediction: prediction ?? shadow, teacher: upstream.spec });
      if (shadow && label !== null) runtime.recordShadow(label, shadow);
    });
  };

  /** A kept answer drawn into the audit: the same request asked upstream (not streamed), in the background. */
  const auditKept = async (upstream: Upstream, wire: Wire, task: GatewayTask, runtime: TaskRuntime, prompt: WireRequest, body: Record<string, unknown>, headers: Record<string, string>, text: string, prediction: StudentPrediction) => {
    const started = performance.now();
    const response = await fetch(new URL(wire === "anthropic" ? upstream.baseUrl + "/v1/messages" : upstream.baseUrl + "/chat/completions"), { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: JSON.stringify(unstreamedBody(body)) });
    if (!response.ok) {
      log("warn", `task ${task.name}: an audit call failed (HTTP ${response.status}); the draw is dropped`, { task: task.name });
      return;
    }
    const answer = readAnswer(wire, await response.json());
    if (!answer) return;
    const label = labelOfAnswer(task, answer.text).label;
    runtime.recordAudit({ text, label, costUsd: costOfAnswer(upstream, prompt, answer), latencyMs: performance.now() - started, prediction, teacher: upstream.spec });
  };

  app.post("/v1/chat/completions", chat("openai"));
  app.post("/v1/messages", chat("anthropic"));

  const views = () => [...runtimes.values()].map((r) => r.view());
  app.get("/v1/gateway/tasks", async () => ({ tasks: views().map((v) => snakeCaseKeys(v, [])) }));
  for (const [action, to] of [["promote", "serve"], ["demote", "shadow"]] as const) {
    app.post<{ Params: { name: string } }>(`/v1/gateway/tasks/:name/${action}`, async (request, reply) => {
      const runtime = runtimes.get(request.params.name);
      if (!runtime) return reply.code(404).send({ error: `no task "${request.params.name.slice(0, 60)}"` });
      try {
        changeStage(gatewayStore, runtime.task.name, to, `${action}d through the API`);
      } catch (error) {
        return reply.code(409).send({ error: errorMessage(error) });
      }
      await runtime.refresh();
      return { task: snakeCaseKeys(runtime.view(), []) };
    });
  }
  app.get("/metrics", async (_request, reply) => reply.header("content-type", metrics.registry.contentType).send(await metrics.registry.metrics()));
  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/", async (_request, reply) => reply.header("content-type", "text/html; charset=utf-8").send(gatewayPage()));
  // Everything else under /v1 (models, embeddings, files, …) goes upstream untouched.
  app.all("/v1/*", async (request, reply) => {
    const wire = wireOfPath(request);
    const upstream = upstreams.get(wire)!;
    return passThrough(request, reply, wire, upstream, request.body as Buffer | undefined);
  });

  for (const runtime of runtimes.values()) await runtime.start();
  const poll = setInterval(() => {
    for (const runtime of runtimes.values()) {
      void runtime.refresh().catch((error: unknown) => app.log.error({ err: error }, "task refresh failed"));
      runtime.flushCounters();
    }
  }, options.pollMs ?? 1000);
  poll.unref();

  try {
    await app.listen({ host, port: options.port ?? 8088 });
  } catch (error) {
    clearInterval(poll);
    await app.close();
    for (const runtime of runtimes.values()) await runtime.close();
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") throw new UserError(`port ${options.port ?? 8088} on ${host} is in use: stop what listens there, or choose another with --port`);
    if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND") throw new UserError(`cannot listen on ${host}: not an address of this machine (--host)`);
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : (options.port ?? 8088);
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  const idle = async () => {
    while (background.size) await Promise.all([...background]);
    await Promise.all([...runtimes.values()].map((r) => r.settled()));
    while (background.size) await Promise.all([...background]);
  };
  return {
    url,
    app,
    tasks: views,
    runtime: (name) => runtimes.get(name),
    idle,
    async close() {
      clearInterval(poll);
      await app.close();
      await Promise.all([...background]);
      for (const runtime of runtimes.values()) await runtime.close();
    },
  };
}

function parseJson<T>(text: string, then: (value: unknown) => T): T | undefined {
  try {
    return then(JSON.parse(text));
  } catch {
    return undefined;
  }
}
