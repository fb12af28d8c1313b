/**
 * `tandem distill`: from an LLM that labels texts (live, or its answers from logs) to a small served
 * student and a certified cascade, without human labels. Four units, run in order:
 *   1. labels.ts — the teacher's labels: logged ones (round 0) and rounds of questions to a live teacher
 *      (random samples, or the least-sure texts with selection "margin"), a calibration sample drawn before anything was trained and never trained on;
 *   2. student.ts — the student: a head per round on the backbone's cached embeddings, and the final
 *      student (that head, or the backbone fine-tuned on the PyTorch engine), int8 under the quality guard;
 *   3. certification.ts — τ certified on the calibration labels (Learn then Test, exact binomial tests);
 *   4. artifacts.ts — the files, the cascade's strategy file, the run record, the card and the report.
 * Every paid answer goes through the LLM cache: a distill run again, after a kill or to extend it, makes the
 * same choices and pays only for answers it never got; a killed fine-tune resumes from its last epoch.
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { UserError } from "../core/errors.js";
import { openStore } from "../core/store.js";
import { resolveScheme } from "../data/labels.js";
import { resolveModelDir } from "../encoders/hub.js";
import { EncoderModel } from "../encoders/model.js";
import type { Vectors } from "../encoders/vectors.js";
import { loadPriceTable, lookupPrice } from "../llm/pricing.js";
import { describeModel, providerProblem } from "../llm/providers/registry.js";
import type { Prediction } from "../strategies/strategy.js";
import { encodeTexts } from "../training/encodings.js";
import { recordDistillRun, summaryJson, writeCascadeFile, writeLabelFiles, writeReports } from "./artifacts.js";
import { certifyStudent } from "./certification.js";
import { evaluateStudent } from "./evaluation.js";
import { askInRounds, LabelBook, listPricePerText, noLabelsError, teacherAsker, teacherConfigFor, type RoundsOutcome } from "./labels.js";
import { argmaxRows, chooseStudent, studentProbabilities, trainHeadStudent, writeFinalStudent, type HeadStudent } from "./student.js";
import type { DistillEvent, DistillOptions, DistillPhase, DistillResult, Labelled, RoundRecord } from "./types.js";

export type { DistillEvaluation, DistillEvaluationResult, DistillEvent, DistillOptions, DistillPhase, DistillResult, RoundRecord, RoundSelection, SideFigures, StudentHead, TeacherLabel } from "./types.js";
export { summaryJson };

/** The backbone of a label set that is not sentiment's: the general sentence encoder the starter was made from. */
export const GENERAL_BACKBONE = "sentence-transformers/all-MiniLM-L6-v2";

const isSentiment = (labels: readonly string[]) => labels.length === 3 && ["negative", "neutral", "positive"].every((l, i) => labels[i] === l);

function agreementOn(indices: readonly number[], pred: readonly string[], labelled: ReadonlyMap<number, Labelled>): number | null {
  if (indices.length === 0) return null;
  let same = 0;
  for (const i of indices) if (pred[i] === labelled.get(i)!.label) same++;
  return same / indices.length;
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
  const calibrationShare = options.calibrationShare ?? 0.3;
  if (!(calibrationShare > 0 && calibrationShare < 1)) throw new UserError("--calibration-share must be between 0 and 1 (exclusive)");
  const seed = options.seed ?? 42;
  const target = options.targetAgreement ?? 0.95;
  const confidence = options.confidence ?? 0.95;
  const maxLength = options.maxLength ?? 256;
  const out = resolve(options.out);
  const book = new LabelBook(options.texts, options.teacherLabels ?? [], scheme, options.inputFile);
  mkdirSync(out, { recursive: true });
  const db = typeof options.store === "object" ? options.store : openStore(options.store);
  const teacherConfig = options.teacher ? teacherConfigFor(options.teacher, labels) : undefined;
  if (teacherConfig && options.budgetUsd !== undefined) {
    const info = describeModel(teacherConfig.model);
    if (lookupPrice(loadPriceTable(options.pricing), info.provider, info.model, teacherConfig.price).unpriced) emit({ kind: "note", message: `warning: no price is known for ${teacherConfig.model}: its answers count $0 and --budget cannot stop it (give its price in the teacher's strategy file, price: {input, output}, or with --pricing FILE)` });
  }

  // Seconds per phase, for the summary and the progress's ETA.
  const phases: Partial<Record<DistillPhase, number>> = {};
  let phase: { name: DistillPhase; at: number } | undefined;
  const enter = (name: DistillPhase, detail: string) => {
    const now = performance.now();
    if (phase) phases[phase.name] = (phases[phase.name] ?? 0) + (now - phase.at) / 1000;
    phase = { name, at: now };
    emit({ kind: "phase", phase: name, detail });
  };

  const backboneSpec = options.backbone ?? (isSentiment(labels) ? "starter" : GENERAL_BACKBONE);
  const backboneDir = await resolveModelDir(backboneSpec);
  const encodingsDir = resolve(options.encodingsDir ?? join(".tandem", "encodings"));
  const encodePool = async (model: EncoderModel): Promise<Vectors> => {
    if (!model.hasHiddenStates) throw new UserError("the backbone's graph has no last_hidden_state output, so no head can be trained on it (use starter, or a backbone export)", { file: model.dir });
    const encoded = await encodeTexts(model, book.pool, { pooling: model.pooling, maxLength, batchSize: 32, cacheDir: encodingsDir, onProgress: (done, total) => emit({ kind: "encode", done, total }) });
    emit({ kind: "encoded", rows: book.pool.length, cached: encoded.cached, seconds: encoded.seconds });
    return encoded.vectors;
  };

  const records: RoundRecord[] = [];
  const studentsByRound: Array<{ round: number; pred: string[] }> = [];
  let head: HeadStudent | undefined;
  let outcome: RoundsOutcome = { failed: 0, failureReasons: new Map() };
  let kind: "head" | "full";
  let written: { modelDir: string; quantization: string };
  const backbone = await EncoderModel.load(backboneDir);
  try {
    // 1. The teacher's labels (a head student per round picks the next questions).
    enter("embedding", `${book.pool.length} texts through ${backboneSpec}`);
    const vectors = await encodePool(backbone);
    book.assignLogged(calibrationShare, seed);
    const labelIndex = new Map(labels.map((l, i) => [l, i]));
    const train = async (round: number) => {
      const training = book.rowsOf("training");
      if (training.length === 0) return undefined;
      head = await trainHeadStudent(vectors, training, (i) => labelIndex.get(book.labelled.get(i)!.label)!, labels, backbone.pooling, options.head ?? "softmax", seed + round);
      studentsByRound.push({ round, pred: argmaxRows(head.probabilities, book.pool.length, labels.length, labels).pred });
      return head.probabilities;
    };
    const record = (round: number, asked: number, answers: Prediction[], roundStarted: number) => {
      const calibrationRows = book.rowsOf("calibration");
      const r: RoundRecord = {
        round,
        asked,
        answered: round === 0 ? asked : answers.filter((p) => p.status === "ok").length,
        unparseable: answers.filter((p) => p.status === "unparseable").length,
        failed: answers.filter((p) => p.status === "error").length,
        paidUsd: answers.filter((p) => !p.cached).reduce((s, p) => s + p.costUsd, 0),
        cachedUsd: answers.filter((p) => p.cached).reduce((s, p) => s + p.costUsd, 0),
        trainingLabels: book.rowsOf("training").length,
        calibrationLabels: calibrationRows.length,
        agreement: head ? agreementOn(calibrationRows, studentsByRound.at(-1)!.pred, book.labelled) : null,
        seconds: (performance.now() - roundStarted) / 1000,
      };
      records.push(r);
      emit({ kind: "round", record: r });
    };
    enter("labelling", book.logged.length ? `${book.logged.length} logged labels${rounds ? `, then ${rounds} rounds with the teacher` : ""}` : `${rounds} rounds with the teacher`);
    if (book.logged.length > 0) {
      const roundStarted = performance.now();
      await train(0);
      record(0, book.logged.length, [], roundStarted);
    }
    if (teacherConfig && rounds > 0) {
      const asker = teacherAsker(teacherConfig, { db, pricing: options.pricing, scheme, budgetUsd: options.budgetUsd, spent: () => book.cost(), stop: options.stop, emit });
      outcome = await askInRounds(book, asker, { rounds, perRound: options.perRound ?? 500, calibrationShare, seed, k: labels.length, selection: options.selection, budgetUsd: options.budgetUsd, stop: options.stop, emit }, { probabilities: head?.probabilities, train, record });
    }
    if (!head) throw noLabelsError(outcome, options.budgetUsd);
    book.checkClasses(labels);

    // 2. The final student.
    const chosen = chooseStudent(options.student, book.rowsOf("training").length);
    kind = chosen.kind;
    if (chosen.why) emit({ kind: "note", message: chosen.why });
    enter("training", kind === "full" ? `fine-tuning ${backboneSpec} on ${book.rowsOf("training").length} labels` : `a head on ${backboneSpec}`);
    written = await writeFinalStudent({
      kind, backbone, backboneDir, head, pool: book.pool, trainingRows: book.rowsOf("training"), calibrationRows: book.rowsOf("calibration"),
      labelOf: (i) => book.labelled.get(i)!.label, labels, out, seed, maxLength, engine: options.engine, checkpoints: join(encodingsDir, "..", "checkpoints"), emit,
    });
  } finally {
    await backbone.release();
  }

  // The served student's answers on the pool.
  const final = await EncoderModel.load(written.modelDir);
  let probabilities: Float32Array;
  try {
    probabilities = await studentProbabilities(final, kind, book.pool, maxLength, head, encodePool);
  } finally {
    await final.release();
  }
  const student = argmaxRows(probabilities, book.pool.length, labels.length, labels);
  const calibrationRows = book.rowsOf("calibration");
  for (const r of records) {
    const byRound = studentsByRound.find((s) => s.round === r.round);
    r.finalAgreement = byRound ? agreementOn(calibrationRows, byRound.pred, book.labelled) : null;
  }

  // 3. The certificate (τ grid from the scores of texts outside calibration), the teacher share on the whole input.
  enter("certifying", `${calibrationRows.length} calibration labels, agreement ≥ ${target} at ${confidence} confidence`);
  const calibrationSet = new Set(calibrationRows);
  const certified = certifyStudent({
    student, labelled: book.labelled, calibrationRows, gridRows: book.pool.map((_, i) => i).filter((i) => !calibrationSet.has(i)), inputRows: book.inputRows,
    labels, target, confidence, grid: options.grid ?? "quantiles",
  });
  const { certification, tau, teacherShare } = certified;

  // 4. What it leaves.
  enter("writing", out);
  const values = [...book.labelled.values()];
  const priced = values.filter((l) => l.costUsd > 0);
  const cascadeLlm = options.cascadeLlm ?? teacherConfig!;
  // Logged answers without costs: the per-text price comes from the cascade LLM's list price instead.
  const price = priced.length
    ? { usd: priced.reduce((s, l) => s + l.costUsd, 0) / priced.length, basis: `the mean cost of ${priced.length} priced teacher answers` }
    : await listPricePerText(cascadeLlm, book.pool, { db, pricing: options.pricing, scheme });
  const perTextUsd = price?.usd ?? null;
  const costs = {
    priceBasis: price?.basis ?? null,
    labelsUsd: book.cost(),
    paidThisRunUsd: values.filter((l) => l.paid).reduce((s, l) => s + l.costUsd, 0),
    loggedUsd: values.filter((l) => l.source === "log").reduce((s, l) => s + l.costUsd, 0),
    perTextUsd,
    teacherPer1000: perTextUsd === null ? null : perTextUsd * 1000,
    cascadePer1000: perTextUsd === null ? null : perTextUsd * 1000 * teacherShare,
    savedPer1000: perTextUsd === null ? null : perTextUsd * 1000 * (1 - teacherShare),
  };
  const { labelsFile, suspectsFile } = writeLabelFiles(out, book.pool, book.labelled, student, certified);
  const asker = teacherConfig ? teacherAsker(teacherConfig, { db, pricing: options.pricing, scheme, budgetUsd: options.budgetUsd, spent: () => book.cost(), stop: options.stop, emit }) : undefined;
  const evaluation = options.evaluation ? await evaluateStudent(options.evaluation, { modelDir: written.modelDir, labels, tau, maxLength, ask: asker ? (texts) => asker.ask(texts, rounds + 1) : undefined, onNote: (message) => emit({ kind: "note", message }) }) : undefined;
  const configFile = writeCascadeFile(out, { certified, cascadeLlm, audit: options.audit, perTextUsd, studentKind: kind, backbone: backboneSpec, inputTexts: book.inputRows.length });
  const runId = recordDistillRun(db, { out, name: options.name, seed, pool: book.pool, labelled: book.labelled, calibrationRows, student, probabilities, labels, modelDir: written.modelDir, cascadeLlm, tau });
  if (phase) phases[phase.name] = (phases[phase.name] ?? 0) + (performance.now() - phase.at) / 1000;

  const result: DistillResult = {
    out,
    model: written.modelDir,
    config: configFile,
    report: join(out, "report.html"),
    labelsFile,
    suspectsFile,
    rounds: records,
    certification,
    teacherShare,
    costs,
    stopped: outcome.stopped,
    failed: outcome.failed,
    perLabel: certified.perLabel,
    suspects: certified.suspects.length,
    student: {
      kind, backbone: backboneSpec, quantization: written.quantization, trainingLabels: book.rowsOf("training").length, calibrationLabels: calibrationRows.length,
      grid: options.grid ?? "quantiles", gridSize: certified.grid.length, studentAgreement: agreementOn(calibrationRows, student.pred, book.labelled),
    },
    evaluation,
    runId,
    phases,
    seconds: (performance.now() - started) / 1000,
  };
  const teacherName = teacherConfig?.model ?? `${cascadeLlm.model} (logged labels)`;
  writeReports(result, { teacher: teacherName, input: options.inputFile ?? `${book.inputRows.length} texts`, labels, target, confidence, suspects: certified.suspects.slice(0, 50).map((s) => ({ text: book.pool[s.index]!, student: s.encoder, confidence: s.confidence, teacher: s.llm })) });
  return result;
}
