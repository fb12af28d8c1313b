// Experiments: the YAML file and its errors, Holm's correction, ensembles, a full run (lexicon, encoder,
// LLM on the test server, cascade, ensemble) stored and read back, the HTML report rendered in headless
// Chromium, and `tandem demo`.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseExperiment } from "../src/experiments/config.js";
import { holm } from "../src/experiments/compare.js";
import { ensemblePredictions } from "../src/strategies/ensemble.js";
import { UserError } from "../src/core/errors.js";
import { startMockServer, type MockServer } from "./fixtures/openai-server.js";
import { randomBertWeights, writeModelDir } from "./fixtures/bert-graph.js";
import { runCli, runCliAsync, SHARED, tempDir } from "./helpers.js";

test("experiment files: errors name the line and the field", () => {
  const bad = (yaml: string, message: RegExp) =>
    assert.throws(() => parseExperiment(yaml, "exp.yaml"), (error: UserError) => {
      assert.match(error.describe(), message);
      return true;
    });
  bad("dataset:\n  file: x.csv\nstrategies:\n  - name: a\n    type: magic\n", /exp\.yaml, line 5, column "strategies\.0\.type": unknown strategy type "magic"/);
  bad("dataset:\n  file: x.csv\nstrategies:\n  - name: c\n    type: cascade\n    encoder: enc\n    llm: gpt\n", /line 6, column "strategies\.0\.encoder": "enc" is not a strategy defined in this file/);
  bad("strategies:\n  - name: a\n    type: lexicon\n", /"dataset" is required/);
  // Misspelt keys, wrong types, ill-typed members and cycles: each names the line and the field as written.
  bad("dataset:\n  file: x.csv\nstrategies:\n  - name: a\n    type: lexicon\n    nuetral_threshold: 0.3\n", /line 6, column "strategies\.0\.nuetral_threshold": unknown field "nuetral_threshold"/);
  bad("dataset:\n  file: x.csv\nbasline: a\nstrategies:\n  - name: a\n    type: lexicon\n", /line 3, column "basline": unknown field "basline"/);
  bad("dataset:\n  file: x.csv\nstrategies:\n  - name: a\n    type: lexicon\n    neutral_threshold: high\n", /line 6, column "strategies\.0\.neutral_threshold": "neutral_threshold" must be a number/);
  const lexiconCascade = "dataset:\n  file: x.csv\nstrategies:\n  - name: lex\n    type: lexicon\n  - name: gpt\n    type: llm\n    model: openai:gpt-4o-mini\n  - name: c\n    type: cascade\n    encoder: lex\n    llm: gpt\n";
  bad(lexiconCascade, /line 11, column "strategies\.2\.encoder": a cascade's encoder must give class probabilities .* "lex" \(lexicon\) does not/);
  bad("dataset:\n  file: x.csv\nstrategies:\n  - name: lex\n    type: lexicon\n  - name: enc\n    type: encoder\n  - name: c\n    type: cascade\n    encoder: enc\n    llm: lex\n", /line 11, column "strategies\.2\.llm": a cascade's llm must be an llm strategy .* "lex" \(lexicon\) is not/);
  bad("dataset:\n  file: x.csv\nstrategies:\n  - name: a\n    type: cascade\n    encoder: b\n    llm: g\n  - name: b\n    type: cascade\n    encoder: a\n    llm: g\n  - name: g\n    type: llm\n    model: openai:x\n", /line 6, column "strategies\.0\.encoder": strategies form a cycle: a → b → a/);
  bad("dataset:\n  file: x.csv\nstrategies: []\n", /"strategies" must be a non-empty list/);
  bad("dataset:\n  file: x.csv\nbaseline: zzz\nstrategies:\n  - name: a\n    type: lexicon\n", /line 3, column "baseline": baseline "zzz" is not one of the strategies/);
  const ok = parseExperiment("name: t\ndataset:\n  file: data.csv\n  slices: source\nstrategies:\n  - name: a\n    type: lexicon\n  - name: b\n    type: ensemble\n    members: [a, a]\n", "/x/exp.yaml");
  assert.equal(ok.dataset.file, "/x/data.csv");
  assert.deepEqual(ok.strategies[1], { name: "b", type: "ensemble", members: ["a", "a"], method: "majority" });
});

test("Holm's correction by hand; ensembles by majority and by averaged probabilities", () => {
  assert.deepEqual(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06]);
  assert.deepEqual(holm([0.5, 0.6]), [1, 1]);
  const labels = ["neg", "pos"];
  const members = [
    [{ label: "neg", probabilities: [0.6, 0.4] }, { label: "pos", probabilities: [0.45, 0.55] }],
    [{ label: "pos", probabilities: [0.1, 0.9] }, { label: "pos", probabilities: [0.4, 0.6] }],
    [{ label: "neg", probabilities: [0.55, 0.45] }, { label: "neg", probabilities: [0.9, 0.1] }],
  ].map((member) => member.map((p) => ({ ...p, status: "ok" as const, costUsd: 0 })));
  assert.deepEqual(ensemblePredictions(members, labels, "majority").map((p) => p.label), ["neg", "pos"]);
  // Averages: row 0 → [0.4167, 0.5833] → pos; row 1 → [0.5833, 0.4167] → neg.
  assert.deepEqual(ensemblePredictions(members, labels, "average").map((p) => p.label), ["pos", "neg"]);
});

let server: MockServer;
before(async () => {
  server = await startMockServer({});
});
after(async () => {
  await server.close();
});

function chromium(): string | undefined {
  for (const candidate of ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]) if (existsSync(candidate)) return candidate;
  return undefined;
}

test("tandem run: every kind of strategy, stored, compared, exported, reported; the HTML renders in Chromium", async (t) => {
  const dir = tempDir();
  const tokenizer = join(SHARED, "models/tokenizers/bert-base-uncased");
  const encoderDir = writeModelDir(join(dir, "exp-encoder"), randomBertWeights({ vocab: 30522, hidden: 16, layers: 1, heads: 2, intermediate: 32, maxPositions: 512 }, 3, 3), Object.fromEntries(["tokenizer.json", "tokenizer_config.json"].map((f) => [f, readFileSync(join(tokenizer, f))])), { id2label: { 0: "negative", 1: "neutral", 2: "positive" } });
  const sample = runCli(["data", "sample", join(SHARED, "data/sentiment-merged/test_all.csv"), "--fraction", "0.01", "--stratify", "source+label", "-o", join(dir, "exp-data.csv")]);
  assert.equal(sample.status, 0, sample.stderr);
  const data = join(dir, "exp-data.csv");
  const experiment = join(dir, "exp.yaml");
  writeFileSync(experiment, `name: grid
dataset:
  file: ${data}
  slices: source
baseline: lexicon
strategies:
  - name: lexicon
    type: lexicon
  - name: encoder
    type: encoder
    model: ${encoderDir}
  - name: llm-label
    type: llm
    model: compat:${server.url}#gpt-4o-mini
    program: label
    hints: encoder
  - name: cascade
    type: cascade
    encoder: encoder
    llm: llm-label
    tau: 0.5
  - name: vote
    type: ensemble
    members: [lexicon, encoder, llm-label]
`);
  const db = join(dir, "runs.db");
  const html = join(dir, "report.html");
  const md = join(dir, "report.md");
  const result = await runCliAsync(["run", experiment, "--db", db, "--html", html, "--md", md, "--iterations", "500"]);
  assert.equal(result.status, 0, result.stderr);
  const id = /^run (\S+)/.exec(result.stdout)![1]!;
  for (const name of ["lexicon", "encoder", "llm-label", "cascade", "vote"]) assert.match(result.stdout, new RegExp(`\\n${name}`));
  assert.match(result.stdout, /Holm–Bonferroni over 4 comparisons/);
  const comparison = JSON.parse(runCli(["runs", "compare", id, "--db", db, "--iterations", "500"]).stdout);
  assert.equal(comparison.rows, 64);
  const cascade = comparison.table.find((row: { strategy: string }) => row.strategy === "cascade");
  const llm = comparison.table.find((row: { strategy: string }) => row.strategy === "llm-label");
  assert.ok(cascade.llm_share > 0 && cascade.llm_share < 1, `share ${cascade.llm_share}`);
  assert.ok(Math.abs(cascade.inference_cost_usd - llm.inference_cost_usd * cascade.llm_share) < llm.inference_cost_usd * 0.5 + 1e-12);
  assert.deepEqual(Object.keys(cascade.slices).sort(), ["dynasent_r1", "dynasent_r2", "sst_local"]);
  assert.ok(comparison.table.some((row: { pareto: boolean }) => row.pareto));
  assert.equal(comparison.pairwise.lexicon.lexicon, 1);
  assert.match(runCli(["runs", "list", "--db", db]).stdout, new RegExp(`${id}\\s+done\\s+64 rows`));
  const exported = join(dir, "export.csv");
  assert.equal(runCli(["runs", "export", id, "-o", exported, "--db", db]).status, 0);
  const header = readFileSync(exported, "utf8").split("\n")[0];
  assert.equal(header, "row,label,slice,lexicon,lexicon_probabilities,encoder,encoder_probabilities,llm-label,llm-label_probabilities,cascade,cascade_probabilities,vote,vote_probabilities");
  const evaluated = runCli(["evaluate", "-i", exported, "--gold", "label", "--pred", "cascade", "-f", "json"]);
  assert.equal(JSON.parse(evaluated.stdout).overall["macro avg"]["f1-score"], cascade.macro_f1);
  assert.match(readFileSync(md, "utf8"), /\| cascade( ◆)? \| \d+\.\d\d \|/);
  // A second run of the same file is answered from the cache: no new LLM calls.
  const calls = server.requests;
  assert.equal((await runCliAsync(["run", experiment, "--db", db, "--iterations", "200"])).status, 0);
  assert.equal(server.requests, calls);

  const browser = chromium();
  if (!browser) {
    assert.ok(!process.env.CI, "CI installs Debian's chromium (see .ci/run)");
    t.skip("no chromium here (apt-get install chromium)");
    return;
  }
  const dom = spawnSync(browser, ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", `--user-data-dir=${join(dir, "chromium")}`, "--virtual-time-budget=15000", "--dump-dom", `file://${html}`], { encoding: "utf8", timeout: 90_000 });
  assert.match(dom.stdout, /data-rendered="5"/, "all five charts rendered");
  assert.doesNotMatch(dom.stdout, /data-error=/);
  for (const chart of ["f1-per-slice", "cost-frontier", "confusion", "cascade-curve", "significance"]) {
    const section = dom.stdout.slice(dom.stdout.indexOf(`id="${chart}"`));
    assert.match(section.slice(0, 200_000), /<svg[^>]*class="marks"/, `${chart} has an SVG`);
  }
  assert.equal((dom.stdout.match(/role-mark confusion_cell|mark-rect role-mark/g) ?? []).length > 0, true);
  assert.match(dom.stdout, /Cascade routing/);
});

test("replicates: sampling strategies run once per seed (kept apart in the cache), reported as mean ± sd; deterministic ones run once", async () => {
  const dir = tempDir();
  const sample = runCli(["data", "sample", join(SHARED, "data/sentiment-merged/test_all.csv"), "--fraction", "0.01", "--stratify", "source+label", "--seed", "3", "-o", join(dir, "data.csv")]);
  assert.equal(sample.status, 0, sample.stderr);
  const experiment = join(dir, "replicates.yaml");
  const write = (replicates: number, seed: number) => writeFileSync(experiment, `name: replicates
dataset:
  file: ${join(dir, "data.csv")}
  slices: source
replicates: ${replicates}
seed: ${seed}
baseline: lexicon
strategies:
  - name: lexicon
    type: lexicon
  - name: sampled
    type: llm
    model: compat:${server.url}#gpt-4o-mini
    temperature: 1
  - name: vote
    type: ensemble
    members: [lexicon, lexicon, sampled]
`);
  write(3, 7);
  const db = join(dir, "runs.db");
  const before = server.requests;
  const result = await runCliAsync(["run", experiment, "--db", db, "--iterations", "200", "-f", "json"]);
  assert.equal(result.status, 0, result.stderr);
  const rows = 64;
  assert.equal(server.requests - before, 3 * rows, "one call per row and seed");
  const comparison = JSON.parse(result.stdout);
  const row = (name: string) => comparison.table.find((r: { strategy: string }) => r.strategy === name);
  assert.equal(row("lexicon").replicates, undefined);
  const sampled = row("sampled");
  assert.deepEqual(sampled.replicates.seeds, [7, 8, 9]);
  assert.equal(new Set(sampled.replicates.macro_f1).size > 1, true, `replicates differ: ${sampled.replicates.macro_f1}`);
  const values: number[] = sampled.replicates.macro_f1;
  const mean = values.reduce((a, b) => a + b, 0) / 3;
  assert.ok(Math.abs(sampled.macro_f1 - mean) < 1e-12);
  const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / 2);
  assert.ok(Math.abs(sampled.replicates.macro_f1_sd - sd) < 1e-12);
  assert.deepEqual(row("vote").replicates.seeds, [7, 8, 9]);
  assert.match(comparison.correction, /paired by their first replicate \(seed 7\)/);
  const id = comparison.run;
  const shown = runCli(["runs", "show", id, "--db", db, "--iterations", "200"]);
  assert.match(shown.stdout, new RegExp(`sampled\\s+${(mean * 100).toFixed(2)} ± ${(sd * 100).toFixed(2)} \\(n=3\\)`));
  // The same replicates again: every answer from the cache. One more replicate: only its calls are new.
  assert.equal((await runCliAsync(["run", experiment, "--db", db, "--iterations", "200"])).status, 0);
  assert.equal(server.requests - before, 3 * rows);
  write(4, 7);
  assert.equal((await runCliAsync(["run", experiment, "--db", db, "--iterations", "200"])).status, 0);
  assert.equal(server.requests - before, 4 * rows);
  assert.throws(() => parseExperiment("dataset:\n  file: x.csv\nstrategies:\n  - name: a\n    type: llm\n    model: openai:gpt-4o\n    temperature: 3\n", "e.yaml"), (error: UserError) => {
    assert.match(error.describe(), /e\.yaml, line 7, column "strategies\.0\.temperature": "temperature" must be ≤ 2/);
    return true;
  });
});

test("tandem demo: the offline main job, table and report", async () => {
  const out = join(tempDir(), "demo");
  const result = await runCliAsync(["demo", "--out", out, "--iterations", "1000"], { env: { TANDEM_DEMO_GGUF: "/nonexistent.gguf" } });
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /lexicon\s+54\.88\s+55\.33/);
  assert.match(result.stdout, /Add an LLM: export OPENAI_API_KEY/);
  assert.ok(existsSync(join(out, "report.html")) && existsSync(join(out, "report.md")));
});
