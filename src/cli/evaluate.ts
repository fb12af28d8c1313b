/** `tandem evaluate`: scikit-learn-identical metrics for a predictions file, overall and per slice. */
import type { Command } from "commander";
import { UserError } from "../core/errors.js";
import { probabilityMatrix, readPredictionFile } from "../data/predictions.js";
import { evaluate } from "../metrics/evaluate.js";
import { formatEvaluationMarkdown, formatEvaluationText } from "../metrics/format.js";
import { sortLabels, unionOf } from "../metrics/labels.js";
import type { ZeroDivision } from "../metrics/report.js";
import { optionalScheme, parseFormat, parseInteger, parseList, parseNumber, parseNumberList, printJson } from "./options.js";

interface EvaluateOptions {
  input: string;
  gold: string;
  pred: string;
  probs?: string;
  by?: string;
  labels?: string[];
  scheme?: string;
  format: "text" | "json" | "md";
  digits: number;
  beta?: number[];
  positive?: string;
  threshold?: number;
  ordinal?: boolean;
  cutoff?: number;
  zeroDivision: string;
}

export function registerEvaluate(program: Command): void {
  program
    .command("evaluate")
    .description("Score predictions against gold labels: scikit-learn's classification report, confusion matrix, ROC AUC, F-beta, binary and ordinal metrics, overall and per slice.")
    .requiredOption("-i, --input <file>", "predictions file (CSV, TSV or JSONL)")
    .option("--gold <column>", "column with the gold labels", "label")
    .option("--pred <column>", "column with the predicted labels", "prediction")
    .option("--probs <column>", "column with probability vectors in label order (JSON list or \"[0.1 0.2 0.7]\"), or one column per label, comma-separated")
    .option("--by <column>", "also report per value of this column (e.g. source)")
    .option("--labels <list>", "label order, comma-separated (default: sorted labels found, or the scheme's)", parseList)
    .option("--scheme <name>", "label scheme (neg_neu_pos, bin_neu, bin_pos, bin_neg, stars, sst5, or a comma list): normalises case and spacing; unknown gold labels are errors")
    .option("-f, --format <format>", "text, json or md", parseFormat(["text", "json", "md"] as const), "text")
    .option("--digits <n>", "decimals in the text report", parseInteger("--digits", 0), 2)
    .option("--beta <list>", "also F-beta for these betas, e.g. 0.3,0.8", parseNumberList("--beta"))
    .option("--positive <label>", "also binary metrics for this label")
    .option("--threshold <p>", "with --positive and --probs: predict the positive label when its probability ≥ p", parseNumber("--threshold", 0, 1))
    .option("--ordinal", "labels are ordered numbers (stars): exact and off-by-one accuracy, MAE")
    .option("--cutoff <n>", "with ordinal labels: also the report collapsed to ≤n vs >n", parseNumber("--cutoff"))
    .option("--zero-division <value>", "value of an undefined precision/recall: 0 (scikit-learn's default), 1 or nan", "0")
    .addHelpText("after", `
Examples:
  tandem evaluate -i data/samples/merged-test-300.lexicon.csv --gold label --pred prediction --by source
  tandem evaluate -i preds.csv --probs probabilities --format json
  tandem evaluate -i stars.csv --scheme stars --cutoff 3`)
    .action(async (options: EvaluateOptions) => {
      const zeroDivision = parseZeroDivision(options.zeroDivision);
      const scheme = optionalScheme(options.scheme);
      const predictions = await readPredictionFile(
        options.input,
        { gold: options.gold, pred: options.pred, probs: options.probs, by: options.by },
        { scheme },
      );
      const labels = options.labels ?? scheme?.labels ?? sortLabels(unionOf(predictions.gold, predictions.pred));
      if (options.labels) {
        // As scikit-learn: a report over a subset of the labels, with "micro avg" instead of accuracy.
        const outside = predictions.gold.filter((gold) => !labels.includes(gold)).length;
        if (outside > 0) process.stderr.write(`note: ${outside} rows have a gold label outside --labels (${labels.join(", ")}); the report covers the listed labels and shows micro avg\n`);
      }
      if (options.positive !== undefined && !labels.includes(options.positive)) {
        throw new UserError(`--positive "${options.positive}" is not a label (${labels.join(", ")})`);
      }
      if (options.threshold !== undefined && (options.positive === undefined || options.probs === undefined)) {
        throw new UserError("--threshold needs --positive and --probs");
      }
      const ordinal = Boolean(options.ordinal) || options.cutoff !== undefined || Boolean(scheme?.ordinal);
      if (ordinal) {
        const bad = predictions.gold.findIndex((value) => !Number.isFinite(Number(value)));
        if (bad >= 0) {
          throw new UserError(`ordinal metrics need numeric labels, found "${predictions.gold[bad]}"`, {
            file: options.input,
            line: predictions.lines[bad],
            column: options.gold,
          });
        }
      }
      const probabilities = predictions.probabilityCells ? probabilityMatrix(predictions, labels.length, labels) : undefined;
      const evaluation = evaluate({
        gold: predictions.gold,
        pred: predictions.pred,
        probabilities,
        by: predictions.by,
        labels: options.labels || scheme ? labels : undefined,
        zeroDivision,
        betas: options.beta,
        positiveLabel: options.positive,
        threshold: options.threshold,
        ordinal,
        cutoff: options.cutoff,
      });
      const empty = predictions.pred.filter((pred) => pred === "").length;
      const outside = predictions.pred.filter((pred) => pred !== "" && !labels.includes(pred)).length;
      for (const warning of labelWarnings(predictions.gold, predictions.pred, labels, Boolean(scheme || options.labels))) process.stderr.write(`warning: ${warning}\n`);
      if (options.format === "json") {
        printJson(evaluation.by ? { overall: evaluation.overall, by: evaluation.by } : { overall: evaluation.overall });
        return;
      }
      const notes: string[] = [];
      if (empty > 0) notes.push(`${empty} empty predictions (no answer) count as wrong`);
      if (outside > 0) notes.push(`${outside} predictions are not among the labels and count as wrong`);
      if (probabilities) notes.push(`probabilities read in label order: ${labels.join(", ")}`);
      const body = options.format === "md" ? formatEvaluationMarkdown(evaluation, options.digits) : formatEvaluationText(evaluation, options.digits);
      process.stdout.write(body + (notes.length ? `\nNote: ${notes.join("; ")}.\n` : ""));
    });
}

/** Counts of "<label>" → rows, as `"postive" (2 rows)`. */
function counted(values: readonly string[], keep: (value: string) => boolean): string {
  const counts = new Map<string, number>();
  for (const value of values) if (keep(value)) counts.set(value, (counts.get(value) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]).map(([value, n]) => `"${value}" (${n} row${n === 1 ? "" : "s"})`).join(", ");
}

/**
 * What may be a mistake in the labels, with counts: predictions outside a scheme or --labels (they
 * count as wrong and the report switches to micro avg), and, without either, gold labels that are
 * never predicted and predictions never in the gold (a misspelling becomes a class of its own).
 */
export function labelWarnings(gold: readonly string[], pred: readonly string[], labels: readonly string[], fixed: boolean): string[] {
  const warnings: string[] = [];
  if (fixed) {
    const outside = counted(pred, (p) => p !== "" && !labels.includes(p));
    if (outside) warnings.push(`predictions outside the labels (${labels.join(", ")}): ${outside} — they count as wrong, and the report shows micro avg`);
    return warnings;
  }
  const predicted = new Set(pred);
  const golden = new Set(gold);
  const neverPredicted = counted(gold, (g) => !predicted.has(g));
  const notInGold = counted(pred, (p) => p !== "" && !golden.has(p));
  if (neverPredicted && notInGold) warnings.push(`gold labels never predicted: ${neverPredicted}; predictions never in the gold: ${notInGold} — a misspelling makes a class of its own (--scheme normalises spellings, --labels fixes the classes)`);
  else {
    // A rare gold label that no prediction uses is most often a typo in the gold column.
    const rare = Math.max(1, Math.floor(gold.length * 0.01));
    const counts = new Map<string, number>();
    for (const g of gold) counts.set(g, (counts.get(g) ?? 0) + 1);
    const suspicious = counted(gold, (g) => !predicted.has(g) && (counts.get(g) ?? 0) <= rare);
    if (suspicious && golden.size > 2) warnings.push(`rare gold labels never predicted: ${suspicious} — a misspelling? it is scored as a class of its own (--scheme normalises spellings)`);
  }
  return warnings;
}

function parseZeroDivision(value: string): ZeroDivision {
  if (value === "0") return 0;
  if (value === "1") return 1;
  if (value === "nan") return "nan";
  throw new UserError(`--zero-division must be 0, 1 or nan, not "${value}"`);
}
