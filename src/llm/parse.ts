/**
 * Reading a label out of a model's answer. Structured answers ({"label": "..."}) first; otherwise the
 * label words present in the text: exactly one distinct label is the answer ("This message sounds
 * negative." → negative); none, several, or "mixed" is unparseable — kept and reported, never mapped
 * to a default class. Pure.
 */

/** The JSON schema of a structured answer, {"label": <one of the labels>}: every provider asks for this one. */
export function labelJsonSchema(labels: readonly string[]): Record<string, unknown> {
  return { type: "object", properties: { label: { type: "string", enum: [...labels] } }, required: ["label"], additionalProperties: false };
}

export interface ParsedAnswer {
  label: string | null;
  /** Character offset of the label in the answer (for finding its token's log-probabilities). */
  offset: number;
  reason?: string;
}

/** A negation within the two words before a label. */
const NEGATED = /(?:\b(?:not|no(?!\s+doubt)|never|neither|nor|hardly|without)|n't|n’t)\s+(?:[\p{L}\p{N}'’-]+\s+){0,2}$/iu;

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

export function parseAnswer(answer: string, labels: readonly string[]): ParsedAnswer {
  const trimmed = answer.trim();
  if (trimmed.startsWith("{")) {
    try {
      const value = JSON.parse(trimmed) as { label?: unknown };
      if (typeof value.label === "string") {
        const match = labels.find((label) => label.toLowerCase() === (value.label as string).trim().toLowerCase());
        if (match) return { label: match, offset: answer.indexOf(value.label) };
        return { label: null, offset: -1, reason: `"${value.label}" is not a label` };
      }
    } catch {
      // Not JSON after all: read it as text.
    }
  }
  if (/\bmixed\b/i.test(answer)) return { label: null, offset: -1, reason: "mixed" };
  // Longest labels first so that "non-neutral" is not also read as "neutral".
  const ordered = [...labels].sort((a, b) => b.length - a.length);
  const found = new Map<string, number>();
  const taken: Array<[number, number]> = [];
  for (const label of ordered) {
    const pattern = new RegExp(`(?<![\\p{L}\\p{N}-])${escape(label)}(?![\\p{L}\\p{N}-])`, "giu");
    for (const match of answer.matchAll(pattern)) {
      const start = match.index ?? 0;
      const end = start + match[0].length;
      if (taken.some(([s, e]) => start < e && end > s)) continue;
      taken.push([start, end]);
      if (!found.has(label)) found.set(label, start);
    }
  }
  if (found.size === 1) {
    const [[label, offset]] = [...found.entries()] as [[string, number]];
    // "not positive", "definitely not neutral", "isn't negative": a negated label is no answer.
    const before = answer.slice(Math.max(0, offset - 40), offset);
    if (NEGATED.test(before)) return { label: null, offset: -1, reason: `negated answer ("${answer.trim().slice(0, 60)}")` };
    return { label, offset };
  }
  return { label: null, offset: -1, reason: found.size === 0 ? "no label in the answer" : `several labels (${[...found.keys()].join(", ")})` };
}
