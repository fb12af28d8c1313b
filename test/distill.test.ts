// tandem distill end to end, with no network: the teacher is the local OpenAI-compatible server answering
// from a hidden rule (the gold labels of real texts of ../shared, 10% of them flipped). Rounds, the
// learning curve, the certificate, calibration never trained on, resume after SIGKILL without paying
// twice, the budget stop, teacher labels from a file, and the written cascade served by tandem serve.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { cellText, readTable } from "../src/data/readers.js";
import { csvField } from "../src/data/writers.js";
import { classifyWithEncoder } from "../src/encoders/inference.js";
import { EncoderModel } from "../src/encoders/model.js";
import { hasTorch } from "../src/training/engine.js";
import type { MockServer } from "./fixtures/openai-server.js";
import { goldByText, noisyAnswer, startTeacher } from "./fixtures/teacher.js";
import { ROOT, runCli, runCliAsync, SHARED, tempDir, tempFile } from "./helpers.js";

let teacher: MockServer;
let input: string;
let texts: string[];
const cache = join(tempDir(), "distill-encodings");
const LABELS = "negative,neutral,positive";

before(async () => {
  teacher = await startTeacher(0.1);
  const table = await readTable(join(SHARED, "data/sentiment-merged/val_all.csv"));
  texts = table.records.slice(0, 2400).map((r) => cellText(r.values.sentence));
  input = tempFile("distill-input.csv", "text\n" + texts.map((t) => csvField(t)).join("\n") + "\n");
});
after(() => teacher.close());

const teacherSpec = () => `compat:${teacher.url}#gpt-4o-mini`;
const args = (out: string, db: string, extra: string[] = []) => ["distill", "--teacher", teacherSpec(), "-i", input, "--labels", LABELS, "-o", out, "--db", db, "--cache-dir", cache, "--rounds", "3", "--per-round", "400", "--target-agreement", "0.9", "--student", "head", ...extra];

interface Summary {
  rounds: Array<{ round: number; trainingLabels?: number; training_labels: number; calibration_labels: number; final_agreement: number; paid_usd: number; answered: number }>;
  certified: { certified: boolean; tau: number; lower_bound: number; target: number; calibration_rows: number };
  teacher_share: number;
  costs: { labels_usd: number; paid_this_run_usd: number; price_basis: string | null };
  stopped: string | null;
  student: { training_labels: number; calibration_labels: number; quantization: string };
  run_id: string;
  config: string;
}

test("distill: three rounds (margin-chosen), the student's agreement rises, the certified cascade sends under half the texts to the teacher, calibration never trained on, the YAML serves", async () => {
  const out = join(tempDir(), "distill-main");
  const db = join(tempDir(), "distill-main.db");
  // Margin-chosen rounds (the default is random ones): with this simulated teacher they raise the head's agreement.
  const result = await runCliAsync([...args(out, db, ["--selection", "margin"]), "-f", "json"]);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stderr, /round 1\/3: asking the teacher about 400 texts \(120 for calibration, 280 for training, stratified by length\)/);
  assert.match(result.stderr, /round 3\/3: .*the student's least sure/);
  const summary = JSON.parse(result.stdout) as Summary;
  assert.deepEqual(summary.rounds.map((r) => r.round), [1, 2, 3]);
  assert.deepEqual(summary.rounds.map((r) => [r.training_labels, r.calibration_labels]), [[280, 120], [560, 240], [840, 360]]);
  const curve = summary.rounds.map((r) => r.final_agreement);
  assert.ok(curve[2]! > curve[0]!, `agreement on the final calibration sample rises: ${curve.join(" → ")}`);
  assert.equal(summary.certified.certified, true);
  assert.ok(summary.certified.lower_bound >= 0.9);
  assert.ok(summary.teacher_share < 0.5, `teacher share ${summary.teacher_share}`);
  assert.equal(summary.certified.calibration_rows, 360);
  assert.ok(Math.abs(summary.costs.labels_usd - summary.costs.paid_this_run_usd) < 1e-12, "a first run pays for every label");
  assert.equal(summary.student.quantization, "int8 (the backbone's)");

  // Calibration rows are never in training: the labels file's parts are disjoint, and the training rows are
  // exactly the ones the student was trained on (the model card's count).
  const labels = (await readTable(join(out, "labels.csv"))).records.map((r) => ({ text: cellText(r.values.text), part: cellText(r.values.part), label: cellText(r.values.teacher_label) }));
  const calibration = new Set(labels.filter((l) => l.part === "calibration").map((l) => l.text));
  const training = labels.filter((l) => l.part === "training");
  assert.equal(calibration.size, 360);
  assert.equal(training.length, 840);
  assert.ok(training.every((l) => !calibration.has(l.text)));
  assert.match(readFileSync(join(out, "model", "MODEL_CARD.md"), "utf8"), /840 for training, 360 for calibration/);
  // The teacher's hidden rule is what was recorded.
  const rule = noisyAnswer(await goldByText(), 0.1);
  assert.ok(labels.every((l) => l.label === rule(l.text)));
  // The report and the run in the run store.
  const report = readFileSync(join(out, "report.html"), "utf8");
  assert.match(report, /<table id="rounds">/);
  assert.match(report, /Certified: τ = /);
  const runs = runCli(["runs", "show", summary.run_id, "--db", db, "-f", "json"]);
  assert.equal(runs.status, 0, runs.stderr);
  assert.deepEqual((JSON.parse(runs.stdout) as { table: Array<{ strategy: string }> }).table.map((r) => r.strategy).sort(), ["cascade", "student", "teacher"]);

  // The cascade file serves: the student answers the confident texts, the teacher the rest.
  const config = parseYaml(readFileSync(summary.config, "utf8")) as { default: string; strategies: Array<{ name: string; tau?: number; certificate?: { target: number } }> };
  assert.equal(config.default, "cascade");
  assert.equal(config.strategies.find((s) => s.name === "cascade")!.tau, summary.certified.tau);
  const child = spawn(process.execPath, [join(ROOT, "dist/cli/main.js"), "serve", "--config", summary.config, "--port", "0", "--db", db, "--log-level", "silent"], { cwd: ROOT });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not ready: ${stderr}`)), 60_000);
      child.stderr.on("data", () => {
        const match = /ready on (http:\/\/\S+)/.exec(stderr);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
    });
    const sample = texts.slice(2000, 2060);
    const response = await fetch(`${url}/v1/classify`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ texts: sample }) });
    const body = (await response.json()) as { results: Array<{ answered_by: string; status: string }>; totals: { llm_share: number } };
    assert.equal(response.status, 200);
    assert.ok(body.results.every((r) => r.status === "ok"));
    assert.deepEqual([...new Set(body.results.map((r) => r.answered_by))].sort(), ["student", "teacher"]);
    const strategies = (await (await fetch(`${url}/v1/strategies`)).json()) as { strategies: Array<{ name: string; certificate?: { target: number; certified: boolean } }> };
    assert.deepEqual(strategies.strategies.find((s) => s.name === "cascade")!.certificate && [strategies.strategies.find((s) => s.name === "cascade")!.certificate!.target, strategies.strategies.find((s) => s.name === "cascade")!.certificate!.certified], [0.9, true]);
  } finally {
    child.kill("SIGTERM");
    await new Promise((resolve) => child.on("exit", resolve));
  }
});

test("distill killed with SIGKILL in round 2 resumes: no answer it received is paid twice", async () => {
  // The teacher answers 400 texts (round 1's 300 and 100 of round 2's), then holds every answer until the kill:
  // the kill lands inside round 2 whatever the machine's speed.
  let release = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  const slow = await startTeacher(0.1, { hold: { after: 400, until: held } });
  try {
    const out = join(tempDir(), "distill-killed");
    const db = join(tempDir(), "distill-killed.db");
    const command = ["distill", "--teacher", `compat:${slow.url}#gpt-4o-mini`, "-i", input, "--labels", LABELS, "-o", out, "--db", db, "--cache-dir", cache, "--rounds", "2", "--per-round", "300", "--target-agreement", "0.9", "--student", "head"];
    const child = spawn(process.execPath, [join(ROOT, "dist/cli/main.js"), ...command], { cwd: ROOT });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const exited = new Promise((resolve) => child.on("exit", resolve));
    const billed = () => [...slow.billed.values()].reduce((a, b) => a + b, 0);
    for (let i = 0; billed() < 400; i++) {
      if (i > 6000) throw new Error(`the teacher never answered 400 texts: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.match(stderr, /round 2\/2: asking/);
    child.kill("SIGKILL");
    await exited;
    // The calls held at the kill are answered (billed) now, but never received: the resume pays for them again.
    release();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const paidBefore = billed();
    assert.ok(paidBefore > 300 && paidBefore < 600, `killed inside round 2 (${paidBefore} answers paid)`);
    const resumed = await runCliAsync([...command, "-f", "json"]);
    assert.equal(resumed.status, 0, resumed.stderr);
    const summary = JSON.parse(resumed.stdout) as Summary;
    // Every answer received before the kill came from the cache; only calls in flight at the kill (at most
    // the teacher's 8 concurrent calls: answered by the server, never received) were paid again.
    const twice = [...slow.billed.values()].filter((n) => n > 1).length;
    assert.ok(twice <= 8, `${twice} prompts billed twice`);
    assert.ok([...slow.billed.values()].every((n) => n <= 2));
    assert.equal([...slow.billed.values()].length, 600);
    assert.equal(summary.rounds[0]!.paid_usd, 0, "round 1 came from the cache");
    assert.ok(summary.costs.paid_this_run_usd < summary.costs.labels_usd);
  } finally {
    await slow.close();
  }
});

test("distill --budget stops before passing it; teacher labels from a file need no live teacher; bad input is one line", async () => {
  const out = join(tempDir(), "distill-budget");
  const db = join(tempDir(), "distill-budget.db");
  const result = await runCliAsync([...args(out, db, ["--budget", "0.01"]), "-f", "json"]);
  assert.equal(result.status, 0, result.stderr);
  const summary = JSON.parse(result.stdout) as Summary;
  assert.equal(summary.stopped, "budget");
  assert.ok(summary.costs.labels_usd <= 0.01, `labels cost ${summary.costs.labels_usd}`);
  assert.ok(summary.rounds.length < 3);
  assert.match(result.stderr, /the budget of \$0\.01 is reached/);

  // Logged labels only: the labels file of the budget run, as logs.
  const logged = (await readTable(join(out, "labels.csv"))).records;
  const logs = tempFile("distill-logs.csv", "text,label,cost_usd\n" + logged.map((r) => `${csvField(cellText(r.values.text))},${cellText(r.values.teacher_label)},${cellText(r.values.cost_usd)}`).join("\n") + "\n");
  // A plain labels file names no teacher: without --llm-strategy a served cascade would have no LLM, so distill refuses at once.
  const unknown = runCli(["distill", "--teacher-labels", logs, "--labels", LABELS, "-o", join(tempDir(), "distill-logs"), "--db", db, "--cache-dir", cache]);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /^tandem: error: .*distill-logs\.csv: .*names no teacher \(no teacher column\): give --llm-strategy provider:model/);
  assert.equal(unknown.stderr.trim().split("\n").length, 1);
  const fromLogs = await runCliAsync(["distill", "--teacher-labels", logs, "--llm-strategy", teacherSpec(), "--labels", LABELS, "-o", join(tempDir(), "distill-logs"), "--db", db, "--cache-dir", cache, "--target-agreement", "0.8", "--student", "head", "-f", "json"]);
  assert.equal(fromLogs.status, 0, fromLogs.stderr);
  const logSummary = JSON.parse(fromLogs.stdout) as Summary;
  assert.deepEqual(logSummary.rounds.map((r) => r.round), [0]);
  assert.equal(logSummary.student.training_labels + logSummary.student.calibration_labels, logged.length);
  assert.equal(logSummary.costs.paid_this_run_usd, 0);
  assert.match(logSummary.costs.price_basis ?? "", /^the mean cost of \d+ priced teacher answers$/);
  const written = parseYaml(readFileSync(join(tempDir(), "distill-logs", "cascade.yaml"), "utf8")) as { default: string; strategies: Array<{ name: string; model?: string; audit?: { share: number } }> };
  assert.equal(written.default, "cascade", "the certified cascade, not the bare student");
  assert.equal(written.strategies.find((x) => x.name === "teacher")!.model, teacherSpec());
  assert.ok(written.strategies.find((x) => x.name === "cascade")!.audit!.share > 0);

  const bad = tempFile("distill-bad-logs.csv", "text,label\nfine,positive\nawful,terrible\n");
  const refused = runCli(["distill", "--teacher-labels", bad, "--llm-strategy", teacherSpec(), "--labels", LABELS, "-o", join(tempDir(), "distill-bad"), "--db", db, "--cache-dir", cache]);
  assert.equal(refused.status, 2);
  assert.match(refused.stderr, /distill-bad-logs\.csv, line 3: teacher label "terrible" is not one of negative, neutral, positive/);
  const none = runCli(["distill", "-i", input, "--labels", LABELS, "-o", join(tempDir(), "distill-none")]);
  assert.equal(none.status, 2);
  assert.match(none.stderr, /give --teacher \(an LLM strategy\) and\/or --teacher-labels FILE/);
});

test("distill's default student is the backbone fine-tuned (PyTorch engine), from the starter's own int8 graph; killed mid-fine-tune, it resumes from the last epoch's checkpoint", async (t) => {
  if (!hasTorch()) {
    assert.ok(!process.env.CI, "CI installs python3-torch (see .ci/run)");
    t.skip("no Python with torch here");
    return;
  }
  // Real LLM answers (GPT-4o-mini's, development only): 480 of them, about two thirds for training.
  const answers = (await readTable(join(SHARED, "data/llm-answers/gpt-4o-mini-zero-shot.csv"))).records.slice(0, 480);
  const labels = tempFile("full-student-labels.csv", "text,label\n" + answers.map((r) => `${csvField(cellText(r.values.text))},${cellText(r.values.llm_label)}`).join("\n") + "\n");
  const out = join(tempDir(), "full-student");
  const db = join(tempDir(), "full-student.db");
  const command = ["distill", "--teacher-labels", labels, "--llm-strategy", "openai:gpt-4o-mini", "--labels", LABELS, "-o", out, "--db", db, "--cache-dir", cache, "--epochs", "2", "-f", "json"];

  // The first run is killed once the first epoch's checkpoint is written.
  const child = spawn(process.execPath, [join(ROOT, "dist/cli/main.js"), ...command], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const checkpoint = join(out, ".fine-tune", "checkpoint.pt");
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  while (!existsSync(checkpoint)) {
    if (child.exitCode !== null) assert.fail(`distill ended before a checkpoint: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill("SIGKILL");
  await exited;
  assert.match(stderr, /fine-tuning starter on \d+ labels \(\d+ to choose the epoch\), 2 epochs, PyTorch engine/);

  const resumed = await runCliAsync(command);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, /resuming the fine-tune from its last checkpoint/);
  const summary = JSON.parse(resumed.stdout) as { student: { kind: string; quantization: string; training_labels: number }; certified: { tau: number }; teacher_share: number; costs: { per_text_usd: number; price_basis: string; teacher_per1000: number; saved_per1000: number } };
  assert.equal(summary.student.kind, "full");
  // The logs carry no costs: the dollars come from gpt-4o-mini's list price, and say so.
  assert.match(summary.costs.price_basis, /^estimated from list prices \(gpt-4o-mini, prices as of [\d-]+\), every answer at its output-token limit: an upper bound$/);
  assert.ok(summary.costs.per_text_usd > 0 && summary.costs.per_text_usd < 1e-3, String(summary.costs.per_text_usd));
  assert.ok(Math.abs(summary.costs.saved_per1000 - summary.costs.per_text_usd * 1000 * (1 - summary.teacher_share)) < 1e-12);
  assert.ok(summary.student.training_labels >= 300, String(summary.student.training_labels));
  assert.match(summary.student.quantization, /^int8, static activations \(label agreement with float/);
  assert.ok(!existsSync(join(out, ".fine-tune")), "the fine-tune's work folder is gone once the student is written");
  const model = await EncoderModel.load(join(out, "model"));
  const result = await classifyWithEncoder(model, ["An absolute delight from start to finish.", "The worst meal I have ever had."], { batchSize: 2, maxLength: 64 });
  await model.release();
  assert.deepEqual(result.predictions, ["positive", "negative"]);
});
