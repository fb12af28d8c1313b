/**
 * What the web app (`tandem view`, and `/` of `tandem serve`) shows of stored runs: the list, a run's
 * comparison, its rows filtered for error analysis, the cascade explorer and two runs side by side.
 * Everything is computed by the functions the CLI uses (compareRun, cascadeCurve, compareClassifiers),
 * so the page and `tandem runs show` / `tandem tune cascade` cannot disagree. Pure, but for reading the
 * dataset's texts and rendering prompts.
 */
import { existsSync } from "node:fs";
import { UserError } from "../core/errors.js";
import { loadDataset } from "../data/dataset.js";
import { resolveScheme } from "../data/labels.js";
import { macroF1 } from "../metrics/evaluate.js";
import { cascadeCurve, DEFAULT_TAUS, type CascadePoint } from "../strategies/cascade.js";
import { certifiedCascadeConfig } from "../strategies/certified-config.js";
import { certifyCascade, selectRows, splitForCalibration, type CascadeCertificate, type CertifyRows } from "../strategies/certify.js";
import { strategyFileText, type StrategyConfig } from "../strategies/config.js";
import { promptBuilder } from "../strategies/llm.js";
import { compareClassifiers } from "../stats/compare.js";
import { compareRun, type RunComparison } from "./compare.js";
import { loadRun, type ExperimentRun, type StrategyOutcome } from "./runner.js";
import { RunStore } from "./store.js";

export interface RunSummary {
  id: string;
  name: string;
  dataset: string;
  createdAt: string;
  status: string;
  rows: number;
  strategies: string[];
  best: { strategy: string; macroF1: number } | null;
  costUsd: number;
}

/** Every stored run, newest first, with its best strategy and total cost. */
export function listRunSummaries(store: RunStore): RunSummary[] {
  return store.listRuns().map((record) => {
    const results = store.strategyResults(record.id).filter((r) => r.replicate === 0);
    const scored = results.map((r) => ({ strategy: r.strategy, macroF1: macroF1(JSON.parse(r.evaluation).overall) }));
    const best = scored.reduce<RunSummary["best"]>((top, s) => (!top || s.macroF1 > top.macroF1 ? s : top), null);
    const config = JSON.parse(record.config) as ExperimentRun["config"];
    return {
      id: record.id,
      name: record.name,
      dataset: config.dataset.file,
      createdAt: record.createdAt,
      status: record.status,
      rows: record.rows,
      strategies: results.map((r) => r.strategy),
      best,
      costUsd: results.reduce((sum, r) => sum + r.costUsd + r.trainingCostUsd, 0),
    };
  });
}

export interface RunDetail {
  id: string;
  name: string;
  dataset: string;
  labels: string[];
  slices: string[];
  strategies: Array<{ name: string; type: string; hasProbabilities: boolean; confusion: number[][] | null }>;
  comparison: RunComparison;
  /** McNemar p-values between every pair of strategies (row, column in strategy order). */
  significance: Array<Array<number | null>>;
  /** Rows where the row's strategy is right and the column's wrong (the diagonal: rows it gets wrong). */
  disagreements: number[][];
}

export function runDetail(run: ExperimentRun, comparison: RunComparison = compareRun(run)): RunDetail {
  const names = run.outcomes.map((o) => o.name);
  const p = (a: string, b: string): number | null => comparison.pairwise[a]?.[b] ?? comparison.pairwise[b]?.[a] ?? null;
  return {
    id: run.id,
    name: run.config.name,
    dataset: run.config.dataset.file,
    labels: run.labels,
    slices: [...new Set(run.slices ?? [])].sort(),
    strategies: run.outcomes.map((o) => ({ name: o.name, type: o.type, hasProbabilities: o.predictions.some((p) => p.probabilities), confusion: o.evaluation.overall.confusion_matrix ?? null })),
    comparison,
    significance: names.map((a) => names.map((b) => (a === b ? null : p(a, b)))),
    disagreements: run.outcomes.map((a) => run.outcomes.map((b) => run.gold.filter((gold, i) => (a === b ? a.predictions[i]!.label !== gold : a.predictions[i]!.label === gold && b.predictions[i]!.label !== gold)).length)),
  };
}

export interface RowFilter {
  gold?: string;
  /** With `strategy`: rows where that strategy predicted this label. */
  pred?: string;
  strategy?: string;
  slice?: string;
  /** Rows where `right` is correct and `wrong` is not. */
  right?: string;
  wrong?: string;
  /** Confidence (top probability) of `strategy` within [min, max]. */
  minConfidence?: number;
  maxConfidence?: number;
  /** Only rows whose prediction by `strategy` (or any strategy) failed. */
  failed?: boolean;
}

export interface ViewRow {
  row: number;
  text: string | null;
  gold: string;
  slice: string | null;
  answers: Record<string, { label: string; probabilities: number[] | null; status: string; answeredBy: string | null; raw: string | null; error: string | null; costUsd: number }>;
}

function outcomeNamed(run: ExperimentRun, name: string, field: string): StrategyOutcome {
  const outcome = run.outcomes.find((o) => o.name === name);
  if (!outcome) throw new UserError(`${field}: no strategy "${name}" in run ${run.id} (${run.outcomes.map((o) => o.name).join(", ")})`);
  return outcome;
}

const confidenceOf = (probabilities: readonly number[] | undefined) => (probabilities && probabilities.length ? Math.max(...probabilities) : 0);

/** Row indices (0-based) matching every condition of the filter. */
export function filterRows(run: ExperimentRun, filter: RowFilter): number[] {
  const by = filter.strategy ? outcomeNamed(run, filter.strategy, "strategy") : undefined;
  const right = filter.right ? outcomeNamed(run, filter.right, "right") : undefined;
  const wrong = filter.wrong ? outcomeNamed(run, filter.wrong, "wrong") : undefined;
  if ((filter.pred !== undefined || filter.minConfidence !== undefined || filter.maxConfidence !== undefined) && !by) throw new UserError("pred and confidence filters need a strategy");
  const rows: number[] = [];
  run.gold.forEach((gold, i) => {
    if (filter.gold !== undefined && gold !== filter.gold) return;
    if (filter.slice !== undefined && run.slices?.[i] !== filter.slice) return;
    if (by && filter.pred !== undefined && by.predictions[i]!.label !== filter.pred) return;
    if (right && right.predictions[i]!.label !== gold) return;
    if (wrong && wrong.predictions[i]!.label === gold) return;
    if (by && (filter.minConfidence !== undefined || filter.maxConfidence !== undefined)) {
      const confidence = confidenceOf(by.predictions[i]!.probabilities);
      if (confidence < (filter.minConfidence ?? 0) || confidence > (filter.maxConfidence ?? 1)) return;
    }
    if (filter.failed && !(by ? [by] : run.outcomes).some((o) => o.predictions[i]!.status !== "ok")) return;
    rows.push(i);
  });
  return rows;
}

/** The dataset's texts in run order, or null when the file is gone. */
export async function runTexts(run: ExperimentRun): Promise<string[] | null> {
  const dataset = run.config.dataset;
  if (!existsSync(dataset.file)) return null;
  const loaded = await loadDataset(dataset.file, { scheme: resolveScheme(dataset.scheme), columns: { text: dataset.text, label: dataset.label, source: dataset.slices } });
  const texts = loaded.examples.map((e) => e.text);
  return dataset.limit ? texts.slice(0, dataset.limit) : texts;
}

export function viewRows(run: ExperimentRun, indices: readonly number[], texts: readonly string[] | null): ViewRow[] {
  return indices.map((i) => ({
    row: i + 1,
    text: texts?.[i] ?? null,
    gold: run.gold[i]!,
    slice: run.slices?.[i] ?? null,
    answers: Object.fromEntries(run.outcomes.map((o) => {
      const p = o.predictions[i]!;
      return [o.name, { label: p.label, probabilities: p.probabilities ?? null, status: p.status, answeredBy: p.answeredBy ?? null, raw: p.raw ?? null, error: p.error ?? null, costUsd: p.costUsd }];
    })),
  }));
}

/** The messages an LLM strategy of the run sends for a text, rendered by its program (null for other strategies). */
export async function renderedPrompt(run: ExperimentRun, strategy: string, text: string, row: number): Promise<{ messages: Array<{ role: string; content: string }> } | { note: string }> {
  const config = run.config.strategies.find((s) => s.name === strategy);
  if (!config || config.type !== "llm") return { note: `${strategy} is not an LLM strategy: no prompt` };
  const builder = promptBuilder(config, run.config.dataset.scheme);
  // Hinted programs show the encoder's answer the run gave them, when the run has that encoder.
  const hintName = typeof config.hints === "string" ? config.hints : undefined;
  const hint = hintName ? run.outcomes.find((o) => o.name === hintName)?.predictions[row] : undefined;
  try {
    const prompts = await builder.prompts([text], hint ? [hint] : undefined);
    return { messages: prompts(0).map((m) => ({ role: m.role, content: typeof m.content === "string" ? m.content : JSON.stringify(m.content) })) };
  } catch (error) {
    return { note: `the prompt could not be rendered here: ${(error as Error).message}` };
  }
}

export interface CascadeView {
  encoder: string;
  llm: string;
  /** The slider's τ on every row of the run: in-sample (the rows the τ is looked at on). */
  point: CascadePoint;
  curve: CascadePoint[];
  /** LLM dollars per 1,000 items at τ (the stored per-item costs). */
  costPerThousand: number;
  /** The τ certified on half of the rows (seeded, stratified), with held-out figures on the other half. */
  certificate: CascadeCertificate;
}

/** What the explorer certifies: a target (default agreement 0.95) at a confidence (default 0.95). */
export interface CascadeTargetQuery {
  metric?: "accuracy" | "agreement";
  target?: number;
  confidence?: number;
}

function cascadeRows(run: ExperimentRun, encoderName: string, llmName: string): CertifyRows & { gold: string[] } {
  const encoder = outcomeNamed(run, encoderName, "encoder");
  const llm = outcomeNamed(run, llmName, "llm");
  if (!encoder.predictions.some((p) => p.probabilities)) throw new UserError(`encoder: ${encoderName} has no probabilities to route on`);
  return {
    gold: run.gold,
    encoderPred: encoder.predictions.map((p) => p.label),
    encoderConfidence: encoder.predictions.map((p) => confidenceOf(p.probabilities)),
    llmPred: llm.predictions.map((p) => p.label),
    llmCost: llm.predictions.map((p) => p.costUsd),
  };
}

/** tune cascade's certificate, with its defaults (half the rows, the run's seed), on a run's two strategies. */
function certifyRun(run: ExperimentRun, rows: CertifyRows, query: CascadeTargetQuery): CascadeCertificate {
  const level = query.target ?? 0.95;
  const confidence = query.confidence ?? 0.95;
  if (!(level > 0 && level < 1)) throw new UserError("target must be between 0 and 1 (exclusive)");
  if (!(confidence > 0 && confidence < 1)) throw new UserError("confidence must be between 0 and 1 (exclusive)");
  const split = splitForCalibration(rows, 0.5, run.config.seed);
  return certifyCascade({ calibration: selectRows(rows, split.calibration), heldOut: selectRows(rows, split.heldOut), target: { metric: query.metric ?? "agreement", level }, confidence }).certificate;
}

/** The cascade of two stored strategies at τ, with the whole routing curve and the certified τ: tune cascade's computation. */
export function cascadeView(run: ExperimentRun, encoderName: string, llmName: string, tau: number, query: CascadeTargetQuery = {}): CascadeView {
  const input = cascadeRows(run, encoderName, llmName);
  if (!(tau >= 0 && tau <= 1)) throw new UserError("tau must be between 0 and 1");
  const [point] = cascadeCurve(input, [tau]);
  const curve = cascadeCurve(input, DEFAULT_TAUS);
  return { encoder: encoderName, llm: llmName, point: point!, curve, costPerThousand: ((point!.llmCostUsd ?? 0) / run.gold.length) * 1000, certificate: certifyRun(run, input, query) };
}

/** The cascade as a strategy config (YAML), ready for `tandem serve`; at the certified τ it carries the certificate. */
export function cascadeConfig(run: ExperimentRun, encoderName: string, llmName: string, tau: number, query: CascadeTargetQuery = {}, createdAt?: string): string {
  const find = (name: string): StrategyConfig => {
    const config = run.config.strategies.find((s) => s.name === name);
    if (!config) throw new UserError(`no strategy "${name}" in run ${run.id}`);
    const { name: _name, ...rest } = config;
    return rest as StrategyConfig;
  };
  const certificate = certifyRun(run, cascadeRows(run, encoderName, llmName), query);
  const name = `cascade-${encoderName}-${llmName}`;
  const certified = tau === certificate.tau;
  const cascade = certified ? certifiedCascadeConfig(find(encoderName), find(llmName), certificate, { name, createdAt }) : { name, type: "cascade" as const, tau, encoder: find(encoderName), llm: find(llmName) };
  const comment = [`from run ${run.id}: ${encoderName} answers when its top probability is >= ${tau}, ${llmName} answers the rest`, certified ? certificate.summary : `τ ${tau} is not the certified τ (${certificate.tau}): no guarantee recorded`];
  return strategyFileText([cascade], name, comment);
}

export interface RunPairRow {
  strategy: string;
  macroF1A: number;
  macroF1B: number;
  difference: number;
  ci: [number, number];
  pBootstrap: number;
  pMcnemar: number;
  costA: number;
  costB: number;
}

/** Two runs of the same rows: each strategy they share, B − A, with the paired tests. */
export function compareRunPair(a: ExperimentRun, b: ExperimentRun, iterations = 10_000): RunPairRow[] {
  if (a.gold.length !== b.gold.length || a.gold.some((g, i) => g !== b.gold[i])) throw new UserError(`runs ${a.id} and ${b.id} do not hold the same rows (gold labels differ): paired tests need the same dataset`);
  return a.outcomes.flatMap((left) => {
    const right = b.outcomes.find((o) => o.name === left.name);
    if (!right) return [];
    const c = compareClassifiers({ gold: a.gold, predA: left.predictions.map((p) => p.label), predB: right.predictions.map((p) => p.label), labels: a.labels, iterations, seed: a.config.seed });
    return [{ strategy: left.name, macroF1A: c.a.macroF1, macroF1B: c.b.macroF1, difference: c.difference, ci: c.bootstrap.ci, pBootstrap: c.bootstrap.pValue, pMcnemar: c.mcnemar.pValue, costA: left.costUsd, costB: right.costUsd }];
  });
}

export { loadRun };
