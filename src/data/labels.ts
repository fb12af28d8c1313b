/**
 * Label schemes: the ordered label set of a task and the spellings accepted for each label. The order
 * is the class index order (id2label) used for probability vectors and confusion matrices.
 */
import { UserError, type Location } from "../core/errors.js";

export interface LabelScheme {
  name: string;
  labels: string[];
  /** Ordered classes (stars): ordinal metrics apply; labels must parse as numbers. */
  ordinal: boolean;
  /** Normalised spelling → canonical label. */
  aliases: Record<string, string>;
  /** The text's label, in words, for prompts ("sentiment"). */
  description?: string;
}

/** Case-folded, whitespace-collapsed form used to match spellings. */
export function normalizeLabelText(raw: string): string {
  return raw.trim().replace(/\s+/g, " ").toLowerCase();
}

function scheme(
  name: string,
  labels: string[],
  extraAliases: Record<string, string> = {},
  ordinal = false,
  description?: string,
): LabelScheme {
  const aliases: Record<string, string> = {};
  for (const label of labels) aliases[normalizeLabelText(label)] = label;
  for (const [alias, label] of Object.entries(extraAliases)) aliases[normalizeLabelText(alias)] = label;
  return { name, labels, ordinal, aliases, description };
}

/** The label templates of the original research tool, plus star ratings. */
export const BUILTIN_SCHEMES: Record<string, LabelScheme> = {
  // negative 0, neutral 1, positive 2, as in the original tool; the ids are accepted as spellings.
  neg_neu_pos: scheme(
    "neg_neu_pos",
    ["negative", "neutral", "positive"],
    { neg: "negative", neu: "neutral", pos: "positive", "0": "negative", "1": "neutral", "2": "positive" },
    false,
    "sentiment",
  ),
  bin_neu: scheme("bin_neu", ["non-neutral", "neutral"], { "0": "non-neutral", "1": "neutral", non_neutral: "non-neutral" }),
  bin_pos: scheme("bin_pos", ["non-positive", "positive"], { "0": "non-positive", "1": "positive", non_positive: "non-positive" }),
  bin_neg: scheme("bin_neg", ["non-negative", "negative"], { "0": "non-negative", "1": "negative", non_negative: "non-negative" }),
  stars: scheme(
    "stars",
    ["1", "2", "3", "4", "5"],
    {
      "1.0": "1", "2.0": "2", "3.0": "3", "4.0": "4", "5.0": "5",
      "1 star": "1", "2 stars": "2", "3 stars": "3", "4 stars": "4", "5 stars": "5",
    },
    true,
    "star rating",
  ),
  sst5: scheme("sst5", ["0", "1", "2", "3", "4"], {}, true, "sentiment"),
};

/** A scheme by built-in name, or a custom comma-separated list of labels ("spam,ham"). */
export function resolveScheme(spec: string): LabelScheme {
  const builtin = BUILTIN_SCHEMES[spec];
  if (builtin) return builtin;
  const labels = spec.split(",").map((label) => label.trim()).filter((label) => label.length > 0);
  if (labels.length < 2) {
    throw new UserError(
      `unknown label scheme "${spec}": use one of ${Object.keys(BUILTIN_SCHEMES).join(", ")} or a comma-separated list of at least two labels`,
    );
  }
  const seen = new Set<string>();
  for (const label of labels) {
    const key = normalizeLabelText(label);
    if (seen.has(key)) throw new UserError(`label "${label}" appears twice in "${spec}"`);
    seen.add(key);
  }
  const ordinal = labels.every((label) => /^-?\d+(\.\d+)?$/.test(label));
  return scheme("custom", labels, {}, ordinal);
}

/** The canonical label for a raw value, or undefined when the scheme has no such label. */
export function matchLabel(scheme: LabelScheme, raw: string): string | undefined {
  return scheme.aliases[normalizeLabelText(raw)];
}

/** Like matchLabel, but an unknown value is a UserError naming where it was found. */
export function requireLabel(scheme: LabelScheme, raw: string, where: Location): string {
  const label = matchLabel(scheme, raw);
  if (label === undefined) {
    const shown = raw.length > 60 ? `${raw.slice(0, 57)}...` : raw;
    throw new UserError(
      `unknown label "${shown}" (the ${scheme.name} scheme has: ${scheme.labels.join(", ")})`,
      where,
    );
  }
  return label;
}
