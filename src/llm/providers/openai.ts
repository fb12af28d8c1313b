/**
 * OpenAI and every OpenAI-compatible endpoint (Ollama, vLLM, llama.cpp server, LM Studio, Together,
 * Groq, ...) through the official SDK with a base URL. Retries are tandem's (see limiter.ts), so the
 * SDK's own are off.
 */
import OpenAI from "openai";
import { chatCompletionBody, chatResponseFrom, completionBody, completionResponseFrom } from "../openai-wire.js";
import { ProviderError, retryAfterFromHeaders, type ChatTransport, type ChatRequest, type ChatResponse } from "../types.js";

export interface OpenAiOptions {
  spec: string;
  model: string;
  apiKey: string;
  baseURL?: string;
  provider: "openai" | "compat" | "mistral" | "together";
}

export function toProviderError(error: unknown): ProviderError {
  if (error instanceof ProviderError) return error;
  if (error instanceof OpenAI.APIError) {
    const status = error.status;
    const headers = error.headers as Headers | undefined;
    const retryAfter = headers ? retryAfterFromHeaders((name) => headers.get(name)) : undefined;
    if (status === undefined) return new ProviderError(`connection failed: ${error.message}`, true);
    const retryable = status === 408 || status === 409 || status === 429 || status >= 500;
    // The SDK's message starts with the status already ("401 Incorrect API key ...").
    return new ProviderError(`HTTP ${status}: ${error.message.replace(new RegExp(`^${status}\\s+`), "")}`, retryable, status, retryAfter);
  }
  if (error instanceof Error && (error.name === "AbortError" || /timed? ?out/i.test(error.message))) {
    return new ProviderError(`timed out: ${error.message}`, true);
  }
  // Malformed bodies (invalid JSON) and dropped connections are worth another try.
  return new ProviderError(error instanceof Error ? error.message : String(error), true);
}

export function openAiChatModel(options: OpenAiOptions): ChatTransport {
  const client = new OpenAI({ apiKey: options.apiKey, baseURL: options.baseURL, maxRetries: 0 });
  return {
    provider: options.provider,
    model: options.model,
    spec: options.spec,
    async complete(request: ChatRequest, signal?: AbortSignal): Promise<ChatResponse> {
      if (request.completion) {
        let legacy: OpenAI.Completion;
        try {
          legacy = await client.completions.create(completionBody(options.model, request), { timeout: request.timeoutMs, signal });
        } catch (error) {
          throw toProviderError(error);
        }
        const response = completionResponseFrom(legacy, options.model);
        if (!response) throw new ProviderError("the response has no completion text", true);
        return response;
      }
      let completion: OpenAI.Chat.ChatCompletion;
      try {
        completion = await client.chat.completions.create(chatCompletionBody(options.model, request), { timeout: request.timeoutMs, signal });
      } catch (error) {
        throw toProviderError(error);
      }
      const response = chatResponseFrom(completion, options.model);
      if (!response) throw new ProviderError("the response has no message content", true);
      return response;
    },
  };
}
