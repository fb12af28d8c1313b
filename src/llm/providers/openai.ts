/**
 * OpenAI and every OpenAI-compatible endpoint (Ollama, vLLM, llama.cpp server, LM Studio, Together,
 * Groq, ...) through the official SDK with a base URL. Retries are tandem's (see limiter.ts), so the
 * SDK's own are off.
 */
import OpenAI from "openai";
import { ProviderError, retryAfterFromHeaders, type ChatModel, type ChatRequest, type ChatResponse, type TokenLogprob } from "../types.js";

export interface OpenAiOptions {
  spec: string;
  model: string;
  apiKey: string;
  baseURL?: string;
  provider: "openai" | "compat";
}

export function toProviderError(error: unknown): ProviderError {
  if (error instanceof ProviderError) return error;
  if (error instanceof OpenAI.APIError) {
    const status = error.status;
    const headers = error.headers as Headers | undefined;
    const retryAfter = headers ? retryAfterFromHeaders((name) => headers.get(name)) : undefined;
    if (status === undefined) return new ProviderError(`connection failed: ${error.message}`, true);
    const retryable = status === 408 || status === 409 || status === 429 || status >= 500;
    return new ProviderError(`HTTP ${status}: ${error.message}`, retryable, status, retryAfter);
  }
  if (error instanceof Error && (error.name === "AbortError" || /timed? ?out/i.test(error.message))) {
    return new ProviderError(`timed out: ${error.message}`, true);
  }
  // Malformed bodies (invalid JSON) and dropped connections are worth another try.
  return new ProviderError(error instanceof Error ? error.message : String(error), true);
}

export function openAiChatModel(options: OpenAiOptions): ChatModel {
  const client = new OpenAI({ apiKey: options.apiKey, baseURL: options.baseURL, maxRetries: 0 });
  return {
    provider: options.provider,
    model: options.model,
    spec: options.spec,
    supportsLogprobs: true,
    supportsStructured: true,
    async complete(request: ChatRequest, signal?: AbortSignal): Promise<ChatResponse> {
      const body: OpenAI.Chat.ChatCompletionCreateParamsNonStreaming = {
        model: options.model,
        messages: request.messages,
        temperature: request.temperature,
        max_tokens: request.maxTokens,
      };
      if (request.seed !== undefined) body.seed = request.seed;
      if (request.logprobs) {
        body.logprobs = true;
        body.top_logprobs = request.topLogprobs;
      }
      if (request.structured) {
        body.response_format = {
          type: "json_schema",
          json_schema: {
            name: "classification",
            strict: true,
            schema: {
              type: "object",
              properties: { label: { type: "string", enum: [...request.labels] } },
              required: ["label"],
              additionalProperties: false,
            },
          },
        };
      }
      let completion: OpenAI.Chat.ChatCompletion;
      try {
        completion = await client.chat.completions.create(body, { timeout: request.timeoutMs, signal });
      } catch (error) {
        throw toProviderError(error);
      }
      const choice = completion.choices?.[0];
      if (!choice || typeof choice.message?.content !== "string") {
        throw new ProviderError("the response has no message content", true);
      }
      const usage = completion.usage;
      const logprobs: TokenLogprob[] | undefined = choice.logprobs?.content?.map((entry) => ({
        token: entry.token,
        logprob: entry.logprob,
        top: (entry.top_logprobs ?? []).map((alt) => ({ token: alt.token, logprob: alt.logprob })),
      }));
      return {
        text: choice.message.content,
        usage: {
          inputTokens: usage?.prompt_tokens ?? 0,
          cachedInputTokens: usage?.prompt_tokens_details?.cached_tokens ?? 0,
          outputTokens: usage?.completion_tokens ?? 0,
        },
        logprobs,
        model: completion.model ?? options.model,
      };
    },
  };
}
