// distill's units on their own (the end-to-end runs are in distill.test.ts): the certificate's τ grid and
// the certified cascade, the choice of student, and the book of teacher labels.
import assert from "node:assert/strict";
import { test } from "node:test";
import { resolveScheme } from "../src/data/labels.js";
import { certifyStudent, quantileGrid } from "../src/distill/certification.js";
import { askInRounds, LabelBook } from "../src/distill/labels.js";
import { lengthStrata, stratifiedByLength } from "../src/distill/select.js";
import type { Prediction } from "../src/strategies/strategy.js";
import { chooseStudent, FULL_STUDENT_MIN_LABELS } from "../src/distill/student.js";
import type { Labelled, RoundSelection } from "../src/distill/types.js";
import { hasTorch } from "../src/training/engine.js";

test("distill units: the τ grid is the scores' quantiles, τ = 1 first and 0 last, non-finite scores left out", () => {
  assert.deepEqual(quantileGrid([0.5, 0.9, 0.7, Number.NaN, 0.99], 4), [1, 0.99, 0.9, 0.7, 0.5, 0]);
  assert.deepEqual(quantileGrid([], 10), [1, 0]);
});

test("distill units: the certified cascade keeps the student where it agrees with the teacher; the teacher's share follows on every input text", () => {
  // 100 confident rows (0.9) that agree with the teacher, 100 unsure ones (0.3) of which half agree.
  const pred: string[] = [];
  const confidence: number[] = [];
  const labelled = new Map<number, Labelled>();
  for (let i = 0; i < 200; i++) {
    const sure = i < 100;
    const teacher = ["negative", "neutral", "positive"][i % 3]!;
    pred.push(sure || i % 2 === 0 ? teacher : "neutral" === teacher ? "positive" : "neutral");
    confidence.push(sure ? 0.9 : 0.3);
    labelled.set(i, { label: teacher, part: "calibration", round: 0, costUsd: 0, source: "log", paid: false });
  }
  const rows = [...labelled.keys()];
  const certified = certifyStudent({ student: { pred, confidence }, labelled, calibrationRows: rows, gridRows: [], inputRows: rows, labels: ["negative", "neutral", "positive"], target: 0.95, confidence: 0.95, grid: "steps" });
  // Every τ in (0.3, 0.9] keeps exactly the confident rows (agreement 1); at 0.3 the unsure ones come in (0.75).
  assert.equal(certified.tau, 0.31);
  assert.equal(certified.teacherShare, 0.5);
  assert.equal(certified.certification.certificate.certified, true);
  assert.deepEqual(certified.perLabel.map((l) => l.agreement), [1, 1, 1]);
  assert.equal(certified.suspects.length, 0);
});

test("distill units: the student — asked for, else a head below the label count where fine-tuning pays, else fine-tuned where PyTorch is", () => {
  assert.deepEqual(chooseStudent("head", 5000), { kind: "head" });
  assert.deepEqual(chooseStudent("full", 10), { kind: "full" });
  const few = chooseStudent(undefined, FULL_STUDENT_MIN_LABELS - 1);
  assert.equal(few.kind, "head");
  assert.match(few.why!, /299 training labels/);
  assert.equal(chooseStudent(undefined, FULL_STUDENT_MIN_LABELS).kind, hasTorch() ? "full" : "head");
});

test("distill units: the label book keeps one row per text and matches the teacher's spelling to the label set; a label outside it names the file and line", () => {
  const scheme = resolveScheme("neg_neu_pos");
  const book = new LabelBook(["good", "bad", "good"], [{ text: "bad", label: "Negative" }, { text: "meh", label: "neutral", costUsd: 0.001 }], scheme);
  assert.deepEqual(book.pool, ["good", "bad", "meh"]);
  assert.deepEqual(book.inputRows, [0, 1, 0]);
  assert.deepEqual(book.logged.map((l) => [l.index, l.label, l.costUsd]), [[1, "negative", 0], [2, "neutral", 0.001]]);
  assert.throws(() => new LabelBook(["x"], [{ text: "x", label: "great", file: "labels.csv", line: 7 } as never], scheme), (error: Error & { describe(): string }) => error.describe() === 'labels.csv, line 7: teacher label "great" is not one of negative, neutral, positive');
  assert.throws(() => new LabelBook([], [], scheme, "in.csv"), /no texts to distill on/);
});

test("distill units: rounds after the first ask about the least-sure texts (margin), or a length-stratified random sample (random)", async () => {
  const scheme = resolveScheme("neg_neu_pos");
  const texts = Array.from({ length: 60 }, (_, i) => `text ${"x".repeat(i % 17)} ${i}`);
  // The round's student: texts 40–49 have the smallest margins (0.1), every other text 0.8.
  const probabilities = new Float32Array(texts.length * 3);
  texts.forEach((_, i) => probabilities.set(i >= 40 && i < 50 ? [0.45, 0.35, 0.2] : [0.9, 0.1, 0], i * 3));
  const asked = async (selection: RoundSelection) => {
    const book = new LabelBook(texts, [], scheme);
    const rounds: string[][] = [];
    const asker = { ask: async (batch: string[]) => (rounds.push(batch), batch.map(() => ({ label: "positive", status: "ok", costUsd: 0, answeredBy: "t", latencyMs: 0 }) as Prediction)) };
    await askInRounds(book, asker, { rounds: 2, perRound: 10, calibrationShare: 0, seed: 3, k: 3, selection, emit: () => {} }, { train: async () => probabilities, record: () => {} });
    return { rounds: rounds.map((r) => r.map((t) => texts.indexOf(t))), book };
  };
  const margin = await asked("margin");
  const first = margin.rounds[0]!;
  assert.equal(first.length, 10, "a round asks about exactly its count, whatever the strata's rounding");
  // Margin: round 2 takes every least-sure text not yet asked, then the lowest indices among the rest (ties).
  const leastSureLeft = [40, 41, 42, 43, 44, 45, 46, 47, 48, 49].filter((i) => !first.includes(i));
  assert.deepEqual(margin.rounds[1]!.slice(0, leastSureLeft.length), leastSureLeft);
  const random = await asked("random");
  assert.deepEqual(random.rounds[0], first, "round 1 is the same random sample either way");
  const candidates = texts.map((_, i) => i).filter((i) => !first.includes(i));
  assert.deepEqual(random.rounds[1], stratifiedByLength(candidates, lengthStrata(texts), 10, 3 + 2));
  assert.equal(random.rounds[1]!.length, 10);
  assert.notDeepEqual(random.rounds[1], margin.rounds[1]);
});
