/**
 * Classifying many items with an LLM: prompts rendered by a program, calls throttled (concurrency,
 * RPM, TPM) and retried, answers cached as they arrive, parsed into labels (unparseable ones kept and
 * counted), probabilities from log-probabilities, cost from usage, and a budget that stops dispatching
 * before it would be exceeded.
 */
import { getMaxListeners, setMaxListeners } from "node:events";
import { SpanKind, SpanStatusCode, tracer } from "../core/spans.js";
import { errorMessage, redact } from "../core/redact.js";
import { CALL_DEFAULTS } from "./call-defaults.js";
import { cacheKey, type ResponseCache } from "./cache.js";
import { backoffDelay, RateLimiter, Semaphore, withRetries } from "./limiter.js";
import { labelProbabilities } from "./logprobs.js";
import { parseAnswer } from "./parse.js";
import { costOf, type PriceLookup } from "./pricing.js";
import { countRequestTokens } from "./tokens.js";
import { ProviderError, type ChatMessage, type ChatModel, type ChatRequest, type ChatResponse, type ModelInfo } from "./types.js";
import type { CompletionFormat } from "./prompts/completion.js";

export type ItemStatus = "ok" | "unparseable" | "error" | "skipped";

export interface LlmItemResult {
  index: number;
  /** The label, or "" when the answer was unparseable, the call failed, or the budget stopped the run. */
  label: string;
  status: ItemStatus;
  raw: string;
  probabilities?: number[];
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  /** Answered from the cache (nothing paid in this run). */
  cached: boolean;
  error?: string;
  latencyMs: number;
}

export interface LlmRunOptions {
  model: ChatModel;
  labels: readonly string[];
  /** The messages for item i. */
  messages: (index: number) => ChatMessage[];
  count: number;
  temperature?: number;
  /** Sent with every request; different seeds are different cache entries (replicates). */
  seed?: number;
  maxTokens?: number;
  logprobs?: boolean;
  topLogprobs?: number;
  structured?: boolean;
  timeoutMs?: number;
  /** Completion-style models (prompt/completion format). */
  completion?: CompletionFormat;
  concurrency?: number;
  rpm?: number;
  tpm?: number;
  maxRetries?: number;
  /** Base of the exponential backoff (ms). */
  retryBaseMs?: number;
  cache?: ResponseCache;
  prices: PriceLookup;
  /** Stop dispatching new (uncached) calls once spending could pass this. */
  maxCostUsd?: number;
  onResult?: (result: LlmItemResult, totals: LlmTotals) => void;
  onRetry?: (index: number, error: ProviderError, attempt: number, delayMs: number) => void;
  /** Aborts calls in flight (their answers are lost). */
  signal?: AbortSignal;
  /** Stops dispatching: calls in flight finish and are cached, the rest are marked "skipped". */
  stop?: AbortSignal;
}

export interface LlmTotals {
  done: number;
  spentUsd: number;
  cachedUsd: number;
  inputTokens: number;
  outputTokens: number;
  unparseable: number;
  errors: number;
  skipped: number;
  retries: number;
}

export interface LlmRun {
  results: LlmItemResult[];
  totals: LlmTotals;
  stoppedForBudget: boolean;
}

/** The request of one item (a model's capabilities are enough: no client is needed). */
export function buildRequest(options: Pick<LlmRunOptions, "labels" | "temperature" | "seed" | "maxTokens" | "logprobs" | "topLogprobs" | "structured" | "timeoutMs" | "completion"> & { model: Pick<ModelInfo, "supportsLogprobs" | "supportsStructured"> }, messages: ChatMessage[]): ChatRequest {
  const request: ChatRequest = {
    messages,
    labels: options.labels,
    temperature: options.temperature ?? CALL_DEFAULTS.temperature,
    seed: options.seed,
    maxTokens: options.maxTokens ?? (options.structured ? 20 : 10),
    logprobs: Boolean(options.logprobs && options.model.supportsLogprobs),
    topLogprobs: Math.min(20, options.topLogprobs ?? CALL_DEFAULTS.topLogprobs),
    structured: Boolean(options.structured && options.model.supportsStructured),
    timeoutMs: options.timeoutMs ?? CALL_DEFAULTS.timeoutSeconds * 1000,
  };
  // A completion model answers free text after the separator: no JSON schema.
  if (options.completion) return { ...request, structured: false, completion: options.completion };
  return request;
}

/** Label, status and probabilities of one response. */
export function interpret(response: ChatResponse, labels: readonly string[]): Pick<LlmItemResult, "label" | "status" | "probabilities" | "error"> {
  const parsed = parseAnswer(response.text, labels);
  if (parsed.label === null) return { label: "", status: "unparseable", error: parsed.reason };
  return { label: parsed.label, status: "ok", probabilities: labelProbabilities(response.logprobs, parsed.offset, labels) };
}

export async function runLlm(options: LlmRunOptions): Promise<LlmRun> {
  // Every item waiting and every call in flight listens on the caller's signal (the SDK adds its own): removed when done, not a leak.
  if (options.signal) {
    try {
      setMaxListeners(Math.max(getMaxListeners(options.signal), options.count + (options.concurrency ?? CALL_DEFAULTS.concurrency) * 3 + 10), options.signal);
    } catch {
      // A signal from another AbortController implementation (a polyfill some SDKs install) has no such limit.
    }
  }
  const semaphore = new Semaphore(Math.max(1, options.concurrency ?? CALL_DEFAULTS.concurrency));
  const limiter = options.rpm || options.tpm ? new RateLimiter({ rpm: options.rpm, tpm: options.tpm }) : undefined;
  const results: LlmItemResult[] = new Array(options.count);
  const totals: LlmTotals = { done: 0, spentUsd: 0, cachedUsd: 0, inputTokens: 0, outputTokens: 0, unparseable: 0, errors: 0, skipped: 0, retries: 0 };
  let committed = 0; // spending plus the worst case of calls in flight
  let stoppedForBudget = false;
  const needTokenCounts = Boolean(options.tpm || options.maxCostUsd !== undefined);

  const finish = (result: LlmItemResult) => {
    results[result.index] = result;
    totals.done++;
    totals.inputTokens += result.inputTokens;
    totals.outputTokens += result.outputTokens;
    if (result.cached) totals.cachedUsd += result.costUsd;
    else totals.spentUsd += result.costUsd;
    if (result.status === "unparseable") totals.unparseable++;
    if (result.status === "error") totals.errors++;
    if (result.status === "skipped") totals.skipped++;
    options.onResult?.(result, totals);
  };

  const one = async (index: number): Promise<void> => {
    const request = buildRequest(options, options.messages(index));
    const key = cacheKey(options.model.provider, options.model.model, request);
    const fromCache = (hit: { response: ChatResponse; costUsd: number }) => {
      // Answers cached before secrets were redacted in them are redacted on the way out.
      const text = redact(hit.response.text);
      const response = text === hit.response.text ? hit.response : { ...hit.response, text, logprobs: undefined };
      finish({ index, ...interpret(response, options.labels), raw: response.text, inputTokens: response.usage.inputTokens, outputTokens: response.usage.outputTokens, costUsd: hit.costUsd, cached: true, latencyMs: 0 });
    };
    const hit = options.cache?.get(key);
    if (hit) return fromCache(hit);
    // Long enough for every retry; a dead owner's claim lapses after it.
    const leaseMs = (request.timeoutMs + 5_000) * ((options.maxRetries ?? CALL_DEFAULTS.retries) + 1);
    if (options.cache && !options.cache.claim(key, leaseMs)) {
      // Another process (or request) is paying for this very call: wait for its answer.
      const awaited = await options.cache.awaitClaimed(key, leaseMs, options.signal);
      if (awaited) return fromCache(awaited);
    }
    // The claim is ours; the answer may have landed between the first look and the claim.
    const landed = options.cache?.get(key);
    if (landed) {
      options.cache!.release(key);
      return fromCache(landed);
    }
    try {
      await callAndFinish(index, request, key);
    } finally {
      options.cache?.release(key);
    }
  };

  const callAndFinish = async (index: number, request: ChatRequest, key: string): Promise<void> => {
    const promptTokens = needTokenCounts ? countRequestTokens(request, options.model.model) : 0;
    const worstCase = costOf({ inputTokens: promptTokens, cachedInputTokens: 0, outputTokens: request.maxTokens }, options.prices);
    if (options.stop?.aborted) {
      finish({ index, label: "", status: "skipped", raw: "", inputTokens: 0, outputTokens: 0, costUsd: 0, cached: false, error: "interrupted", latencyMs: 0 });
      return;
    }
    if (stoppedForBudget || (options.maxCostUsd !== undefined && committed + worstCase > options.maxCostUsd)) {
      stoppedForBudget = true;
      finish({ index, label: "", status: "skipped", raw: "", inputTokens: 0, outputTokens: 0, costUsd: 0, cached: false, error: "budget (--max-cost) reached", latencyMs: 0 });
      return;
    }
    committed += worstCase;
    const started = performance.now();
    // One client span per paid call, named and described as OpenTelemetry's GenAI conventions say.
    const span = tracer().startSpan(`chat ${options.model.model}`, {
      kind: SpanKind.CLIENT,
      attributes: { "gen_ai.operation.name": "chat", "gen_ai.provider.name": options.model.provider, "gen_ai.request.model": options.model.model, "gen_ai.request.max_tokens": request.maxTokens },
    });
    try {
      const answered = await withRetries(
        async () => {
          await limiter?.acquire(promptTokens + request.maxTokens, options.signal);
          return options.model.complete(request, options.signal);
        },
        {
          maxRetries: options.maxRetries ?? CALL_DEFAULTS.retries,
          baseDelayMs: options.retryBaseMs ?? 500,
          maxDelayMs: 60_000,
          signal: options.signal,
          onRetry: (error, attempt, delay) => {
            totals.retries++;
            options.onRetry?.(index, error, attempt, delay);
          },
        },
      );
      // An answer that holds a configured secret (a server echoing the key, a prompt that leaked it) is
      // redacted before it is cached, stored or shown: the label is parsed from the redacted text.
      // Its logprobs spell the same text token by token: where a secret was found they are dropped.
      const text = redact(answered.text);
      const response: ChatResponse = text === answered.text ? answered : { ...answered, text, logprobs: undefined };
      const costUsd = costOf(response.usage, options.prices);
      span.setAttributes({ "gen_ai.usage.input_tokens": response.usage.inputTokens, "gen_ai.usage.output_tokens": response.usage.outputTokens, "tandem.cost_usd": costUsd });
      committed += costUsd - worstCase;
      options.cache?.put(key, options.model.provider, options.model.model, response, costUsd);
      finish({ index, ...interpret(response, options.labels), raw: response.text, inputTokens: response.usage.inputTokens, outputTokens: response.usage.outputTokens, costUsd, cached: false, latencyMs: performance.now() - started });
    } catch (error) {
      committed -= worstCase;
      if (options.signal?.aborted) throw error;
      // Stored and shown: never with a key a provider echoed back.
      const message = errorMessage(error);
      span.setStatus({ code: SpanStatusCode.ERROR, message });
      span.setAttribute("error.type", (error as Error)?.name ?? "Error");
      finish({ index, label: "", status: "error", raw: "", inputTokens: 0, outputTokens: 0, costUsd: 0, cached: false, error: message, latencyMs: performance.now() - started });
    } finally {
      span.end();
    }
  };

  await Promise.all(Array.from({ length: options.count }, (_, index) => semaphore.run(() => one(index))));
  return { results, totals, stoppedForBudget };
}

export { backoffDelay };
