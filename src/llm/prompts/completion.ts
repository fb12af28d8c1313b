/**
 * The prompt/completion format of completion-style base models (babbage-002, davinci-002 and their
 * fine-tunes): the program's messages as one prompt text ending with a fixed separator, and the answer
 * — a leading space, the label, an end marker — after it. One rendering for `finetune build` and for
 * inference, so a fine-tuned model sees at inference exactly what it was trained on. Pure.
 */
import type { ChatMessage } from "../types.js";

export interface CompletionFormat {
  /** Appended to every prompt (e.g. "\n\n###\n\n"); the model learns that the answer follows it. */
  promptEnd: string;
  /** Ends every completion (e.g. "\n"); inference stops there. */
  completionEnd: string;
}

/** The separators OpenAI's guide for completion fine-tuning used as examples. */
export const DEFAULT_COMPLETION_FORMAT: CompletionFormat = { promptEnd: "\n\n###\n\n", completionEnd: "\n" };

/** System and user texts in order, separated by blank lines, then the prompt separator. */
export function completionPrompt(messages: readonly ChatMessage[], format: CompletionFormat): string {
  return messages.filter((m) => m.role !== "assistant").map((m) => m.content).join("\n\n") + format.promptEnd;
}

/** The training completion for a label: a leading space (answers start a new token), the label, the end. */
export function completionTarget(label: string, format: CompletionFormat): string {
  return ` ${label}${format.completionEnd}`;
}

/** "\n", "\t" and "\\" written on a command line become the characters they name. */
export function unescapeSeparator(text: string): string {
  return text.replace(/\\(n|t|r|\\)/g, (_, c: string) => ({ n: "\n", t: "\t", r: "\r", "\\": "\\" })[c] as string);
}
