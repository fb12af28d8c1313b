// `tandem gateway` overhead (autocannon; the gateway, its upstream and the load generator in three
// processes on this 2-core machine). The upstream is a local server speaking the OpenAI wire that answers
// at once, so every millisecond measured is HTTP and the gateway's own work. Contenders, alternated in each
// round, best of ROUNDS (default 3) per figure:
// - direct: the upstream called without the gateway;
// - pass-through: a prompt that matches no task, through the gateway (added latency = this − direct);
// - student: a task's prompt whose text the served student keeps (answered locally, end to end).
// At concurrency 1 and 64, SECONDS (default 5) per run. The audit is off: the student contender sends only
// texts the student keeps, a traffic on which the cascade's agreement is below target (an alarm, rightly). The task is brought to serve first: 1,000 recorded
// answers, a head student distilled in the background (target agreement 0.9), auto-promoted.
// Usage: node --import tsx bench/gateway.ts
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { cellText, readTable } from "../src/data/readers.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const seconds = Number(process.env.SECONDS ?? 5);
const rounds = Number(process.env.ROUNDS ?? 3);
const dir = mkdtempSync(join(tmpdir(), "tandem-bench-gateway-"));
const SYSTEM = "Classify the sentiment of the review. Answer with one word: negative, neutral or positive.";
const texts = [...new Set((await readTable(join(ROOT, "../shared/data/llm-answers/gpt-4o-mini-zero-shot.csv"))).records.map((r) => cellText(r.values.text)))];

async function started(command: string[], pattern: RegExp, stream: "stdout" | "stderr"): Promise<{ child: ChildProcess; match: string }> {
  const child = spawn(process.execPath, command, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  if (process.env.BENCH_VERBOSE) child[stream === "stdout" ? "stderr" : "stdout"]!.on("data", (chunk: Buffer) => process.stderr.write(chunk));
  const match = await new Promise<string>((done, fail) => {
    child[stream]!.on("data", (chunk: Buffer) => {
      output += chunk;
      if (process.env.BENCH_VERBOSE) process.stderr.write(chunk);
      const found = pattern.exec(output);
      if (found) done(found[1]!);
    });
    child.on("exit", () => fail(new Error(output)));
  });
  return { child, match };
}

const upstream = await started(["--import", "tsx", join(ROOT, "bench/helpers/wire-upstream.ts")], /listening on (\S+)/, "stdout");
const config = join(dir, "gateway.yaml");
writeFileSync(config, `upstream: compat:${upstream.match}/v1#gpt-4o-mini
tasks:
  - name: sentiment
    messages:
      - { role: system, content: "${SYSTEM}" }
      - { role: user, content: "Review: {text}" }
    labels: [negative, neutral, positive]
    distill_after: 1000
    student: head
    target_agreement: 0.9
    auto_promote: true
    audit: { share: 0 }
`);
const gateway = await started([...(process.env.GATEWAY_NODE_ARGS ?? "").split(" ").filter(Boolean), join(ROOT, "dist/cli/main.js"), "gateway", "--config", config, "--db", join(dir, "state.db"), "--port", "0", "--log-level", process.env.BENCH_VERBOSE ? "warn" : "silent"], /listening on (http:\/\/\S+?)[ ,]/, "stderr");
const url = gateway.match;

const body = (text: string, model = "gpt-4o-mini") => JSON.stringify({ model, messages: [{ role: "system", content: SYSTEM }, { role: "user", content: `Review: ${text}` }] });
const post = (base: string, payload: string) => fetch(`${base}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", authorization: "Bearer sk-bench" }, body: payload });

// Record 1,000 answers (8 at a time), then wait for the student to be distilled and promoted.
const recorded = Date.now();
for (let i = 0; i < 1000; i += 8) await Promise.all(texts.slice(i, i + 8).map((t) => post(url, body(t)).then((r) => r.arrayBuffer())));
let stage = "";
while (stage !== "serve") {
  await new Promise((r) => setTimeout(r, 500));
  const { tasks } = (await (await fetch(`${url}/v1/gateway/tasks`)).json()) as { tasks: Array<{ stage: string; distill: { state: string; error: string | null }; student: { local_share: number } | null }> };
  stage = tasks[0]!.stage;
  if (tasks[0]!.distill.state === "failed") throw new Error(`distill failed: ${tasks[0]!.distill.error}`);
}
console.log(`recorded 1,000 answers, distilled and promoted in ${((Date.now() - recorded) / 1000).toFixed(1)} s`);
// Texts the student keeps (answered locally), from texts it never saw.
const kept: string[] = [];
for (const text of texts.slice(1000, 2000)) {
  const response = await post(url, body(text));
  await response.arrayBuffer();
  if (response.headers.get("x-tandem-answered-by") === "student") kept.push(text);
}
console.log(`the student answers ${kept.length} of 1,000 new texts locally`);

// autocannon's own histogram rounds to whole milliseconds; its per-response durations are exact.
async function load(base: string, connections: number, payloads: string[]): Promise<{ p50: number; p99: number; rps: number }> {
  let next = 0;
  const durations: number[] = [];
  const result = await new Promise<autocannon.Result>((done, fail) => {
    const run = autocannon({
      url: `${base}/v1/chat/completions`, connections, duration: seconds,
      requests: [{ method: "POST", headers: { "content-type": "application/json", authorization: "Bearer sk-bench" }, setupRequest: (request) => ({ ...request, body: payloads[next++ % payloads.length] }) }],
    }, (error, finished) => (error ? fail(error) : done(finished)));
    run.on("response", (_client, _status, _bytes, milliseconds) => void durations.push(milliseconds));
  });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${base} at ${connections} connections: ${result.non2xx} non-2xx answers (${JSON.stringify(result.statusCodeStats)}), ${result.errors} errors`);
  durations.sort((a, b) => a - b);
  const at = (q: number) => durations[Math.min(durations.length - 1, Math.floor(q * durations.length))]!;
  return { p50: at(0.5), p99: at(0.99), rps: durations.length / seconds };
}

const unmatched = texts.slice(2000, 3000).map((t) => JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: `Summarize: ${t}` }] }));
const studentBodies = kept.map((t) => body(t));
const best = new Map<string, { p50: number; p99: number; rps: number }>();
for (let round = 0; round < rounds; round++) {
  for (const connections of [1, 64]) {
    for (const [name, base, payloads] of [["direct", upstream.match, unmatched], ["pass-through", url, unmatched], ["student", url, studentBodies]] as const) {
      const result = await load(base, connections, payloads);
      const key = `${name}@${connections}`;
      const previous = best.get(key);
      best.set(key, { p50: Math.min(result.p50, previous?.p50 ?? Infinity), p99: Math.min(result.p99, previous?.p99 ?? Infinity), rps: Math.max(result.rps, previous?.rps ?? 0) });
    }
  }
}
console.log(`\nbest of ${rounds} rounds, ${seconds} s each (latency in ms)`);
console.log("concurrency  contender      p50     p99    requests/s");
for (const connections of [1, 64]) {
  for (const name of ["direct", "pass-through", "student"]) {
    const r = best.get(`${name}@${connections}`)!;
    console.log(`${String(connections).padStart(11)}  ${name.padEnd(12)} ${r.p50.toFixed(2).padStart(6)}  ${r.p99.toFixed(2).padStart(6)}  ${r.rps.toFixed(0).padStart(10)}`);
  }
  const direct = best.get(`direct@${connections}`)!;
  const through = best.get(`pass-through@${connections}`)!;
  console.log(`${" ".repeat(13)}pass-through adds ${(through.p50 - direct.p50).toFixed(2)} ms at p50, ${(through.p99 - direct.p99).toFixed(2)} ms at p99`);
}
for (const child of [gateway.child, upstream.child]) child.kill("SIGTERM");
