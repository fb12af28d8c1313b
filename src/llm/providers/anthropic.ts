/**
 * Anthropic's Messages API through its official SDK: structured output through output_config's JSON
 * schema; no token log-probabilities, so no class probabilities. The current SDK has no temperature
 * parameter; the model's default sampling applies.
 */
import Anthropic from "@anthropic-ai/sdk";
import { labelJsonSchema } from "../parse.js";
import { ProviderError, retryAfterFromHeaders, type ChatTransport, type ChatRequest, type ChatResponse } from "../types.js";

export function anthropicChatModel(options: { spec: string; model: string; apiKey: string; baseURL?: string }): ChatTransport {
  const client = new Anthropic({ apiKey: options.apiKey, baseURL: options.baseURL, maxRetries: 0 });
  return {
    provider: "anthropic",
    model: options.model,
    spec: options.spec,
    async complete(request: ChatRequest, signal?: AbortSignal): Promise<ChatResponse> {
      const system = request.messages.filter((m) => m.role === "system").map((m) => m.content).join("\n\n");
      const messages = request.messages.filter((m) => m.role !== "system").map((m) => ({ role: m.role as "user" | "assistant", content: m.content }));
      let message: Anthropic.Message;
      try {
        message = await client.messages.create(
          {
            model: options.model,
            system: system || undefined,
            messages,
            max_tokens: request.maxTokens,
            output_config: request.structured
              ? {
                  format: {
                    type: "json_schema",
                    schema: labelJsonSchema(request.labels),
                  },
                }
              : undefined,
          },
          { timeout: request.timeoutMs, signal },
        );
      } catch (error) {
        if (error instanceof Anthropic.APIError) {
          const status = error.status;
          const headers = error.headers as Headers | undefined;
          const retryAfter = headers ? retryAfterFromHeaders((name) => headers.get(name)) : undefined;
          if (status === undefined) throw new ProviderError(`connection failed: ${error.message}`, true);
          throw new ProviderError(`HTTP ${status}: ${error.message}`, status === 429 || status === 529 || status >= 500, status, retryAfter);
        }
        throw new ProviderError(error instanceof Error ? error.message : String(error), true);
      }
      const text = message.content.map((block) => (block.type === "text" ? block.text : "")).join("");
      return {
        text,
        usage: {
          inputTokens: message.usage.input_tokens + (message.usage.cache_read_input_tokens ?? 0),
          cachedInputTokens: message.usage.cache_read_input_tokens ?? 0,
          outputTokens: message.usage.output_tokens,
        },
        model: message.model,
      };
    },
  };
}
