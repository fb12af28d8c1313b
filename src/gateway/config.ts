/**
 * The gateway's file (YAML or JSON): the upstreams, and the tasks — a prompt template with one `{text}`
 * slot, the label set and how the upstream writes each label, and the lifecycle's settings.
 */
import { parseDocument, stringify } from "yaml";
import { z } from "zod";
import { parseConfigText, readConfigFile, type ConfigProblem } from "../core/config-file.js";
import { DEFAULT_AUDIT } from "../strategies/certified-config.js";

const AUDIT = { share: DEFAULT_AUDIT.share, maxCostPerDay: DEFAULT_AUDIT.maxCostPerDay ?? 2, rpm: DEFAULT_AUDIT.rpm ?? 60 };

export const SLOT = "{text}";

const TemplateMessageSchema = z.strictObject({
  role: z.enum(["system", "user", "assistant"]),
  content: z.string(),
});

/** How the upstream writes a label: the word itself, or a JSON object with the label in one field. */
const AnswerSchema = z.union([z.literal("word"), z.strictObject({ json: z.string().min(1) })]);

const TaskAuditSchema = z.strictObject({
  /** Share of the task's answers drawn uniformly into the audit (a kept answer drawn is asked upstream too). */
  share: z.number().min(0).max(1).default(AUDIT.share),
  /** Dollars of audit calls per UTC day; past it, kept answers drawn are not checked until the next day. */
  maxCostPerDay: z.number().min(0).default(AUDIT.maxCostPerDay),
  /** Audit calls per minute. */
  rpm: z.number().int().min(1).default(AUDIT.rpm),
});

export const GatewayTaskSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/, "letters, digits, _ . - only"),
  /** The prompt, message by message; one message holds {text} where each request's text goes. */
  messages: z.array(TemplateMessageSchema).min(1),
  labels: z.array(z.string().min(1)).min(2),
  /** How the upstream writes each label, in `labels` order (default: as in labels). */
  written: z.array(z.string().min(1)).optional(),
  answer: AnswerSchema.default("word"),
  /** Only requests for this model (default: any). */
  model: z.string().optional(),
  /** Recorded labels before the first distill (and after a drift alarm, new labels before the next). */
  distillAfter: z.number().int().min(20).default(500),
  /** Serve as soon as a certified student leaves the upstream at most 1 − minShare of the texts. */
  autoPromote: z.boolean().default(false),
  minShare: z.number().min(0).max(1).default(0.2),
  /** Passed to distill (default: distill's own choice). */
  student: z.enum(["head", "full"]).optional(),
  backbone: z.string().optional(),
  targetAgreement: z.number().gt(0).lt(1).default(0.95),
  confidence: z.number().gt(0).lt(1).default(0.95),
  audit: TaskAuditSchema.default(AUDIT),
});

export type GatewayTask = z.output<typeof GatewayTaskSchema>;
export type GatewayTaskInput = z.input<typeof GatewayTaskSchema>;

export const GatewayFileSchema = z.strictObject({
  /** provider:model, or a list (one per wire: an OpenAI-compatible one and an Anthropic one). */
  upstream: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
  tasks: z.array(GatewayTaskSchema).default([]),
  /** Unmatched requests kept (their prompts and answers) for `tandem gateway tasks` to find templates in; 0: none. */
  keepUnmatched: z.number().int().min(0).default(5000),
});

export type GatewayFile = z.output<typeof GatewayFileSchema>;

/** Problems zod cannot see: one slot per task, a written form per label, unique names. */
export function taskProblems(tasks: readonly GatewayTask[], at: ReadonlyArray<PropertyKey> = ["tasks"]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const names = new Set<string>();
  tasks.forEach((task, i) => {
    if (names.has(task.name)) problems.push({ path: [...at, i, "name"], message: `task "${task.name}" is declared twice` });
    names.add(task.name);
    const slots = task.messages.flatMap((m, j) => (m.content.includes(SLOT) ? [j] : []));
    const count = task.messages.reduce((n, m) => n + m.content.split(SLOT).length - 1, 0);
    if (slots.length !== 1 || count !== 1) problems.push({ path: [...at, i, "messages"], message: `task "${task.name}": exactly one message must hold ${SLOT} once (found ${count})` });
    if (task.written && task.written.length !== task.labels.length) problems.push({ path: [...at, i, "written"], message: `task "${task.name}": "written" must give one form per label (${task.labels.length}), in labels order` });
    if (new Set(task.labels).size !== task.labels.length) problems.push({ path: [...at, i, "labels"], message: `task "${task.name}": labels must be distinct` });
  });
  return problems;
}

export function parseGatewayFile(text: string, file: string): GatewayFile {
  return parseConfigText(text, file, GatewayFileSchema, (value) => taskProblems(value.tasks));
}

export function loadGatewayFile(file: string): GatewayFile {
  return parseGatewayFile(readConfigFile(file), file);
}

/** A task as the file writes it (snake_case, defaults left out). */
export function taskFileEntry(task: GatewayTaskInput): Record<string, unknown> {
  const entry: Record<string, unknown> = { name: task.name, messages: task.messages, labels: task.labels };
  if (task.written && task.written.some((w, i) => w !== task.labels[i])) entry.written = task.written;
  if (task.answer && task.answer !== "word") entry.answer = task.answer;
  if (task.model) entry.model = task.model;
  if (task.distillAfter !== undefined) entry.distill_after = task.distillAfter;
  return entry;
}

/** The file's text with one more task (the file's other content kept as it was parsed). */
export function withTask(existing: string | undefined, task: GatewayTaskInput): string {
  if (!existing?.trim()) return stringify({ tasks: [taskFileEntry(task)] }, { lineWidth: 0 });
  const document = parseDocument(existing);
  const tasks = document.get("tasks");
  if (tasks === undefined || tasks === null) document.set("tasks", document.createNode([taskFileEntry(task)]));
  else document.addIn(["tasks"], document.createNode(taskFileEntry(task)));
  return document.toString({ lineWidth: 0 });
}
