/**
 * Token counts before a run, for estimates: OpenAI's tokenizers (o200k_base for GPT-4o and later,
 * cl100k_base for GPT-4 and 3.5) with the chat format's per-message overhead; other providers are
 * approximated with o200k_base (their tokenizers are not public).
 */
import { getEncoding, type Tiktoken } from "js-tiktoken";
import { completionPrompt, type CompletionFormat } from "./prompts/completion.js";
import type { ChatMessage } from "./types.js";

const encoders = new Map<string, Tiktoken>();

function encoderFor(model: string): Tiktoken {
  const base = model.startsWith("ft:") ? (model.split(":")[1] ?? model) : model;
  const name = /^(gpt-4(?!o|\.)|gpt-3\.5|babbage-002|davinci-002)/.test(base) ? "cl100k_base" : "o200k_base";
  let encoder = encoders.get(name);
  if (!encoder) encoders.set(name, (encoder = getEncoding(name)));
  return encoder;
}

export function countTokens(text: string, model: string): number {
  return encoderFor(model).encode(text).length;
}

/** Prompt tokens of a request: the one prompt text of a completion-format request, else the chat count. */
export function countRequestTokens(request: { messages: readonly ChatMessage[]; completion?: CompletionFormat }, model: string): number {
  return request.completion ? countTokens(completionPrompt(request.messages, request.completion), model) : countChatTokens(request.messages, model);
}

/** Prompt tokens of a chat request: 3 per message + its content and role, + 3 priming the reply. */
export function countChatTokens(messages: readonly ChatMessage[], model: string): number {
  let total = 3;
  for (const message of messages) total += 3 + countTokens(message.content, model) + countTokens(message.role, model);
  return total;
}
