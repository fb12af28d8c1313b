// The README's loop, command by command, as written there: distill → serve → export-labels → distill →
// serve, against the local OpenAI-compatible server (OPENAI_BASE_URL) answering from a hidden rule (the
// gold labels of real texts, 10% flipped). Ends in a served certified cascade that audits itself.
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { cellText, readTable } from "../src/data/readers.js";
import { csvField } from "../src/data/writers.js";
import { parseStrategyFile } from "../src/strategies/factory.js";
import type { MockServer } from "./fixtures/openai-server.js";
import { startTeacher } from "./fixtures/teacher.js";
import { ROOT, runCliAsync, SHARED, spawnServe, tempDir, tempFile } from "./helpers.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
let teacher: MockServer;
let traffic: string[];
const cwd = join(tempDir(), "readme-loop");

before(async () => {
  teacher = await startTeacher(0.1);
  mkdirSync(cwd, { recursive: true });
  const table = await readTable(join(SHARED, "data/sentiment-merged/test_all.csv"));
  const texts = [...new Set(table.records.map((r) => cellText(r.values.sentence)))];
  tempFile("readme-loop/texts.csv", "text\n" + texts.slice(0, 3000).map((t) => csvField(t)).join("\n") + "\n");
  traffic = texts.slice(3000, 5500);
});
after(() => teacher.close());

/** The loop's commands, from README.md's first code block under "## The loop". */
function readmeLoop(): string[][] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## The loop"));
  const block = /```\n([\s\S]*?)```/.exec(section)![1]!;
  return block.trim().split("\n").map((line) => line.replace(/\s+#.*$/, "").trim().split(/\s+/));
}

const env = () => ({ OPENAI_API_KEY: "sk-test-loop", OPENAI_BASE_URL: teacher.url, TANDEM_PORT: "0" });

/** `./tandem ARGS` (the clone's launcher) as the built CLI, in the loop's folder. */
function tandemArgs(words: string[]): string[] {
  assert.equal(words[0], "./tandem");
  return words.slice(1);
}

async function serve(words: string[]): ReturnType<typeof spawnServe> {
  const args = tandemArgs(words);
  assert.equal(args[0], "serve");
  return spawnServe(args.slice(1), { cwd, env: env() });
}

async function stop(child: ChildProcess): Promise<void> {
  child.kill("SIGTERM");
  await new Promise((r) => child.once("exit", r));
}

async function cascadeInfo(url: string): Promise<Json> {
  const listed = (await (await fetch(`${url}/v1/strategies`)).json()) as Json;
  return listed.strategies.find((s: Json) => s.name === "cascade");
}

test("the README's loop runs as written: distill → serve (audited) → export-labels → distill → a served, certified, audited cascade", async () => {
  const steps = readmeLoop();
  assert.equal(steps.length, 5, steps.map((s) => s.join(" ")).join("\n"));
  const [distill1, serve1, exportLabels, distill2, serve2] = steps as [string[], string[], string[], string[], string[]];

  const first = await runCliAsync(tandemArgs(distill1), { cwd, env: env() });
  assert.equal(first.status, 0, first.stderr);
  const written = parseStrategyFile(readFileSync(join(cwd, "student/cascade.yaml"), "utf8"), join(cwd, "student/cascade.yaml"));
  const cascade = written.strategies.find((s) => s.name === "cascade")!;
  assert.ok(cascade.type === "cascade" && cascade.certificate?.certified && cascade.audit, "a certified cascade with an audit");

  // Served as written: the log names the watched quantity; traffic is audited and collected.
  const served = await serve(serve1);
  try {
    for (let i = 0; i < traffic.length; i += 50) {
      const response = await fetch(`${served.url}/v1/classify`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ texts: traffic.slice(i, i + 50) }) });
      assert.equal(response.status, 200);
    }
    let info = await cascadeInfo(served.url);
    for (let i = 0; i < 200 && info.audit.queued > 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      info = await cascadeInfo(served.url);
    }
    assert.equal(info.audit.quantity, "agreement of the cascade's answers with the LLM alone");
    // The audit's rate gate (60 calls a minute, a minute's worth at once) drops draws while it is spent, so the
    // sample's size depends on how fast the traffic comes: on a fast machine about 60 ÷ the kept share plus a
    // draw a second; never under 100 here. What the loop needs is that the next distill certifies (below).
    assert.ok(info.audit.sample.rows >= 100, `sample ${info.audit.sample.rows}`);
    assert.equal(info.audit.degraded, false, JSON.stringify(info.audit));
    assert.match(served.log(), /audit: watching the certified quantity/);
    assert.doesNotMatch(served.stderr(), /Warning/);
  } finally {
    await stop(served.child);
  }

  const exported = await runCliAsync(tandemArgs(exportLabels), { cwd, env: env() });
  assert.equal(exported.status, 0, exported.stderr);
  assert.match(exported.stderr, /rows \(\d+ in the audit sample\) to collected\.csv/);
  const collected = (await readTable(join(cwd, "collected.csv"))).records;
  assert.ok(collected.every((r) => JSON.parse(cellText(r.values.teacher)).model === "openai:gpt-4o-mini"), "every row names its teacher");

  const second = await runCliAsync(tandemArgs(distill2), { cwd, env: env() });
  assert.equal(second.status, 0, second.stderr);
  const rewritten = parseStrategyFile(readFileSync(join(cwd, "student-2/cascade.yaml"), "utf8"), join(cwd, "student-2/cascade.yaml"));
  assert.equal(rewritten.default, "cascade");
  const again = rewritten.strategies.find((s) => s.name === "cascade")!;
  const teacherAgain = rewritten.strategies.find((s) => s.name === "teacher")!;
  assert.ok(teacherAgain.type === "llm" && teacherAgain.model === "openai:gpt-4o-mini", "the same teacher");
  assert.ok(again.type === "cascade" && again.certificate?.certified && again.audit, `certified and audited: ${JSON.stringify(again)}`);

  const servedAgain = await serve(serve2);
  try {
    const info = await cascadeInfo(servedAgain.url);
    assert.equal(info.certificate.certified, true);
    assert.equal(info.audit.target, again.certificate!.target);
    const answer = (await (await fetch(`${servedAgain.url}/v1/classify`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ texts: ["An utterly delightful film."] }) })).json()) as Json;
    assert.ok(["student", "teacher"].includes(answer.results[0].answered_by));
  } finally {
    await stop(servedAgain.child);
  }
});

test("tandem demo --loop: the whole loop offline with the stand-in teacher, said to be one; each step's figures; the commands for a real LLM", async () => {
  const out = join(tempDir(), "demo-loop");
  const result = await runCliAsync(["demo", "--loop", "--out", out, "-f", "json"], { cwd: tempDir() });
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stderr, /distill: 1336 texts, asking a stand-in teacher, not an LLM/);
  const summary = JSON.parse(result.stdout) as Json;
  assert.match(summary.teacher, /not an LLM/);
  assert.equal(summary.first.certified, true);
  assert.ok(summary.first.teacher_share < 1);
  assert.equal(summary.served.texts, 668);
  assert.equal(summary.served.audit.quantity, "agreement of the cascade's answers with the LLM alone");
  assert.ok(summary.served.audit.sample_rows > 200, JSON.stringify(summary.served.audit));
  assert.ok(summary.collected.sample > 200 && summary.collected.rows >= summary.collected.sample);
  assert.ok(summary.second.calibration_labels > 0 && summary.second.calibration_labels <= summary.collected.sample, "the second distill calibrates on the uniform sample only");
  const text = await runCliAsync(["demo", "--loop", "--out", out], { cwd: tempDir() });
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /The loop, offline, with a stand-in teacher, not an LLM/);
  assert.match(text.stdout, /With your LLM, the same loop is:\n .*distill --teacher openai:gpt-4o-mini/);
});
