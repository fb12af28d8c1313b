// The classifier core: one factory for every entry point (library, classify, run), cascades and
// ensembles from the CLI, config errors with file, line and field, and the library's one-call entry.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { createClassifier } from "../src/classifier.js";
import { readTable } from "../src/data/readers.js";
import { TableWriter } from "../src/data/writers.js";
import { RunStore } from "../src/experiments/store.js";
import { createStrategy, parseStrategyConfig } from "../src/strategies/factory.js";
import { UserError } from "../src/core/errors.js";
import { startMockServer, type MockServer } from "./fixtures/openai-server.js";
import { runCli, runCliAsync, SHARED, tempDir, tempFile } from "./helpers.js";

let server: MockServer;
before(async () => {
  server = await startMockServer({});
});
after(async () => {
  await server.close();
});

/** n rows of the merged test split, every 97th. */
async function sample(name: string, n: number): Promise<string> {
  const table = await readTable(join(SHARED, "data/sentiment-merged/test_all.csv"));
  const file = join(tempDir(), name);
  const writer = new TableWriter(file, table.columns);
  table.records.filter((_, i) => i % 97 === 0).slice(0, n).forEach((record) => writer.write(record.values));
  writer.close();
  return file;
}

test("classify --strategy cascade equals the same cascade in tandem run: predictions, routing and cost, no call made twice", async () => {
  const data = await sample("cascade-data.csv", 60);
  const db = join(tempDir(), "cascade.db");
  const llm = `compat:${server.url}#gpt-4o-mini`;
  const experiment = join(tempDir(), "cascade.yaml");
  writeFileSync(experiment, `name: cascade-check
dataset:
  file: ${data}
strategies:
  - name: encoder
    type: encoder
    model: starter
  - name: gpt
    type: llm
    model: ${llm}
    program: label
    hints: encoder
  - name: cascade
    type: cascade
    encoder: encoder
    llm: gpt
    tau: 0.8
`);
  const run = await runCliAsync(["run", experiment, "--db", db, "--iterations", "200", "--format", "json"]);
  assert.equal(run.status, 0, run.stderr);
  const comparison = JSON.parse(run.stdout);
  const store = new RunStore(db);
  const stored = store.predictions(comparison.run, "cascade");
  const encoderStored = store.predictions(comparison.run, "encoder");
  const requestsAfterRun = server.requests;

  const out = join(tempDir(), "cascade-out.csv");
  const classify = await runCliAsync(["classify", "--strategy", "cascade", "--encoder", "starter", "--llm", llm, "--program", "label", "--tau", "0.8", "-i", data, "-o", out, "--db", db]);
  assert.equal(classify.status, 0, classify.stderr);
  assert.equal(server.requests, requestsAfterRun, "every routed prompt was already answered by the run (same prompts, same cache keys)");
  const rows = (await readTable(out)).records.map((r) => r.values);
  assert.equal(rows.length, 60);
  const routed = encoderStored.map((p) => Math.max(...p.probabilities!) < 0.8);
  assert.ok(routed.some(Boolean) && !routed.every(Boolean), `a cascade with both sides: ${routed.filter(Boolean).length} of 60 routed`);
  rows.forEach((row, i) => {
    assert.equal(row.prediction, stored[i]!.label, `row ${i + 1}: prediction`);
    assert.equal(row.answered_by, routed[i] ? "llm" : "encoder", `row ${i + 1}: who answered`);
    assert.equal(stored[i]!.answeredBy, routed[i] ? "gpt" : "encoder");
    assert.ok(Math.abs(Number(row.cost_usd) - stored[i]!.costUsd) < 1e-9, `row ${i + 1}: cost ${row.cost_usd} vs ${stored[i]!.costUsd}`);
  });
  const cascadeRow = comparison.table.find((r: { strategy: string }) => r.strategy === "cascade");
  assert.equal(cascadeRow.llm_share, routed.filter(Boolean).length / 60);
  const total = rows.reduce((sum, row) => sum + Number(row.cost_usd), 0);
  assert.ok(Math.abs(total - cascadeRow.inference_cost_usd) < 1e-9);
});

test("classify --strategy ensemble averages its members' probabilities; --config runs a strategy file", async () => {
  const data = await sample("ensemble-data.csv", 40);
  const members: Record<string, string> = {};
  for (const strategy of ["lexicon", "encoder"]) {
    members[strategy] = join(tempDir(), `member-${strategy}.csv`);
    assert.equal(runCli(["classify", "--strategy", strategy, "-i", data, "-o", members[strategy]!]).status, 0);
  }
  const out = join(tempDir(), "ensemble-out.csv");
  const result = runCli(["classify", "--strategy", "ensemble", "--members", "lexicon,starter", "--method", "average", "-i", data, "-o", out]);
  assert.equal(result.status, 0, result.stderr);
  const read = async (file: string) => (await readTable(file)).records.map((r) => JSON.parse(String(r.values.probabilities)) as number[]);
  const [lexicon, encoder, ensemble] = [await read(members.lexicon!), await read(members.encoder!), await read(out)];
  assert.equal(ensemble.length, 40);
  ensemble.forEach((vector, i) => vector.forEach((p, c) => assert.ok(Math.abs(p - (lexicon[i]![c]! + encoder[i]![c]!) / 2) < 2e-6, `row ${i + 1} class ${c}`)));

  const config = tempFile("strategies.yaml", "strategies:\n  - name: lex\n    type: lexicon\n    neutral_threshold: 0.5\n  - name: vote\n    type: ensemble\n    members: [lex, starter-enc]\n    method: average\n  - name: starter-enc\n    type: encoder\n    model: starter\ndefault: vote\n");
  const viaConfig = join(tempDir(), "config-out.csv");
  const fromFile = runCli(["classify", "--config", config, "-i", data, "-o", viaConfig]);
  assert.equal(fromFile.status, 0, fromFile.stderr);
  assert.equal((await readTable(viaConfig)).records.length, 40);
  const lexOnly = runCli(["classify", "--config", config, "--use", "lex", "-i", data, "-o", viaConfig]);
  assert.equal(lexOnly.status, 0, lexOnly.stderr);
  const wide = runCli(["classify", "--strategy", "lexicon", "--neutral-threshold", "0.5", "-i", data, "-o", join(tempDir(), "wide.csv")]);
  assert.equal(wide.status, 0);
  assert.equal(readFileSync(viaConfig, "utf8"), readFileSync(join(tempDir(), "wide.csv"), "utf8"));
});

test("bad strategy configs: misspelt keys, wrong types, ill-typed members and cycles stop with file, line and field, exit 2, nothing run", async () => {
  const data = await sample("bad-config-data.csv", 5);
  const cases: Array<[string, RegExp]> = [
    ["strategies:\n  - name: lex\n    type: lexicon\n    nuetral_threshold: 0.3\n", /, line 4, column "strategies\.0\.nuetral_threshold": unknown field "nuetral_threshold"/],
    ["type: lexicon\nneutral_threshold: wide\n", /, line 2, column "neutral_threshold": "neutral_threshold" must be a number/],
    ["type: cascade\nencoder: lexicon\nllm: openai:gpt-4o-mini\n", /, line 2, column "encoder": a cascade's encoder must give class probabilities/],
    ["type: cascade\nencoder: starter\nllm: lexicon\n", /, line 3, column "llm": a cascade's llm must be an llm strategy/],
    ["strategies:\n  - name: a\n    type: ensemble\n    members: [b, lexicon-x]\n  - name: b\n    type: ensemble\n    members: [a, lexicon-x]\n  - name: lexicon-x\n    type: lexicon\n", /strategies form a cycle: a → b → a/],
  ];
  for (const [text, message] of cases) {
    const file = tempFile("bad-strategy.yaml", text);
    const result = runCli(["classify", "--config", file, "-i", data, "-o", join(tempDir(), "never.csv")]);
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, message);
    assert.match(result.stderr, /bad-strategy\.yaml/);
    assert.equal(result.stderr.trim().split("\n").length, 1, "one line");
  }
  const db = join(tempDir(), "bad-run.db");
  const experiment = tempFile("bad-run.yaml", `dataset:\n  file: ${data}\nstrategies:\n  - name: lex\n    type: lexicon\n    nuetral_threshold: 0.3\n`);
  const run = runCli(["run", experiment, "--db", db]);
  assert.equal(run.status, 2);
  assert.match(run.stderr, /bad-run\.yaml, line 6, column "strategies\.0\.nuetral_threshold": unknown field/);
  assert.deepEqual(new RunStore(db).listRuns(), [], "nothing was run");
});

test("library: createClassifier from a shorthand, a config and a set; createStrategy validates what callers pass", async () => {
  const lexicon = await createClassifier("lexicon");
  const [happy, sad] = await lexicon.classify(["I love this place, wonderful!", "Terrible, never again."]);
  assert.equal(happy!.label, "positive");
  assert.equal(sad!.label, "negative");
  assert.equal(happy!.status, "ok");
  assert.equal(happy!.probabilitiesByLabel.positive, happy!.probabilities![2]);
  await lexicon.close();

  const starter = await createClassifier({ type: "encoder", model: "starter" });
  const results = await starter.classify(["An utterly delightful film.", "Boring and far too long."]);
  assert.deepEqual(results.map((r) => r.answeredBy), ["encoder", "encoder"]);
  assert.ok(results.every((r) => Math.abs(r.probabilities!.reduce((a, b) => a + b, 0) - 1) < 1e-5));
  await starter.close();
  await starter.close(); // closing twice is harmless

  const db = join(tempDir(), "library.db");
  const cascade = await createClassifier({ type: "cascade", encoder: "starter", llm: `compat:${server.url}#gpt-4o-mini`, tau: 1 }, { store: db });
  const before = server.requests;
  const answered = await cascade.classify(["Great!", "Awful."]);
  assert.equal(server.requests - before, 2, "τ = 1 sends every item to the LLM");
  assert.ok(answered.every((r) => r.answeredBy === `compat:${server.url}#gpt-4o-mini` && r.status === "ok" && r.costUsd > 0));
  await cascade.close();

  assert.throws(() => parseStrategyConfig({ type: "lexicon", nuetralThreshold: 1 } as never), (error: UserError) => /unknown field "nuetralThreshold"/.test(error.message));
  await assert.rejects(createStrategy({ type: "cascade", encoder: "lexicon", llm: "openai:gpt-4o-mini" }), /a cascade's encoder must give class probabilities/);
});
