/**
 * The gateway's upstreams — an OpenAI-compatible endpoint and/or Anthropic's — and the forwarding of a
 * request to one: the body as received, the client's headers but hop-by-hop ones, the key forwarded or
 * the gateway's own; the answer's status, headers (rate-limit ones included) and bytes back unchanged.
 */
import { UserError } from "../core/errors.js";
import { addSecret } from "../core/redact.js";
import { parseModelSpec, providerEndpoint, type ProviderName } from "../llm/providers/registry.js";
import type { Wire } from "./wire.js";

export interface Upstream {
  /** As given: openai:gpt-4o-mini, compat:http://host/v1#model, anthropic:claude-… */
  spec: string;
  wire: Wire;
  provider: ProviderName;
  /** The model named in the spec (tasks' teacher and price; requests keep their own model field). */
  model: string;
  /** OpenAI wire: the base holding /chat/completions (…/v1); Anthropic: the host (paths start /v1/). */
  baseUrl: string;
  /** The environment variable holding the gateway's own key for it (none for keyless compat servers). */
  keyVariable?: string;
}

/** The upstreams of the gateway's specs, one per wire. */
export function parseUpstreams(specs: readonly string[]): Map<Wire, Upstream> {
  const upstreams = new Map<Wire, Upstream>();
  for (const spec of specs) {
    const parsed = parseModelSpec(spec);
    // The provider's API (wire, base URL, key) is the registry's to say; the gateway speaks two wires.
    const endpoint = providerEndpoint(spec);
    if (!endpoint) throw new UserError(`--upstream ${spec}: the gateway forwards to openai:MODEL, compat:URL#MODEL or anthropic:MODEL`);
    const upstream: Upstream = { spec, wire: endpoint.wire, provider: parsed.provider, model: parsed.model, baseUrl: endpoint.baseURL, keyVariable: endpoint.keyVariable };
    if (upstreams.has(upstream.wire)) throw new UserError(`--upstream ${spec}: a second ${upstream.wire === "openai" ? "OpenAI-compatible" : "Anthropic"} upstream (give one per wire)`);
    upstream.baseUrl = upstream.baseUrl.replace(/\/+$/, "");
    const key = upstream.keyVariable ? process.env[upstream.keyVariable] : undefined;
    addSecret(key);
    upstreams.set(upstream.wire, upstream);
  }
  return upstreams;
}

/** The upstream URL of a client path: /v1/chat/completions → BASE/chat/completions; Anthropic's keep /v1. */
export function upstreamUrl(upstream: Upstream, path: string): string {
  if (upstream.wire === "anthropic") return upstream.baseUrl + path;
  return upstream.baseUrl + path.replace(/^\/v1(?=\/|$)/, "");
}

// Hop-by-hop and framing headers are the gateway's own on each side; the body is sent as received.
const REQUEST_DROP = new Set(["host", "connection", "keep-alive", "proxy-authorization", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "content-length", "accept-encoding", "expect"]);
const RESPONSE_DROP = new Set(["connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "trailer", "upgrade"]);

export interface ForwardAuth {
  /** forward: the client's key goes upstream (the gateway's key only when the client sent none); gateway: the gateway's key always. */
  mode: "forward" | "gateway";
}

/** Headers for the upstream: the client's, the key per the mode. */
export function upstreamHeaders(upstream: Upstream, incoming: Record<string, string | string[] | undefined>, auth: ForwardAuth): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || REQUEST_DROP.has(name) || name.startsWith("x-tandem-")) continue;
    headers[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  // The answer's bytes come back as the upstream wrote them, uncompressed.
  headers["accept-encoding"] = "identity";
  const keyHeader = upstream.wire === "anthropic" ? "x-api-key" : "authorization";
  const clientKey = headers.authorization !== undefined || headers["x-api-key"] !== undefined;
  if (auth.mode === "gateway" || !clientKey) {
    delete headers.authorization;
    delete headers["x-api-key"];
    const key = upstream.keyVariable ? process.env[upstream.keyVariable] : undefined;
    if (key) headers[keyHeader] = upstream.wire === "anthropic" ? key : `Bearer ${key}`;
  }
  if (upstream.wire === "anthropic") headers["anthropic-version"] ??= "2023-06-01";
  return headers;
}

/** The upstream's response headers to send on: all but framing. */
export function relayedHeaders(response: Response): Record<string, string> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    if (!RESPONSE_DROP.has(name)) headers[name] = value;
  });
  return headers;
}

/** Sends a request upstream; a network failure is a Response-like 502 in the wire's shape by the caller. */
export async function forward(upstream: Upstream, path: string, method: string, headers: Record<string, string>, body: Buffer | undefined, signal?: AbortSignal): Promise<Response> {
  return fetch(upstreamUrl(upstream, path), { method, headers, body: body && method !== "GET" && method !== "HEAD" ? body : undefined, redirect: "manual", signal });
}

/** The secret values of a request's key headers (to take out of an error body the upstream echoes). */
export function presentedKeys(headers: Record<string, string>): string[] {
  const keys: string[] = [];
  if (headers.authorization) keys.push(headers.authorization.replace(/^Bearer\s+/i, ""));
  if (headers["x-api-key"]) keys.push(headers["x-api-key"]);
  return keys.filter((k) => k.length >= 8);
}
