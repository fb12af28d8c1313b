/** `tandem classify`: run a strategy over a file and write one prediction per row. */
import { setMaxListeners } from "node:events";
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
import { estimateRun, formatEstimate, formatRunSummary, formatUsd, setupLlm, withLlmOptions, type LlmCliOptions } from "./llm.js";
import { runLlm } from "../llm/runner.js";
import { fillCacheWithBatch } from "../llm/batch.js";
import { openAiClientFor } from "../llm/openai-client.js";
import { openStore } from "../core/store.js";
import { parseFormat, parseNumber } from "./options.js";
import { progressBar } from "./progress.js";

interface ClassifyOptions extends EncoderCliOptions, Omit<LlmCliOptions, "model"> {
  strategy: "lexicon" | "encoder" | "llm";
  input: string;
  out: string;
  textCol?: string;
  labelCol?: string;
  scheme?: string;
  neutralThreshold: number;
  prefix?: string;
}

/** Names of the added columns: plain, or prefixed when asked or when the input already uses a name. */
function outputColumns(existing: string[], added: string[], strategy: string, prefix: string | undefined, file: string): Record<string, string> {
  const chosen = prefix ?? (added.some((name) => existing.includes(name)) ? `${strategy}_` : "");
  const names = Object.fromEntries(added.map((name) => [name, `${chosen}${name}`]));
  for (const name of Object.values(names)) {
    if (existing.includes(name)) throw new UserError(`the input already has a "${name}" column; choose another --prefix`, { file });
  }
  if (chosen && prefix === undefined) process.stderr.write(`the input already has a "${added.find((n) => existing.includes(n))}" column: writing ${Object.values(names).join(", ")}\n`);
  return names;
}

export function registerClassify(program: Command): void {
  const command = program
    .command("classify")
    .description("Classify every row of a file with a strategy and write the rows with prediction and probabilities.")
    .option("--strategy <name>", "lexicon (VADER, offline), encoder (an ONNX encoder classifier) or llm (a provider + prompt program)", parseFormat(["lexicon", "encoder", "llm"] as const), "lexicon")
    .requiredOption("-i, --input <file>", "CSV, TSV or JSONL with a text column")
    .requiredOption("-o, --out <file>", "output file: the input columns plus prediction and probabilities")
    .option("--text-col <column>", "text column (default: guessed)")
    .option("--label-col <column>", "gold label column (default: guessed, optional); its labels must be the model's")
    .option("--scheme <name>", "label scheme of the gold labels (normalises spelling before the check against the model's labels)")
    .option("--neutral-threshold <t>", "lexicon: |compound| below t is neutral", parseNumber("--neutral-threshold", 0, 1), 0.05)
    .option("--prefix <text>", "prefix for the added columns (default: none, or STRATEGY_ when the input already has a column of that name)");
  withLlmOptions(withEncoderOptions(command))
    .addHelpText("after", `
--model is a model folder or hub id for the encoder strategy, and a provider spec for llm
(openai:MODEL, openai:ft:..., anthropic:MODEL, local:/path/model.gguf, compat:http://host:port/v1#MODEL).
Keys come from the environment or .env (OPENAI_API_KEY, ANTHROPIC_API_KEY, OPENAI_COMPAT_API_KEY).

The output keeps every input column and adds "prediction" and "probabilities": a JSON list in sorted
label order (the order \`tandem evaluate --probs probabilities\` reads by default). The llm strategy
also writes raw_answer, status (ok, unparseable, error, skipped), input_tokens, output_tokens,
cost_usd and cached. LLM answers are cached in the state database as they arrive: a killed run
started again continues where it stopped and pays nothing twice. Exit code 3: stopped at --max-cost.

Examples:
  tandem classify --strategy lexicon -i ../shared/data/sentiment-merged/test_all.csv -o lexicon.csv
  tandem classify --strategy encoder --model models/starter -i ../shared/data/sentiment-merged/test_all.csv -o encoder.csv
  tandem classify --strategy llm --model openai:gpt-4o-mini --program label --encoder-pred prediction -i encoder.csv -o llm.csv`)
    .action(async (options: ClassifyOptions) => {
      const dataset = await loadDataset(options.input, {
        columns: { text: options.textCol, label: options.labelCol },
        requireLabels: false,
      });
      if (options.strategy === "llm") {
        await classifyWithLlm(dataset, options);
        return;
      }
      let strategy: Strategy;
      let truncatedCount: () => number = () => 0;
      let tokenLimit = options.maxLength;
      if (options.strategy === "encoder") {
        const model = await loadEncoderFromCli(options);
        if (model.kind === "embedding") {
          throw new UserError("this model is an embedding model (no classifier head); use `tandem embed`, or train a head with `tandem train head`", { file: model.dir });
        }
        const encoder = encoderStrategy(model, { batchSize: options.batchSize, maxLength: options.maxLength, bucketing: options.bucketing });
        truncatedCount = () => encoder.lastTruncated;
        tokenLimit = Math.min(options.maxLength, model.maxPositions);
        strategy = encoder;
      } else {
        strategy = lexiconStrategy({ neutralThreshold: options.neutralThreshold });
      }
      checkLabels(dataset.examples.map((e) => e.label), strategy.labels, options, dataset.labelColumn, dataset.file);

      const names = outputColumns(dataset.columns, ["prediction", "probabilities"], options.strategy, options.prefix, options.input);
      const columns = [...dataset.columns, ...Object.values(names)];
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
          [names.prediction!]: prediction.label,
          [names.probabilities!]: probabilities ? position.map((p) => Number((probabilities[p] as number).toFixed(6))) : undefined,
        });
      });
      writer.close();
      const truncated = truncatedCount();
      process.stderr.write(
        `${predictions.length} rows → ${options.out} (probabilities in the order ${sorted.join(", ")})${truncated ? `; ${truncated} texts truncated at ${tokenLimit} tokens` : ""}\n`,
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

async function classifyWithLlm(dataset: Awaited<ReturnType<typeof loadDataset>>, options: ClassifyOptions): Promise<void> {
  const setup = await setupLlm(dataset, options);
  checkLabels(dataset.examples.map((e) => e.label), setup.labels, { ...options, scheme: options.scheme ?? "neg_neu_pos" }, dataset.labelColumn, dataset.file);
  process.stderr.write(formatEstimate(estimateRun(setup)) + "\n");
  if (options.estimate) return;
  const names = outputColumns(dataset.columns, ["prediction", "probabilities", "raw_answer", "status", "input_tokens", "output_tokens", "cost_usd", "cached"], "llm", options.prefix, options.input);
  const columns = [...dataset.columns, ...Object.values(names)];
  const progress = progressBar(dataset.examples.length, setup.model.spec);
  // First Ctrl-C: stop dispatching, let calls in flight land in the cache, write what we have.
  // Second Ctrl-C: abort the calls in flight too.
  const stop = new AbortController();
  const hard = new AbortController();
  setMaxListeners(0, hard.signal);
  const onSignal = () => {
    if (!stop.signal.aborted) {
      stop.abort();
      process.stderr.write("\nstopping: waiting for the calls in flight (Ctrl-C again to abandon them)\n");
    } else hard.abort(new Error("interrupted"));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let run;
  try {
    if (options.batch) {
      const { client } = openAiClientFor(setup.model.spec);
      const batchPrices = setup.prices;
      const filled = await fillCacheWithBatch(setup.runOptions, {
        client,
        db: openStore(options.db),
        cache: setup.cache,
        prices: batchPrices,
        pollSeconds: options.pollSeconds,
        signal: stop.signal,
        onProgress: (p) => process.stderr.write(`batch ${p.batchId}: ${p.status} (${p.completed}/${p.total} done, ${p.failed} failed)\n`),
      });
      if (filled.added > 0) process.stderr.write(`batch: ${filled.added} answers for ${formatUsd(filled.costUsd)} (batch price); they are read from the cache below\n`);
      if (filled.failed > 0) process.stderr.write(`${filled.failed} batch requests failed; they are sent one by one now\n`);
    }
    run = await runLlm({
      ...setup.runOptions,
      signal: hard.signal,
      stop: stop.signal,
      onResult: (_, totals) => progress.update(totals.done, { tokens: String(totals.inputTokens + totals.outputTokens), cost: formatUsd(totals.spentUsd + totals.cachedUsd) }),
    });
  } catch (error) {
    progress.stop();
    if (hard.signal.aborted) throw new UserError("interrupted: answers received so far are cached; run the same command again to continue", {}, 130);
    throw error;
  } finally {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  }
  progress.stop();
  const sorted = sortLabels(setup.labels);
  const writer = new TableWriter(options.out, columns);
  dataset.examples.forEach((example, i) => {
    const result = run.results[i]!;
    const values: Record<string, unknown> = {
      prediction: result.label,
      probabilities: result.probabilities ? sorted.map((label) => Number(result.probabilities![setup.labels.indexOf(label)]!.toFixed(6))) : undefined,
      raw_answer: result.raw,
      status: result.status,
      input_tokens: result.inputTokens,
      output_tokens: result.outputTokens,
      cost_usd: Number(result.costUsd.toFixed(8)),
      cached: result.cached,
    };
    writer.write({ ...example.row, ...Object.fromEntries(Object.entries(values).map(([key, value]) => [names[key]!, value])) });
  });
  writer.close();
  process.stderr.write(`${formatRunSummary(run, dataset.examples.length, stop.signal.aborted)}\n→ ${options.out}\n`);
  await setup.model.close?.();
  if (stop.signal.aborted) process.exitCode = 130;
  else if (run.stoppedForBudget) process.exitCode = 3;
}
