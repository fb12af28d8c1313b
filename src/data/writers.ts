/**
 * Table writers for CSV, TSV and JSON Lines, buffered and synchronous so that a row is on disk (and
 * survives a crash) once `flush` returns. Arrays and objects become JSON text in CSV/TSV cells.
 */
import { closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { UserError } from "../core/errors.js";
import { partialName } from "../core/files.js";
import { dirname } from "node:path";
import { detectFormat, type TableFormat } from "./readers.js";

export function csvField(value: unknown, delimiter = ","): string {
  let text: string;
  if (value === undefined || value === null) text = "";
  else if (typeof value === "string") text = value;
  else if (typeof value === "number" || typeof value === "boolean") text = String(value);
  else text = JSON.stringify(value);
  const needsQuotes =
    text.includes(delimiter) || text.includes('"') || text.includes("\n") || text.includes("\r");
  return needsQuotes ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The text of a table's header and rows in a format (CSV/TSV: a header line; JSONL: none), for writers and streams. */
export function tableLines(format: TableFormat, columns: readonly string[]): { header: string; line(row: Record<string, unknown>): string } {
  const delimiter = format === "tsv" ? "\t" : ",";
  const join = (fields: unknown[]) => fields.map((field) => csvField(field, delimiter)).join(delimiter) + "\n";
  if (format === "jsonl") {
    return {
      header: "",
      line(row) {
        const ordered: Record<string, unknown> = {};
        for (const column of columns) ordered[column] = row[column];
        return JSON.stringify(ordered) + "\n";
      },
    };
  }
  return { header: join([...columns]), line: (row) => join(columns.map((column) => row[column])) };
}

export class TableWriter {
  private readonly fd: number;
  private readonly lines: ReturnType<typeof tableLines>;
  /** Where the rows go until close() renames it to `file` (unless appending). */
  private readonly target: string;
  private pending: string[] = [];
  private pendingSize = 0;

  constructor(
    readonly file: string,
    readonly columns: string[],
    options: { format?: TableFormat; append?: boolean } = {},
  ) {
    this.lines = tableLines(detectFormat(file, options.format), columns);
    if (existsSync(file) && statSync(file).isDirectory()) throw new UserError("is a folder, not a file", { file });
    mkdirSync(dirname(file), { recursive: true });
    // A new file is written under a temporary name and renamed when complete: a kill never leaves a
    // shorter file under the final name.
    this.target = options.append ? file : partialName(file);
    this.fd = openSync(this.target, options.append ? "a" : "w");
    if (!options.append && this.lines.header) this.push(this.lines.header);
  }

  private push(text: string): void {
    this.pending.push(text);
    this.pendingSize += text.length;
    if (this.pendingSize > 1 << 20) this.flush();
  }

  write(row: Record<string, unknown>): void {
    this.push(this.lines.line(row));
  }

  flush(): void {
    if (this.pending.length === 0) return;
    writeSync(this.fd, this.pending.join(""));
    this.pending = [];
    this.pendingSize = 0;
  }

  private closed = false;

  close(): void {
    this.flush();
    this.closed = true;
    closeSync(this.fd);
    if (this.target === this.file) return;
    try {
      renameSync(this.target, this.file);
    } catch (error) {
      rmSync(this.target, { force: true });
      throw error;
    }
  }

  /** Drops what was written (a new file is never created). */
  abandon(): void {
    if (!this.closed) closeSync(this.fd);
    this.closed = true;
    if (this.target !== this.file) rmSync(this.target, { force: true });
  }
}

/** Writes a whole table at once. */
export function writeTable(
  file: string,
  columns: string[],
  rows: Iterable<Record<string, unknown>>,
  options: { format?: TableFormat } = {},
): void {
  const writer = new TableWriter(file, columns, options);
  for (const row of rows) writer.write(row);
  writer.close();
}
