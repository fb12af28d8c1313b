/** `tandem compare`: is B better than A on the same items? McNemar and a paired bootstrap of macro F1. */
import type { Command } from "commander";
import { UserError } from "../core/errors.js";
import { readPredictionFile } from "../data/predictions.js";
import { compareClassifiers, type Comparison } from "../stats/compare.js";
import { formatFixed } from "../metrics/format.js";
import { optionalScheme, parseFormat, parseInteger, parseList, parseNumber, parseNumberList, printJson, snakeCaseKeys } from "./options.js";

interface CompareOptions {
  a: string;
  b: string;
  gold: string;
  pred: string;
  predA?: string;
  predB?: string;
  labels?: string[];
  scheme?: string;
  iterations: number;
  seed: number;
  seeds?: number[];
  confidence: number;
  format: "text" | "json";
}

export function registerCompare(program: Command): void {
  program
    .command("compare")
    .description("Compare two classifiers' predictions on the same rows (paired by position): macro F1 of each, McNemar's test and a paired bootstrap of the macro-F1 difference (B − A).")
    .requiredOption("--a <file>", "predictions of classifier A (the baseline)")
    .requiredOption("--b <file>", "predictions of classifier B")
    .option("--gold <column>", "gold label column (in both files; must agree row by row)", "label")
    .option("--pred <column>", "prediction column (in both files)", "prediction")
    .option("--pred-a <column>", "prediction column of A, if it differs")
    .option("--pred-b <column>", "prediction column of B, if it differs")
    .option("--labels <list>", "label order, comma-separated", parseList)
    .option("--scheme <name>", "label scheme used to normalise labels (see `tandem evaluate --help`)")
    .option("--iterations <n>", "bootstrap resamples", parseInteger("--iterations", 1), 10_000)
    .option("--seed <n>", "bootstrap seed", parseInteger("--seed"), 42)
    .option("--seeds <list>", "stability mode: repeat the bootstrap with each seed and report the spread of the interval", parseNumberList("--seeds"))
    .option("--confidence <c>", "width of the percentile interval", parseNumber("--confidence", 0.5, 0.999), 0.95)
    .option("-f, --format <format>", "text or json", parseFormat(["text", "json"] as const), "text")
    .addHelpText("after", `
The exact McNemar p-value is the binomial test on the discordant pairs (as in the research); the
chi-square p-value uses the continuity correction. The bootstrap p-value is two-sided (shift method).

Example:
  tandem compare --a electra.csv --b gpt4o.csv --gold label --pred prediction --format json`)
    .action(async (options: CompareOptions) => {
      const scheme = optionalScheme(options.scheme);
      const a = await readPredictionFile(options.a, { gold: options.gold, pred: options.predA ?? options.pred }, { scheme });
      const b = await readPredictionFile(options.b, { gold: options.gold, pred: options.predB ?? options.pred }, { scheme });
      if (a.rows !== b.rows) {
        throw new UserError(`${options.a} has ${a.rows} rows but ${options.b} has ${b.rows}; compare needs the same rows in the same order`);
      }
      const mismatch = a.gold.findIndex((gold, i) => gold !== b.gold[i]);
      if (mismatch >= 0) {
        throw new UserError(
          `gold labels differ from ${options.a} line ${a.lines[mismatch]} ("${a.gold[mismatch]}" vs "${b.gold[mismatch]}"): the files are not the same rows in the same order`,
          { file: options.b, line: b.lines[mismatch], column: options.gold },
        );
      }
      const comparison = compareClassifiers({
        gold: a.gold,
        predA: a.pred,
        predB: b.pred,
        labels: options.labels ?? scheme?.labels,
        iterations: options.iterations,
        seed: options.seed,
        stabilitySeeds: options.seeds,
        confidence: options.confidence,
      });
      if (options.format === "json") printJson(snakeCaseKeys(comparison));
      else process.stdout.write(formatComparison(comparison, options.a, options.b));
    });
}

export function formatComparison(c: Comparison, nameA: string, nameB: string): string {
  const pct = (v: number) => formatFixed(v * 100, 2);
  const p = (v: number) => (v < 1e-4 ? v.toExponential(2) : formatFixed(v, 4));
  const [[both, onlyA], [onlyB, neither]] = c.mcnemar.table;
  let out = `rows: ${c.rows}; labels: ${c.labels.join(", ")}\n`;
  out += `A  ${nameA}: macro F1 ${pct(c.a.macroF1)}%, accuracy ${pct(c.a.accuracy)}%\n`;
  out += `B  ${nameB}: macro F1 ${pct(c.b.macroF1)}%, accuracy ${pct(c.b.accuracy)}%\n`;
  out += `difference (B − A): ${c.difference >= 0 ? "+" : ""}${pct(c.difference)} points\n\n`;
  out += `McNemar table      B correct  B wrong\n`;
  out += `  A correct   ${String(both).padStart(10)} ${String(onlyA).padStart(8)}\n`;
  out += `  A wrong     ${String(onlyB).padStart(10)} ${String(neither).padStart(8)}\n`;
  out += `  exact p = ${p(c.mcnemar.pValue)}; chi-square (continuity-corrected) p = ${p(c.mcnemar.pValueChi2)}\n\n`;
  const b = c.bootstrap;
  out += `Paired bootstrap (${b.iterations} resamples, seed ${b.seed}): ${Math.round(b.confidence * 100)}% CI of the difference [${pct(b.ci[0])}, ${pct(b.ci[1])}] points, p = ${p(b.pValue)}\n`;
  if (c.stability) {
    const s = c.stability;
    out += `Stability over seeds ${s.seeds.join(", ")}: lower bound ${pct(s.ciLow.min)}…${pct(s.ciLow.max)} (sd ${pct(s.ciLow.sd)}), upper bound ${pct(s.ciHigh.min)}…${pct(s.ciHigh.max)} (sd ${pct(s.ciHigh.sd)})\n`;
  }
  return out;
}
