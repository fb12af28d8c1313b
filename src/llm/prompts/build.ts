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
      text,
      encoderLabel: plan.encoderLabels?.[index],
      encoderProbs: probs ? Object.fromEntries(plan.labels.map((label, c) => [label, probs[c] as number])) : undefined,
      // Never show an item its own text as a demonstration.
      examples: chosen.map((i) => pool[i] as LabelledExample).filter((example) => example.text !== text),
    };
    return plan.template ? renderTemplate(plan.template, plan.labels, input, plan.wording) : renderProgram(plan.program, plan.labels, input, plan.wording);
  };
}
