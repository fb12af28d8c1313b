/** Metrics for ordered labels such as 1–5 stars. Pure. */

export interface OrdinalMetrics {
  /** Shares of all rows; an empty or non-numeric prediction counts as wrong. */
  exact_accuracy: number;
  off_by_one_accuracy: number;
  /** Over the rows with a numeric prediction. */
  mae: number;
  rmse: number;
  /** Rows whose prediction is empty or not a number (wrong in the accuracies, left out of MAE and RMSE). */
  invalid_predictions: number;
}

/** A cell as an ordinal value: NaN when empty or not a number (never 0 for an empty cell). */
export function ordinalValue(cell: unknown): number {
  const text = String(cell ?? "").trim();
  return text === "" ? Number.NaN : Number(text);
}

export function ordinalMetrics(gold: ArrayLike<number>, pred: ArrayLike<number>): OrdinalMetrics {
  let exact = 0;
  let near = 0;
  let absolute = 0;
  let squared = 0;
  let valid = 0;
  const n = gold.length;
  for (let i = 0; i < n; i++) {
    const difference = Math.abs((gold[i] as number) - (pred[i] as number));
    if (Number.isNaN(difference)) continue;
    valid++;
    if (difference === 0) exact++;
    if (difference <= 1) near++;
    absolute += difference;
    squared += difference * difference;
  }
  return {
    exact_accuracy: n ? exact / n : Number.NaN,
    off_by_one_accuracy: n ? near / n : Number.NaN,
    mae: valid ? absolute / valid : Number.NaN,
    rmse: valid ? Math.sqrt(squared / valid) : Number.NaN,
    invalid_predictions: n - valid,
  };
}

/** Collapses ordinal values to two labels at a cut-off: "<=3" and ">3" for cutoff 3. */
export function collapseAtCutoff(values: ArrayLike<number>, cutoff: number): string[] {
  const low = `<=${cutoff}`;
  const high = `>${cutoff}`;
  // No value (an empty or non-numeric prediction) is no class: counted as wrong, never as one side.
  return Array.from(values as ArrayLike<number>, (value) => (Number.isNaN(value) ? "" : value <= cutoff ? low : high));
}
