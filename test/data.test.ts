// Readers, label schemes, SST trees, splits, merges and stats.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { readTable } from "../src/data/readers.js";
import { writeTable } from "../src/data/writers.js";
import { UserError } from "../src/core/errors.js";
import { resolveScheme, requireLabel, BUILTIN_SCHEMES } from "../src/data/labels.js";
import { loadDataset } from "../src/data/dataset.js";
import { parseTree, readSstFile, sstExamples } from "../src/data/sst.js";
import { apportion, parseFractions, stratifiedSample, stratifiedSplit } from "../src/data/split.js";
import { mergeDatasets } from "../src/data/merge.js";
import { datasetStats } from "../src/data/stats.js";
import { findInvalidUtf8 } from "../src/data/utf8.js";
import { Random } from "../src/core/random.js";
import { SHARED, tempDir, tempFile } from "./helpers.js";

async function rejects(promise: Promise<unknown>, message: RegExp, line?: number): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof UserError, `expected a UserError, got ${String(error)}`);
    assert.match(error.describe(), message);
    if (line !== undefined) assert.equal(error.location.line, line);
    return true;
  });
}

test("CSV: BOM, quoted newlines, doubled quotes and line numbers of each record", async () => {
  const file = tempFile("quotes.csv", '\uFEFFsentence,label\n"multi\nline, with comma",positive\n\n"say ""hi""",neutral\n');
  const table = await readTable(file);
  assert.deepEqual(table.columns, ["sentence", "label"]);
  assert.deepEqual(
    table.records.map((r) => [r.line, r.values.sentence, r.values.label]),
    [
      [2, "multi\nline, with comma", "positive"],
      [5, 'say "hi"', "neutral"],
    ],
  );
});

test("TSV and JSONL read the same rows", async () => {
  const tsv = await readTable(tempFile("rows.tsv", "text\tlabel\ngood\tpositive\nbad\tnegative\n"));
  const jsonl = await readTable(tempFile("rows.jsonl", '{"text":"good","label":"positive"}\n\n{"text":"bad","label":"negative","p":[0.1,0.9]}\n'));
  assert.deepEqual(tsv.records.map((r) => r.values.text), ["good", "bad"]);
  assert.deepEqual(jsonl.records.map((r) => [r.line, r.values.label]), [[1, "positive"], [3, "negative"]]);
  assert.deepEqual(jsonl.records[1]!.values.p, [0.1, 0.9]);
});

test("bad tables are errors naming the file and line", async () => {
  await rejects(readTable(join(tempDir(), "missing.csv")), /missing\.csv: file not found/);
  await rejects(readTable(tempFile("empty.csv", "")), /empty\.csv: file is empty/);
  await rejects(readTable(tempFile("ragged.csv", "a,b\n1,2\n3\n")), /ragged\.csv, line 3: ragged row: expected 2 fields/, 3);
  await rejects(readTable(tempFile("open.csv", 'a,b\n1,"never closed\n')), /quoted field is never closed/);
  await rejects(readTable(tempFile("dup.csv", "a,a\n1,2\n")), /names column "a" twice/);
  await rejects(readTable(tempFile("inner.csv", 'a,b\n1,2\nfoo,bar "x"\n')), /inner\.csv, line 3: a quote appears inside an unquoted field/, 3);
  await rejects(readTable(tempFile("bad.jsonl", '{"a":1}\n{"a":\n')), /bad\.jsonl, line 2: invalid JSON/, 2);
  await rejects(readTable(tempFile("array.jsonl", "[1,2]\n")), /must be a JSON object/);
  const latin1 = Buffer.concat([Buffer.from("a,b\nok,1\ncaf"), Buffer.from([0xe9]), Buffer.from(",2\n")]);
  await rejects(readTable(tempFile("latin1.csv", latin1)), /latin1\.csv, line 3: invalid UTF-8 at byte 12/, 3);
});

test("UTF-8 validation finds overlong forms, surrogates and truncated sequences", () => {
  assert.equal(findInvalidUtf8(Buffer.from("héllo ✓ 😀")), -1);
  assert.equal(findInvalidUtf8(Uint8Array.from([0x61, 0xc0, 0x80])), 1);
  assert.equal(findInvalidUtf8(Uint8Array.from([0xed, 0xa0, 0x80])), 0);
  assert.equal(findInvalidUtf8(Uint8Array.from([0x61, 0x62, 0xe2, 0x9c])), 2);
});

test("writer round-trips awkward cells through the reader", async () => {
  const file = join(tempDir(), "round.csv");
  const rows = [
    { text: 'quote " and, comma', label: "x", probs: [0.25, 0.75] },
    { text: "new\nline", label: "y", probs: [1, 0] },
  ];
  writeTable(file, ["text", "label", "probs"], rows);
  const table = await readTable(file);
  assert.deepEqual(table.records.map((r) => r.values.text), rows.map((r) => r.text));
  assert.equal(table.records[0]!.values.probs, "[0.25,0.75]");
});

test("label schemes normalise case and spacing; unknown labels name the line and value", () => {
  const scheme = resolveScheme("neg_neu_pos");
  assert.equal(requireLabel(scheme, "  Positive ", {}), "positive");
  assert.equal(requireLabel(scheme, "0", {}), "negative");
  assert.throws(() => requireLabel(scheme, "postive", { file: "f.csv", line: 7, column: "label" }), (error: UserError) => {
    assert.equal(error.describe(), 'f.csv, line 7, column "label": unknown label "postive" (the neg_neu_pos scheme has: negative, neutral, positive)');
    return true;
  });
  assert.deepEqual(resolveScheme("spam, ham").labels, ["spam", "ham"]);
  assert.equal(BUILTIN_SCHEMES.stars!.ordinal, true);
  assert.equal(requireLabel(BUILTIN_SCHEMES.stars!, "4 stars", {}), "4");
  assert.throws(() => resolveScheme("nonsense"), /unknown label scheme/);
});

test("datasets guess text and label columns and check labels against a scheme", async () => {
  const file = tempFile("reviews.csv", "review,Stars,source\ngreat,5,a\nmeh,3,b\n");
  const dataset = await loadDataset(file, { scheme: BUILTIN_SCHEMES.stars });
  assert.equal(dataset.textColumn, "review");
  assert.equal(dataset.labelColumn, "Stars");
  assert.deepEqual(dataset.examples.map((e) => [e.text, e.label, e.source, e.line]), [["great", "5", "a", 2], ["meh", "3", "b", 3]]);
  await rejects(loadDataset(tempFile("badlabel.csv", "text,label\nok,positive\nno,mixed\n"), { scheme: resolveScheme("neg_neu_pos") }), /line 3, column "label": unknown label "mixed"/, 3);
  await rejects(loadDataset(tempFile("nocol.csv", "foo,bar\n1,2\n")), /cannot tell which column holds the text/);
  await rejects(loadDataset(file, { columns: { text: "body" } }), /no column "body"/);
});

test("SST trees: parsing, SST-3 sentences equal the published SST-3 dev file", async () => {
  const tree = parseTree("(3 (2 The) (4 (3 good) (2 film)))");
  assert.equal(tree.label, 3);
  assert.equal(tree.children[1]!.children[0]!.word, "good");
  assert.throws(() => parseTree("(3 (2 The) (4 good"), /expected "\)"/);
  const fromTrees = readSstFile(join(SHARED, "data/sst-trees/dev.txt"), { labels: "sst3" });
  const published = await loadDataset(join(SHARED, "data/sst3/sst3-dev.csv"));
  assert.equal(fromTrees.length, 1101);
  assert.deepEqual(fromTrees.map((e) => [e.text, e.label]), published.examples.map((e) => [e.text, e.label]));
});

test("SST sizes: train.txt is the 8,544 train trees followed by the 1,101 dev trees; SST-2 keeps 6,920 / 872 / 1,821", () => {
  const read = (split: string) => readFileSync(join(SHARED, `data/sst-trees/${split}.txt`), "utf8").trimEnd().split("\n");
  const [train, dev, test] = [read("train"), read("dev"), read("test")];
  assert.deepEqual([train.length, dev.length, test.length], [9645, 1101, 2210]);
  assert.deepEqual(train.slice(8544), dev, "the shared train file ends with the dev trees");
  const sst2 = (lines: string[]) => sstExamples(lines.join("\n"), { labels: "sst2" }).length;
  assert.deepEqual([sst2(train.slice(0, 8544)), sst2(dev), sst2(test)], [6920, 872, 1821]);
});

test("SST phrases: every labelled node once, sentence first", () => {
  const examples = sstExamples("(3 (2 The) (4 (3 good) (2 film)))\n(1 (2 The) (1 bad))\n", { level: "phrases", labels: "sst5" });
  assert.deepEqual(examples.map((e) => [e.text, e.label]), [
    ["The good film", "3"],
    ["good film", "4"],
    ["film", "2"],
    ["good", "3"],
    ["The", "2"],
    ["The bad", "1"],
    ["bad", "1"],
  ]);
});

test("apportion and fraction parsing", () => {
  assert.deepEqual(apportion(10, [0.8, 0.1, 0.1]), [8, 1, 1]);
  assert.deepEqual(apportion(7, [0.5, 0.5]), [4, 3]);
  assert.deepEqual(parseFractions("80/10/10"), [0.8, 0.1, 0.1]);
  assert.throws(() => parseFractions("80"), /invalid split/);
});

test("stratified split: disjoint, complete, proportional per label, and reproducible by seed", () => {
  const random = new Random(1);
  const strata = Array.from({ length: 1000 }, () => ["a", "b", "b", "c"][random.nextInt(4)]!);
  const parts = stratifiedSplit(strata, [0.8, 0.1, 0.1], 42);
  const all = parts.flat().sort((x, y) => x - y);
  assert.deepEqual(all, Array.from({ length: 1000 }, (_, i) => i));
  for (const label of ["a", "b", "c"]) {
    const total = strata.filter((s) => s === label).length;
    const inTest = parts[2]!.filter((i) => strata[i] === label).length;
    assert.ok(Math.abs(inTest - total * 0.1) <= 1, `${label}: ${inTest} of ${total}`);
  }
  assert.deepEqual(stratifiedSplit(strata, [0.8, 0.1, 0.1], 42), parts);
  assert.notDeepEqual(stratifiedSplit(strata, [0.8, 0.1, 0.1], 43), parts);
  // A golden value: the same seed must give the same split on every platform and version.
  assert.deepEqual(stratifiedSplit(["x", "y", "x", "y", "x", "y", "x", "y"], [0.5, 0.5], 7)[0], [4, 5, 6, 7]);
  assert.equal(stratifiedSample(strata, 0.25, 3).length, 250);
});

test("merge keeps or adds the source; stats count labels per source and lengths", () => {
  const merged = mergeDatasets([
    { name: "r1", examples: [{ text: "a b", label: "positive", line: 2, row: {} }] },
    { name: "sst", examples: [{ text: "c", label: "negative", source: "sst_local", line: 2, row: {} }] },
  ]);
  assert.deepEqual(merged.map((r) => r.source), ["r1", "sst_local"]);
  const stats = datasetStats([
    { text: "one two three", label: "pos", source: "x" },
    { text: "four", label: "neg", source: "x" },
    { text: "five six", label: "pos", source: "y" },
  ]);
  assert.deepEqual(stats.labels, { neg: 1, pos: 2 });
  assert.deepEqual(stats.bySource.x, { rows: 2, labels: { neg: 1, pos: 1 } });
  assert.equal(stats.words.mean, 2);
  assert.equal(stats.words.max, 3);
  assert.equal(stats.characters.min, 4);
});
