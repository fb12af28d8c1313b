// Hyper-parameter search for the head: median pruning by hand-computed medians, the Parzen sampler
// moving towards the good trials, and the CLI end to end (trials stored in the run store, the best
// trial's folder written and loadable, the report, the cached encodings reused).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Random } from "../src/core/random.js";
import { RunStore } from "../src/experiments/store.js";
import { DEFAULT_SEARCH_SPACE, pruneReason, suggestTrial, type TrialRecord } from "../src/training/head-search.js";
import { runCli, SHARED, tempDir, tempFile } from "./helpers.js";

const trial = (n: number, scores: number[], params: Partial<TrialRecord["params"]> = {}): TrialRecord => ({
  trial: n, scores, best: Math.max(...scores), status: "complete", seconds: 1,
  params: { lr: 1e-3, hiddenDim: 256, layers: 2, dropout: 0.2, activation: "relu", ...params },
});

test("median pruning: below the median of the finished trials' best-so-far at the same epoch stops", () => {
  const history = [trial(1, [0.5, 0.6, 0.7]), trial(2, [0.4, 0.55, 0.6]), trial(3, [0.45, 0.65, 0.66]), trial(4, [0.3, 0.5])];
  // At epoch 2 the best-so-far are 0.6, 0.55, 0.65, 0.5 → median (0.55 + 0.6) / 2 = 0.575.
  assert.match(pruneReason([0.5, 0.57], history)!, /pruned after epoch 2: best validation macro F1 57\.00 below the median 57\.50 of 4 finished trials/);
  assert.equal(pruneReason([0.5, 0.58], history), undefined);
  assert.equal(pruneReason([0.1], history), undefined, "no pruning before epoch 2");
  assert.equal(pruneReason([0.1, 0.1], history.slice(0, 2)), undefined, "no pruning before 3 trials have finished");
  // At epoch 3 only three trials got that far: 0.7, 0.6, 0.66 → median 0.66.
  assert.match(pruneReason([0.3, 0.5, 0.65], history)!, /median 66\.00 of 3/);
});

test("the Parzen sampler draws near the good trials once the random start-up is over", () => {
  const history: TrialRecord[] = [];
  for (let i = 0; i < 12; i++) {
    const good = i % 4 === 0;
    history.push(trial(i + 1, [good ? 0.8 : 0.5], good ? { activation: "gelu", layers: 1, lr: 2e-3 } : { activation: "tanh", layers: 3, lr: 1.5e-4 }));
  }
  const random = new Random(9);
  const suggestions = Array.from({ length: 60 }, () => suggestTrial(DEFAULT_SEARCH_SPACE, history, random));
  const gelu = suggestions.filter((s) => s.activation === "gelu").length;
  const oneLayer = suggestions.filter((s) => s.layers === 1).length;
  const highLr = suggestions.filter((s) => s.lr > 5e-4).length;
  // Uniform sampling would give about 15, 20 and 33 of 60.
  assert.ok(gelu >= 30, `gelu ${gelu}/60`);
  assert.ok(oneLayer >= 35, `one layer ${oneLayer}/60`);
  assert.ok(highLr >= 40, `lr above 5e-4 ${highLr}/60`);
  const early = suggestTrial(DEFAULT_SEARCH_SPACE, history.slice(0, 3), new Random(1));
  assert.ok(DEFAULT_SEARCH_SPACE.activation.includes(early.activation), "random start-up draws from the space");
});

test("CLI: train head --search stores every trial, writes the best trial's folder and the report, reuses the encodings", () => {
  const rows = readFileSync(join(SHARED, "data/sentiment-merged/val_all.csv"), "utf8").split("\n");
  const input = tempFile("search-train.csv", rows.slice(0, 501).join("\n") + "\n");
  const out = join(tempDir(), "search-head");
  const db = join(tempDir(), "search.db");
  const cache = join(tempDir(), "search-cache");
  const args = ["train", "head", "--train", input, "-o", out, "--search", "6", "--epochs", "4", "--db", db, "--cache-dir", cache, "--format", "json"];
  const run = runCli(args);
  assert.equal(run.status, 0, run.stderr);
  const result = JSON.parse(run.stdout);
  assert.equal(result.trials.length, 6);
  assert.deepEqual(result.trials[0].params, { lr: 0.001, hiddenDim: 1024, layers: 2, dropout: 0.3, activation: "swishglu" }, "trial 1 is the head the flags give");
  assert.equal(result.best, Math.max(...result.trials.map((t: TrialRecord) => t.best)));
  assert.equal(result.beat_baseline, result.best_trial !== 1 && result.best > result.baseline);
  assert.match(run.stderr, /trial 6\/6: lr/);

  const stored = new RunStore(db).headSearch(result.search)!;
  assert.equal(stored.trials.length, 6);
  assert.deepEqual(stored.trials.map((t) => t.best), result.trials.map((t: TrialRecord) => t.best));
  assert.equal(stored.bestTrial, result.best_trial);

  const log = JSON.parse(readFileSync(join(out, "training_log.json"), "utf8"));
  assert.equal(log.search.best_trial, result.best_trial);
  const best = result.trials[result.best_trial - 1] as TrialRecord;
  assert.equal(log.head.numLayers, best.params.layers);
  const validation = JSON.parse(readFileSync(join(out, "validation_report.json"), "utf8"));
  assert.ok(Math.abs(validation.overall["macro avg"]["f1-score"] - result.best) < 1e-6, "the written head is the best trial's best epoch");
  const html = readFileSync(join(out, "search.html"), "utf8");
  assert.equal((html.match(/<tr( class="best")?><td>\d/g) ?? []).length, 6);
  assert.match(html, /<tr class="best"><td>/);

  const sample = tempFile("search-sample.csv", "sentence\nA lovely evening\n");
  assert.equal(runCli(["classify", "--strategy", "encoder", "--model", out, "-i", sample, "-o", join(tempDir(), "search-pred.csv")]).status, 0);
  const again = runCli([...args.slice(0, -2), "--search", "2", "--format", "text"]);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /train: \d+ vectors of width \d+ from the cache/);
  assert.match(again.stdout, /the search (beat|could not beat) the given head/);
});
