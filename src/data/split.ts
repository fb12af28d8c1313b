/**
 * Stratified, seeded splits and samples. Deterministic across runs and platforms: labels are taken in
 * sorted order, each label's rows are shuffled by the project's own seeded generator, and each label's
 * rows are shared out by the largest-remainder rule.
 */
import { UserError } from "../core/errors.js";
import { Random } from "../core/random.js";

/** Integer counts proportional to `fractions` that add up to `total` (largest remainder, ties to the earlier part). */
export function apportion(total: number, fractions: number[]): number[] {
  const sum = fractions.reduce((a, b) => a + b, 0);
  const exact = fractions.map((f) => (total * f) / sum);
  const counts = exact.map(Math.floor);
  let left = total - counts.reduce((a, b) => a + b, 0);
  const order = exact
    .map((value, index) => ({ index, remainder: value - Math.floor(value) }))
    .sort((a, b) => b.remainder - a.remainder || a.index - b.index);
  for (const { index } of order) {
    if (left <= 0) break;
    counts[index] = (counts[index] as number) + 1;
    left--;
  }
  return counts;
}

/** Parses "80/10/10", "0.8,0.1,0.1" or "80,20" into fractions that add up to 1. */
export function parseFractions(spec: string): number[] {
  const parts = spec.split(/[/,:]/).map((part) => Number(part.trim()));
  if (parts.length < 2 || parts.some((part) => !Number.isFinite(part) || part < 0)) {
    throw new UserError(`invalid split "${spec}": use proportions such as 80/10/10 or 0.9,0.1`);
  }
  const sum = parts.reduce((a, b) => a + b, 0);
  if (sum <= 0) throw new UserError(`invalid split "${spec}": the proportions add up to zero`);
  return parts.map((part) => part / sum);
}

/**
 * Indices of each part, stratified by `strata` (one key per item; pass one shared key for no
 * stratification). Each part's indices are returned in their original order.
 */
export function stratifiedSplit(strata: string[], fractions: number[], seed: number): number[][] {
  const groups = new Map<string, number[]>();
  strata.forEach((key, index) => {
    let group = groups.get(key);
    if (!group) groups.set(key, (group = []));
    group.push(index);
  });
  const random = new Random(seed);
  const parts: number[][] = fractions.map(() => []);
  for (const key of [...groups.keys()].sort()) {
    const members = random.shuffle([...(groups.get(key) as number[])]);
    const counts = apportion(members.length, fractions);
    let offset = 0;
    counts.forEach((count, part) => {
      (parts[part] as number[]).push(...members.slice(offset, offset + count));
      offset += count;
    });
  }
  return parts.map((part) => part.sort((a, b) => a - b));
}

/** A stratified sample of `fraction` (0–1] of the items; indices in original order. */
export function stratifiedSample(strata: string[], fraction: number, seed: number): number[] {
  if (!(fraction > 0 && fraction <= 1)) throw new UserError(`sample fraction must be in (0, 1], got ${fraction}`);
  if (fraction === 1) return strata.map((_, index) => index);
  return stratifiedSplit(strata, [fraction, 1 - fraction], seed)[0] as number[];
}

/** `n` items spread evenly through `items` (all of them when there are no more than `n`), in order. */
export function evenlySpaced<T>(items: readonly T[], n: number): T[] {
  if (items.length <= n) return [...items];
  return Array.from({ length: n }, (_, i) => items[Math.floor((i * items.length) / n)] as T);
}
