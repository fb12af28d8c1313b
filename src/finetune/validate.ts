/**
 * The format checks applied before uploading a chat fine-tuning file (as the providers' own checks):
 * each line a JSON object with `messages`; each message has `role` and `content` and no keys other
 * than role, content, name, function_call, weight; roles are system, user, assistant or function;
 * content is a non-empty string; at least one assistant message. Pure.
 */

export const ERROR_TYPES = [
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

/** Errors of one line (empty when the line is a valid example). */
export function checkExample(line: string): FormatError[] {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    return ["invalid_json"];
  }
  if (typeof record !== "object" || record === null || Array.isArray(record)) return ["not_an_object"];
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

export function validateJsonl(content: string, exampleLines = 5): ValidationReport {
  const report: ValidationReport = { lines: 0, examples: 0, errors: {}, ok: true };
  content.split(/\r?\n/).forEach((line, index) => {
    if (line.trim() === "") return;
    report.lines++;
    const errors = checkExample(line);
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
