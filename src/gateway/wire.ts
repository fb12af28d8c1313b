/**
 * The two wire protocols the gateway speaks, read and written: OpenAI chat completions and Anthropic
 * messages. Reading a request gives its prompt as plain messages (what a task template is matched
 * against); reading an upstream answer gives its text and usage, whole or streamed; writing gives a
 * student's answer in the exact shape the upstream would have sent. Pure: no I/O, no clock (ids and
 * times are passed in).
 */
import type { Usage } from "../llm/types.js";
import { parseSse, type SseEvent } from "./sse.js";

export type Wire = "openai" | "anthropic";

export interface PromptMessage {
  /** system (OpenAI's developer role and Anthropic's system field read as system), user, assistant, tool. */
  role: string;
  content: string;
}

export interface WireRequest {
  wire: Wire;
  model: string;
  messages: PromptMessage[];
  stream: boolean;
  /** OpenAI's stream_options.include_usage: a last chunk with the usage. */
  includeUsage: boolean;
  /** Choices asked for (OpenAI n): only 1 can be answered by a student. */
  choices: number;
  logprobs: boolean;
  topLogprobs: number;
  /** OpenAI's response_format (json_schema, json_object, text), as sent. */
  responseFormat?: Record<string, unknown>;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** Text of a content that is a string or a list of text parts; undefined when it holds anything else (an image, a tool call). */
function textContent(content: unknown): string | undefined {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return undefined;
  let text = "";
  for (const part of content) {
    if (!isRecord(part) || part.type !== "text" || typeof part.text !== "string") return undefined;
    text += part.text;
  }
  return text;
}

/**
 * The prompt of a request body, or undefined when the body is not one a task can match (not JSON, a
 * message with images or tool calls, …): such a request is passed through untouched.
 */
export function readRequest(wire: Wire, body: unknown): WireRequest | undefined {
  if (!isRecord(body) || typeof body.model !== "string" || !Array.isArray(body.messages)) return undefined;
  const messages: PromptMessage[] = [];
  if (wire === "anthropic" && body.system !== undefined) {
    const system = textContent(body.system);
    if (system === undefined) return undefined;
    messages.push({ role: "system", content: system });
  }
  for (const message of body.messages) {
    if (!isRecord(message) || typeof message.role !== "string") return undefined;
    if (message.tool_calls !== undefined || message.function_call !== undefined) return undefined;
    const content = textContent(message.content);
    if (content === undefined) return undefined;
    messages.push({ role: message.role === "developer" ? "system" : message.role, content });
  }
  const streamOptions = isRecord(body.stream_options) ? body.stream_options : {};
  return {
    wire,
    model: body.model,
    messages,
    stream: body.stream === true,
    includeUsage: streamOptions.include_usage === true,
    choices: typeof body.n === "number" ? body.n : 1,
    logprobs: body.logprobs === true,
    topLogprobs: typeof body.top_logprobs === "number" ? body.top_logprobs : 0,
    responseFormat: isRecord(body.response_format) ? body.response_format : undefined,
  };
}

export interface UpstreamAnswer {
  /** The answer's text (the first choice's message, or the text blocks). */
  text: string;
  usage?: Usage;
  /** The model that answered, as the upstream names it. */
  model?: string;
}

function openAiUsage(usage: unknown): Usage | undefined {
  if (!isRecord(usage)) return undefined;
  const details = isRecord(usage.prompt_tokens_details) ? usage.prompt_tokens_details : {};
  return { inputTokens: Number(usage.prompt_tokens ?? 0), cachedInputTokens: Number(details.cached_tokens ?? 0), outputTokens: Number(usage.completion_tokens ?? 0) };
}

function anthropicUsage(usage: unknown, previous?: Usage): Usage | undefined {
  if (!isRecord(usage)) return previous;
  return {
    inputTokens: usage.input_tokens !== undefined ? Number(usage.input_tokens) + Number(usage.cache_read_input_tokens ?? 0) + Number(usage.cache_creation_input_tokens ?? 0) : (previous?.inputTokens ?? 0),
    cachedInputTokens: usage.cache_read_input_tokens !== undefined ? Number(usage.cache_read_input_tokens) : (previous?.cachedInputTokens ?? 0),
    outputTokens: usage.output_tokens !== undefined ? Number(usage.output_tokens) : (previous?.outputTokens ?? 0),
  };
}

/** The answer in a whole (not streamed) upstream response body; undefined when it carries no text. */
export function readAnswer(wire: Wire, body: unknown): UpstreamAnswer | undefined {
  if (!isRecord(body)) return undefined;
  if (wire === "openai") {
    const choice = Array.isArray(body.choices) ? body.choices[0] : undefined;
    const message = isRecord(choice) && isRecord(choice.message) ? choice.message : undefined;
    if (!message || typeof message.content !== "string") return undefined;
    return { text: message.content, usage: openAiUsage(body.usage), model: typeof body.model === "string" ? body.model : undefined };
  }
  if (!Array.isArray(body.content)) return undefined;
  const text = body.content.filter((block): block is { type: "text"; text: string } => isRecord(block) && block.type === "text" && typeof block.text === "string").map((block) => block.text).join("");
  return { text, usage: anthropicUsage(body.usage), model: typeof body.model === "string" ? body.model : undefined };
}

/** The answer assembled from a streamed response's events (server-sent events, as sent). */
export function readStreamedAnswer(wire: Wire, events: readonly SseEvent[]): UpstreamAnswer | undefined {
  let text = "";
  let usage: Usage | undefined;
  let model: string | undefined;
  let seen = false;
  for (const event of events) {
    if (event.data === "[DONE]") continue;
    let data: unknown;
    try {
      data = JSON.parse(event.data);
    } catch {
      continue;
    }
    if (!isRecord(data)) continue;
    if (wire === "openai") {
      if (typeof data.model === "string") model = data.model;
      if (data.usage) usage = openAiUsage(data.usage);
      const choice = Array.isArray(data.choices) ? data.choices[0] : undefined;
      if (isRecord(choice) && isRecord(choice.delta) && typeof choice.delta.content === "string") {
        text += choice.delta.content;
        seen = true;
      }
    } else if (data.type === "message_start" && isRecord(data.message)) {
      if (typeof data.message.model === "string") model = data.message.model;
      usage = anthropicUsage(data.message.usage, usage);
    } else if (data.type === "content_block_delta" && isRecord(data.delta) && data.delta.type === "text_delta" && typeof data.delta.text === "string") {
      text += data.delta.text;
      seen = true;
    } else if (data.type === "message_delta") {
      usage = anthropicUsage(data.usage, usage);
    }
  }
  return seen ? { text, usage, model } : undefined;
}

/** The same, from the raw bytes of a streamed body. */
export function readStreamedBody(wire: Wire, body: string): UpstreamAnswer | undefined {
  return readStreamedAnswer(wire, parseSse(body));
}

export interface StudentAnswer {
  /** The label as the upstream writes it (a word, or the JSON object of the task's schema). */
  content: string;
  /** Probability of each label, in `labels` order, and how each label is written. */
  probabilities: readonly number[];
  written: readonly string[];
  /** Response id and creation time (seconds), given by the caller. */
  id: string;
  created: number;
}

/** A token's log-probability entry, OpenAI's shape. */
function logprobEntry(token: string, probability: number) {
  return { token, logprob: Math.log(Math.max(probability, 1e-12)), bytes: [...Buffer.from(token, "utf8")] };
}

/**
 * OpenAI logprobs for a student's answer: one entry for the whole content, its probability the student's
 * for that label, and the labels as the alternatives (how a one-token label would read).
 */
function studentLogprobs(request: WireRequest, answer: StudentAnswer) {
  if (!request.logprobs) return null;
  const chosen = answer.written.indexOf(answer.content);
  const probability = chosen >= 0 ? (answer.probabilities[chosen] ?? 1) : Math.max(...answer.probabilities);
  const alternatives = answer.written.map((token, i) => logprobEntry(token, answer.probabilities[i] ?? 0)).sort((a, b) => b.logprob - a.logprob);
  return { content: [{ ...logprobEntry(answer.content, probability), top_logprobs: alternatives.slice(0, request.topLogprobs) }], refusal: null };
}

const ZERO_OPENAI_USAGE = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
const ZERO_ANTHROPIC_USAGE = { input_tokens: 0, output_tokens: 0 };

/** A student's answer as a whole response body (chat.completion, or an Anthropic message). */
export function studentResponse(request: WireRequest, answer: StudentAnswer): Record<string, unknown> {
  if (request.wire === "openai") {
    return {
      id: answer.id,
      object: "chat.completion",
      created: answer.created,
      model: request.model,
      choices: [{ index: 0, message: { role: "assistant", content: answer.content, refusal: null, annotations: [] }, logprobs: studentLogprobs(request, answer), finish_reason: "stop" }],
      usage: ZERO_OPENAI_USAGE,
      system_fingerprint: null,
    };
  }
  return { id: answer.id, type: "message", role: "assistant", model: request.model, content: [{ type: "text", text: answer.content }], stop_reason: "end_turn", stop_sequence: null, usage: ZERO_ANTHROPIC_USAGE };
}

const sse = (data: unknown, event?: string) => `${event ? `event: ${event}\n` : ""}data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`;

/** A student's answer as the server-sent events of a streamed response, whole. */
export function studentStream(request: WireRequest, answer: StudentAnswer): string {
  if (request.wire === "openai") {
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) => ({ id: answer.id, object: "chat.completion.chunk", created: answer.created, model: request.model, system_fingerprint: null, choices, ...extra });
    const logprobs = studentLogprobs(request, answer);
    return [
      sse(chunk([{ index: 0, delta: { role: "assistant", content: "", refusal: null }, logprobs: null, finish_reason: null }], request.includeUsage ? { usage: null } : {})),
      sse(chunk([{ index: 0, delta: { content: answer.content }, logprobs, finish_reason: null }], request.includeUsage ? { usage: null } : {})),
      sse(chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: "stop" }], request.includeUsage ? { usage: null } : {})),
      request.includeUsage ? sse(chunk([], { usage: ZERO_OPENAI_USAGE })) : "",
      sse("[DONE]"),
    ].join("");
  }
  return [
    sse({ type: "message_start", message: { id: answer.id, type: "message", role: "assistant", model: request.model, content: [], stop_reason: null, stop_sequence: null, usage: ZERO_ANTHROPIC_USAGE } }, "message_start"),
    sse({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }, "content_block_start"),
    sse({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: answer.content } }, "content_block_delta"),
    sse({ type: "content_block_stop", index: 0 }, "content_block_stop"),
    sse({ type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 0 } }, "message_delta"),
    sse({ type: "message_stop" }, "message_stop"),
  ].join("");
}

/** An error in the wire's own shape (what the SDKs read into their error classes). */
export function wireError(wire: Wire, status: number, message: string): Record<string, unknown> {
  if (wire === "openai") {
    const type = status === 401 ? "authentication_error" : status === 429 ? "rate_limit_exceeded" : status >= 500 ? "server_error" : "invalid_request_error";
    return { error: { message, type, param: null, code: null } };
  }
  const type = status === 401 ? "authentication_error" : status === 404 ? "not_found_error" : status === 429 ? "rate_limit_error" : status >= 500 ? "api_error" : "invalid_request_error";
  return { type: "error", error: { type, message } };
}

/** The body of a request asked again without streaming (an audit of a student's answer, asked in the background). */
export function unstreamedBody(body: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...body };
  delete copy.stream;
  delete copy.stream_options;
  return copy;
}
