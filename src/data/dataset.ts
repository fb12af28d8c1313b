/**
 * A labelled (or unlabelled) text dataset read from CSV/TSV/JSONL or SST trees, with column roles
 * resolved from explicit names or guessed from common ones.
 */
import { openSync, readSync, closeSync } from "node:fs";
import { UserError } from "../core/errors.js";
import { cellText, streamRecords, type TableFormat } from "./readers.js";
import { requireLabel, type LabelScheme } from "./labels.js";
import { looksLikeSstTrees, readSstFile, type SstLabels, type SstLevel } from "./sst.js";

export const TEXT_COLUMN_GUESSES = ["sentence", "text", "review", "content", "body", "document", "utterance"];
export const LABEL_COLUMN_GUESSES = ["label", "classification", "star", "stars", "rating", "gold", "sentiment", "class"];
export const SOURCE_COLUMN_GUESSES = ["source", "dataset", "origin"];

export interface ColumnChoice {
  text?: string;
  /** The gold label column; null: none (no guessing). */
  label?: string | null;
  source?: string;
}

export interface Example {
  text: string;
  label?: string;
  source?: string;
  /** 1-based line in the file the example came from. */
  line: number;
  /** Every cell of the row, for writing the row back out unchanged. */
  row: Record<string, unknown>;
}

export interface Dataset {
  file: string;
  columns: string[];
  textColumn: string;
  labelColumn?: string;
  sourceColumn?: string;
  examples: Example[];
}

export interface LoadOptions {
  columns?: ColumnChoice;
  format?: TableFormat | "sst";
  /** When given, labels are normalised to it and unknown labels are errors. */
  scheme?: LabelScheme;
  /** A missing label column is an error (default true). */
  requireLabels?: boolean;
  sstLevel?: SstLevel;
  sstLabels?: SstLabels;
}

/** Picks a column by explicit name (must exist) or the first common name present (case-insensitive). */
export function resolveColumn(
  columns: string[],
  explicit: string | undefined,
  guesses: string[],
  role: string,
  file: string,
  required: boolean,
): string | undefined {
  if (explicit !== undefined) {
    if (!columns.includes(explicit)) {
      throw new UserError(`no column "${explicit}" for the ${role} (columns: ${columns.join(", ")})`, { file });
    }
    return explicit;
  }
  for (const guess of guesses) {
    const found = columns.find((column) => column.toLowerCase() === guess);
    if (found !== undefined) return found;
  }
  if (required) {
    throw new UserError(
      `cannot tell which column holds the ${role} (columns: ${columns.join(", ")}); name it with --${role === "text" ? "text" : role}-col`,
      { file },
    );
  }
  return undefined;
}

function peek(file: string): string {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return "";
  }
  const buffer = Buffer.alloc(64);
  const n = readSync(fd, buffer, 0, 64, 0);
  closeSync(fd);
  return buffer.subarray(0, n).toString("utf8");
}

export async function loadDataset(file: string, options: LoadOptions = {}): Promise<Dataset> {
  let whole: Dataset | undefined;
  for await (const part of streamDataset(file, options, Infinity)) whole = part;
  return whole!;
}

/**
 * The dataset in parts of `chunkSize` examples, read as the file streams (memory bounded by a part);
 * every part carries the columns. The same checks and errors as loadDataset.
 */
export async function* streamDataset(file: string, options: LoadOptions = {}, chunkSize = 10_000): AsyncGenerator<Dataset> {
  const requireLabels = options.requireLabels ?? true;
  const isSst = options.format === "sst" || (options.format === undefined && file.endsWith(".txt") && looksLikeSstTrees(peek(file)));
  if (isSst) {
    const examples = readSstFile(file, { level: options.sstLevel, labels: options.sstLabels }).map((example) => {
      const label = options.scheme ? requireLabel(options.scheme, example.label, { file, line: example.line }) : example.label;
      return { text: example.text, label, line: example.line, row: { sentence: example.text, label } };
    });
    for (let start = 0; start < examples.length; start += chunkSize) {
      yield { file, columns: ["sentence", "label"], textColumn: "sentence", labelColumn: "label", examples: examples.slice(start, start + chunkSize) };
    }
    return;
  }
  let shape: Omit<Dataset, "examples"> | undefined;
  const describe = (columns: string[]) => {
    shape = {
      file,
      columns,
      textColumn: resolveColumn(columns, options.columns?.text, TEXT_COLUMN_GUESSES, "text", file, true) as string,
      labelColumn: options.columns?.label === null ? undefined : resolveColumn(columns, options.columns?.label, LABEL_COLUMN_GUESSES, "label", file, requireLabels),
      sourceColumn: resolveColumn(columns, options.columns?.source, SOURCE_COLUMN_GUESSES, "source", file, false),
    };
  };
  let examples: Example[] = [];
  let seen = 0;
  for await (const record of streamRecords(file, { format: options.format === "sst" ? undefined : options.format, onColumns: describe })) {
    const { textColumn, labelColumn, sourceColumn } = shape!;
    const text = cellText(record.values[textColumn]);
    // A NUL is no text a model reads (it would silently change the tokens): refused where it is.
    if (text.includes("\u0000")) throw new UserError("the text holds a NUL character (\\u0000): remove it", { file, line: record.line, column: textColumn });
    let label: string | undefined;
    if (labelColumn !== undefined) {
      const raw = cellText(record.values[labelColumn]);
      if (raw.trim() === "") throw new UserError("empty label", { file, line: record.line, column: labelColumn });
      label = options.scheme ? requireLabel(options.scheme, raw, { file, line: record.line, column: labelColumn }) : raw.trim();
    }
    const source = sourceColumn !== undefined ? cellText(record.values[sourceColumn]) : undefined;
    examples.push({ text, label, source, line: record.line, row: record.values });
    seen++;
    if (examples.length >= chunkSize) {
      yield { ...shape!, examples };
      examples = [];
    }
  }
  if (!shape) throw new UserError("file has no header row", { file });
  if (seen === 0) throw new UserError("the file has a header but no rows", { file });
  if (examples.length > 0) yield { ...shape, examples };
}
