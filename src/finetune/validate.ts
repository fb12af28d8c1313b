/**
 * The format checks applied before uploading a chat fine-tuning file (as the providers' own checks):
 * each line a JSON object with `messages`; each message has `role` and `content` and no keys other
 * than role, content, name, function_call, weight; roles are system, user, assistant or function;
 * content is a non-empty string; at least one assistant message. And the prompt/completion format's
 * (completion-style models), below. Pure.
 */
import type { CompletionFormat } from "../llm/prompts/completion.js";

export const ERROR_TYPES = [
  // the prompt/completion format
  "missing_prompt_or_completion",
  "unrecognized_key",
  "empty_or_non_string_prompt_or_completion",
  "prompt_without_separator",
  "separator_inside_prompt",
  "completion_without_end",
  "end_inside_completion",
  "completion_without_leading_space",
  "duplicate_prompt",
  "invalid_json",
  "not_an_object",
  "missing_messages",
  "messages_not_a_list",
  "message_missing_role_or_content",
  "message_unrecognized_key",
  "unrecognized_role",
  "empty_or_non_string_content",
  "no_assistant_message",
] as const;
export type FormatError = (typeof ERROR_TYPES)[number];

export interface ValidationReport {
  lines: number;
  examples: number;
  errors: Record<string, { count: number; lines: number[] }>;
  ok: boolean;
}

const ALLOWED_KEYS = new Set(["role", "content", "name", "function_call", "weight"]);
const ROLES = new Set(["system", "user", "assistant", "function"]);

/** The line as a JSON object, or the error that stops checking it. */
function jsonObject(line: string): { record: object } | { error: FormatError } {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    return { error: "invalid_json" };
  }
  if (typeof record !== "object" || record === null || Array.isArray(record)) return { error: "not_an_object" };
  return { record };
}

/** Errors of one line (empty when the line is a valid example). */
export function checkExample(line: string): FormatError[] {
  const parsed = jsonObject(line);
  if ("error" in parsed) return [parsed.error];
  const { record } = parsed;
  const messages = (record as { messages?: unknown }).messages;
  if (messages === undefined) return ["missing_messages"];
  if (!Array.isArray(messages)) return ["messages_not_a_list"];
  const errors = new Set<FormatError>();
  let assistant = false;
  for (const message of messages) {
    if (typeof message !== "object" || message === null || !("role" in message) || !("content" in message)) {
      errors.add("message_missing_role_or_content");
      continue;
    }
    if (Object.keys(message).some((key) => !ALLOWED_KEYS.has(key))) errors.add("message_unrecognized_key");
    const { role, content } = message as { role: unknown; content: unknown };
    if (typeof role !== "string" || !ROLES.has(role)) errors.add("unrecognized_role");
    if (typeof content !== "string" || content.length === 0) errors.add("empty_or_non_string_content");
    if (role === "assistant") assistant = true;
  }
  if (!assistant) errors.add("no_assistant_message");
  return [...errors];
}

/**
 * Errors of one prompt/completion line: exactly the keys prompt and completion, non-empty strings; the
 * prompt ends with the separator and holds it nowhere else; the completion starts with a space (a new
 * token) and ends with the end marker, which appears nowhere else in it.
 */
export function checkCompletionExample(line: string, format: CompletionFormat): FormatError[] {
  const parsed = jsonObject(line);
  if ("error" in parsed) return [parsed.error];
  const { record } = parsed;
  if (!("prompt" in record) || !("completion" in record)) return ["missing_prompt_or_completion"];
  const errors: FormatError[] = [];
  if (Object.keys(record).some((key) => key !== "prompt" && key !== "completion")) errors.push("unrecognized_key");
  const { prompt, completion } = record as { prompt: unknown; completion: unknown };
  if (typeof prompt !== "string" || typeof completion !== "string" || prompt === "" || completion === "") return [...errors, "empty_or_non_string_prompt_or_completion"];
  if (!prompt.endsWith(format.promptEnd)) errors.push("prompt_without_separator");
  else if (prompt.slice(0, -format.promptEnd.length).includes(format.promptEnd)) errors.push("separator_inside_prompt");
  if (!completion.endsWith(format.completionEnd)) errors.push("completion_without_end");
  else if (completion.slice(0, -format.completionEnd.length).includes(format.completionEnd)) errors.push("end_inside_completion");
  if (!/^\s/.test(completion)) errors.push("completion_without_leading_space");
  return errors;
}

/** The file's format: completion when its first JSON object has a prompt, else chat. */
export function detectFineTuneFormat(content: string): "chat" | "completion" {
  for (const line of content.split(/\r?\n/)) {
    if (line.trim() === "") continue;
    try {
      const record = JSON.parse(line) as unknown;
      if (record && typeof record === "object" && "prompt" in record) return "completion";
    } catch {
      // keep looking
    }
    return "chat";
  }
  return "chat";
}

export function validateJsonl(content: string, exampleLines = 5, completionFormat?: CompletionFormat): ValidationReport {
  const report: ValidationReport = { lines: 0, examples: 0, errors: {}, ok: true };
  const prompts = new Set<string>();
  content.split(/\r?\n/).forEach((line, index) => {
    if (line.trim() === "") return;
    report.lines++;
    const errors = completionFormat ? checkCompletionExample(line, completionFormat) : checkExample(line);
    if (completionFormat && errors.length === 0) {
      const prompt = (JSON.parse(line) as { prompt: string }).prompt;
      if (prompts.has(prompt)) errors.push("duplicate_prompt");
      prompts.add(prompt);
    }
    if (errors.length === 0) report.examples++;
    for (const error of errors) {
      const entry = (report.errors[error] ??= { count: 0, lines: [] });
      entry.count++;
      if (entry.lines.length < exampleLines) entry.lines.push(index + 1);
    }
  });
  report.ok = Object.keys(report.errors).length === 0 && report.examples > 0;
  return report;
}
