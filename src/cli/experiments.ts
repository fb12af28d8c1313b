/** `tandem run`, `tandem runs`, `tandem report` and `tandem demo`. */
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { EXIT_CODES, UserError } from "../core/errors.js";
import { writeFileAtomic } from "../core/files.js";
import { openStore } from "../core/store.js";
import { TableWriter } from "../data/writers.js";
import { compareRun, failedRows, type RunComparison } from "../experiments/compare.js";
import { loadExperiment, type ExperimentConfig } from "../experiments/config.js";
import { formatComparisonMarkdown, formatComparisonText, renderHtml } from "../experiments/report.js";
import { loadRun, runExperiment, type ExperimentRun } from "../experiments/runner.js";
import { RunStore } from "../experiments/store.js";
import { sortLabels } from "../metrics/labels.js";
import { loadDataset } from "../data/dataset.js";
import { STARTER_MODEL } from "../encoders/hub.js";
import type { StrategyConfig } from "../strategies/config.js";
import { createStrategy } from "../strategies/factory.js";
import { failedShareExceeded, tallyOf, topReasons } from "./llm.js";
import { invocation, parseFormat, parseInteger, parseNumber, printJson, snakeCaseKeys } from "./options.js";
import { progressBar, type ProgressReporter } from "./progress.js";
import { interruptible } from "./signals.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

function writeReports(run: ExperimentRun, comparison: RunComparison, options: { html?: string; md?: string }): void {
  if (options.html) {
    mkdirSync(dirname(resolve(options.html)), { recursive: true });
    writeFileAtomic(options.html, renderHtml(run, comparison));
    process.stderr.write(`HTML report → ${options.html}\n`);
  }
  if (options.md) {
    mkdirSync(dirname(resolve(options.md)), { recursive: true });
    writeFileAtomic(options.md, formatComparisonMarkdown(comparison));
    process.stderr.write(`Markdown report → ${options.md}\n`);
  }
}

interface ExecuteOptions {
  db?: string;
  iterations: number;
  pricing?: string;
  testFailed?: boolean;
}

async function execute(config: ExperimentConfig, options: ExecuteOptions): Promise<{ run: ExperimentRun; comparison: RunComparison }> {
  const db = openStore(options.db);
  let bar: ProgressReporter | undefined;
  let current = "";
  const interruption = interruptible();
  const run = await runExperiment(config, {
    db,
    pricing: options.pricing,
    stop: interruption.stop,
    signal: interruption.hard,
    log: (message) => {
      bar?.stop();
      bar = undefined;
      current = "";
      process.stderr.write(message + "\n");
    },
    progress: (strategy, done, total) => {
      if (strategy !== current) {
        bar?.stop();
        bar = progressBar(total, strategy);
        current = strategy;
      }
      bar?.update(done);
    },
  }).finally(() => {
    bar?.stop();
    interruption.dispose();
  });
  return { run, comparison: compareRun(run, { iterations: options.iterations, testFailed: options.testFailed }) };
}

/** One line per strategy with failed rows (counts and commonest reasons); exit code 4 beyond the accepted share. */
function reportFailures(run: ExperimentRun, acceptedShare: number): void {
  let exceeded = false;
  for (const outcome of run.outcomes) {
    const count = (status: string) => outcome.predictions.filter((p) => p.status === status).length;
    const failed = failedRows(outcome);
    if (failed === 0 && count("unparseable") === 0) continue;
    process.stderr.write(`${outcome.name}: ${count("ok")} ok, ${count("unparseable")} unparseable, ${count("error")} error, ${count("skipped")} skipped${failed ? ` — ${topReasons(tallyOf(outcome.predictions).reasons)}` : ""}\n`);
    if (failedShareExceeded(failed, outcome.predictions.length, acceptedShare)) exceeded = true;
  }
  if (exceeded) {
    process.stderr.write(`strategies with failed rows beyond --max-failed-share ${acceptedShare}: exit code ${EXIT_CODES["rows-failed"]} (run again to retry only the failed calls)\n`);
    process.exitCode = EXIT_CODES["rows-failed"];
  }
}

export function registerExperiments(program: Command): void {
  program
    .command("run")
    .description("Run an experiment file: every strategy on one dataset, evaluated overall and per slice, stored in the run store; prints the comparison table.")
    .argument("<experiment>", "YAML experiment file (see examples/paper-grid.yaml)")
    .option("--db <file>", "state database (default .tandem/tandem.db)")
    .option("--html <file>", "also write the HTML report")
    .option("--md <file>", "also write the Markdown report")
    .option("--iterations <n>", "bootstrap resamples for the significance tests", parseInteger("--iterations", 100), 10_000)
    .option("--pricing <file>", "prices to use instead of / on top of the built-in table (JSON or YAML)")
    .option("--max-failed-share <f>", "accept up to this share of failed rows per strategy before exiting with code 4", parseNumber("--max-failed-share", 0, 1), 0)
    .option("--test-failed", "include strategies with failed rows in the significance tests")
    .option("-f, --format <format>", "text or json", parseFormat(["text", "json"] as const), "text")
    .addHelpText("after", "\nExit codes: 0 done; 2 bad input (the file, line and field are named; nothing runs); 4 a strategy has failed rows (status error: the reasons are stored with each row and summarised on stderr; --max-failed-share accepts some); 130 interrupted (calls in flight finish and are cached; run again to continue).")
    .action(async (file: string, options: ExecuteOptions & { html?: string; md?: string; format: string; maxFailedShare: number }) => {
      const { run, comparison } = await execute(loadExperiment(file), options);
      if (options.format === "json") printJson(snakeCaseKeys(comparison));
      else process.stdout.write(`run ${run.id}\n\n${formatComparisonText(comparison)}`);
      writeReports(run, comparison, options);
      reportFailures(run, options.maxFailedShare);
    });

  const runs = program.command("runs").description("Stored experiment runs: list, show, compare, export.");
  runs
    .command("list")
    .description("Runs in the state database, newest first.")
    .option("--db <file>", "state database (default .tandem/tandem.db)")
    .option("-f, --format <format>", "text or json", parseFormat(["text", "json"] as const), "text")
    .action((options: { db?: string; format: "text" | "json" }) => {
      const rows = new RunStore(options.db).listRuns();
      if (options.format === "json") return void printJson(snakeCaseKeys(rows));
      if (rows.length === 0) return void process.stdout.write("no runs yet (tandem run FILE, or tandem demo)\n");
      for (const row of rows) process.stdout.write(`${row.id}  ${row.status.padEnd(7)}  ${String(row.rows).padStart(6)} rows  ${row.createdAt}\n`);
    });
  for (const [name, description] of [["show", "The comparison table of a run."], ["compare", "The comparison of a run as JSON: metrics, costs, significance against the baseline, pairwise McNemar p-values."]] as const) {
    runs
      .command(name)
      .description(description)
      .argument("<run>", "run id (see tandem runs list)")
      .option("--db <file>", "state database (default .tandem/tandem.db)")
      .option("--iterations <n>", "bootstrap resamples", parseInteger("--iterations", 100), 10_000)
      .option("-f, --format <format>", "text or json (show; compare always prints JSON)", parseFormat(["text", "json"] as const), "text")
      .action((id: string, options: { db?: string; iterations: number; format: string }) => {
        const run = loadRun(openStore(options.db), id);
        const comparison = compareRun(run, { iterations: options.iterations });
        if (name === "compare" || options.format === "json") printJson(snakeCaseKeys(comparison));
        else process.stdout.write(`run ${run.id}\n\n${formatComparisonText(comparison)}`);
      });
  }
  runs
    .command("export")
    .description("Every row's gold label and each strategy's prediction and probabilities (readable by tandem evaluate and tune cascade).")
    .argument("<run>", "run id")
    .requiredOption("-o, --out <file>", "CSV, TSV or JSONL")
    .option("--db <file>", "state database (default .tandem/tandem.db)")
    .action((id: string, options: { out: string; db?: string }) => {
      const run = loadRun(openStore(options.db), id);
      const sorted = sortLabels(run.labels);
      const columns = ["row", "label", ...(run.slices ? ["slice"] : []), ...run.outcomes.flatMap((o) => [`${o.name}`, `${o.name}_probabilities`])];
      const writer = new TableWriter(options.out, columns);
      run.gold.forEach((gold, i) => {
        const row: Record<string, unknown> = { row: i + 1, label: gold, slice: run.slices?.[i] };
        for (const o of run.outcomes) {
          const p = o.predictions[i]!;
          row[o.name] = p.label;
          row[`${o.name}_probabilities`] = p.probabilities ? sorted.map((l) => p.probabilities![run.labels.indexOf(l)]) : undefined;
        }
        writer.write(row);
      });
      writer.close();
      process.stderr.write(`${run.gold.length} rows × ${run.outcomes.length} strategies → ${options.out}\n`);
    });

  program
    .command("report")
    .description("Write the HTML report (self-contained, charts drawn by Vega-Lite) and/or the Markdown report of a stored run.")
    .argument("<run>", "run id (see tandem runs list)")
    .option("--html <file>", "HTML report")
    .option("--md <file>", "Markdown report")
    .option("--db <file>", "state database (default .tandem/tandem.db)")
    .option("--iterations <n>", "bootstrap resamples", parseInteger("--iterations", 100), 10_000)
    .action((id: string, options: { html?: string; md?: string; db?: string; iterations: number }) => {
      if (!options.html && !options.md) throw new UserError("say where to write the report: --html FILE and/or --md FILE");
      const run = loadRun(openStore(options.db), id);
      writeReports(run, compareRun(run, { iterations: options.iterations }), options);
    });

  program
    .command("demo")
    .description("The offline main job: a bundled sample of the Sentiment Merged test split through every strategy that needs no key, the comparison table, and the HTML report.")
    .option("--out <dir>", "folder for the reports", "tandem-demo")
    .option("--db <file>", "state database (default: OUT/tandem.db)")
    .option("--iterations <n>", "bootstrap resamples", parseInteger("--iterations", 100), 10_000)
    .option("-f, --format <format>", "text or json (the comparison: the shape of tandem runs compare)", parseFormat(["text", "json"] as const), "text")
    .option("--loop", "instead: the distill → serve → audit → export → distill loop, offline, with a stand-in teacher (not an LLM) on 2,000 bundled texts, into OUT/loop")
    .action(async (options: { out: string; db?: string; iterations: number; format: "text" | "json"; loop?: boolean }) => {
      if (options.loop) return loopDemoCommand(join(options.out, "loop"), options.format);
      const started = performance.now();
      const config = demoConfig();
      process.stderr.write(`tandem demo: ${config.strategies.map((s) => s.name).join(", ")} on ${config.dataset.file}\n`);
      const { run, comparison } = await execute(config, { db: options.db ?? join(options.out, "tandem.db"), iterations: options.iterations });
      if (options.format === "json") {
        writeReports(run, comparison, { html: join(options.out, "report.html"), md: join(options.out, "report.md") });
        return void printJson(snakeCaseKeys({ runId: run.id, db: options.db ?? join(options.out, "tandem.db"), reports: { html: join(options.out, "report.html"), md: join(options.out, "report.md") }, seconds: (performance.now() - started) / 1000, comparison }));
      }
      process.stdout.write(`\n${formatComparisonText(comparison)}`);
      writeReports(run, comparison, { html: join(options.out, "report.html"), md: join(options.out, "report.md") });
      process.stdout.write("\n" + (await localLlmGlimpse(options.db ?? join(options.out, "tandem.db"))));
      const tandem = invocation();
      process.stdout.write(
        `\ndone in ${((performance.now() - started) / 1000).toFixed(1)} s. Next:\n` +
          `  ${tandem} view --db ${options.db ?? join(options.out, "tandem.db")}    browse this run, its errors, and a cascade with a slider\n` +
          `  ${tandem} serve                                 the starter over HTTP (POST /v1/classify), offline\n` +
          `  ${tandem} distill --teacher-labels logs.csv --llm-strategy openai:gpt-4o-mini --labels negative,neutral,positive -o student   a small model and a certified cascade from LLM answers\n` +
          `Add an LLM: export OPENAI_API_KEY=... (or start a local server) and run \`${tandem} run examples/paper-grid.yaml\` after filling in the model ids.\n`,
      );
    });
}

/** `tandem demo --loop`: the loop's steps as they happen, then what each produced and the real commands. */
async function loopDemoCommand(out: string, format: "text" | "json"): Promise<void> {
  const { loopDemo } = await import("../demo/loop.js");
  const tandem = invocation();
  const result = await loopDemo({ out, onStep: (step, detail) => process.stderr.write(`tandem demo --loop: ${step}: ${detail}\n`) });
  if (format === "json") return void printJson(snakeCaseKeys({ ...result, first: summaryOf(result.first), second: summaryOf(result.second) }));
  const pct = (x: number | null) => (x === null ? "—" : `${(x * 100).toFixed(1)}%`);
  const cert = (r: typeof result.first) => `${r.certification.certificate.certified ? "certified" : "not certified"} τ = ${r.certification.certificate.tau} (agreement ≥ 90% at 95% confidence, ${r.certification.certificate.calibrationRows} calibration rows); the teacher answers ${pct(r.teacherShare)} of the texts`;
  const a = result.served.audit;
  process.stdout.write(
    `\nThe loop, offline, with ${result.teacher}.\n\n` +
      `1. distill      ${result.first.student.trainingLabels} training + ${result.first.student.calibrationLabels} calibration labels → ${cert(result.first)}\n` +
      `2. serve        ${result.served.texts} texts, the teacher answered ${pct(result.served.llmShare)}; the audit watched the ${a.quantity}: ${pct(a.agreement)} [${pct(a.lowerBound)}, ${pct(a.upperBound)}] over ${a.audited} outcomes, ${a.degraded ? "DEGRADED" : "no drift alarm"}\n` +
      `3. export       ${result.collected.rows} labels (${result.collected.sample} in the uniform audit sample) → ${result.collected.file}\n` +
      `4. distill again ${result.second.student.trainingLabels} training + ${result.second.student.calibrationLabels} calibration labels → ${cert(result.second)}\n\n` +
      `done in ${result.seconds.toFixed(1)} s; everything is in ${result.out} (the cascade files name the stand-in's address, gone now).\n` +
      `With your LLM, the same loop is:\n` +
      `  ${tandem} distill --teacher openai:gpt-4o-mini -i texts.csv --labels negative,neutral,positive -o student --budget 5\n` +
      `  ${tandem} serve --config student/cascade.yaml --db serve.db\n` +
      `  ${tandem} serve export-labels --db serve.db -o collected.csv\n` +
      `  ${tandem} distill --teacher-labels collected.csv --labels negative,neutral,positive -o student-2\n`,
  );
}

function summaryOf(r: import("../distill/distill.js").DistillResult) {
  const c = r.certification.certificate;
  return { out: r.out, config: r.config, certified: c.certified, tau: c.tau, lowerBound: c.lowerBound, calibrationRows: c.calibrationRows, teacherShare: r.teacherShare, trainingLabels: r.student.trainingLabels, calibrationLabels: r.student.calibrationLabels };
}

/** What the demo can run here: the lexicon always, the bundled starter encoder when present. */
function demoConfig(): ExperimentConfig {
  const strategies: StrategyConfig[] = [
    { name: "lexicon", type: "lexicon" },
    { name: "lexicon-wide-neutral", type: "lexicon", neutralThreshold: 0.5 },
  ];
  if (existsSync(join(STARTER_MODEL, "config.json"))) strategies.push({ name: "starter-encoder", type: "encoder", model: STARTER_MODEL });
  strategies.push({ name: "vote", type: "ensemble", members: strategies.map((s) => s.name!), method: "average" });
  return {
    name: "tandem-demo",
    file: "demo",
    dataset: { file: join(ROOT, "data", "samples", "merged-test-300.csv"), slices: "source", scheme: "neg_neu_pos" },
    baseline: "lexicon",
    replicates: 1,
    seed: 42,
    strategies,
  };
}

/** The local-model path on a few rows, when node-llama-cpp and the tiny GGUF are here (random weights: the labels are noise, the grammar is the point). */
async function localLlmGlimpse(db: string): Promise<string> {
  const gguf = process.env.TANDEM_DEMO_GGUF ?? resolve(ROOT, "..", "shared", "models", "gguf", "llama-2-tiny-random.gguf");
  const hasLlama = await import("node-llama-cpp" as string).then(() => true, () => false);
  if (!hasLlama || !existsSync(gguf)) return "local LLM: skipped (npm install node-llama-cpp, and a GGUF model, to run local:/path/model.gguf)\n";
  const dataset = await loadDataset(join(ROOT, "data", "samples", "merged-test-300.csv"));
  const rows = dataset.examples.slice(0, 5);
  const model = await createStrategy({ type: "llm", model: `local:${gguf}`, program: "minimal", structured: "on", maxTokens: 20 }, { store: db });
  try {
    const answers = await model.classify(rows.map((r) => r.text));
    return `local LLM path (${gguf.split("/").pop()}, random weights, JSON-schema grammar): ` + answers.map((r) => `${r.status === "ok" ? r.label : r.status}`).join(", ") + " — every answer is a label\n";
  } finally {
    await model.close();
  }
}
