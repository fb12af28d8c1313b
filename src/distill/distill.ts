/**
 * `tandem distill`: from an LLM that labels texts (live, or its answers from logs) to a small served
 * student and a certified cascade, without human labels.
 *
 * Rounds (active learning): round 1 asks the teacher about a random sample stratified by length, later
 * rounds about the texts the current student is least sure of; every round also labels the next stretch
 * of a calibration sample drawn uniformly at random before anything was trained, which no student ever
 * learns from. The student is a head on the backbone's cached embeddings (trained in TypeScript), or the
 * backbone fine-tuned on the PyTorch engine. The cascade's τ is certified on the calibration labels
 * (Learn then Test, exact binomial tests). Every paid answer goes through the LLM cache: a distill run
 * again, after a kill or to extend it, makes the same choices and pays only for answers it never got.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { UserError } from "../core/errors.js";
import { writeFileAtomic } from "../core/files.js";
import { Random } from "../core/random.js";
import { openStore, type Store } from "../core/store.js";
import type { Dataset } from "../data/dataset.js";
import { matchLabel, resolveScheme } from "../data/labels.js";
import { TableWriter } from "../data/writers.js";
import { softmaxRows, type HeadConfig, type HeadWeights } from "../encoders/head.js";
import { resolveModelDir } from "../encoders/hub.js";
import { classifyWithEncoder } from "../encoders/inference.js";
import { EncoderModel } from "../encoders/model.js";
import { compareQuantized, quantizeModel } from "../encoders/quantize-model.js";
import type { Vectors } from "../encoders/vectors.js";
import { recordRun } from "../experiments/runner.js";
import { loadPriceTable, lookupPrice } from "../llm/pricing.js";
import { describeModel, providerProblem } from "../llm/providers/registry.js";
import { evaluate, macroF1 } from "../metrics/evaluate.js";
import { compareClassifiers } from "../stats/compare.js";
import { auditComment, cascadeSuspects, certifiedCascadeConfig, certifyCascade, DEFAULT_AUDIT, type AuditConfig, type CertifyResult, type Suspect } from "../strategies/certify.js";
import { strategyFileText, type LlmConfig, type StrategyConfig, type StrategyConfigInput } from "../strategies/config.js";
import { createStrategy } from "../strategies/factory.js";
import type { Prediction } from "../strategies/strategy.js";
import { encodeTexts } from "../training/encodings.js";
import { trainFull } from "../training/full.js";
import { headConfigOf, writeHeadModelFolder } from "../training/head-model.js";
import { predictHead, trainHead, type HeadTrainingSettings } from "../training/train-head.js";
import { calibrationOrder, leastSure, lengthStrata, margins, stratifiedByLength } from "./select.js";
import { renderDistillReport, studentCard } from "./report.js";

/** A label the teacher already gave (from logs, or `tandem serve export-labels`). */
export interface TeacherLabel {
  text: string;
  label: string;
  /** What the answer cost when it was paid (counts as spent before this run, not against --budget). */
  costUsd?: number;
  /**
   * In a uniform random sample of the traffic (`tandem serve export-labels`' sample column: the audit
   * sample). When any label says, only those with true may go to calibration — the others (the texts a
   * cascade routed, chosen by the encoder's doubt) are a biased sample and only train.
   */
  sample?: boolean;
  /** Where it came from, for error messages. */
  file?: string;
  line?: number;
}

export interface DistillEvaluation {
  file: string;
  texts: string[];
  gold: string[];
  /** The teacher's answers on these texts when known (else the live teacher is asked, within the budget). */
  teacher?: string[];
}

export type DistillEvent =
  | { kind: "encode"; done: number; total: number }
  | { kind: "encoded"; rows: number; cached: boolean; seconds: number }
  | { kind: "round-start"; round: number; rounds: number; calibration: number; training: number }
  | { kind: "teacher"; round: number; done: number; total: number }
  | { kind: "round"; record: RoundRecord }
  | { kind: "note"; message: string };

export interface DistillOptions {
  /** The unlabeled texts (the traffic the student will serve). */
  texts: readonly string[];
  /** The student's classes, in output order. */
  labels: readonly string[];
  out: string;
  /** An LLM strategy (the config schema); its named members, when it came from a file, ride along. */
  teacher?: LlmConfig;
  /**
   * The LLM the written cascade sends the texts the student is unsure of (default: the teacher). Needed when
   * the labels come from a file only: without it, and without a teacher, distill refuses (a student alone
   * carries no certificate).
   */
  cascadeLlm?: LlmConfig;
  /** The audit the written cascade is served with (default DEFAULT_AUDIT; false: none). */
  audit?: AuditConfig | false;
  teacherLabels?: readonly TeacherLabel[];
  /** Dollars the teacher may cost in all (answers already cached count at their price). */
  budgetUsd?: number;
  /** Rounds with the live teacher (default 3). */
  rounds?: number;
  /** Texts the teacher labels per round (default 500). */
  perRound?: number;
  /** Share of each round (and of logged labels) that goes to the calibration sample (default 0.3). */
  calibrationShare?: number;
  student?: "head" | "full";
  /** The head of a head student (and of the rounds' students): softmax regression (default) or a one-layer MLP. */
  head?: StudentHead;
  /** starter (default), a model folder or a hub id. */
  backbone?: string;
  /** Agreement with the teacher the cascade is certified for (default 0.95), at `confidence` (default 0.95). */
  targetAgreement?: number;
  confidence?: number;
  seed?: number;
  /** State database: LLM cache and run store (default .tandem/tandem.db or TANDEM_DB). */
  store?: Store | string;
  pricing?: string;
  /** Cached embeddings (default .tandem/encodings). */
  encodingsDir?: string;
  maxLength?: number;
  /** Engine settings of `--student full` (epochs, lr, …). */
  engine?: Record<string, unknown>;
  evaluation?: DistillEvaluation;
  /** Names for the record: the input file and the run's name. */
  inputFile?: string;
  name?: string;
  onEvent?: (event: DistillEvent) => void;
  /** Stops asking the teacher: answers in flight are cached, the run ends as at the budget. */
  stop?: AbortSignal;
}

export interface RoundRecord {
  /** 0: the logged labels. */
  round: number;
  asked: number;
  answered: number;
  /** Teacher answers without a label (unparseable), and calls that failed. */
  unparseable: number;
  failed: number;
  /** Dollars paid in this run for this round, and the price of its answers that came from the cache. */
  paidUsd: number;
  cachedUsd: number;
  trainingLabels: number;
  calibrationLabels: number;
  /** The round's student against the teacher on the calibration labels so far, and on the final calibration sample. */
  agreement: number | null;
  finalAgreement?: number | null;
  seconds: number;
}

export interface DistillResult {
  out: string;
  model: string;
  config: string;
  report: string;
  labelsFile: string;
  suspectsFile: string;
  rounds: RoundRecord[];
  certification: CertifyResult;
  /** Share of the input texts the teacher answers at the certified τ (no labels needed to know it). */
  teacherShare: number;
  costs: {
    /** Dollars of every teacher answer used (cached answers at their price, logged ones as recorded). */
    labelsUsd: number;
    paidThisRunUsd: number;
    loggedUsd: number;
    /** The teacher's mean price per text (null when no priced answer is known). */
    perTextUsd: number | null;
    teacherPer1000: number | null;
    cascadePer1000: number | null;
    savedPer1000: number | null;
  };
  stopped?: "budget" | "interrupted";
  failed: number;
  perLabel: Array<{ label: string; rows: number; agreement: number; studentAgreement: number }>;
  suspects: number;
  student: { kind: "head" | "full"; backbone: string; quantization: string; trainingLabels: number; calibrationLabels: number };
  evaluation?: DistillEvaluationResult;
  runId: string;
  seconds: number;
}

export interface SideFigures {
  accuracy: number;
  macroF1: number;
}

export interface DistillEvaluationResult {
  file: string;
  rows: number;
  teacher: SideFigures | null;
  student: SideFigures;
  cascade: SideFigures | null;
  cascadeTeacherShare: number;
  /** Paired tests against the teacher (McNemar exact, paired bootstrap of macro F1). */
  studentVsTeacher: { difference: number; ci: [number, number]; pBootstrap: number; pMcnemar: number } | null;
  cascadeVsTeacher: { difference: number; ci: [number, number]; pBootstrap: number; pMcnemar: number } | null;
}

type Part = "training" | "calibration";

interface Labelled {
  label: string;
  part: Part;
  round: number;
  costUsd: number;
  source: "log" | "teacher";
  paid: boolean;
}

/**
 * The student heads. Softmax regression on the pooled vectors is the default: with a few hundred noisy
 * teacher labels it agreed more with the teacher than the research MLP did, and it trains in a tenth of
 * a second (measured on the starter's embeddings of the merged validation split, README).
 */
export type StudentHead = "softmax" | "mlp";
const HEADS: Record<StudentHead, { shape: { numLayers: number; hiddenDim: number; activation: "gelu"; dropoutRate: number }; lr: number; epochs: number }> = {
  softmax: { shape: { numLayers: 0, hiddenDim: 0, activation: "gelu", dropoutRate: 0 }, lr: 1e-2, epochs: 50 },
  mlp: { shape: { numLayers: 1, hiddenDim: 256, activation: "gelu", dropoutRate: 0.1 }, lr: 1e-3, epochs: 40 },
};

function headSettings(head: StudentHead, seed: number): HeadTrainingSettings {
  return { optimizer: { name: "adamw", lr: HEADS[head].lr, weightDecay: 0.01 }, scheduler: "cosine", warmupRatio: 0.1, epochs: HEADS[head].epochs, batchSize: 32, earlyStop: "score", patience: 0, tolerance: 0, seed };
}

function rowsOf(vectors: Vectors, indices: readonly number[]): Vectors {
  const data = new Float32Array(indices.length * vectors.dim);
  indices.forEach((row, i) => data.set(vectors.data.subarray(row * vectors.dim, (row + 1) * vectors.dim), i * vectors.dim));
  return { rows: indices.length, dim: vectors.dim, data };
}

interface HeadStudent {
  config: HeadConfig;
  weights: HeadWeights;
  /** Class probabilities of every pool row, [rows × k]. */
  probabilities: Float32Array;
}

/** A head trained on the training labels only (a fixed schedule: no validation rows are taken from anywhere). */
async function trainHeadStudent(vectors: Vectors, training: readonly number[], labelOf: (i: number) => number, labels: readonly string[], pooling: HeadConfig["pooling"], head: StudentHead, seed: number): Promise<HeadStudent> {
  const config = headConfigOf({ pooling, ...HEADS[head].shape }, vectors.dim, labels.length);
  const result = await trainHead(config, headSettings(head, seed), { vectors: rowsOf(vectors, training), labels: Int32Array.from(training, labelOf) }, undefined);
  const logits = await predictHead(config, result.weights, vectors);
  return { config, weights: result.weights, probabilities: softmaxRows(logits, vectors.rows, labels.length) };
}

function argmaxRows(probabilities: Float32Array, rows: number, k: number, labels: readonly string[]): { pred: string[]; confidence: number[] } {
  const pred: string[] = [];
  const confidence: number[] = [];
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < k; c++) if ((probabilities[r * k + c] as number) > (probabilities[r * k + best] as number)) best = c;
    pred.push(labels[best]!);
    confidence.push(probabilities[r * k + best] as number);
  }
  return { pred, confidence };
}

function agreementOn(indices: readonly number[], pred: readonly string[], labelled: ReadonlyMap<number, Labelled>): number | null {
  if (indices.length === 0) return null;
  let same = 0;
  for (const i of indices) if (pred[i] === labelled.get(i)!.label) same++;
  return same / indices.length;
}

/** The teacher config with the student's label set (a custom scheme unless it is sentiment's). */
function teacherConfigFor(config: LlmConfig, labels: readonly string[]): LlmConfig {
  if (config.scheme) return config;
  const sentiment = labels.length === 3 && ["negative", "neutral", "positive"].every((l, i) => labels[i] === l);
  return { ...config, scheme: sentiment ? "neg_neu_pos" : labels.join(",") };
}

export async function distill(options: DistillOptions): Promise<DistillResult> {
  const started = performance.now();
  const emit = (event: DistillEvent) => options.onEvent?.(event);
  const labels = [...options.labels];
  if (labels.length < 2) throw new UserError("--labels needs at least two labels");
  const scheme = resolveScheme(labels.join(","));
  if (!options.teacher && !options.teacherLabels?.length) throw new UserError("distill needs a teacher: --teacher (an LLM strategy) and/or --teacher-labels FILE");
  // Before any work (embedding the pool takes minutes): a teacher that cannot be called stops the run now.
  const teacherProblem = options.teacher ? providerProblem(options.teacher.model) : undefined;
  if (teacherProblem) throw new UserError(`the teacher cannot be asked: ${teacherProblem}`);
  if (!options.teacher && !options.cascadeLlm) throw new UserError("no LLM is known for the cascade: the labels file names no teacher (no teacher column), so give --llm-strategy provider:model (the LLM that answered them, which the served cascade will ask) or --teacher");
  if (options.teacher?.hints !== undefined) throw new UserError("a teacher prompted with hints needs the student first: give the teacher without hints", { column: "hints" });
  const rounds = options.teacher ? (options.rounds ?? 3) : 0;
  const perRound = options.perRound ?? 500;
  const calibrationShare = options.calibrationShare ?? 0.3;
  if (!(calibrationShare > 0 && calibrationShare < 1)) throw new UserError("--calibration-share must be between 0 and 1 (exclusive)");
  const seed = options.seed ?? 42;
  const target = options.targetAgreement ?? 0.95;
  const confidence = options.confidence ?? 0.95;
  const studentKind = options.student ?? "head";
  const out = resolve(options.out);
  mkdirSync(out, { recursive: true });
  const db = typeof options.store === "object" ? options.store : openStore(options.store);

  // The pool: the input's distinct texts, then logged texts that are not among them.
  const poolIndex = new Map<string, number>();
  const pool: string[] = [];
  const add = (text: string) => {
    let at = poolIndex.get(text);
    if (at === undefined) {
      at = pool.length;
      poolIndex.set(text, at);
      pool.push(text);
    }
    return at;
  };
  const inputRows = options.texts.map(add);
  if (inputRows.length === 0) throw new UserError("no texts to distill on", { file: options.inputFile });
  const labelled = new Map<number, Labelled>();
  const logged = (options.teacherLabels ?? []).map((entry) => {
    const label = matchLabel(scheme, entry.label);
    if (label === undefined) throw new UserError(`teacher label "${entry.label}" is not one of ${labels.join(", ")}`, { file: entry.file, line: entry.line });
    return { index: add(entry.text), label, costUsd: entry.costUsd ?? 0, sample: entry.sample };
  });
  const sampleMarked = logged.some((entry) => entry.sample !== undefined);
  // With a sample column, calibration draws from the uniform sample only: a calibration share of all the
  // labels, taken from the sample rows (all of them when they are fewer), the rest of the rows train.
  const sampleRows = logged.filter((entry) => entry.sample === true).length;
  const logCalibrationShare = sampleMarked ? Math.min(1, sampleRows ? (calibrationShare * logged.length) / sampleRows : 0) : calibrationShare;

  // Embeddings of the whole pool, once (cached across runs and rounds).
  const backboneSpec = options.backbone ?? "starter";
  const backboneDir = await resolveModelDir(backboneSpec);
  const backbone = await EncoderModel.load(backboneDir);
  const maxLength = options.maxLength ?? 256;
  const encodingsDir = resolve(options.encodingsDir ?? join(".tandem", "encodings"));
  const encodePool = async (model: EncoderModel) => {
    if (!model.hasHiddenStates) throw new UserError("the backbone's graph has no last_hidden_state output, so no head can be trained on it (use starter, or a backbone export)", { file: model.dir });
    const encoded = await encodeTexts(model, pool, { pooling: model.pooling, maxLength, batchSize: 32, cacheDir: encodingsDir, onProgress: (done, total) => emit({ kind: "encode", done, total }) });
    emit({ kind: "encoded", rows: pool.length, cached: encoded.cached, seconds: encoded.seconds });
    return encoded.vectors;
  };
  let vectors: Vectors;
  try {
    vectors = await encodePool(backbone);
  } catch (error) {
    await backbone.release();
    throw error;
  }

  // Logged labels: a seeded share to calibration, the rest to training.
  const logRandom = new Random(seed + 1);
  for (const entry of logged) {
    if (labelled.has(entry.index)) continue;
    // Drawn for every row, so a row's part does not depend on whether the rows before it were sampled.
    const draw = logRandom.nextFloat();
    const calibration = (!sampleMarked || entry.sample === true) && draw < logCalibrationShare;
    labelled.set(entry.index, { label: entry.label, part: calibration ? "calibration" : "training", round: 0, costUsd: entry.costUsd, source: "log", paid: false });
  }

  // The calibration stream, drawn before anything is trained; its first rounds × share texts are reserved.
  const perRoundCalibration = Math.round(perRound * calibrationShare);
  const stream = calibrationOrder(pool.length, seed).filter((i) => !labelled.has(i));
  const reserved = new Set(stream.slice(0, rounds * perRoundCalibration));
  let streamAt = 0;
  const strata = lengthStrata(pool);
  const labelIndex = new Map(labels.map((l, i) => [l, i]));
  const indicesOf = (part: Part) => [...labelled.entries()].filter(([, l]) => l.part === part && l.label !== "").map(([i]) => i);
  const calibrationIndices = () => [...labelled.entries()].filter(([, l]) => l.part === "calibration").map(([i]) => i);

  const records: RoundRecord[] = [];
  const studentsByRound: Array<{ round: number; pred: string[] }> = [];
  let student: HeadStudent | undefined;
  const train = async (round: number) => {
    const training = indicesOf("training");
    if (training.length === 0) return undefined;
    const trained = await trainHeadStudent(vectors, training, (i) => labelIndex.get(labelled.get(i)!.label)!, labels, backbone.pooling, options.head ?? "softmax", seed + round);
    studentsByRound.push({ round, pred: argmaxRows(trained.probabilities, pool.length, labels.length, labels).pred });
    return trained;
  };
  const record = (round: number, asked: number, answers: Prediction[], roundStarted: number): RoundRecord => {
    const r: RoundRecord = {
      round,
      asked,
      answered: answers.filter((p) => p.status === "ok").length,
      unparseable: answers.filter((p) => p.status === "unparseable").length,
      failed: answers.filter((p) => p.status === "error").length,
      paidUsd: answers.filter((p) => !p.cached).reduce((s, p) => s + p.costUsd, 0),
      cachedUsd: answers.filter((p) => p.cached).reduce((s, p) => s + p.costUsd, 0),
      trainingLabels: indicesOf("training").length,
      calibrationLabels: calibrationIndices().length,
      agreement: student ? agreementOn(calibrationIndices(), studentsByRound.at(-1)!.pred, labelled) : null,
      seconds: (performance.now() - roundStarted) / 1000,
    };
    records.push(r);
    emit({ kind: "round", record: r });
    return r;
  };

  if (logged.length > 0) {
    const roundStarted = performance.now();
    student = await train(0);
    const r = record(0, logged.length, [], roundStarted);
    r.answered = logged.length;
  }

  const labelCost = () => [...labelled.values()].reduce((s, l) => s + l.costUsd, 0);
  const failureReasons = new Map<string, number>();
  let stopped: DistillResult["stopped"];
  let failed = 0;
  const teacherConfig = options.teacher ? teacherConfigFor(options.teacher, labels) : undefined;
  if (teacherConfig && options.budgetUsd !== undefined) {
    const info = describeModel(teacherConfig.model);
    if (lookupPrice(loadPriceTable(options.pricing), info.provider, info.model, teacherConfig.price).unpriced) emit({ kind: "note", message: `warning: no price is known for ${teacherConfig.model}: its answers count $0 and --budget cannot stop them (give its price in the teacher's strategy file, price: {input, output}, or with --pricing FILE)` });
  }
  const ask = async (texts: string[], round: number, maxCost: number | undefined, stop?: AbortSignal): Promise<Prediction[]> => {
    const teacher = await createStrategy({ ...teacherConfig!, maxCost }, { store: db, pricing: options.pricing, scheme: scheme.labels.join(",") });
    try {
      return await teacher.classify(texts, { stop, onProgress: (done) => emit({ kind: "teacher", round, done, total: texts.length }) });
    } finally {
      await teacher.close();
    }
  };
  // Phase 1 reads the cache only (a stopped run answers cached calls, skips the rest); phase 2 pays,
  // within what the budget leaves after every answer used so far, cached ones included.
  const askWithinBudget = async (texts: string[], round: number): Promise<Prediction[]> => {
    const cacheOnly = new AbortController();
    cacheOnly.abort();
    const answers = await ask(texts, round, undefined, cacheOnly.signal);
    const missing = answers.map((p, i) => (p.status === "skipped" ? i : -1)).filter((i) => i >= 0);
    if (missing.length === 0 || options.stop?.aborted) return answers;
    const spent = labelCost() + answers.reduce((s, p) => s + (p.cached ? p.costUsd : 0), 0);
    const left = options.budgetUsd === undefined ? undefined : Math.max(0, options.budgetUsd - spent);
    const paid = await ask(missing.map((i) => texts[i]!), round, left, options.stop);
    missing.forEach((i, j) => (answers[i] = paid[j]!));
    return answers;
  };

  for (let round = 1; round <= rounds; round++) {
    const roundStarted = performance.now();
    const calibration: number[] = [];
    while (calibration.length < perRoundCalibration && streamAt < stream.length) {
      const i = stream[streamAt++]!;
      if (!labelled.has(i)) calibration.push(i);
    }
    const candidates = pool.map((_, i) => i).filter((i) => !labelled.has(i) && !reserved.has(i));
    const trainingCount = perRound - calibration.length;
    const picks = student
      ? leastSure(candidates, margins(student.probabilities, labels.length), trainingCount)
      : stratifiedByLength(candidates, strata, trainingCount, seed + round);
    const asking = [...calibration, ...picks];
    if (asking.length === 0) {
      emit({ kind: "note", message: `round ${round}: no texts left to ask about` });
      break;
    }
    emit({ kind: "round-start", round, rounds, calibration: calibration.length, training: picks.length });
    const answers = await askWithinBudget(asking.map((i) => pool[i]!), round);
    answers.forEach((answer, j) => {
      const i = asking[j]!;
      // An unparseable answer is the teacher's answer too: kept in calibration (no student answer equals it), never trained on.
      if (answer.status !== "ok" && answer.status !== "unparseable") return;
      labelled.set(i, { label: answer.status === "ok" ? answer.label : "", part: j < calibration.length ? "calibration" : "training", round, costUsd: answer.costUsd, source: "teacher", paid: !answer.cached });
    });
    failed += answers.filter((p) => p.status === "error").length;
    for (const p of answers) if (p.status === "error" && p.error) failureReasons.set(p.error, (failureReasons.get(p.error) ?? 0) + 1);
    const skipped = answers.filter((p) => p.status === "skipped");
    student = (await train(round)) ?? student;
    record(round, asking.length, answers, roundStarted);
    if (skipped.length > 0) {
      stopped = options.stop?.aborted ? "interrupted" : "budget";
      emit({ kind: "note", message: `round ${round}: ${skipped.length} texts not asked (${stopped === "budget" ? `the budget of $${options.budgetUsd} is reached` : "interrupted"}); the student is made from the labels so far` });
      break;
    }
  }
  if (!student) {
    await backbone.release();
    const [reason, count] = [...failureReasons].sort((a, b) => b[1] - a[1])[0] ?? [];
    if (reason) throw new UserError(`no training labels: the teacher answered none; ${count} calls failed with "${reason}"`);
    throw new UserError(stopped === "budget" ? `no training labels: the budget of $${options.budgetUsd} does not pay for one round` : "no training labels: the teacher gave no usable answer");
  }
  // One class only: a student learns no choice from it, and a constant "student" would certify trivially.
  const taught = new Set([...labelled.values()].filter((l) => l.label !== "").map((l) => l.label));
  if (taught.size < 2) {
    await backbone.release();
    throw new UserError(`the teacher's ${labelled.size} labels are all "${[...taught][0] ?? ""}": a student cannot learn to choose between ${labels.join(", ")} from one class (check the teacher's prompt and label scheme, or the labels file)`);
  }

  // The final student: the last head, or the backbone fine-tuned on the same training labels.
  const trainingRows = indicesOf("training");
  const calibrationRows = calibrationIndices();
  const modelDir = join(out, "model");
  const partial = join(out, `.model.partial-${process.pid}`);
  rmSync(partial, { recursive: true, force: true });
  const backboneConfig = JSON.parse(readFileSync(join(backboneDir, "config.json"), "utf8")) as Record<string, unknown>;
  let quantization = backboneConfig.quantization ? "int8 (the backbone's)" : "float";
  let probabilities: Float32Array;
  if (studentKind === "full") {
    if (!existsSync(join(backboneDir, "model.safetensors"))) {
      await backbone.release();
      throw new UserError("--student full fine-tunes the backbone's PyTorch weights (model.safetensors), which this backbone has not; the starter ships ONNX only: use --student head, or --backbone a checkpoint folder", { file: backboneDir });
    }
    const dataset = (indices: readonly number[], name: string): Dataset => ({ file: join(out, `${name}.csv`), columns: ["text", "label"], textColumn: "text", labelColumn: "label", examples: indices.map((i, line) => ({ text: pool[i]!, label: labelled.get(i)!.label, line: line + 2, row: {} })) });
    const order = new Random(seed).shuffle([...trainingRows]);
    const valCount = Math.round(order.length * 0.1);
    emit({ kind: "note", message: `fine-tuning ${basename(backboneDir)} on ${order.length - valCount} labels (PyTorch engine)` });
    await trainFull({ model: backboneDir, tokenizer: backboneDir, train: dataset(order.slice(valCount), "train"), val: valCount ? dataset(order.slice(0, valCount), "val") : undefined, labels, out: partial, engine: { epochs: 3, batch_size: 16, lr: 3e-5, seed, ...options.engine }, maxLength, processes: 1, launcher: "spawn", kind: "classifier" });
    rmSync(join(partial, "data"), { recursive: true, force: true });
  } else {
    writeHeadModelFolder(partial, backbone, student.config, student.weights, labels);
  }
  await backbone.release();

  // int8 where the backbone is float, kept only when the quality guard passes on the calibration texts.
  const calibrationTexts = calibrationRows.map((i) => pool[i]!);
  const studentConfig = JSON.parse(readFileSync(join(partial, "config.json"), "utf8")) as Record<string, unknown>;
  if (!studentConfig.quantization) {
    const int8 = `${partial}-int8`;
    try {
      quantizeModel(partial, int8);
      const check = await compareQuantized(partial, int8, calibrationTexts.length ? calibrationTexts : pool.slice(0, 200), undefined, { maxLength });
      if (check.agreement >= 0.98) {
        rmSync(partial, { recursive: true, force: true });
        renameSync(int8, partial);
        quantization = `int8 (label agreement with float ${(check.agreement * 100).toFixed(2)}% on ${check.rows} calibration texts)`;
      } else {
        rmSync(int8, { recursive: true, force: true });
        quantization = `float (int8 agreed on only ${(check.agreement * 100).toFixed(2)}% of calibration texts, under the 98% guard)`;
      }
    } catch (error) {
      rmSync(int8, { recursive: true, force: true });
      quantization = `float (int8 not possible: ${(error as Error).message})`;
    }
  }
  rmSync(modelDir, { recursive: true, force: true });
  renameSync(partial, modelDir);

  // The served student's answers on the pool: a head reads the (final graph's) pooled vectors, a fine-tuned model runs whole.
  const final = await EncoderModel.load(modelDir);
  try {
    if (studentKind === "head") {
      // The student's graph is the backbone's (read from the cache) unless distill quantized it.
      vectors = await encodePool(final);
      const logits = await predictHead(student.config, student.weights, vectors);
      probabilities = softmaxRows(logits, pool.length, labels.length);
    } else {
      probabilities = (await classifyWithEncoder(final, pool, { batchSize: 32, maxLength })).probabilities;
    }
  } finally {
    await final.release();
  }
  const finalStudent = argmaxRows(probabilities, pool.length, labels.length, labels);
  for (const r of records) {
    const byRound = studentsByRound.find((s) => s.round === r.round);
    r.finalAgreement = byRound ? agreementOn(calibrationRows, byRound.pred, labelled) : null;
  }

  // The certificate on the calibration labels; the teacher share on the whole input.
  const rowsOf = (indices: readonly number[]) => ({
    encoderPred: indices.map((i) => finalStudent.pred[i]!),
    encoderConfidence: indices.map((i) => finalStudent.confidence[i]!),
    llmPred: indices.map((i) => labelled.get(i)!.label),
  });
  const certification = certifyCascade({ calibration: rowsOf(calibrationRows), target: { metric: "agreement", level: target }, confidence, labels });
  const tau = certification.certificate.tau;
  const teacherShare = inputRows.filter((i) => !(finalStudent.confidence[i]! >= tau && tau < 1)).length / inputRows.length;

  const priced = [...labelled.values()].filter((l) => l.costUsd > 0);
  const perTextUsd = priced.length ? priced.reduce((s, l) => s + l.costUsd, 0) / priced.length : null;
  const costs = {
    labelsUsd: labelCost(),
    paidThisRunUsd: [...labelled.values()].filter((l) => l.paid).reduce((s, l) => s + l.costUsd, 0),
    loggedUsd: [...labelled.values()].filter((l) => l.source === "log").reduce((s, l) => s + l.costUsd, 0),
    perTextUsd,
    teacherPer1000: perTextUsd === null ? null : perTextUsd * 1000,
    cascadePer1000: perTextUsd === null ? null : perTextUsd * 1000 * teacherShare,
    savedPer1000: perTextUsd === null ? null : perTextUsd * 1000 * (1 - teacherShare),
  };

  const perLabel = labels.map((label) => {
    const rows = calibrationRows.filter((i) => labelled.get(i)!.label === label);
    const cascadeSame = rows.filter((i) => (finalStudent.confidence[i]! >= tau && tau < 1 ? finalStudent.pred[i] : label) === label).length;
    const studentSame = rows.filter((i) => finalStudent.pred[i] === label).length;
    return { label, rows: rows.length, agreement: rows.length ? cascadeSame / rows.length : Number.NaN, studentAgreement: rows.length ? studentSame / rows.length : Number.NaN };
  });

  // Suspects over every labelled row: confident at τ, disagreeing with the teacher.
  const labelledRows = [...labelled.keys()].sort((a, b) => a - b);
  const suspects: Array<Suspect & { index: number }> = cascadeSuspects(rowsOf(labelledRows), tau).map((s) => ({ ...s, index: labelledRows[s.row]! }));
  const suspectsFile = join(out, "suspects.csv");
  const suspectWriter = new TableWriter(suspectsFile, ["text", "student", "confidence", "teacher", "part", "round"]);
  for (const s of suspects) suspectWriter.write({ text: pool[s.index], student: s.encoder, confidence: s.confidence, teacher: s.llm, part: labelled.get(s.index)!.part, round: labelled.get(s.index)!.round });
  suspectWriter.close();
  const labelsFile = join(out, "labels.csv");
  const labelWriter = new TableWriter(labelsFile, ["text", "teacher_label", "part", "round", "source", "cost_usd", "student", "student_confidence"]);
  for (const i of labelledRows) {
    const l = labelled.get(i)!;
    labelWriter.write({ text: pool[i], teacher_label: l.label, part: l.part, round: l.round, source: l.source, cost_usd: l.costUsd, student: finalStudent.pred[i], student_confidence: finalStudent.confidence[i] });
  }
  labelWriter.close();

  // Against gold, when an evaluation file is given.
  let evaluation: DistillEvaluationResult | undefined;
  if (options.evaluation) evaluation = await evaluateStudent(options.evaluation, { modelDir, labels, tau, maxLength, ask: teacherConfig ? (texts) => askWithinBudget(texts, rounds + 1) : undefined, onNote: (message) => emit({ kind: "note", message }) });

  // The strategy file: student → teacher at the certified τ, the certificate recorded.
  const configFile = join(out, "cascade.yaml");
  const studentStrategy: StrategyConfigInput = { name: "student", type: "encoder", model: "./model" };
  const strategies: StrategyConfigInput[] = [studentStrategy];
  const cascadeLlm = options.cascadeLlm ?? teacherConfig!;
  strategies.push({ ...stripUndefined(cascadeLlm), name: "teacher" } as StrategyConfigInput);
  const audit = options.audit === false ? false : (options.audit ?? DEFAULT_AUDIT);
  strategies.push(certifiedCascadeConfig("student", "teacher", certification.certificate, { name: "cascade", createdAt: new Date().toISOString(), audit }));
  const certificate = certification.certificate;
  const notes = audit ? [{ strategy: strategies.length - 1, key: "audit", lines: auditComment(certificate, audit, perTextUsd) }] : [];
  writeFileAtomic(configFile, strategyFileText(strategies, "cascade", [
    `written by tandem distill: the student (${studentKind} on ${backboneSpec}) answers when its top probability is >= ${tau}, the teacher answers the rest`,
    certificate.summary,
    `the teacher answers ${(teacherShare * 100).toFixed(1)}% of the ${inputRows.length} input texts at this τ`,
  ], notes));

  // The run for `tandem view`: the calibration rows, the teacher's labels as gold.
  const calibrationFile = join(out, "calibration.csv");
  const calibrationWriter = new TableWriter(calibrationFile, ["text", "teacher_label"]);
  for (const i of calibrationRows) calibrationWriter.write({ text: pool[i], teacher_label: labelled.get(i)!.label });
  calibrationWriter.close();
  const gold = calibrationRows.map((i) => labelled.get(i)!.label);
  const studentPredictions: Prediction[] = calibrationRows.map((i) => ({ label: finalStudent.pred[i]!, probabilities: Array.from(probabilities.subarray(i * labels.length, (i + 1) * labels.length)), status: "ok", costUsd: 0, answeredBy: "student" }));
  const teacherPredictions: Prediction[] = calibrationRows.map((i) => ({ label: labelled.get(i)!.label, status: labelled.get(i)!.label ? "ok" : "unparseable", costUsd: labelled.get(i)!.costUsd, answeredBy: "teacher" }));
  const cascadePredictions: Prediction[] = calibrationRows.map((_, j) => (studentPredictions[j]!.probabilities![labels.indexOf(studentPredictions[j]!.label)]! >= tau && tau < 1 ? { ...studentPredictions[j]! } : { ...teacherPredictions[j]!, answeredBy: "teacher" }));
  const runStrategies: StrategyConfig[] = [
    { name: "student", type: "encoder", model: modelDir },
    { ...cascadeLlm, name: "teacher" } as StrategyConfig,
    { name: "cascade", type: "cascade", encoder: "student", llm: "teacher", tau },
  ];
  const runId = recordRun(db, {
    name: options.name ?? `distill-${basename(out)}`,
    dataset: { file: calibrationFile, text: "text", label: "teacher_label", scheme: labels.join(",") },
    seed,
    strategies: runStrategies,
    labels,
    gold,
    outcomes: [
      { name: "student", predictions: studentPredictions, seconds: 0, costUsd: 0 },
      { name: "teacher", predictions: teacherPredictions, seconds: 0, costUsd: teacherPredictions.reduce((s, p) => s + p.costUsd, 0) },
      { name: "cascade", predictions: cascadePredictions, seconds: 0, costUsd: cascadePredictions.reduce((s, p) => s + p.costUsd, 0) },
    ],
  });

  const student_ = { kind: studentKind, backbone: backboneSpec, quantization, trainingLabels: trainingRows.length, calibrationLabels: calibrationRows.length };
  const result: DistillResult = {
    out,
    model: modelDir,
    config: configFile,
    report: join(out, "report.html"),
    labelsFile,
    suspectsFile,
    rounds: records,
    certification,
    teacherShare,
    costs,
    stopped,
    failed,
    perLabel,
    suspects: suspects.length,
    student: student_,
    evaluation,
    runId,
    seconds: (performance.now() - started) / 1000,
  };
  const teacherName = teacherConfig?.model ?? `${cascadeLlm.model} (logged labels)`;
  writeFileAtomic(join(modelDir, "MODEL_CARD.md"), studentCard(result, { teacher: teacherName, input: options.inputFile ?? `${inputRows.length} texts`, labels, target, confidence }));
  writeFileAtomic(result.report, renderDistillReport(result, { teacher: teacherName, input: options.inputFile ?? `${inputRows.length} texts`, labels, suspects: suspects.slice(0, 50).map((s) => ({ text: pool[s.index]!, student: s.encoder, confidence: s.confidence, teacher: s.llm })) }));
  writeFileAtomic(join(out, "distill.json"), JSON.stringify(summaryJson(result), null, 2) + "\n");
  return result;
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** The student (and the cascade, when the teacher's answers are known) against gold labels. */
async function evaluateStudent(
  evaluation: DistillEvaluation,
  context: { modelDir: string; labels: readonly string[]; tau: number; maxLength: number; ask?: (texts: string[]) => Promise<Prediction[]>; onNote: (message: string) => void },
): Promise<DistillEvaluationResult> {
  const model = await EncoderModel.load(context.modelDir);
  let classified: Awaited<ReturnType<typeof classifyWithEncoder>>;
  try {
    classified = await classifyWithEncoder(model, evaluation.texts, { batchSize: 32, maxLength: context.maxLength });
  } finally {
    await model.release();
  }
  const k = context.labels.length;
  const confidence = evaluation.texts.map((_, r) => Math.max(...Array.from(classified.probabilities.subarray(r * k, (r + 1) * k))));
  let teacher = evaluation.teacher;
  if (!teacher && context.ask) {
    const answers = await context.ask(evaluation.texts);
    const missing = answers.filter((a) => a.status === "skipped" || a.status === "error").length;
    if (missing > 0) context.onNote(`evaluation: ${missing} of ${answers.length} teacher answers missing (budget or errors): teacher and cascade figures are left out`);
    else teacher = answers.map((a) => a.label);
  }
  const figures = (pred: readonly string[]): SideFigures => {
    const report = evaluate({ gold: evaluation.gold, pred, labels: context.labels }).overall;
    return { accuracy: report.accuracy as number, macroF1: macroF1(report) };
  };
  const tested = (a: readonly string[], b: readonly string[]) => {
    const c = compareClassifiers({ gold: evaluation.gold, predA: a, predB: b, labels: context.labels, iterations: 10_000, seed: 42 });
    return { difference: c.difference, ci: c.bootstrap.ci, pBootstrap: c.bootstrap.pValue, pMcnemar: c.mcnemar.pValue };
  };
  const cascade = teacher ? classified.predictions.map((p, r) => (confidence[r]! >= context.tau && context.tau < 1 ? p : teacher![r]!)) : undefined;
  return {
    file: evaluation.file,
    rows: evaluation.texts.length,
    teacher: teacher ? figures(teacher) : null,
    student: figures(classified.predictions),
    cascade: cascade ? figures(cascade) : null,
    cascadeTeacherShare: confidence.filter((c) => !(c >= context.tau && context.tau < 1)).length / evaluation.texts.length,
    studentVsTeacher: teacher ? tested(teacher, classified.predictions) : null,
    cascadeVsTeacher: teacher && cascade ? tested(teacher, cascade) : null,
  };
}

/** What distill.json and `tandem distill -f json` hold (snake_case by the caller). */
export function summaryJson(result: DistillResult): Record<string, unknown> {
  const cert = result.certification.certificate;
  return {
    out: result.out,
    model: result.model,
    config: result.config,
    report: result.report,
    labels_file: result.labelsFile,
    suspects_file: result.suspectsFile,
    run_id: result.runId,
    rounds: result.rounds,
    certified: { ...cert, target: cert.target.level, metric: cert.target.metric, on: cert.target.on },
    teacherShare: result.teacherShare,
    costs: result.costs,
    stopped: result.stopped ?? null,
    failed: result.failed,
    perLabel: result.perLabel,
    suspects: result.suspects,
    student: result.student,
    evaluation: result.evaluation ?? null,
    seconds: result.seconds,
    points: result.certification.points.map((p) => ({ tau: p.tau, test: p.test, calibration: p.calibration })),
  };
}
