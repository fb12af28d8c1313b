/** Merging several datasets into one, keeping where each row came from. Pure. */
import { Random } from "../core/random.js";
import type { Example } from "./dataset.js";

export interface MergedRow {
  sentence: string;
  label: string;
  source: string;
}

/**
 * Rows of every part with a `source`: the row's own source value when the part has one, else the
 * part's name. With `shuffle`, rows are mixed with the seeded generator (as the merged corpus was).
 */
export function mergeDatasets(
  parts: Array<{ name: string; examples: Example[] }>,
  options: { shuffle?: boolean; seed?: number } = {},
): MergedRow[] {
  const rows: MergedRow[] = [];
  for (const part of parts) {
    for (const example of part.examples) {
      rows.push({ sentence: example.text, label: example.label ?? "", source: example.source || part.name });
    }
  }
  if (options.shuffle) new Random(options.seed ?? 42).shuffle(rows);
  return rows;
}
