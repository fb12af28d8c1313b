/**
 * Chat-format fine-tuning examples whose system and user messages are exactly what the same prompt
 * program sends at inference time, and whose assistant message is the gold label. Pure.
 */
import { completionPrompt, completionTarget, type CompletionFormat } from "../llm/prompts/completion.js";
import type { ChatMessage } from "../llm/types.js";

export interface FineTuneExample {
  messages: ChatMessage[];
}

export function buildExamples(messagesFor: (index: number) => ChatMessage[], labels: readonly string[]): FineTuneExample[] {
  return labels.map((label, index) => ({ messages: [...messagesFor(index), { role: "assistant", content: label }] }));
}

/** A prompt/completion example for completion-style models. */
export interface CompletionExample {
  prompt: string;
  completion: string;
}

/** The same program's messages as one prompt (completionPrompt, as inference renders it) and the label as the completion. */
export function buildCompletionExamples(messagesFor: (index: number) => ChatMessage[], labels: readonly string[], format: CompletionFormat): CompletionExample[] {
  return labels.map((label, index) => ({ prompt: completionPrompt(messagesFor(index), format), completion: completionTarget(label, format) }));
}

/** What `finetune build` records next to the JSONL so that jobs, evaluation and tracing can use it. */
export interface BuildMetadata {
  program: string;
  /** chat (messages) or completion (prompt/completion, with its separators). */
  format?: "chat" | "completion";
  completionFormat?: CompletionFormat;
  template?: string;
  scheme: string;
  wording: { task: string; item: string; system: string };
  source: string;
  /** JSONL line (1-based) → input line (1-based), per output file. */
  lines: Record<string, number[]>;
  /** The input's id column values, when it has one. */
  ids?: Record<string, string[]>;
}
