// Strategies and their combinations: the cascade what-if, τ choice, the live cascade, `tandem tune cascade`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cascadeCurve, cascadeStrategy, chooseTau } from "../src/strategies/cascade.js";
import type { Strategy } from "../src/strategies/strategy.js";
import { readFileSync } from "node:fs";
import { runCli, tempFile } from "./helpers.js";

const INPUT = {
  gold: ["a", "b", "a", "b"],
  encoderPred: ["a", "a", "a", "b"],
  encoderConfidence: [0.9, 0.6, 0.8, 0.95],
  llmPred: ["b", "b", "a", "a"],
};

test("the cascade curve: macro F1, accuracy and LLM share per τ, worked by hand", () => {
  const [none, some, more, all] = cascadeCurve(INPUT, [0, 0.7, 0.85, 1]);
  // τ = 0: the encoder alone. a: tp 2, predicted 3, true 2 → F1 0.8; b: tp 1, predicted 1, true 2 → 2/3.
  assert.ok(Math.abs(none!.macroF1 - (0.8 + 2 / 3) / 2) < 1e-12);
  assert.deepEqual([none!.accuracy, none!.llmShare, none!.llmCalls], [0.75, 0, 0]);
  assert.deepEqual([some!.macroF1, some!.accuracy, some!.llmShare], [1, 1, 0.25]);
  assert.deepEqual([more!.macroF1, more!.llmShare], [1, 0.5]);
  assert.deepEqual([all!.macroF1, all!.accuracy, all!.llmShare], [0.5, 0.5, 1]);
  const points = cascadeCurve(INPUT, [0, 0.7, 0.85, 1]);
  assert.equal(chooseTau(points, { targetF1: 0.9 }).best.tau, 0.7);
  assert.equal(chooseTau(points, { maxLlmShare: 0.1 }).best.tau, 0);
  assert.equal(chooseTau(points).best.tau, 0.7, "best F1, ties to the lower LLM share");
  assert.match(chooseTau(points, { targetF1: 1.1 }).rule, /no τ reaches/);
  const priced = cascadeCurve({ ...INPUT, llmCost: [0.1, 0.2, 0.3, 0.4] }, [0, 0.7, 0.85, 1]);
  assert.deepEqual(priced.map((p) => Number(p.llmCostUsd!.toFixed(10))), [0, 0.2, 0.5, 1]);
  assert.equal(chooseTau(priced, { budgetUsd: 0.25 }).best.tau, 0.7);
  assert.equal(chooseTau(priced, { budgetUsd: 0.1 }).best.tau, 0);
});

test("a live cascade asks the LLM only about the uncertain items and adds up the cost", async () => {
  const asked: string[] = [];
  const encoder: Strategy = {
    name: "enc", type: "encoder", labels: ["a", "b"], members: [], close: async () => {},
    classify: async (texts) => texts.map((t) => ({ label: "a", probabilities: t.startsWith("sure") ? [0.95, 0.05] : [0.55, 0.45], status: "ok", costUsd: 0 })),
  };
  const llm: Strategy = {
    name: "llm", type: "llm", labels: ["a", "b"], members: [], close: async () => {},
    classify: async (texts) => (asked.push(...texts), texts.map(() => ({ label: "b", status: "ok", costUsd: 0.01 }))),
  };
  const result = await cascadeStrategy(encoder, llm, 0.8).classify(["sure 1", "maybe", "sure 2", "unsure"]);
  assert.deepEqual(asked, ["maybe", "unsure"]);
  assert.deepEqual(result.map((r) => r.label), ["a", "b", "a", "b"]);
  assert.equal(result.reduce((sum, r) => sum + (r.costUsd ?? 0), 0), 0.02);
});

test("tandem tune cascade: the JSON contract, from two prediction files; errors name the file and line", () => {
  const encoder = tempFile("cascade-enc.csv", 'label,prediction,probabilities\na,a,"[0.9,0.1]"\nb,a,"[0.6,0.4]"\na,a,"[0.8,0.2]"\nb,b,"[0.05,0.95]"\n');
  const llm = tempFile("cascade-llm.csv", "label,prediction\na,b\nb,b\na,a\nb,a\n");
  // Every row as calibration (in-sample): the curve of the hand-worked example above.
  const result = runCli(["tune", "cascade", "--encoder", encoder, "--encoder-pred", "prediction", "--encoder-probs", "probabilities", "--llm", llm, "--llm-pred", "prediction", "--gold", "label", "--taus", "0,0.7,0.85,1", "--calibration-share", "1", "--target-f1", "0.9", "--format", "json"]);
  assert.equal(result.status, 0, result.stderr);
  const parsed = JSON.parse(result.stdout);
  assert.deepEqual(Object.keys(parsed), ["rows", "split", "certified", "points", "chosen"]);
  assert.deepEqual(parsed.points.map((p: { tau: number; calibration: { llm_share: number } }) => [p.tau, p.calibration.llm_share]), [[1, 1], [0.85, 0.5], [0.7, 0.25], [0, 0]]);
  assert.deepEqual(parsed.points.map((p: { calibration: { macro_f1: number } }) => p.calibration.macro_f1), [0.5, 1, 1, (0.8 + 2 / 3) / 2]);
  assert.equal(parsed.points[0].held_out, null);
  // Four rows cannot certify agreement 0.95 (even all-agreeing, 59 are needed): τ = 1, not certified.
  assert.equal(parsed.certified.certified, false);
  assert.equal(parsed.certified.tau, 1);
  assert.ok(Math.abs(parsed.certified.lower_bound - 0.05 ** (1 / 4)) < 1e-12, "Clopper–Pearson with 4 of 4: δ^(1/n)");
  assert.equal(parsed.chosen.tau, 0.7);
  assert.equal(parsed.chosen.calibration.macro_f1, 1);
  const text = runCli(["tune", "cascade", "--encoder", encoder, "--llm", llm, "--calibration-share", "1"]);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /calibration \(in-sample\)/);
  assert.match(text.stdout, /not certified: no τ can be certified for agreement of the cascade ≥ 95\.00% at 95\.00% confidence: τ = 1, the first τ tested, has a lower bound of 47\.29% \(4 of 4 rows; even all correct, at least 59 rows are needed\)/);
  const shifted = tempFile("cascade-shifted.csv", "label,prediction\nb,b\nb,b\na,a\nb,a\n");
  const bad = runCli(["tune", "cascade", "--encoder", encoder, "--llm", shifted]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /cascade-shifted\.csv, line 2, column "label": gold labels differ/);
  const both = runCli(["tune", "cascade", "--encoder", encoder, "--llm", llm, "--target-accuracy", "0.9", "--target-agreement", "0.9"]);
  assert.equal(both.status, 2);
  assert.match(both.stderr, /give one of --target-accuracy and --target-agreement/);
  const noGold = tempFile("cascade-nogold.csv", 'prediction,probabilities\na,"[0.9,0.1]"\n');
  const needsGold = runCli(["tune", "cascade", "--encoder", noGold, "--llm", tempFile("cascade-nogold-llm.csv", "prediction\na\n"), "--target-accuracy", "0.9"]);
  assert.equal(needsGold.status, 2);
  assert.match(needsGold.stderr, /cascade-nogold\.csv: no column "label" \(--gold\)/);
});

test("classify on a file that already has predictions writes prefixed columns", () => {
  const input = tempFile("has-pred.csv", "sentence,label,prediction\nI love it,positive,neutral\n");
  const out = tempFile("has-pred-out.csv", "");
  const result = runCli(["classify", "--strategy", "lexicon", "-i", input, "-o", out]);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stderr, /writing lexicon_prediction, lexicon_probabilities/);
  assert.equal(readFileSync(out, "utf8").split("\n")[0], "sentence,label,prediction,lexicon_prediction,lexicon_probabilities");
  const named = runCli(["classify", "--strategy", "lexicon", "-i", input, "-o", out, "--prefix", "prediction"]);
  assert.equal(named.status, 0, named.stderr);
  const clash = runCli(["classify", "--strategy", "lexicon", "-i", input, "-o", out, "--prefix", ""]);
  assert.equal(clash.status, 2);
  assert.match(clash.stderr, /already has a "prediction" column; choose another --prefix/);
});
