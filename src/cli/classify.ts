/** `tandem classify`: run a strategy over a file and write one prediction per row. */
import type { Command } from "commander";
import { UserError } from "../core/errors.js";
import { loadDataset } from "../data/dataset.js";
import { TableWriter } from "../data/writers.js";
import { matchLabel, resolveScheme } from "../data/labels.js";
import { sortLabels } from "../metrics/labels.js";
import { encoderStrategy } from "../strategies/encoder.js";
import { lexiconStrategy } from "../strategies/lexicon.js";
import type { Strategy } from "../strategies/strategy.js";
import { loadEncoderFromCli, withEncoderOptions, type EncoderCliOptions } from "./encoder-options.js";
import { parseFormat, parseNumber } from "./options.js";
import { progressBar } from "./progress.js";

interface ClassifyOptions extends EncoderCliOptions {
  strategy: "lexicon" | "encoder";
  input: string;
  out: string;
  textCol?: string;
  labelCol?: string;
  scheme?: string;
  neutralThreshold: number;
}

export function registerClassify(program: Command): void {
  const command = program
    .command("classify")
    .description("Classify every row of a file with a strategy and write the rows with prediction and probabilities.")
    .option("--strategy <name>", "lexicon (VADER, offline) or encoder (an ONNX encoder classifier)", parseFormat(["lexicon", "encoder"] as const), "lexicon")
    .requiredOption("-i, --input <file>", "CSV, TSV or JSONL with a text column")
    .requiredOption("-o, --out <file>", "output file: the input columns plus prediction and probabilities")
    .option("--text-col <column>", "text column (default: guessed)")
    .option("--label-col <column>", "gold label column (default: guessed, optional); its labels must be the model's")
    .option("--scheme <name>", "label scheme of the gold labels (normalises spelling before the check against the model's labels)")
    .option("--neutral-threshold <t>", "lexicon: |compound| below t is neutral", parseNumber("--neutral-threshold", 0, 1), 0.05);
  withEncoderOptions(command)
    .addHelpText("after", `
The output keeps every input column and adds "prediction" and "probabilities": a JSON list in sorted
label order (the order \`tandem evaluate --probs probabilities\` reads by default).

Examples:
  tandem classify --strategy lexicon -i ../shared/data/sentiment-merged/test_all.csv -o lexicon.csv
  tandem classify --strategy encoder --model models/starter -i ../shared/data/sentiment-merged/test_all.csv -o encoder.csv`)
    .action(async (options: ClassifyOptions) => {
      const dataset = await loadDataset(options.input, {
        columns: { text: options.textCol, label: options.labelCol },
        requireLabels: false,
      });
      let strategy: Strategy;
      let truncatedCount: () => number = () => 0;
      if (options.strategy === "encoder") {
        const model = await loadEncoderFromCli(options);
        if (model.kind === "embedding") {
          throw new UserError("this model is an embedding model (no classifier head); use `tandem embed`, or train a head with `tandem train head`", { file: model.dir });
        }
        const encoder = encoderStrategy(model, { batchSize: options.batchSize, maxLength: options.maxLength, bucketing: options.bucketing });
        truncatedCount = () => encoder.lastTruncated;
        strategy = encoder;
      } else {
        strategy = lexiconStrategy({ neutralThreshold: options.neutralThreshold });
      }
      checkLabels(dataset.examples.map((e) => e.label), strategy.labels, options, dataset.labelColumn, dataset.file);

      const columns = [...dataset.columns];
      for (const added of ["prediction", "probabilities"]) {
        if (columns.includes(added)) throw new UserError(`the input already has a "${added}" column`, { file: options.input });
        columns.push(added);
      }
      const progress = progressBar(dataset.examples.length, strategy.name);
      const predictions = await strategy.classify(
        dataset.examples.map((example) => example.text),
        (done) => progress.update(done),
      );
      progress.stop();
      // Probabilities are written in sorted label order, the default order of `tandem evaluate`.
      const sorted = sortLabels(strategy.labels);
      const position = sorted.map((label) => strategy.labels.indexOf(label));
      const writer = new TableWriter(options.out, columns);
      dataset.examples.forEach((example, i) => {
        const prediction = predictions[i]!;
        const probabilities = prediction.probabilities;
        writer.write({
          ...example.row,
          prediction: prediction.label,
          probabilities: probabilities ? position.map((p) => Number((probabilities[p] as number).toFixed(6))) : undefined,
        });
      });
      writer.close();
      const truncated = truncatedCount();
      process.stderr.write(
        `${predictions.length} rows → ${options.out} (probabilities in the order ${sorted.join(", ")})${truncated ? `; ${truncated} texts truncated at ${options.maxLength} tokens` : ""}\n`,
      );
    });
}

/** The gold labels (when the file has them) must all be labels the strategy can predict. */
function checkLabels(gold: Array<string | undefined>, labels: readonly string[], options: ClassifyOptions, labelColumn: string | undefined, file: string): void {
  if (labelColumn === undefined) return;
  const scheme = options.scheme ? resolveScheme(options.scheme) : undefined;
  const unknown = new Set<string>();
  for (const raw of gold) {
    if (raw === undefined) continue;
    const label = scheme ? (matchLabel(scheme, raw) ?? raw) : raw;
    if (!labels.includes(label)) unknown.add(label);
  }
  if (unknown.size > 0) {
    throw new UserError(
      `the gold labels (${[...unknown].slice(0, 5).join(", ")}) are not among the model's labels (${labels.join(", ")}); the label schemes differ (use --scheme to normalise spellings, or --label-col to pick another column)`,
      { file, column: labelColumn },
    );
  }
}
