/** Metrics for ordered labels such as 1–5 stars. Pure. */

export interface OrdinalMetrics {
  exact_accuracy: number;
  off_by_one_accuracy: number;
  mae: number;
  rmse: number;
}

export function ordinalMetrics(gold: ArrayLike<number>, pred: ArrayLike<number>): OrdinalMetrics {
  let exact = 0;
  let near = 0;
  let absolute = 0;
  let squared = 0;
  const n = gold.length;
  for (let i = 0; i < n; i++) {
    const difference = Math.abs((gold[i] as number) - (pred[i] as number));
    if (difference === 0) exact++;
    if (difference <= 1) near++;
    absolute += difference;
    squared += difference * difference;
  }
  return {
    exact_accuracy: n ? exact / n : Number.NaN,
    off_by_one_accuracy: n ? near / n : Number.NaN,
    mae: n ? absolute / n : Number.NaN,
    rmse: n ? Math.sqrt(squared / n) : Number.NaN,
  };
}

/** Collapses ordinal values to two labels at a cut-off: "<=3" and ">3" for cutoff 3. */
export function collapseAtCutoff(values: ArrayLike<number>, cutoff: number): string[] {
  const low = `<=${cutoff}`;
  const high = `>${cutoff}`;
  return Array.from(values as ArrayLike<number>, (value) => (value <= cutoff ? low : high));
}
