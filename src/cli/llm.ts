/** The LLM flags of `tandem classify`, `prompt render` and `finetune build`: flags → llm config, hint columns, estimates, summaries. */
import type { Command } from "commander";
import { DEFAULT_COMPLETION_FORMAT, unescapeSeparator, type CompletionFormat } from "../llm/prompts/completion.js";
import { UserError } from "../core/errors.js";
import { loadDataset, type Dataset } from "../data/dataset.js";
import { resolveScheme, matchLabel } from "../data/labels.js";
import { parseProbabilityCell } from "../data/predictions.js";
import { cellText } from "../data/readers.js";
import { CALL_DEFAULTS } from "../llm/call-defaults.js";
import { formatUsd } from "../llm/pricing.js";
import { PROGRAM_NAMES, PROGRAMS, type ProgramName } from "../llm/prompts/programs.js";
import { sortLabels } from "../metrics/labels.js";
import type { LlmConfig } from "../strategies/config.js";
import { promptBuilder, type LlmEstimate, type LlmStrategy } from "../strategies/llm.js";
import type { Prediction, Strategy } from "../strategies/strategy.js";
import { parseFormat, parseInteger, parseNumber, parseNumberList } from "./options.js";

export interface LlmCliOptions {
  model?: string;
  program: ProgramName;
  template?: string;
  scheme?: string;
  encoderPred?: string;
  encoderProbs?: string;
  examples?: string;
  k: number;
  embedder?: string;
  seed: number;
  task?: string;
  item?: string;
  system?: string;
  maxInputChars?: number;
  temperature: number;
  samplingSeed?: number;
  maxTokens?: number;
  structured: "auto" | "on" | "off";
  promptEnd?: string;
  completionEnd?: string;
  logprobs: "auto" | "on" | "off";
  topLogprobs: number;
  concurrency: number;
  rpm?: number;
  tpm?: number;
  timeout: number;
  retries: number;
  maxCost?: number;
  price?: number[];
  pricing?: string;
  db?: string;
  estimate?: boolean;
  batch?: boolean;
  pollSeconds: number;
}

export function withLlmOptions(command: Command): Command {
  return command
    .option("--program <name>", `prompt program: ${PROGRAM_NAMES.join(", ")}`, parseFormat(PROGRAM_NAMES), "zero-shot")
    .option("--template <file>", "your own prompt template (YAML with system and user texts; see docs/llms.md)")
    .option("--encoder-pred <column>", "column with the encoder's label (programs label, label-probs)")
    .option("--encoder-probs <column>", "column with the encoder's probabilities, sorted label order (programs probs, label-probs)")
    .option("--examples <file>", "labelled examples for similar / balanced / few-shot programs (never the test split)")
    .option("--k <n>", "number of examples", parseInteger("--k", 1), 5)
    .option("--embedder <model>", "embedding model for choosing similar examples (default: BM25)")
    .option("--seed <n>", "seed for example choice", parseInteger("--seed"), 42)
    .option("--task <words>", "what is classified, for the prompt wording (default from the scheme: sentiment)")
    .option("--item <word>", "what the texts are (default: review for sentiment, else text)")
    .option("--system <text>", "system message (default: 'You are a sentiment analysis assistant.')")
    .option("--max-input-chars <n>", "longest text put into a prompt; longer ones are cut (and counted) (default 6000)", parseInteger("--max-input-chars", 1))
    .option("--temperature <t>", "sampling temperature", parseNumber("--temperature", 0, 2), CALL_DEFAULTS.temperature)
    .option("--sampling-seed <n>", "seed sent to the provider (OpenAI and compatible servers, best effort; local models); each seed is its own cache entry", parseInteger("--sampling-seed"))
    .option("--max-tokens <n>", "answer length limit", parseInteger("--max-tokens", 1))
    .option("--structured <mode>", "JSON-schema output: auto (where supported), on, off", parseFormat(["auto", "on", "off"] as const), CALL_DEFAULTS.structured)
    .option("--prompt-end <text>", "completion-style models (babbage-002, davinci-002, their fine-tunes): the prompt/completion format, each prompt ending with this separator (\\n for a newline; default \"\\n\\n###\\n\\n\" when --completion-end is given)")
    .option("--completion-end <text>", "with the prompt/completion format: the answer stops here (default \"\\n\" when --prompt-end is given)")
    .option("--logprobs <mode>", "token log-probabilities for class probabilities: auto, on, off", parseFormat(["auto", "on", "off"] as const), CALL_DEFAULTS.logprobs)
    .option("--top-logprobs <n>", "alternatives per token (1–20)", parseInteger("--top-logprobs", 1), CALL_DEFAULTS.topLogprobs)
    .option("--concurrency <n>", "requests in flight", parseInteger("--concurrency", 1), CALL_DEFAULTS.concurrency)
    .option("--rpm <n>", "requests-per-minute limit", parseInteger("--rpm", 1))
    .option("--tpm <n>", "tokens-per-minute limit", parseInteger("--tpm", 1))
    .option("--timeout <seconds>", "per-request timeout", parseNumber("--timeout", 1), CALL_DEFAULTS.timeoutSeconds)
    .option("--retries <n>", "retries of a failed request (429, 5xx, timeouts, malformed answers)", parseInteger("--retries", 0), CALL_DEFAULTS.retries)
    .option("--max-cost <dollars>", "stop cleanly before spending more than this (finished rows are kept)", parseNumber("--max-cost", 0))
    .option("--pricing <file>", "prices to use instead of / on top of the built-in table (JSON or YAML)")
    .option("--price <in,out>", "this model's price in dollars per million input and output tokens (an OpenAI-compatible endpoint the table does not know)", parseNumberList("--price"))
    .option("--db <file>", "state database holding the response cache (default .tandem/tandem.db, or TANDEM_DB)")
    .option("--estimate", "print the token and cost estimate and stop")
    .option("--batch", "OpenAI Batch API: half price, answers within 24 h; resumable (run the same command again to keep waiting)")
    .option("--poll-seconds <n>", "with --batch: seconds between status checks", parseNumber("--poll-seconds", 0.01), 30);
}

/** The prompt/completion format the flags ask for (either separator flag turns it on), else undefined. */
export function completionFormatFromCli(options: { promptEnd?: string; completionEnd?: string }, on = false): CompletionFormat | undefined {
  if (!on && options.promptEnd === undefined && options.completionEnd === undefined) return undefined;
  const format = {
    promptEnd: options.promptEnd === undefined ? DEFAULT_COMPLETION_FORMAT.promptEnd : unescapeSeparator(options.promptEnd),
    completionEnd: options.completionEnd === undefined ? DEFAULT_COMPLETION_FORMAT.completionEnd : unescapeSeparator(options.completionEnd),
  };
  if (format.promptEnd === "" || format.completionEnd === "") throw new UserError("--prompt-end and --completion-end must not be empty");
  return format;
}

/** The llm strategy config the flags describe. */
export function llmConfigFromCli(options: LlmCliOptions, model: string, scheme?: string): LlmConfig {
  return {
    type: "llm",
    model,
    program: options.program,
    template: options.template,
    scheme: scheme ?? options.scheme,
    examples: options.examples,
    k: options.k,
    embedder: options.embedder,
    exampleSeed: options.seed,
    task: options.task,
    item: options.item,
    system: options.system,
    maxInputChars: options.maxInputChars,
    temperature: options.temperature,
    samplingSeed: options.samplingSeed,
    maxTokens: options.maxTokens,
    structured: options.structured,
    completionFormat: completionFormatFromCli(options),
    logprobs: options.logprobs,
    topLogprobs: options.topLogprobs,
    concurrency: options.concurrency,
    rpm: options.rpm,
    tpm: options.tpm,
    timeout: options.timeout,
    retries: options.retries,
    maxCost: options.maxCost,
    price: priceFromCli(options.price),
    batch: options.batch,
    pollSeconds: options.pollSeconds,
  };
}

function priceFromCli(price: number[] | undefined): { input: number; output: number } | undefined {
  if (price === undefined) return undefined;
  if (price.length !== 2 || price.some((p) => !(p >= 0))) throw new UserError("--price takes two non-negative numbers: input,output dollars per million tokens (e.g. 0.15,0.6)");
  return { input: price[0]!, output: price[1]! };
}

/** Warnings for LLMs a budget cannot stop: no price is known for them, so their calls count 0. */
export function unpricedBudgetWarnings(strategies: Iterable<Strategy>, budget: number | undefined): string[] {
  if (budget === undefined) return [];
  return [...strategies]
    .filter((s): s is LlmStrategy => s.type === "llm" && "prices" in s && Boolean((s as LlmStrategy).prices.unpriced))
    .map((s) => `warning: ${s.name} (${s.info.spec}) has no known price, so its calls count $0 and the budget of $${budget} cannot stop them: give its price with --price IN,OUT or --pricing FILE`);
}

/**
 * Hints for the prompt from the file's columns (--encoder-pred, --encoder-probs), in `labels` order;
 * undefined when none are given. A program that needs them and has none is an error unless `fallback`
 * (e.g. a cascade's encoder) will supply them.
 */
export function hintsFromColumns(dataset: Dataset, options: LlmCliOptions, labels: readonly string[], fallback = false): Prediction[] | undefined {
  const program = PROGRAMS[options.program];
  const scheme = resolveScheme(options.scheme ?? "neg_neu_pos");
  if (!options.template && !fallback) {
    if (program.usesEncoderLabel && !options.encoderPred) throw new UserError(`program "${options.program}" needs the encoder's label: --encoder-pred COLUMN (e.g. "prediction" from tandem classify --strategy encoder)`);
    if (program.usesEncoderProbs && !options.encoderProbs) throw new UserError(`program "${options.program}" needs the encoder's probabilities: --encoder-probs COLUMN`);
  }
  if (!options.encoderPred && !options.encoderProbs) return undefined;
  const column = (name: string) => {
    if (!dataset.columns.includes(name)) throw new UserError(`no column "${name}" (columns: ${dataset.columns.join(", ")})`, { file: dataset.file });
  };
  if (options.encoderPred) column(options.encoderPred);
  if (options.encoderProbs) column(options.encoderProbs);
  const sorted = sortLabels(labels);
  return dataset.examples.map((e) => {
    const raw = options.encoderPred ? cellText(e.row[options.encoderPred]) : "";
    let probabilities: number[] | undefined;
    if (options.encoderProbs) {
      const vector = parseProbabilityCell(e.row[options.encoderProbs]);
      if (!vector || vector.length !== labels.length) {
        throw new UserError(`expected ${labels.length} probabilities (sorted label order: ${sorted.join(", ")})`, { file: dataset.file, line: e.line, column: options.encoderProbs });
      }
      probabilities = labels.map((label) => vector[sorted.indexOf(label)] as number);
    }
    const label = options.encoderPred ? (matchLabel(scheme, raw) ?? raw) : labels[probabilities!.indexOf(Math.max(...probabilities!))]!;
    return { label, probabilities, status: "ok", costUsd: 0 };
  });
}

export function formatEstimate(estimate: LlmEstimate): string {
  return `estimate: ${estimate.calls} calls (${estimate.cached} already cached), ≤ ${estimate.inputTokens} input + ${estimate.outputTokens} output tokens, ≤ ${formatUsd(estimate.costUsd)} (${estimate.basis})`;
}

/** What a run's predictions add up to, gathered part by part (a streamed file is never held whole). */
export interface RunTally {
  rows: number;
  byStatus: Record<string, number>;
  budgetStop: boolean;
  inputTokens: number;
  outputTokens: number;
  spentUsd: number;
  cachedUsd: number;
  /** Reason → rows, for failed and skipped rows. */
  reasons: Map<string, number>;
}

export function tallyOf(predictions: readonly Prediction[], into: RunTally = { rows: 0, byStatus: {}, budgetStop: false, inputTokens: 0, outputTokens: 0, spentUsd: 0, cachedUsd: 0, reasons: new Map() }): RunTally {
  for (const p of predictions) {
    into.rows++;
    into.byStatus[p.status] = (into.byStatus[p.status] ?? 0) + 1;
    into.inputTokens += p.inputTokens ?? 0;
    into.outputTokens += p.outputTokens ?? 0;
    if (p.cached) into.cachedUsd += p.costUsd;
    else into.spentUsd += p.costUsd;
    if (p.status === "error" || p.status === "skipped") {
      const reason = p.error ?? p.status;
      into.reasons.set(reason, (into.reasons.get(reason) ?? 0) + 1);
      if (p.status === "skipped" && reason.startsWith("budget")) into.budgetStop = true;
    }
  }
  return into;
}

/** The closing summary of a run with LLM answers: rows by status, tokens, money, and what to do next. */
export function formatRunSummary(tally: RunTally, how: { interrupted?: boolean; retries?: number } = {}): string {
  const count = (status: string) => tally.byStatus[status] ?? 0;
  const skipped = count("skipped");
  const errors = count("error");
  let out = `${tally.rows} rows: ${count("ok")} answered, ${count("unparseable")} unparseable, ${errors} failed, ${skipped} not run; ${tally.inputTokens} input + ${tally.outputTokens} output tokens; spent ${formatUsd(tally.spentUsd)} now, ${formatUsd(tally.cachedUsd)} from cache${how.retries !== undefined ? `; ${how.retries} retries` : ""}`;
  if (how.interrupted) out += `\ninterrupted: ${skipped} rows not run; run the same command again to finish (answered rows are cached and cost nothing)`;
  if (tally.budgetStop) out += `\nstopped at the --max-cost budget: ${skipped} rows not run; run again with a higher --max-cost to finish (answered rows are cached and cost nothing)`;
  if (errors > 0) out += `\n${errors} rows failed after retries (status "error"; the reason is in the error column): ${topReasons(tally.reasons)}; run again to retry only those`;
  return out;
}

/** The commonest reasons of failed rows, with counts: 'HTTP 401: … (200 rows)'. */
export function topReasons(reasons: ReadonlyMap<string, number>, limit = 3): string {
  return [...reasons].sort((a, b) => b[1] - a[1]).slice(0, limit).map(([reason, n]) => `${reason.replace(/\s+/g, " ").slice(0, 160)} (${n} row${n === 1 ? "" : "s"})`).join("; ");
}

/** Exit code 4 when failed rows (status error) exceed the accepted share. */

export function failedShareExceeded(failed: number, rows: number, acceptedShare: number): boolean {
  return failed > 0 && failed / Math.max(1, rows) > acceptedShare;
}

export function registerPrompt(program: Command): void {
  const prompt = program.command("prompt").description("Inspect prompt programs.");
  withLlmOptions(
    prompt
      .command("render")
      .description("Show the exact messages a program sends for one row (no call is made).")
      .requiredOption("-i, --input <file>", "CSV, TSV or JSONL with a text column")
      .option("--scheme <name>", "label scheme: the labels to choose from", "neg_neu_pos")
      .option("--row <n>", "1-based data row", parseInteger("--row", 1), 1)
      .option("--text-col <column>", "text column (default: guessed)")
      .option("-f, --format <format>", "text or json", parseFormat(["text", "json"] as const), "text"),
  ).action(async (options: LlmCliOptions & { input: string; row: number; textCol?: string; format: string }) => {
    const dataset = await loadDataset(options.input, { columns: { text: options.textCol }, requireLabels: false });
    if (options.row > dataset.examples.length) throw new UserError(`--row ${options.row} is past the last row (${dataset.examples.length})`, { file: options.input });
    const single: Dataset = { ...dataset, examples: [dataset.examples[options.row - 1]!] };
    const builder = promptBuilder(llmConfigFromCli(options, "prompt"));
    const prompts = await builder.prompts([single.examples[0]!.text], hintsFromColumns(single, options, builder.labels));
    const messages = prompts(0);
    if (options.format === "json") process.stdout.write(JSON.stringify(messages, null, 2) + "\n");
    else process.stdout.write(messages.map((m) => `[${m.role}]\n${m.content}`).join("\n\n") + "\n");
  });
}


export { formatUsd };
