/**
 * distill, unit 4: what it leaves. labels.csv (every teacher answer used, where it went, the student's
 * answer), suspects.csv, calibration.csv, cascade.yaml (student → teacher at the certified τ, the
 * certificate and an audit), the run in the run store (for `tandem view`), the model card, report.html
 * and distill.json. Every file is written under a temporary name and renamed.
 */
import { basename, join } from "node:path";
import { writeFileAtomic } from "../core/files.js";
import type { Store } from "../core/store.js";
import { TableWriter } from "../data/writers.js";
import { recordRun } from "../experiments/runner.js";
import { routesToLlm } from "../strategies/cascade.js";
import { auditComment, certifiedCascadeConfig, DEFAULT_AUDIT, type AuditConfig } from "../strategies/certified-config.js";
import { strategyFileText, type LlmConfig, type StrategyConfig, type StrategyConfigInput } from "../strategies/config.js";
import type { Prediction } from "../strategies/strategy.js";
import type { Certified, StudentAnswers } from "./certification.js";
import { renderDistillReport, studentCard } from "./report.js";
import type { DistillResult, Labelled } from "./types.js";

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** labels.csv and suspects.csv. */
export function writeLabelFiles(out: string, pool: readonly string[], labelled: ReadonlyMap<number, Labelled>, student: StudentAnswers, certified: Certified): { labelsFile: string; suspectsFile: string } {
  const suspectsFile = join(out, "suspects.csv");
  const suspects = new TableWriter(suspectsFile, ["text", "student", "confidence", "teacher", "part", "round"]);
  for (const s of certified.suspects) suspects.write({ text: pool[s.index], student: s.encoder, confidence: s.confidence, teacher: s.llm, part: labelled.get(s.index)!.part, round: labelled.get(s.index)!.round });
  suspects.close();
  const labelsFile = join(out, "labels.csv");
  const writer = new TableWriter(labelsFile, ["text", "teacher_label", "part", "round", "source", "cost_usd", "student", "student_confidence"]);
  for (const i of [...labelled.keys()].sort((a, b) => a - b)) {
    const l = labelled.get(i)!;
    writer.write({ text: pool[i], teacher_label: l.label, part: l.part, round: l.round, source: l.source, cost_usd: l.costUsd, student: student.pred[i], student_confidence: student.confidence[i] });
  }
  writer.close();
  return { labelsFile, suspectsFile };
}

/** cascade.yaml: the student, the cascade's LLM and the certified cascade (the default), audited. */
export function writeCascadeFile(out: string, context: { certified: Certified; cascadeLlm: LlmConfig; audit: AuditConfig | false | undefined; perTextUsd: number | null; studentKind: string; backbone: string; inputTexts: number }): string {
  const configFile = join(out, "cascade.yaml");
  const { certified } = context;
  const certificate = certified.certification.certificate;
  const strategies: StrategyConfigInput[] = [{ name: "student", type: "encoder", model: "./model" }, { ...stripUndefined(context.cascadeLlm), name: "teacher" } as StrategyConfigInput];
  const audit = context.audit === false ? false : (context.audit ?? DEFAULT_AUDIT);
  strategies.push(certifiedCascadeConfig("student", "teacher", certificate, { name: "cascade", createdAt: new Date().toISOString(), audit }));
  const notes = audit ? [{ strategy: strategies.length - 1, key: "audit", lines: auditComment(certificate, audit, context.perTextUsd) }] : [];
  writeFileAtomic(configFile, strategyFileText(strategies, "cascade", [
    `written by tandem distill: the student (${context.studentKind} on ${context.backbone}) answers when its top probability is >= ${certified.tau}, the teacher answers the rest`,
    certificate.summary,
    `the teacher answers ${(certified.teacherShare * 100).toFixed(1)}% of the ${context.inputTexts} input texts at this τ`,
  ], notes));
  return configFile;
}

/** calibration.csv and the run in the run store: the calibration rows, the teacher's labels as gold. */
export function recordDistillRun(db: Store, context: { out: string; name?: string; seed: number; pool: readonly string[]; labelled: ReadonlyMap<number, Labelled>; calibrationRows: readonly number[]; student: StudentAnswers; probabilities: Float32Array; labels: readonly string[]; modelDir: string; cascadeLlm: LlmConfig; tau: number }): string {
  const { pool, labelled, calibrationRows, student, labels, tau } = context;
  const calibrationFile = join(context.out, "calibration.csv");
  const writer = new TableWriter(calibrationFile, ["text", "teacher_label"]);
  for (const i of calibrationRows) writer.write({ text: pool[i], teacher_label: labelled.get(i)!.label });
  writer.close();
  const k = labels.length;
  const studentPredictions: Prediction[] = calibrationRows.map((i) => ({ label: student.pred[i]!, probabilities: Array.from(context.probabilities.subarray(i * k, (i + 1) * k)), status: "ok", costUsd: 0, answeredBy: "student" }));
  const teacherPredictions: Prediction[] = calibrationRows.map((i) => ({ label: labelled.get(i)!.label, status: labelled.get(i)!.label ? "ok" : "unparseable", costUsd: labelled.get(i)!.costUsd, answeredBy: "teacher" }));
  const cascadePredictions: Prediction[] = calibrationRows.map((i, j) => (routesToLlm(student.confidence[i]!, tau) ? { ...teacherPredictions[j]!, answeredBy: "teacher" } : { ...studentPredictions[j]! }));
  const strategies: StrategyConfig[] = [
    { name: "student", type: "encoder", model: context.modelDir },
    { ...context.cascadeLlm, name: "teacher" } as StrategyConfig,
    { name: "cascade", type: "cascade", encoder: "student", llm: "teacher", tau },
  ];
  return recordRun(db, {
    name: context.name ?? `distill-${basename(context.out)}`,
    dataset: { file: calibrationFile, text: "text", label: "teacher_label", scheme: labels.join(",") },
    seed: context.seed,
    strategies,
    labels: [...labels],
    gold: calibrationRows.map((i) => labelled.get(i)!.label),
    outcomes: [
      { name: "student", predictions: studentPredictions, seconds: 0, costUsd: 0 },
      { name: "teacher", predictions: teacherPredictions, seconds: 0, costUsd: teacherPredictions.reduce((s, p) => s + p.costUsd, 0) },
      { name: "cascade", predictions: cascadePredictions, seconds: 0, costUsd: cascadePredictions.reduce((s, p) => s + p.costUsd, 0) },
    ],
  });
}

/** The model card, report.html and distill.json. */
export function writeReports(result: DistillResult, context: { teacher: string; input: string; labels: readonly string[]; target: number; confidence: number; suspects: Array<{ text: string; student: string; confidence: number; teacher: string }> }): void {
  writeFileAtomic(join(result.model, "MODEL_CARD.md"), studentCard(result, context));
  writeFileAtomic(result.report, renderDistillReport(result, context));
  writeFileAtomic(join(result.out, "distill.json"), JSON.stringify(summaryJson(result), null, 2) + "\n");
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
    phases: result.phases,
    seconds: result.seconds,
    points: result.certification.points.map((p) => ({ tau: p.tau, test: p.test, calibration: p.calibration })),
  };
}
