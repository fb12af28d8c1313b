/**
 * The server's HTTP conduct, route-independent: errors in the one body shape (validation, framework, 404,
 * 405 with Allow), the API key check, "Connection: close" while closing, request metrics — and, when keys
 * are required, a 401 in every documented operation.
 */
import type { FastifyError, FastifyInstance, FastifyRequest } from "fastify";
import { UserError } from "../core/errors.js";
import { bearerToken, keyChecker } from "./auth.js";
import { clip, refuse } from "./http-errors.js";
import type { ServerMetrics } from "./metrics.js";
import { errorSchema } from "./schemas.js";

export interface HttpSettings {
  apiKeys: readonly string[];
  metrics: ServerMetrics;
  bodyLimit: number;
  /** True once the server is closing. */
  closing: () => boolean;
}

export function installHttpHooks(app: FastifyInstance, settings: HttpSettings): void {
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
      settings.metrics.rejected.inc({ reason: "body_too_large" });
      return refuse(reply, 413, `the request body is larger than ${settings.bodyLimit} bytes`);
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
    route.schema.response = { ...(open ? {} : { "4xx": errorSchema }), "5xx": errorSchema, ...(route.schema.response as Record<string, unknown> | undefined), ...(settings.apiKeys.length > 0 && !open ? { 401: errorSchema } : {}) };
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

  const checkKey = keyChecker(settings.apiKeys);
  app.addHook("onRequest", async (request, reply) => {
    (request as FastifyRequest & { started?: number }).started = performance.now();
    const url = request.url;
    // The web app's page and assets hold no data (its API, /api/view, is protected like the rest).
    if (settings.apiKeys.length === 0 || url === "/healthz" || url === "/readyz" || url === "/openapi.json" || url.startsWith("/docs") || url === "/" || url.startsWith("/assets/")) return;
    if (!checkKey(bearerToken(request.headers.authorization))) {
      settings.metrics.rejected.inc({ reason: "unauthorized" });
      reply.header("www-authenticate", 'Bearer realm="tandem"');
      return refuse(reply, 401, "missing or invalid API key (Authorization: Bearer KEY)");
    }
  });
  app.addHook("onSend", async (_request, reply) => {
    if (settings.closing()) reply.header("connection", "close");
  });
  app.addHook("onResponse", async (request, reply) => {
    const route = request.routeOptions.url ?? "unmatched";
    settings.metrics.requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    const started = (request as FastifyRequest & { started?: number }).started;
    if (started !== undefined) settings.metrics.latency.observe({ route }, (performance.now() - started) / 1000);
  });
}
