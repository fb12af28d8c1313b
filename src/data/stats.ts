/** Dataset statistics: rows, label distribution (overall and per source), text lengths. Pure. */
import { percentileSorted } from "../stats/percentile.js";

export interface LengthSummary {
  min: number;
  mean: number;
  median: number;
  p90: number;
  p99: number;
  max: number;
}

export interface DatasetStats {
  rows: number;
  labels: Record<string, number>;
  bySource: Record<string, { rows: number; labels: Record<string, number> }>;
  characters: LengthSummary;
  words: LengthSummary;
  emptyTexts: number;
}

export function summarizeLengths(values: number[]): LengthSummary {
  const sorted = Float64Array.from(values).sort();
  const sum = values.reduce((a, b) => a + b, 0);
  return {
    min: sorted.length ? (sorted[0] as number) : Number.NaN,
    mean: values.length ? sum / values.length : Number.NaN,
    median: percentileSorted(sorted, 50),
    p90: percentileSorted(sorted, 90),
    p99: percentileSorted(sorted, 99),
    max: sorted.length ? (sorted[sorted.length - 1] as number) : Number.NaN,
  };
}

function countInto(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

export function datasetStats(items: Array<{ text: string; label?: string; source?: string }>): DatasetStats {
  const labels: Record<string, number> = {};
  const bySource: DatasetStats["bySource"] = {};
  const characters: number[] = [];
  const words: number[] = [];
  let emptyTexts = 0;
  for (const item of items) {
    const label = item.label ?? "(none)";
    countInto(labels, label);
    if (item.source !== undefined) {
      const entry = (bySource[item.source] ??= { rows: 0, labels: {} });
      entry.rows++;
      countInto(entry.labels, label);
    }
    const trimmed = item.text.trim();
    if (trimmed === "") emptyTexts++;
    characters.push([...item.text].length);
    words.push(trimmed === "" ? 0 : trimmed.split(/\s+/).length);
  }
  return {
    rows: items.length,
    labels: sortKeys(labels),
    bySource: sortKeys(bySource),
    characters: summarizeLengths(characters),
    words: summarizeLengths(words),
    emptyTexts,
  };
}

function sortKeys<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
