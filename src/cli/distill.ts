/** `tandem distill`: unlabeled texts and an LLM in, a student model and a certified cascade out. */
import { existsSync } from "node:fs";
import { Option, type Command } from "commander";
import { UserError } from "../core/errors.js";
import { cellText, readTable } from "../data/readers.js";
import { distill, summaryJson, type DistillEvaluation, type DistillEvent, type RoundSelection, type TeacherLabel } from "../distill/distill.js";
import { DEFAULT_AUDIT } from "../strategies/certified-config.js";
import { camelizeKeys, type LlmConfig, type StrategyConfigInput } from "../strategies/config.js";
import { loadStrategyFile, parseStrategyConfig } from "../strategies/factory.js";
import { shorthandConfig } from "../strategies/members.js";
import { parseFormat, parseInteger, parseList, parseNumber, printJson, snakeCaseKeys } from "./options.js";
import { progressBar, type ProgressReporter } from "./progress.js";
import { interruptible } from "./signals.js";

interface DistillCliOptions {
  teacher?: string;
  llmStrategy?: string;
  auditShare: number;
  teacherLabels?: string;
  teacherLabelCol?: string;
  teacherLabelColumn?: string;
  input?: string;
  textColumn?: string;
  textCol?: string;
  labels: string[];
  out: string;
  budget?: number;
  rounds: number;
  perRound: number;
  selection: RoundSelection;
  calibrationShare: number;
  student?: "head" | "full";
  grid: "quantiles" | "steps";
  head: "softmax" | "mlp";
  backbone?: string;
  targetAgreement: number;
  confidence: number;
  seed: number;
  maxLength: number;
  limit?: number;
  db?: string;
  cacheDir: string;
  pricing?: string;
  eval?: string;
  labelCol?: string;
  goldColumn?: string;
  evalTeacherCol?: string;
  evalTeacherColumn?: string;
  epochs?: number;
  lr?: number;
  format: "text" | "json";
}

/** --teacher: provider:model, or a strategy file (its default strategy, or FILE#name). */
function teacherConfig(spec: string): LlmConfig {
  const [file, name] = spec.includes("#") && !spec.startsWith("compat:") ? (spec.split("#", 2) as [string, string]) : [spec, undefined];
  if (/\.(ya?ml|json)$/i.test(file) || existsSync(file)) {
    const loaded = loadStrategyFile(file);
    const chosen = loaded.strategies.find((s) => s.name === (name ?? loaded.default));
    if (!chosen) throw new UserError(`no strategy "${name}" in the file (${loaded.strategies.map((s) => s.name).join(", ")})`, { file });
    if (chosen.type !== "llm") throw new UserError(`the teacher must be an LLM strategy; "${chosen.name}" is ${chosen.type}`, { file });
    return chosen;
  }
  const config = shorthandConfig(spec);
  if (config.type !== "llm") throw new UserError(`--teacher "${spec}" is not an LLM: use provider:model (openai:gpt-4o-mini, anthropic:…, compat:URL#MODEL, local:FILE.gguf) or a strategy file`);
  return config;
}

async function readTexts(file: string, column: string | undefined, limit?: number): Promise<{ texts: string[]; column: string }> {
  const table = await readTable(file);
  const chosen = column ?? ["text", "sentence", "review", "content"].find((c) => table.columns.includes(c));
  if (!chosen) throw new UserError(`no text column: name it with --text-col (the file has: ${table.columns.join(", ")})`, { file });
  if (!table.columns.includes(chosen)) throw new UserError(`no column "${chosen}" (--text-col); the file has: ${table.columns.join(", ")}`, { file });
  const records = limit ? table.records.slice(0, limit) : table.records;
  const texts = records.map((r) => cellText(r.values[chosen]));
  const empty = texts.findIndex((t) => t.trim() === "");
  if (empty >= 0) throw new UserError("empty text", { file, line: records[empty]!.line, column: chosen });
  return { texts, column: chosen };
}

/** The LLM that gave a labels file's answers, from its teacher column (tandem serve export-labels writes it): one, or none. */
function teacherOfLabels(table: Awaited<ReturnType<typeof readTable>>, file: string): LlmConfig | undefined {
  if (!table.columns.includes("teacher")) return undefined;
  const seen = new Map<string, number>();
  for (const record of table.records) {
    const cell = cellText(record.values.teacher).trim();
    if (cell !== "" && !seen.has(cell)) seen.set(cell, record.line);
  }
  if (seen.size === 0) return undefined;
  if (seen.size > 1) throw new UserError(`the labels come from ${seen.size} different LLMs (column "teacher"): choose the cascade's with --llm-strategy, or export one strategy's labels (serve export-labels --strategy NAME)`, { file });
  const [cell, line] = [...seen][0]!;
  let parsed: unknown = cell;
  if (cell.startsWith("{")) {
    try {
      parsed = JSON.parse(cell);
    } catch {
      throw new UserError("the teacher cell is not JSON (a strategy config) nor provider:model", { file, line, column: "teacher" });
    }
  }
  const config = typeof parsed === "string" ? shorthandConfig(parsed) : parseStrategyConfig(camelizeKeys(parsed) as StrategyConfigInput, { file });
  if (config.type !== "llm") throw new UserError(`the teacher must be an LLM strategy, not ${config.type}`, { file, line, column: "teacher" });
  return config;
}

async function readTeacherLabels(file: string, options: DistillCliOptions): Promise<{ labels: TeacherLabel[]; teacher?: LlmConfig }> {
  const table = await readTable(file);
  if (table.records.length === 0) throw new UserError("the labels file has a header but no rows", { file });
  const textColumn = options.textCol ?? ["text", "sentence", "review", "content"].find((c) => table.columns.includes(c));
  if (!textColumn || !table.columns.includes(textColumn)) throw new UserError(`no text column${textColumn ? ` "${textColumn}"` : ""} (--text-col); the file has: ${table.columns.join(", ")}`, { file });
  const labelColumn = options.teacherLabelCol ?? ["label", "teacher_label", "prediction"].find((c) => table.columns.includes(c));
  if (!labelColumn || !table.columns.includes(labelColumn)) throw new UserError(`no teacher label column${labelColumn ? ` "${labelColumn}"` : ""} (--teacher-label-col); the file has: ${table.columns.join(", ")}`, { file });
  const costColumn = ["cost_usd", "costUsd"].find((c) => table.columns.includes(c));
  const sampleColumn = table.columns.includes("sample") ? "sample" : undefined;
  const labels = table.records.map((record) => {
    const cost = costColumn ? Number(cellText(record.values[costColumn]) || 0) : 0;
    if (!Number.isFinite(cost) || cost < 0) throw new UserError("cost must be a non-negative number", { file, line: record.line, column: costColumn });
    let sample: boolean | undefined;
    if (sampleColumn) {
      const cell = cellText(record.values[sampleColumn]).trim().toLowerCase();
      if (!["0", "1", "true", "false"].includes(cell)) throw new UserError(`sample must be 0 or 1, got "${cell}"`, { file, line: record.line, column: sampleColumn });
      sample = cell === "1" || cell === "true";
    }
    return { text: cellText(record.values[textColumn]), label: cellText(record.values[labelColumn]).trim(), costUsd: cost, sample, file, line: record.line };
  });
  return { labels, teacher: teacherOfLabels(table, file) };
}

async function readEvaluation(options: DistillCliOptions): Promise<DistillEvaluation | undefined> {
  if (!options.eval) return undefined;
  if (!options.labelCol) throw new UserError("--eval needs --label-col (the gold label column of the evaluation file)");
  const table = await readTable(options.eval);
  const textColumn = options.textCol ?? ["text", "sentence", "review", "content"].find((c) => table.columns.includes(c));
  for (const [flag, column] of [["--text-col", textColumn], ["--label-col", options.labelCol], ["--eval-teacher-col", options.evalTeacherCol]] as const) {
    if (flag === "--eval-teacher-col" && column === undefined) continue;
    if (!column || !table.columns.includes(column)) throw new UserError(`no column "${column ?? ""}" (${flag}); the file has: ${table.columns.join(", ")}`, { file: options.eval });
  }
  const gold = table.records.map((r) => cellText(r.values[options.labelCol!]).trim());
  const bad = gold.findIndex((g) => !options.labels.includes(g));
  if (bad >= 0) throw new UserError(`gold label "${gold[bad]}" is not one of ${options.labels.join(", ")}`, { file: options.eval, line: table.records[bad]!.line, column: options.labelCol });
  return {
    file: options.eval,
    texts: table.records.map((r) => cellText(r.values[textColumn!])),
    gold,
    teacher: options.evalTeacherCol ? table.records.map((r) => cellText(r.values[options.evalTeacherCol!]).trim()) : undefined,
  };
}

const usd = (x: number | null) => (x === null ? "—" : `$${x.toFixed(4)}`);
const pct = (x: number | null | undefined) => (x === null || x === undefined || Number.isNaN(x) ? "—" : `${(x * 100).toFixed(2)}%`);

export function registerDistill(program: Command): void {
  program
    .command("distill")
    .description("Turn an LLM that labels your texts (live, or its answers from logs) into a small student model and a certified cascade for tandem serve, without human labels: rounds of active learning, a calibration sample never trained on, τ certified on it.")
    .option("--teacher <strategy>", "the LLM: provider:model (openai:gpt-4o-mini, anthropic:…, compat:URL#MODEL) or a strategy file (YAML/JSON; FILE#name for one of several) with its prompt program, limits, cache and Batch API settings")
    .option("--teacher-labels <file>", "texts with the teacher's answers already paid for (logs, tandem serve export-labels): a text column and label (or teacher_label, prediction; --teacher-label-col), cost_usd optional; with a sample column (0/1), only sample = 1 rows (a uniform sample of the traffic) may go to calibration; a teacher column names the LLM")
    .option("--teacher-label-col <column>", "the label column of --teacher-labels")
    .addOption(new Option("--teacher-label-column <column>").hideHelp())
    .option("--llm-strategy <strategy>", "the LLM the written cascade asks about the texts the student is unsure of (provider:model or a strategy file, as --teacher); default: --teacher, else the teacher column of --teacher-labels (tandem serve export-labels writes it)")
    .option("-i, --input <file>", "the unlabeled texts (CSV, TSV or JSONL)")
    .option("--text-col <column>", "text column of the input, the teacher labels and the evaluation file (default: text, sentence, review or content)")
    .addOption(new Option("--text-column <column>").hideHelp())
    .requiredOption("--labels <list>", "the classes, comma-separated, in the student's output order (e.g. negative,neutral,positive)", parseList)
    .requiredOption("-o, --out <dir>", "output folder: model/ (with MODEL_CARD.md), cascade.yaml, report.html, labels.csv, suspects.csv, distill.json")
    .option("--budget <dollars>", "the most the teacher may cost in all (answers already cached count at their price); stops before it would be passed", parseNumber("--budget", 0))
    .option("--rounds <n>", "rounds of questions to the live teacher", parseInteger("--rounds", 0), 3)
    .option("--per-round <k>", "texts the teacher labels per round", parseInteger("--per-round", 1), 500)
    .option("--selection <how>", "what rounds after the first ask about: random, a length-stratified random sample, as round 1 (on real LLM answers it left the LLM fewer texts at the certificate); margin, the texts the current student is least sure of", parseFormat(["random", "margin"] as const), "random")
    .option("--calibration-share <s>", "share of each round (and of logged labels) that goes to the calibration sample, a uniform random sample drawn first and never trained on", parseNumber("--calibration-share", 0, 1), 0.3)
    .option("--student <kind>", "full: the backbone fine-tuned on the PyTorch engine (minutes; the default where the engine is installed and there are 300 training labels or more); head: a classifier head on the backbone's cached embeddings, trained in TypeScript (seconds)", parseFormat(["head", "full"] as const))
    .option("--head <kind>", "the head of --student head (and of every round's student): softmax regression on the embeddings, or a one-layer MLP", parseFormat(["softmax", "mlp"] as const), "softmax")
    .option("--backbone <model>", "a model folder or a hub id (default: starter, the bundled sentiment model, for negative,neutral,positive; sentence-transformers/all-MiniLM-L6-v2 otherwise)")
    .option("--grid <kind>", "the certificate's τ grid: quantiles of the student's scores on texts outside calibration, or steps of 0.01", parseFormat(["quantiles", "steps"] as const), "quantiles")
    .option("--target-agreement <a>", "certify the cascade's agreement with the teacher ≥ a", parseNumber("--target-agreement", 0, 1), 0.95)
    .option("--confidence <c>", "confidence of the certificate", parseNumber("--confidence", 0, 1), 0.95)
    .option("--audit-share <s>", "the written cascade's audit: this share of its answers, drawn uniformly, is checked against the teacher when served — the watch of the certificate and the next distill's calibration rows (0: no audit)", parseNumber("--audit-share", 0, 1), DEFAULT_AUDIT.share)
    .option("--seed <n>", "seed of every random choice (same seed, same texts: the same questions)", parseInteger("--seed"), 42)
    .option("--max-length <n>", "longest text in tokens", parseInteger("--max-length", 2), 256)
    .option("--limit <n>", "the first n rows of the input only", parseInteger("--limit", 1))
    .option("--epochs <n>", "--student full: fine-tuning epochs", parseInteger("--epochs", 1))
    .option("--lr <rate>", "--student full: the encoder's learning rate", parseNumber("--lr", 0))
    .option("--eval <file>", "a file with gold labels: the report adds accuracy and macro F1 of teacher, student and cascade, with McNemar and bootstrap tests")
    .option("--label-col <column>", "the gold label column of --eval")
    .addOption(new Option("--gold-column <column>").hideHelp())
    .option("--eval-teacher-col <column>", "the teacher's answers in --eval (else the live teacher is asked, within the budget)")
    .addOption(new Option("--eval-teacher-column <column>").hideHelp())
    .option("--cache-dir <dir>", "where the backbone's embeddings are cached", ".tandem/encodings")
    .option("--db <file>", "state database: the teacher's answer cache and the run store (default .tandem/tandem.db, or TANDEM_DB)")
    .option("--pricing <file>", "a price file on top of the built-in table")
    .option("-f, --format <format>", "text or json (the summary on stdout)", parseFormat(["text", "json"] as const), "text")
    .addHelpText(
      "after",
      `
How it works: every round asks the teacher about a random sample stratified by text length (with --selection
margin, rounds after the first ask about the texts the current student is least sure of instead).
Every round also labels the next part of a calibration sample drawn uniformly at random before anything is
trained: no student learns from it, and the cascade's τ is certified on it (Learn then Test with
fixed-sequence exact binomial tests, as tandem tune cascade: with probability ≥ --confidence the cascade
agrees with the teacher on at least --target-agreement of new texts like these).

Resuming: every answer goes through the LLM cache, and the choices are seeded: run the same command again
after an interruption (or with more --rounds) and only answers never received are paid for. --budget
counts every answer used, cached ones at their price.

Exit codes: 0 done (also when stopped at the budget: the student is made from the labels so far),
2 bad input, 4 some teacher calls failed (the output is written; run again to retry them), 130 interrupted.`,
    )
    .action(async (options: DistillCliOptions) => {
      // The older spellings stay as hidden aliases.
      options.textCol ??= options.textColumn;
      options.labelCol ??= options.goldColumn;
      options.teacherLabelCol ??= options.teacherLabelColumn;
      options.evalTeacherCol ??= options.evalTeacherColumn;
      if (!options.input && !options.teacherLabels) throw new UserError("give --input (the unlabeled texts) and/or --teacher-labels");
      if (!options.teacher && !options.teacherLabels) throw new UserError("give --teacher (an LLM strategy) and/or --teacher-labels FILE");
      if (options.labels.length < 2) throw new UserError("--labels needs at least two labels");
      if (!(options.calibrationShare > 0 && options.calibrationShare < 1)) throw new UserError("--calibration-share must be strictly between 0 and 1");
      if (!(options.targetAgreement > 0 && options.targetAgreement < 1)) throw new UserError("--target-agreement must be strictly between 0 and 1");
      if (!(options.confidence > 0 && options.confidence < 1)) throw new UserError("--confidence must be strictly between 0 and 1");
      const teacher = options.teacher ? teacherConfig(options.teacher) : undefined;
      const logged = options.teacherLabels ? await readTeacherLabels(options.teacherLabels, options) : undefined;
      const teacherLabels = logged?.labels;
      // Checked before any work: a cascade needs its LLM.
      const cascadeLlm = options.llmStrategy ? teacherConfig(options.llmStrategy) : (teacher ?? logged?.teacher);
      if (!cascadeLlm) throw new UserError(`${options.teacherLabels} names no teacher (no teacher column): give --llm-strategy provider:model, the LLM that gave these labels, which the served cascade will ask about the texts the student is unsure of`, { file: options.teacherLabels });
      const input = options.input ? await readTexts(options.input, options.textCol, options.limit) : undefined;
      const evaluation = await readEvaluation(options);
      const log = (line: string) => process.stderr.write(line + "\n");
      const interruption = interruptible();
      let bar: ProgressReporter | undefined;
      let spent = 0;
      const roundSeconds: number[] = [];
      const onEvent = (event: DistillEvent) => {
        switch (event.kind) {
          case "encode":
            bar ??= progressBar(event.total, "embed");
            bar.update(event.done);
            break;
          case "encoded":
            bar?.stop();
            bar = undefined;
            log(`${event.rows} texts embedded ${event.cached ? "(from the cache)" : `in ${event.seconds.toFixed(1)} s`}`);
            break;
          case "round-start":
            log(`round ${event.round}/${event.rounds}: asking the teacher about ${event.calibration + event.training} texts (${event.calibration} for calibration, ${event.training} for training${event.chosen === "least-sure" ? ", the student's least sure" : ", stratified by length"})`);
            bar = progressBar(event.calibration + event.training, `round ${event.round}`);
            break;
          case "teacher":
            bar?.update(event.done, { spent: `$${spent.toFixed(4)}` });
            break;
          case "round": {
            bar?.stop();
            bar = undefined;
            const r = event.record;
            spent += r.paidUsd;
            if (r.round > 0) roundSeconds.push(r.seconds);
            const left = (input ? options.rounds : 0) - r.round;
            const eta = r.round > 0 && left > 0 ? `; about ${Math.ceil((left * roundSeconds.reduce((a, b) => a + b, 0)) / roundSeconds.length)} s of rounds left` : "";
            log(`round ${r.round}${r.round === 0 ? " (logged labels)" : ""}: ${r.answered} answers${r.unparseable ? `, ${r.unparseable} unparseable` : ""}${r.failed ? `, ${r.failed} failed` : ""}; paid $${r.paidUsd.toFixed(4)} (+ $${r.cachedUsd.toFixed(4)} from the cache), $${spent.toFixed(4)} this run; ${r.trainingLabels} training / ${r.calibrationLabels} calibration labels; student agreement ${pct(r.agreement)}${eta}`);
            break;
          }
          case "phase":
            bar?.stop();
            bar = undefined;
            log(`distill: ${event.phase}: ${event.detail}`);
            break;
          case "train":
            // The engine reports every few steps: a bar over all epochs' steps, with the ETA.
            bar ??= progressBar(event.total, "fine-tune");
            bar.update(event.done, { epoch: String(event.epoch), ...(event.loss !== undefined && Number.isFinite(event.loss) ? { loss: event.loss.toFixed(3) } : {}) });
            break;
          case "note":
            log(event.message);
            break;
        }
      };
      try {
        const result = await distill({
          texts: input?.texts ?? [...new Set((teacherLabels ?? []).map((l) => l.text))],
          labels: options.labels,
          out: options.out,
          teacher,
          teacherLabels,
          cascadeLlm,
          audit: options.auditShare > 0 ? { ...DEFAULT_AUDIT, share: options.auditShare } : false,
          budgetUsd: options.budget,
          rounds: options.rounds,
          perRound: options.perRound,
          selection: options.selection,
          calibrationShare: options.calibrationShare,
          student: options.student,
          grid: options.grid,
          head: options.head,
          backbone: options.backbone,
          targetAgreement: options.targetAgreement,
          confidence: options.confidence,
          seed: options.seed,
          maxLength: options.maxLength,
          store: options.db,
          encodingsDir: options.cacheDir,
          pricing: options.pricing,
          engine: options.epochs || options.lr ? { ...(options.epochs ? { epochs: options.epochs } : {}), ...(options.lr ? { lr: options.lr } : {}) } : undefined,
          evaluation,
          inputFile: options.input ?? options.teacherLabels,
          onEvent,
          stop: interruption.stop,
        });
        bar?.stop();
        if (options.format === "json") printJson(snakeCaseKeys(summaryJson(result), ["perLabel"]));
        else {
          const cert = result.certification.certificate;
          let out = `\n${cert.certified ? "certified" : "not certified"}: ${cert.summary}\n`;
          out += `the teacher answers ${(result.teacherShare * 100).toFixed(1)}% of the ${input?.texts.length ?? "logged"} texts at τ = ${cert.tau}: ${usd(result.costs.cascadePer1000)} per 1,000 texts instead of ${usd(result.costs.teacherPer1000)} (saved ${usd(result.costs.savedPer1000)})${result.costs.priceBasis ? `; ${result.costs.priceBasis}` : ""}\n`;
          out += `labels: ${result.student.trainingLabels} training, ${result.student.calibrationLabels} calibration; teacher cost ${usd(result.costs.labelsUsd)} (${usd(result.costs.paidThisRunUsd)} paid in this run); student ${result.student.kind} on ${result.student.backbone}, ${result.student.quantization}\n`;
          if (result.evaluation) {
            const e = result.evaluation;
            out += `against gold (${e.rows} rows of ${e.file}): macro F1 teacher ${pct(e.teacher?.macroF1)}, student ${pct(e.student.macroF1)}, cascade ${pct(e.cascade?.macroF1)}\n`;
          }
          out += `\nmodel → ${result.model}\ncascade → ${result.config} (tandem serve --config ${result.config})\nreport → ${result.report}\nrun ${result.runId} (tandem view)\n`;
          process.stdout.write(out);
        }
        if (result.stopped === "interrupted") throw new UserError("interrupted: the output holds the labels so far; run the same command again to continue (answers received are cached)", {}, "interrupted");
        if (result.failed > 0) throw new UserError(`${result.failed} teacher calls failed (see above); the output is written from the answers received: run the same command again to retry them`, {}, "rows-failed");
        if (result.stopped === "budget") log(`stopped at the budget of $${options.budget}: ${result.costs.labelsUsd.toFixed(4)} of teacher answers used`);
      } finally {
        bar?.stop();
        interruption.dispose();
      }
    });
}
