// The prompt/completion format of completion-style base models: finetune build writes it with the same
// rendering inference uses, finetune validate applies the format's rules, and classify sends exactly the
// trained prompt to the completions API (through the real OpenAI SDK, to a local server) and stops at
// the completion end.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { checkCompletionExample, validateJsonl } from "../src/finetune/validate.js";
import { completionPrompt, unescapeSeparator } from "../src/llm/prompts/completion.js";
import { startMockServer, type MockServer } from "./fixtures/openai-server.js";
import { runCli, runCliAsync, tempDir, tempFile } from "./helpers.js";

const FORMAT = { promptEnd: "\n\n###\n\n", completionEnd: "\n" };
let server: MockServer;
const received: Array<Record<string, unknown>> = [];

before(async () => {
  server = await startMockServer();
  // The completions API: the answer is the label the review's last word names, after a space, then the stop text (cut by the server, as OpenAI does).
  server.extraRoutes.push((req, res, raw) => {
    if (req.method !== "POST" || !req.url?.endsWith("/completions") || req.url.endsWith("/chat/completions")) return false;
    const body = JSON.parse(raw) as { prompt: string; model: string };
    received.push(body);
    const label = /great|loved/i.test(body.prompt) ? "positive" : /awful|cold/i.test(body.prompt) ? "negative" : "neutral";
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ id: "cmpl-1", object: "text_completion", created: 1, model: body.model, choices: [{ index: 0, text: ` ${label}`, finish_reason: "stop", logprobs: null }], usage: { prompt_tokens: 40, completion_tokens: 2, total_tokens: 42 } }));
    return true;
  });
});
after(() => server.close());

test("the format's rules: separator at the end of every prompt and nowhere else, a leading space, the end marker, no duplicates", () => {
  const line = (prompt: string, completion: string, extra = {}) => JSON.stringify({ prompt, completion, ...extra });
  assert.deepEqual(checkCompletionExample(line("Review: good\n\n###\n\n", " positive\n"), FORMAT), []);
  assert.deepEqual(checkCompletionExample(line("Review: good", " positive\n"), FORMAT), ["prompt_without_separator"]);
  assert.deepEqual(checkCompletionExample(line("a\n\n###\n\nb\n\n###\n\n", " positive\n"), FORMAT), ["separator_inside_prompt"]);
  assert.deepEqual(checkCompletionExample(line("x\n\n###\n\n", "positive\n"), FORMAT), ["completion_without_leading_space"]);
  assert.deepEqual(checkCompletionExample(line("x\n\n###\n\n", " positive"), FORMAT), ["completion_without_end"]);
  assert.deepEqual(checkCompletionExample(line("x\n\n###\n\n", " pos\nitive\n"), FORMAT), ["end_inside_completion"]);
  assert.deepEqual(checkCompletionExample(line("x\n\n###\n\n", " positive\n", { weight: 1 }), FORMAT), ["unrecognized_key"]);
  assert.deepEqual(checkCompletionExample('{"prompt":"x"}', FORMAT), ["missing_prompt_or_completion"]);
  assert.deepEqual(checkCompletionExample('{"prompt":"","completion":" a\\n"}', FORMAT), ["empty_or_non_string_prompt_or_completion"]);
  const report = validateJsonl([line("a\n\n###\n\n", " positive\n"), line("a\n\n###\n\n", " negative\n"), "oops"].join("\n"), 5, FORMAT);
  assert.deepEqual(report.errors, { duplicate_prompt: { count: 1, lines: [2] }, invalid_json: { count: 1, lines: [3] } });
  assert.equal(unescapeSeparator("\\n\\n###\\n\\n"), "\n\n###\n\n");
  assert.equal(completionPrompt([{ role: "system", content: "S" }, { role: "user", content: "U" }], FORMAT), "S\n\nU\n\n###\n\n");
});

test("build → validate → classify: the trained prompt is the prompt sent, the answer stops at the end marker", async () => {
  const input = tempFile("completion-train.csv", "sentence,label\nI loved it,positive\nThe soup was cold,negative\nIt opens at nine,neutral\nGreat staff,positive\nAwful noise,negative\nA table by the door,neutral\n");
  const out = join(tempDir(), "completion-train.jsonl");
  const built = runCli(["finetune", "build", "-i", input, "-o", out, "--format", "completion", "--prompt-end", "\\n\\n###\\n\\n", "--completion-end", "\\n", "--val-fraction", "0"]);
  assert.equal(built.status, 0, built.stderr);
  const examples = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { prompt: string; completion: string });
  assert.equal(examples.length, 6);
  assert.deepEqual(examples.map((e) => e.completion), [" positive\n", " negative\n", " neutral\n", " positive\n", " negative\n", " neutral\n"]);
  assert.ok(examples.every((e) => e.prompt.endsWith("\n\n###\n\n") && !e.prompt.includes("\"label\"")));
  assert.match(examples[0]!.prompt, /I loved it/);
  assert.deepEqual(JSON.parse(readFileSync(`${out}.meta.json`, "utf8")).completionFormat, FORMAT);

  const valid = runCli(["finetune", "validate", out]);
  assert.equal(valid.status, 0, valid.stdout + valid.stderr);
  assert.match(valid.stdout, /6 examples, no format errors/);
  const broken = tempFile("completion-broken.jsonl", readFileSync(out, "utf8").replace('" neutral\\n"', '"neutral"').replace(/\\n\\n###\\n\\n"/, '"'));
  const invalid = runCli(["finetune", "validate", broken, "--prompt-end", "\\n\\n###\\n\\n", "--completion-end", "\\n", "-f", "json"]);
  assert.equal(invalid.status, 2);
  const report = JSON.parse(invalid.stdout);
  assert.deepEqual(report.errors.prompt_without_separator, { count: 1, lines: [1] });
  assert.deepEqual(report.errors.completion_without_leading_space, { count: 1, lines: [3] });
  assert.deepEqual(report.errors.completion_without_end, { count: 1, lines: [3] });
  const estimate = runCli(["finetune", "estimate", out, "--model", "openai:babbage-002", "-f", "json"]);
  assert.equal(estimate.status, 0, estimate.stderr);
  assert.equal(JSON.parse(estimate.stdout).examples, 6);

  const db = join(tempDir(), "completion.db");
  const predictions = join(tempDir(), "completion-pred.csv");
  const model = `compat:${server.url}#ft:babbage-002:tandem::abc123`;
  const classified = await runCliAsync(["classify", "--strategy", "llm", "--model", model, "-i", input, "-o", predictions, "--prompt-end", "\\n\\n###\\n\\n", "--completion-end", "\\n", "--db", db]);
  assert.equal(classified.status, 0, classified.stderr);
  assert.equal(received.length, 6);
  const trained = new Set(examples.map((e) => e.prompt));
  for (const body of received) {
    assert.ok(trained.has(body.prompt as string), `sent a prompt that was not trained on: ${JSON.stringify(body.prompt)}`);
    assert.deepEqual(body.stop, ["\n"]);
    assert.equal(body.model, "ft:babbage-002:tandem::abc123");
  }
  const rows = readFileSync(predictions, "utf8").trim().split("\n").slice(1).map((l) => l.split(",")[2]);
  assert.deepEqual(rows, ["positive", "negative", "neutral", "positive", "negative", "neutral"]);

  const anthropic = runCli(["classify", "--strategy", "llm", "--model", "anthropic:claude-3-5-haiku-latest", "-i", input, "-o", join(tempDir(), "x.csv"), "--completion-end", "\\n"], { env: { ANTHROPIC_API_KEY: "sk-ant-test" } });
  assert.equal(anthropic.status, 2);
  assert.match(anthropic.stderr, /prompt\/completion format needs a model served through an OpenAI-style completions API \(openai:, together:, compat:\); anthropic:claude-3-5-haiku-latest is anthropic/);
  const chatFlags = runCli(["finetune", "build", "-i", input, "-o", join(tempDir(), "c.jsonl"), "--prompt-end", "##"]);
  assert.equal(chatFlags.status, 2);
  assert.match(chatFlags.stderr, /add --format completion/);
});
