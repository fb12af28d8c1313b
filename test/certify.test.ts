// Certified cascades: exact binomial bounds against scipy, the fixed-sequence procedure on hand-made
// cases, the guarantee by simulation (and the in-sample rule's failure), and `tandem tune cascade` from
// real predictions to a strategy file that `tandem serve` runs and reports.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parse as parseYaml } from "yaml";
import { Random } from "../src/core/random.js";
import { cellText, readTable } from "../src/data/readers.js";
import { csvField } from "../src/data/writers.js";
import { binomialTestGreater, clopperPearsonLower, clopperPearsonUpper } from "../src/stats/binomial.js";
import { cascadeSuspects, certifyCascade, splitForCalibration, targetCounts, type CertifyRows } from "../src/strategies/certify.js";
import { startMockServer } from "./fixtures/openai-server.js";
import { ROOT, runCli, SHARED, tempDir, tempFile } from "./helpers.js";

interface BinomialCase { k: number; n: number; confidence: number; p0: number; lower: number; upper: number; p_greater: number }
const scipy = JSON.parse(readFileSync(join(ROOT, "test/fixtures/scipy-binomial.json"), "utf8")) as { scipy: string; cases: BinomialCase[] };

test(`${scipy.cases.length} exact binomial bounds and p-values equal scipy ${scipy.scipy} (binomtest, Clopper–Pearson)`, () => {
  for (const c of scipy.cases) {
    const where = `k ${c.k}, n ${c.n}, confidence ${c.confidence}, p0 ${c.p0}`;
    assert.ok(Math.abs(clopperPearsonLower(c.k, c.n, c.confidence) - c.lower) < 1e-11, `${where}: lower ${clopperPearsonLower(c.k, c.n, c.confidence)} vs ${c.lower}`);
    assert.ok(Math.abs(clopperPearsonUpper(c.k, c.n, c.confidence) - c.upper) < 1e-11, `${where}: upper`);
    const p = binomialTestGreater(c.k, c.n, c.p0);
    assert.ok(Math.abs(p - c.p_greater) <= 1e-10 * c.p_greater + 1e-300, `${where}: p ${p} vs ${c.p_greater}`);
  }
  assert.throws(() => clopperPearsonLower(5, 4, 0.95), /0 ≤ k ≤ n/);
  assert.throws(() => clopperPearsonLower(1, 4, 1), /confidence must be in \(0, 1\)/);
});

/** P(X ≥ k) for X ~ Bin(n, p) by summing the terms: an independent check of the betainc route. */
function tailBySum(k: number, n: number, p: number): number {
  let logChoose = 0;
  let sum = 0;
  for (let i = 0; i <= n; i++) {
    if (i > 0) logChoose += Math.log(n - i + 1) - Math.log(i);
    if (i >= k) sum += Math.exp(logChoose + i * Math.log(p) + (n - i) * Math.log(1 - p));
  }
  return sum;
}

/** 100 rows, gold "a": the LLM is right on rows 0–79; the encoder is right except on 15 of rows 60–79. */
function handMade(): CertifyRows {
  const rows = { encoderPred: [] as string[], encoderConfidence: [] as number[], llmPred: [] as string[], gold: [] as string[] };
  for (let i = 0; i < 100; i++) {
    const band = i < 60 ? 0.95 : i < 80 ? 0.85 : 0.75;
    rows.encoderConfidence.push(band);
    rows.encoderPred.push(band === 0.85 && i < 75 ? "b" : "a");
    rows.llmPred.push(i < 80 ? "a" : "b");
    rows.gold.push("a");
  }
  return rows;
}

test("fixed-sequence testing on a hand-made case: a τ that fails stops the sequence, even where a lower τ would pass", () => {
  const rows = handMade();
  // Cascade accuracy: τ 1 → 80 (the LLM), 0.9 → 80, 0.8 → 65, 0.7 → 85 (the encoder beats the LLM on rows 80–99).
  assert.deepEqual([1, 0.9, 0.8, 0.7].map((tau) => targetCounts(rows, tau, { metric: "accuracy", level: 0.7 }).successes), [80, 80, 65, 85]);
  const result = certifyCascade({ calibration: rows, target: { metric: "accuracy", level: 0.7 }, confidence: 0.9, taus: [0.7, 0.8, 0.9, 1] });
  assert.deepEqual(result.points.map((p) => [p.tau, p.test.outcome]), [[1, "passed"], [0.9, "passed"], [0.8, "failed"], [0.7, "not tested"]]);
  for (const p of result.points) assert.ok(Math.abs(p.test.pValue - tailBySum(p.test.successes, 100, 0.7)) < 1e-12, `τ ${p.tau}`);
  assert.ok(result.points[3]!.test.pValue < 0.1, "τ 0.7 would pass on its own: only the sequence keeps it out");
  assert.equal(result.certificate.certified, true);
  assert.equal(result.certificate.tau, 0.9);
  assert.ok(Math.abs(result.certificate.lowerBound! - clopperPearsonLower(80, 100, 0.9)) < 1e-15);
  assert.match(result.certificate.summary, /^τ = 0\.9: with 90\.00% confidence the accuracy of the cascade is at least 70\.00%.*the next τ, 0\.8, failed/);

  // The LLM alone misses the target: τ = 1 fails first, nothing is certified, the answer is the LLM alone.
  const none = certifyCascade({ calibration: rows, target: { metric: "accuracy", level: 0.8 }, confidence: 0.9, taus: [0.7, 0.8, 0.9, 1] });
  assert.deepEqual(none.points.map((p) => p.test.outcome), ["failed", "not tested", "not tested", "not tested"]);
  assert.equal(none.certificate.certified, false);
  assert.equal(none.certificate.tau, 1);
  assert.equal(none.certificate.calibration.llmShare, 1);
  assert.match(none.certificate.summary, /no τ can be certified .* τ = 1, the LLM answers everything/);

  // Of the encoder's own answers: τ = 1 is no hypothesis (it keeps nothing); 0.9 keeps 60 right of 60.
  const kept = certifyCascade({ calibration: rows, target: { metric: "accuracy", level: 0.9, on: "encoder" }, confidence: 0.9, taus: [1, 0.9, 0.8] });
  assert.deepEqual(kept.points.map((p) => [p.tau, p.test.trials, p.test.successes, p.test.outcome]), [[1, 0, 0, "not tested"], [0.9, 60, 60, "passed"], [0.8, 80, 65, "failed"]]);
  assert.equal(kept.certificate.tau, 0.9);
  // A grid whose first τ keeps no row stops there: no evidence is no certificate.
  const empty = certifyCascade({ calibration: rows, target: { metric: "agreement", level: 0.5, on: "encoder" }, confidence: 0.9, taus: [0.99, 0.9] });
  assert.deepEqual(empty.points.map((p) => p.test.outcome), ["failed", "not tested"]);
  assert.match(empty.certificate.summary, /τ = 0\.99, the first τ tested, keeps no calibration rows/);

  // Suspects at τ 0.9: none (rows 0–59 agree); at 0.8: the 15 confident wrong answers, most confident first.
  assert.equal(cascadeSuspects(rows, 0.9).length, 0);
  const suspects = cascadeSuspects(rows, 0.7);
  assert.equal(suspects.length, 35);
  assert.deepEqual(suspects.slice(0, 2).map((s) => [s.row, s.disagreesWith]), [[60, "both"], [61, "both"]]);
  assert.equal(suspects.at(-1)!.disagreesWith, "llm");
});

/**
 * A population with known curves: confidence c ~ U(0.4, 1), three classes; the encoder is right with
 * probability c (calibrated), the LLM with probability 0.95, independently.
 */
const LLM_ACCURACY = 0.95;
function trueCascadeAccuracy(tau: number): number {
  if (tau >= 1) return LLM_ACCURACY;
  const t = Math.max(tau, 0.4);
  return ((t - 0.4) / 0.6) * LLM_ACCURACY + (1 - t * t) / 1.2;
}
function trueCascadeAgreement(tau: number): number {
  if (tau >= 1) return 1;
  const t = Math.max(tau, 0.4);
  // Disagreement on a kept item: 1 − [c·0.95 + (1 − c)·0.05·½] = 0.975 − 0.925c.
  return 1 - (0.975 * (1 - t) - 0.4625 * (1 - t * t)) / 0.6;
}
function draw(random: Random, n: number): CertifyRows {
  const rows = { encoderPred: [] as string[], encoderConfidence: [] as number[], llmPred: [] as string[], gold: [] as string[] };
  const other = (label: number) => (label + 1 + Math.floor(random.nextFloat() * 2)) % 3;
  for (let i = 0; i < n; i++) {
    const gold = Math.floor(random.nextFloat() * 3);
    const c = 0.4 + 0.6 * random.nextFloat();
    rows.gold.push(String(gold));
    rows.encoderConfidence.push(c);
    rows.encoderPred.push(String(random.nextFloat() < c ? gold : other(gold)));
    rows.llmPred.push(String(random.nextFloat() < LLM_ACCURACY ? gold : other(gold)));
  }
  return rows;
}

test("over 500 random calibration draws the certified τ misses its target at most 1 − confidence of the time; the in-sample rule misses far more often", () => {
  const random = new Random(20261205);
  const draws = 500;
  const confidence = 0.9;
  const cases = [
    { metric: "accuracy" as const, level: 0.9, truth: trueCascadeAccuracy },
    { metric: "agreement" as const, level: 0.95, truth: trueCascadeAgreement },
  ];
  for (const { metric, level, truth } of cases) {
    let certifiedFailures = 0;
    let inSampleFailures = 0;
    let certifiedTaus = 0;
    for (let d = 0; d < draws; d++) {
      const rows = draw(random, 800);
      const { certificate, points } = certifyCascade({ calibration: rows, target: { metric, level }, confidence });
      if (truth(certificate.tau) < level - 1e-12) certifiedFailures++;
      certifiedTaus += certificate.tau;
      // The in-sample rule: the lowest τ whose observed metric on these rows reaches the target.
      const reaching = points.filter((p) => p.test.estimate >= level).map((p) => p.tau);
      const inSample = reaching.length ? Math.min(...reaching) : 1;
      if (truth(inSample) < level - 1e-12) inSampleFailures++;
    }
    const rate = certifiedFailures / draws;
    // 1 − confidence = 0.1; the slack is two binomial standard errors of a 0.1 rate over 500 draws.
    assert.ok(rate <= 0.1 + 2 * Math.sqrt((0.1 * 0.9) / draws), `${metric}: certified failure rate ${rate}`);
    assert.ok(inSampleFailures / draws > 0.3, `${metric}: in-sample failure rate ${inSampleFailures / draws}`);
    assert.ok(certifiedTaus / draws < 0.95, `${metric}: the certificate is not vacuous (mean τ ${certifiedTaus / draws})`);
  }
});

/** A prediction file of the starter on the first rows of the merged validation split, and an "LLM" agreeing 90% with gold. */
async function realPredictions(rows: number): Promise<{ encoder: string; llm: string; llmNoGold: string }> {
  const source = await readTable(join(SHARED, "data/sentiment-merged/val_all.csv"));
  const input = tempFile("certify-val.csv", "sentence,label\n" + source.records.slice(0, rows).map((r) => `${csvField(cellText(r.values.sentence))},${cellText(r.values.label)}`).join("\n") + "\n");
  const encoder = join(tempDir(), "certify-encoder.csv");
  const classified = runCli(["classify", "--strategy", "encoder", "-i", input, "-o", encoder]);
  assert.equal(classified.status, 0, classified.stderr);
  const labels = ["negative", "neutral", "positive"];
  const random = new Random(7);
  const gold = (await readTable(encoder)).records.map((r) => cellText(r.values.label));
  assert.equal(gold.length, rows);
  const answers = gold.map((g) => (random.nextFloat() < 0.9 ? g : labels.filter((l) => l !== g)[Math.floor(random.nextFloat() * 2)]!));
  const llm = tempFile("certify-llm.csv", "label,prediction,costUsd\n" + gold.map((g, i) => `${g},${answers[i]},0.00015`).join("\n") + "\n");
  const llmNoGold = tempFile("certify-llm-nogold.csv", "prediction\n" + answers.join("\n") + "\n");
  return { encoder, llm, llmNoGold };
}

test("tandem tune cascade on real predictions: certified, held out, suspects, and agreement mode with no gold column", async () => {
  const { encoder, llm, llmNoGold } = await realPredictions(1200);
  const suspects = join(tempDir(), "suspects.csv");
  const result = runCli(["tune", "cascade", "--encoder", encoder, "--llm", llm, "--target-agreement", "0.9", "--suspects", suspects, "-f", "json"]);
  assert.equal(result.status, 0, result.stderr);
  const parsed = JSON.parse(result.stdout);
  // Half of each gold label (largest remainder per label: within one row per label of 600).
  assert.equal(parsed.rows.total, 1200);
  assert.equal(parsed.rows.calibration + parsed.rows.held_out, 1200);
  assert.ok(Math.abs(parsed.rows.calibration - 600) <= 2, JSON.stringify(parsed.rows));
  assert.deepEqual(parsed.split, { calibration_share: 0.5, seed: 42, stratified_by: "gold" });
  const cert = parsed.certified;
  assert.equal(cert.certified, true);
  assert.ok(cert.tau < 1 && cert.lower_bound >= 0.9, JSON.stringify(cert));
  assert.deepEqual([cert.target, cert.metric, cert.on, cert.confidence, cert.calibration_rows, cert.held_out_rows], [0.9, "agreement", "cascade", 0.95, parsed.rows.calibration, parsed.rows.held_out]);
  const at = parsed.points.find((p: { tau: number }) => p.tau === cert.tau);
  assert.equal(at.test.outcome, "passed");
  assert.equal(cert.lower_bound, at.test.lower_bound);
  assert.deepEqual(cert.held_out, at.held_out);
  assert.ok(cert.held_out.accuracy > 0 && cert.held_out.macro_f1 > 0 && cert.held_out.llm_share < 1);
  assert.ok(Math.abs(cert.held_out.cost_per_thousand - cert.held_out.llm_share * 0.15) < 1e-9, "LLM cost of the routed rows per 1,000");
  // The first τ after the certified one failed; everything after it is not tested.
  const next = parsed.points.indexOf(at) + 1;
  assert.equal(parsed.points[next].test.outcome, "failed");
  assert.ok(parsed.points.slice(next + 1).every((p: { test: { outcome: string } }) => p.test.outcome === "not tested"));
  // Suspects: confident at the certified τ, disagreeing, most confident first, with the text and the file line.
  assert.equal(readFileSync(suspects, "utf8").split("\n")[0], "file,line,part,text,encoder,confidence,llm,gold,disagrees_with");
  const confidences = (await readTable(suspects)).records.map((r) => Number(cellText(r.values.confidence)));
  assert.ok(confidences.length > 0 && confidences.every((c, i) => c >= cert.tau && (i === 0 || c <= confidences[i - 1]!)));
  const text = runCli(["tune", "cascade", "--encoder", encoder, "--llm", llm, "--target-agreement", "0.9"]);
  assert.match(text.stdout, /│ calibration: agreement, exact test +│ held out/);
  assert.match(text.stdout, new RegExp(`held out, ${parsed.rows.held_out} rows, at τ = ${cert.tau}: accuracy `));

  // No gold anywhere: agreement needs none; the split is stratified by the LLM's labels.
  const noGold = tempFile("certify-encoder-nogold.csv", readFileSync(encoder, "utf8").replace(/^sentence,label,/, "sentence,gold_hidden,"));
  const agreement = runCli(["tune", "cascade", "--encoder", noGold, "--llm", llmNoGold, "--target-agreement", "0.9", "-f", "json"]);
  assert.equal(agreement.status, 0, agreement.stderr);
  const free = JSON.parse(agreement.stdout);
  assert.equal(free.split.stratified_by, "llm");
  assert.equal(free.certified.held_out.accuracy, null);
  assert.ok(free.certified.held_out.agreement > 0.85);
  const needGold = runCli(["tune", "cascade", "--encoder", noGold, "--llm", llmNoGold, "--target-accuracy", "0.8"]);
  assert.equal(needGold.status, 2);
  assert.match(needGold.stderr, /certify-encoder-nogold\.csv: no column "label" \(--gold\)/);

  // A separate report file: every row of --encoder is calibration.
  const report = runCli(["tune", "cascade", "--encoder", encoder, "--llm", llm, "--report-on", encoder, "--report-llm", llm, "--target-agreement", "0.9", "-f", "json"]);
  assert.equal(report.status, 0, report.stderr);
  assert.deepEqual(JSON.parse(report.stdout).rows, { total: 2400, calibration: 1200, held_out: 1200 });
  const missing = runCli(["tune", "cascade", "--encoder", encoder, "--llm", llm, "--report-on", encoder]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /--report-on needs --report-llm/);
});

test("the split is seeded and stratified: the same seed gives the same calibration rows, each label in proportion", () => {
  const rows = draw(new Random(3), 1000);
  const a = splitForCalibration(rows, 0.3, 9);
  const b = splitForCalibration(rows, 0.3, 9);
  assert.deepEqual(a, b);
  assert.notDeepEqual(splitForCalibration(rows, 0.3, 10).calibration, a.calibration);
  for (const label of ["0", "1", "2"]) {
    const all = rows.gold!.filter((g) => g === label).length;
    const picked = a.calibration.filter((i) => rows.gold![i] === label).length;
    assert.ok(Math.abs(picked - 0.3 * all) <= 1, `label ${label}: ${picked} of ${all}`);
  }
  assert.equal(a.calibration.length + a.heldOut.length, 1000);
  assert.equal(new Set([...a.calibration, ...a.heldOut]).size, 1000);
});

test("the certificate travels: tune cascade --write-config → tandem serve logs it and GET /v1/strategies shows it; the cascade serves", async () => {
  const { encoder, llm } = await realPredictions(600);
  const mock = await startMockServer();
  const file = join(tempDir(), "certified.yaml");
  try {
    const written = runCli(["tune", "cascade", "--encoder", encoder, "--llm", llm, "--target-agreement", "0.85", "--write-config", file, "--llm-strategy", `compat:${mock.url}#gpt-4o-mini`, "-f", "json"]);
    assert.equal(written.status, 0, written.stderr);
    const cert = JSON.parse(written.stdout).certified;
    const yaml = parseYaml(readFileSync(file, "utf8")) as { strategies: Array<{ name: string; tau: number; encoder: { model: string }; certificate: Record<string, unknown> }>; default: string };
    assert.equal(yaml.default, "cascade");
    assert.equal(yaml.strategies[0]!.tau, cert.tau);
    assert.equal(yaml.strategies[0]!.encoder.model, "starter");
    assert.deepEqual([yaml.strategies[0]!.certificate.target, yaml.strategies[0]!.certificate.lower_bound, yaml.strategies[0]!.certificate.calibration_hash], [0.85, cert.lower_bound, cert.calibration_hash]);
    const child = spawn(process.execPath, [join(ROOT, "dist/cli/main.js"), "serve", "--config", file, "--port", "0", "--db", join(tempDir(), "certified.db")], { cwd: ROOT });
    let output = "";
    for (const stream of [child.stdout, child.stderr]) stream.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`not ready: ${output}`)), 60_000);
        const check = () => {
          const match = /ready on (http:\/\/\S+)/.exec(output);
          if (match && /cascade certificate/.test(output)) {
            clearTimeout(timer);
            resolve(match[1]!);
          }
        };
        child.stdout.on("data", check);
        child.stderr.on("data", check);
      });
      const logged = output.split("\n").find((line) => line.includes("cascade certificate"))!;
      assert.equal(JSON.parse(logged).certificate.calibration_hash, cert.calibration_hash);
      const strategies = (await (await fetch(`${url}/v1/strategies`)).json()) as { strategies: Array<{ name: string; tau?: number; certificate?: Record<string, unknown> }> };
      const served = strategies.strategies.find((s) => s.name === "cascade")!;
      assert.equal(served.tau, cert.tau);
      assert.deepEqual([served.certificate!.metric, served.certificate!.target, served.certificate!.lower_bound, served.certificate!.certified], ["agreement", 0.85, cert.lower_bound, true]);
      assert.equal((served.certificate!.held_out as Record<string, number>).llm_share, cert.held_out.llm_share);
      const answer = (await (await fetch(`${url}/v1/classify`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ texts: ["What a wonderful, wonderful day!", "meh"] }) })).json()) as { results: Array<{ status: string }> };
      assert.deepEqual(answer.results.map((r) => r.status), ["ok", "ok"]);
    } finally {
      child.kill("SIGTERM");
      await new Promise((resolve) => child.on("exit", resolve));
    }
  } finally {
    await mock.close();
  }
});
