/**
 * distill, unit 1: the teacher's labels. The pool (the input's distinct texts, then logged texts not among
 * them), the logged labels (round 0: a seeded share to calibration, from the uniform audit sample only when
 * the file marks one), and the rounds with a live teacher: each labels the next stretch of a calibration
 * stream drawn before anything was trained, plus training texts — stratified by length (with selection
 * "margin", the current student's least sure after round 1). Every answer goes through the LLM cache (a run again pays only for
 * answers it never got); the budget counts cached answers at their price.
 */
import { UserError } from "../core/errors.js";
import { Random } from "../core/random.js";
import type { Store } from "../core/store.js";
import { matchLabel, type LabelScheme } from "../data/labels.js";
import type { LlmConfig } from "../strategies/config.js";
import { createStrategy } from "../strategies/factory.js";
import type { LlmStrategy } from "../strategies/llm.js";
import type { Prediction } from "../strategies/strategy.js";
import { calibrationOrder, leastSure, lengthStrata, margins, stratifiedByLength } from "./select.js";
import type { DistillEvent, Labelled, Part, RoundSelection, TeacherLabel } from "./types.js";

/** The pool of texts and the teacher's labels of some of them. */
export class LabelBook {
  readonly pool: string[] = [];
  private readonly index = new Map<string, number>();
  readonly labelled = new Map<number, Labelled>();
  /** Pool rows of the input texts, in input order. */
  readonly inputRows: number[];
  /** Logged labels, matched to the label set. */
  readonly logged: Array<{ index: number; label: string; costUsd: number; sample?: boolean }>;

  constructor(texts: readonly string[], teacherLabels: readonly TeacherLabel[], scheme: LabelScheme, inputFile?: string) {
    this.inputRows = texts.map((text) => this.add(text));
    if (this.inputRows.length === 0) throw new UserError("no texts to distill on", { file: inputFile });
    this.logged = teacherLabels.map((entry) => {
      const label = matchLabel(scheme, entry.label);
      if (label === undefined) throw new UserError(`teacher label "${entry.label}" is not one of ${scheme.labels.join(", ")}`, { file: entry.file, line: entry.line });
      return { index: this.add(entry.text), label, costUsd: entry.costUsd ?? 0, sample: entry.sample };
    });
  }

  private add(text: string): number {
    let at = this.index.get(text);
    if (at === undefined) {
      at = this.pool.length;
      this.index.set(text, at);
      this.pool.push(text);
    }
    return at;
  }

  /** Labelled rows of a part with a label (an unparseable answer has none and never trains). */
  rowsOf(part: Part): number[] {
    return [...this.labelled.entries()].filter(([, l]) => l.part === part && (part === "calibration" || l.label !== "")).map(([i]) => i);
  }

  /** Dollars of every label used. */
  cost(): number {
    return [...this.labelled.values()].reduce((s, l) => s + l.costUsd, 0);
  }

  /**
   * Round 0: logged labels, a seeded share to calibration. With a sample column, calibration draws from the
   * uniform sample only: a calibration share of all the labels, taken from the sample rows (all of them
   * when they are fewer); the rest of the rows train.
   */
  assignLogged(calibrationShare: number, seed: number): void {
    const sampleMarked = this.logged.some((entry) => entry.sample !== undefined);
    const sampleRows = this.logged.filter((entry) => entry.sample === true).length;
    const share = sampleMarked ? Math.min(1, sampleRows ? (calibrationShare * this.logged.length) / sampleRows : 0) : calibrationShare;
    const random = new Random(seed + 1);
    for (const entry of this.logged) {
      if (this.labelled.has(entry.index)) continue;
      // Drawn for every row, so a row's part does not depend on whether the rows before it were sampled.
      const draw = random.nextFloat();
      const calibration = (!sampleMarked || entry.sample === true) && draw < share;
      this.labelled.set(entry.index, { label: entry.label, part: calibration ? "calibration" : "training", round: 0, costUsd: entry.costUsd, source: "log", paid: false });
    }
  }

  /** Texts the teacher's labels name one class only: no student learns a choice from that. */
  checkClasses(labels: readonly string[]): void {
    const taught = new Set([...this.labelled.values()].filter((l) => l.label !== "").map((l) => l.label));
    if (taught.size < 2) throw new UserError(`the teacher's ${this.labelled.size} labels are all "${[...taught][0] ?? ""}": a student cannot learn to choose between ${labels.join(", ")} from one class (check the teacher's prompt and label scheme, or the labels file)`);
  }
}

/** The teacher config with the student's label set (a custom scheme unless it is sentiment's). */
export function teacherConfigFor(config: LlmConfig, labels: readonly string[]): LlmConfig {
  if (config.scheme) return config;
  const sentiment = labels.length === 3 && ["negative", "neutral", "positive"].every((l, i) => labels[i] === l);
  return { ...config, scheme: sentiment ? "neg_neu_pos" : labels.join(",") };
}

export interface TeacherAsker {
  /** Answers for these texts: cached ones first, then paid within what the budget leaves. */
  ask(texts: string[], round: number): Promise<Prediction[]>;
}

/** The live teacher, through the LLM cache and within the budget (cached answers count at their price). */
export function teacherAsker(teacher: LlmConfig, context: { db: Store; pricing?: string; scheme: LabelScheme; budgetUsd?: number; spent: () => number; stop?: AbortSignal; emit: (event: DistillEvent) => void }): TeacherAsker {
  const call = async (texts: string[], round: number, maxCost: number | undefined, stop?: AbortSignal): Promise<Prediction[]> => {
    const strategy = await createStrategy({ ...teacher, maxCost }, { store: context.db, pricing: context.pricing, scheme: context.scheme.labels.join(",") });
    try {
      return await strategy.classify(texts, { stop, onProgress: (done) => context.emit({ kind: "teacher", round, done, total: texts.length }) });
    } finally {
      await strategy.close();
    }
  };
  return {
    // Phase 1 reads the cache only (a stopped run answers cached calls, skips the rest); phase 2 pays,
    // within what the budget leaves after every answer used so far, cached ones included.
    async ask(texts, round) {
      const cacheOnly = new AbortController();
      cacheOnly.abort();
      const answers = await call(texts, round, undefined, cacheOnly.signal);
      const missing = answers.map((p, i) => (p.status === "skipped" ? i : -1)).filter((i) => i >= 0);
      if (missing.length === 0 || context.stop?.aborted) return answers;
      const spent = context.spent() + answers.reduce((s, p) => s + (p.cached ? p.costUsd : 0), 0);
      const left = context.budgetUsd === undefined ? undefined : Math.max(0, context.budgetUsd - spent);
      const paid = await call(missing.map((i) => texts[i]!), round, left, context.stop);
      missing.forEach((i, j) => (answers[i] = paid[j]!));
      return answers;
    },
  };
}

/**
 * The teacher's price per text from its list price, for logged answers that carry no cost: the LLM
 * strategy's own estimate (the prompt's tokens counted, every answer at its output limit — an upper
 * bound) over a sample of the texts. Null when the model has no known price.
 */
export async function listPricePerText(llm: LlmConfig, texts: readonly string[], context: { db: Store; pricing?: string; scheme: LabelScheme }): Promise<{ usd: number; basis: string } | null> {
  const strategy = await createStrategy(llm, { store: context.db, pricing: context.pricing, scheme: context.scheme.labels.join(",") });
  try {
    if (!("estimate" in strategy)) return null;
    // Every text's tokens are counted, so a fixed sample keeps this quick on large pools.
    const sample = new Random(7).shuffle([...texts]).slice(0, 500);
    const estimate = await (strategy as LlmStrategy).estimate(sample);
    if (estimate.calls === 0 || !(estimate.costUsd > 0)) return null;
    return { usd: estimate.costUsd / estimate.calls, basis: `estimated from list prices (${estimate.basis}), every answer at its output-token limit: an upper bound` };
  } finally {
    await strategy.close();
  }
}

export interface RoundsOutcome {
  stopped?: "budget" | "interrupted";
  failed: number;
  /** Error message → calls, for the one line that says why nothing was answered. */
  failureReasons: Map<string, number>;
}

/**
 * The rounds with a live teacher. `train(round)` trains the round's student on the training labels so far
 * and returns its class probabilities over the pool (for the next round's least-sure picks), or undefined
 * when there is nothing to train on; `record` records the round.
 */
export async function askInRounds(
  book: LabelBook,
  asker: TeacherAsker,
  settings: { rounds: number; perRound: number; calibrationShare: number; seed: number; k: number; selection?: RoundSelection; budgetUsd?: number; stop?: AbortSignal; emit: (event: DistillEvent) => void },
  student: { probabilities?: Float32Array; train(round: number): Promise<Float32Array | undefined>; record(round: number, asked: number, answers: Prediction[], started: number): void },
): Promise<RoundsOutcome> {
  const { rounds, perRound, seed, emit } = settings;
  const perRoundCalibration = Math.round(perRound * settings.calibrationShare);
  // The calibration stream, drawn before anything is trained; its first rounds × share texts are reserved.
  const stream = calibrationOrder(book.pool.length, seed).filter((i) => !book.labelled.has(i));
  const reserved = new Set(stream.slice(0, rounds * perRoundCalibration));
  const strata = lengthStrata(book.pool);
  let streamAt = 0;
  let probabilities = student.probabilities;
  const outcome: RoundsOutcome = { failed: 0, failureReasons: new Map() };
  for (let round = 1; round <= rounds; round++) {
    const started = performance.now();
    const calibration: number[] = [];
    while (calibration.length < perRoundCalibration && streamAt < stream.length) {
      const i = stream[streamAt++]!;
      if (!book.labelled.has(i)) calibration.push(i);
    }
    const candidates = book.pool.map((_, i) => i).filter((i) => !book.labelled.has(i) && !reserved.has(i));
    const trainingCount = perRound - calibration.length;
    const byMargin = settings.selection === "margin" ? probabilities : undefined;
    const chosen = byMargin ? "least-sure" : "stratified";
    const picks = byMargin ? leastSure(candidates, margins(byMargin, settings.k), trainingCount) : stratifiedByLength(candidates, strata, trainingCount, seed + round);
    const asking = [...calibration, ...picks];
    if (asking.length === 0) {
      emit({ kind: "note", message: `round ${round}: no texts left to ask about` });
      break;
    }
    emit({ kind: "round-start", round, rounds, calibration: calibration.length, training: picks.length, chosen });
    const answers = await asker.ask(asking.map((i) => book.pool[i]!), round);
    answers.forEach((answer, j) => {
      // An unparseable answer is the teacher's answer too: kept in calibration (no student answer equals it), never trained on.
      if (answer.status !== "ok" && answer.status !== "unparseable") return;
      book.labelled.set(asking[j]!, { label: answer.status === "ok" ? answer.label : "", part: j < calibration.length ? "calibration" : "training", round, costUsd: answer.costUsd, source: "teacher", paid: !answer.cached });
    });
    outcome.failed += answers.filter((p) => p.status === "error").length;
    for (const p of answers) if (p.status === "error" && p.error) outcome.failureReasons.set(p.error, (outcome.failureReasons.get(p.error) ?? 0) + 1);
    probabilities = (await student.train(round)) ?? probabilities;
    student.record(round, asking.length, answers, started);
    const skipped = answers.filter((p) => p.status === "skipped");
    if (skipped.length > 0) {
      outcome.stopped = settings.stop?.aborted ? "interrupted" : "budget";
      emit({ kind: "note", message: `round ${round}: ${skipped.length} texts not asked (${outcome.stopped === "budget" ? `the budget of $${settings.budgetUsd} is reached` : "interrupted"}); the student is made from the labels so far` });
      break;
    }
  }
  return outcome;
}

/** The one line when no training label exists after the rounds. */
export function noLabelsError(outcome: RoundsOutcome, budgetUsd: number | undefined): UserError {
  const [reason, count] = [...outcome.failureReasons].sort((a, b) => b[1] - a[1])[0] ?? [];
  if (reason) return new UserError(`no training labels: the teacher answered none; ${count} calls failed with "${reason}"`);
  return new UserError(outcome.stopped === "budget" ? `no training labels: the budget of $${budgetUsd} does not pay for one round` : "no training labels: the teacher gave no usable answer");
}
