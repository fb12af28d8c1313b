/** distill against gold labels (`--eval`): the student, and the cascade where the teacher's answers are known. */
import { classifyWithEncoder } from "../encoders/inference.js";
import { EncoderModel } from "../encoders/model.js";
import { evaluate, macroF1 } from "../metrics/evaluate.js";
import { compareClassifiers } from "../stats/compare.js";
import { routesToLlm } from "../strategies/cascade.js";
import type { Prediction } from "../strategies/strategy.js";
import type { DistillEvaluation, DistillEvaluationResult, SideFigures } from "./types.js";

export async function evaluateStudent(
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
  const routed = (r: number) => routesToLlm(confidence[r]!, context.tau);
  const cascade = teacher ? classified.predictions.map((p, r) => (routed(r) ? teacher![r]! : p)) : undefined;
  return {
    file: evaluation.file,
    rows: evaluation.texts.length,
    teacher: teacher ? figures(teacher) : null,
    student: figures(classified.predictions),
    cascade: cascade ? figures(cascade) : null,
    cascadeTeacherShare: confidence.filter((_, r) => routed(r)).length / evaluation.texts.length,
    studentVsTeacher: teacher ? tested(teacher, classified.predictions) : null,
    cascadeVsTeacher: teacher && cascade ? tested(teacher, cascade) : null,
  };
}
