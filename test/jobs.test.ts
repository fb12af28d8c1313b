// Batch jobs through the real HTTP API and CLI client: in-process (SQLite, resumed after a restart) and
// on BullMQ workers in Redis (a Debian redis-server started here on a free port), with workers killed
// by SIGKILL mid-job: every row exactly once, in input order, the same as `tandem classify`.
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { readTable } from "../src/data/readers.js";
import { TableWriter } from "../src/data/writers.js";
import { startServer, type RunningServer } from "../src/server/app.js";
import { jobsPlugin } from "../src/server/jobs.js";
import { parseStrategyFile } from "../src/strategies/factory.js";
import { startMockServer, type Faults, type MockServer } from "./fixtures/openai-server.js";
import { ROOT, runCli, runCliAsync, SHARED, tempDir, tempFile } from "./helpers.js";

let llm: MockServer;
// Read by the server at every call: a test may hold answers for a while (see the cancel test).
const llmFaults: Faults = { latencyMs: 2 };
before(async () => {
  llm = await startMockServer(llmFaults);
});
after(async () => {
  await llm.close();
});

const strategies = () => `strategies:
  - name: lexicon
    type: lexicon
  - name: gpt
    type: llm
    model: compat:${llm.url}#gpt-4o-mini
    concurrency: 16
default: lexicon
`;

/** n rows cycled from the merged test split, every text distinct (repeats get their row number). */
async function rows(name: string, n: number): Promise<string> {
  const table = await readTable(join(SHARED, "data/sentiment-merged/test_all.csv"));
  const file = join(tempDir(), name);
  const writer = new TableWriter(file, table.columns);
  for (let i = 0; i < n; i++) {
    const values = table.records[i % table.records.length]!.values;
    writer.write(i < table.records.length ? values : { ...values, sentence: `${String(values.sentence)} [${i}]` });
  }
  writer.close();
  return file;
}

async function serve(db: string, redis?: string): Promise<RunningServer> {
  const file = parseStrategyFile(strategies(), "serve.yaml");
  const server = await startServer({ strategies: file, port: 0, store: db, plugins: [jobsPlugin({ redis, chunkSize: 500 }, file.strategies, db)] });
  await server.ready;
  return server;
}

async function waitFor(url: string, id: string, until: (job: { state: string; done: number }) => boolean, seconds = 240): Promise<{ state: string; done: number; rows: number; failed: number }> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const job = (await (await fetch(`${url}/v1/jobs/${id}`)).json()) as { state: string; done: number; rows: number; failed: number };
    if (until(job)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${job.state} (${job.done} done)`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test("jobs in the server: submit (CSV body, multipart, JSONL), status, results identical to classify, errors, cancel", async () => {
  const db = join(tempDir(), "jobs-local.db");
  const server = await serve(db);
  try {
    const input = await rows("jobs-1200.csv", 1200);
    const submitted = await fetch(`${server.url}/v1/jobs?strategy=lexicon&chunk_size=100`, { method: "POST", headers: { "content-type": "text/csv" }, body: readFileSync(input) });
    assert.equal(submitted.status, 202);
    const job = (await submitted.json()) as { id: string; rows: number; chunks: number; state: string };
    assert.equal(job.rows, 1200);
    assert.equal(job.chunks, 12);
    const early = await fetch(`${server.url}/v1/jobs/${job.id}/results`);
    assert.ok(early.status === 409 || early.status === 200);
    const finished = await waitFor(server.url, job.id, (j) => j.state === "done");
    assert.equal(finished.done, 1200);
    const results = await (await fetch(`${server.url}/v1/jobs/${job.id}/results`)).text();
    const classified = join(tempDir(), "jobs-classify.csv");
    assert.equal(runCli(["classify", "--strategy", "lexicon", "-i", input, "-o", classified]).status, 0);
    assert.equal(results, readFileSync(classified, "utf8"), "job results = tandem classify output, byte for byte");

    // Multipart upload of JSONL, through the CLI client with --wait.
    const jsonl = tempFile("jobs.jsonl", '{"text":"I love it","id":1}\n{"text":"Awful, never again","id":2}\n');
    const form = new FormData();
    form.set("strategy", "lexicon");
    form.set("file", new Blob([readFileSync(jsonl)]), "jobs.jsonl");
    const viaForm = (await (await fetch(`${server.url}/v1/jobs`, { method: "POST", body: form })).json()) as { id: string; rows: number };
    assert.equal(viaForm.rows, 2);
    await waitFor(server.url, viaForm.id, (j) => j.state === "done");
    const lines = (await (await fetch(`${server.url}/v1/jobs/${viaForm.id}/results?format=jsonl`)).text()).trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => [l.id, l.prediction]), [[1, "positive"], [2, "negative"]]);

    const out = join(tempDir(), "jobs-cli-out.csv");
    const cli = await runCliAsync(["jobs", "submit", input, "--server", server.url, "--strategy", "lexicon", "--wait", "-o", out, "--poll-seconds", "0.05"]);
    assert.equal(cli.status, 0, cli.stderr);
    assert.equal(readFileSync(out, "utf8"), readFileSync(classified, "utf8"));
    const status = await runCliAsync(["jobs", "status", viaForm.id, "--server", server.url, "--format", "json"]);
    assert.equal(JSON.parse(status.stdout).state, "done");

    // Bad input: one line naming the upload and the line; unknown strategy; unknown job; wrong type.
    const bad = await fetch(`${server.url}/v1/jobs`, { method: "POST", headers: { "content-type": "text/csv" }, body: 'sentence\nfine\n"broken\n' });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /^body, line 3: a quoted field is never closed/);
    const unknown = await fetch(`${server.url}/v1/jobs?strategy=nope`, { method: "POST", headers: { "content-type": "text/csv" }, body: "sentence\nfine\n" });
    assert.equal(unknown.status, 400);
    assert.equal(((await unknown.json()) as { field: string }).field, "strategy");
    assert.equal((await fetch(`${server.url}/v1/jobs/job-none`)).status, 404);
    assert.equal((await fetch(`${server.url}/v1/jobs`, { method: "POST", headers: { "content-type": "application/pdf" }, body: "x" })).status, 415);
    const missing = await runCliAsync(["jobs", "status", "job-none", "--server", server.url]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /HTTP 404: no such job/);

    // Cancel: a job stops; its results stay partial. The LLM holds its answers after the first 100 of this
    // job until the cancel is in, so the job cannot finish first whatever the machine's speed.
    let release = () => {};
    llmFaults.hold = { after: [...llm.billed.values()].reduce((a, b) => a + b, 0) + 100, until: new Promise<void>((resolve) => (release = resolve)) };
    const slow = (await (await fetch(`${server.url}/v1/jobs?strategy=gpt&chunk_size=50`, { method: "POST", headers: { "content-type": "text/csv" }, body: readFileSync(input) })).json()) as { id: string };
    await waitFor(server.url, slow.id, (j) => j.done >= 50);
    const cancelled = (await (await fetch(`${server.url}/v1/jobs/${slow.id}`, { method: "DELETE" })).json()) as { state: string };
    release();
    delete llmFaults.hold;
    assert.equal(cancelled.state, "cancelled");
    assert.equal((await fetch(`${server.url}/v1/jobs/${slow.id}/results`)).status, 409);
    const after = (await (await fetch(`${server.url}/v1/jobs/${slow.id}`)).json()) as { done: number; state: string };
    assert.equal(after.state, "cancelled");
    assert.ok(after.done < 1200);
  } finally {
    await server.close();
  }
});

test("jobs in the server survive a restart: unfinished chunks resume, paid answers are not paid again", async () => {
  const db = join(tempDir(), "jobs-restart.db");
  const input = await rows("jobs-restart.csv", 1000);
  let server = await serve(db);
  const job = (await (await fetch(`${server.url}/v1/jobs?strategy=gpt&chunk_size=100`, { method: "POST", headers: { "content-type": "text/csv" }, body: readFileSync(input) })).json()) as { id: string };
  await waitFor(server.url, job.id, (j) => j.done >= 200);
  await server.close();
  const billedAtStop = [...llm.billed.values()].reduce((a, b) => a + b, 0);
  server = await serve(db);
  try {
    const done = await waitFor(server.url, job.id, (j) => j.state === "done");
    assert.equal(done.done, 1000);
    const results = await readTable(tempFile("jobs-restart-out.csv", await (await fetch(`${server.url}/v1/jobs/${job.id}/results`)).text()));
    assert.equal(results.records.length, 1000);
    assert.ok(results.records.every((r) => r.values.status === "ok" || r.values.status === "unparseable"));
    const billed = [...llm.billed.values()].reduce((a, b) => a + b, 0);
    assert.ok(billed - billedAtStop < 1000, "the restart did not start over");
  } finally {
    await server.close();
  }
});

/** A free local port. */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const port = (probe.address() as { port: number }).port;
      probe.close(() => resolve(port));
    });
  });
}

const redisServer = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].find((path) => existsSync(path));

test("jobs on Redis: 20,000 rows over three BullMQ workers, two killed by SIGKILL mid-job: every row exactly once, in order, as classify gives", { skip: !redisServer && !process.env.CI ? "redis-server is not installed (apt-get install redis-server; .ci/run does)" : false }, async () => {
  assert.ok(redisServer, "CI installs redis-server");
  const port = await freePort();
  const redis = spawn(redisServer, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  const workers: ChildProcess[] = [];
  let server: RunningServer | undefined;
  try {
    const url = `redis://127.0.0.1:${port}`;
    for (let i = 0; i < 50 && spawnSync("redis-cli", ["-p", String(port), "ping"], { encoding: "utf8" }).stdout?.trim() !== "PONG"; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    const db = join(tempDir(), "jobs-redis.db");
    const workerDb = join(tempDir(), "jobs-workers.db");
    const config = tempFile("jobs-redis.yaml", strategies());
    const startWorker = () => {
      const child = spawn(process.execPath, [join(ROOT, "dist/cli/main.js"), "worker", "--redis", url, "--config", config, "--db", workerDb, "--lock-seconds", "2", "--slice", "32"], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
      workers.push(child);
      return child;
    };
    for (let i = 0; i < 3; i++) startWorker();
    server = await serve(db, url);
    const input = await rows("jobs-20000.csv", 20_000);
    const billedBefore = new Map(llm.billed);
    const job = (await (await fetch(`${server.url}/v1/jobs?strategy=gpt&chunk_size=500`, { method: "POST", headers: { "content-type": "text/csv" }, body: readFileSync(input) })).json()) as { id: string; chunks: number };
    assert.equal(job.chunks, 40);
    await waitFor(server.url, job.id, (j) => j.done >= 3000);
    workers[0]!.kill("SIGKILL");
    startWorker();
    await waitFor(server.url, job.id, (j) => j.done >= 10_000);
    workers[1]!.kill("SIGKILL");
    startWorker();
    const done = await waitFor(server.url, job.id, (j) => j.state !== "queued" && j.state !== "running", 400);
    assert.equal(done.state, "done");
    assert.equal(done.done, 20_000);
    const results = await (await fetch(`${server.url}/v1/jobs/${job.id}/results`)).text();

    // The same file through tandem classify, answered from the same cache: the same rows and answers.
    const classified = join(tempDir(), "jobs-redis-classify.csv");
    const cli = await runCliAsync(["classify", "--strategy", "llm", "--model", `compat:${llm.url}#gpt-4o-mini`, "--concurrency", "16", "-i", input, "-o", classified, "--db", workerDb]);
    assert.equal(cli.status, 0, cli.stderr);
    const ours = (await readTable(tempFile("jobs-redis-results.csv", results))).records.map((r) => r.values);
    const theirs = (await readTable(classified)).records.map((r) => r.values);
    assert.equal(ours.length, 20_000);
    let cachedInJob = 0;
    ours.forEach((row, i) => {
      const { cached, ...rest } = row;
      const { cached: _ignored, ...expected } = theirs[i]!;
      assert.deepEqual(rest, expected, `row ${i + 1}`);
      if (cached === "true") cachedInJob++;
    });
    // Answers paid by a killed worker and cached before it died are read back, not paid again; only the
    // calls in flight at each kill (at most a slice of 32) can be paid twice.
    assert.ok(cachedInJob <= 2 * 32, `${cachedInJob} rows answered from the cache inside the job`);
    let paidTwice = 0;
    for (const [prompt, count] of llm.billed) paidTwice += Math.max(0, count - (billedBefore.get(prompt) ?? 0) - 1);
    assert.ok(paidTwice <= 2 * 32, `${paidTwice} prompts paid twice`);
    // Results left Redis once persisted: no chunk is kept there.
    const keys = spawnSync("redis-cli", ["-p", String(port), "--scan", "--pattern", "bull:tandem-chunks:*--*"], { encoding: "utf8" }).stdout.trim();
    assert.equal(keys, "", "no chunk left in Redis");
  } finally {
    await server?.close();
    for (const worker of workers) worker.kill("SIGTERM");
    redis.kill("SIGTERM");
  }
});

test("jobs on Redis: Redis restarted without persistence mid-job loses nothing and stalls nothing (the server queues the lost chunks again from its database); the job says running while rows land; a worker with no Redis is one line and exits", { skip: !redisServer && !process.env.CI ? "redis-server is not installed" : false }, async () => {
  assert.ok(redisServer, "CI installs redis-server");
  const port = await freePort();
  const startRedis = () => spawn(redisServer, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  const ping = async () => {
    for (let i = 0; i < 50 && spawnSync("redis-cli", ["-p", String(port), "ping"], { encoding: "utf8" }).stdout?.trim() !== "PONG"; i++) await new Promise((resolve) => setTimeout(resolve, 100));
  };
  let redis = startRedis();
  const workers: ChildProcess[] = [];
  let server: RunningServer | undefined;
  try {
    const url = `redis://127.0.0.1:${port}`;
    await ping();
    const db = join(tempDir(), "jobs-restart.db");
    const workerDb = join(tempDir(), "jobs-restart-workers.db");
    const config = tempFile("jobs-restart.yaml", strategies());
    for (let i = 0; i < 2; i++) workers.push(spawn(process.execPath, [join(ROOT, "dist/cli/main.js"), "worker", "--redis", url, "--config", config, "--db", workerDb, "--lock-seconds", "2", "--slice", "32"], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] }));
    server = await serve(db, url);
    const input = await rows("jobs-restart-4000.csv", 4000);
    const job = (await (await fetch(`${server.url}/v1/jobs?strategy=gpt&chunk_size=250`, { method: "POST", headers: { "content-type": "text/csv" }, body: readFileSync(input) })).json()) as { id: string };
    const running = await waitFor(server.url, job.id, (j) => j.done >= 500);
    assert.equal(running.state, "running", "rows landed: the job is running");
    // Redis goes away and comes back empty.
    redis.kill("SIGKILL");
    await new Promise((resolve) => redis.once("exit", resolve));
    redis = startRedis();
    await ping();
    const done = await waitFor(server.url, job.id, (j) => j.state !== "queued" && j.state !== "running", 240);
    assert.equal(done.state, "done");
    assert.equal(done.done, 4000);
    const results = (await readTable(tempFile("jobs-restart-results.csv", await (await fetch(`${server.url}/v1/jobs/${job.id}/results`)).text()))).records;
    assert.equal(results.length, 4000);
    assert.deepEqual(results.map((r) => r.values.sentence), (await readTable(input)).records.map((r) => r.values.sentence), "every row once, in order");
  } finally {
    await server?.close();
    for (const worker of workers) worker.kill("SIGTERM");
    redis.kill("SIGTERM");
  }
  // Nothing listens on the port now: a worker says so in one line and exits.
  const config = tempFile("jobs-noredis.yaml", strategies());
  const started = Date.now();
  const lonely = await runCliAsync(["worker", "--redis", `redis://127.0.0.1:${port}`, "--config", config, "--db", join(tempDir(), "jobs-noredis.db")]);
  assert.equal(lonely.status, 2, lonely.stderr);
  assert.match(lonely.stderr, /tandem: error: Redis did not answer within \d+ s/);
  assert.ok(Date.now() - started < 30_000);
});
