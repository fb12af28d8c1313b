/**
 * Running an experiment: every strategy over the dataset, built by the strategy factory (LLM answers
 * come from the cache where they exist; strategies already finished in an interrupted run are read
 * back), each evaluated overall and per slice, everything kept in the run store. Cascades and ensembles
 * are computed from their members' predictions of the same run, so they make no calls of their own.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { UserError } from "../core/errors.js";
import type { Store } from "../core/store.js";
import { loadDataset } from "../data/dataset.js";
import { resolveScheme } from "../data/labels.js";
import { providerProblem } from "../llm/providers/registry.js";
import { evaluate, macroF1, sliceMacroF1, type Evaluation } from "../metrics/evaluate.js";
import { cascadeCurve, topProbability, type CascadePoint } from "../strategies/cascade.js";
import type { StrategyConfig } from "../strategies/config.js";
import { definitionOf, memberRefs, type StrategyDefinition } from "../strategies/registry.js";
import { createStrategies } from "../strategies/factory.js";
import { executionOrder } from "../strategies/members.js";
import type { Prediction, Strategy } from "../strategies/strategy.js";
import { ExperimentSchema, type ExperimentConfig } from "./config.js";
import { RunStore, type StrategyRecord } from "./store.js";

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
  macroF1: number;
  accuracy: number;
  /** Macro F1 per slice. */
  slices: Record<string, number>;
  costUsd: number;
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
  /** Stop dispatching new calls (calls in flight finish and are cached); the run stops after the strategy in progress, storing nothing of it. */
  stop?: AbortSignal;
  /** Abort calls in flight. */
  signal?: AbortSignal;
  log?: (message: string) => void;
  progress?: (strategy: string, done: number, total: number) => void;
  db: Store;
  pricing?: string;
}

function configHash(config: ExperimentConfig): string {
  return createHash("sha256").update(JSON.stringify({ ...config, file: undefined })).digest("hex").slice(0, 16);
}

/** Checks what can be checked before spending anything: model folders exist, provider keys are set. */
export function preflight(config: ExperimentConfig): void {
  const check = (strategy: StrategyConfig, column: string) => {
    const where = { file: config.file, column };
    if (strategy.type === "encoder" && (strategy.model.startsWith("/") || strategy.model.startsWith(".")) && !existsSync(strategy.model)) {
      throw new UserError(`encoder model folder ${strategy.model} does not exist`, where);
    }
    if (strategy.type === "llm") {
      const problem = providerProblem(strategy.model);
      if (problem) throw new UserError(problem, where);
    }
    for (const { field, ref } of memberRefs(strategy)) if (typeof ref !== "string") check(ref, `${column}.${field.join(".")}`);
  };
  config.strategies.forEach((strategy) => check(strategy, `strategies.${strategy.name}`));
}

/** What a strategy's answers add up to: seconds, dollars, tokens, training cost, and for cascades the LLM share. */
function measure(config: StrategyConfig, strategy: Strategy, predictions: readonly Prediction[], seconds: number, done: ReadonlyMap<string, StrategyOutcome>): Omit<StrategyOutcome, "evaluation"> {
  const costUsd = predictions.reduce((sum, p) => sum + p.costUsd, 0);
  const tokens = predictions.reduce((sum, p) => sum + (p.inputTokens ?? 0) + (p.outputTokens ?? 0), 0);
  const members = strategy.members.map((m) => done.get(m.name)).filter((m): m is StrategyOutcome => m !== undefined);
  const base = { name: strategy.name, type: config.type, predictions: [...predictions], seconds, costUsd, tokens, trainingCostUsd: 0 };
  const failed = predictions.filter((p) => p.status !== "ok").length;
  const note = failed > 0 ? countStatuses(predictions) : undefined;
  const own = (definitionOf(config.type) as StrategyDefinition<StrategyConfig["type"]>).account?.(config as never, members) ?? {};
  return { ...base, ...own, note };
}

/** "3 unparseable, 2 error" — the rows without a label, by status. */
export function countStatuses(predictions: readonly Prediction[]): string {
  const counts = new Map<string, number>();
  for (const p of predictions) if (p.status !== "ok") counts.set(p.status, (counts.get(p.status) ?? 0) + 1);
  return [...counts].map(([status, n]) => `${n} ${status}`).join(", ");
}

export async function runExperiment(config: ExperimentConfig, hooks: RunnerHooks): Promise<ExperimentRun> {
  preflight(config);
  const store = new RunStore(hooks.db);
  const scheme = resolveScheme(config.dataset.scheme);
  const dataset = await loadDataset(config.dataset.file, { scheme, columns: { text: config.dataset.text, label: config.dataset.label, source: config.dataset.slices } });
  const examples = config.dataset.limit ? dataset.examples.slice(0, config.dataset.limit) : dataset.examples;
  const texts = examples.map((e) => e.text);
  const gold = examples.map((e) => e.label as string);
  const slices = config.dataset.slices ? examples.map((e) => String(e.row[config.dataset.slices!] ?? "")) : undefined;
  const labels = [...scheme.labels];
  const hash = configHash(config);
  const run = store.unfinishedRun(hash) ?? store.createRun({ name: config.name, configHash: hash, config: JSON.stringify(config), rows: texts.length, labels, gold, slices });
  const stored = new Map(store.strategyResults(run.id).map((row) => [`${row.strategy}\u0000${row.replicate}`, row]));
  const sampled = samplingStrategies(config);
  const resumed: string[] = [];
  const outcomes = new Map<string, StrategyOutcome>();
  const set = await createStrategies(config.strategies, { store: hooks.db, pricing: hooks.pricing, scheme: config.dataset.scheme });
  try {
    let first = new Map<string, StrategyOutcome>();
    for (let replicate = 0; replicate < config.replicates; replicate++) {
      const seed = config.seed + replicate;
      const tag = config.replicates > 1 ? ` [replicate ${replicate + 1}/${config.replicates}, seed ${seed}]` : "";
      const done = new Map<string, StrategyOutcome>();
      const known = new Map<Strategy, Prediction[]>();
      for (const strategyConfig of executionOrder(config.strategies)) {
        const name = strategyConfig.name!;
        const strategy = set.strategies.get(name)!;
        let outcome: StrategyOutcome;
        const previous = stored.get(`${name}\u0000${replicate}`);
        if (replicate > 0 && !sampled.has(name)) {
          // Deterministic strategies give the same answers every time: run once, reuse.
          outcome = first.get(name)!;
        } else if (previous) {
          outcome = outcomeFromRecord(store, previous);
          resumed.push(replicate > 0 ? `${name} (replicate ${replicate + 1})` : name);
          hooks.log?.(`${name}: done in an earlier attempt of this run${tag}`);
        } else {
          hooks.log?.(`${name}: running (${strategyConfig.type})${tag}`);
          const started = performance.now();
          const predictions = await strategy.classify(texts, {
            known,
            // Replicates send seeds seed, seed + 1, …; a single run sends the strategy's own (like tandem classify), so both share cached answers.
            samplingSeed: config.replicates > 1 ? seed : undefined,
            onProgress: (n) => hooks.progress?.(name, n, texts.length),
            stop: hooks.stop,
            signal: hooks.signal,
          });
          if (hooks.stop?.aborted) {
            // Interrupted: what was answered is in the cache; the run (still "running") resumes from here.
            throw new UserError(`interrupted during ${name}: answers received so far are cached; run the same file again to continue (finished strategies are kept)`, {}, "interrupted");
          }
          const result = measure(strategyConfig, strategy, predictions, (performance.now() - started) / 1000, done);
          outcome = { ...result, evaluation: evaluateOutcome(predictions, strategy.labels, { gold, labels, slices }) };
          if (strategyConfig.type === "cascade") {
            const [encoder, llm] = strategy.members.map((m) => done.get(m.name)!);
            outcome.curve = outcomeCurve(encoder!.predictions, llm!.predictions, gold, labels);
          }
          saveOutcome(store, run.id, outcome, { replicate, seed: config.replicates > 1 ? seed : undefined, position: config.strategies.indexOf(strategyConfig) });
        }
        done.set(name, outcome);
        known.set(strategy, outcome.predictions);
        if (replicate === 0) outcomes.set(name, outcome);
        if (config.replicates > 1 && sampled.has(name)) {
          const main = outcomes.get(name)!;
          (main.replicates ??= []).push(replicateResult(outcome, replicate, seed));
        }
      }
      if (replicate === 0) first = done;
    }
  } finally {
    await set.close();
  }
  store.finishRun(run.id);
  // Outcomes in the file's order (members may have run first).
  return { id: run.id, config, labels, gold, slices, outcomes: config.strategies.map((s) => outcomes.get(s.name!)!), resumed };
}

/** A strategy's evaluation against the run's gold labels (probabilities reordered to the run's labels). */
function evaluateOutcome(predictions: readonly Prediction[], strategyLabels: readonly string[], run: { gold: string[]; labels: string[]; slices?: string[] }): Evaluation {
  return evaluate({
    gold: run.gold,
    pred: predictions.map((p) => p.label),
    labels: run.labels,
    by: run.slices,
    probabilities: predictions.every((p) => p.probabilities === undefined) ? undefined : Float64Array.from(predictions.flatMap((p) => reorderTo(p, strategyLabels, run.labels))),
  });
}

function outcomeCurve(encoder: readonly Prediction[], llm: readonly Prediction[], gold: string[], labels: string[]): CascadePoint[] {
  return cascadeCurve({ gold, labels, encoderPred: encoder.map((p) => p.label), encoderConfidence: encoder.map(topProbability), llmPred: llm.map((p) => p.label) });
}

function saveOutcome(store: RunStore, runId: string, outcome: StrategyOutcome, where: { replicate: number; seed?: number; position: number }): void {
  const record: StrategyRecord = {
    runId, strategy: outcome.name, replicate: where.replicate, seed: where.seed, position: where.position, type: outcome.type,
    seconds: outcome.seconds, costUsd: outcome.costUsd, trainingCostUsd: outcome.trainingCostUsd, tokens: outcome.tokens,
    evaluation: JSON.stringify(outcome.evaluation), extra: JSON.stringify({ llmShare: outcome.llmShare, curve: outcome.curve, note: outcome.note }),
  };
  store.saveStrategyResult(record, outcome.predictions);
}

/** A run made outside the runner (e.g. by `tandem distill`), stored like one for `tandem view` and `tandem runs`. */
export interface RecordedRun {
  name: string;
  dataset: ExperimentConfig["dataset"];
  seed: number;
  strategies: StrategyConfig[];
  labels: string[];
  gold: string[];
  /** One per strategy, in the same order, with its predictions in the strategies' label order (= labels). */
  outcomes: Array<{ name: string; predictions: Prediction[]; seconds: number; costUsd: number; trainingCostUsd?: number; note?: string }>;
}

/** Stores a finished run and returns its id; cascades get their what-if curve from their members' answers. */
export function recordRun(db: Store, recorded: RecordedRun): string {
  const store = new RunStore(db);
  const config = ExperimentSchema.parse({ name: recorded.name, dataset: recorded.dataset, seed: recorded.seed, strategies: recorded.strategies }) as ExperimentConfig;
  const run = store.createRun({ name: recorded.name, configHash: configHash({ ...config, file: "" }), config: JSON.stringify(config), rows: recorded.gold.length, labels: recorded.labels, gold: recorded.gold });
  const byName = new Map(recorded.outcomes.map((o) => [o.name, o]));
  recorded.strategies.forEach((strategy, position) => {
    const given = byName.get(strategy.name!);
    if (!given) throw new Error(`recordRun: no outcome for ${strategy.name}`);
    const outcome: StrategyOutcome = {
      name: given.name, type: strategy.type, predictions: given.predictions, seconds: given.seconds, costUsd: given.costUsd, trainingCostUsd: given.trainingCostUsd ?? 0,
      tokens: 0, note: given.note, evaluation: evaluateOutcome(given.predictions, recorded.labels, recorded),
    };
    if (strategy.type === "cascade" && typeof strategy.encoder === "string" && typeof strategy.llm === "string") {
      const encoder = byName.get(strategy.encoder);
      const llm = byName.get(strategy.llm);
      if (encoder && llm) {
        outcome.curve = outcomeCurve(encoder.predictions, llm.predictions, recorded.gold, recorded.labels);
        outcome.llmShare = given.predictions.filter((p) => p.answeredBy === strategy.llm).length / Math.max(1, given.predictions.length);
      }
    }
    saveOutcome(store, run.id, outcome, { replicate: 0, position });
  });
  store.finishRun(run.id);
  return run.id;
}

/** Probabilities in the run's label order (NaN where a prediction has none). */
function reorderTo(prediction: Prediction, from: readonly string[], to: readonly string[]): number[] {
  if (!prediction.probabilities) return to.map(() => Number.NaN);
  return to.map((label) => {
    const j = from.indexOf(label);
    return j < 0 ? 0 : (prediction.probabilities![j] as number);
  });
}

/** Strategies whose answers change from one replicate to the next: LLMs, and what is built on them. */
export function samplingStrategies(config: ExperimentConfig): Set<string> {
  const sampled = new Set<string>();
  const samples = (strategy: StrategyConfig): boolean =>
    strategy.type === "llm" || memberRefs(strategy).some(({ ref }) => (typeof ref === "string" ? sampled.has(ref) : samples(ref)));
  for (const strategy of executionOrder(config.strategies)) if (samples(strategy)) sampled.add(strategy.name!);
  return sampled;
}

function replicateResult(outcome: Pick<StrategyOutcome, "evaluation" | "costUsd" | "tokens" | "seconds">, replicate: number, seed: number): ReplicateResult {
  return {
    replicate,
    seed,
    macroF1: macroF1(outcome.evaluation.overall),
    accuracy: outcome.evaluation.overall.accuracy as number,
    slices: sliceMacroF1(outcome.evaluation),
    costUsd: outcome.costUsd,
    tokens: outcome.tokens,
    seconds: outcome.seconds,
  };
}

/** One stored strategy result (one replicate) with its predictions, as the runner produced it. */
function outcomeFromRecord(store: RunStore, record: StrategyRecord): StrategyOutcome {
  const extra = record.extra ? (JSON.parse(record.extra) as Partial<StrategyOutcome>) : {};
  return {
    name: record.strategy,
    type: record.type as StrategyConfig["type"],
    predictions: store.predictions(record.runId, record.strategy, record.replicate),
    seconds: record.seconds,
    costUsd: record.costUsd,
    trainingCostUsd: record.trainingCostUsd,
    tokens: record.tokens,
    evaluation: JSON.parse(record.evaluation) as Evaluation,
    ...extra,
  };
}

/** A stored run, read back for reports and comparisons. */
export function loadRun(db: Store | RunStore, id: string): ExperimentRun {
  const store = db instanceof RunStore ? db : new RunStore(db);
  const run = store.run(id);
  if (!run) throw new UserError(`no run "${id}" in the state database (see \`tandem runs list\`)`);
  const config = JSON.parse(run.config) as ExperimentConfig;
  const records = store.strategyResults(id);
  const outcomes: StrategyOutcome[] = records.filter((record) => record.replicate === 0).map((record) => {
    const outcome = outcomeFromRecord(store, record);
    const replicates = records.filter((other) => other.strategy === record.strategy);
    if (replicates.length > 1) {
      outcome.replicates = replicates.map((r) => replicateResult({ evaluation: JSON.parse(r.evaluation) as Evaluation, costUsd: r.costUsd, tokens: r.tokens, seconds: r.seconds }, r.replicate, r.seed ?? config.seed + r.replicate));
    }
    return outcome;
  });
  return { id, config, labels: run.labels, gold: run.gold, slices: run.slices, outcomes, resumed: [] };
}
