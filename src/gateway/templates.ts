/**
 * Prompt templates: whether a request is a task's prompt (and its text), what label the upstream's answer
 * is, how a label is written back, and the templates hidden in recorded traffic (requests identical up to
 * one slot). Pure.
 */
import { createHash } from "node:crypto";
import { parseAnswer } from "../llm/parse.js";
import { SLOT, type GatewayTask, type GatewayTaskInput } from "./config.js";
import type { PromptMessage, Wire, WireRequest } from "./wire.js";

/** The request's text when it is this task's prompt, else undefined. */
export function matchTask(task: GatewayTask, request: Pick<WireRequest, "model" | "messages">): string | undefined {
  if (task.model !== undefined && task.model !== request.model) return undefined;
  if (request.messages.length !== task.messages.length) return undefined;
  let text: string | undefined;
  for (let i = 0; i < task.messages.length; i++) {
    const template = task.messages[i]!;
    const message = request.messages[i]!;
    if (template.role !== message.role) return undefined;
    const slot = template.content.indexOf(SLOT);
    if (slot < 0) {
      if (template.content !== message.content) return undefined;
      continue;
    }
    const prefix = template.content.slice(0, slot);
    const suffix = template.content.slice(slot + SLOT.length);
    const content = message.content;
    if (content.length < prefix.length + suffix.length || !content.startsWith(prefix) || !content.endsWith(suffix)) return undefined;
    text = content.slice(prefix.length, content.length - suffix.length);
  }
  return text === undefined || text.trim() === "" ? undefined : text;
}

/** The first task whose prompt the request is, with the text. */
export function findTask(tasks: readonly GatewayTask[], request: Pick<WireRequest, "model" | "messages">): { task: GatewayTask; text: string } | undefined {
  for (const task of tasks) {
    const text = matchTask(task, request);
    if (text !== undefined) return { task, text };
  }
  return undefined;
}

export function writtenForms(task: Pick<GatewayTask, "labels" | "written">): string[] {
  return task.labels.map((label, i) => task.written?.[i] ?? label);
}

/** The label of an upstream answer, or null with the reason (the answer is still returned to the client). */
export function labelOfAnswer(task: Pick<GatewayTask, "labels" | "written" | "answer">, answer: string): { label: string | null; reason?: string } {
  const written = writtenForms(task);
  const byForm = (value: string): string | null => {
    const wanted = value.trim().replace(/[.!]+$/, "").toLowerCase();
    const i = written.findIndex((w) => w.toLowerCase() === wanted);
    if (i >= 0) return task.labels[i]!;
    const j = task.labels.findIndex((l) => l.toLowerCase() === wanted);
    return j >= 0 ? task.labels[j]! : null;
  };
  if (task.answer !== "word") {
    const field = task.answer.json;
    try {
      const value = JSON.parse(answer) as Record<string, unknown>;
      const raw = value?.[field];
      if (typeof raw !== "string") return { label: null, reason: `no "${field}" text field in the answer` };
      const label = byForm(raw);
      return label ? { label } : { label: null, reason: `"${raw.slice(0, 40)}" is not one of the labels` };
    } catch {
      return { label: null, reason: "the answer is not JSON" };
    }
  }
  const exact = byForm(answer);
  if (exact) return { label: exact };
  // A word task asked with a JSON schema: the upstream wrote {"<field>": "<label>"}.
  const field = jsonField(answer);
  if (field !== undefined) {
    const label = byForm(field);
    if (label) return { label };
  }
  // Longer answers ("The sentiment is positive."): one label word, not negated.
  const parsed = parseAnswer(answer, written);
  if (parsed.label) return { label: task.labels[written.indexOf(parsed.label)]! };
  return { label: null, reason: parsed.reason ?? "no label in the answer" };
}

/** The one text field of a JSON object answer ({"label": "positive"}), if it is one. */
function jsonField(answer: string): string | undefined {
  if (!answer.trim().startsWith("{")) return undefined;
  try {
    const value = JSON.parse(answer) as unknown;
    if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
    const texts = Object.values(value).filter((v): v is string => typeof v === "string");
    return texts.length === 1 ? texts[0] : undefined;
  } catch {
    return undefined;
  }
}

/** The text property a request's JSON schema asks the label in (the first string property with an enum, else the only required string one). */
export function schemaLabelField(responseFormat: Record<string, unknown> | undefined): string | undefined {
  if (responseFormat?.type !== "json_schema") return undefined;
  const schema = (responseFormat.json_schema as { schema?: { properties?: Record<string, { type?: unknown; enum?: unknown }>; required?: unknown } } | undefined)?.schema;
  const properties = Object.entries(schema?.properties ?? {}).filter(([, p]) => p?.type === "string" || Array.isArray(p?.enum));
  return (properties.find(([, p]) => Array.isArray(p.enum)) ?? (properties.length === 1 ? properties[0] : undefined))?.[0];
}

/**
 * A label as the upstream writes it: in the request's JSON schema's field when it asks for one, else the
 * task's JSON object, else the word.
 */
export function writeLabel(task: Pick<GatewayTask, "labels" | "written" | "answer">, label: string, responseFormat?: Record<string, unknown>): string {
  const form = writtenForms(task)[task.labels.indexOf(label)] ?? label;
  const field = schemaLabelField(responseFormat) ?? (task.answer === "word" ? undefined : task.answer.json);
  return field === undefined ? form : JSON.stringify({ [field]: form });
}

/** A recorded request that matched no task: its prompt, its answer, its response_format. */
export interface RecordedPrompt {
  wire: Wire;
  model: string;
  messages: PromptMessage[];
  answer: string | null;
  responseFormat?: Record<string, unknown>;
}

export interface TaskProposal {
  /** A short id (a hash of the template) to accept it by. */
  id: string;
  wire: Wire;
  model: string;
  /** Recorded requests this template matches. */
  count: number;
  task: GatewayTaskInput;
  /** A few of the texts in the slot. */
  examples: string[];
  /** Distinct answers seen (more than about 20: probably not a classification). */
  distinctAnswers: number;
  /** Why the labels are a guess to check, when they are. */
  note?: string;
}

const PREFIX_END = /[\s:"'“‘([{>]$/u;
const SUFFIX_START = /^[\s"'”’)\]}<]/u;

/** The longest common prefix of all values that ends at a boundary (whitespace, a colon, an opening quote). */
function commonPrefix(values: readonly string[]): string {
  let prefix = values[0] ?? "";
  for (const value of values) {
    let n = 0;
    while (n < prefix.length && n < value.length && prefix[n] === value[n]) n++;
    prefix = prefix.slice(0, n);
  }
  while (prefix && !PREFIX_END.test(prefix)) prefix = prefix.slice(0, -1);
  return prefix;
}

function commonSuffix(values: readonly string[], prefix: string): string {
  let suffix = (values[0] ?? "").slice(prefix.length);
  for (const value of values) {
    const rest = value.slice(prefix.length);
    let n = 0;
    while (n < suffix.length && n < rest.length && suffix[suffix.length - 1 - n] === rest[rest.length - 1 - n]) n++;
    suffix = suffix.slice(suffix.length - n);
  }
  while (suffix && !SUFFIX_START.test(suffix)) suffix = suffix.slice(1);
  return suffix;
}

/** The label set of a template's answers: a JSON schema's enum, a JSON field's values, or the words written. */
function guessLabels(prompts: readonly RecordedPrompt[]): Pick<TaskProposal, "distinctAnswers" | "note"> & Pick<GatewayTaskInput, "labels" | "written" | "answer"> {
  const schema = prompts.map((p) => p.responseFormat).find((f) => f?.type === "json_schema") as { json_schema?: { schema?: { properties?: Record<string, { enum?: unknown[] }> } } } | undefined;
  const properties = schema?.json_schema?.schema?.properties ?? {};
  const enumField = Object.entries(properties).find(([, p]) => Array.isArray(p?.enum) && p.enum.every((v) => typeof v === "string"));
  if (enumField) {
    const values = enumField[1].enum as string[];
    return { labels: values.map((v) => v.toLowerCase()), written: values, answer: { json: enumField[0] }, distinctAnswers: values.length };
  }
  const answers = prompts.map((p) => p.answer).filter((a): a is string => a !== null);
  const objects = answers.map((a) => {
    try {
      const value = JSON.parse(a) as unknown;
      return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  });
  let field: string | undefined;
  if (answers.length && objects.every((o) => o !== undefined)) {
    const keys = Object.keys(objects[0]!).filter((k) => objects.every((o) => typeof o![k] === "string"));
    field = keys.find((k) => /label|class|category|sentiment|answer/i.test(k)) ?? keys[0];
  }
  const raw = field ? objects.map((o) => String(o![field!])) : answers.map((a) => a.trim().replace(/[.!]+$/, ""));
  // The most common spelling of each label, case aside.
  const forms = new Map<string, Map<string, number>>();
  for (const value of raw) {
    const key = value.toLowerCase();
    const spellings = forms.get(key) ?? new Map<string, number>();
    spellings.set(value, (spellings.get(value) ?? 0) + 1);
    forms.set(key, spellings);
  }
  const labels = [...forms.keys()].sort();
  const written = labels.map((label) => [...forms.get(label)!.entries()].sort((a, b) => b[1] - a[1])[0]![0]);
  const note = labels.length > 20 ? `${labels.length} distinct answers: probably not a classification` : labels.length < 2 ? "fewer than two distinct answers so far: give the labels" : undefined;
  return { labels: labels.slice(0, 20), written: written.slice(0, 20), answer: field ? { json: field } : "word", distinctAnswers: labels.length, ...(note ? { note } : {}) };
}

/**
 * Templates in recorded prompts: requests whose messages are identical but for one, where that message's
 * varying part (after a common prefix and before a common suffix, cut at a boundary) is the slot. Each
 * request counts for its largest group; groups of at least `minCount` requests and two distinct texts.
 */
export function proposeTasks(prompts: readonly RecordedPrompt[], options: { minCount?: number } = {}): TaskProposal[] {
  const minCount = options.minCount ?? 3;
  const groups = new Map<string, number[]>();
  const keysOf = prompts.map((prompt, r) =>
    prompt.messages.map((_, i) => {
      const key = JSON.stringify([prompt.wire, i, prompt.messages.map((m, j) => (j === i ? [m.role] : [m.role, m.content]))]);
      const members = groups.get(key) ?? [];
      members.push(r);
      groups.set(key, members);
      return key;
    }),
  );
  const chosen = new Map<string, number[]>();
  keysOf.forEach((keys, r) => {
    const best = keys.reduce<string | undefined>((a, k) => (a === undefined || groups.get(k)!.length > groups.get(a)!.length ? k : a), undefined);
    if (best === undefined) return;
    const members = chosen.get(best) ?? [];
    members.push(r);
    chosen.set(best, members);
  });
  const proposals: TaskProposal[] = [];
  for (const [key, members] of chosen) {
    if (members.length < minCount) continue;
    const slot = (JSON.parse(key) as [Wire, number])[1];
    const values = members.map((r) => prompts[r]!.messages[slot]!.content);
    if (new Set(values).size < 2) continue;
    const prefix = commonPrefix(values);
    const suffix = commonSuffix(values, prefix);
    const first = prompts[members[0]!]!;
    const messages = first.messages.map((m, j) => ({ role: m.role as "system" | "user" | "assistant", content: j === slot ? prefix + SLOT + suffix : m.content }));
    if (messages.some((m, j) => j !== slot && m.content.includes(SLOT))) continue;
    const texts = values.map((v) => v.slice(prefix.length, v.length - suffix.length));
    const guess = guessLabels(members.map((r) => prompts[r]!));
    const id = createHash("sha256").update(JSON.stringify([first.wire, messages])).digest("hex").slice(0, 8);
    const models = new Set(members.map((r) => prompts[r]!.model));
    const task: GatewayTaskInput = { name: `task-${id}`, messages, labels: guess.labels, written: guess.written, answer: guess.answer, ...(models.size === 1 ? { model: first.model } : {}) };
    proposals.push({ id, wire: first.wire, model: [...models].join(", "), count: members.length, task, examples: [...new Set(texts)].slice(0, 3), distinctAnswers: guess.distinctAnswers, ...(guess.note ? { note: guess.note } : {}) });
  }
  return proposals.sort((a, b) => b.count - a.count);
}
