/**
 * A streaming RFC 4180 parser for CSV and TSV, built for tandem's files: most lines hold no quote at
 * all, so a line without one is cut with one native split; only lines with quotes go through the
 * character-level state machine (doubled quotes, quoted delimiters and newlines, CRLF). Text arrives in
 * chunks; a record cut by a chunk's end waits for the next. Every record carries the line it starts
 * on, and every error names the line and column. Pure computation: strings in, rows out.
 */

export interface CsvRow {
  /** 1-based line the record starts on. */
  line: number;
  fields: string[];
}

export class CsvSyntaxError extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(message);
    this.name = "CsvSyntaxError";
  }
}

const QUOTE = 34;
const CR = 13;
const LF = 10;

export class DelimitedParser {
  private rest = "";
  /** Line number of the first character of `rest`. */
  private line = 1;
  private started = false;
  private readonly separator: number;

  /** relaxQuotes: a quote inside an unquoted field is an ordinary character (TSV), not an error. */
  constructor(
    private readonly delimiter: string,
    private readonly relaxQuotes = false,
  ) {
    if (delimiter.length !== 1) throw new RangeError("the delimiter must be one character");
    this.separator = delimiter.charCodeAt(0);
  }

  /** The complete records in what has arrived so far; `final` marks the end of the input. Empty lines are skipped. */
  push(text: string, final = false): CsvRow[] {
    let data = this.rest.length > 0 ? this.rest + text : text;
    if (!this.started && data.length > 0) {
      this.started = true;
      if (data.charCodeAt(0) === 0xfeff) data = data.slice(1);
    }
    const rows: CsvRow[] = [];
    const length = data.length;
    let position = 0;
    let line = this.line;
    // The next quote at or after `position` (length: none), found once and reused while lines pass it.
    let quote = -1;
    while (position < length) {
      const newline = data.indexOf("\n", position);
      if (newline < 0 && !final) break;
      const end = newline < 0 ? length : newline;
      if (quote < position) {
        quote = data.indexOf('"', position);
        if (quote < 0) quote = length;
      }
      if (quote >= end) {
        let stop = end;
        if (stop > position && data.charCodeAt(stop - 1) === CR) stop--;
        if (stop > position) rows.push({ line, fields: data.slice(position, stop).split(this.delimiter) });
        line++;
        position = end + 1;
        continue;
      }
      const record = this.quotedRecord(data, position, line, final);
      if (!record) break;
      rows.push({ line, fields: record.fields });
      line = record.line;
      position = record.next;
    }
    this.rest = position < length ? data.slice(position) : "";
    this.line = line;
    return rows;
  }

  /**
   * One record that contains a quote, from `start` (a line start). Returns undefined when the record
   * may continue past the data received so far.
   */
  private quotedRecord(data: string, start: number, startLine: number, final: boolean): { fields: string[]; next: number; line: number } | undefined {
    const length = data.length;
    const fields: string[] = [];
    let line = startLine;
    let lineStart = start;
    let i = start;
    let nextSeparator = -1;
    let nextNewline = -1;
    let nextQuote = -1;
    for (;;) {
      if (data.charCodeAt(i) === QUOTE) {
        // A quoted field: up to the closing quote, "" standing for one quote.
        let field = "";
        let from = i + 1;
        let at = from;
        for (;;) {
          const close = data.indexOf('"', at);
          if (close < 0) {
            if (!final) return undefined;
            throw new CsvSyntaxError("a quoted field is never closed (missing closing double quote)", startLine, i - start + 1);
          }
          for (let n = data.indexOf("\n", at); n >= 0 && n < close; n = data.indexOf("\n", n + 1)) {
            line++;
            lineStart = n + 1;
          }
          if (close + 1 >= length && !final) return undefined;
          if (data.charCodeAt(close + 1) === QUOTE) {
            field += data.slice(from, close + 1);
            from = at = close + 2;
            continue;
          }
          field += data.slice(from, close);
          i = close + 1;
          break;
        }
        fields.push(field);
        const next = i < length ? data.charCodeAt(i) : -1;
        if (next === this.separator) {
          i++;
          continue;
        }
        if (next === -1) return { fields, next: i, line: line + 1 };
        if (next === LF) return { fields, next: i + 1, line: line + 1 };
        if (next === CR && (i + 1 >= length ? final : data.charCodeAt(i + 1) === LF)) return { fields, next: Math.min(i + 2, length), line: line + 1 };
        if (next === CR && i + 1 >= length) return undefined;
        throw new CsvSyntaxError('a closing quote is followed by text; quotes inside a field must be doubled ("")', line, i - lineStart + 1);
      }
      // An unquoted field: up to the next delimiter or the end of the line (positions found natively, and
      // reused while the record passes them).
      if (nextSeparator < i) nextSeparator = indexOrEnd(data, this.delimiter, i);
      if (nextNewline < i) nextNewline = indexOrEnd(data, "\n", i);
      if (nextQuote < i) nextQuote = indexOrEnd(data, '"', i);
      const j = Math.min(nextSeparator, nextNewline);
      if (nextQuote < j && !this.relaxQuotes) {
        throw new CsvSyntaxError('a quote appears inside an unquoted field; quote the whole field and double the quotes inside ("")', line, nextQuote - lineStart + 1);
      }
      if (j >= length && !final) return undefined;
      const c = j < length ? data.charCodeAt(j) : -1;
      if (c === this.separator) {
        fields.push(data.slice(i, j));
        i = j + 1;
        continue;
      }
      const stop = j > i && data.charCodeAt(j - 1) === CR ? j - 1 : j;
      fields.push(data.slice(i, stop));
      return { fields, next: j + 1, line: line + 1 };
    }
  }
}

function indexOrEnd(data: string, search: string, from: number): number {
  const at = data.indexOf(search, from);
  return at < 0 ? data.length : at;
}
