/**
 * Prompt programs in the research's signature style (DSPy): an instruction, field descriptions under
 * "Follow the following format.", optional demonstrations, then the filled fields ending in the open
 * answer field. Labels and their wording come from the label scheme, so binary and star tasks use the
 * same programs. Pure.
 */
import type { ChatMessage } from "../types.js";

export const PROGRAM_NAMES = ["zero-shot", "label", "probs", "label-probs", "similar", "balanced", "few-shot", "minimal"] as const;
export type ProgramName = (typeof PROGRAM_NAMES)[number];

export interface ProgramSpec {
  name: ProgramName;
  usesEncoderLabel: boolean;
  usesEncoderProbs: boolean;
  /** Demonstrations: none, the k nearest labelled examples, k class-balanced ones, or k fixed ones. */
  examples: "none" | "similar" | "balanced" | "fixed";
  description: string;
}

export const PROGRAMS: Record<ProgramName, ProgramSpec> = {
  "zero-shot": { name: "zero-shot", usesEncoderLabel: false, usesEncoderProbs: false, examples: "none", description: "the instruction and the text" },
  label: { name: "label", usesEncoderLabel: true, usesEncoderProbs: false, examples: "none", description: "+ the encoder's label (the research's best prompt)" },
  probs: { name: "probs", usesEncoderLabel: false, usesEncoderProbs: true, examples: "none", description: "+ the encoder's class probabilities" },
  "label-probs": { name: "label-probs", usesEncoderLabel: true, usesEncoderProbs: true, examples: "none", description: "+ the encoder's label and probabilities" },
  similar: { name: "similar", usesEncoderLabel: false, usesEncoderProbs: false, examples: "similar", description: "+ the k most similar labelled examples (embedding or BM25)" },
  balanced: { name: "balanced", usesEncoderLabel: false, usesEncoderProbs: false, examples: "balanced", description: "+ k class-balanced labelled examples" },
  "few-shot": { name: "few-shot", usesEncoderLabel: false, usesEncoderProbs: false, examples: "fixed", description: "+ the same k labelled examples for every item" },
  minimal: { name: "minimal", usesEncoderLabel: false, usesEncoderProbs: false, examples: "none", description: "a one-line system message and the bare text (half the tokens for fine-tuning)" },
};

/** How the task is worded; defaults follow the label scheme. */
export interface TaskWording {
  /** "sentiment" → "Classify the sentiment of a review ..." */
  task: string;
  /** "review" */
  item: string;
  /** "You are a sentiment analysis assistant." */
  system: string;
}

export function defaultWording(description: string | undefined): TaskWording {
  const task = description ?? "label";
  return {
    task,
    item: task === "sentiment" || task === "star rating" ? "review" : "text",
    system: task === "sentiment" ? "You are a sentiment analysis assistant." : `You are a ${task} classification assistant.`,
  };
}

export interface PromptInput {
  text: string;
  encoderLabel?: string;
  /** Encoder probabilities per label. */
  encoderProbs?: Record<string, number>;
  examples?: Array<{ text: string; label: string }>;
}

/** "'a', 'b', or 'c'" / "'a' or 'b'" (quoted) or the same without quotes. */
export function listLabels(labels: readonly string[], quote = true): string {
  const items = labels.map((label) => (quote ? `'${label}'` : label));
  if (items.length <= 2) return items.join(" or ");
  return `${items.slice(0, -1).join(", ")}, or ${items[items.length - 1]}`;
}

const capitalize = (word: string) => word.charAt(0).toUpperCase() + word.slice(1);

export function formatProbabilities(probs: Record<string, number>, labels: readonly string[]): string {
  return labels.map((label) => `${label}: ${(probs[label] ?? 0).toFixed(2)}`).join(", ");
}

/** The messages a program sends for one item. */
export function renderProgram(name: ProgramName, labels: readonly string[], input: PromptInput, wording: TaskWording): ChatMessage[] {
  const spec = PROGRAMS[name];
  if (name === "minimal") {
    return [
      { role: "system", content: `Classify the ${wording.task} of the ${wording.item} as ${listLabels(labels, false)}.` },
      { role: "user", content: input.text },
    ];
  }
  const itemField = capitalize(wording.item);
  const fields: Array<{ name: string; description: string; value: (input: PromptInput) => string }> = [
    { name: itemField, description: `The ${wording.item} text to classify.`, value: (i) => i.text },
  ];
  if (spec.usesEncoderLabel) {
    fields.push({
      name: "Classifier Decision",
      description: `The ${wording.task} classification proposed by a model fine-tuned on ${wording.task}.`,
      value: (i) => i.encoderLabel ?? "",
    });
  }
  if (spec.usesEncoderProbs) {
    fields.push({
      name: "Classifier Probabilities",
      description: `The class probabilities from a model fine-tuned on ${wording.task}.`,
      value: (i) => (i.encoderProbs ? formatProbabilities(i.encoderProbs, labels) : ""),
    });
  }
  const answerDescription = `One word representing the ${wording.task} classification: ${listLabels(labels)} (do not repeat the field name, do not use 'mixed')`;
  const blocks = [
    `Classify the ${wording.task} of a ${wording.item} as either ${listLabels(labels)}.`,
    ["Follow the following format.", "", ...fields.map((f) => `${f.name}: ${f.description}`), `Classification: ${answerDescription}`].join("\n"),
  ];
  // Demonstrations show only the text and its label, as DSPy renders examples without hints.
  for (const example of input.examples ?? []) blocks.push(`${itemField}: ${example.text}\nClassification: ${example.label}`);
  blocks.push([...fields.map((f) => `${f.name}: ${f.value(input)}`), "Classification:"].join("\n"));
  return [
    { role: "system", content: wording.system },
    { role: "user", content: blocks.join("\n\n---\n\n") },
  ];
}
