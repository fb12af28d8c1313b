/**
 * Table writers for CSV, TSV and JSON Lines, buffered and synchronous so that a row is on disk (and
 * survives a crash) once `flush` returns. Arrays and objects become JSON text in CSV/TSV cells.
 */
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
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

export class TableWriter {
  private readonly fd: number;
  private readonly format: TableFormat;
  private pending: string[] = [];
  private pendingSize = 0;

  constructor(
    readonly file: string,
    readonly columns: string[],
    options: { format?: TableFormat; append?: boolean } = {},
  ) {
    this.format = detectFormat(file, options.format);
    mkdirSync(dirname(file), { recursive: true });
    this.fd = openSync(file, options.append ? "a" : "w");
    if (!options.append && this.format !== "jsonl") this.push(this.joinFields(columns));
  }

  private joinFields(fields: unknown[]): string {
    const delimiter = this.format === "tsv" ? "\t" : ",";
    return fields.map((field) => csvField(field, delimiter)).join(delimiter) + "\n";
  }

  private push(text: string): void {
    this.pending.push(text);
    this.pendingSize += text.length;
    if (this.pendingSize > 1 << 20) this.flush();
  }

  write(row: Record<string, unknown>): void {
    if (this.format === "jsonl") {
      const ordered: Record<string, unknown> = {};
      for (const column of this.columns) ordered[column] = row[column];
      this.push(JSON.stringify(ordered) + "\n");
    } else {
      this.push(this.joinFields(this.columns.map((column) => row[column])));
    }
  }

  flush(): void {
    if (this.pending.length === 0) return;
    writeSync(this.fd, this.pending.join(""));
    this.pending = [];
    this.pendingSize = 0;
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
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
