/**
 * Chat-format fine-tuning examples whose system and user messages are exactly what the same prompt
 * program sends at inference time, and whose assistant message is the gold label. Pure.
 */
import type { ChatMessage } from "../llm/types.js";

export interface FineTuneExample {
  messages: ChatMessage[];
}

export function buildExamples(messagesFor: (index: number) => ChatMessage[], labels: readonly string[]): FineTuneExample[] {
  return labels.map((label, index) => ({ messages: [...messagesFor(index), { role: "assistant", content: label }] }));
}

/** What `finetune build` records next to the JSONL so that jobs, evaluation and tracing can use it. */
export interface BuildMetadata {
  program: string;
  template?: string;
  scheme: string;
  wording: { task: string; item: string; system: string };
  source: string;
  /** JSONL line (1-based) → input line (1-based), per output file. */
  lines: Record<string, number[]>;
  /** The input's id column values, when it has one. */
  ids?: Record<string, string[]>;
}
