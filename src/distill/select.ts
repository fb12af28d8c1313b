/**
 * Which texts `tandem distill` asks its teacher about, round by round. Pure and seeded.
 *
 * The calibration sample is drawn once, before any training, as a uniformly random order over the pool:
 * each round labels the next stretch of it, so whatever the rounds and the budget, the calibration rows
 * labelled are a uniform random sample of the pool and independent of the student. The training picks
 * never touch it: a random sample stratified by text length, or in rounds after the first with selection
 * "margin", the texts the current student is least sure of (smallest margin between its two most probable labels).
 */
import { Random } from "../core/random.js";
import { stratifiedSplit } from "../data/split.js";

/** Four strata of text length (quartiles of the pool's lengths in characters). */
export function lengthStrata(texts: readonly string[]): string[] {
  const lengths = texts.map((t) => t.length);
  const sorted = [...lengths].sort((a, b) => a - b);
  const cut = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  const edges = [cut(0.25), cut(0.5), cut(0.75)];
  return lengths.map((length) => `q${edges.filter((edge) => length > edge).length}`);
}

/** A seeded uniformly random order of 0 … n−1 (the calibration stream). */
export function calibrationOrder(n: number, seed: number): number[] {
  return new Random(seed).shuffle(Array.from({ length: n }, (_, i) => i));
}

/** Exactly `count` candidates, stratified by length (each stratum in proportion), in index order. */
export function stratifiedByLength(candidates: readonly number[], strata: readonly string[], count: number, seed: number): number[] {
  if (count >= candidates.length) return [...candidates];
  if (count <= 0) return [];
  const [picked, rest] = stratifiedSplit(candidates.map((i) => strata[i]!), [count / candidates.length, 1 - count / candidates.length], seed) as [number[], number[]];
  // Rounding in each stratum can miss the count by a text or two: trim or top up at random (seeded), so a
  // round asks about exactly the texts it says.
  const random = new Random(seed + 1);
  const exact = picked.length > count ? random.shuffle([...picked]).slice(0, count) : [...picked, ...random.shuffle([...rest]).slice(0, count - picked.length)];
  return exact.sort((a, b) => a - b).map((j) => candidates[j]!);
}

/** Top-1 minus top-2 probability of each row of a [rows × k] matrix. */
export function margins(probabilities: Float32Array | Float64Array, k: number): Float64Array {
  const rows = probabilities.length / k;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let first = -Infinity;
    let second = -Infinity;
    for (let c = 0; c < k; c++) {
      const p = probabilities[r * k + c] as number;
      if (p > first) {
        second = first;
        first = p;
      } else if (p > second) second = p;
    }
    out[r] = k > 1 ? first - second : first;
  }
  return out;
}

/** The `count` candidates with the smallest margin (ties to the lower index), in that order. */
export function leastSure(candidates: readonly number[], margin: ArrayLike<number>, count: number): number[] {
  return [...candidates].sort((a, b) => (margin[a] as number) - (margin[b] as number) || a - b).slice(0, Math.max(0, count));
}
