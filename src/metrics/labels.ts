/** Label sets and integer encoding shared by every metric. Pure. */

const NUMERIC = /^-?\d+(\.\d+)?$/;

/**
 * scikit-learn's `unique_labels` order: sorted. Labels that all look like numbers sort numerically
 * (as they would after pandas read them as numbers), anything else by code point.
 */
export function sortLabels(values: Iterable<string>): string[] {
  // An empty cell is "no prediction" (e.g. an unparseable LLM answer): never a class, always wrong.
  const unique = [...new Set(values)].filter((value) => value !== "");
  if (unique.length > 0 && unique.every((value) => NUMERIC.test(value))) {
    return unique.sort((a, b) => Number(a) - Number(b));
  }
  return unique.sort(compareCodePoints);
}

/**
 * Orders strings by Unicode code points, as numpy sorts them (JavaScript's < compares UTF-16 code
 * units, which puts characters beyond the Basic Multilingual Plane before U+E000–U+FFFF).
 */
export function compareCodePoints(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(j)!;
    if (x !== y) return x - y;
    i += x > 0xffff ? 2 : 1;
    j += y > 0xffff ? 2 : 1;
  }
  return a.length - i - (b.length - j);
}

export interface EncodedPairs {
  labels: string[];
  /** Class index per item; `labels.length` marks a label outside the list, `labels.length + 1` an empty cell. */
  gold: Int32Array;
  pred: Int32Array;
  /** 1 where the prediction equals the gold label as text (scikit-learn's accuracy counts these). */
  correct: Uint8Array;
}

/** Encodes gold and predicted labels as indices into `labels` (default: the sorted union). */
export function encodePairs(gold: readonly string[], pred: readonly string[], labels?: readonly string[]): EncodedPairs {
  if (gold.length !== pred.length) {
    throw new RangeError(`gold has ${gold.length} items but predictions have ${pred.length}`);
  }
  const list = labels ? [...labels] : sortLabels(unionOf(gold, pred));
  const index = new Map<string, number>();
  list.forEach((label, i) => index.set(label, i));
  index.set("", list.length + 1);
  const outside = list.length;
  const encode = (values: readonly string[]) => {
    const out = new Int32Array(values.length);
    for (let i = 0; i < values.length; i++) out[i] = index.get(values[i] as string) ?? outside;
    return out;
  };
  const correct = new Uint8Array(gold.length);
  for (let i = 0; i < gold.length; i++) correct[i] = gold[i] === pred[i] && gold[i] !== "" ? 1 : 0;
  return { labels: list, gold: encode(gold), pred: encode(pred), correct };
}

/** The distinct values of several columns, without building their concatenation. */
export function unionOf(...columns: ReadonlyArray<readonly string[]>): Set<string> {
  const values = new Set<string>();
  for (const column of columns) for (const value of column) values.add(value);
  return values;
}

/** Per-class counts over the listed labels, plus totals. */
export interface ClassCounts {
  tp: Float64Array;
  predSum: Float64Array;
  trueSum: Float64Array;
  /** Items counted, items whose prediction equals the gold label, and non-empty values outside the list. */
  total: number;
  correct: number;
  outside: number;
}

/** Counts over all items, or over `indices` only (a slice). */
export function classCounts(encoded: EncodedPairs, indices?: ArrayLike<number>): ClassCounts {
  const k = encoded.labels.length;
  // Two extra slots collect "outside the list" and "empty" so that the hot loop needs no branch.
  const tp = new Float64Array(k + 2);
  const predSum = new Float64Array(k + 2);
  const trueSum = new Float64Array(k + 2);
  const { gold, pred, correct: same } = encoded;
  const n = indices ? indices.length : gold.length;
  let correct = 0;
  for (let t = 0; t < n; t++) {
    const i = indices ? (indices[t] as number) : t;
    const g = gold[i] as number;
    const p = pred[i] as number;
    trueSum[g]++;
    predSum[p]++;
    if (g === p) tp[g]++;
    correct += same[i] as number;
  }
  return {
    tp: tp.subarray(0, k),
    predSum: predSum.subarray(0, k),
    trueSum: trueSum.subarray(0, k),
    total: n,
    correct,
    outside: (trueSum[k] as number) + (predSum[k] as number),
  };
}

/** Counts restricted to a subset of the classes (by index), keeping the totals. */
export function selectClasses(counts: ClassCounts, classes: number[]): ClassCounts {
  const pick = (values: Float64Array) => Float64Array.from(classes, (c) => values[c] as number);
  return { ...counts, tp: pick(counts.tp), predSum: pick(counts.predSum), trueSum: pick(counts.trueSum) };
}
