/** `tandem classify`: run a strategy over a file and write one prediction per row. */
import type { Command } from "commander";
import { EXIT_CODES, UserError } from "../core/errors.js";
import { streamDataset, type Dataset } from "../data/dataset.js";
import { TableWriter } from "../data/writers.js";
import { matchLabel, resolveScheme } from "../data/labels.js";
import { sortLabels } from "../metrics/labels.js";
import { STRATEGY_TYPES, type StrategyConfig } from "../strategies/config.js";
import { createStrategies, loadStrategyFile } from "../strategies/factory.js";
import type { LlmStrategy } from "../strategies/llm.js";
import { involvesLlm, shorthandConfig } from "../strategies/members.js";
import { outputColumns } from "../strategies/output.js";
import type { CallReport, Prediction, Strategy } from "../strategies/strategy.js";
import { withEncoderOptions, type EncoderCliOptions } from "./encoder-options.js";
import { failedShareExceeded, formatEstimate, formatRunSummary, hintsFromColumns, llmConfigFromCli, tallyOf, unpricedBudgetWarnings, withLlmOptions, type LlmCliOptions } from "./llm.js";
import { parseFormat, parseNumber, printJson } from "./options.js";
import { progressBar, PROGRESS_MODES, type ProgressMode } from "./progress.js";
import { interruptible } from "./signals.js";

interface ClassifyOptions extends EncoderCliOptions, Omit<LlmCliOptions, "model"> {
  strategy?: StrategyConfig["type"];
  config?: string;
  use?: string;
  encoder?: string;
  llm?: string;
  tau: number;
  members?: string;
  method: "majority" | "average";
  input: string;
  out: string;
  textCol?: string;
  /** A column name, false for none (--no-label-col), undefined to guess. */
  labelCol?: string | false;
  scheme?: string;
  neutralThreshold: number;
  prefix?: string;
  maxFailedShare: number;
  format: "text" | "json";
  progress: ProgressMode;
}

/** The strategies the flags (or --config) describe, as a named set, and the one to run. */
function strategiesFromCli(options: ClassifyOptions): { configs: StrategyConfig[]; use: string } {
  if (options.config) {
    if (options.strategy) throw new UserError("give either --config FILE or --strategy, not both");
    const file = loadStrategyFile(options.config);
    const use = options.use ?? file.default;
    if (!file.strategies.some((s) => s.name === use)) throw new UserError(`--use ${use}: no such strategy (${file.strategies.map((s) => s.name).join(", ")})`, { file: options.config });
    return { configs: file.strategies, use };
  }
  // The default is the bundled starter, as in tandem serve and the library (an LLM when --model names a provider).
  const type = options.strategy ?? (options.model && shorthandConfig(options.model).type === "llm" ? "llm" : "encoder");
  const encoder = (model: string | undefined, name = "encoder"): StrategyConfig => ({
    type: "encoder", name, model: model ?? "starter", batchSize: options.batchSize, maxLength: options.maxLength, threads: options.threads, device: options.device, bucketing: options.bucketing, packing: options.packing,
  });
  const llm = (model: string | undefined, flag: string, name = "llm"): StrategyConfig => {
    if (!model) throw new UserError(`--strategy ${type} needs ${flag} (e.g. openai:gpt-4o-mini or compat:http://localhost:11434/v1#llama3.1)`);
    return { ...llmConfigFromCli(options, model), name };
  };
  switch (type) {
    case "lexicon":
      return { configs: [{ type: "lexicon", name: "lexicon", neutralThreshold: options.neutralThreshold }], use: "lexicon" };
    case "encoder":
      return { configs: [encoder(options.model)], use: "encoder" };
    case "llm":
      return { configs: [llm(options.model, "--model")], use: "llm" };
    case "cascade": {
      if (options.model) throw new UserError("a cascade takes --encoder MODEL and --llm PROVIDER:MODEL (not --model)");
      const llmConfig = llm(options.llm, "--llm");
      // A program that shows the encoder's answer gets the cascade's own encoder, unless columns are given.
      const hinted = llmConfig.type === "llm" && !options.encoderPred && !options.encoderProbs && !options.template && (options.program === "label" || options.program === "probs" || options.program === "label-probs");
      return { configs: [encoder(options.encoder), hinted ? { ...llmConfig, hints: "encoder" } : llmConfig, { type: "cascade", name: "cascade", encoder: "encoder", llm: "llm", tau: options.tau }], use: "cascade" };
    }
    case "ensemble": {
      const refs = (options.members ?? "").split(",").map((m) => m.trim()).filter(Boolean);
      if (refs.length < 2) throw new UserError('--strategy ensemble needs --members with at least two, e.g. --members lexicon,starter or --members starter,openai:gpt-4o-mini');
      if (new Set(refs).size !== refs.length) throw new UserError("--members lists a member twice");
      const members = refs.map((ref): StrategyConfig => {
        const config = shorthandConfig(ref);
        if (config.type === "encoder") return encoder(ref, ref);
        if (config.type === "llm") return llm(ref, "--members", ref);
        return { type: "lexicon", name: ref, neutralThreshold: options.neutralThreshold };
      });
      return { configs: [...members, { type: "ensemble", name: "ensemble", members: refs, method: options.method }], use: "ensemble" };
    }
  }
}

export function registerClassify(program: Command): void {
  const command = program
    .command("classify")
    .description("Classify every row of a file with a strategy and write the rows with prediction and probabilities.")
    .option("--strategy <name>", `${STRATEGY_TYPES.join(", ")} (default encoder: the bundled starter, or --model; llm when --model is provider:model)`, parseFormat(STRATEGY_TYPES))
    .option("--config <file>", "a strategy config file (YAML or JSON): one strategy, or named `strategies:` with a `default:` (the schema of experiment files)")
    .option("--use <name>", "with --config: the strategy of the file to run (default: its default)")
    .option("--encoder <model>", "cascade: the encoder (model folder, hub id or starter)", "starter")
    .option("--llm <model>", "cascade: the LLM (openai:MODEL, anthropic:MODEL, local:/path.gguf, compat:URL#MODEL)")
    .option("--tau <t>", "cascade: the encoder answers when its top probability is ≥ τ, the LLM answers the rest", parseNumber("--tau", 0, 1), 0.9)
    .option("--members <list>", "ensemble: comma-separated members: lexicon, model folders / hub ids / starter, provider:model")
    .option("--method <method>", "ensemble: majority or average", parseFormat(["majority", "average"] as const), "majority")
    .requiredOption("-i, --input <file>", "CSV, TSV or JSONL with a text column")
    .requiredOption("-o, --out <file>", "output file: the input columns plus prediction and probabilities")
    .option("--text-col <column>", "text column (default: guessed)")
    .option("--label-col <column>", "gold label column (default: guessed, optional); its labels must be the model's (a guessed column whose values are not is ignored, with a note)")
    .option("--no-label-col", "no gold label column: do not guess one")
    .option("--scheme <name>", "label scheme of the gold labels (normalises spelling before the check against the model's labels)")
    .option("--neutral-threshold <t>", "lexicon: |compound| below t is neutral", parseNumber("--neutral-threshold", 0, 1), 0.05)
    .option("--prefix <text>", "prefix for the added columns (default: none, or STRATEGY_ when the input already has a column of that name)")
    .option("-f, --format <format>", "text or json: the run's summary on stdout (rows, statuses, cost, tokens, truncated texts, the output file)", parseFormat(["text", "json"] as const), "text")
    .option("--progress <mode>", "auto (a bar on a terminal, else a line every 10 s), bar, plain or none (also TANDEM_PROGRESS)", parseFormat(PROGRESS_MODES), "auto")
    .option("--max-failed-share <f>", "accept up to this share of failed rows (status error) before exiting with code 4", parseNumber("--max-failed-share", 0, 1), 0);
  withLlmOptions(withEncoderOptions(command))
    .addHelpText("after", `
--model is a model folder or hub id for the encoder strategy (default: the bundled starter), and a
provider spec for llm (openai:MODEL, openai:ft:..., anthropic:MODEL, local:/path/model.gguf,
compat:http://host:port/v1#MODEL). Keys come from the environment or .env (OPENAI_API_KEY,
ANTHROPIC_API_KEY, OPENAI_COMPAT_API_KEY). The LLM flags (--program, --temperature, ...) also apply to
the LLM of a cascade or an ensemble; a cascade whose program shows the encoder's label gets it from its
own encoder.

The output keeps every input column and adds "prediction" and "probabilities": a JSON list in sorted
label order (the order \`tandem evaluate --probs probabilities\` reads by default). Strategies with an
LLM also write raw_answer, error (why there is no label), status (ok, unparseable, error, skipped), input_tokens,
output_tokens, cost_usd and cached; a cascade writes answered_by. LLM answers are cached in the state
database as they arrive: a killed run started again continues where it stopped and pays nothing
twice. Exit codes: 0 done; 2 bad input; 3 stopped at --max-cost; 4 rows failed (status error, e.g.
a 401 or a server that stayed down; the reasons are in the error column and summarised on stderr;
--max-failed-share accepts some); 130 interrupted.

Examples:
  tandem classify --strategy lexicon -i ../shared/data/sentiment-merged/test_all.csv -o lexicon.csv
  tandem classify --strategy encoder --model starter -i ../shared/data/sentiment-merged/test_all.csv -o encoder.csv
  tandem classify --strategy llm --model openai:gpt-4o-mini --program label --encoder-pred prediction -i encoder.csv -o llm.csv
  tandem classify --strategy cascade --encoder starter --llm openai:gpt-4o-mini --tau 0.8 -i in.csv -o cascade.csv
  tandem classify --strategy ensemble --members lexicon,starter --method average -i in.csv -o vote.csv
  tandem classify --config serve.yaml --use cascade -i in.csv -o out.csv`)
    .action(async (options: ClassifyOptions) => {
      const { configs, use } = strategiesFromCli(options);
      const chosen = configs.find((c) => c.name === use)!;
      const withLlm = involvesLlm(chosen, new Map(configs.map((c) => [c.name!, c])));
      // The file is read as it streams, a part at a time: memory stays bounded whatever its length.
      // A guessed gold column that turns out not to hold the model's labels is dropped (with a note), not an error.
      let labelColumn: string | null | undefined = options.labelCol === false ? null : options.labelCol;
      const parts = async function* () {
        for await (const part of streamDataset(options.input, { columns: { text: options.textCol, label: labelColumn }, requireLabels: false }, PART_ROWS)) {
          if (labelColumn === null && part.labelColumn !== undefined) yield { ...part, labelColumn: undefined, examples: part.examples.map((e) => ({ ...e, label: undefined })) };
          else yield part;
        }
      };
      const checkGold = (part: Dataset, labels: readonly string[]) => {
        const unknown = unknownLabels(part, labels, options);
        if (unknown.length === 0) return;
        if (options.labelCol === undefined && labelColumn === undefined) {
          process.stderr.write(`note: column "${part.labelColumn}" looked like gold labels, but its values (${unknown.slice(0, 5).join(", ")}) are not the model's labels (${labels.join(", ")}): it is not used as gold (name the gold column with --label-col, or say there is none with --no-label-col)\n`);
          labelColumn = null;
          part.labelColumn = undefined;
          for (const example of part.examples) example.label = undefined;
          return;
        }
        throw new UserError(`the gold labels (${unknown.slice(0, 5).join(", ")}) are not among the model's labels (${labels.join(", ")}); the label schemes differ (use --scheme to normalise spellings, --label-col to pick another column, or --no-label-col)`, { file: part.file, column: part.labelColumn });
      };
      // Hint columns are for a plain llm strategy (a cascade's LLM gets its encoder's answers).
      const hintsOf = chosen.type === "llm" && !options.config ? (part: Dataset) => hintsFromColumns(part, options, resolveScheme(options.scheme ?? "neg_neu_pos").labels) : undefined;
      const set = await createStrategies(configs, {
        store: options.db,
        pricing: options.pricing,
        scheme: options.scheme,
        onDownload: (file) => process.stderr.write(`downloading ${file}\n`),
        onBatchProgress: (message) => process.stderr.write(message + "\n"),
      });
      try {
        const strategy = set.strategies.get(use)!;
        const llms = llmsOf(strategy);
        for (const warning of [...llms.flatMap((llm) => llm.warnings), ...unpricedBudgetWarnings(llms, options.maxCost)]) process.stderr.write(warning + "\n");
        // The rows in the file, for the progress's total, percentage and ETA (the LLM's estimate counts them on its pass).
        let total = 0;
        if (llms.length > 0) {
          // A first pass prices the whole file (and finds bad rows) before anything is paid.
          const totals = llms.map(() => ({ calls: 0, cached: 0, inputTokens: 0, outputTokens: 0, costUsd: 0, basis: "" }));
          for await (const part of parts()) {
            checkGold(part, strategy.labels);
            total += part.examples.length;
            const hints = hintsOf?.(part);
            for (const [i, llm] of llms.entries()) {
              const estimate = await llm.estimate(part.examples.map((e) => e.text), { hints });
              const total = totals[i]!;
              total.calls += estimate.calls;
              total.cached += estimate.cached;
              total.inputTokens += estimate.inputTokens;
              total.outputTokens += estimate.outputTokens;
              total.costUsd += estimate.costUsd;
              total.basis = estimate.basis;
            }
          }
          llms.forEach((llm, i) => process.stderr.write(`${llm.name}: ${formatEstimate(totals[i]!)}${strategy.type === "cascade" ? " (every row; the cascade sends only the uncertain ones)" : ""}\n`));
          if (options.estimate) return;
        }
        if (llms.length === 0 && options.progress !== "none") for await (const part of parts()) total += part.examples.length;
        await classifyFile(parts, strategy, options, { hintsOf, withLlm, checkGold, total });
      } finally {
        await set.close();
      }
    });
}

/** Rows read, classified and written at a time. */
const PART_ROWS = 8192;

/** The LLM strategies inside a strategy (itself included). */
function llmsOf(strategy: Strategy, seen = new Set<Strategy>()): LlmStrategy[] {
  if (seen.has(strategy)) return [];
  seen.add(strategy);
  return [...(strategy.type === "llm" ? [strategy as LlmStrategy] : []), ...strategy.members.flatMap((m) => llmsOf(m, seen))];
}

/** Gold labels of the part (when it has a gold column) that the strategy cannot predict. */
function unknownLabels(part: Dataset, labels: readonly string[], options: ClassifyOptions): string[] {
  if (part.labelColumn === undefined) return [];
  const scheme = options.scheme ? resolveScheme(options.scheme) : undefined;
  const unknown = new Set<string>();
  for (const example of part.examples) {
    if (example.label === undefined) continue;
    const label = scheme ? (matchLabel(scheme, example.label) ?? example.label) : example.label;
    if (!labels.includes(label)) unknown.add(label);
  }
  return [...unknown];
}

async function classifyFile(parts: () => AsyncGenerator<Dataset>, strategy: Strategy, options: ClassifyOptions, how: { hintsOf?: (part: Dataset) => ReturnType<typeof hintsFromColumns>; withLlm: boolean; checkGold: (part: Dataset, labels: readonly string[]) => void; total: number }): Promise<void> {
  const progress = progressBar(how.total, strategy.name, options.progress);
  // First Ctrl-C: stop dispatching, let calls in flight land in the cache, write what we have.
  const interruption = interruptible();
  let writer: TableWriter | undefined;
  const tally = tallyOf([]);
  // Per strategy, summed over the file's parts: texts cut at an LLM's input cap, LLM retries.
  const cut = new Map<string, { count: number; maxChars: number }>();
  let retries = 0;
  let truncated: { count: number; limit: number } | undefined;
  const onReport = (report: CallReport) => {
    if (report.cut) cut.set(report.strategy, { count: (cut.get(report.strategy)?.count ?? 0) + report.cut.count, maxChars: report.cut.maxChars });
    if (report.truncated && report.truncated.count > 0) truncated = { count: (truncated?.count ?? 0) + report.truncated.count, limit: report.truncated.limit };
    retries += report.retries ?? 0;
  };
  try {
    let output: ReturnType<typeof outputColumns> | undefined;
    for await (const part of parts()) {
      output ??= outputColumns(strategy, how.withLlm, part.columns, { prefix: options.prefix, file: options.input, onPrefix: (message) => process.stderr.write(message + "\n") });
      writer ??= new TableWriter(options.out, output.columns);
      how.checkGold(part, strategy.labels);
      const done = tally.rows;
      let predictions: Prediction[];
      try {
        predictions = await strategy.classify(part.examples.map((e) => e.text), { hints: how.hintsOf?.(part), signal: interruption.hard, stop: interruption.stop, onProgress: (n) => progress.update(done + n), onReport });
      } catch (error) {
        if (interruption.hard.aborted) throw new UserError("interrupted: answers received so far are cached; run the same command again to continue", {}, "interrupted");
        throw error;
      }
      // Strategies without an LLM ignore the stop: an interrupted file of theirs is not written at all.
      if (interruption.stop.aborted && !how.withLlm) throw new UserError("interrupted: nothing written; run the same command again", {}, "interrupted");
      part.examples.forEach((example, i) => writer!.write({ ...example.row, ...output!.values(predictions[i]!) }));
      tallyOf(predictions, tally);
    }
    writer!.close();
  } catch (error) {
    writer?.abandon();
    throw error;
  } finally {
    progress.stop();
    interruption.dispose();
  }
  const stopped = interruption.stop.aborted;
  if (how.withLlm) {
    const cutLines = [...cut].filter(([, c]) => c.count > 0).map(([name, c]) => `${c.count} texts cut at ${c.maxChars} characters in ${name}'s prompts (--max-input-chars)`);
    process.stderr.write(`${formatRunSummary(tally, { interrupted: stopped, retries })}${cutLines.length ? `\n${cutLines.join("\n")}` : ""}\n→ ${options.out}\n`);
  } else {
    process.stderr.write(`${tally.rows} rows → ${options.out} (probabilities in the order ${sortLabels(strategy.labels).join(", ")})${truncated ? `; ${truncated.count} texts truncated at ${truncated.limit} tokens` : ""}\n`);
  }
  const failed = tally.byStatus.error ?? 0;
  if (options.format === "json") {
    printJson({
      out: options.out, strategy: strategy.name, rows: tally.rows, statuses: tally.byStatus, failed, interrupted: stopped, budget_stop: tally.budgetStop,
      spent_usd: tally.spentUsd, cached_usd: tally.cachedUsd, input_tokens: tally.inputTokens, output_tokens: tally.outputTokens,
      reasons: Object.fromEntries(tally.reasons), truncated: truncated?.count ?? 0, probabilities_order: sortLabels(strategy.labels),
    });
  }
  if (stopped) process.exitCode = EXIT_CODES.interrupted;
  else if (tally.budgetStop) process.exitCode = EXIT_CODES["budget-stop"];
  else if (failedShareExceeded(failed, tally.rows, options.maxFailedShare)) {
    process.stderr.write(`${failed} of ${tally.rows} rows failed (more than --max-failed-share ${options.maxFailedShare}): exit code ${EXIT_CODES["rows-failed"]}\n`);
    process.exitCode = EXIT_CODES["rows-failed"];
  }
}
