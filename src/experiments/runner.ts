/**
 * Running an experiment: every strategy over the dataset (LLM answers from the cache where they exist;
 * strategies already finished in an interrupted run are read back), each evaluated overall and per
 * slice, everything stored in the run store. Cascades and ensembles are computed from their members'
 * stored predictions, so they make no calls of their own.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { UserError } from "../core/errors.js";
import { loadDotEnv } from "../core/env.js";
import type { Store } from "../core/store.js";
import { loadDataset } from "../data/dataset.js";
import { resolveScheme } from "../data/labels.js";
import { resolveModelDir } from "../encoders/hub.js";
import { EncoderModel } from "../encoders/model.js";
import { ResponseCache } from "../llm/cache.js";
import { loadPriceTable, lookupPrice } from "../llm/pricing.js";
import { planPrompts } from "../llm/prompts/build.js";
import { defaultWording } from "../llm/prompts/programs.js";
import { createChatModel, parseModelSpec } from "../llm/providers/index.js";
import { runLlm } from "../llm/runner.js";
import { evaluate, macroF1, sliceMacroF1, type Evaluation } from "../metrics/evaluate.js";
import { cascadeCurve, cascadePredictions, type CascadePoint } from "../strategies/cascade.js";
import { encoderStrategy } from "../strategies/encoder.js";
import { ensemblePredictions } from "../strategies/ensemble.js";
import { lexiconStrategy } from "../strategies/lexicon.js";
import type { Prediction } from "../strategies/strategy.js";
import type { ExperimentConfig, StrategyConfig } from "./config.js";
import { ensureRunTables, loadPredictions, savePredictions, strategyRows, type RunRow, type StrategyRow } from "./store.js";

export interface StrategyOutcome {
  name: string;
  type: StrategyConfig["type"];
  predictions: Prediction[];
  seconds: number;
  costUsd: number;
  trainingCostUsd: number;
  tokens: number;
  evaluation: Evaluation;
  /** Cascades: the share of items sent to the LLM and the what-if curve. */
  llmShare?: number;
  curve?: CascadePoint[];
  note?: string;
  /** With replicates > 1, for strategies that sample (LLMs, and cascades and ensembles over them): one entry per replicate, the first being this outcome. */
  replicates?: ReplicateResult[];
}

/** One replicate of a sampling strategy: run with seed = the experiment's seed + replicate. */
export interface ReplicateResult {
  replicate: number;
  seed: number;
  macro_f1: number;
  accuracy: number;
  /** Macro F1 per slice. */
  slices: Record<string, number>;
  cost_usd: number;
  tokens: number;
  seconds: number;
}

export interface ExperimentRun {
  id: string;
  config: ExperimentConfig;
  labels: string[];
  gold: string[];
  slices?: string[];
  outcomes: StrategyOutcome[];
  resumed: string[];
}

export interface RunnerHooks {
  log?: (message: string) => void;
  progress?: (strategy: string, done: number, total: number) => void;
  db: Store;
  pricing?: string;
}

function configHash(config: ExperimentConfig): string {
  return createHash("sha256").update(JSON.stringify({ ...config, file: undefined })).digest("hex").slice(0, 16);
}

async function runStrategy(
  strategy: StrategyConfig,
  texts: string[],
  labels: string[],
  scheme: string,
  done: Map<string, StrategyOutcome>,
  hooks: RunnerHooks,
  seed: number,
): Promise<Omit<StrategyOutcome, "evaluation">> {
  const started = performance.now();
  const progress = (n: number) => hooks.progress?.(strategy.name, n, texts.length);
  const finish = (predictions: Prediction[], extra: Partial<StrategyOutcome> = {}) => ({
    name: strategy.name,
    type: strategy.type,
    predictions,
    seconds: (performance.now() - started) / 1000,
    costUsd: predictions.reduce((sum, p) => sum + (p.costUsd ?? 0), 0),
    trainingCostUsd: 0,
    tokens: 0,
    ...extra,
  });
  switch (strategy.type) {
    case "lexicon":
      return finish(await lexiconStrategy({ neutralThreshold: strategy.neutralThreshold }).classify(texts, progress));
    case "encoder": {
      const model = await EncoderModel.load(await resolveModelDir(strategy.model));
      try {
        return finish(await encoderStrategy(model, { batchSize: strategy.batchSize, maxLength: strategy.maxLength }).classify(texts, progress));
      } finally {
        await model.release();
      }
    }
    case "llm": {
      const hints = strategy.hints ? done.get(strategy.hints) : undefined;
      const pool = strategy.examples ? (await loadDataset(strategy.examples, { scheme: resolveScheme(scheme) })).examples.map((e) => ({ text: e.text, label: e.label as string })) : undefined;
      const messages = planPrompts({
        program: strategy.program,
        labels,
        wording: defaultWording(resolveScheme(scheme).description),
        texts,
        encoderLabels: hints?.predictions.map((p) => p.label),
        encoderProbs: hints?.predictions.map((p) => p.probabilities ?? labels.map((l) => (l === p.label ? 1 : 0))),
        pool,
        k: strategy.k,
      });
      const model = await createChatModel(strategy.model);
      try {
        const fineTuned = model.model.startsWith("ft:");
        const run = await runLlm({
          model,
          labels,
          messages,
          count: texts.length,
          temperature: strategy.temperature ?? 0,
          seed,
          concurrency: strategy.concurrency ?? 8,
          structured: model.provider !== "compat" && model.supportsStructured && !fineTuned,
          logprobs: model.supportsLogprobs,
          cache: new ResponseCache(hooks.db),
          prices: lookupPrice(loadPriceTable(hooks.pricing), model.provider, model.model),
          maxCostUsd: strategy.maxCost,
          onResult: (_, totals) => progress(totals.done),
        });
        const predictions = run.results.map((r) => ({ label: r.label, probabilities: r.probabilities, costUsd: r.costUsd, latencyMs: r.latencyMs }));
        const note = run.totals.unparseable + run.totals.errors + run.totals.skipped > 0 ? `${run.totals.unparseable} unparseable, ${run.totals.errors} failed, ${run.totals.skipped} not run` : undefined;
        return finish(predictions, { tokens: run.totals.inputTokens + run.totals.outputTokens, trainingCostUsd: strategy.trainingCost ?? 0, note });
      } finally {
        await model.close?.();
      }
    }
    case "cascade": {
      const encoder = done.get(strategy.encoder)!;
      const llm = done.get(strategy.llm)!;
      const confidence = encoder.predictions.map((p) => Math.max(...(p.probabilities ?? [1])));
      const input = { gold: texts.map(() => ""), encoderPred: encoder.predictions.map((p) => p.label), encoderConfidence: confidence, llmPred: llm.predictions.map((p) => p.label) };
      const routed = cascadePredictions(input, strategy.tau);
      const predictions = routed.pred.map((label, i) => {
        const fromLlm = (confidence[i] as number) < strategy.tau;
        const source = fromLlm ? llm.predictions[i]! : encoder.predictions[i]!;
        return { label, probabilities: source.probabilities, costUsd: (encoder.predictions[i]?.costUsd ?? 0) + (fromLlm ? (llm.predictions[i]?.costUsd ?? 0) : 0) };
      });
      const share = texts.length ? routed.llmCalls / texts.length : 0;
      // The stored LLM run answered every row; a cascade pays for and waits on the routed share only.
      return {
        ...finish(predictions),
        seconds: encoder.seconds + llm.seconds * share,
        tokens: Math.round(llm.tokens * share),
        trainingCostUsd: encoder.trainingCostUsd + llm.trainingCostUsd,
        llmShare: share,
      };
    }
    case "ensemble": {
      const members = strategy.members.map((m) => done.get(m)!);
      return {
        ...finish(ensemblePredictions(members.map((m) => m.predictions), labels, strategy.method)),
        seconds: members.reduce((s, m) => s + m.seconds, 0),
        costUsd: members.reduce((s, m) => s + m.costUsd, 0),
        tokens: members.reduce((s, m) => s + m.tokens, 0),
        trainingCostUsd: members.reduce((s, m) => s + m.trainingCostUsd, 0),
      };
    }
  }
}

/** Checks what can be checked before spending anything: model folders exist, provider keys are set. */
export function preflight(config: ExperimentConfig): void {
  for (const strategy of config.strategies) {
    const where = { file: config.file, column: `strategies.${strategy.name}` };
    if (strategy.type === "encoder" && (strategy.model.startsWith("/") || strategy.model.startsWith(".")) && !existsSync(strategy.model)) {
      throw new UserError(`encoder model folder ${strategy.model} does not exist`, where);
    }
    if (strategy.type === "llm") {
      const spec = parseModelSpec(strategy.model);
      loadDotEnv();
      if (spec.provider === "openai" && !process.env.OPENAI_API_KEY) throw new UserError(`${strategy.model} needs OPENAI_API_KEY (environment or .env)`, where);
      if (spec.provider === "anthropic" && !process.env.ANTHROPIC_API_KEY) throw new UserError(`${strategy.model} needs ANTHROPIC_API_KEY (environment or .env)`, where);
      if (spec.provider === "local" && !existsSync(spec.model)) throw new UserError(`GGUF model ${spec.model} does not exist`, where);
    }
  }
}

export async function runExperiment(config: ExperimentConfig, hooks: RunnerHooks): Promise<ExperimentRun> {
  preflight(config);
  const db = hooks.db;
  ensureRunTables(db);
  const scheme = resolveScheme(config.dataset.scheme);
  const dataset = await loadDataset(config.dataset.file, { scheme, columns: { text: config.dataset.text, label: config.dataset.label, source: config.dataset.slices } });
  const examples = config.dataset.limit ? dataset.examples.slice(0, config.dataset.limit) : dataset.examples;
  const texts = examples.map((e) => e.text);
  const gold = examples.map((e) => e.label as string);
  const slices = config.dataset.slices ? examples.map((e) => String(e.row[config.dataset.slices!] ?? "")) : undefined;
  const labels = [...scheme.labels];
  const hash = configHash(config);
  const unfinished = db.prepare("SELECT * FROM runs WHERE config_hash = ? AND status = 'running' ORDER BY created_at DESC LIMIT 1").get(hash) as RunRow | undefined;
  const id = unfinished?.id ?? `${config.name.replace(/[^\w.-]+/g, "-")}-${new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "").replace("T", "-")}-${hash.slice(0, 4)}`;
  if (!unfinished) {
    db.prepare("INSERT INTO runs (id, name, config_hash, config, status, rows, labels, gold, slices, created_at) VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?)").run(
      id, config.name, hash, JSON.stringify(config), texts.length, JSON.stringify(labels), JSON.stringify(gold), slices ? JSON.stringify(slices) : null, new Date().toISOString(),
    );
  }
  const stored = new Map(strategyRows(db, id).map((row) => [`${row.strategy}\u0000${row.replicate}`, row]));
  const sampled = samplingStrategies(config);
  const resumed: string[] = [];
  const outcomes: StrategyOutcome[] = [];
  let first = new Map<string, StrategyOutcome>();
  for (let replicate = 0; replicate < config.replicates; replicate++) {
    const seed = config.seed + replicate;
    const tag = config.replicates > 1 ? ` [replicate ${replicate + 1}/${config.replicates}, seed ${seed}]` : "";
    const done = new Map<string, StrategyOutcome>();
    for (const [position, strategy] of config.strategies.entries()) {
      // Deterministic strategies give the same answers every time: run once, reuse.
      if (replicate > 0 && !sampled.has(strategy.name)) {
        done.set(strategy.name, first.get(strategy.name)!);
        continue;
      }
      const previous = stored.get(`${strategy.name}\u0000${replicate}`);
      let outcome: StrategyOutcome;
      if (previous) {
        outcome = outcomeFromRow(db, previous);
        resumed.push(replicate > 0 ? `${strategy.name} (replicate ${replicate + 1})` : strategy.name);
        hooks.log?.(`${strategy.name}: done in an earlier attempt of this run${tag}`);
      } else {
        hooks.log?.(`${strategy.name}: running (${strategy.type})${tag}`);
        const result = await runStrategy(strategy, texts, labels, config.dataset.scheme, done, hooks, seed);
        const evaluation = evaluate({
          gold,
          pred: result.predictions.map((p) => p.label),
          labels,
          by: slices,
          probabilities: result.predictions.every((p) => p.probabilities === undefined) ? undefined : Float64Array.from(result.predictions.flatMap((p) => p.probabilities ?? labels.map(() => Number.NaN))),
        });
        outcome = { ...result, evaluation };
        if (strategy.type === "cascade") {
          const encoder = done.get(strategy.encoder)!;
          const llm = done.get(strategy.llm)!;
          outcome.curve = cascadeCurve({ gold, labels, encoderPred: encoder.predictions.map((p) => p.label), encoderConfidence: encoder.predictions.map((p) => Math.max(...(p.probabilities ?? [1]))), llmPred: llm.predictions.map((p) => p.label) });
        }
        savePredictions(db, id, strategy.name, outcome.predictions, replicate);
        db.prepare("INSERT OR REPLACE INTO run_strategies (run_id, strategy, replicate, seed, position, type, seconds, cost_usd, training_cost_usd, tokens, evaluation, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").run(
          id, strategy.name, replicate, seed, position, strategy.type, outcome.seconds, outcome.costUsd, outcome.trainingCostUsd, outcome.tokens, JSON.stringify(evaluation),
          JSON.stringify({ llmShare: outcome.llmShare, curve: outcome.curve, note: outcome.note }),
        );
      }
      done.set(strategy.name, outcome);
      if (replicate === 0) outcomes.push(outcome);
      if (config.replicates > 1 && sampled.has(strategy.name)) {
        const main = outcomes.find((o) => o.name === strategy.name)!;
        (main.replicates ??= []).push(replicateResult(outcome, replicate, seed));
      }
    }
    if (replicate === 0) first = done;
  }
  db.prepare("UPDATE runs SET status = 'done', finished_at = ? WHERE id = ?").run(new Date().toISOString(), id);
  return { id, config, labels, gold, slices, outcomes, resumed };
}

/** Strategies whose answers change from one replicate to the next: LLMs, and what is built on them. */
export function samplingStrategies(config: ExperimentConfig): Set<string> {
  const sampled = new Set<string>();
  for (const strategy of config.strategies) {
    const members = strategy.type === "cascade" ? [strategy.encoder, strategy.llm] : strategy.type === "ensemble" ? strategy.members : [];
    if (strategy.type === "llm" || members.some((m) => sampled.has(m))) sampled.add(strategy.name);
  }
  return sampled;
}

function replicateResult(outcome: Pick<StrategyOutcome, "evaluation" | "costUsd" | "tokens" | "seconds">, replicate: number, seed: number): ReplicateResult {
  return {
    replicate,
    seed,
    macro_f1: macroF1(outcome.evaluation.overall),
    accuracy: outcome.evaluation.overall.accuracy as number,
    slices: sliceMacroF1(outcome.evaluation),
    cost_usd: outcome.costUsd,
    tokens: outcome.tokens,
    seconds: outcome.seconds,
  };
}

/** One stored strategy result (one replicate) with its predictions, as the runner produced it. */
function outcomeFromRow(db: Store, row: StrategyRow): StrategyOutcome {
  const extra = row.extra ? (JSON.parse(row.extra) as Partial<StrategyOutcome>) : {};
  return {
    name: row.strategy,
    type: row.type as StrategyConfig["type"],
    predictions: loadPredictions(db, row.run_id, row.strategy, row.replicate),
    seconds: row.seconds,
    costUsd: row.cost_usd,
    trainingCostUsd: row.training_cost_usd,
    tokens: row.tokens,
    evaluation: JSON.parse(row.evaluation) as Evaluation,
    ...extra,
  };
}

/** A stored run, read back for reports and comparisons. */
export function loadRun(db: Store, id: string): ExperimentRun {
  ensureRunTables(db);
  const run = db.prepare("SELECT * FROM runs WHERE id = ?").get(id) as RunRow | undefined;
  if (!run) throw new UserError(`no run "${id}" in the state database (see \`tandem runs list\`)`);
  const config = JSON.parse(run.config) as ExperimentConfig;
  const rows = strategyRows(db, id);
  const outcomes: StrategyOutcome[] = rows.filter((row) => row.replicate === 0).map((row) => {
    const outcome = outcomeFromRow(db, row);
    const replicates = rows.filter((other) => other.strategy === row.strategy);
    if (replicates.length > 1) {
      outcome.replicates = replicates.map((r) => replicateResult({ evaluation: JSON.parse(r.evaluation) as Evaluation, costUsd: r.cost_usd, tokens: r.tokens, seconds: r.seconds }, r.replicate, r.seed ?? config.seed + r.replicate));
    }
    return outcome;
  });
  return { id, config, labels: JSON.parse(run.labels) as string[], gold: JSON.parse(run.gold) as string[], slices: run.slices ? (JSON.parse(run.slices) as string[]) : undefined, outcomes, resumed: [] };
}
