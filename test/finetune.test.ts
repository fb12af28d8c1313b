// LLM fine-tuning: format checks, epochs rule, estimates, the built files, and jobs driven through the
// real OpenAI SDK against the local test server (sweeps, failures, flaky network, interrupted follow).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { validateJsonl, checkExample } from "../src/finetune/validate.js";
import { autoEpochs, estimateFineTune } from "../src/finetune/estimate.js";
import { DEFAULT_PRICES, lookupPrice } from "../src/llm/pricing.js";
import { countChatTokens } from "../src/llm/tokens.js";
import { startMockServer, type MockServer } from "./fixtures/openai-server.js";
import { addFineTuneRoutes, type FineTuneControls } from "./fixtures/finetune-routes.js";
import { addVendorFineTuneRoutes, type VendorControls } from "./fixtures/vendor-finetune-routes.js";
import { ROOT, runCli, runCliAsync, SHARED, tempDir, tempFile } from "./helpers.js";

test("format checks: every error type, counted, with example line numbers", () => {
  const lines = [
    '{"messages":[{"role":"system","content":"s"},{"role":"user","content":"u"},{"role":"assistant","content":"positive"}]}',
    "not json",
    "[1,2]",
    '{"prompt":"x"}',
    '{"messages":"hi"}',
    '{"messages":[{"role":"user"}]}',
    '{"messages":[{"role":"user","content":"u","extra":1},{"role":"assistant","content":"a"}]}',
    '{"messages":[{"role":"robot","content":"u"},{"role":"assistant","content":"a"}]}',
    '{"messages":[{"role":"user","content":""},{"role":"assistant","content":"a"}]}',
    '{"messages":[{"role":"user","content":"u"}]}',
    "not json either",
  ];
  const report = validateJsonl(lines.join("\n") + "\n");
  assert.equal(report.ok, false);
  assert.equal(report.lines, 11);
  assert.equal(report.examples, 1);
  assert.deepEqual(report.errors.invalid_json, { count: 2, lines: [2, 11] });
  assert.deepEqual(report.errors.not_an_object, { count: 1, lines: [3] });
  assert.deepEqual(report.errors.missing_messages, { count: 1, lines: [4] });
  assert.deepEqual(report.errors.messages_not_a_list, { count: 1, lines: [5] });
  assert.equal(report.errors.message_missing_role_or_content!.lines[0], 6);
  assert.deepEqual(report.errors.message_unrecognized_key, { count: 1, lines: [7] });
  assert.deepEqual(report.errors.unrecognized_role, { count: 1, lines: [8] });
  assert.deepEqual(report.errors.empty_or_non_string_content, { count: 1, lines: [9] });
  assert.deepEqual(report.errors.no_assistant_message!.lines.includes(10), true);
  assert.deepEqual(checkExample(lines[0]!), []);
});

test("epochs 'auto' follows the provider's rule; the estimate is tokens × epochs × price", () => {
  assert.equal(autoEpochs(20), 5);
  assert.equal(autoEpochs(30), 4);
  assert.equal(autoEpochs(100), 3);
  assert.equal(autoEpochs(10_000), 2);
  assert.equal(autoEpochs(1), 25);
  const examples = [
    { messages: [{ role: "user" as const, content: "hello world" }, { role: "assistant" as const, content: "positive" }] },
    { messages: [{ role: "user" as const, content: "another example here" }, { role: "assistant" as const, content: "negative" }] },
  ];
  const tokens = examples.map((e) => countChatTokens(e.messages, "gpt-4o-mini"));
  const estimate = estimateFineTune(examples, "gpt-4o-mini", 3, lookupPrice(DEFAULT_PRICES, "openai", "gpt-4o-mini"));
  assert.equal(estimate.trainingTokens, (tokens[0]! + tokens[1]!) * 3);
  assert.equal(estimate.costUsd, (estimate.trainingTokens * 3) / 1e6);
  assert.equal(estimate.overContext.count, 0);
  assert.equal(estimateFineTune(examples, "gpt-4o-mini", "auto", lookupPrice(DEFAULT_PRICES, "openai", "gpt-4o-mini")).epochs, 25);
});

const SMALL = tempFile("ft-train.csv", readFileSync(join(SHARED, "data/sentiment-merged/val_all.csv"), "utf8").split("\n").slice(0, 121).join("\n") + "\n");

test("finetune build: the messages the program sends at inference plus the gold label, for every program", () => {
  const withHints = tempFile("ft-hints.csv", "sentence,label,prediction,probabilities\nGreat food!,positive,positive,\"[0.1,0.2,0.7]\"\nCold soup.,negative,neutral,\"[0.3,0.6,0.1]\"\n");
  const minimal = join(tempDir(), "minimal.jsonl");
  const built = runCli(["finetune", "build", "-i", withHints, "-o", minimal, "--program", "minimal", "--val-fraction", "0"]);
  assert.equal(built.status, 0, built.stderr);
  assert.equal(
    readFileSync(minimal, "utf8"),
    '{"messages":[{"role":"system","content":"Classify the sentiment of the review as negative, neutral, or positive."},{"role":"user","content":"Great food!"},{"role":"assistant","content":"positive"}]}\n' +
      '{"messages":[{"role":"system","content":"Classify the sentiment of the review as negative, neutral, or positive."},{"role":"user","content":"Cold soup."},{"role":"assistant","content":"negative"}]}\n',
  );
  const label = join(tempDir(), "label.jsonl");
  runCli(["finetune", "build", "-i", withHints, "-o", label, "--program", "label-probs", "--encoder-pred", "prediction", "--encoder-probs", "probabilities", "--val-fraction", "0"]);
  const first = JSON.parse(readFileSync(label, "utf8").split("\n")[0]!);
  assert.deepEqual(first.messages.map((m: { role: string }) => m.role), ["system", "user", "assistant"]);
  assert.match(first.messages[1].content, /Review: Great food!\nClassifier Decision: positive\nClassifier Probabilities: negative: 0\.10, neutral: 0\.20, positive: 0\.70\nClassification:$/);
  assert.equal(first.messages[2].content, "positive");
  // The same row rendered by `prompt render` (what inference sends) equals the training messages.
  const render = runCli(["prompt", "render", "-i", withHints, "--program", "label-probs", "--encoder-pred", "prediction", "--encoder-probs", "probabilities", "-f", "json"]);
  assert.deepEqual(JSON.parse(render.stdout), first.messages.slice(0, 2));
  for (const program of ["zero-shot", "similar", "balanced", "few-shot"]) {
    const out = join(tempDir(), `${program}.jsonl`);
    const result = runCli(["finetune", "build", "-i", SMALL, "-o", out, "--program", program, "--examples", SMALL, "--k", "3"]);
    assert.equal(result.status, 0, `${program}: ${result.stderr}`);
    assert.match(result.stdout, /train: 108 examples[\s\S]*val: 12 examples/);
    const validate = runCli(["finetune", "validate", out]);
    assert.equal(validate.status, 0, validate.stdout);
    const meta = JSON.parse(readFileSync(`${out}.meta.json`, "utf8"));
    assert.equal(meta.program, program);
    assert.equal(meta.lines[out].length, 108);
  }
  const minimalTokens = runCli(["finetune", "estimate", join(tempDir(), "zero-shot.jsonl"), "-f", "json"]);
  assert.ok(JSON.parse(minimalTokens.stdout).tokens.total > 0);
});

test("finetune validate and estimate on bad files: non-zero exit, counts per error type", () => {
  const bad = tempFile("bad.jsonl", '{"messages":[{"role":"user","content":"x"}]}\nnope\n');
  const result = runCli(["finetune", "validate", bad]);
  assert.equal(result.status, 2);
  assert.match(result.stderr, /^tandem: error: .*bad\.jsonl, line 1: 2 problems in 2 lines \(0 valid examples\); the first: no assistant message\n$/);
  assert.match(result.stdout, /invalid_json\s+1\s+2/);
  assert.match(result.stdout, /no_assistant_message\s+1\s+1/);
  const estimate = runCli(["finetune", "estimate", bad]);
  assert.equal(estimate.status, 2);
  assert.match(estimate.stderr, /bad\.jsonl: the file has format errors; run `tandem finetune validate/);
});

let server: MockServer;
let controls: FineTuneControls;
let vendors: VendorControls;
before(async () => {
  server = await startMockServer({});
  controls = addFineTuneRoutes(server, 120);
  vendors = addVendorFineTuneRoutes(server, 100);
});
after(async () => {
  await server.close();
});

test("a two-model sweep: upload once, follow to completion through a flaky network, score and classify with the new models", async () => {
  const train = join(tempDir(), "sweep.jsonl");
  assert.equal(runCli(["finetune", "build", "-i", SMALL, "-o", train, "--program", "zero-shot"]).status, 0);
  const evalFile = tempFile("ft-eval.csv", readFileSync(join(SHARED, "data/sentiment-merged/val_all.csv"), "utf8").split("\n").slice(200, 241).join("\n").replace(/^/, "sentence,label,source,split\n") + "\n");
  const db = join(tempDir(), "ft.db");
  const models = `compat:${server.url}#gpt-4o-mini,compat:${server.url}#gpt-4o`;
  controls.dropNext = 0;
  setTimeout(() => (controls.dropNext = 8), 400);
  const start = await runCliAsync(["finetune", "start", "--train", train, "--val", train.replace(/\.jsonl$/, ".val.jsonl"), "--model", models, "--epochs", "2", "--db", db, "--follow", "--poll-seconds", "0.1", "--eval", evalFile]);
  assert.equal(start.status, 0, start.stderr + start.stdout);
  assert.equal([...server.files.values()].filter((f) => f.record.purpose === "fine-tune").length, 2, "training and validation files uploaded once for both jobs");
  assert.match(start.stdout, /sweep sweep-[0-9a-f]{8}/);
  assert.match(start.stdout, /step 4\/4, train loss \d\.\d{4}, valid loss \d\.\d{4}/);
  assert.match(start.stderr, /could not reach the provider .*; retrying/);
  const jobs = JSON.parse(runCli(["finetune", "list", "--db", db, "-f", "json"]).stdout) as Array<{ id: string; status: string; fine_tuned_model: string; macro_f1: number; base_model: string; cost_usd: number; hyperparameters: { n_epochs: number } }>;
  assert.equal(jobs.length, 2);
  assert.deepEqual(jobs.map((j) => j.base_model).sort(), ["gpt-4o", "gpt-4o-mini"]);
  for (const job of jobs) {
    assert.equal(job.status, "succeeded");
    assert.match(job.fine_tuned_model, /^ft:gpt-4o(-mini)?:tandem:/);
    assert.ok(job.macro_f1 > 0 && job.macro_f1 <= 1);
    assert.ok(job.cost_usd > 0);
    assert.equal(job.hyperparameters.n_epochs, 2);
  }
  const table = runCli(["finetune", "list", "--db", db]).stdout;
  assert.match(table, /succeeded\s+ft:gpt-4o-mini:tandem:/);
  const out = join(tempDir(), "ft-classified.csv");
  const classify = await runCliAsync(["classify", "--strategy", "llm", "--model", `compat:${server.url}#${jobs[0]!.fine_tuned_model}`, "-i", evalFile, "-o", out, "--db", db]);
  assert.equal(classify.status, 0, classify.stderr);
  assert.match(classify.stderr, /41 rows: 41 answered/);
  const show = JSON.parse(runCli(["finetune", "show", jobs[0]!.id, "--db", db]).stdout);
  assert.equal(show.metrics.length, 4);
});

test("failed jobs show the provider's error verbatim; cancel; an interrupted follow continues later", async () => {
  controls.dropNext = 0;
  const train = join(tempDir(), "fail.jsonl");
  runCli(["finetune", "build", "-i", SMALL, "-o", train, "--val-fraction", "0"]);
  const db = join(tempDir(), "ft-fail.db");
  const failed = await runCliAsync(["finetune", "start", "--train", train, "--model", `compat:${server.url}#gpt-4o-mini`, "--suffix", "fail", "--db", db, "--follow", "--poll-seconds", "0.1"]);
  assert.equal(failed.status, 0, failed.stderr);
  assert.match(failed.stdout, /: failed — server_error: The job failed due to an internal error\./);

  controls.stepMs = 700; // slow enough to cancel, and to interrupt a follow in the middle
  const started = await runCliAsync(["finetune", "start", "--train", train, "--model", `compat:${server.url}#gpt-4o-mini`, "--db", db]);
  const id = /started (ftjob-\d+)/.exec(started.stdout)![1]!;
  const cancel = await runCliAsync(["finetune", "cancel", id, "--db", db]);
  assert.match(cancel.stdout, new RegExp(`${id}: cancelled`), cancel.stderr);

  const again = await runCliAsync(["finetune", "start", "--train", train, "--model", `compat:${server.url}#gpt-4o-mini`, "--db", db]);
  const next = /started (ftjob-\d+)/.exec(again.stdout)![1]!;
  const child = spawn(process.execPath, [join(ROOT, "dist/cli/main.js"), "finetune", "follow", next, "--db", db, "--poll-seconds", "0.1"], { cwd: ROOT });
  let seen = "";
  child.stdout.on("data", (chunk: Buffer) => (seen += chunk.toString()));
  while (!/step 1\/4/.test(seen)) await new Promise((resolve) => setTimeout(resolve, 50));
  child.kill("SIGINT");
  assert.equal(await new Promise((resolve) => child.once("exit", resolve)), 130);
  const resumed = await runCliAsync(["finetune", "follow", next, "--db", db, "--poll-seconds", "0.1"]);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.doesNotMatch(resumed.stdout, /step 1\/4/, "events already shown are not repeated");
  assert.match(resumed.stdout, /step 4\/4/);
  assert.match(resumed.stdout, /succeeded → ft:gpt-4o-mini:tandem:/);
  controls.stepMs = 120;
  const late = await runCliAsync(["finetune", "cancel", next, "--db", db]);
  assert.match(late.stderr, /cancel refused: 400 Job ftjob-\d+ has already ended \(succeeded\)/);
  const unknown = runCli(["finetune", "show", "ftjob-nope", "--db", db]);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /no fine-tuning job ftjob-nope in the state database/);
});

test("a three-vendor sweep (OpenAI-compatible, Mistral, Together through their own SDKs): one table of F1 and cost; each vendor gets its own key", async () => {
  const train = join(tempDir(), "vendors.jsonl");
  assert.equal(runCli(["finetune", "build", "-i", SMALL, "-o", train, "--program", "zero-shot"]).status, 0);
  const evalFile = tempFile("vendor-eval.csv", readFileSync(join(SHARED, "data/sentiment-merged/val_all.csv"), "utf8").split("\n").slice(300, 331).join("\n").replace(/^/, "sentence,label,source,split\n") + "\n");
  const db = join(tempDir(), "vendors.db");
  const root = server.url.replace(/\/v1$/, "");
  const env = { MISTRAL_API_KEY: "mistral-key-0123456789", MISTRAL_BASE_URL: `${root}/mistral/v1`, TOGETHER_API_KEY: "together-key-0123456789", TOGETHER_BASE_URL: `${root}/together/v1` };
  const models = [`compat:${server.url}#gpt-4o-mini`, "mistral:open-mistral-nemo", "together:meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"].join(",");
  const start = await runCliAsync(["finetune", "start", "--train", train, "--val", train.replace(/\.jsonl$/, ".val.jsonl"), "--model", models, "--epochs", "2", "--db", db, "--follow", "--poll-seconds", "0.1", "--eval", evalFile], { env });
  assert.equal(start.status, 0, start.stderr + start.stdout);
  assert.match(start.stdout, /started mistral-job-\d+: mistral:open-mistral-nemo, epochs 2, estimated \$/);
  assert.match(start.stdout, /started ft-together-\d+: together:meta-llama\/Meta-Llama-3.1-8B-Instruct-Reference, epochs 2/);
  assert.match(start.stdout, /mistral-job-\d+: step 3, train loss \d\.\d{4}, valid loss \d\.\d{4}/);
  assert.match(start.stdout, /ft-together-\d+: step 3, train loss \d\.\d{4}, valid loss \d\.\d{4}/);
  // Training and validation files went to each vendor once, with that vendor's key and no other.
  for (const vendor of ["mistral", "together"]) {
    const uploaded = [...vendors.files.values()].filter((f) => f.vendor === vendor);
    assert.equal(uploaded.length, 2, `${vendor}: training and validation uploaded`);
    assert.equal(uploaded[0]!.content, readFileSync(train, "utf8"));
    assert.deepEqual([...vendors.authorization.get(vendor)!].filter((a) => a !== ""), [`Bearer ${env[vendor === "mistral" ? "MISTRAL_API_KEY" : "TOGETHER_API_KEY"]}`]);
  }
  assert.deepEqual([...vendors.jobs.values()].map((j) => j.epochs), [2, 2]);

  const jobs = JSON.parse(runCli(["finetune", "list", "--db", db, "-f", "json"]).stdout) as Array<{ id: string; spec: string; status: string; fine_tuned_model: string; macro_f1: number; trained_tokens: number; cost_usd: number }>;
  assert.equal(jobs.length, 3);
  for (const job of jobs) {
    assert.equal(job.status, "succeeded", job.id);
    assert.ok(job.macro_f1 > 0 && job.macro_f1 <= 1, `${job.id} scored`);
    assert.ok(job.trained_tokens > 0);
  }
  const mistral = jobs.find((j) => j.spec.startsWith("mistral:"))!;
  const together = jobs.find((j) => j.spec.startsWith("together:"))!;
  assert.match(mistral.fine_tuned_model, /^ft:open-mistral-nemo:tandem:/);
  assert.match(together.fine_tuned_model, /^tandem-user\/Meta-Llama-3.1-8B-Instruct-Reference-/);
  // Cost: trained tokens × the vendor's training price in the dated table ($1/M Mistral NeMo, $0.48/M Together ≤ 16 B).
  assert.equal(mistral.cost_usd, (mistral.trained_tokens * 1) / 1e6);
  assert.equal(together.cost_usd, (together.trained_tokens * 0.48) / 1e6);
  const table = runCli(["finetune", "list", "--db", db]).stdout;
  assert.match(table, /mistral:open-mistral-nemo\s+2\s+succeeded\s+ft:open-mistral-nemo:tandem:/);
  assert.match(table, /together:meta-llama\/Meta-Llama-3.1-8B-Instruct-Reference\s+2\s+succeeded/);
  const show = JSON.parse(runCli(["finetune", "show", mistral.id, "--db", db]).stdout) as { metrics: Array<{ step: number; train_loss: number; valid_loss: number }> };
  assert.deepEqual(show.metrics.map((m) => m.step), [1, 2, 3]);
  // A vendor with no public fine-tuning API is refused before anything is uploaded.
  const before = vendors.files.size;
  const refused = runCli(["finetune", "start", "--train", train, "--model", "mistral:open-mistral-nemo,anthropic:claude-3-5-haiku-latest", "--db", db], { env: { ...env, ANTHROPIC_API_KEY: "x" } });
  assert.equal(refused.status, 2, refused.stderr);
  assert.match(refused.stderr, /anthropic:claude-3-5-haiku-latest: anthropic has no public fine-tuning API/);
  assert.equal(vendors.files.size, before);
  // No key in any output.
  for (const text of [start.stdout, start.stderr, table]) assert.ok(!text.includes("key-0123456789"));
});

test("Mistral and Together jobs cancel through their SDKs; follow then reports them cancelled", async () => {
  const train = join(tempDir(), "vendors-cancel.jsonl");
  assert.equal(runCli(["finetune", "build", "-i", SMALL, "-o", train, "--val-fraction", "0"]).status, 0);
  const db = join(tempDir(), "vendors-cancel.db");
  const root = server.url.replace(/\/v1$/, "");
  const env = { MISTRAL_API_KEY: "mistral-key-0123456789", MISTRAL_BASE_URL: `${root}/mistral/v1`, TOGETHER_API_KEY: "together-key-0123456789", TOGETHER_BASE_URL: `${root}/together/v1` };
  const start = await runCliAsync(["finetune", "start", "--train", train, "--model", "mistral:open-mistral-nemo,together:meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", "--db", db], { env });
  assert.equal(start.status, 0, start.stderr);
  const ids = [...start.stdout.matchAll(/started (\S+):/g)].map((m) => m[1]!);
  assert.equal(ids.length, 2);
  for (const id of ids) {
    const cancel = await runCliAsync(["finetune", "cancel", id, "--db", db], { env });
    assert.equal(cancel.status, 0, cancel.stderr);
    assert.equal(cancel.stdout.trim(), `${id}: cancelled`);
  }
  const follow = await runCliAsync(["finetune", "follow", ...ids, "--db", db, "--poll-seconds", "0.05"], { env });
  assert.equal(follow.status, 0, follow.stderr);
  for (const id of ids) assert.match(follow.stdout, new RegExp(`${id}: cancelled`));
});
