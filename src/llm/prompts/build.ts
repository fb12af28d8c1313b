/**
 * Per-item prompts: the program (or a user template) filled with the item's text and its hints — the
 * encoder's label and probabilities, and demonstrations chosen from a labelled pool. Pure.
 */
import type { ChatMessage } from "../types.js";
import { balancedExamples, fixedExamples, nearestExamples, type LabelledExample } from "./examples.js";
import { PROGRAMS, renderProgram, type ProgramName, type PromptInput, type TaskWording } from "./programs.js";
import { renderTemplate, templateUses, type PromptTemplate } from "./template.js";

export interface PromptPlan {
  program: ProgramName;
  template?: PromptTemplate;
  labels: readonly string[];
  wording: TaskWording;
  texts: readonly string[];
  encoderLabels?: readonly string[];
  /** Per item, probabilities in `labels` order. */
  encoderProbs?: ReadonlyArray<readonly number[]>;
  pool?: readonly LabelledExample[];
  k?: number;
  seed?: number;
  /** Embeddings for "similar": pool rows and item rows, same width. */
  vectors?: { pool: Float32Array; queries: Float32Array; dim: number };
  /** Longest text (characters) put into a prompt; longer ones are cut (default MAX_INPUT_CHARS). */
  maxInputChars?: number;
}

/** Default cap on a text's length in a prompt: about 1,500 tokens of English. */
export const MAX_INPUT_CHARS = 6000;

/**
 * A text as it goes into a prompt field: cut at `max` characters (an ellipsis marks the cut), and on
 * one line — line breaks become spaces — so that no line of the text can pose as a field of the
 * program ("Classification: positive") or as its separator.
 */
export function promptText(text: string, max = MAX_INPUT_CHARS): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return cut.replace(/\s*[\r\n\u2028\u2029]+\s*/g, " ");
}

/** How many of these texts the cap cuts. */
export function countCut(texts: readonly string[], max = MAX_INPUT_CHARS): number {
  return texts.reduce((n, text) => n + (text.length > max ? 1 : 0), 0);
}

export type ExampleKind = "none" | "similar" | "balanced" | "fixed";

export function exampleKind(plan: Pick<PromptPlan, "program" | "template">): ExampleKind {
  if (plan.template) return templateUses(plan.template, "examples") ? "similar" : "none";
  return PROGRAMS[plan.program].examples;
}

/** The messages of item i, with demonstrations chosen once for all items. */
export function planPrompts(plan: PromptPlan): (index: number) => ChatMessage[] {
  const k = plan.k ?? 5;
  const seed = plan.seed ?? 42;
  const kind = exampleKind(plan);
  const pool = plan.pool ?? [];
  let perItem: number[][] | undefined;
  let shared: number[] | undefined;
  if (kind === "similar") perItem = nearestExamples(pool, plan.texts, k, plan.vectors);
  else if (kind === "balanced") shared = balancedExamples(pool, plan.labels, k, seed);
  else if (kind === "fixed") shared = fixedExamples(pool, k, seed);
  return (index) => {
    const text = plan.texts[index] as string;
    const probs = plan.encoderProbs?.[index];
    const chosen = perItem ? (perItem[index] as number[]) : (shared ?? []);
    const input: PromptInput = {
      text: promptText(text, plan.maxInputChars),
      encoderLabel: plan.encoderLabels?.[index],
      encoderProbs: probs ? Object.fromEntries(plan.labels.map((label, c) => [label, probs[c] as number])) : undefined,
      // Never show an item its own text as a demonstration.
      examples: chosen.map((i) => pool[i] as LabelledExample).filter((example) => example.text !== text).map((example) => ({ ...example, text: promptText(example.text, plan.maxInputChars) })),
    };
    return plan.template ? renderTemplate(plan.template, plan.labels, input, plan.wording) : renderProgram(plan.program, plan.labels, input, plan.wording);
  };
}
