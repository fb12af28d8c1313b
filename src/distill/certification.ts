/**
 * distill, unit 3: the certificate. The cascade (the student when its top probability is at least τ, the
 * teacher otherwise) is certified on the calibration labels — Learn then Test with fixed-sequence exact
 * binomial tests, as `tandem tune cascade` — over a τ grid fixed before the calibration labels are looked
 * at: by default the quantiles of the student's scores on the texts outside calibration (a sharp student's
 * scores crowd near 1, where steps of 0.01 cannot tell its confident answers apart), else steps of 0.01.
 * The teacher's share then follows on every input text, labelled or not. Routing is the cascade's own rule.
 */
import { routesToLlm } from "../strategies/cascade.js";
import { cascadeSuspects, certifyCascade, CERTIFY_TAUS, type CertifyResult, type CertifyRows, type Suspect } from "../strategies/certify.js";
import type { Labelled } from "./types.js";

/**
 * Candidate thresholds at the quantiles of `scores` (every 1/`steps` of them, the top scores first), with τ = 1
 * first (the LLM alone) and never below 0. Pure.
 */
export function quantileGrid(scores: readonly number[], steps = 200): number[] {
  const sorted = scores.filter((s) => Number.isFinite(s)).sort((a, b) => b - a);
  const grid = new Set<number>([1]);
  for (let i = 0; i <= steps && sorted.length > 0; i++) grid.add(sorted[Math.min(sorted.length - 1, Math.floor((i / steps) * (sorted.length - 1)))]!);
  grid.add(0);
  return [...grid].sort((a, b) => b - a);
}

export interface StudentAnswers {
  pred: readonly string[];
  confidence: readonly number[];
}

export interface Certified {
  certification: CertifyResult;
  tau: number;
  grid: number[];
  /** Share of the input texts the teacher answers at τ. */
  teacherShare: number;
  perLabel: Array<{ label: string; rows: number; agreement: number; studentAgreement: number }>;
  /** Every labelled row where the student is confident (kept at τ) and the teacher answered otherwise, by pool row. */
  suspects: Array<Suspect & { index: number }>;
  /** The rows as the certificate saw them (for the run record). */
  rowsOf: (indices: readonly number[]) => CertifyRows;
}

export function certifyStudent(input: {
  student: StudentAnswers;
  labelled: ReadonlyMap<number, Labelled>;
  calibrationRows: readonly number[];
  /** Pool rows whose scores fix the quantile grid: never calibration rows. */
  gridRows: readonly number[];
  inputRows: readonly number[];
  labels: readonly string[];
  target: number;
  confidence: number;
  grid: "quantiles" | "steps";
}): Certified {
  const { student, labelled } = input;
  const rowsOf = (indices: readonly number[]): CertifyRows => ({
    encoderPred: indices.map((i) => student.pred[i]!),
    encoderConfidence: indices.map((i) => student.confidence[i]!),
    llmPred: indices.map((i) => labelled.get(i)!.label),
  });
  const grid = input.grid === "quantiles" && input.gridRows.length > 0 ? quantileGrid(input.gridRows.map((i) => student.confidence[i]!)) : [...CERTIFY_TAUS];
  const certification = certifyCascade({ calibration: rowsOf(input.calibrationRows), target: { metric: "agreement", level: input.target }, confidence: input.confidence, labels: input.labels, taus: grid });
  const tau = certification.certificate.tau;
  const routed = (i: number) => routesToLlm(student.confidence[i]!, tau);
  const teacherShare = input.inputRows.filter(routed).length / input.inputRows.length;
  const perLabel = input.labels.map((label) => {
    const rows = input.calibrationRows.filter((i) => labelled.get(i)!.label === label);
    const cascadeSame = rows.filter((i) => (routed(i) ? label : student.pred[i]) === label).length;
    const studentSame = rows.filter((i) => student.pred[i] === label).length;
    return { label, rows: rows.length, agreement: rows.length ? cascadeSame / rows.length : Number.NaN, studentAgreement: rows.length ? studentSame / rows.length : Number.NaN };
  });
  const labelledRows = [...labelled.keys()].sort((a, b) => a - b);
  const suspects = cascadeSuspects(rowsOf(labelledRows), tau).map((s) => ({ ...s, index: labelledRows[s.row]! }));
  return { certification, tau, grid, teacherShare, perLabel, suspects, rowsOf };
}
