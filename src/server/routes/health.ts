/** Liveness, readiness, Prometheus metrics and the OpenAPI document. */
import type { FastifyInstance } from "fastify";
import type { ServerContext } from "../context.js";
import { healthSchema, readySchema } from "../schemas.js";

export function healthRoutes(context: ServerContext) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get("/healthz", { schema: { summary: "Liveness: the process answers (no key needed)", security: [], response: { 200: healthSchema } } }, async () => ({ status: "ok" }));
    app.get("/readyz", { schema: { summary: "Readiness: 200 once every model is loaded (with the degraded cascades), 503 while loading or after a failed load (no key needed)", security: [], response: { 200: readySchema, 503: readySchema } } }, async (_, reply) => {
      const set = context.strategies();
      if (set) return { status: "ready", strategies: [...set.strategies.keys()], degraded: [...context.monitors().values()].filter((m) => m.degraded).map((m) => m.name) };
      const loadError = context.loadError();
      return reply.code(503).send({ status: loadError ? "failed" : "loading", error: loadError ? String((loadError as Error).message ?? loadError) : undefined });
    });
    app.get("/metrics", { schema: { summary: "Prometheus metrics (text exposition format)", response: { 200: { description: "Prometheus text format", content: { "text/plain": { schema: { type: "string" } } } } } } }, async (_, reply) => {
      reply.header("content-type", context.metrics.registry.contentType);
      return context.metrics.registry.metrics();
    });
    app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  };
}
