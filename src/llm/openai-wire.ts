/**
 * The OpenAI wire formats, shared by live calls and the Batch API: the chat-completions request body
 * (with the one label JSON schema) and the reading of a completion into tandem's ChatResponse; the
 * legacy completions body and reading, for completion-style models (prompt/completion format). Pure.
 */
import type OpenAI from "openai";
import { labelJsonSchema } from "./parse.js";
import { completionPrompt } from "./prompts/completion.js";
import type { ChatRequest, ChatResponse } from "./types.js";

/** The chat-completions body of a request. */
export function chatCompletionBody(model: string, request: ChatRequest): OpenAI.Chat.ChatCompletionCreateParamsNonStreaming {
  const body: OpenAI.Chat.ChatCompletionCreateParamsNonStreaming = { model, messages: request.messages, temperature: request.temperature, max_tokens: request.maxTokens };
  if (request.seed !== undefined) body.seed = request.seed;
  if (request.logprobs) Object.assign(body, { logprobs: true, top_logprobs: request.topLogprobs });
  if (request.structured) body.response_format = { type: "json_schema", json_schema: { name: "classification", strict: true, schema: labelJsonSchema(request.labels) } };
  return body;
}

/** The answer, usage and log-probabilities of a completion; undefined when it carries no message text. */
export function chatResponseFrom(completion: OpenAI.Chat.ChatCompletion, fallbackModel: string): ChatResponse | undefined {
  const choice = completion.choices?.[0];
  if (!choice || typeof choice.message?.content !== "string") return undefined;
  const usage = completion.usage;
  return {
    text: choice.message.content,
    usage: {
      inputTokens: usage?.prompt_tokens ?? 0,
      cachedInputTokens: usage?.prompt_tokens_details?.cached_tokens ?? 0,
      outputTokens: usage?.completion_tokens ?? 0,
    },
    logprobs: choice.logprobs?.content?.map((entry) => ({ token: entry.token, logprob: entry.logprob, top: (entry.top_logprobs ?? []).map((alt) => ({ token: alt.token, logprob: alt.logprob })) })),
    model: completion.model ?? fallbackModel,
  };
}

/** The completions body of a request in the prompt/completion format: one prompt, stop at the completion end. */
export function completionBody(model: string, request: ChatRequest): OpenAI.CompletionCreateParamsNonStreaming {
  const format = request.completion;
  if (!format) throw new Error("not a completion-format request");
  const body: OpenAI.CompletionCreateParamsNonStreaming = { model, prompt: completionPrompt(request.messages, format), temperature: request.temperature, max_tokens: request.maxTokens, stop: [format.completionEnd] };
  if (request.seed !== undefined) body.seed = request.seed;
  if (request.logprobs) body.logprobs = Math.min(5, request.topLogprobs);
  return body;
}

/** The answer, usage and log-probabilities of a legacy completion; undefined when it has no text. */
export function completionResponseFrom(completion: OpenAI.Completion, fallbackModel: string): ChatResponse | undefined {
  const choice = completion.choices?.[0];
  if (!choice || typeof choice.text !== "string") return undefined;
  const logprobs = choice.logprobs;
  return {
    text: choice.text,
    usage: { inputTokens: completion.usage?.prompt_tokens ?? 0, cachedInputTokens: 0, outputTokens: completion.usage?.completion_tokens ?? 0 },
    logprobs: logprobs?.tokens?.map((token, i) => ({
      token,
      logprob: logprobs.token_logprobs?.[i] ?? 0,
      top: Object.entries(logprobs.top_logprobs?.[i] ?? {}).map(([alternative, logprob]) => ({ token: alternative, logprob })),
    })),
    model: completion.model ?? fallbackModel,
  };
}
