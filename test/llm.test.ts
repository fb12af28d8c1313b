// The LLM engine: prompt programs, parsing, log-probabilities, prices, backoff, and runs through the
// real OpenAI SDK against the local test server (faults, cache, budget, kill and resume).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { renderProgram, defaultWording, PROGRAM_NAMES } from "../src/llm/prompts/programs.js";
import { planPrompts } from "../src/llm/prompts/build.js";
import { Bm25Index, balancedExamples, nearestExamples } from "../src/llm/prompts/examples.js";
import { parseAnswer } from "../src/llm/parse.js";
import { labelProbabilities } from "../src/llm/logprobs.js";
import { costOf, lookupPrice, DEFAULT_PRICES } from "../src/llm/pricing.js";
import { backoffDelay } from "../src/llm/limiter.js";
import { retryAfterFromHeaders } from "../src/llm/types.js";
import { parseModelSpec, createChatModel } from "../src/llm/providers/registry.js";
import { runLlm } from "../src/llm/runner.js";
import { ResponseCache } from "../src/llm/cache.js";
import { openStore } from "../src/core/store.js";
import { parseDotEnv } from "../src/core/env.js";
import { countChatTokens } from "../src/llm/tokens.js";
import { createStrategy } from "../src/strategies/factory.js";
import type { LlmStrategy } from "../src/strategies/llm.js";
import { startMockServer, type MockServer } from "./fixtures/openai-server.js";
import { startWireUpstream } from "./fixtures/wire-upstream.js";
import { ROOT, runCli, runCliAsync, SHARED, tempDir, tempFile } from "./helpers.js";

const LABELS = ["negative", "neutral", "positive"];
const SENTIMENT = defaultWording("sentiment");

test("the label program renders exactly the research's prompt", () => {
  const messages = renderProgram("label", LABELS, { text: "Great food!", encoderLabel: "positive" }, SENTIMENT);
  assert.deepEqual(messages[0], { role: "system", content: "You are a sentiment analysis assistant." });
  assert.equal(
    messages[1]!.content,
    [
      "Classify the sentiment of a review as either 'negative', 'neutral', or 'positive'.",
      "",
      "---",
      "",
      "Follow the following format.",
      "",
      "Review: The review text to classify.",
      "Classifier Decision: The sentiment classification proposed by a model fine-tuned on sentiment.",
      "Classification: One word representing the sentiment classification: 'negative', 'neutral', or 'positive' (do not repeat the field name, do not use 'mixed')",
      "",
      "---",
      "",
      "Review: Great food!",
      "Classifier Decision: positive",
      "Classification:",
    ].join("\n"),
  );
});

test("programs: probabilities, examples, minimal, binary and star wording", () => {
  const probs = renderProgram("label-probs", LABELS, { text: "ok", encoderLabel: "neutral", encoderProbs: { negative: 0.1, neutral: 0.7, positive: 0.2 } }, SENTIMENT)[1]!.content;
  assert.match(probs, /\nClassifier Probabilities: negative: 0\.10, neutral: 0\.70, positive: 0\.20\nClassification:$/);
  const shots = renderProgram("similar", LABELS, { text: "new", examples: [{ text: "old one", label: "negative" }] }, SENTIMENT)[1]!.content;
  assert.match(shots, /---\n\nReview: old one\nClassification: negative\n\n---\n\nReview: new\nClassification:$/);
  assert.deepEqual(renderProgram("minimal", LABELS, { text: "fine" }, SENTIMENT), [
    { role: "system", content: "Classify the sentiment of the review as negative, neutral, or positive." },
    { role: "user", content: "fine" },
  ]);
  const binary = renderProgram("zero-shot", ["non-positive", "positive"], { text: "x" }, SENTIMENT)[1]!.content;
  assert.match(binary, /^Classify the sentiment of a review as either 'non-positive' or 'positive'\./);
  const stars = renderProgram("zero-shot", ["1", "2", "3", "4", "5"], { text: "x" }, defaultWording("star rating"))[1]!.content;
  assert.match(stars, /either '1', '2', '3', '4', or '5'/);
  assert.equal(PROGRAM_NAMES.length, 8);
});

test("examples: BM25 finds the lexically closest, balanced takes each class in turn, no item sees itself", () => {
  const pool = [
    { text: "the pasta was cold and bland", label: "negative" },
    { text: "lovely staff and great coffee", label: "positive" },
    { text: "it is a restaurant", label: "neutral" },
    { text: "great coffee again", label: "positive" },
  ];
  const scores = new Bm25Index(pool.map((p) => p.text)).scores("great coffee");
  assert.ok(scores[3]! > scores[1]! && scores[1]! > 0 && scores[0] === 0);
  assert.deepEqual(nearestExamples(pool, ["cold pasta"], 1), [[0]]);
  assert.deepEqual(nearestExamples(pool, ["great coffee again"], 1), [[1]], "the identical pool text is skipped");
  const vectors = { pool: Float32Array.of(1, 0, 0, 1, 1, 1, -1, 0), queries: Float32Array.of(0.9, 0.1), dim: 2 };
  assert.deepEqual(nearestExamples(pool, ["q"], 2, vectors), [[0, 2]]);
  const balanced = balancedExamples(pool, LABELS, 3, 1).map((i) => pool[i]!.label);
  assert.deepEqual(balanced, ["negative", "neutral", "positive"]);
  const prompts = planPrompts({ program: "similar", labels: LABELS, wording: SENTIMENT, texts: ["cold pasta"], pool, k: 2 });
  assert.match(prompts(0)[1]!.content, /Review: the pasta was cold and bland\nClassification: negative/);
});

test("parsing: one label word is the answer; none, several or 'mixed' are unparseable", () => {
  assert.deepEqual(parseAnswer("This message sounds negative.", LABELS), { label: "negative", offset: 20 });
  assert.equal(parseAnswer("Positive", LABELS).label, "positive");
  assert.equal(parseAnswer('{"label":"neutral"}', LABELS).label, "neutral");
  assert.equal(parseAnswer("mixed", LABELS).label, null);
  assert.equal(parseAnswer("It is mixed: positive and negative", LABELS).reason, "mixed");
  assert.equal(parseAnswer("positive or negative", LABELS).label, null);
  assert.equal(parseAnswer("I cannot tell", LABELS).reason, "no label in the answer");
  assert.equal(parseAnswer("non-neutral", ["non-neutral", "neutral"]).label, "non-neutral");
  assert.equal(parseAnswer("positively neutral", LABELS).label, "neutral", "'positively' is not 'positive'");
});

test("log-probabilities become class probabilities normalised over the labels", () => {
  const tokens = [
    { token: '{"', logprob: 0, top: [] },
    { token: "label", logprob: 0, top: [] },
    { token: '":"', logprob: 0, top: [] },
    { token: "pos", logprob: Math.log(0.6), top: [{ token: "pos", logprob: Math.log(0.6) }, { token: "neg", logprob: Math.log(0.2) }, { token: "neutral", logprob: Math.log(0.1) }, { token: "n", logprob: Math.log(0.05) }] },
    { token: 'itive"}', logprob: 0, top: [] },
  ];
  const probabilities = labelProbabilities(tokens, 11, LABELS)!;
  [0.2 / 0.9, 0.1 / 0.9, 0.6 / 0.9].forEach((expected, i) => assert.ok(Math.abs(probabilities[i]! - expected) < 1e-12));
  assert.equal(labelProbabilities(undefined, 0, LABELS), undefined);
});

test("prices: per-token cost, cached input, fine-tuned ids, unknown models", () => {
  const mini = lookupPrice(DEFAULT_PRICES, "openai", "gpt-4o-mini-2024-07-18");
  assert.equal(costOf({ inputTokens: 1_000_000, cachedInputTokens: 0, outputTokens: 1_000_000 }, mini), 0.75);
  assert.equal(costOf({ inputTokens: 1_000_000, cachedInputTokens: 500_000, outputTokens: 0 }, mini), 0.1125);
  assert.equal(costOf({ inputTokens: 1_000_000, cachedInputTokens: 0, outputTokens: 0 }, mini, true), 0.075);
  const tuned = lookupPrice(DEFAULT_PRICES, "openai", "ft:gpt-4o-mini-2024-07-18:acme::abc123");
  assert.equal(tuned.basis, "gpt-4o-mini-2024-07-18 (fine-tuned)");
  assert.equal(costOf({ inputTokens: 1_000_000, cachedInputTokens: 0, outputTokens: 0 }, tuned), 0.3);
  assert.equal(lookupPrice(DEFAULT_PRICES, "openai", "mystery-model").price, undefined);
  assert.equal(lookupPrice(DEFAULT_PRICES, "local", "/m.gguf").price?.input, 0);
  // An OpenAI-compatible endpoint: priced by the table's name when it matches, else 0 and said to be unpriced.
  assert.equal(lookupPrice(DEFAULT_PRICES, "compat", "gpt-4o-mini-2024-07-18").basis, "gpt-4o-mini-2024-07-18");
  const unknown = lookupPrice(DEFAULT_PRICES, "compat", "meta-llama/Llama-3.3-70B");
  assert.equal(unknown.unpriced, true);
  assert.equal(costOf({ inputTokens: 1_000_000, cachedInputTokens: 0, outputTokens: 0 }, unknown), 0);
  // The strategy's own price wins.
  const own = lookupPrice(DEFAULT_PRICES, "compat", "meta-llama/Llama-3.3-70B", { input: 0.9, output: 0.9 });
  assert.equal(own.unpriced, undefined);
  assert.equal(costOf({ inputTokens: 1_000_000, cachedInputTokens: 0, outputTokens: 1_000_000 }, own), 1.8);
});

test("token counts use OpenAI's o200k_base tokenizer with the chat overhead", () => {
  // "hello world" is 2 tokens in o200k_base; each message adds 3 + the role token, the reply 3.
  assert.equal(countChatTokens([{ role: "user", content: "hello world" }], "gpt-4o-mini"), 3 + 3 + 2 + 1);
});

test("backoff: exponential with full jitter, never shorter than Retry-After", () => {
  const options = { baseDelayMs: 500, maxDelayMs: 60_000 };
  assert.equal(backoffDelay(3, { ...options, random: () => 0.5 }), 1000);
  assert.equal(backoffDelay(20, { ...options, random: () => 1 }), 60_000);
  assert.equal(backoffDelay(1, { ...options, random: () => 0.1 }, 2000), 2000);
  assert.equal(retryAfterFromHeaders((name) => (name === "retry-after" ? "3" : null)), 3000);
  assert.equal(retryAfterFromHeaders((name) => (name === "retry-after-ms" ? "250" : null)), 250);
  assert.equal(retryAfterFromHeaders((name) => (name === "retry-after" ? "Thu, 01 Jan 2026 00:00:10 GMT" : null), Date.parse("Thu, 01 Jan 2026 00:00:00 GMT")), 10_000);
});

test("model specs and .env parsing", () => {
  assert.deepEqual(parseModelSpec("compat:http://localhost:11434/v1#llama3.1"), { provider: "compat", model: "llama3.1", baseURL: "http://localhost:11434/v1" });
  assert.deepEqual(parseModelSpec("openai:ft:gpt-4o-mini:org::id"), { provider: "openai", model: "ft:gpt-4o-mini:org::id" });
  assert.throws(() => parseModelSpec("gpt-4o"), /invalid model "gpt-4o"/);
  assert.throws(() => parseModelSpec("compat:localhost#x"), /must start with http/);
  assert.deepEqual(parseDotEnv("# keys\nexport OPENAI_API_KEY='sk-1'\nB=2 # note\nC=\"x y\"\n"), { OPENAI_API_KEY: "sk-1", B: "2", C: "x y" });
});

let flaky: MockServer;
before(async () => {
  flaky = await startMockServer({ rateLimit: 0.08, serverError: 0.08, garbage: 0.05, slow: 0.04, freeText: 0.15, mixed: 0.05, slowMs: 1500, retryAfterSeconds: 1 });
});
after(async () => {
  await flaky.close();
});

const texts = readFileSync(join(SHARED, "data/sentiment-merged/test_all.csv"), "utf8").split("\n").slice(1, 61).map((line) => line.split(",")[0]!);

test("a run through the real SDK survives 429s, 500s, timeouts and garbage; every item answered or marked", async () => {
  const model = await createChatModel(`compat:${flaky.url}#gpt-4o-mini`);
  const cache = new ResponseCache(openStore(":memory:"));
  const retries: number[] = [];
  const run = await runLlm({
    model, labels: LABELS, count: texts.length, cache,
    messages: (i) => renderProgram("zero-shot", LABELS, { text: texts[i]! }, SENTIMENT),
    logprobs: true, concurrency: 8, timeoutMs: 1000, retryBaseMs: 20,
    prices: lookupPrice(DEFAULT_PRICES, "openai", "gpt-4o-mini"),
    onRetry: (_, error, __, delay) => error.status === 429 && retries.push(delay),
  });
  assert.equal(run.results.length, texts.length);
  assert.equal(run.totals.errors, 0);
  assert.ok(run.results.every((r) => (r.status === "ok" && LABELS.includes(r.label)) || (r.status === "unparseable" && r.label === "")));
  assert.ok(run.totals.unparseable > 0 && run.totals.unparseable < texts.length);
  assert.ok(flaky.faultsServed["429"]! > 0 && flaky.faultsServed["500"]! > 0 && flaky.faultsServed.garbage! > 0 && flaky.faultsServed.slow! > 0);
  assert.ok(retries.length > 0 && retries.every((delay) => delay >= 1000), "429 retries wait at least Retry-After");
  const ok = run.results.filter((r) => r.status === "ok");
  assert.ok(ok.every((r) => r.probabilities && Math.abs(r.probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-9));
  // Cost: the sum of per-row costs, each priced from the server's reported usage.
  const expected = run.results.reduce((sum, r) => sum + (r.inputTokens * 0.15 + r.outputTokens * 0.6) / 1e6, 0);
  assert.ok(Math.abs(run.totals.spentUsd - expected) < 1e-12);
  // A second run comes from the cache: same answers, nothing spent, no new calls.
  const before = flaky.requests;
  const again = await runLlm({ model, labels: LABELS, count: texts.length, cache, messages: (i) => renderProgram("zero-shot", LABELS, { text: texts[i]! }, SENTIMENT), logprobs: true, prices: lookupPrice(DEFAULT_PRICES, "openai", "gpt-4o-mini") });
  assert.equal(flaky.requests, before);
  assert.equal(again.totals.spentUsd, 0);
  assert.deepEqual(again.results.map((r) => r.label), run.results.map((r) => r.label));
});

test("the budget guard stops before the limit and leaves the rest marked 'skipped'", async () => {
  const server = await startMockServer({});
  try {
    const model = await createChatModel(`compat:${server.url}#gpt-4o`);
    const prices = lookupPrice(DEFAULT_PRICES, "openai", "gpt-4o");
    const run = await runLlm({
      model, labels: LABELS, count: texts.length, concurrency: 4, maxCostUsd: 0.004,
      messages: (i) => renderProgram("zero-shot", LABELS, { text: texts[i]! }, SENTIMENT), prices,
    });
    assert.ok(run.stoppedForBudget);
    assert.ok(run.totals.spentUsd <= 0.004, `spent ${run.totals.spentUsd}`);
    assert.ok(run.totals.skipped > 0 && run.totals.skipped < texts.length);
    assert.equal(run.results.filter((r) => r.status === "skipped").length, run.totals.skipped);
    assert.equal([...server.billed.values()].reduce((a, b) => a + b, 0), texts.length - run.totals.skipped);
  } finally {
    await server.close();
  }
});

test("CLI: 200 rows on a flaky server, interrupted mid-run and resumed: all rows done, nothing billed twice, evaluate reads it", async () => {
  const server = await startMockServer({ rateLimit: 0.05, serverError: 0.05, garbage: 0.03, freeText: 0.1, mixed: 0.03, retryAfterSeconds: 1, latencyMs: 40 });
  try {
    const input = tempFile("llm-200.csv", readFileSync(join(SHARED, "data/sentiment-merged/test_all.csv"), "utf8").split("\n").slice(0, 201).join("\n") + "\n");
    const out = join(tempDir(), "llm-200-out.csv");
    const db = join(tempDir(), "llm-resume.db");
    const args = ["classify", "--strategy", "llm", "--model", `compat:${server.url}#gpt-4o-mini`, "-i", input, "-o", out, "--db", db, "--concurrency", "4", "--timeout", "5"];
    const child = spawn(process.execPath, [join(ROOT, "dist/cli/main.js"), ...args], { cwd: ROOT, stdio: "ignore" });
    while ([...server.billed.values()].length < 60) await new Promise((resolve) => setTimeout(resolve, 50));
    child.kill("SIGINT");
    const code = await new Promise((resolve) => child.once("exit", resolve));
    assert.equal(code, 130, "an interrupted run exits with 130");
    const billedBefore = server.billed.size;
    assert.ok(billedBefore >= 60 && billedBefore < 200, `killed after ${billedBefore} answers`);
    const resumed = await runCliAsync(args);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stderr, /estimate: \d+ calls \(\d+ already cached\)/);
    assert.ok([...server.billed.values()].every((count) => count === 1), "every prompt billed exactly once");
    assert.equal(server.billed.size, 200, "every row's prompt was answered");
    const rows = readFileSync(out, "utf8").trim().split("\n");
    assert.equal(rows.length, 201);
    const evaluation = runCli(["evaluate", "-i", out, "--probs", "probabilities", "-f", "json"]);
    assert.equal(evaluation.status, 0, evaluation.stderr);
    const report = JSON.parse(evaluation.stdout).overall;
    assert.equal(report["macro avg"].support, 200);
    const statuses = rows.slice(1).map((row) => row.split(",").at(-5));
    // A hard kill cannot take back requests in flight: at most --concurrency prompts may be paid twice.
    assert.ok(statuses.every((s) => s === "ok" || s === "unparseable"), `statuses: ${[...new Set(statuses)]}`);
  } finally {
    await server.close();
  }
});

test("CLI: --estimate prints tokens and dollars; prompt render shows the messages; missing hints are errors", () => {
  const input = tempFile("hints.csv", "sentence,label,prediction\nGreat!,positive,positive\n");
  const estimate = runCli(["classify", "--strategy", "llm", "--model", "compat:http://127.0.0.1:9/v1#gpt-4o-mini", "-i", input, "-o", join(tempDir(), "e.csv"), "--estimate", "--db", join(tempDir(), "e.db")]);
  assert.equal(estimate.status, 0, estimate.stderr);
  assert.match(estimate.stderr, /estimate: 1 calls \(0 already cached\), ≤ \d+ input \+ 10 output tokens, ≤ \$0\.0000\d\d \(gpt-4o-mini, prices as of/);
  const render = runCli(["prompt", "render", "-i", input, "--program", "label", "--encoder-pred", "prediction"]);
  assert.equal(render.status, 0, render.stderr);
  assert.match(render.stdout, /^\[system\]\nYou are a sentiment analysis assistant\.\n\n\[user\]\nClassify the sentiment/);
  assert.match(render.stdout, /Review: Great!\nClassifier Decision: positive\nClassification:\n$/);
  const missing = runCli(["prompt", "render", "-i", input, "--program", "label"]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /program "label" needs the encoder's label: --encoder-pred COLUMN/);
  const noKey = runCli(["classify", "--strategy", "llm", "--model", "openai:gpt-4o-mini", "-i", input, "-o", join(tempDir(), "k.csv")], { env: { OPENAI_API_KEY: "" } });
  assert.equal(noKey.status, 2);
  assert.match(noKey.stderr, /needs OPENAI_API_KEY: set it in the environment or in a \.env file/);
});

test("local GGUF through node-llama-cpp: the JSON-schema grammar forces a valid label", async (t) => {
  const name = "node-llama-cpp";
  const installed = await import(name).then(() => true, () => false);
  if (!installed) {
    // CI installs the optional package, so there the test must run.
    assert.ok(!process.env.CI, "CI must install node-llama-cpp (see .ci/run)");
    t.skip("node-llama-cpp is not installed (npm install node-llama-cpp)");
    return;
  }
  const model = await createChatModel(`local:${join(SHARED, "models/gguf/llama-2-tiny-random.gguf")}`);
  try {
    const run = await runLlm({
      model, labels: LABELS, count: 4, structured: true, maxTokens: 20,
      messages: (i) => renderProgram("zero-shot", LABELS, { text: texts[i]! }, SENTIMENT),
      prices: lookupPrice(DEFAULT_PRICES, "local", "tiny"),
    });
    // Random weights write gibberish; the grammar still makes every answer {"label": <a label>}.
    for (const result of run.results) {
      assert.equal(result.status, "ok", result.raw);
      assert.ok(LABELS.includes(result.label));
      assert.match(result.raw, /^\{\s*"label"\s*:\s*"(negative|neutral|positive)"\s*\}$/);
    }
    assert.equal(run.totals.spentUsd, 0);
  } finally {
    await model.close?.();
  }
});

test("Batch API mode: upload, create, poll, download and merge at half price; a rerun reuses the answers", async () => {
  const server = await startMockServer({});
  try {
    const input = tempFile("batch-in.csv", readFileSync(join(SHARED, "data/sentiment-merged/val_all.csv"), "utf8").split("\n").slice(0, 21).join("\n") + "\n");
    const out = join(tempDir(), "batch-out.csv");
    const args = ["classify", "--strategy", "llm", "--model", `compat:${server.url}#gpt-4o-mini`, "-i", input, "-o", out, "--db", join(tempDir(), "batch.db"), "--batch", "--poll-seconds", "0.05"];
    const first = await runCliAsync(args);
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stderr, /batch batch_1: in_progress[\s\S]*batch batch_1: completed \(20\/20 done, 0 failed\)\nbatch: 20 answers for \$0\.000\d+ \(batch price\)/);
    assert.equal(server.batchesCompleted, 1);
    const uploaded = [...server.files.values()].find((f) => f.record.purpose === "batch")!;
    const lines = uploaded.content.trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(lines.length, 20);
    assert.deepEqual(Object.keys(lines[0]), ["custom_id", "method", "url", "body"]);
    assert.equal(lines[0].url, "/v1/chat/completions");
    const rows = readFileSync(out, "utf8").trim().split("\n").slice(1);
    assert.equal(rows.length, 20);
    // Half price: each row's cost is half of what its usage costs at gpt-4o-mini's normal rates.
    for (const row of rows) {
      const cells = row.split(",");
      const [inputTokens, outputTokens, cost] = [Number(cells.at(-4)), Number(cells.at(-3)), Number(cells.at(-2))];
      assert.ok(Math.abs(cost - (inputTokens * 0.15 + outputTokens * 0.6) / 1e6 / 2) < 1e-8, row);
    }
    const requests = server.requests;
    const again = await runCliAsync(args);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(server.requests, requests, "a rerun makes no call at all");
    assert.match(again.stderr, /estimate: 0 calls \(20 already cached\)/);
  } finally {
    await server.close();
  }
});

test("provider capabilities come from the registry alone: logprobs on for Mistral is a warning, never sent, and the estimate's cache key is the call's", async () => {
  const upstream = await startWireUpstream(() => "positive");
  const saved = { url: process.env.MISTRAL_BASE_URL, key: process.env.MISTRAL_API_KEY };
  process.env.MISTRAL_BASE_URL = `${upstream.url}/v1`;
  process.env.MISTRAL_API_KEY = "mistral-key-0123456789";
  try {
    const strategy = (await createStrategy({ type: "llm", name: "nemo", model: "mistral:open-mistral-nemo", logprobs: "on" }, { store: join(tempDir(), "capabilities.db") })) as LlmStrategy;
    assert.deepEqual(strategy.warnings, ["warning: nemo: mistral returns no token log-probabilities; logprobs: on is ignored"]);
    const texts = ["Great food.", "Cold soup.", "It was fine."];
    assert.equal((await strategy.estimate(texts)).calls, 3);
    const predictions = await strategy.classify(texts);
    assert.deepEqual(predictions.map((p) => p.label), ["positive", "positive", "positive"]);
    assert.equal(upstream.requests.length, 3);
    for (const request of upstream.requests) assert.equal((JSON.parse(request.body.toString("utf8")) as { logprobs?: unknown }).logprobs, undefined);
    const again = await strategy.estimate(texts);
    assert.deepEqual([again.calls, again.cached], [0, 3]);
    await strategy.close();
  } finally {
    for (const [name, value] of [["MISTRAL_BASE_URL", saved.url], ["MISTRAL_API_KEY", saved.key]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await upstream.close();
  }
});
