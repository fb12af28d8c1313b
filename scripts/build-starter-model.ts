// Builds the bundled starter model, models/starter — run with `npm run build:starter` (needs Python
// with torch; about 15 minutes on 2 CPU cores). A small BERT trained from scratch (no pretrained weights
// are reachable offline) on every labelled phrase of the 8,544 SST training trees (SST-3 labels; the
// shared train.txt also holds the dev trees after line 8,544, which are left out) plus 90% of the
// Sentiment Merged validation split; the other 10% (stratified by source and label) chooses the epoch.
// Never the test split. The vocabulary is bert-base-uncased's, pruned to the tokens the training texts
// use (the others would keep their random initial embeddings), so the folder stays under 10 MB.
// Finally the model is evaluated on test_all.csv overall and per source, for the model card.
import { readFileSync, rmSync, statSync, writeFileSync, readdirSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadDataset, type Dataset } from "../src/data/dataset.js";
import { resolveScheme } from "../src/data/labels.js";
import { stratifiedSplit } from "../src/data/split.js";
import { sstExamples } from "../src/data/sst.js";
import { loadTokenizer, wordPieceDefinition } from "../src/encoders/tokenizer.js";
import { EncoderModel } from "../src/encoders/model.js";
import { classifyWithEncoder } from "../src/encoders/inference.js";
import { evaluate, macroF1, type EvaluationReport } from "../src/metrics/evaluate.js";
import { trainFull } from "../src/training/full.js";

const ROOT = resolve(import.meta.dirname, "..");
const SHARED = resolve(ROOT, "..", "shared");
const OUT = join(ROOT, "models", "starter");
const WORK = join(ROOT, ".tandem", "starter-build");
const BERT = join(SHARED, "models/tokenizers/bert-base-uncased");
const scheme = resolveScheme("neg_neu_pos");
const SEED = 42;
const SETTINGS = {
  model: { model_type: "bert", hidden_size: 96, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 192, max_position_embeddings: 128, hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1 },
  head: { pooling: "mean", num_layers: 2, hidden_dim: 96, hidden_activation: "SwishGLU", dropout_rate: 0.1 },
  engine: { epochs: 4, batch_size: 64, lr: 1e-3, warmup_ratio: 0.05, scheduler: "linear", optimizer: "adamw", weight_decay: 0.01, seed: SEED, early_stop: "score", patience: 2, log_every: 200 },
  maxLength: 128,
};

// 1. Training data.
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

// 2. Vocabulary pruned to the tokens the training texts use.
const full = loadTokenizer(BERT);
const vocabLines = readFileSync(join(BERT, "vocab.txt"), "utf8").split(/\r?\n/).filter((l) => l !== "");
const used = new Set<number>();
for (const example of train.examples) for (const id of full.encode(example.text, SETTINGS.maxLength).ids) used.add(id);
const specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];
const kept = [...specials, ...vocabLines.filter((token, id) => used.has(id) && !specials.includes(token))];
rmSync(WORK, { recursive: true, force: true });
mkdirSync(join(WORK, "tokenizer"), { recursive: true });
const tokenizerConfig = JSON.parse(readFileSync(join(BERT, "tokenizer_config.json"), "utf8"));
writeFileSync(join(WORK, "tokenizer", "vocab.txt"), kept.join("\n") + "\n");
writeFileSync(join(WORK, "tokenizer", "tokenizer_config.json"), JSON.stringify(tokenizerConfig, null, 2));
writeFileSync(join(WORK, "tokenizer", "tokenizer.json"), JSON.stringify(wordPieceDefinition(kept, tokenizerConfig)));
console.log(`vocabulary: ${kept.length} of ${vocabLines.length} tokens`);

// 3. Train, export.
rmSync(OUT, { recursive: true, force: true });
const events = await trainFull({
  init: { ...SETTINGS.model, vocab_size: kept.length, pad_token_id: 0 },
  tokenizer: join(WORK, "tokenizer"),
  train,
  val,
  labels: [...scheme.labels],
  out: OUT,
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
const done = events.find((e) => e.event === "done")!;
// Ship the graph, config and tokenizer; leave out what only further training needs.
for (const file of ["model.safetensors", "best.safetensors", "checkpoint.pt"]) rmSync(join(OUT, file), { force: true });
rmSync(join(OUT, "data"), { recursive: true, force: true });

// 4. Evaluate on the test split, overall and per source.
const test = await loadDataset(join(SHARED, "data/sentiment-merged/test_all.csv"), { scheme });
const model = await EncoderModel.load(OUT);
const result = await classifyWithEncoder(model, test.examples.map((e) => e.text), { batchSize: 32 });
await model.release();
const evaluation = evaluate({ gold: test.examples.map((e) => e.label!), pred: result.predictions, labels: [...scheme.labels], by: test.examples.map((e) => e.source ?? "") });
const f1 = (report: EvaluationReport) => (macroF1(report) * 100).toFixed(2);
const scores = { overall: { macro_f1: f1(evaluation.overall), accuracy: ((evaluation.overall.accuracy as number) * 100).toFixed(2) }, by: Object.fromEntries(Object.entries(evaluation.by!).map(([k, r]) => [k, { macro_f1: f1(r), accuracy: ((r.accuracy as number) * 100).toFixed(2) }])) };
writeFileSync(join(OUT, "test_report.json"), JSON.stringify(scores, null, 2) + "\n");
const size = readdirSync(OUT, { recursive: true }).map((f) => join(OUT, String(f))).filter((f) => statSync(f).isFile()).reduce((sum, f) => sum + statSync(f).size, 0);
const history = done.history as Array<{ epoch: number; train_loss: number; val_loss: number; macro_f1: number }>;
writeFileSync(join(OUT, "MODEL_CARD.md"), `# tandem starter model

A small BERT-style sentiment classifier (negative / neutral / positive) trained **from scratch** — no
pretrained weights are reachable offline — so that \`tandem classify --strategy encoder\` and
\`tandem demo\` work on a fresh clone. It is a baseline, far below fine-tuned ELECTRA (the research:
79.29 macro F1 for ELECTRA-base, 82.36 for ELECTRA-large); bring your own model for real work.

Rebuild it exactly with \`npm run build:starter\` (scripts/build-starter-model.ts; needs Python with torch).

## Data
- Training: every labelled phrase of the 8,544 Stanford Sentiment Treebank training trees (${phrases.length}
  distinct phrases, SST-3 labels: 0–1 negative, 2 neutral, 3–4 positive; Socher et al., 2013), plus 90% of
  the Sentiment Merged validation split (${fit!.length} rows; SST-3, DynaSent R1 and R2 — CC BY 4.0).
- Model selection: the other 10% of the merged validation split (${val.examples.length} rows, stratified by source
  and label, seed ${SEED}).
- The test split was never used for training or selection. Note: ../shared/data/sst-trees/train.txt
  also contains the 1,101 dev trees after line 8,544; they are not used.

## Model
- BERT encoder: ${SETTINGS.model.num_hidden_layers} layers, hidden ${SETTINGS.model.hidden_size}, ${SETTINGS.model.num_attention_heads} heads, FFN ${SETTINGS.model.intermediate_size}, ${SETTINGS.maxLength} positions, ${kept.length}-token
  vocabulary (bert-base-uncased's WordPiece, pruned to the tokens the training texts use), ${events.find((e) => e.event === "start")?.parameters} parameters.
- The research's head: ${SETTINGS.head.pooling} pooling, ${SETTINGS.head.num_layers} layers of width ${SETTINGS.head.hidden_dim}, ${SETTINGS.head.hidden_activation}, dropout ${SETTINGS.head.dropout_rate}.
- Training: AdamW, lr ${SETTINGS.engine.lr}, weight decay ${SETTINGS.engine.weight_decay}, linear schedule with ${SETTINGS.engine.warmup_ratio * 100}% warm-up, batch ${SETTINGS.engine.batch_size},
  up to ${SETTINGS.engine.epochs} epochs, early stopping on validation macro F1 (patience ${SETTINGS.engine.patience}), seed ${SEED}; best epoch ${done.best_epoch}.

| epoch | train loss | val loss | val macro F1 (%) |
|---:|---:|---:|---:|
${history.map((h) => `| ${h.epoch} | ${h.train_loss.toFixed(4)} | ${h.val_loss.toFixed(4)} | ${(h.macro_f1 * 100).toFixed(2)} |`).join("\n")}

## Results on the Sentiment Merged test split (6,530 rows)

| slice | macro F1 (%) | accuracy (%) |
|---|---:|---:|
| all | ${scores.overall.macro_f1} | ${scores.overall.accuracy} |
${Object.entries(scores.by).map(([k, v]) => `| ${k} | ${v.macro_f1} | ${v.accuracy} |`).join("\n")}

Measured with tandem (the numbers are also in test_report.json, and a test checks them):
\`npx tandem classify --strategy encoder -i ../shared/data/sentiment-merged/test_all.csv -o starter.csv && npx tandem evaluate -i starter.csv --by source\`

Folder size: ${(size / 1e6).toFixed(1)} MB.
`);
console.log(`\nstarter model → ${OUT} (${(size / 1e6).toFixed(1)} MB); test macro F1 ${scores.overall.macro_f1}%`, scores.by);
