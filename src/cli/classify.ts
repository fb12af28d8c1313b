/** `tandem classify`: run a strategy over a file and write one prediction per row. */
import type { Command } from "commander";
import { UserError } from "../core/errors.js";
import { loadDataset } from "../data/dataset.js";
import { TableWriter } from "../data/writers.js";
import { lexiconStrategy } from "../strategies/lexicon.js";
import type { Strategy } from "../strategies/strategy.js";
import { parseFormat, parseNumber } from "./options.js";
import { progressBar } from "./progress.js";

interface ClassifyOptions {
  strategy: "lexicon";
  input: string;
  out: string;
  textCol?: string;
  labelCol?: string;
  neutralThreshold: number;
}

export function registerClassify(program: Command): void {
  program
    .command("classify")
    .description("Classify every row of a file with a strategy and write the rows with prediction and probabilities.")
    .option("--strategy <name>", "lexicon (VADER, offline); encoder, llm, cascade and ensemble arrive with their engines", parseFormat(["lexicon"] as const), "lexicon")
    .requiredOption("-i, --input <file>", "CSV, TSV or JSONL with a text column")
    .requiredOption("-o, --out <file>", "output file: the input columns plus prediction and probabilities")
    .option("--text-col <column>", "text column (default: guessed)")
    .option("--label-col <column>", "gold label column, copied as is (default: guessed, optional)")
    .option("--neutral-threshold <t>", "lexicon: |compound| below t is neutral", parseNumber("--neutral-threshold", 0, 1), 0.05)
    .addHelpText("after", `
The output keeps every input column and adds "prediction" and "probabilities" (a JSON list in the
order negative, neutral, positive), so \`tandem evaluate --probs probabilities\` reads it directly.

Example:
  tandem classify --strategy lexicon -i ../shared/data/sentiment-merged/test_all.csv -o lexicon.csv`)
    .action(async (options: ClassifyOptions) => {
      const dataset = await loadDataset(options.input, {
        columns: { text: options.textCol, label: options.labelCol },
        requireLabels: false,
      });
      const strategy: Strategy = lexiconStrategy({ neutralThreshold: options.neutralThreshold });
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
      const writer = new TableWriter(options.out, columns);
      dataset.examples.forEach((example, i) => {
        const prediction = predictions[i]!;
        writer.write({
          ...example.row,
          prediction: prediction.label,
          probabilities: prediction.probabilities?.map((p) => Number(p.toFixed(6))),
        });
      });
      writer.close();
      process.stderr.write(`${predictions.length} rows → ${options.out}\n`);
    });
}
