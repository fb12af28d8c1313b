/**
 * Tabular readers: CSV and TSV (RFC 4180 quoting through csv-parse) and JSON Lines. Files are streamed,
 * decoded as strict UTF-8, and every record carries the line it starts on so that errors can point at it.
 */
import { createReadStream, promises as fs, readFileSync } from "node:fs";
import { extname } from "node:path";
import { Readable, pipeline } from "node:stream";
import { parse } from "csv-parse";
import { UserError } from "../core/errors.js";
import { findInvalidUtf8, lineOfOffset } from "./utf8.js";

export type TableFormat = "csv" | "tsv" | "jsonl";

/** One row: its 1-based starting line in the file and its cells by column name. */
export interface TableRecord {
  line: number;
  values: Record<string, unknown>;
}

export interface Table {
  file: string;
  format: TableFormat;
  columns: string[];
  records: TableRecord[];
}

export interface ReadOptions {
  /** Overrides detection from the file extension. */
  format?: TableFormat;
}

export function detectFormat(file: string, explicit?: TableFormat): TableFormat {
  if (explicit) return explicit;
  const ext = extname(file).toLowerCase();
  if (ext === ".tsv" || ext === ".tab") return "tsv";
  if (ext === ".jsonl" || ext === ".ndjson") return "jsonl";
  return "csv";
}

/** Text of a cell for label-like use: strings stay, numbers and booleans print, null/undefined are "". */
export function cellText(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value);
}

async function checkReadable(file: string): Promise<void> {
  let stat;
  try {
    stat = await fs.stat(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new UserError("file not found", { file });
    if (code === "EACCES") throw new UserError("permission denied", { file });
    throw new UserError(`cannot open file (${code ?? String(error)})`, { file });
  }
  if (stat.isDirectory()) throw new UserError("is a directory, expected a file", { file });
  if (stat.size === 0) throw new UserError("file is empty", { file });
}

/** Decoded text chunks of a file; invalid UTF-8 is a UserError naming the line. */
async function* decodedChunks(file: string): AsyncGenerator<string> {
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
  try {
    for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
      yield decoder.decode(chunk as Buffer, { stream: true });
    }
    yield decoder.decode();
  } catch (error) {
    if (error instanceof TypeError) {
      const bytes = readFileSync(file);
      const offset = findInvalidUtf8(bytes);
      const line = offset >= 0 ? lineOfOffset(bytes, offset) : undefined;
      throw new UserError(
        `invalid UTF-8${offset >= 0 ? ` at byte ${offset}` : ""}; save the file as UTF-8`,
        { file, line },
      );
    }
    throw error;
  }
}

/**
 * Streams the records of a table. The header (CSV/TSV) or the keys of the first object (JSONL) give the
 * columns, which `onColumns` receives before the first record.
 */
export async function* streamRecords(
  file: string,
  options: ReadOptions & { onColumns?: (columns: string[]) => void } = {},
): AsyncGenerator<TableRecord> {
  await checkReadable(file);
  const format = detectFormat(file, options.format);
  if (format === "jsonl") {
    yield* streamJsonl(file, options.onColumns);
  } else {
    yield* streamDelimited(file, format === "tsv" ? "\t" : ",", options.onColumns);
  }
}

async function* streamDelimited(
  file: string,
  delimiter: string,
  onColumns?: (columns: string[]) => void,
): AsyncGenerator<TableRecord> {
  const parser = parse({
    bom: true,
    delimiter,
    info: true,
    skip_empty_lines: true,
    relax_quotes: delimiter === "\t",
  });
  // pipeline() carries backpressure and errors both ways: a decoding error ends the parse with it, and
  // leaving the loop early (an error in a row) tears the file stream down.
  pipeline(Readable.from(decodedChunks(file)), parser, () => {});

  let columns: string[] | undefined;
  let previousEndLine = 0;
  let previousEmptyLines = 0;
  try {
    for await (const item of parser as AsyncIterable<{ record: string[]; info: { lines: number; empty_lines: number } }>) {
      const startLine = previousEndLine + 1 + (item.info.empty_lines - previousEmptyLines);
      previousEndLine = item.info.lines;
      previousEmptyLines = item.info.empty_lines;
      if (!columns) {
        columns = item.record.map((name) => name.trim());
        const seen = new Set<string>();
        for (const name of columns) {
          if (name === "") throw new UserError("the header has an empty column name", { file, line: startLine });
          if (seen.has(name)) throw new UserError(`the header names column "${name}" twice`, { file, line: startLine });
          seen.add(name);
        }
        onColumns?.(columns);
        continue;
      }
      const values: Record<string, unknown> = {};
      for (let i = 0; i < columns.length; i++) values[columns[i] as string] = item.record[i];
      yield { line: startLine, values };
    }
  } catch (error) {
    throw translateCsvError(error, file, columns?.length);
  }
  if (!columns) throw new UserError("file has no header row", { file });
}

function translateCsvError(error: unknown, file: string, expected?: number): unknown {
  if (error instanceof UserError) return error;
  const csvError = error as { code?: string; lines?: number; record?: unknown[]; message?: string };
  // csv-parse's codes mostly start with CSV_, but not all (INVALID_OPENING_QUOTE).
  if (typeof csvError.code !== "string" || !/^[A-Z_]+$/.test(csvError.code) || typeof csvError.lines !== "number") return error;
  const line = csvError.lines;
  switch (csvError.code) {
    case "CSV_RECORD_INCONSISTENT_FIELDS_LENGTH":
      return new UserError(
        `ragged row: expected ${expected ?? "?"} fields as in the header, found ${csvError.record?.length ?? "?"}`,
        { file, line },
      );
    case "CSV_QUOTE_NOT_CLOSED":
      return new UserError("a quoted field is never closed (missing closing double quote)", { file, line });
    case "INVALID_OPENING_QUOTE":
      return new UserError('a quote appears inside an unquoted field; quote the whole field and double the quotes inside ("")', { file, line });
    case "CSV_INVALID_CLOSING_QUOTE":
      return new UserError('a closing quote is followed by text; quotes inside a field must be doubled ("")', { file, line });
    default:
      return new UserError(`malformed CSV (${csvError.message ?? csvError.code})`, { file, line });
  }
}

async function* streamJsonl(file: string, onColumns?: (columns: string[]) => void): AsyncGenerator<TableRecord> {
  let buffer = "";
  let line = 0;
  let announced = false;
  const handle = function* (text: string): Generator<TableRecord> {
    line++;
    const trimmed = line === 1 ? text.replace(/^\uFEFF/, "").trim() : text.trim();
    if (trimmed === "") return;
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch (error) {
      throw new UserError(`invalid JSON (${(error as Error).message})`, { file, line });
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new UserError("each line must be a JSON object", { file, line });
    }
    if (!announced) {
      onColumns?.(Object.keys(value));
      announced = true;
    }
    yield { line, values: value as Record<string, unknown> };
  };
  for await (const text of decodedChunks(file)) {
    buffer += text;
    let start = 0;
    let newline = buffer.indexOf("\n", start);
    while (newline >= 0) {
      yield* handle(buffer.slice(start, newline));
      start = newline + 1;
      newline = buffer.indexOf("\n", start);
    }
    buffer = buffer.slice(start);
  }
  if (buffer.length > 0) yield* handle(buffer);
  if (!announced) throw new UserError("file has no JSON records", { file });
}

/** Reads a whole table into memory. */
export async function readTable(file: string, options: ReadOptions = {}): Promise<Table> {
  let columns: string[] = [];
  const records: TableRecord[] = [];
  for await (const record of streamRecords(file, { ...options, onColumns: (c) => (columns = c) })) {
    records.push(record);
  }
  return { file, format: detectFormat(file, options.format), columns, records };
}
