/** The small interface every LLM provider implements, and the shapes that cross it. */
import { redact } from "../core/redact.js";
import type { CompletionFormat } from "./prompts/completion.js";

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface ChatRequest {
  messages: ChatMessage[];
  /** The answer must be one of these (JSON-schema enum or grammar where the provider supports it). */
  labels: readonly string[];
  temperature: number;
  /** Sampling seed, where the provider takes one (OpenAI and compatible servers: best effort; local models). */
  seed?: number;
  maxTokens: number;
  /** Ask for token log-probabilities (top `topLogprobs` alternatives per token). */
  logprobs: boolean;
  topLogprobs: number;
  /** Ask for JSON {"label": <one of labels>} through the provider's structured output. */
  structured: boolean;
  timeoutMs: number;
  /** Completion-style models: send one prompt text ending with `promptEnd`, stop at `completionEnd`. */
  completion?: CompletionFormat;
}

export interface TokenLogprob {
  token: string;
  logprob: number;
  top: Array<{ token: string; logprob: number }>;
}

export interface Usage {
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
}

export interface ChatResponse {
  text: string;
  usage: Usage;
  logprobs?: TokenLogprob[];
  /** The model that answered, as the provider names it. */
  model: string;
}

/** What a model is, known from its model string alone. */
export interface ModelInfo {
  /** "openai", "anthropic", "compat", "local". */
  provider: string;
  /** The model id sent to the provider. */
  model: string;
  /** The spec the user wrote (e.g. "openai:gpt-4o-mini"), for caches and reports. */
  spec: string;
  supportsLogprobs: boolean;
  supportsStructured: boolean;
  /** An OpenAI-style completions API (completion models' prompt/completion format). */
  supportsCompletions: boolean;
  /** Whether "structured: auto" turns JSON-schema answers on. */
  structuredByDefault: boolean;
  /** How it is priced when the price table does not name it. */
  pricing: "table" | "free" | "table-else-unpriced-free";
}

export interface ChatModel extends Omit<ModelInfo, "supportsCompletions" | "structuredByDefault" | "pricing"> {
  complete(request: ChatRequest, signal?: AbortSignal): Promise<ChatResponse>;
  close?(): Promise<void>;
}

/** A provider's chat client before the registry adds what the provider supports (declared there once). */
export type ChatTransport = Omit<ChatModel, "supportsLogprobs" | "supportsStructured">;

/**
 * A failed call, classified for the retry loop: `retryable` for rate limits, server errors, timeouts,
 * network failures and malformed responses; `retryAfterMs` when the provider said how long to wait.
 */
export class ProviderError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
    readonly retryAfterMs?: number,
  ) {
    // Providers may echo the key they were sent; no provider text leaves unredacted.
    super(redact(message));
    this.name = "ProviderError";
  }
}

/** Milliseconds from Retry-After / retry-after-ms headers (seconds or an HTTP date). */
export function retryAfterFromHeaders(get: (name: string) => string | null | undefined, now = Date.now()): number | undefined {
  const ms = get("retry-after-ms");
  if (ms && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const value = get("retry-after");
  if (!value) return undefined;
  if (Number.isFinite(Number(value))) return Math.max(0, Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
