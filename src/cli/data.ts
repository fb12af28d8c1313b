/** `tandem data stats|split|sample|merge|convert`: inspect and prepare datasets. */
import { basename, extname, join } from "node:path";
import type { Command } from "commander";
import { UserError } from "../core/errors.js";
import { loadDataset, type Dataset, type LoadOptions } from "../data/dataset.js";
import { mergeDatasets } from "../data/merge.js";
import { datasetStats, type DatasetStats } from "../data/stats.js";
import { parseFractions, stratifiedSample, stratifiedSplit } from "../data/split.js";
import { writeTable } from "../data/writers.js";
import type { SstLabels, SstLevel } from "../data/sst.js";
import { formatFixed } from "../metrics/format.js";
import { optionalScheme, parseFormat, parseInteger, parseList, parseNumber, printJson } from "./options.js";

interface ColumnOptions {
  textCol?: string;
  labelCol?: string;
  sourceCol?: string;
  scheme?: string;
  sstLevel?: SstLevel;
  sstLabels?: SstLabels;
}

function withColumnOptions(command: Command): Command {
  return command
    .option("--text-col <column>", "text column (default: guessed from sentence, text, review, ...)")
    .option("--label-col <column>", "label column (default: guessed from label, classification, star, ...)")
    .option("--source-col <column>", "source column (default: source, if present)")
    .option("--scheme <name>", "label scheme to normalise labels to; unknown labels are errors")
    .option("--sst-level <level>", "SST tree files: sentence or phrases (every labelled phrase)", parseFormat(["sentence", "phrases"] as const))
    .option("--sst-labels <labels>", "SST tree files: sst5 (0–4), sst3 (negative/neutral/positive) or sst2 (neutral dropped)", parseFormat(["sst5", "sst3", "sst2"] as const));
}

function loadOptions(options: ColumnOptions, requireLabels = true): LoadOptions {
  return {
    columns: { text: options.textCol, label: options.labelCol, source: options.sourceCol },
    scheme: optionalScheme(options.scheme),
    requireLabels,
    sstLevel: options.sstLevel,
    sstLabels: options.sstLabels,
  };
}

/** Output rows: the original cells, with the label replaced by its normalised form. */
function outputRows(dataset: Dataset, indices?: number[]): Array<Record<string, unknown>> {
  const pick = indices ?? dataset.examples.map((_, i) => i);
  return pick.map((i) => {
    const example = dataset.examples[i]!;
    const row = { ...example.row };
    if (dataset.labelColumn !== undefined && example.label !== undefined) row[dataset.labelColumn] = example.label;
    return row;
  });
}

function strataOf(dataset: Dataset, stratify: string): string[] {
  return dataset.examples.map((example) => {
    if (stratify === "none") return "";
    if (stratify === "source+label") return `${example.source ?? ""}\u0000${example.label ?? ""}`;
    if (stratify === "source") return example.source ?? "";
    return example.label ?? "";
  });
}

function formatStats(file: string, stats: DatasetStats): string {
  const share = (count: number, total: number) => `${count} (${formatFixed((100 * count) / total, 1)}%)`;
  let out = `${file}: ${stats.rows} rows\n\nlabels:\n`;
  for (const [label, count] of Object.entries(stats.labels)) out += `  ${label.padEnd(16)} ${share(count, stats.rows)}\n`;
  const sources = Object.entries(stats.bySource);
  if (sources.length > 0) {
    const labels = Object.keys(stats.labels);
    const width = Math.max(8, ...sources.map(([name]) => name.length));
    out += `\nby source:\n  ${"source".padEnd(width)} ${"rows".padStart(7)} ${labels.map((l) => l.padStart(Math.max(9, l.length))).join(" ")}\n`;
    for (const [name, entry] of sources) {
      out += `  ${name.padEnd(width)} ${String(entry.rows).padStart(7)} ${labels.map((l) => String(entry.labels[l] ?? 0).padStart(Math.max(9, l.length))).join(" ")}\n`;
    }
  }
  const line = (name: string, s: DatasetStats["characters"]) =>
    `  ${name.padEnd(10)} min ${s.min}  mean ${formatFixed(s.mean, 1)}  median ${formatFixed(s.median, 1)}  p90 ${formatFixed(s.p90, 1)}  p99 ${formatFixed(s.p99, 1)}  max ${s.max}\n`;
  out += `\nlength:\n${line("characters", stats.characters)}${line("words", stats.words)}`;
  if (stats.emptyTexts > 0) out += `\nwarning: ${stats.emptyTexts} rows have an empty text\n`;
  return out;
}

export function registerData(program: Command): void {
  const data = program.command("data").description("Inspect and prepare datasets: stats, split, sample, merge, convert.");

  withColumnOptions(
    data
      .command("stats")
      .description("Rows, label distribution (overall and per source) and text lengths of a dataset.")
      .argument("<file>", "CSV, TSV, JSONL or SST tree file"),
  )
    .option("-f, --format <format>", "text or json", parseFormat(["text", "json"] as const), "text")
    .action(async (file: string, options: ColumnOptions & { format: string }) => {
      const dataset = await loadDataset(file, loadOptions(options, false));
      const stats = datasetStats(dataset.examples);
      if (options.format === "json") printJson({ file, ...stats });
      else process.stdout.write(formatStats(file, stats));
    });

  withColumnOptions(
    data
      .command("split")
      .description("Stratified, seeded split into parts (e.g. train/val/test), reproducible across runs and platforms.")
      .argument("<file>", "dataset to split"),
  )
    .option("--ratios <ratios>", "proportions of the parts", "80/10/10")
    .option("--names <names>", "names of the parts (files NAME.csv)", parseList)
    .option("--seed <n>", "random seed", parseInteger("--seed"), 42)
    .option("--stratify <by>", "label, source, source+label or none", parseFormat(["label", "source", "source+label", "none"] as const), "label")
    .requiredOption("-o, --out-dir <dir>", "folder for the parts")
    .action(async (file: string, options: ColumnOptions & { ratios: string; names?: string[]; seed: number; stratify: string; outDir: string }) => {
      const fractions = parseFractions(options.ratios);
      const names = options.names ?? (fractions.length === 3 ? ["train", "val", "test"] : fractions.length === 2 ? ["train", "test"] : fractions.map((_, i) => `part${i + 1}`));
      if (names.length !== fractions.length) throw new UserError(`--names gives ${names.length} names for ${fractions.length} parts`);
      const dataset = await loadDataset(file, loadOptions(options, options.stratify === "none" || options.stratify === "source"));
      const parts = stratifiedSplit(strataOf(dataset, options.stratify), fractions, options.seed);
      const extension = [".tsv", ".jsonl"].includes(extname(file)) ? extname(file) : ".csv";
      const summary = parts.map((indices, i) => {
        const out = join(options.outDir, `${names[i]}${extension}`);
        writeTable(out, dataset.columns, outputRows(dataset, indices));
        return { name: names[i], file: out, rows: indices.length };
      });
      for (const part of summary) process.stdout.write(`${part.name}: ${part.rows} rows → ${part.file}\n`);
    });

  withColumnOptions(
    data
      .command("sample")
      .description("A stratified, seeded sample of a dataset.")
      .argument("<file>", "dataset to sample"),
  )
    .requiredOption("--fraction <f>", "share of rows to keep, e.g. 0.1 (or a percentage such as 10%)", (v: string) =>
      v.endsWith("%") ? parseNumber("--fraction", 0, 100)(v.slice(0, -1)) / 100 : parseNumber("--fraction", 0, 1)(v),
    )
    .option("--seed <n>", "random seed", parseInteger("--seed"), 42)
    .option("--stratify <by>", "label, source, source+label or none", parseFormat(["label", "source", "source+label", "none"] as const), "label")
    .requiredOption("-o, --out <file>", "output file")
    .action(async (file: string, options: ColumnOptions & { fraction: number; seed: number; stratify: string; out: string }) => {
      const dataset = await loadDataset(file, loadOptions(options, options.stratify === "none" || options.stratify === "source"));
      const indices = stratifiedSample(strataOf(dataset, options.stratify), options.fraction, options.seed);
      writeTable(options.out, dataset.columns, outputRows(dataset, indices));
      process.stdout.write(`${indices.length} of ${dataset.examples.length} rows → ${options.out}\n`);
    });

  withColumnOptions(
    data
      .command("merge")
      .description("Merge datasets into one file with columns sentence,label,source; the source is each row's own source column, else the file's name.")
      .argument("<files...>", "datasets to merge (write NAME=FILE to choose the source name)"),
  )
    .option("--shuffle", "mix the rows (seeded)")
    .option("--seed <n>", "random seed for --shuffle", parseInteger("--seed"), 42)
    .requiredOption("-o, --out <file>", "output file")
    .action(async (files: string[], options: ColumnOptions & { shuffle?: boolean; seed: number; out: string }) => {
      const parts = [];
      for (const spec of files) {
        const eq = spec.indexOf("=");
        const name = eq > 0 ? spec.slice(0, eq) : basename(spec, extname(spec));
        const file = eq > 0 ? spec.slice(eq + 1) : spec;
        const dataset = await loadDataset(file, loadOptions(options));
        parts.push({ name, examples: dataset.examples });
      }
      const rows = mergeDatasets(parts, { shuffle: options.shuffle, seed: options.seed });
      writeTable(options.out, ["sentence", "label", "source"], rows as unknown as Array<Record<string, unknown>>);
      process.stdout.write(`${rows.length} rows from ${parts.length} files → ${options.out}\n`);
    });

  withColumnOptions(
    data
      .command("convert")
      .description("Convert between CSV, TSV and JSONL (by extension), or SST trees to a table; labels normalised with --scheme.")
      .argument("<file>", "input file")
      .argument("<out>", "output file (.csv, .tsv or .jsonl)"),
  ).action(async (file: string, out: string, options: ColumnOptions) => {
    const dataset = await loadDataset(file, loadOptions(options, false));
    writeTable(out, dataset.columns, outputRows(dataset));
    process.stdout.write(`${dataset.examples.length} rows → ${out}\n`);
  });
}
