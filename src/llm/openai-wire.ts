/**
 * The OpenAI chat-completions wire format, shared by live calls and the Batch API: the request body
 * (with the one label JSON schema) and the reading of a completion into tandem's ChatResponse. Pure.
 */
import type OpenAI from "openai";
import { labelJsonSchema } from "./parse.js";
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
