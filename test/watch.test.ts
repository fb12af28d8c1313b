// The served audit watches the quantity its certificate bounds (src/server/watch.ts, src/server/monitor.ts):
// false alarms at exactly the certified level stay under 1 − confidence for both scopes, the old mismatch
// (kept answers against the cascade's target) is shown to alarm, the rows-to-certify arithmetic is exact,
// and the monitor rebuilds its state after a restart, counts feedback once per answer, and watches accuracy
// from feedback.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { openStore } from "../src/core/store.js";
import { createMetrics } from "../src/server/metrics.js";
import { LabelStore } from "../src/server/label-store.js";
import { AuditBudget } from "../src/server/audit-budget.js";
import { FeedbackTally } from "../src/server/feedback-tally.js";
import { auditSettings, StrategyMonitor } from "../src/server/monitor.js";
import { TrafficTally } from "../src/server/traffic.js";
import { auditRole, cascadeAgreement, describeQuantity, feedbackCounts, newWatchState, observeOutcome, rowsToCertify, watchFigures, type WatchedQuantity } from "../src/server/watch.js";
import { binomialTestGreater } from "../src/stats/binomial.js";
import type { CascadeConfig } from "../src/strategies/config.js";
import type { Prediction, Strategy } from "../src/strategies/strategy.js";
import { seededUniform, tempDir } from "./helpers.js";

const uniform = seededUniform;

/**
 * Streams of a cascade's audit: each answer is the LLM's with probability `llmShare` (an agreement, free),
 * else the encoder's, agreeing with the LLM with probability `keptAgreement`. Returns the share of
 * streams whose watch alarmed within `outcomes` outcomes.
 */
function alarmRate(quantity: WatchedQuantity, llmShare: number, keptAgreement: number, streams: number, outcomes: number): number {
  let alarms = 0;
  for (let seed = 0; seed < streams; seed++) {
    const random = uniform(1000 + seed);
    let state = newWatchState();
    while (state.observed < outcomes && state.alarmAt === null) {
      const by = random() < llmShare ? "llm" : "encoder";
      const role = auditRole(quantity, by);
      if (role === "collect") continue;
      const outcome = role === "agreed" ? 1 : random() < keptAgreement ? 1 : 0;
      state = observeOutcome(state, outcome, quantity);
    }
    if (state.alarmAt !== null) alarms++;
  }
  return alarms / streams;
}

const cascadeScope: WatchedQuantity = { metric: "agreement", on: "cascade", target: 0.95, confidence: 0.95, from: "certificate" };
const encoderScope: WatchedQuantity = { ...cascadeScope, on: "encoder" };

test("watch: at exactly the certified level, false alarms over 3,000 outcomes stay under 1 − confidence, for the cascade's agreement and for the kept answers'", () => {
  // The cascade at 95.0%: the LLM answers 2/3, the encoder's kept answers agree 85%.
  const keptAtTarget = (0.95 - 2 / 3) / (1 / 3);
  assert.ok(Math.abs(cascadeAgreement(keptAtTarget, 2 / 3) - 0.95) < 1e-12);
  const cascade = alarmRate(cascadeScope, 2 / 3, keptAtTarget, 400, 3000);
  const kept = alarmRate(encoderScope, 2 / 3, 0.95, 400, 3000);
  process.stderr.write(`watch: false alarms at the target, cascade scope ${(cascade * 100).toFixed(1)}%, encoder scope ${(kept * 100).toFixed(1)}%\n`);
  assert.ok(cascade <= 0.05 + 0.03, `cascade scope: ${cascade}`);
  assert.ok(kept <= 0.05 + 0.03, `encoder scope: ${kept}`);
});

test("watch: the old mismatch — the kept answers' agreement held to the cascade's target — alarms on a healthy cascade, the right quantity does not", () => {
  // The outside case: the cascade agrees 96% (kept answers 88%, LLM share 2/3).
  const mismatched = alarmRate(encoderScope, 2 / 3, 0.88, 200, 3000);
  const right = alarmRate(cascadeScope, 2 / 3, 0.88, 200, 3000);
  assert.ok(mismatched > 0.95, `kept answers against 95%: ${mismatched}`);
  assert.ok(right < 0.05, `the cascade's agreement: ${right}`);
});

test("watch: after a drop below the target the alarm comes within a few hundred outcomes", () => {
  // Cascade agreement 2/3 + 1/3 · 0.70 = 0.90.
  const delays: number[] = [];
  for (let seed = 0; seed < 100; seed++) {
    const random = uniform(seed);
    let state = newWatchState();
    while (state.alarmAt === null && state.observed < 5000) state = observeOutcome(state, random() < 2 / 3 || random() < 0.7 ? 1 : 0, cascadeScope);
    delays.push(state.alarmAt ?? Infinity);
  }
  delays.sort((a, b) => a - b);
  assert.ok(delays[49]! < 400 && delays[89]! < 800, `median ${delays[49]}, p90 ${delays[89]}`);
});

test("watch: roles, names and figures", () => {
  assert.equal(auditRole(cascadeScope, "llm"), "agreed");
  assert.equal(auditRole(cascadeScope, "encoder"), "ask");
  assert.equal(auditRole(encoderScope, "llm"), "collect");
  const accuracy: WatchedQuantity = { ...cascadeScope, metric: "accuracy" };
  assert.equal(auditRole(accuracy, "llm"), "collect");
  assert.equal(feedbackCounts(accuracy, "llm"), true);
  assert.equal(feedbackCounts({ ...accuracy, on: "encoder" }, "llm"), false);
  assert.equal(feedbackCounts(cascadeScope, "encoder"), false, "agreement is not watched from feedback");
  assert.equal(describeQuantity(cascadeScope), "agreement of the cascade's answers with the LLM alone");
  assert.equal(describeQuantity({ metric: "accuracy", on: "encoder" }), "accuracy of the encoder's kept answers (from feedback)");
  let state = newWatchState();
  for (const outcome of [1, 1, 0, 1] as const) state = observeOutcome(state, outcome, cascadeScope);
  const figures = watchFigures(state, cascadeScope);
  assert.deepEqual([figures.observed, figures.successes, figures.estimate, figures.recent], [4, 3, 0.75, 0.75]);
  assert.ok(figures.lowerBound < 0.75 && figures.upperBound > 0.75);
});

test("rows to certify: the smallest n the exact test passes at, e.g. 59 all-agreeing rows at 95% / 95%", () => {
  assert.equal(rowsToCertify(1, 0.95, 0.95), 59);
  assert.equal(rowsToCertify(0.95, 0.95, 0.95), null, "at the target no number of rows is enough");
  assert.equal(rowsToCertify(0.9, 0.95, 0.95), null);
  for (const [rate, target, confidence] of [[0.97, 0.95, 0.95], [0.96, 0.95, 0.95], [0.99, 0.9, 0.9], [0.85, 0.8, 0.99]] as const) {
    const n = rowsToCertify(rate, target, confidence)!;
    const passes = (m: number) => binomialTestGreater(Math.floor(rate * m + 1e-9), m, target) <= 1 - confidence;
    assert.ok(passes(n), `${rate}/${target}/${confidence}: n = ${n} passes`);
    for (let m = 1; m < n; m++) assert.ok(!passes(m), `${rate}/${target}/${confidence}: ${m} < ${n} passes`);
  }
});

// The monitor itself, on a real label store, with stand-in members.
function member(name: string, type: "encoder" | "llm", answer: (text: string) => string): Strategy {
  return {
    name, type, labels: ["negative", "positive"], members: [],
    async classify(texts) {
      return texts.map((text): Prediction => ({ label: answer(text), status: "ok", costUsd: type === "llm" ? 0.001 : 0, answeredBy: name, ...(type === "encoder" ? { probabilities: [0.1, 0.9] } : {}) }));
    },
    async close() {},
  };
}

const silent = { info() {}, warn() {}, error() {}, debug() {}, trace() {}, fatal() {}, child() { return silent; }, level: "silent" } as never;

function cascadeConfig(extra: Partial<CascadeConfig>): CascadeConfig {
  return { type: "cascade", name: "c", encoder: "enc", llm: "gpt", tau: 0.5, certificate: { metric: "agreement", on: "cascade", target: 0.9, confidence: 0.95, lowerBound: 0.91, certified: true, calibrationRows: 500, calibrationHash: "x" }, audit: { share: 1 }, ...extra };
}

test("monitor: the cascade's agreement counts routed draws free and asks about kept ones; a restart replays the same state; reset clears it", async () => {
  const db = join(tempDir(), `watch-${process.pid}-1.db`);
  const labels = new LabelStore(openStore(db));
  const encoder = member("enc", "encoder", () => "positive");
  const llm = member("gpt", "llm", (text) => (text.startsWith("n") ? "negative" : "positive"));
  const settings = auditSettings(cascadeConfig({}))!;
  assert.equal(settings.quantity.on, "cascade");
  assert.equal(settings.quantity.from, "certificate");
  const monitor = new StrategyMonitor("c", settings, { encoder, llm, llmConfig: { type: "llm", model: "compat:x#m" } }, labels, createMetrics(() => 0), silent, uniform(1));
  const types = new Map([["enc", "encoder"], ["gpt", "llm"]]);
  // 6 answers by the LLM (free agreements), 4 kept by the encoder, of which the LLM disagrees on 1 ("n…").
  const texts = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "nope"];
  const predictions: Prediction[] = texts.map((t, i) => ({ label: "positive", status: "ok", costUsd: 0, answeredBy: i < 6 ? "gpt" : "enc", probabilities: i < 6 ? undefined : [0.1, 0.9] }));
  monitor.observe(texts, predictions, texts.map((t) => `id-${t}`), types);
  await monitor.idle();
  const snap = monitor.snapshot()!;
  assert.deepEqual([snap.audited, snap.agreed, snap.llmCalls, snap.sample.rows], [10, 9, 4, 10]);
  assert.equal(snap.quantity, "agreement of the cascade's answers with the LLM alone");
  const stored = labels.get("id-a")!;
  assert.deepEqual(stored.teacher, { type: "llm", model: "compat:x#m" });
  // A restart: the same state from the store.
  const again = new StrategyMonitor("c", settings, { encoder, llm }, labels, createMetrics(() => 0), silent);
  const replayed = again.snapshot()!;
  assert.deepEqual([replayed.audited, replayed.agreed, replayed.sample.rows, replayed.lowerBound], [snap.audited, snap.agreed, snap.sample.rows, snap.lowerBound]);
  const cleared = again.reset("test")!;
  assert.deepEqual([cleared.audited, cleared.sample.rows], [0, 0]);
  const afterReset = new StrategyMonitor("c", settings, { encoder, llm }, labels, createMetrics(() => 0), silent);
  assert.equal(afterReset.snapshot()!.audited, 0);
});

test("monitor: with on: encoder only kept answers are outcomes; audit.target with its own scope overrides the certificate", async () => {
  const settings = auditSettings(cascadeConfig({ audit: { share: 1, target: 0.8, on: "encoder" } }))!;
  assert.deepEqual(settings.quantity, { metric: "agreement", on: "encoder", target: 0.8, confidence: 0.95, from: "audit" });
  const labels = new LabelStore(openStore(join(tempDir(), `watch-${process.pid}-2.db`)));
  const monitor = new StrategyMonitor("c", settings, { encoder: member("enc", "encoder", () => "positive"), llm: member("gpt", "llm", () => "positive") }, labels, createMetrics(() => 0), silent, uniform(2));
  const predictions: Prediction[] = [0, 1, 2].map((i) => ({ label: "positive", status: "ok", costUsd: 0, answeredBy: i === 0 ? "gpt" : "enc", probabilities: i === 0 ? undefined : [0.1, 0.9] }));
  monitor.observe(["x", "y", "z"], predictions, ["1", "2", "3"], new Map([["enc", "encoder"], ["gpt", "llm"]]));
  await monitor.idle();
  const snap = monitor.snapshot()!;
  assert.deepEqual([snap.audited, snap.sample.rows, snap.targetFrom], [2, 3, "audit"]);
});

test("monitor: an accuracy certificate is watched from feedback; a second feedback for an answer replaces the first", async () => {
  const settings = auditSettings(cascadeConfig({ certificate: { metric: "accuracy", on: "cascade", target: 0.9, confidence: 0.95, lowerBound: 0.91, certified: true, calibrationRows: 500, calibrationHash: "x" } }))!;
  assert.equal(settings.quantity.metric, "accuracy");
  const labels = new LabelStore(openStore(join(tempDir(), `watch-${process.pid}-3.db`)));
  const monitor = new StrategyMonitor("c", settings, { encoder: member("enc", "encoder", () => "positive"), llm: member("gpt", "llm", () => "positive") }, labels, createMetrics(() => 0), silent);
  const give = (id: string, answer: string, label: string) => {
    const previous = labels.feedback({ id, strategy: "c", text: id, storeText: true, answeredBy: "enc", answer, label });
    monitor.feedbackReceived("enc", answer, label, previous);
  };
  give("1", "positive", "positive");
  give("2", "positive", "negative");
  assert.deepEqual([monitor.snapshot()!.audited, monitor.snapshot()!.agreed], [2, 1]);
  give("2", "positive", "positive");
  assert.deepEqual([monitor.snapshot()!.audited, monitor.snapshot()!.agreed], [2, 2], "replaced, not counted twice");
  assert.deepEqual(monitor.liveAccuracy().map((a) => [a.n, a.correct]), [[2, 2]]);
  assert.equal(monitor.snapshot()!.outcomesFrom, "feedback");
});

test("traffic tally: the LLM's share overall and over the last hour, by minute", () => {
  const tally = new TrafficTally();
  const t0 = Date.UTC(2026, 0, 1, 12, 0);
  for (let i = 0; i < 10; i++) tally.count(i < 8, t0 + i * 1000); // 8 of 10 by the LLM at 12:00
  assert.equal(tally.llmShareLastHour(t0 + 30 * 60_000), 0.8);
  for (let i = 0; i < 10; i++) tally.count(i < 2, t0 + 61 * 60_000 + i); // 2 of 10 at 13:01: 12:00 is over an hour ago
  assert.deepEqual(tally.figures(t0 + 61 * 60_000), { texts: 20, llmShare: 0.5, llmShareLastHour: 0.2 });
  assert.equal(tally.llmShareLastHour(t0 + 200 * 60_000), 0);
});

test("feedback tally: counts by member, a replaced label taken back", () => {
  const tally = new FeedbackTally();
  assert.equal(tally.count("starter", true), 1);
  assert.equal(tally.count("starter", false), 0.5);
  tally.count("starter", true);
  tally.count("gpt-4o", true);
  tally.takeBack("starter", true); // a second label for a correct answer replaces it…
  tally.count("starter", false); // …with a wrong one
  const [starter, llm] = tally.accuracy(0.95);
  assert.deepEqual([starter!.answeredBy, starter!.n, starter!.correct, starter!.accuracy], ["starter", 3, 1, 1 / 3]);
  assert.deepEqual([llm!.answeredBy, llm!.n, llm!.correct], ["gpt-4o", 1, 1]);
  assert.ok(starter!.lowerBound < 1 / 3 && starter!.upperBound > 1 / 3);
});

test("audit budget: the day's dollars judged by the mean call and the calls queued, reset at midnight UTC; the rate a minute's worth", () => {
  const day = new Date(Date.UTC(2026, 0, 1, 10));
  const budget = new AuditBudget({ maxCostPerDay: 1 }, 0, day);
  assert.equal(budget.gate(0, day), "open");
  budget.spent(0.4);
  budget.spent(0.4);
  assert.deepEqual([budget.calls, budget.costToday], [2, 0.8]);
  assert.equal(budget.gate(0, day), "over_budget"); // 0.8 + one more call at the mean 0.4 > 1
  assert.equal(new AuditBudget({ maxCostPerDay: 1 }, 0.5, day).gate(1, day), "open"); // 0.5 + 2 × 0 (no mean yet)
  assert.equal(budget.gate(0, new Date(Date.UTC(2026, 0, 2, 0, 0, 1))), "open");
  const rate = new AuditBudget({ rpm: 2 });
  rate.take();
  assert.equal(rate.gate(0), "open");
  rate.take();
  assert.equal(rate.gate(0), "over_rate");
});
