/**
 * Reading prediction files for evaluation: gold, prediction, optional probability and slice columns,
 * each validated with errors that name the file, line and column.
 */
import { UserError } from "../core/errors.js";
import { cellText, streamRecordBatches, type TableRecord } from "./readers.js";
import { matchLabel, type LabelScheme } from "./labels.js";

export interface PredictionColumns {
  gold: string;
  pred: string;
  /** One column holding a vector per row, or one column per class (comma-separated names). */
  probs?: string;
  by?: string;
}

export interface PredictionFile {
  file: string;
  rows: number;
  lines: number[];
  gold: string[];
  pred: string[];
  /** Raw probability cells (one column) or per-class cells (several columns), parsed later against the label order. */
  probabilityCells?: unknown[][];
  probabilityColumns?: string[];
  by?: string[];
}

function requireColumn(columns: string[], name: string, role: string, file: string): void {
  if (!columns.includes(name)) {
    throw new UserError(`no column "${name}" (${role}); the file has: ${columns.join(", ")}`, { file });
  }
}

/**
 * Reads the columns of a prediction file. With a scheme, gold labels are normalised to it (unknown gold
 * labels are errors) and predictions are normalised where they match (others are kept: they count as wrong).
 */
export async function readPredictionFile(
  file: string,
  columns: PredictionColumns,
  options: { scheme?: LabelScheme } = {},
): Promise<PredictionFile> {
  // Streamed: only the columns evaluation needs are kept, each distinct value stored once (a label
  // repeated a million times is one string, not a million slices of the file's text).
  let header: string[] = [];
  const probabilityColumns = columns.probs?.split(",").map((name) => name.trim());
  const only = [columns.gold, columns.pred, ...(columns.by === undefined ? [] : [columns.by]), ...(probabilityColumns ?? [])];
  const batches = streamRecordBatches(file, { onColumns: (c) => (header = c), only });
  const first = await batches.next();
  requireColumn(header, columns.gold, "--gold", file);
  requireColumn(header, columns.pred, "--pred", file);
  if (columns.by !== undefined) requireColumn(header, columns.by, "--by", file);
  for (const name of probabilityColumns ?? []) requireColumn(header, name, "--probs", file);
  if (first.done) throw new UserError("the file has a header but no rows", { file });

  const result: PredictionFile = {
    file,
    rows: 0,
    lines: [],
    gold: [],
    pred: [],
    probabilityCells: probabilityColumns ? [] : undefined,
    probabilityColumns,
    by: columns.by !== undefined ? [] : undefined,
  };
  const interned = new Map<string, string>();
  const intern = (text: string) => {
    let kept = interned.get(text);
    if (kept === undefined) interned.set((kept = (" " + text).slice(1)), kept);
    return kept;
  };
  const scheme = options.scheme;
  for (let next: IteratorResult<TableRecord[]> = first; !next.done; next = await batches.next()) for (const record of next.value) {
    const goldRaw = cellText(record.values[columns.gold]).trim();
    if (goldRaw === "") throw new UserError("empty gold label", { file, line: record.line, column: columns.gold });
    let gold = goldRaw;
    if (scheme) {
      const matched = matchLabel(scheme, goldRaw);
      if (matched === undefined) {
        throw new UserError(`unknown label "${goldRaw}" (expected one of: ${scheme.labels.join(", ")})`, {
          file,
          line: record.line,
          column: columns.gold,
        });
      }
      gold = matched;
    }
    const predRaw = cellText(record.values[columns.pred]).trim();
    const pred = scheme ? (matchLabel(scheme, predRaw) ?? predRaw) : predRaw;
    result.lines.push(record.line);
    result.gold.push(intern(gold));
    result.pred.push(intern(pred));
    if (probabilityColumns) result.probabilityCells!.push(probabilityColumns.map((name) => record.values[name]));
    if (columns.by !== undefined) result.by!.push(intern(cellText(record.values[columns.by])));
  }
  result.rows = result.gold.length;
  return result;
}

/** A vector from a cell: a JSON array, numpy's "[0.1 0.2 0.7]", or a bare number. */
export function parseProbabilityCell(value: unknown): number[] | undefined {
  if (Array.isArray(value)) return value.every((v) => typeof v === "number") ? (value as number[]) : undefined;
  if (typeof value === "number") return [value];
  if (typeof value !== "string") return undefined;
  const text = value.trim();
  if (text === "") return undefined;
  const inner = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const parts = inner.split(/[\s,]+/).filter((part) => part.length > 0);
  if (parts.length === 0) return undefined;
  const numbers = parts.map(Number);
  return numbers.every((n) => Number.isFinite(n)) ? numbers : undefined;
}

/**
 * The n × k probability matrix in label order. A single number in a binary task is the probability
 * of the second label (scikit-learn's positive class). Vectors must have k entries in [0, 1] summing to
 * 1 ± tolerance. An empty cell (no answer, e.g. an unparseable LLM reply) is a row of NaN.
 */
export function probabilityMatrix(predictions: PredictionFile, k: number, labels: readonly string[], tolerance = 1e-3): Float64Array {
  const cells = predictions.probabilityCells;
  const columnNames = predictions.probabilityColumns ?? [];
  if (!cells) throw new Error("no probability columns were read");
  const perClassColumns = columnNames.length > 1;
  if (perClassColumns && columnNames.length !== k) {
    throw new UserError(
      `--probs names ${columnNames.length} columns but there are ${k} labels (${labels.join(", ")})`,
      { file: predictions.file },
    );
  }
  const matrix = new Float64Array(cells.length * k);
  cells.forEach((row, i) => {
    const where = { file: predictions.file, line: predictions.lines[i], column: columnNames.join(",") };
    let vector: number[] | undefined;
    if (row.every((cell) => cell === undefined || cell === null || (typeof cell === "string" && cell.trim() === ""))) {
      matrix.fill(Number.NaN, i * k, (i + 1) * k);
      return;
    }
    if (perClassColumns) {
      vector = row.map((cell) => {
        const parsed = parseProbabilityCell(cell);
        return parsed && parsed.length === 1 ? (parsed[0] as number) : Number.NaN;
      });
      if (vector.some((v) => Number.isNaN(v))) vector = undefined;
    } else {
      vector = parseProbabilityCell(row[0]);
      if (vector && vector.length === 1 && k === 2) vector = [1 - (vector[0] as number), vector[0] as number];
    }
    if (!vector) throw new UserError(`cannot read a probability vector from "${cellText(row[0])}"`, where);
    if (vector.length !== k) {
      throw new UserError(`probability vector has ${vector.length} values but there are ${k} labels (${labels.join(", ")})`, where);
    }
    let sum = 0;
    for (const v of vector) {
      if (v < 0 || v > 1) throw new UserError(`probability ${v} is outside [0, 1]`, where);
      sum += v;
    }
    if (Math.abs(sum - 1) > tolerance) {
      throw new UserError(`probabilities sum to ${sum.toPrecision(6)}, not 1`, where);
    }
    matrix.set(vector, i * k);
  });
  return matrix;
}
