/**
 * Tabular readers: CSV and TSV (RFC 4180 quoting, tandem's streaming parser in csv.ts) and JSON Lines. Files are streamed,
 * decoded as strict UTF-8, and every record carries the line it starts on so that errors can point at it.
 */
import { createReadStream, promises as fs, readFileSync } from "node:fs";
import { extname } from "node:path";
import { CsvSyntaxError, DelimitedParser } from "./csv.js";
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
  options: ReadOptions & { onColumns?: (columns: string[]) => void; only?: readonly string[] } = {},
): AsyncGenerator<TableRecord> {
  for await (const batch of streamRecordBatches(file, options)) yield* batch;
}

/**
 * The records of a table in batches (one per chunk of the file read): the same records as
 * streamRecords, without an await per record — what readers of million-row files loop over.
 */
export async function* streamRecordBatches(
  file: string,
  options: ReadOptions & { onColumns?: (columns: string[]) => void; only?: readonly string[] } = {},
): AsyncGenerator<TableRecord[]> {
  await checkReadable(file);
  const format = detectFormat(file, options.format);
  if (format === "jsonl") {
    for await (const record of streamJsonl(file, options.onColumns)) yield [record];
  } else {
    yield* streamDelimited(file, format === "tsv" ? "\t" : ",", options.onColumns, options.only);
  }
}

async function* streamDelimited(
  file: string,
  delimiter: string,
  onColumns?: (columns: string[]) => void,
  only?: readonly string[],
): AsyncGenerator<TableRecord[]> {
  const parser = new DelimitedParser(delimiter, delimiter === "\t");
  let columns: string[] | undefined;
  // The cells a record carries: every column, or only those asked for (less to build per row).
  let kept: number[] = [];
  const rowsOf = (text: string, final: boolean) => {
    try {
      return parser.push(text, final);
    } catch (error) {
      if (error instanceof CsvSyntaxError) throw new UserError(`${error.message} (column ${error.column})`, { file, line: error.line });
      throw error;
    }
  };
  const chunks = decodedChunks(file);
  for (let final = false; !final; ) {
    const next = await chunks.next();
    final = next.done === true;
    const batch: TableRecord[] = [];
    for (const row of rowsOf(next.done ? "" : next.value, final)) {
      if (!columns) {
        columns = row.fields.map((name) => name.trim());
        const seen = new Set<string>();
        for (const name of columns) {
          if (name === "") throw new UserError("the header has an empty column name", { file, line: row.line });
          if (seen.has(name)) throw new UserError(`the header names column "${name}" twice`, { file, line: row.line });
          seen.add(name);
        }
        onColumns?.(columns);
        kept = columns.map((_, i) => i).filter((i) => !only || only.includes(columns![i] as string));
        continue;
      }
      if (row.fields.length !== columns.length) {
        throw new UserError(`ragged row: expected ${columns.length} fields as in the header, found ${row.fields.length}`, { file, line: row.line });
      }
      const values: Record<string, unknown> = {};
      for (const i of kept) values[columns[i] as string] = row.fields[i];
      batch.push({ line: row.line, values });
    }
    if (batch.length > 0) yield batch;
  }
  if (!columns) throw new UserError("file has no header row", { file });
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
