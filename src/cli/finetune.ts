/** `tandem finetune build|validate|estimate|start|follow|list|show|cancel`: LLM fine-tuning from the CLI. */
import { existsSync, readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import type { Command } from "commander";
import { UserError } from "../core/errors.js";
import { writeFileAtomic } from "../core/files.js";
import { openStore } from "../core/store.js";
import { loadDataset, type Dataset } from "../data/dataset.js";
import { stratifiedSplit } from "../data/split.js";
import { buildCompletionExamples, buildExamples, type BuildMetadata } from "../finetune/build.js";
import type { CompletionFormat } from "../llm/prompts/completion.js";
import { estimateFineTune, type FineTuneEstimate } from "../finetune/estimate.js";
import { cancelJob, isFinal, jobRow, listJobs, recordScore, refreshJob, startJob, uploadTrainingFiles, type FollowEvent, type JobRow } from "../finetune/jobs.js";
import { detectFineTuneFormat, validateJsonl, type ValidationReport } from "../finetune/validate.js";

import { loadPriceTable, lookupPrice, PRICES_AS_OF } from "../llm/pricing.js";
import type { ProgramName } from "../llm/prompts/programs.js";
import { fineTunerFor, modelOnSameProvider, parseModelSpec } from "../llm/providers/registry.js";
import type { ChatMessage } from "../llm/types.js";
import { evaluate, macroF1 } from "../metrics/evaluate.js";
import { formatFixed } from "../metrics/format.js";
import { createStrategy } from "../strategies/factory.js";
import { promptBuilder } from "../strategies/llm.js";
import { completionFormatFromCli, formatUsd, hintsFromColumns, llmConfigFromCli, withLlmOptions, type LlmCliOptions } from "./llm.js";
import { parseFormat, parseInteger, parseList, parseNumber, printJson } from "./options.js";

function readText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    throw new UserError("file not found", { file });
  }
}

function readExamples(file: string): Array<{ messages: ChatMessage[] } | { prompt: string; completion: string }> {
  const content = readText(file);
  const completion = detectFineTuneFormat(content) === "completion";
  // The separators are checked by `finetune validate`; here, the format's structure.
  const report = validateJsonl(content, 5, completion ? recordedCompletionFormat(file) : undefined);
  if (!report.ok) throw new UserError(`the file has format errors; run \`tandem finetune validate ${file}\` for details`, { file });
  return content.split(/\r?\n/).filter((line) => line.trim()).map((line) => JSON.parse(line) as { messages: ChatMessage[] } | { prompt: string; completion: string });
}

/** The separators `finetune build` recorded for a file (NAME.meta.json, or the training file's for NAME.val.jsonl), else the defaults. */
function recordedCompletionFormat(file: string, flags: { promptEnd?: string; completionEnd?: string } = {}): CompletionFormat {
  if (flags.promptEnd !== undefined || flags.completionEnd !== undefined) return completionFormatFromCli(flags, true)!;
  const metaFile = [`${file}.meta.json`, `${file.replace(/\.val\.jsonl$/, ".jsonl")}.meta.json`].find((f) => existsSync(f));
  const recorded = metaFile ? (JSON.parse(readFileSync(metaFile, "utf8")) as BuildMetadata).completionFormat : undefined;
  return recorded ?? completionFormatFromCli({}, true)!;
}

function formatValidation(file: string, report: ValidationReport): string {
  if (report.ok) return `${file}: ${report.examples} examples, no format errors\n`;
  let out = `${file}: ${report.lines} lines, ${report.examples} valid examples\n\nerror type                         count  example lines\n`;
  for (const [type, entry] of Object.entries(report.errors)) out += `${type.padEnd(34)} ${String(entry.count).padStart(5)}  ${entry.lines.join(", ")}\n`;
  if (report.examples === 0 && Object.keys(report.errors).length === 0) out += "no examples at all\n";
  return out;
}

function formatEstimate(file: string, e: FineTuneEstimate): string {
  const t = e.tokens;
  return [
    `${file}: ${e.examples} examples for ${e.model}`,
    `tokens per example: min ${t.min}, mean ${formatFixed(t.mean, 1)}, median ${formatFixed(t.median, 1)}, p90 ${formatFixed(t.p90, 1)}, max ${t.max}; total ${t.total}`,
    `over the ${e.overContext.limit}-token training context: ${e.overContext.count}${e.overContext.count ? ` (lines ${e.overContext.lines.join(", ")}; truncated by the provider)` : ""}`,
    `epochs: ${e.epochs}${e.epochsAuto ? " (auto)" : ""}; training tokens: ${e.billedTokensPerEpoch} × ${e.epochs} = ${e.trainingTokens}`,
    e.costUsd === null ? `cost: unknown (${e.basis}; add a training price with --pricing)` : `cost: ${formatUsd(e.costUsd)} at $${e.pricePerMillion}/M training tokens (${e.basis}, prices as of ${PRICES_AS_OF})`,
    "",
  ].join("\n");
}

function baseModelOf(spec: string): string {
  return parseModelSpec(spec).model;
}

/** The model string of a job's fine-tuned model, on the vendor (and endpoint) that trained it. */
function modelSpecFor(row: JobRow, model: string): string {
  return modelOnSameProvider(row.spec, model);
}

/** Trained tokens × the vendor's training price; the estimate until the vendor reports the tokens. */
function costOfJob(row: JobRow, pricing?: string): number | null {
  if (row.trained_tokens === null) return row.estimate_usd;
  const price = lookupPrice(loadPriceTable(pricing), parseModelSpec(row.spec).provider, row.base_model).training;
  return price === undefined ? row.estimate_usd : (row.trained_tokens * price) / 1e6;
}

function summaryTable(rows: JobRow[], pricing?: string): string {
  const vendorModel = (row: JobRow) => `${parseModelSpec(row.spec).provider}:${row.base_model}`;
  const idWidth = Math.max(26, ...rows.map((r) => r.id.length));
  const baseWidth = Math.max(24, ...rows.map((r) => vendorModel(r).length));
  let out = `${"job".padEnd(idWidth)} ${"vendor:base model".padEnd(baseWidth)} epochs  status      ${"fine-tuned model".padEnd(48)}  trained tokens  cost        macro F1\n`;
  for (const row of rows) {
    const sent = JSON.parse(row.hyperparameters) as { n_epochs?: unknown; epochs?: unknown };
    const epochs = String(sent.n_epochs ?? sent.epochs ?? "auto");
    const cost = costOfJob(row, pricing);
    out += `${row.id.padEnd(idWidth)} ${vendorModel(row).padEnd(baseWidth)} ${epochs.padStart(6)}  ${row.status.padEnd(10)}  ${(row.fine_tuned_model ?? row.error ?? "").slice(0, 48).padEnd(48)}  ${String(row.trained_tokens ?? "").padStart(14)}  ${(cost === null ? "?" : formatUsd(cost)).padEnd(10)}  ${row.macro_f1 === null ? "" : formatFixed(row.macro_f1 * 100, 2)}\n`;
  }
  return out;
}

function describeEvent(event: FollowEvent): string {
  const metrics = event.step !== undefined ? `step ${event.step}${event.totalSteps ? `/${event.totalSteps}` : ""}${event.trainLoss !== undefined ? `, train loss ${event.trainLoss.toFixed(4)}` : ""}${event.validLoss !== undefined ? `, valid loss ${event.validLoss.toFixed(4)}` : ""}` : event.message;
  return `${event.jobId}: ${metrics}`;
}

/** Macro F1 of a fine-tuned model on a labelled file, asked with the program it was trained with. */
async function scoreModel(row: JobRow, evalFile: string, db: string | undefined): Promise<number> {
  const meta = row.metadata ? (JSON.parse(row.metadata) as BuildMetadata) : undefined;
  const strategy = await createStrategy(
    { type: "llm", model: modelSpecFor(row, row.fine_tuned_model!), program: (meta?.program ?? "zero-shot") as ProgramName, template: meta?.template, scheme: meta?.scheme ?? "neg_neu_pos", task: meta?.wording.task, item: meta?.wording.item, system: meta?.wording.system, structured: "off", completionFormat: meta?.completionFormat },
    { store: db },
  );
  try {
    const dataset = await loadDataset(evalFile, { scheme: undefined });
    const predictions = await strategy.classify(dataset.examples.map((e) => e.text));
    const result = evaluate({ gold: dataset.examples.map((e) => e.label ?? ""), pred: predictions.map((p) => p.label), labels: [...strategy.labels] });
    return macroF1(result.overall);
  } finally {
    await strategy.close();
  }
}

export function registerFinetune(program: Command): void {
  const finetune = program.command("finetune").description("Fine-tune LLMs through the providers' APIs: build, validate, estimate, start (sweeps), follow, list, show, cancel.");

  withLlmOptions(
    finetune
      .command("build")
      .description("Training examples: the same messages the program sends at inference, answered by the gold label — chat format, or with --format completion the prompt/completion format of completion-style base models (babbage-002, davinci-002), rendered as inference renders it.")
      .option("--format <format>", "chat (messages) or completion (prompt + --prompt-end separator, completion = \" label\" + --completion-end)", parseFormat(["chat", "completion"] as const), "chat")
      .requiredOption("-i, --input <file>", "labelled training data (never the test split)")
      .requiredOption("-o, --out <file>", "training JSONL; the validation JSONL goes next to it as NAME.val.jsonl")
      .option("--scheme <name>", "label scheme", "neg_neu_pos")
      .option("--val <file>", "labelled validation data (default: a stratified part of --input)")
      .option("--val-fraction <f>", "share of --input held out for validation when --val is not given (0 for none)", parseNumber("--val-fraction", 0, 0.9), 0.1)
      .option("--text-col <column>", "text column (default: guessed)")
      .option("--label-col <column>", "label column (default: guessed)")
      .option("--id-col <column>", "id column kept in the metadata so rows can be traced"),
  ).action(async (options: LlmCliOptions & { input: string; out: string; val?: string; valFraction: number; textCol?: string; labelCol?: string; idCol?: string; scheme: string; format: "chat" | "completion" }) => {
    if (options.format === "chat" && (options.promptEnd !== undefined || options.completionEnd !== undefined)) {
      throw new UserError("--prompt-end and --completion-end belong to the prompt/completion format: add --format completion");
    }
    const completionFormat = options.format === "completion" ? completionFormatFromCli(options, true) : undefined;
    const { resolveScheme } = await import("../data/labels.js");
    const scheme = resolveScheme(options.scheme);
    const load = (file: string) => loadDataset(file, { scheme, columns: { text: options.textCol, label: options.labelCol } });
    const input = await load(options.input);
    let parts: Array<{ name: string; file: string; dataset: Dataset }>;
    const valOut = options.out.replace(/(\.jsonl)?$/, ".val.jsonl");
    if (options.val) {
      parts = [{ name: "train", file: options.out, dataset: input }, { name: "val", file: valOut, dataset: await load(options.val) }];
    } else if (options.valFraction > 0) {
      const [trainIdx, valIdx] = stratifiedSplit(input.examples.map((e) => e.label ?? ""), [1 - options.valFraction, options.valFraction], options.seed);
      const subset = (indices: number[]): Dataset => ({ ...input, examples: indices.map((i) => input.examples[i]!) });
      parts = [{ name: "train", file: options.out, dataset: subset(trainIdx!) }, { name: "val", file: valOut, dataset: subset(valIdx!) }];
    } else {
      parts = [{ name: "train", file: options.out, dataset: input }];
    }
    const meta: BuildMetadata = { program: options.program, format: options.format, completionFormat, template: options.template, scheme: options.scheme, wording: { task: "", item: "", system: "" }, source: options.input, lines: {}, ids: options.idCol ? {} : undefined };
    const builder = promptBuilder(llmConfigFromCli(options, "build"), options.scheme);
    meta.wording = builder.wording;
    for (const part of parts) {
      const prompts = await builder.prompts(part.dataset.examples.map((e) => e.text), hintsFromColumns(part.dataset, options, builder.labels));
      const gold = part.dataset.examples.map((e) => e.label!);
      const examples = completionFormat ? buildCompletionExamples(prompts, gold, completionFormat) : buildExamples(prompts, gold);
      writeFileAtomic(part.file, examples.map((e) => JSON.stringify(e)).join("\n") + "\n");
      meta.lines[part.file] = part.dataset.examples.map((e) => e.line);
      if (options.idCol) meta.ids![part.file] = part.dataset.examples.map((e) => String(e.row[options.idCol!] ?? ""));
      process.stdout.write(`${part.name}: ${examples.length} examples → ${part.file}\n`);
    }
    writeFileAtomic(`${options.out}.meta.json`, JSON.stringify(meta, null, 2) + "\n");
    process.stdout.write(`metadata (program, scheme, source lines) → ${options.out}.meta.json\n`);
  });

  finetune
    .command("validate")
    .description("Check a fine-tuning JSONL file — chat, or prompt/completion (told from its first line) — with the format's rules: counts per error type with example lines on stdout; on any error, one line on stderr and exit 2.")
    .argument("<file>", "JSONL file")
    .option("--prompt-end <text>", "prompt/completion format: the prompt separator (default: from finetune build's NAME.meta.json, else \"\\n\\n###\\n\\n\")")
    .option("--completion-end <text>", "prompt/completion format: the completion's end (default: from the metadata, else \"\\n\")")
    .option("-f, --format <format>", "text or json", parseFormat(["text", "json"] as const), "text")
    .action((file: string, options: { format: string; promptEnd?: string; completionEnd?: string }) => {
      const content = readText(file);
      const completionFormat = detectFineTuneFormat(content) === "completion" ? recordedCompletionFormat(file, options) : undefined;
      const report = validateJsonl(content, 5, completionFormat);
      if (options.format === "json") printJson({ file, ...report });
      else process.stdout.write(formatValidation(file, report));
      if (!report.ok) {
        // The report is on stdout; the verdict is one line on stderr and exit 2 (bad input), as everywhere.
        const [first, entry] = Object.entries(report.errors).sort((a, b) => Math.min(...a[1].lines) - Math.min(...b[1].lines))[0]!;
        const invalid = Object.values(report.errors).reduce((sum, e) => sum + e.count, 0);
        throw new UserError(`${invalid} problem${invalid === 1 ? "" : "s"} in ${report.lines} lines (${report.examples} valid examples); the first: ${first.replace(/_/g, " ")}`, { file, line: Math.min(...entry.lines) });
      }
    });

  finetune
    .command("estimate")
    .description("Tokens per example, examples over the context limit, and the training cost (tokens × epochs × price).")
    .argument("<file>", "training JSONL")
    .option("--model <spec>", "base model", "openai:gpt-4o-mini")
    .option("--epochs <n|auto>", "epochs (auto follows the provider's rule)", "auto")
    .option("--pricing <file>", "price overrides (JSON or YAML)")
    .option("-f, --format <format>", "text or json", parseFormat(["text", "json"] as const), "text")
    .action((file: string, options: { model: string; epochs: string; pricing?: string; format: string }) => {
      const examples = readExamples(file);
      const base = baseModelOf(options.model);
      const epochs = options.epochs === "auto" ? "auto" : parseInteger("--epochs", 1)(options.epochs);
      const estimate = estimateFineTune(examples, base, epochs, lookupPrice(loadPriceTable(options.pricing), parseModelSpec(options.model).provider, base));
      if (options.format === "json") printJson({ file, ...estimate });
      else process.stdout.write(formatEstimate(file, estimate));
    });

  finetune
    .command("start")
    .description("Upload the files (once per vendor) and create one job per base model × epoch count — a sweep across OpenAI, Mistral, Together and OpenAI-compatible servers; jobs are stored for follow/list.")
    .requiredOption("--train <file>", "training JSONL (from finetune build)")
    .option("--val <file>", "validation JSONL")
    .requiredOption("--model <specs>", "base model(s), comma-separated, from any vendor: openai:gpt-4o-mini,mistral:open-mistral-nemo,together:meta-llama/Meta-Llama-3.1-8B-Instruct-Reference (or compat:URL#MODEL)", parseList)
    .option("--epochs <list>", "n_epochs, or several for a sweep: auto | 3 | 2,3,4", "auto")
    .option("--batch-size <n>", "batch_size (default auto)", parseInteger("--batch-size", 1))
    .option("--lr-multiplier <x>", "learning_rate_multiplier (default auto)", parseNumber("--lr-multiplier", 0))
    .option("--seed <n>", "job seed", parseInteger("--seed"))
    .option("--suffix <text>", "suffix of the fine-tuned model's name")
    .option("--pricing <file>", "price overrides (JSON or YAML)")
    .option("--db <file>", "state database (default .tandem/tandem.db)")
    .option("--follow", "follow the jobs until they end")
    .option("--poll-seconds <n>", "with --follow: seconds between checks", parseNumber("--poll-seconds", 0.01), 10)
    .option("--eval <file>", "with --follow: classify this labelled file with each fine-tuned model and record macro F1")
    .action(async (options: { train: string; val?: string; model: string[]; epochs: string; batchSize?: number; lrMultiplier?: number; seed?: number; suffix?: string; pricing?: string; db?: string; follow?: boolean; pollSeconds: number; eval?: string }) => {
      const examples = readExamples(options.train);
      if (options.val) readExamples(options.val);
      const epochList: Array<number | "auto"> = options.epochs === "auto" ? ["auto"] : options.epochs.split(",").map((e) => (e.trim() === "auto" ? "auto" : parseInteger("--epochs", 1)(e.trim())));
      const meta = existsSync(`${options.train}.meta.json`) ? JSON.parse(readFileSync(`${options.train}.meta.json`, "utf8")) : undefined;
      const db = openStore(options.db);
      const sweep = options.model.length * epochList.length > 1 ? `sweep-${randomUUID().slice(0, 8)}` : undefined;
      const uploads = new Map<string, { training: string; validation?: string }>();
      const started: JobRow[] = [];
      // Every vendor is checked (key, public fine-tuning API) and given the files before any job starts.
      const tuners = await Promise.all(options.model.map((spec) => fineTunerFor(spec)));
      const endpointOf = (index: number) => `${tuners[index]!.provider}:${parseModelSpec(options.model[index]!).baseURL ?? ""}`;
      for (const [index, { tuner }] of tuners.entries()) {
        if (!uploads.has(endpointOf(index))) uploads.set(endpointOf(index), await uploadTrainingFiles(tuner, options.train, options.val));
      }
      for (const [index, spec] of options.model.entries()) {
        const { tuner, model: base, provider } = tuners[index]!;
        for (const epochs of epochList) {
          const estimate = estimateFineTune(examples, base, epochs, lookupPrice(loadPriceTable(options.pricing), provider, base));
          const row = await startJob({
            tuner, db, spec, baseModel: base, trainingPath: options.train, validationPath: options.val,
            hyperparameters: { n_epochs: epochs, batch_size: options.batchSize, learning_rate_multiplier: options.lrMultiplier },
            seed: options.seed, suffix: options.suffix, sweep, estimateUsd: estimate.costUsd, metadata: meta, uploaded: uploads.get(endpointOf(index)),
          });
          started.push(row);
          process.stdout.write(`started ${row.id}: ${provider}:${base}, epochs ${epochs}, estimated ${estimate.costUsd === null ? "?" : formatUsd(estimate.costUsd)}\n`);
        }
      }
      if (sweep) process.stdout.write(`sweep ${sweep}: follow with \`tandem finetune follow --sweep ${sweep}\`\n`);
      else process.stdout.write(`follow with \`tandem finetune follow ${started[0]!.id}\`\n`);
      if (options.follow) await follow(started.map((r) => r.id), options);
    });

  finetune
    .command("follow")
    .description("Stream job events and metrics (step, train loss, validation loss) until the jobs end; safe to stop and run again.")
    .argument("[jobs...]", "job ids (default: the jobs of --sweep, or every unfinished job)")
    .option("--sweep <id>", "follow every job of a sweep")
    .option("--poll-seconds <n>", "seconds between checks", parseNumber("--poll-seconds", 0.01), 10)
    .option("--eval <file>", "classify this labelled file with each fine-tuned model and record macro F1")
    .option("--pricing <file>", "price overrides (JSON or YAML)")
    .option("--db <file>", "state database (default .tandem/tandem.db)")
    .action(async (jobs: string[], options: { sweep?: string; pollSeconds: number; eval?: string; pricing?: string; db?: string }) => {
      const db = openStore(options.db);
      const ids = jobs.length > 0 ? jobs : listJobs(db, options.sweep).filter((r) => options.sweep || !isFinal(r.status)).map((r) => r.id);
      if (ids.length === 0) throw new UserError(options.sweep ? `no jobs in sweep ${options.sweep}` : "no unfinished jobs to follow");
      await follow(ids, options);
    });

  finetune
    .command("list")
    .description("Fine-tuning jobs in the state database, with status, model, tokens, cost and macro F1.")
    .option("--sweep <id>", "only this sweep")
    .option("--pricing <file>", "price overrides (JSON or YAML)")
    .option("--db <file>", "state database (default .tandem/tandem.db)")
    .option("-f, --format <format>", "text or json", parseFormat(["text", "json"] as const), "text")
    .action((options: { sweep?: string; pricing?: string; db?: string; format: string }) => {
      const rows = listJobs(openStore(options.db), options.sweep);
      if (options.format === "json") printJson(rows.map((r) => ({ ...r, hyperparameters: JSON.parse(r.hyperparameters), metadata: undefined, cost_usd: costOfJob(r, options.pricing) })));
      else process.stdout.write(rows.length ? summaryTable(rows, options.pricing) : "no fine-tuning jobs yet\n");
    });

  finetune
    .command("show")
    .description("One job: settings, status, error, and its loss curve.")
    .argument("<job>", "job id")
    .option("--db <file>", "state database (default .tandem/tandem.db)")
    .action((id: string, options: { db?: string }) => {
      const db = openStore(options.db);
      const row = jobRow(db, id);
      const metrics = db.prepare("SELECT step, train_loss, valid_loss FROM finetune_events WHERE job_id = ? AND step IS NOT NULL ORDER BY step").all(id);
      printJson({ ...row, hyperparameters: JSON.parse(row.hyperparameters), metadata: row.metadata ? JSON.parse(row.metadata) : null, metrics });
    });

  finetune
    .command("cancel")
    .description("Cancel a running job.")
    .argument("<job>", "job id")
    .option("--db <file>", "state database (default .tandem/tandem.db)")
    .action(async (id: string, options: { db?: string }) => {
      const db = openStore(options.db);
      const { tuner } = await fineTunerFor(jobRow(db, id).spec);
      const row = await cancelJob(tuner, db, id);
      process.stdout.write(`${row.id}: ${row.status}\n`);
    });
}

async function follow(ids: string[], options: { pollSeconds: number; eval?: string; pricing?: string; db?: string }): Promise<void> {
  const db = openStore(options.db);
  let interrupted = false;
  const onSignal = () => (interrupted = true);
  process.once("SIGINT", onSignal);
  try {
    const pending = new Set(ids);
    while (pending.size > 0 && !interrupted) {
      for (const id of [...pending]) {
        const { tuner } = await fineTunerFor(jobRow(db, id).spec);
        try {
          const { row, events } = await refreshJob(tuner, db, id);
          for (const event of events) process.stdout.write(describeEvent(event) + "\n");
          if (isFinal(row.status)) {
            pending.delete(id);
            process.stdout.write(`${id}: ${row.status}${row.fine_tuned_model ? ` → ${row.fine_tuned_model} (use --model ${modelSpecFor(row, row.fine_tuned_model)})` : ""}${row.error ? ` — ${row.error}` : ""}\n`);
          }
        } catch (error) {
          // A dropped connection is not the job's failure: report it and keep following.
          process.stderr.write(`${id}: could not reach the provider (${error instanceof Error ? error.message : String(error)}); retrying\n`);
        }
      }
      if (pending.size > 0) await new Promise((resolve) => setTimeout(resolve, options.pollSeconds * 1000));
    }
  } finally {
    process.removeListener("SIGINT", onSignal);
  }
  if (interrupted) throw new UserError(`stopped following; the jobs go on. Run \`tandem finetune follow ${ids.join(" ")}\` to continue`, {}, "interrupted");
  if (options.eval) {
    for (const id of ids) {
      const row = jobRow(db, id);
      if (row.status !== "succeeded" || !row.fine_tuned_model) continue;
      const macroF1 = await scoreModel(row, options.eval, options.db);
      recordScore(db, id, macroF1);
      process.stdout.write(`${id}: macro F1 ${formatFixed(macroF1 * 100, 2)} on ${options.eval}\n`);
    }
  }
  process.stdout.write("\n" + summaryTable(ids.map((id) => jobRow(db, id)), options.pricing));
}
