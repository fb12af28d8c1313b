// The audited cascade through a real HTTP client: drift (the LLM agrees 97% with the encoder on the first
// 2,000 requests, 70% after) degrades it within a bounded number of audits and never before; on_degraded
// llm; reset; feedback and live accuracy; the collected answers exported and distilled; traces reaching a
// local OTLP collector; `tandem serve` with no config.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import { join } from "node:path";
import { existsSync, readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import { cellText, readTable } from "../src/data/readers.js";
import { startServer, type RunningServer } from "../src/server/app.js";
import { startTracing } from "../src/server/tracing.js";
import { viewPlugin } from "../src/server/view.js";
import { parseStrategyFile } from "../src/strategies/factory.js";
import { lexiconPrediction } from "../src/strategies/lexicon.js";
import { promptForm } from "./fixtures/teacher.js";
import { startMockServer, type MockServer } from "./fixtures/openai-server.js";
import { runCliAsync, SHARED, spawnServe, tempDir } from "./helpers.js";

const LABELS = ["negative", "neutral", "positive"];
const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].find(existsSync);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
const post = async (url: string, body: unknown): Promise<Json> => {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: response.status, ...((await response.json()) as Json) };
};
const get = async (url: string): Promise<Json> => (await fetch(url)).json();

/** The LLM disagrees with the encoder (its answers, learnt first) on a `flip` share of texts, chosen by hash. */
let flip = 0.03;
const encoderAnswers = new Map<string, string>();
const unit = (text: string) => createHash("sha256").update(text).digest().readUInt32BE(0) / 4294967296;
let llm: MockServer;
let texts: string[];
before(async () => {
  llm = await startMockServer({
    oracle: (text) => {
      const label = encoderAnswers.get(promptForm(text)) ?? lexiconPrediction(promptForm(text)).label;
      return unit(`${flip}:${promptForm(text)}`) < flip ? LABELS[(LABELS.indexOf(label) + 1) % 3]! : label;
    },
  });
  const table = await readTable(join(SHARED, "data/sentiment-merged/test_all.csv"));
  texts = [...new Set(table.records.map((r) => promptForm(cellText(r.values.sentence))))].slice(0, 4000);
});
after(() => llm.close());

function config(extra = "", options: { on?: "cascade" | "encoder"; tau?: number } = {}): string {
  return `strategies:
  - name: encoder
    type: encoder
    model: starter
  - name: gpt
    type: llm
    model: compat:${llm.url}#gpt-4o-mini
  - name: cascade
    type: cascade
    encoder: encoder
    llm: gpt
    tau: ${options.tau ?? 0.6}
    certificate: { metric: agreement, on: ${options.on ?? "encoder"}, target: 0.95, confidence: 0.95, lower_bound: 0.952, certified: true, calibration_rows: 3000, calibration_hash: "test" }
    audit: { share: 1 }
    on_degraded: llm
${extra}default: cascade
`;
}

async function auditOf(server: RunningServer): Promise<Json> {
  const listed = await get(`${server.url}/v1/strategies`);
  return listed.strategies.find((s: { name: string }) => s.name === "cascade");
}

/** Waits until every kept answer sent so far has its audit answer. */
async function settled(server: RunningServer, kept: number): Promise<Json> {
  for (let i = 0; i < 600; i++) {
    const info = await auditOf(server);
    if (info.audit.audited + info.audit.dropped.failed >= kept) return info;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("the audit queue did not drain");
}

test("audit of the kept answers (certificate on: encoder): no alarm while the LLM agrees 97%; after the drop to 70% degraded within a bounded number of audits; on_degraded llm; reset; feedback; export-labels → distill", async () => {
  const db = join(tempDir(), `audit-${process.pid}.db`);
  flip = 0.03;
  const server = await startServer({ strategies: parseStrategyFile(config(), "audit.yaml"), port: 0, store: db, logger: false, plugins: [viewPlugin({ store: db })] });
  await server.ready;
  try {
    for (let i = 0; i < texts.length; i += 256) {
      const answered = await post(`${server.url}/v1/classify`, { texts: texts.slice(i, i + 256), strategy: "encoder" });
      answered.results.forEach((r: Json, j: number) => encoderAnswers.set(texts[i + j]!, r.label));
    }
    let kept = 0;
    let routed = 0;
    const ids: Array<{ id: string; text: string; label: string; by: string }> = [];
    const send = async (from: number, count: number) => {
      for (let i = from; i < from + count; i += 20) {
        const batch = await Promise.all(texts.slice(i, Math.min(i + 20, from + count)).map((text) => post(`${server.url}/v1/classify`, { texts: [text] })));
        for (const [j, response] of batch.entries()) {
          const result = response.results[0];
          if (result.answered_by === "encoder") kept++;
          else routed++;
          ids.push({ id: result.id, text: texts[i + j]!, label: result.label, by: result.answered_by });
        }
      }
    };
    await send(0, 2000);
    const before = await settled(server, kept);
    assert.ok(routed > 0 && kept > 1000, `${kept} kept, ${routed} routed`);
    assert.equal(before.audit.audited, kept);
    assert.equal(before.audit.quantity, "agreement of the encoder's kept answers with the LLM alone");
    assert.equal(before.audit.target_from, "certificate");
    assert.equal(before.audit.sample.rows, kept + routed, "every answer is drawn (share 1): the sample is uniform over all of them");
    assert.equal(before.audit.degraded, false, "no alarm before the change");
    assert.ok(Math.abs(before.audit.agreement - 0.97) < 0.015, `agreement ${before.audit.agreement}`);
    assert.ok(before.audit.lower_bound < before.audit.agreement && before.audit.agreement < before.audit.upper_bound);
    // The anytime-valid interval covers the LLM's built-in 97% (wider than a fixed-n interval: it holds at every look).
    assert.ok(before.audit.lower_bound < 0.97 && before.audit.upper_bound > 0.97 && before.audit.lower_bound > 0.9, `[${before.audit.lower_bound}, ${before.audit.upper_bound}]`);
    assert.equal(before.traffic.texts, 2000);
    assert.deepEqual((await get(`${server.url}/readyz`)).degraded, []);

    // The drift: one request at a time, until the alarm.
    flip = 0.3;
    const auditedAtChange = before.audit.audited;
    let next = 2000;
    let info = before;
    while (!info.audit.degraded && next < 4000) {
      await send(next, 10);
      next += 10;
      info = await settled(server, kept);
    }
    assert.equal(info.audit.degraded, true, "degraded after the drop");
    const delay = info.audit.degraded_at_audit - auditedAtChange;
    assert.ok(delay > 0 && delay <= 200, `degraded ${delay} audits after the change`);
    process.stderr.write(`audit: ${before.audit.audited} audits before the change, agreement ${before.audit.agreement.toFixed(4)} [${before.audit.lower_bound.toFixed(4)}, ${before.audit.upper_bound.toFixed(4)}], degraded ${delay} audits after it\n`);
    assert.deepEqual((await get(`${server.url}/readyz`)).degraded, ["cascade"]);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /tandem_strategy_degraded\{strategy="cascade"\} 1/);
    assert.match(metrics, /tandem_audit_agreement_lower_bound\{strategy="cascade",quantity="agreement_encoder"\} 0\.\d+/);
    assert.match(metrics, /tandem_audit_target\{strategy="cascade",quantity="agreement_encoder"\} 0\.95/);
    assert.match(metrics, /^tandem_process_cpu_seconds_total /m);
    assert.match(metrics, /tandem_confidence_bucket\{le="0.9",strategy="cascade",member="encoder"\} \d+/);

    // The web app's live page shows it: the degraded badge, the agreement with its bounds over time.
    if (CHROMIUM) {
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
      try {
        const page = await browser.newPage();
        await page.goto(`${server.url}/#/live`);
        const row = page.locator('[data-testid=live] tr[data-strategy=cascade][data-degraded=true]');
        await row.waitFor({ timeout: 15_000 });
        assert.match(await row.innerText(), /degraded since/);
        await page.locator("#live-cascade[data-rendered=true]").waitFor({ timeout: 15_000 });
        assert.equal(await page.locator('[data-testid=live] tr[data-strategy=encoder][data-degraded]').count(), 0);
      } finally {
        await browser.close();
      }
    } else assert.ok(!process.env.CI, "CI installs Debian's chromium (see .ci/run)");

    // on_degraded: llm — the LLM answers everything, even a text the lexicon is sure of.
    const degradedAnswer = await post(`${server.url}/v1/classify`, { texts: ["I love this wonderful, brilliant film!"] });
    assert.equal(degradedAnswer.results[0].answered_by, "gpt");
    const reset = await post(`${server.url}/v1/strategies/cascade/audit/reset`, {});
    assert.equal(reset.audit.degraded, false);
    assert.equal(reset.audit.audited, 0);
    assert.equal((await post(`${server.url}/v1/classify`, { texts: ["I love this wonderful, brilliant film!"] })).results[0].answered_by, "encoder");

    // Feedback: live accuracy by member with bounds.
    const keptAnswer = ids.find((a) => a.by === "encoder")!;
    const right = await post(`${server.url}/v1/feedback`, { id: keptAnswer.id, label: keptAnswer.label });
    assert.equal(right.correct, true);
    assert.deepEqual(right.live_accuracy.map((a: Json) => [a.answered_by, a.n, a.accuracy]), [["encoder", 1, 1]]);
    const other = ids.filter((a) => a.by === "encoder")[1]!;
    const wrong = await post(`${server.url}/v1/feedback`, { id: other.id, label: LABELS.find((l) => l !== other.label) });
    assert.equal(wrong.correct, false);
    const live = (await auditOf(server)).live_accuracy[0];
    assert.equal(live.n, 2);
    assert.equal(live.accuracy, 0.5);
    // A second feedback for the same answer replaces the first: still 2 answers, now both right.
    const corrected = await post(`${server.url}/v1/feedback`, { id: other.id, label: other.label });
    assert.deepEqual(corrected.live_accuracy.map((a: Json) => [a.answered_by, a.n, a.correct]), [["encoder", 2, 2]]);
    await post(`${server.url}/v1/feedback`, { id: other.id, label: LABELS.find((l) => l !== other.label) });
    assert.ok(live.lower_bound < 0.5 && live.upper_bound > 0.5);
    assert.equal((await post(`${server.url}/v1/feedback`, { id: "no-such-id", label: "positive" })).status, 404);
    const badLabel = await post(`${server.url}/v1/feedback`, { id: other.id, label: "great" });
    assert.equal(badLabel.status, 400);
    assert.match(badLabel.error ?? badLabel.message, /label "great" is not one of negative, neutral, positive/);
  } finally {
    await server.close();
  }

  // Collected: every audit pair and every paid LLM answer, exported as teacher labels.
  const exported = join(tempDir(), `audit-labels-${process.pid}.csv`);
  const exportRun = await runCliAsync(["serve", "export-labels", "--db", db, "-o", exported, "--strategy", "cascade"]);
  assert.equal(exportRun.status, 0, exportRun.stderr);
  const rows = (await readTable(exported)).records;
  const sampled = rows.filter((r) => cellText(r.values.sample) === "1");
  assert.ok(rows.length >= 2000, `${rows.length} rows`);
  assert.match(exportRun.stderr, new RegExp(`${rows.length} rows \\(${sampled.length} in the audit sample\\)`));
  assert.deepEqual([...new Set(rows.map((r) => cellText(r.values.kind)))].sort(), ["audit", "llm"]);
  // Which LLM answered: the served strategy's config, so the next distill writes a cascade with the same teacher.
  assert.deepEqual([...new Set(rows.map((r) => JSON.parse(cellText(r.values.teacher)).model))], [`compat:${llm.url}#gpt-4o-mini`]);
  assert.match(exportRun.stderr, /the cascade agreed with the LLM on \d+\.\d+% of it, where a certificate of agreement >= 95\.00% at 95\.00% confidence for the current τ needs/);
  const audit = rows.find((r) => cellText(r.values.kind) === "audit")!;
  assert.ok(LABELS.includes(cellText(audit.values.encoder_label)) && Number(cellText(audit.values.encoder_confidence)) > 0);

  // … which distill reads: only the uniform audit sample may calibrate.
  const out = join(tempDir(), `audit-distill-${process.pid}`);
  const distilled = await runCliAsync(["distill", "--teacher-labels", exported, "--labels", LABELS.join(","), "-o", out, "--db", db, "--cache-dir", join(tempDir(), "audit-encodings"), "--target-agreement", "0.8", "--student", "head", "-f", "json"]);
  assert.equal(distilled.status, 0, distilled.stderr);
  const summary = JSON.parse(distilled.stdout) as Json;
  assert.equal(summary.student.training_labels + summary.student.calibration_labels, new Set(rows.map((r) => cellText(r.values.text))).size);
  const parts = (await readTable(join(out, "labels.csv"))).records;
  const sampledTexts = new Set(sampled.map((r) => cellText(r.values.text)));
  const calibration = parts.filter((r) => cellText(r.values.part) === "calibration");
  assert.ok(calibration.length > 0);
  assert.ok(calibration.every((r) => sampledTexts.has(cellText(r.values.text))), "calibration only from the audit sample");
  // The written cascade asks the LLM that gave the labels, and is audited.
  const written = parseStrategyFile(readFileSync(join(out, "cascade.yaml"), "utf8"), join(out, "cascade.yaml"));
  assert.equal(written.default, "cascade");
  const teacher = written.strategies.find((s) => s.name === "teacher")!;
  assert.equal(teacher.type === "llm" && teacher.model, `compat:${llm.url}#gpt-4o-mini`);
  const cascade = written.strategies.find((s) => s.name === "cascade")!;
  assert.ok(cascade.type === "cascade" && cascade.audit && cascade.audit.share > 0 && cascade.certificate);
  assert.match(readFileSync(join(out, "cascade.yaml"), "utf8"), /# audit: 20% of the answers, drawn uniformly, are checked against the LLM/);
});

/** Waits until the LLM answered every kept answer drawn so far (the audit's own calls). */
async function settledCalls(server: RunningServer, kept: number): Promise<Json> {
  for (let i = 0; i < 600; i++) {
    const info = await auditOf(server);
    if (info.audit.llm_calls + info.audit.dropped.failed >= kept) return info;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error("the audit queue did not drain");
}

test("audit of the cascade's agreement (the default certificate): kept answers agreeing 88% and a cascade agreeing 96% raise no alarm over 3,000 audits; a 30% flip of the LLM's answers raises it", async () => {
  // τ where the encoder keeps about a third of the texts: cascade agreement = 2/3 + 1/3 · 0.88 ≈ 0.96 against a 0.95 target.
  const confidences: number[] = [];
  const probe = await startServer({ strategies: parseStrategyFile(config(), "probe.yaml"), port: 0, store: join(tempDir(), `probe-${process.pid}.db`), logger: false });
  await probe.ready;
  try {
    for (let i = 0; i < 3000; i += 256) {
      const answered = await post(`${probe.url}/v1/classify`, { texts: texts.slice(i, Math.min(i + 256, 3000)), strategy: "encoder" });
      for (const [j, r] of (answered.results as Json[]).entries()) {
        encoderAnswers.set(texts[i + j]!, r.label);
        confidences.push(Math.max(...(Object.values(r.probabilities) as number[])));
      }
    }
  } finally {
    await probe.close();
  }
  const tau = [...confidences].sort((a, b) => a - b)[Math.floor(confidences.length * 2 / 3)]!;
  flip = 0.12;
  const server = await startServer({ strategies: parseStrategyFile(config("", { on: "cascade", tau }), "cascade-scope.yaml"), port: 0, store: join(tempDir(), `cascade-scope-${process.pid}.db`), logger: false });
  await server.ready;
  try {
    let kept = 0;
    let keptAgreed = 0;
    // One request of 20 texts at a time, each settled before the next: the outcomes come in a fixed order.
    const send = async (from: number, to: number, until?: () => Promise<boolean>) => {
      for (let i = from; i < to; i += 20) {
        const answered = await post(`${server.url}/v1/classify`, { texts: texts.slice(i, Math.min(i + 20, to)) });
        for (const r of answered.results as Json[]) if (r.answered_by === "encoder") kept++;
        await settledCalls(server, kept);
        if (until && (await until())) return i + 20;
      }
      return to;
    };
    await send(0, 3000);
    const info = await auditOf(server);
    keptAgreed = info.audit.agreed - (info.audit.audited - kept);
    const keptAgreement = keptAgreed / kept;
    process.stderr.write(`audit (cascade scope): ${info.audit.audited} audits, ${kept} kept (agreement ${keptAgreement.toFixed(4)}), cascade agreement ${info.audit.agreement.toFixed(4)} [${info.audit.lower_bound.toFixed(4)}, ${info.audit.upper_bound.toFixed(4)}], ${info.audit.llm_calls} LLM calls\n`);
    assert.equal(info.audit.quantity, "agreement of the cascade's answers with the LLM alone");
    assert.equal(info.audit.audited, 3000, "every answer is an outcome: routed ones at no cost");
    assert.equal(info.audit.llm_calls, kept, "only kept answers are asked of the LLM");
    assert.ok(Math.abs(keptAgreement - 0.88) < 0.03, `kept agreement ${keptAgreement}`);
    assert.ok(Math.abs(info.audit.agreement - 0.96) < 0.015, `cascade agreement ${info.audit.agreement}`);
    assert.equal(info.audit.degraded, false, "the certificate holds: no alarm");
    assert.equal(info.audit.sample.rows, 3000);
    assert.ok(info.audit.sample.rows_to_recertify > 100, JSON.stringify(info.audit.sample));

    // The LLM now disagrees with 30% of the encoder's answers: cascade agreement ≈ 0.90 < 0.95.
    flip = 0.3;
    const next = await send(3000, texts.length, async () => (await auditOf(server)).audit.degraded);
    const after = await auditOf(server);
    assert.equal(after.audit.degraded, true, `degraded after the flip (${next - 3000} texts sent)`);
    const delay = after.audit.degraded_at_audit - 3000;
    assert.ok(delay > 0 && delay <= 800, `degraded ${delay} audits after the flip`);
    process.stderr.write(`audit (cascade scope): degraded ${delay} audits after the flip\n`);
  } finally {
    await server.close();
  }
});

test("tracing: spans of the request, the encoder batch and call, and each LLM call (GenAI conventions) reach a local OTLP collector", async () => {
  const received: Json[] = [];
  const collector = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8").on("data", (c: string) => (body += c)).on("end", () => {
      if (req.url === "/v1/traces") received.push(JSON.parse(body));
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((r) => collector.listen(0, "127.0.0.1", r));
  const port = (collector.address() as { port: number }).port;
  const tracing = await startTracing(`http://127.0.0.1:${port}/v1/traces`, "tandem-test");
  const server = await startServer({
    strategies: parseStrategyFile(`strategies:
  - { name: encoder, type: encoder, model: starter }
  - { name: gpt, type: llm, model: "compat:${llm.url}#gpt-4o-mini" }
  - { name: cascade, type: cascade, encoder: encoder, llm: gpt, tau: 0.99 }
default: cascade
`, "trace.yaml"),
    port: 0, store: join(tempDir(), `trace-${process.pid}.db`), logger: false,
  });
  await server.ready;
  try {
    const answer = await post(`${server.url}/v1/classify`, { texts: ["It was fine, I guess.", "A masterpiece."] });
    assert.equal(answer.status, 200, JSON.stringify(answer));
  } finally {
    await server.close();
    await tracing.shutdown();
    await new Promise<void>((r) => collector.close(() => r()));
  }
  const spans = received.flatMap((r) => r.resourceSpans.flatMap((rs: Json) => rs.scopeSpans.flatMap((s: Json) => s.spans)));
  const names = spans.map((s: Json) => s.name);
  for (const name of ["POST /v1/classify", "batch encoder", "encoder encoder", "chat gpt-4o-mini"]) assert.ok(names.includes(name), `${name} in ${names.join(", ")}`);
  const attrs = (span: Json) => Object.fromEntries(span.attributes.map((a: Json) => [a.key, Object.values(a.value)[0]]));
  const chat = attrs(spans.find((s: Json) => s.name === "chat gpt-4o-mini"));
  assert.equal(chat["gen_ai.operation.name"], "chat");
  assert.equal(chat["gen_ai.request.model"], "gpt-4o-mini");
  assert.ok(Number(chat["gen_ai.usage.input_tokens"]) > 0 && Number(chat["gen_ai.usage.output_tokens"]) > 0);
  const request = spans.find((s: Json) => s.name === "POST /v1/classify");
  assert.equal(attrs(request)["tandem.texts"], 2);
  // One trace: the LLM call is a descendant of the request.
  assert.equal(spans.find((s: Json) => s.name === "chat gpt-4o-mini").traceId, request.traceId);
  const resource = received[0].resourceSpans[0].resource.attributes.find((a: Json) => a.key === "service.name");
  assert.equal(resource.value.stringValue, "tandem-test");
});

test("tandem serve with no --config serves the bundled starter and the lexicon, and says how to add a cascade", async () => {
  const { url, child, stderr } = await spawnServe(["--port", "0", "--db", join(tempDir(), "default-serve.db"), "--log-level", "silent"], { cwd: tempDir() });
  try {
    assert.match(stderr(), /no --config: serving the bundled starter \(`encoder`\) and `lexicon`; for a cascade with a certified τ run `tandem tune cascade .* --write-config cascade\.yaml`/);
    const listed = await get(`${url}/v1/strategies`);
    assert.equal(listed.default, "encoder");
    assert.deepEqual(listed.strategies.map((s: Json) => s.name), ["encoder", "lexicon"]);
    const answer = await post(`${url}/v1/classify`, { texts: ["An utterly delightful film."] });
    assert.equal(answer.results[0].label, "positive");
    assert.equal(answer.results[0].answered_by, "encoder");
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => child.on("exit", r));
  }
});
