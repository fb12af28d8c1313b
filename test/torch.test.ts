// The PyTorch engine (engines/torch) against the TypeScript engine: models exported from PyTorch give
// the same logits in tandem (max |diff| < 1e-4) for BERT, ELECTRA and DistilBERT, both export kinds,
// and the research's ElectraClassifier checkpoint layout. Needs Python with torch (CI installs
// Debian's python3-torch).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { EncoderModel } from "../src/encoders/model.js";
import { runEncoder } from "../src/encoders/inference.js";
import { ENGINE_DIR, findPython, hasTorch } from "../src/training/engine.js";
import { torchrunUsable } from "../src/training/full.js";
import { RunStore } from "../src/experiments/store.js";
import { runCli, SHARED, tempDir } from "./helpers.js";

const TOKENIZER = join(SHARED, "models/tokenizers/bert-base-uncased");
const TEXTS = ["A gorgeous, witty, seductive movie.", "The food was cold and the waiter rude.", "Meh", "It is a film about a film, and it is long."];

function python(args: string[]): string {
  return execFileSync(findPython(), args, { cwd: ENGINE_DIR, encoding: "utf8", env: { ...process.env, PYTHONPATH: ENGINE_DIR } });
}

function skipWithoutTorch(t: { skip: (message: string) => void }): boolean {
  if (hasTorch()) return false;
  assert.ok(!process.env.CI, "CI installs python3-torch (see .ci/run)");
  t.skip("no Python with torch here (install torch or Debian's python3-torch)");
  return true;
}

async function parity(dir: string): Promise<number> {
  const model = await EncoderModel.load(dir, { threads: 1 });
  const ours = await runEncoder(model, TEXTS, { batchSize: 3 });
  const ids = TEXTS.map((text) => model.tokenizer.encode(text, 512).ids);
  const reference = JSON.parse(python(["-m", "tandem_torch.predict", "--model", dir, "--ids", JSON.stringify(ids)])) as number[][];
  await model.release();
  let max = 0;
  reference.forEach((row, r) => row.forEach((value, c) => (max = Math.max(max, Math.abs(value - ours.values[r * ours.width + c]!)))));
  return max;
}

const CONFIGS: Record<string, Record<string, unknown>> = {
  electra: { model_type: "electra", vocab_size: 30522, hidden_size: 32, embedding_size: 16, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64, max_position_embeddings: 128, pooling: "mean", hidden_dim: 24, hidden_activation: "SwishGLU", num_layers: 2, dropout_rate: 0.3 },
  bert: { model_type: "bert", vocab_size: 30522, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64, max_position_embeddings: 128, pooling: "cls", hidden_dim: 16, hidden_activation: "ReLU", num_layers: 1, dropout_rate: 0 },
  // DistilBERT's hidden_dim is its FFN width; the head's width is head_hidden_dim.
  distilbert: { model_type: "distilbert", vocab_size: 30522, dim: 32, n_layers: 2, n_heads: 4, hidden_dim: 64, head_hidden_dim: 20, max_position_embeddings: 128, pooling: "max", hidden_activation: "gelu", num_layers: 2, dropout_rate: 0.1 },
};

test("PyTorch → ONNX → tandem gives PyTorch's logits (BERT, ELECTRA, DistilBERT; both export kinds)", async (t) => {
  if (skipWithoutTorch(t)) return;
  for (const [name, config] of Object.entries(CONFIGS)) {
    const file = join(tempDir(), `${name}.json`);
    // DistilBERT's config names its FFN width hidden_dim; the head then uses its own width.
    writeFileSync(file, JSON.stringify(config));
    const classifier = join(tempDir(), `${name}-classifier`);
    python(["-m", "tandem_torch.export", "--init", file, "--out", classifier, "--labels", "negative,neutral,positive", "--tokenizer", TOKENIZER, "--seed", "3"]);
    assert.ok((await parity(classifier)) < 1e-4, `${name} classifier graph`);
    const backbone = join(tempDir(), `${name}-backbone`);
    const result = runCli(["export", "--checkpoint", classifier, "-o", backbone, "--kind", "backbone"]);
    assert.equal(result.status, 0, result.stderr);
    const model = await EncoderModel.load(backbone);
    assert.equal(model.kind, "backbone+head");
    await model.release();
    assert.ok((await parity(backbone)) < 1e-4, `${name} backbone + TypeScript head`);
  }
});

test("the research's ElectraClassifier checkpoint (SwishGLU stored once) converts with tandem export", async (t) => {
  if (skipWithoutTorch(t)) return;
  const file = join(tempDir(), "research.json");
  writeFileSync(file, JSON.stringify({ ...CONFIGS.electra, id2label: { 0: "negative", 1: "neutral", 2: "positive" } }));
  const full = join(tempDir(), "research-full");
  python(["-m", "tandem_torch.export", "--init", file, "--out", full, "--tokenizer", TOKENIZER, "--seed", "5"]);
  // Rewrite the checkpoint as safetensors' save_model would: the shared SwishGLU kept under one key only.
  python(["-c", `import sys; sys.path.insert(0, '.'); from tandem_torch import safetensors_io as s; t = s.load('${full}/model.safetensors'); [t.pop(k) for k in list(t) if k.startswith('classifier.layers.4.projection')]; s.save(t, '${full}/model.safetensors')`]);
  const converted = join(tempDir(), "research-converted");
  const result = runCli(["export", "--checkpoint", full, "-o", converted]);
  assert.equal(result.status, 0, result.stderr);
  assert.ok((await parity(converted)) < 1e-4);
  const missing = runCli(["export", "--checkpoint", join(tempDir(), "nowhere"), "-o", join(tempDir(), "x")]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /training engine/);
});

function toyData(): string {
  // A learnable task: each label has its own words.
  const words: Record<string, string[]> = { negative: ["awful", "terrible", "bad", "boring", "worst"], neutral: ["table", "chair", "window", "paper", "street"], positive: ["great", "lovely", "wonderful", "excellent", "best"] };
  let state = 7;
  const next = (n: number) => ((state = (state * 1103515245 + 12345) % 2147483648), state % n);
  const rows = Array.from({ length: 240 }, () => {
    const label = Object.keys(words)[next(3)]!;
    return `${Array.from({ length: 2 + next(5) }, () => words[label]![next(5)]).join(" ")},${label}`;
  });
  const file = join(tempDir(), "toy.csv");
  writeFileSync(file, "sentence,label\n" + rows.join("\n") + "\n");
  return file;
}

const TINY = { model_type: "bert", vocab_size: 30522, hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 4, intermediate_size: 64, max_position_embeddings: 64, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0 };

function trainArgs(out: string, data: string, extra: string[] = []): string[] {
  const config = join(tempDir(), "tiny.json");
  writeFileSync(config, JSON.stringify(TINY));
  return ["train", "full", "--init-config", config, "--tokenizer", TOKENIZER, "--train", data, "--out", out, "--epochs", "3", "--batch-size", "16", "--lr", "0.003", "--hidden-dim", "16", "--activation", "swishglu", "--layers", "2", "--dropout", "0", ...extra];
}

function history(out: string): Array<{ epoch: number; train_loss: number; val_loss: number; macro_f1: number }> {
  return JSON.parse(readFileSync(join(out, "training_log.json"), "utf8")).history;
}

test("tandem train full: the loss goes down on a learnable task and the model folder classifies", async (t) => {
  if (skipWithoutTorch(t)) return;
  const data = toyData();
  const out = join(tempDir(), "full");
  const result = runCli(trainArgs(out, data, ["--epochs", "6"]));
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stderr, /216 training and 24 validation examples tokenized/);
  const log = history(out);
  assert.equal(log.length, 6);
  assert.ok(log[5]!.train_loss < log[0]!.train_loss * 0.5, `train loss ${log.map((h) => h.train_loss)}`);
  assert.ok(log[5]!.val_loss < log[0]!.val_loss, `val loss ${log.map((h) => h.val_loss)}`);
  const predictions = join(tempDir(), "toy-predictions.csv");
  assert.equal(runCli(["classify", "--strategy", "encoder", "--model", out, "-i", data, "-o", predictions]).status, 0);
  const accuracy = JSON.parse(runCli(["evaluate", "-i", predictions, "-f", "json"]).stdout).overall.accuracy;
  assert.ok(accuracy > 0.8, `accuracy ${accuracy}`);
  // The exported classifier graph also outputs last_hidden_state: a new head trains on its backbone.
  const head = join(tempDir(), "head-on-full");
  const headRun = runCli(["train", "head", "--encoder", out, "--train", data, "-o", head, "--head", "softmax", "--epochs", "5", "--lr", "0.05", "--no-cache", "--format", "json"]);
  assert.equal(headRun.status, 0, headRun.stderr);
  assert.ok(JSON.parse(headRun.stdout).validation.overall.accuracy > 0.8, headRun.stdout);
});

test("resume continues from the checkpoint to the same result; two DDP processes (gloo) equal one", async (t) => {
  if (skipWithoutTorch(t)) return;
  const data = toyData();
  const whole = join(tempDir(), "whole");
  assert.equal(runCli(trainArgs(whole, data)).status, 0);
  const parts = join(tempDir(), "parts");
  const first = runCli(trainArgs(parts, data, ["--stop-after-epoch", "1"]));
  assert.equal(first.status, 0, first.stderr);
  assert.equal(history(parts).length, 1);
  const resumed = runCli(trainArgs(parts, data, ["--resume"]));
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, /resumed after epoch 1/);
  const [a, b] = [history(whole), history(parts)];
  assert.equal(b.length, 3);
  a.forEach((h, i) => assert.ok(Math.abs(h.val_loss - b[i]!.val_loss) < 1e-6, `epoch ${i + 1}: ${h.val_loss} vs ${b[i]!.val_loss}`));
  // The same global batch of 16: one process, or two processes of 8 each through DDP.
  const ddp = join(tempDir(), "ddp");
  const distributed = runCli(trainArgs(ddp, data, ["--nproc", "2", "--launcher", "spawn"]));
  assert.equal(distributed.status, 0, distributed.stderr);
  assert.match(distributed.stderr, /2 process\(es\)/);
  history(ddp).forEach((h, i) => assert.ok(Math.abs(h.val_loss - a[i]!.val_loss) < 1e-5, `DDP epoch ${i + 1}: ${h.val_loss} vs ${a[i]!.val_loss}`));
});

test("--nproc 2 with the default launcher: falls back to starting the ranks when torchrun cannot start; --zero consolidates and saves its checkpoint", async (t) => {
  if (skipWithoutTorch(t)) return;
  const data = toyData();
  const out = join(tempDir(), "ddp-zero");
  const result = runCli(trainArgs(out, data, ["--nproc", "2", "--zero", "--epochs", "2"]));
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stderr, /2 process\(es\)/);
  if (!torchrunUsable()) assert.match(result.stderr, /note: torchrun does not start here .*--launcher spawn/);
  assert.ok(existsSync(join(out, "checkpoint.pt")), "rank 0 saved the consolidated checkpoint");
  const resumed = runCli(trainArgs(out, data, ["--nproc", "2", "--zero", "--epochs", "3", "--resume"]));
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.equal(history(out).length, 3);
});

test("a bare encoder checkpoint (Hugging Face BertModel names, no head) exports as an embedding backbone and fine-tunes", async (t) => {
  if (skipWithoutTorch(t)) return;
  const file = join(tempDir(), "bare.json");
  writeFileSync(file, JSON.stringify(CONFIGS.bert));
  const made = join(tempDir(), "bare-source");
  python(["-m", "tandem_torch.export", "--init", file, "--out", made, "--labels", "negative,neutral,positive", "--tokenizer", TOKENIZER, "--seed", "5"]);
  // As sentence-transformers ships BertModel: no "bert." prefix, no classifier tensors, no labels.
  const bare = join(tempDir(), "bare-checkpoint");
  python(["-c", `
import json, os, shutil
from tandem_torch import safetensors_io
src, dst = ${JSON.stringify(made)}, ${JSON.stringify(bare)}
os.makedirs(dst, exist_ok=True)
tensors = safetensors_io.load(os.path.join(src, "model.safetensors"))
safetensors_io.save({k[len("bert."):]: v for k, v in tensors.items() if k.startswith("bert.")}, os.path.join(dst, "model.safetensors"))
config = json.load(open(os.path.join(src, "config.json")))
json.dump({k: v for k, v in config.items() if k in ("model_type", "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "max_position_embeddings")}, open(os.path.join(dst, "config.json"), "w"))
for name in ("tokenizer.json", "tokenizer_config.json"):
    shutil.copy(os.path.join(src, name), dst)
`]);
  const backbone = join(tempDir(), "bare-backbone");
  const exported = runCli(["export", "--checkpoint", bare, "-o", backbone, "--kind", "backbone"]);
  assert.equal(exported.status, 0, exported.stderr);
  assert.ok(!existsSync(join(backbone, "head.safetensors")), "no random head is written");
  const model = await EncoderModel.load(backbone);
  assert.equal(model.kind, "embedding");
  await model.release();
  const data = join(tempDir(), "bare-train.csv");
  writeFileSync(data, "sentence,label\n" + Array.from({ length: 24 }, (_, i) => `${["good fun", "so dull", "a film"][i % 3]} ${i},${["positive", "negative", "neutral"][i % 3]}`).join("\n") + "\n");
  const trained = runCli(["train", "full", "--model", bare, "--train", data, "-o", join(tempDir(), "bare-tuned"), "--epochs", "1", "--batch-size", "8", "--group-by-length"]);
  assert.equal(trained.status, 0, trained.stderr);
  const tuned = await EncoderModel.load(join(tempDir(), "bare-tuned"));
  assert.deepEqual(tuned.labels, ["negative", "neutral", "positive"]);
  await tuned.release();
});

test("train full --search: trial 1 is the flags given, the others sampled and pruned by the median; the best run is the folder; every trial is in the run store", async (t) => {
  if (skipWithoutTorch(t)) return;
  const data = toyData();
  const out = join(tempDir(), "full-search");
  const db = join(tempDir(), "full-search.db");
  const run = runCli([...trainArgs(out, data, ["--epochs", "2"]), "--search", "5", "--db", db, "-f", "json"]);
  assert.equal(run.status, 0, run.stderr);
  const summary = JSON.parse(run.stdout) as { search: string; best_trial: number; best: number; baseline: number; beat_baseline: boolean; report: string; trials: Array<{ trial: number; params: { lr: number; layers: number; hiddenDim: number; activation: string; dropout: number }; scores: number[]; best: number; status: string }> };
  assert.equal(summary.trials.length, 5);
  assert.deepEqual(summary.trials[0]!.params, { lr: 0.003, hiddenDim: 16, layers: 2, dropout: 0, activation: "swishglu" });
  for (const trial of summary.trials.slice(1)) assert.ok(trial.params.lr >= 1e-5 && trial.params.lr <= 3e-4, `trial ${trial.trial}: lr ${trial.params.lr}`);
  for (const trial of summary.trials) {
    assert.equal(trial.best, Math.max(...trial.scores));
    assert.equal(trial.scores.length, trial.status === "pruned" ? trial.scores.length : 2);
  }
  const best = summary.trials.reduce((a, b) => (b.status === "complete" && b.best > a.best ? b : a));
  assert.equal(summary.best_trial, best.trial);
  assert.equal(summary.beat_baseline, best.trial !== 1 && best.best > summary.trials[0]!.best);
  assert.match(run.stderr, /trial 5\/5: lr \d\.\d\de-\d+, \d × \d+ \w+, dropout \d\.\d\d → \d+\.\d\d% \((complete|pruned)/);
  // The folder is the best run's: its log's best validation F1 is the trial's, and it classifies.
  const log = history(out);
  assert.equal(Math.max(...log.map((h) => h.macro_f1)), best.best);
  const predictions = join(tempDir(), "search-predictions.csv");
  assert.equal(runCli(["classify", "--strategy", "encoder", "--model", out, "-i", data, "-o", predictions]).status, 0);
  assert.ok(!existsSync(join(dirname(out), ".full-search.search")), "trial folders removed");
  const stored = new RunStore(db).headSearch(summary.search)!;
  assert.equal(stored.kind, "full");
  assert.deepEqual(stored.trials.map((trial) => trial.best), summary.trials.map((trial) => trial.best));
  assert.match(readFileSync(summary.report, "utf8"), /Fine-tuning search \(train full\)/);
});
