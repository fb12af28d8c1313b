/**
 * User prompt templates: a YAML (or JSON) file with `system` and `user` texts holding placeholders —
 * {text}, {labels}, {encoder_label}, {encoder_probs}, {examples}, {task}, {item}. Rendering is pure.
 */
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { UserError } from "../../core/errors.js";
import type { ChatMessage } from "../types.js";
import { formatProbabilities, listLabels, type PromptInput, type TaskWording } from "./programs.js";

export interface PromptTemplate {
  system?: string;
  user: string;
  file: string;
}

const PLACEHOLDERS = ["text", "labels", "encoder_label", "encoder_probs", "examples", "task", "item"];

export function loadTemplate(file: string): PromptTemplate {
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(file, "utf8"));
  } catch (error) {
    throw new UserError(`cannot read the template (${(error as Error).message})`, { file });
  }
  const template = parsed as Partial<PromptTemplate>;
  if (typeof template !== "object" || template === null || typeof template.user !== "string") {
    throw new UserError('a template needs a "user" text (and may have a "system" text)', { file });
  }
  for (const [field, text] of [["system", template.system], ["user", template.user]] as const) {
    for (const match of (text ?? "").matchAll(/\{([a-z_]+)\}/g)) {
      if (!PLACEHOLDERS.includes(match[1] as string)) {
        throw new UserError(`unknown placeholder {${match[1]}} (known: ${PLACEHOLDERS.map((p) => `{${p}}`).join(", ")})`, { file, column: field });
      }
    }
  }
  return { system: template.system, user: template.user, file };
}

export function templateUses(template: PromptTemplate, placeholder: string): boolean {
  return `${template.system ?? ""}${template.user}`.includes(`{${placeholder}}`);
}

export function renderTemplate(template: PromptTemplate, labels: readonly string[], input: PromptInput, wording: TaskWording): ChatMessage[] {
  const values: Record<string, string> = {
    text: input.text,
    labels: listLabels(labels),
    encoder_label: input.encoderLabel ?? "",
    encoder_probs: input.encoderProbs ? formatProbabilities(input.encoderProbs, labels) : "",
    examples: (input.examples ?? []).map((e) => `Text: ${e.text}\nLabel: ${e.label}`).join("\n\n"),
    task: wording.task,
    item: wording.item,
  };
  const fill = (text: string) => text.replace(/\{([a-z_]+)\}/g, (whole, name: string) => values[name] ?? whole);
  const messages: ChatMessage[] = [];
  if (template.system) messages.push({ role: "system", content: fill(template.system) });
  messages.push({ role: "user", content: fill(template.user) });
  return messages;
}
