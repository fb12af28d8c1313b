// The CLI as a user runs it: contracts of `evaluate` and `compare`, data commands, and one-line errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, SHARED, tempDir, tempFile } from "./helpers.js";

const SAMPLE = "data/samples/merged-test-300.lexicon.csv";

// scikit-learn 1.2 on the same file (classification_report and roc_auc_score(multi_class="ovr")).
const SKLEARN: Record<string, { macro_f1: number; accuracy: number; weighted_f1: number; neutral_precision: number; auc: number }> = {
  overall: { macro_f1: 0.5488461466115098, accuracy: 0.5533333333333333, weighted_f1: 0.5491174747040669, neutral_precision: 0.49514563106796117, auc: 0.7162457286155203 },
  dynasent_r1: { macro_f1: 0.583153774330245, accuracy: 0.5878787878787879, weighted_f1: 0.5831537743302448, neutral_precision: 0.5384615384615384, auc: 0.75900826446281 },
  dynasent_r2: { macro_f1: 0.6330384591254156, accuracy: 0.6363636363636364, weighted_f1: 0.6330384591254157, neutral_precision: 0.7272727272727273, auc: 0.7038567493112948 },
  sst_local: { macro_f1: 0.44334121355397954, accuracy: 0.47058823529411764, weighted_f1: 0.46399666249478516, neutral_precision: 0.2962962962962963, auc: 0.648721340388007 },
};

test("evaluate --format json follows scikit-learn's output_dict shape and values, overall and per source", () => {
  const result = runCli(["evaluate", "-i", SAMPLE, "--gold", "label", "--pred", "prediction", "--probs", "probabilities", "--by", "source", "--format", "json"]);
  assert.equal(result.status, 0, result.stderr);
  const parsed = JSON.parse(result.stdout);
  assert.deepEqual(Object.keys(parsed), ["overall", "by"]);
  assert.deepEqual(Object.keys(parsed.by), ["dynasent_r1", "dynasent_r2", "sst_local"]);
  assert.deepEqual(Object.keys(parsed.overall), ["negative", "neutral", "positive", "accuracy", "macro avg", "weighted avg", "confusion_matrix", "roc_auc", "roc_auc_per_class"]);
  for (const [name, expected] of Object.entries(SKLEARN)) {
    const report = name === "overall" ? parsed.overall : parsed.by[name];
    const near = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${name}: ${a} vs ${b}`);
    near(report["macro avg"]["f1-score"], expected.macro_f1);
    near(report.accuracy, expected.accuracy);
    near(report["weighted avg"]["f1-score"], expected.weighted_f1);
    near(report.neutral.precision, expected.neutral_precision);
    near(report.roc_auc, expected.auc);
  }
  const matrix: number[][] = parsed.overall.confusion_matrix;
  assert.equal(matrix.flat().reduce((a, b) => a + b, 0), 300);
  assert.equal(parsed.overall["macro avg"].support, 300);
});

test("evaluate prints scikit-learn's text report and a confusion matrix; md prints tables", () => {
  const text = runCli(["evaluate", "-i", SAMPLE]);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /^== all rows \(300\) ==\n {14}precision {4}recall {2}f1-score {3}support\n/);
  assert.match(text.stdout, /\n {4}accuracy {27}0\.55 {7}300\n/);
  assert.match(text.stdout, /gold \\ predicted/);
  const md = runCli(["evaluate", "-i", SAMPLE, "--by", "source", "--format", "md"]);
  assert.match(md.stdout, /\| all \| 300 \| 54\.88 \| 55\.33 \|/);
  assert.match(md.stdout, /\| sst_local \| 102 \| 44\.33 \| 47\.06 \|/);
});

test("compare --format json: macro F1 of each, McNemar table and p-values, bootstrap interval", () => {
  const gold = ["positive", "negative", "neutral", "positive", "negative", "neutral", "positive", "negative"];
  const a = ["positive", "positive", "neutral", "negative", "negative", "positive", "positive", "negative"];
  const b = ["positive", "negative", "neutral", "positive", "negative", "neutral", "negative", "negative"];
  const write = (name: string, preds: string[]) =>
    tempFile(name, "label,prediction\n" + gold.map((g, i) => `${g},${preds[i]}`).join("\n") + "\n");
  const result = runCli(["compare", "--a", write("a.csv", a), "--b", write("b.csv", b), "--iterations", "2000", "--seed", "1", "--format", "json"]);
  assert.equal(result.status, 0, result.stderr);
  const parsed = JSON.parse(result.stdout);
  // A is right on rows 0,2,4,6,7 (5); B on all but row 6 (7). Only A: row 6; only B: rows 1,3,5.
  assert.deepEqual(parsed.mcnemar.table, [[4, 1], [3, 0]]);
  assert.equal(parsed.mcnemar.p_value, 0.625);
  assert.ok(parsed.b.macro_f1 > parsed.a.macro_f1);
  assert.equal(parsed.difference, parsed.b.macro_f1 - parsed.a.macro_f1);
  assert.equal(parsed.bootstrap.iterations, 2000);
  assert.equal(parsed.bootstrap.ci.length, 2);
  assert.ok(parsed.bootstrap.ci[0] <= parsed.difference && parsed.difference <= parsed.bootstrap.ci[1]);
  assert.ok(parsed.bootstrap.p_value > 0 && parsed.bootstrap.p_value <= 1);
  assert.ok(typeof parsed.mcnemar.p_value_chi2 === "number");
});

function expectUserError(args: string[], message: RegExp): void {
  const result = runCli(args);
  assert.equal(result.status, 2, `exit code for ${args.join(" ")}: ${result.stderr}`);
  assert.equal(result.stderr.trim().split("\n").length, 1, `one line: ${result.stderr}`);
  assert.match(result.stderr, message);
  assert.doesNotMatch(result.stderr, /at .*\.js:\d+/, "no stack trace");
}

test("bad input: one line naming file, line and column, exit code 2", () => {
  expectUserError(["evaluate", "-i", "nope.csv"], /^tandem: error: nope\.csv: file not found/);
  expectUserError(["evaluate", "-i", SAMPLE, "--pred", "guess"], /no column "guess" \(--pred\)/);
  expectUserError(["evaluate", "-i", tempFile("hdr.csv", "label,prediction\n")], /hdr\.csv: the file has a header but no rows/);
  expectUserError(["evaluate", "-i", tempFile("rag.csv", "label,prediction\npositive,positive\nnegative\n")], /rag\.csv, line 3: ragged row/);
  expectUserError(
    ["evaluate", "-i", tempFile("unk.csv", "label,prediction\npositive,positive\npostive,negative\n"), "--scheme", "neg_neu_pos"],
    /unk\.csv, line 3, column "label": unknown label "postive"/,
  );
  expectUserError(
    ["evaluate", "-i", tempFile("len.csv", 'label,prediction,p\npositive,positive,"[0.1,0.9]"\nnegative,negative,"[0.9,0.1]"\nneutral,neutral,"[0.2,0.8]"\n'), "--probs", "p"],
    /len\.csv, line 2, column "p": probability vector has 2 values but there are 3 labels/,
  );
  expectUserError(
    ["evaluate", "-i", tempFile("sum.csv", 'label,prediction,p\npositive,positive,"[0.5,0.9]"\nnegative,negative,"[0.9,0.1]"\n'), "--probs", "p"],
    /sum\.csv, line 2, column "p": probabilities sum to 1\.40000, not 1/,
  );
  const utf = tempFile("utf.csv", Buffer.concat([Buffer.from("label,prediction\npositive,positive\nneg"), Buffer.from([0xff]), Buffer.from(",negative\n")]));
  expectUserError(["evaluate", "-i", utf], /utf\.csv, line 3: invalid UTF-8/);
  const shortFile = tempFile("short.csv", "label,prediction\npositive,positive\n");
  expectUserError(["compare", "--a", SAMPLE, "--b", shortFile], /has 300 rows but .*short\.csv has 1/);
  const shuffled = tempFile("shuffled.csv", "label,prediction\nnegative,negative\npositive,positive\n");
  const ordered = tempFile("ordered.csv", "label,prediction\npositive,positive\nnegative,negative\n");
  expectUserError(["compare", "--a", ordered, "--b", shuffled], /shuffled\.csv, line 2, column "label": gold labels differ/);
  expectUserError(["evaluate", "--input"], /error/);
  expectUserError(["evaluate", "-i", SAMPLE, "--format", "xml"], /use one of: text, json, md/);
});

test("data split writes reproducible stratified parts; stats and convert read SST trees", () => {
  const out = join(tempDir(), "parts");
  const split = runCli(["data", "split", join(SHARED, "data/sentiment-merged/val_all.csv"), "--ratios", "80/10/10", "--seed", "1", "-o", out]);
  assert.equal(split.status, 0, split.stderr);
  assert.match(split.stdout, /train: 4336 rows[\s\S]*val: 543 rows[\s\S]*test: 542 rows/);
  const first = readFileSync(join(out, "val.csv"), "utf8");
  runCli(["data", "split", join(SHARED, "data/sentiment-merged/val_all.csv"), "--seed", "1", "-o", out]);
  assert.equal(readFileSync(join(out, "val.csv"), "utf8"), first);

  const stats = runCli(["data", "stats", join(SHARED, "data/sentiment-merged/test_all.csv"), "--format", "json"]);
  const parsed = JSON.parse(stats.stdout);
  assert.equal(parsed.rows, 6530);
  assert.deepEqual(parsed.bySource.sst_local.labels, { negative: 912, neutral: 389, positive: 909 });
  assert.deepEqual(parsed.bySource.dynasent_r2.labels, { negative: 240, neutral: 240, positive: 240 });

  const converted = join(tempDir(), "dev.jsonl");
  const convert = runCli(["data", "convert", join(SHARED, "data/sst-trees/dev.txt"), converted, "--sst-labels", "sst3"]);
  assert.equal(convert.status, 0, convert.stderr);
  const lines = readFileSync(converted, "utf8").trim().split("\n");
  assert.equal(lines.length, 1101);
  assert.deepEqual(JSON.parse(lines[0]!), { sentence: "It 's a lovely film with lovely performances by Buy and Accorsi .", label: "positive" });

  const merged = join(tempDir(), "merged.csv");
  const merge = runCli(["data", "merge", `sst3=${converted}`, join(SHARED, "data/sentiment-merged/val_all.csv"), "-o", merged]);
  assert.equal(merge.status, 0, merge.stderr);
  assert.match(merge.stdout, /6522 rows from 2 files/);
  assert.ok(existsSync(merged));
});

test("every command explains itself with --help", () => {
  for (const args of [["--help"], ["evaluate", "--help"], ["compare", "--help"], ["data", "split", "--help"], ["classify", "--help"]]) {
    const result = runCli(args);
    assert.equal(result.status, 0);
    assert.match(result.stdout, /Usage: tandem/);
  }
});

test("evaluate --positive on a slice with no gold negatives: specificity follows --zero-division (0, 1, nan → null / \"nan\")", () => {
  // Slice "a" holds only gold "negative" rows, so with positive "negative" TN + FP = 0 there.
  const file = tempFile(
    "no-negatives.csv",
    'label,prediction,p,slice\nnegative,negative,"[0.8,0.1,0.1]",a\nnegative,neutral,"[0.3,0.6,0.1]",a\npositive,positive,"[0.1,0.1,0.8]",b\nneutral,negative,"[0.5,0.4,0.1]",b\n',
  );
  const specificity = (zeroDivision: string) => {
    const result = runCli(["evaluate", "-i", file, "--probs", "p", "--by", "slice", "--positive", "negative", "--threshold", "0", "--zero-division", zeroDivision, "-f", "json"]);
    assert.equal(result.status, 0, result.stderr);
    const parsed = JSON.parse(result.stdout);
    return [parsed.by.a.binary.specificity, parsed.by.b.binary.specificity, parsed.overall.binary.specificity];
  };
  // Threshold 0 decides every row "negative": b has 2 gold non-negatives, both predicted negative (specificity 0).
  assert.deepEqual(specificity("0"), [0, 0, 0]);
  assert.deepEqual(specificity("1"), [1, 0, 0]);
  assert.deepEqual(specificity("nan"), [null, 0, 0]);
  const text = runCli(["evaluate", "-i", file, "--probs", "p", "--by", "slice", "--positive", "negative", "--threshold", "0", "--zero-division", "nan"]);
  assert.match(text.stdout, /== a \(2\) ==[\s\S]*?specificity nan,/);
});
