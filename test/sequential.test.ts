// Anytime-valid statistics of the served audit: the mixture confidence sequence against scipy, its
// time-uniform coverage and the drift alarm's false-alarm rate by simulation, detection after a drop.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { driftAlarm, logMixtureRatio, mixtureConfidenceSequence, newDriftTest, observeDrift, priorNear } from "../src/stats/sequential.js";
import { ROOT, seededUniform } from "./helpers.js";

interface SequentialCase { successes: number; trials: number; alpha: number; a: number; b: number; lower: number; upper: number; log_ratio_at_half: number }
const scipy = JSON.parse(readFileSync(join(ROOT, "test/fixtures/scipy-sequential.json"), "utf8")) as { cases: SequentialCase[] };

const uniform = seededUniform;

test("mixture confidence sequence: bounds and log ratios equal scipy's (brentq on scipy.special.betaln) for 120 cases", () => {
  assert.equal(scipy.cases.length, 120);
  for (const c of scipy.cases) {
    const prior = { a: c.a, b: c.b };
    const got = mixtureConfidenceSequence(c.successes, c.trials, c.alpha, prior);
    const where = `${c.successes}/${c.trials} α=${c.alpha} Beta(${c.a}, ${c.b})`;
    assert.ok(Math.abs(got.lower - c.lower) < 1e-9, `${where}: lower ${got.lower} vs scipy ${c.lower}`);
    assert.ok(Math.abs(got.upper - c.upper) < 1e-9, `${where}: upper ${got.upper} vs scipy ${c.upper}`);
    assert.ok(Math.abs(logMixtureRatio(c.successes, c.trials - c.successes, 0.5, prior) - c.log_ratio_at_half) < 1e-9, where);
  }
});

test("mixture confidence sequence: a hand-checked value and the errors", () => {
  // 10 of 10 under a Beta(1, 1) prior: M_10(p) = B(11, 1) / p^10 = 1 / (11 p^10) < 20 ⇔ p > (1/220)^(1/10).
  const { lower, upper } = mixtureConfidenceSequence(10, 10, 0.05, { a: 1, b: 1 });
  assert.ok(Math.abs(lower - (1 / 220) ** 0.1) < 1e-10, String(lower));
  assert.equal(upper, 1);
  assert.throws(() => mixtureConfidenceSequence(3, 2, 0.05, { a: 1, b: 1 }), /0 ≤ successes ≤ trials/);
  assert.throws(() => mixtureConfidenceSequence(1, 2, 1.5, { a: 1, b: 1 }), /alpha must be in \(0, 1\)/);
});

test("mixture confidence sequence: covers the true agreement at every one of 2,000 looks at once in ≥ 95% of 400 streams", () => {
  const p = 0.97;
  let missed = 0;
  for (let seed = 0; seed < 400; seed++) {
    const random = uniform(seed);
    let s = 0;
    for (let t = 1; t <= 2000; t++) {
      s += random() < p ? 1 : 0;
      // Checked at every step: a miss at any time counts (the time-uniform statement).
      const cs = mixtureConfidenceSequence(s, t, 0.05, priorNear(0.95));
      if (cs.lower > p || cs.upper < p) {
        missed++;
        break;
      }
    }
  }
  assert.ok(missed / 400 <= 0.05 + 0.02, `missed in ${missed} of 400 streams`);
});

test("drift alarm: false alarms over 3,000 audits stay under α (at the target itself and above it); after 97% → 70% it fires within a bounded number of audits", () => {
  const alpha = 0.05;
  const options = { target: 0.95, alpha };
  const falseAlarms = (p: number) => {
    let alarms = 0;
    for (let seed = 0; seed < 500; seed++) {
      const random = uniform(1000 + seed);
      let state = newDriftTest();
      for (let t = 0; t < 3000 && !driftAlarm(state, alpha); t++) state = observeDrift(state, random() < p ? 1 : 0, options);
      if (driftAlarm(state, alpha)) alarms++;
    }
    return alarms / 500;
  };
  const atTarget = falseAlarms(0.95);
  const above = falseAlarms(0.97);
  assert.ok(atTarget <= alpha + 0.015, `false alarms at the target: ${atTarget}`);
  assert.ok(above <= atTarget && above <= 0.02, `false alarms at 0.97: ${above}`);

  const delays: number[] = [];
  for (let seed = 0; seed < 300; seed++) {
    const random = uniform(5000 + seed);
    let state = newDriftTest();
    let t = 0;
    for (; t < 2000; t++) state = observeDrift(state, random() < 0.97 ? 1 : 0, options);
    if (driftAlarm(state, alpha)) continue; // a (rare) false alarm before the change: not a detection
    let after = 0;
    while (!driftAlarm(state, alpha) && after < 10_000) {
      state = observeDrift(state, random() < 0.7 ? 1 : 0, options);
      after++;
    }
    delays.push(after);
  }
  delays.sort((a, b) => a - b);
  const median = delays[Math.floor(delays.length / 2)]!;
  assert.ok(delays.length >= 290, `${delays.length} streams without a false alarm`);
  assert.ok(median <= 60, `median delay ${median}`);
  assert.ok(delays.at(-1)! <= 200, `longest delay ${delays.at(-1)}`);
  // The alarm is latched: more good outcomes do not clear it.
  let state = newDriftTest();
  for (let i = 0; i < 200; i++) state = observeDrift(state, 0, options);
  assert.ok(driftAlarm(state, alpha));
  for (let i = 0; i < 1000; i++) state = observeDrift(state, 1, options);
  assert.ok(driftAlarm(state, alpha));
});
