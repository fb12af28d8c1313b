/** The LLM side of `tandem classify` and `tandem prompt render`: options, prompt plans, estimates, summaries. */
import type { Command } from "commander";
import { UserError } from "../core/errors.js";
import { openStore } from "../core/store.js";
import { loadDataset, type Dataset } from "../data/dataset.js";
import { resolveScheme, matchLabel, type LabelScheme } from "../data/labels.js";
import { parseProbabilityCell } from "../data/predictions.js";
import { cellText } from "../data/readers.js";
import { EncoderModel } from "../encoders/model.js";
import { resolveModelDir } from "../encoders/hub.js";
import { runEncoder } from "../encoders/inference.js";
import { ResponseCache, cacheKey } from "../llm/cache.js";
import { loadPriceTable, lookupPrice, costOf, PRICES_AS_OF, type PriceLookup } from "../llm/pricing.js";
import { planPrompts, exampleKind, type PromptPlan } from "../llm/prompts/build.js";
import { PROGRAM_NAMES, PROGRAMS, defaultWording, type ProgramName } from "../llm/prompts/programs.js";
import { loadTemplate } from "../llm/prompts/template.js";
import { createChatModel } from "../llm/providers/index.js";
import { buildRequest, runLlm, type LlmRun, type LlmRunOptions } from "../llm/runner.js";
import { countChatTokens } from "../llm/tokens.js";
import type { ChatModel } from "../llm/types.js";
import { sortLabels } from "../metrics/labels.js";
import { parseFormat, parseInteger, parseNumber } from "./options.js";

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
  temperature: number;
  samplingSeed?: number;
  maxTokens?: number;
  structured: "auto" | "on" | "off";
  logprobs: "auto" | "on" | "off";
  topLogprobs: number;
  concurrency: number;
  rpm?: number;
  tpm?: number;
  timeout: number;
  retries: number;
  maxCost?: number;
  pricing?: string;
  db?: string;
  estimate?: boolean;
  batch?: boolean;
  pollSeconds: number;
}

export function withLlmOptions(command: Command): Command {
  return command
    .option("--program <name>", `prompt program: ${PROGRAM_NAMES.join(", ")}`, parseFormat(PROGRAM_NAMES), "zero-shot")
    .option("--template <file>", "your own prompt template (YAML with system and user texts; see README)")
    .option("--encoder-pred <column>", "column with the encoder's label (programs label, label-probs)")
    .option("--encoder-probs <column>", "column with the encoder's probabilities, sorted label order (programs probs, label-probs)")
    .option("--examples <file>", "labelled examples for similar / balanced / few-shot programs (never the test split)")
    .option("--k <n>", "number of examples", parseInteger("--k", 1), 5)
    .option("--embedder <model>", "embedding model for choosing similar examples (default: BM25)")
    .option("--seed <n>", "seed for example choice", parseInteger("--seed"), 42)
    .option("--task <words>", "what is classified, for the prompt wording (default from the scheme: sentiment)")
    .option("--item <word>", "what the texts are (default: review for sentiment, else text)")
    .option("--system <text>", "system message (default: 'You are a sentiment analysis assistant.')")
    .option("--temperature <t>", "sampling temperature", parseNumber("--temperature", 0, 2), 0)
    .option("--sampling-seed <n>", "seed sent to the provider (OpenAI and compatible servers, best effort; local models); each seed is its own cache entry", parseInteger("--sampling-seed"))
    .option("--max-tokens <n>", "answer length limit", parseInteger("--max-tokens", 1))
    .option("--structured <mode>", "JSON-schema output: auto (where supported), on, off", parseFormat(["auto", "on", "off"] as const), "auto")
    .option("--logprobs <mode>", "token log-probabilities for class probabilities: auto, on, off", parseFormat(["auto", "on", "off"] as const), "auto")
    .option("--top-logprobs <n>", "alternatives per token (1–20)", parseInteger("--top-logprobs", 1), 5)
    .option("--concurrency <n>", "requests in flight", parseInteger("--concurrency", 1), 8)
    .option("--rpm <n>", "requests-per-minute limit", parseInteger("--rpm", 1))
    .option("--tpm <n>", "tokens-per-minute limit", parseInteger("--tpm", 1))
    .option("--timeout <seconds>", "per-request timeout", parseNumber("--timeout", 1), 60)
    .option("--retries <n>", "retries of a failed request (429, 5xx, timeouts, malformed answers)", parseInteger("--retries", 0), 6)
    .option("--max-cost <dollars>", "stop cleanly before spending more than this (finished rows are kept)", parseNumber("--max-cost", 0))
    .option("--pricing <file>", "prices to use instead of / on top of the built-in table (JSON or YAML)")
    .option("--db <file>", "state database holding the response cache (default .tandem/tandem.db, or TANDEM_DB)")
    .option("--estimate", "print the token and cost estimate and stop")
    .option("--batch", "OpenAI Batch API: half price, answers within 24 h; resumable (run the same command again to keep waiting)")
    .option("--poll-seconds <n>", "with --batch: seconds between status checks", parseNumber("--poll-seconds", 0.01), 30);
}

export interface LlmSetup {
  model: ChatModel;
  scheme: LabelScheme;
  labels: string[];
  plan: PromptPlan;
  messages: (index: number) => ReturnType<ReturnType<typeof planPrompts>>;
  prices: PriceLookup;
  runOptions: Omit<LlmRunOptions, "onResult" | "onRetry">;
  cache: ResponseCache;
}

function encoderHints(dataset: Dataset, options: LlmCliOptions, labels: string[]): Pick<PromptPlan, "encoderLabels" | "encoderProbs"> {
  const uses = options.template ? { label: true, probs: true } : { label: PROGRAMS[options.program].usesEncoderLabel, probs: PROGRAMS[options.program].usesEncoderProbs };
  const hints: Pick<PromptPlan, "encoderLabels" | "encoderProbs"> = {};
  const scheme = resolveScheme(options.scheme ?? "neg_neu_pos");
  if (uses.label && !options.template && !options.encoderPred) {
    throw new UserError(`program "${options.program}" needs the encoder's label: --encoder-pred COLUMN (e.g. "prediction" from tandem classify --strategy encoder)`);
  }
  if (uses.probs && !options.template && !options.encoderProbs) {
    throw new UserError(`program "${options.program}" needs the encoder's probabilities: --encoder-probs COLUMN`);
  }
  const column = (name: string) => {
    if (!dataset.columns.includes(name)) throw new UserError(`no column "${name}" (columns: ${dataset.columns.join(", ")})`, { file: dataset.file });
  };
  if (options.encoderPred) {
    column(options.encoderPred);
    hints.encoderLabels = dataset.examples.map((e) => {
      const raw = cellText(e.row[options.encoderPred!]);
      return matchLabel(scheme, raw) ?? raw;
    });
  }
  if (options.encoderProbs) {
    column(options.encoderProbs);
    const sorted = sortLabels(labels);
    hints.encoderProbs = dataset.examples.map((e) => {
      const vector = parseProbabilityCell(e.row[options.encoderProbs!]);
      if (!vector || vector.length !== labels.length) {
        throw new UserError(`expected ${labels.length} probabilities (sorted label order: ${sorted.join(", ")})`, { file: dataset.file, line: e.line, column: options.encoderProbs });
      }
      return labels.map((label) => vector[sorted.indexOf(label)] as number);
    });
  }
  return hints;
}

/** The prompt plan for a dataset: wording, encoder hints and demonstrations. */
export async function preparePlan(dataset: Dataset, options: LlmCliOptions): Promise<{ scheme: LabelScheme; labels: string[]; plan: PromptPlan }> {
  const scheme = resolveScheme(options.scheme ?? "neg_neu_pos");
  const labels = [...scheme.labels];
  const template = options.template ? loadTemplate(options.template) : undefined;
  const wording = {
    ...defaultWording(scheme.description),
    ...(options.task ? { task: options.task } : {}),
    ...(options.item ? { item: options.item } : {}),
    ...(options.system ? { system: options.system } : {}),
  };
  const texts = dataset.examples.map((e) => e.text);
  const plan: PromptPlan = { program: options.program, template, labels, wording, texts, k: options.k, seed: options.seed, ...encoderHints(dataset, options, labels) };
  const kind = exampleKind(plan);
  if (kind !== "none") {
    if (!options.examples) throw new UserError(`program "${options.program}" needs labelled examples: --examples FILE`);
    const pool = await loadDataset(options.examples, { scheme });
    plan.pool = pool.examples.map((e) => ({ text: e.text, label: e.label as string }));
    if (kind === "similar" && options.embedder) {
      const embedder = await EncoderModel.load(await resolveModelDir(options.embedder));
      const poolVectors = await runEncoder(embedder, plan.pool.map((e) => e.text));
      const queryVectors = await runEncoder(embedder, texts);
      plan.vectors = { pool: poolVectors.values, queries: queryVectors.values, dim: poolVectors.width };
      await embedder.release();
    }
  }
  return { scheme, labels, plan };
}

export async function setupLlm(dataset: Dataset, options: LlmCliOptions): Promise<LlmSetup> {
  if (!options.model) throw new UserError("--strategy llm needs --model (e.g. openai:gpt-4o-mini or compat:http://localhost:11434/v1#llama3.1)");
  const { scheme, labels, plan } = await preparePlan(dataset, options);
  const texts = plan.texts;
  const model = await createChatModel(options.model);
  const prices = lookupPrice(loadPriceTable(options.pricing), model.provider, model.model);
  const cache = new ResponseCache(openStore(options.db));
  const messages = planPrompts(plan);
  // Fine-tuned models answer as they were trained (a bare label), so "auto" leaves structured output off for them.
  const fineTuned = model.model.startsWith("ft:");
  const structured = options.structured === "on" || (options.structured === "auto" && model.provider !== "compat" && model.supportsStructured && !fineTuned);
  const logprobs = options.logprobs === "on" || (options.logprobs === "auto" && model.supportsLogprobs);
  return {
    model,
    scheme,
    labels,
    plan,
    messages,
    prices,
    cache,
    runOptions: {
      model,
      labels,
      messages,
      count: texts.length,
      temperature: options.temperature,
      seed: options.samplingSeed,
      maxTokens: options.maxTokens,
      structured,
      logprobs,
      topLogprobs: options.topLogprobs,
      concurrency: options.concurrency,
      rpm: options.rpm,
      tpm: options.tpm,
      timeoutMs: options.timeout * 1000,
      maxRetries: options.retries,
      cache,
      prices,
      maxCostUsd: options.maxCost,
    },
  };
}

export interface Estimate {
  calls: number;
  cached: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  basis: string;
}

/** Tokens and dollars of the calls not yet in the cache (answers at their length limit: an upper bound). */
export function estimateRun(setup: LlmSetup): Estimate {
  const options = setup.runOptions;
  let cached = 0;
  let inputTokens = 0;
  let outputTokens = 0;
  for (let i = 0; i < options.count; i++) {
    const request = buildRequest(options, setup.messages(i));
    if (setup.cache.get(cacheKey(setup.model.provider, setup.model.model, request))) {
      cached++;
      continue;
    }
    inputTokens += countChatTokens(request.messages, setup.model.model);
    outputTokens += request.maxTokens;
  }
  const costUsd = costOf({ inputTokens, cachedInputTokens: 0, outputTokens }, setup.prices);
  return { calls: options.count - cached, cached, inputTokens, outputTokens, costUsd, basis: setup.prices.price ? `${setup.prices.basis}, prices as of ${PRICES_AS_OF}` : setup.prices.basis };
}

/** Dollars with enough decimals to show what a few calls cost. */
export function formatUsd(dollars: number): string {
  return `$${dollars >= 1 ? dollars.toFixed(2) : dollars >= 0.01 ? dollars.toFixed(4) : dollars.toFixed(6)}`;
}

export function formatEstimate(estimate: Estimate): string {
  return `estimate: ${estimate.calls} calls (${estimate.cached} already cached), ≤ ${estimate.inputTokens} input + ${estimate.outputTokens} output tokens, ≤ ${formatUsd(estimate.costUsd)} (${estimate.basis})`;
}

export function formatRunSummary(run: LlmRun, rows: number, interrupted = false): string {
  const t = run.totals;
  const answered = rows - t.unparseable - t.errors - t.skipped;
  let out = `${rows} rows: ${answered} answered, ${t.unparseable} unparseable, ${t.errors} failed, ${t.skipped} not run; ${t.inputTokens} input + ${t.outputTokens} output tokens; spent ${formatUsd(t.spentUsd)} now, ${formatUsd(t.cachedUsd)} from cache; ${t.retries} retries`;
  if (interrupted) out += `\ninterrupted: ${t.skipped} rows not run; run the same command again to finish (answered rows are cached and cost nothing)`;
  if (run.stoppedForBudget) out += `\nstopped at the --max-cost budget: ${t.skipped} rows not run; run again with a higher --max-cost to finish (answered rows are cached and cost nothing)`;
  if (t.errors > 0) out += `\n${t.errors} rows failed after retries (status "error"); run again to retry only those`;
  return out;
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
    const { plan } = await preparePlan(single, options);
    const messages = planPrompts(plan)(0);
    if (options.format === "json") process.stdout.write(JSON.stringify(messages, null, 2) + "\n");
    else process.stdout.write(messages.map((m) => `[${m.role}]\n${m.content}`).join("\n\n") + "\n");
  });
}

export { runLlm };
