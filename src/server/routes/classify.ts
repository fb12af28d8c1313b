/**
 * POST /v1/classify: limits and admission, the per-request timeout, a degraded cascade's override (its
 * LLM answers everything), metrics and the trace span, ids for feedback, and the audit's observations.
 */
import { context as otelContext, trace } from "@opentelemetry/api";
import { randomUUID } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { UserError } from "../../core/errors.js";
import { SpanKind, tracer } from "../../core/spans.js";
import type { Prediction, Strategy } from "../../strategies/strategy.js";
import type { ServerContext } from "../context.js";
import { clip, refuse } from "../http-errors.js";
import { classifyRequestSchema, classifyResponseSchema, errorSchema } from "../schemas.js";

function memberTypes(strategy: Strategy, into = new Map<string, string>()): Map<string, string> {
  into.set(strategy.name, strategy.type);
  for (const member of strategy.members) memberTypes(member, into);
  return into;
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

export function classifyRoutes(context: ServerContext) {
  return async (app: FastifyInstance): Promise<void> => {
    app.post(
      "/v1/classify",
      { schema: { summary: "Classify texts with a strategy", body: classifyRequestSchema, response: { 200: classifyResponseSchema, "4xx": errorSchema, "5xx": errorSchema } } },
      async (request, reply) => {
        const body = request.body as { texts: string[]; strategy?: string };
        const set = context.strategies();
        if (!set) return refuse(reply, 503, context.loadError() ? "the models failed to load" : "loading the models; try again shortly");
        const name = body.strategy ?? context.defaultStrategy;
        const strategy = set.strategies.get(name);
        if (!strategy) return refuse(reply, 400, `unknown strategy "${clip(name)}" (${[...set.strategies.keys()].join(", ")})`, "strategy");
        if (body.texts.length > context.options.maxTexts) {
          context.metrics.rejected.inc({ reason: "too_many_texts" });
          return refuse(reply, 413, `${body.texts.length} texts in one request; the limit is ${context.options.maxTexts} (send a job for large files: POST /v1/jobs)`, "texts");
        }
        const nul = body.texts.findIndex((t) => t.includes("\u0000"));
        if (nul >= 0) return refuse(reply, 400, `texts.${nul} holds a NUL character (\\u0000), which no model reads as text: remove it`, `texts.${nul}`);
        const long = body.texts.findIndex((t) => t.length > context.options.maxTextLength);
        if (long >= 0) {
          context.metrics.rejected.inc({ reason: "text_too_long" });
          return refuse(reply, 413, `texts.${long} has ${body.texts[long]!.length} characters; the limit is ${context.options.maxTextLength}`, `texts.${long}`);
        }
        if (!context.admit(reply, body.texts.length)) return reply;
        const started = performance.now();
        const abort = new AbortController();
        let timer: NodeJS.Timeout | undefined;
        context.inFlight.add(body.texts.length);
        const span = tracer().startSpan("POST /v1/classify", { kind: SpanKind.SERVER, attributes: { "http.request.method": "POST", "http.route": "/v1/classify", "tandem.strategy": name, "tandem.texts": body.texts.length } });
        try {
          const timeout = new Promise<never>((_, reject) => {
            timer = setTimeout(() => {
              abort.abort(new Error("timeout"));
              reject(new UserError("timeout"));
            }, context.options.requestTimeoutMs);
          });
          let predictions: Prediction[];
          const monitor = context.monitors().get(name);
          // A degraded cascade with on_degraded: llm lets its LLM answer everything until a reset.
          const forceLlm = monitor?.routeToLlm === true;
          try {
            predictions = await otelContext.with(trace.setSpan(otelContext.active(), span), () => Promise.race([strategy.classify(body.texts, { signal: abort.signal, forceLlm }), timeout]));
          } catch (error) {
            if (abort.signal.aborted) return refuse(reply, 504, `not answered within ${context.options.requestTimeoutMs} ms`);
            throw error;
          }
          const types = memberTypes(strategy);
          let llm = 0;
          for (const p of predictions) {
            const by = p.answeredBy ?? strategy.name;
            context.metrics.items.inc({ strategy: name, answered_by: by, status: p.status });
            if (types.get(by) === "llm") llm++;
            if (p.cached) context.metrics.cacheHits.inc({ strategy: name });
          }
          if (llm) context.metrics.llmItems.inc({ strategy: name }, llm);
          const ids = body.texts.map(() => randomUUID());
          ids.forEach((id, i) => {
            const p = predictions[i]!;
            if (p.status !== "ok") return;
            context.answers.remember(id, { strategy: name, text: body.texts[i]!, answeredBy: p.answeredBy ?? name, label: p.label });
          });
          monitor?.observe(body.texts, predictions, ids, types);
          const costUsd = predictions.reduce((sum, p) => sum + p.costUsd, 0);
          if (costUsd > 0) context.metrics.cost.inc({ strategy: name }, costUsd);
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
          context.inFlight.done(body.texts.length);
        }
      },
    );
  };
}
