/** The data options every `tandem train` command shares: training and validation files, the held-out split, labels, columns. */
import type { Command } from "commander";
import { loadDataset, type Dataset } from "../data/dataset.js";
import { resolveScheme } from "../data/labels.js";
import { stratifiedSplit } from "../data/split.js";
import { parseNumber } from "./options.js";

export interface TrainingDataOptions {
  train: string;
  val?: string;
  valFraction: number;
  scheme: string;
  textCol?: string;
  labelCol?: string;
  seed: number;
}

export function withTrainingDataOptions(command: Command): Command {
  return command
    .requiredOption("--train <file>", "labelled training data (CSV, TSV, JSONL, or SST trees: every labelled phrase, SST-3 labels)")
    .option("--val <file>", "labelled validation data (default: a stratified part of --train)")
    .option("--val-fraction <f>", "share of --train held out when --val is not given", parseNumber("--val-fraction", 0, 0.9), 0.1)
    .option("--scheme <name>", "label scheme (the model's labels)", "neg_neu_pos")
    .option("--text-col <column>", "text column (default: guessed)")
    .option("--label-col <column>", "label column (default: guessed)");
}

/** The training data, and validation data from --val or held out of --train (stratified by label, seeded). */
export async function loadTrainingData(options: TrainingDataOptions): Promise<{ train: Dataset; val?: Dataset; labels: string[] }> {
  const scheme = resolveScheme(options.scheme);
  const load = (file: string) => loadDataset(file, { scheme, columns: { text: options.textCol, label: options.labelCol }, sstLevel: "phrases", sstLabels: "sst3" });
  let train = await load(options.train);
  let val = options.val ? await load(options.val) : undefined;
  if (!val && options.valFraction > 0) {
    const [trainIdx, valIdx] = stratifiedSplit(train.examples.map((e) => e.label ?? ""), [1 - options.valFraction, options.valFraction], options.seed);
    const full = train;
    train = { ...full, examples: trainIdx!.map((i) => full.examples[i]!) };
    val = { ...full, file: `${full.file} (held-out ${options.valFraction})`, examples: valIdx!.map((i) => full.examples[i]!) };
  }
  return { train, val, labels: [...scheme.labels] };
}
