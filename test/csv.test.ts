// The streaming CSV/TSV parser: random tables round-trip through tandem's writer at every chunk size,
// the shared data files parse exactly as csv-parse (the previous reader, kept as a dev dependency for
// this comparison) parses them, and every syntax error names its line and column.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { DelimitedParser, CsvSyntaxError, type CsvRow } from "../src/data/csv.js";
import { readTable } from "../src/data/readers.js";
import { TableWriter } from "../src/data/writers.js";
import { Random } from "../src/core/random.js";
import { runCli, SHARED, tempDir, tempFile } from "./helpers.js";

function parseInChunks(text: string, chunk: number, delimiter = ","): CsvRow[] {
  const parser = new DelimitedParser(delimiter, delimiter === "\t");
  const rows: CsvRow[] = [];
  for (let i = 0; i < text.length; i += chunk) rows.push(...parser.push(text.slice(i, i + chunk)));
  rows.push(...parser.push("", true));
  return rows;
}

test("random tables (quotes, delimiters, newlines, CRLF, unicode) round-trip through TableWriter at every chunk size", async () => {
  const random = new Random(7);
  const pieces = ["plain", "a,b", 'say "hi"', "two\nlines", "crlf\r\nline", "", " spaced ", "émoji 😀", '""', ",", "\n", "x\ty"];
  const columns = ["text", "label", "note"];
  const rows = Array.from({ length: 200 }, () => Object.fromEntries(columns.map((c) => [c, Array.from({ length: 1 + Math.floor(random.nextFloat() * 3) }, () => pieces[Math.floor(random.nextFloat() * pieces.length)]).join("")])));
  // A row whose every cell is empty would be an empty line; give each row a non-empty label.
  rows.forEach((row, i) => (row.label = `l${i % 5}`));
  const file = join(tempDir(), "round-trip.csv");
  const writer = new TableWriter(file, columns);
  for (const row of rows) writer.write(row);
  writer.close();
  const text = readFileSync(file, "utf8");
  for (const chunk of [1, 2, 3, 7, 64, 1000, text.length]) {
    const parsed = parseInChunks(text, chunk);
    assert.deepEqual(parsed[0]!.fields, columns, `header, chunk ${chunk}`);
    assert.deepEqual(parsed.slice(1).map((r) => Object.fromEntries(columns.map((c, i) => [c, r.fields[i]]))), rows, `rows, chunk ${chunk}`);
  }
  const table = await readTable(file);
  assert.equal(table.records.length, rows.length);
  // Line numbers count the newlines inside quoted cells.
  let line = 2;
  table.records.forEach((record, i) => {
    assert.equal(record.line, line, `row ${i}`);
    for (const value of Object.values(rows[i]!)) line += (value.match(/\n/g) ?? []).length;
    line++;
  });
});

test("the shared data files parse exactly as csv-parse parses them (BOM, quoted newlines)", () => {
  for (const name of ["sentiment-merged/test_all.csv", "sentiment-merged/val_all.csv"]) {
    const text = readFileSync(join(SHARED, "data", name), "utf8");
    const expected = parse(text, { bom: true, skip_empty_lines: true }) as string[][];
    const got = parseInChunks(text, 65536).map((r) => r.fields);
    assert.equal(got.length, expected.length, name);
    assert.deepEqual(got, expected, name);
  }
  const bom = parseInChunks("\uFEFFa,b\r\n1,2\r\n\r\n3,\"x\r\ny\"\r\n", 4);
  assert.deepEqual(bom, [{ line: 1, fields: ["a", "b"] }, { line: 2, fields: ["1", "2"] }, { line: 4, fields: ["3", "x\r\ny"] }]);
  const tsv = parseInChunks('a\tb\n5" screen\t"quoted"\n', 3, "\t");
  assert.deepEqual(tsv.map((r) => r.fields), [["a", "b"], ['5" screen', "quoted"]]);
});

test("syntax errors name the line and column; through the CLI they are one line with the file", () => {
  const cases: Array<[string, RegExp, number, number]> = [
    ['a,b\n1,"open\n2,3\n', /never closed/, 2, 3],
    ['a,b\n1,"x"y\n', /closing quote is followed by text/, 2, 6],
    ['a,b\n1,ab"c\n', /quote appears inside an unquoted field/, 2, 5],
    ['a,b\n"multi\nline",ok\n3,"bad"x\n', /closing quote is followed by text/, 4, 8],
  ];
  for (const [text, message, line, column] of cases) {
    for (const chunk of [1, 5, text.length]) {
      assert.throws(() => parseInChunks(text, chunk), (error: unknown) => error instanceof CsvSyntaxError && message.test(error.message) && error.line === line && error.column === column, `${JSON.stringify(text)} in chunks of ${chunk}`);
    }
  }
  const bad = tempFile("bad-quote.csv", 'label,prediction\npositive,"neg"ative\n');
  const result = runCli(["evaluate", "-i", bad]);
  assert.equal(result.status, 2);
  assert.equal(result.stderr.trim(), `tandem: error: ${bad}, line 2: a closing quote is followed by text; quotes inside a field must be doubled ("") (column 15)`);
  const ragged = tempFile("ragged.csv", "label,prediction\npositive,negative,extra\n");
  assert.match(runCli(["evaluate", "-i", ragged]).stderr, /ragged\.csv, line 2: ragged row: expected 2 fields as in the header, found 3/);
});
