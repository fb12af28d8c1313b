// Benchmark: training throughput of the PyTorch engine (samples/s, forward + backward + AdamW) on this
// machine, for an ELECTRA-small-sized and a DistilBERT-base-sized encoder (random init: throughput
// depends on shapes, not values), on texts from the merged validation split, batch 16, max length 128.
// Usage: node --import tsx bench/train.ts [texts=256]
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadDataset } from "../src/data/dataset.js";
import { resolveScheme } from "../src/data/labels.js";
import { trainFull } from "../src/training/full.js";

const count = Number(process.argv[2] ?? 256);
const shared = join(import.meta.dirname, "..", "..", "shared");
const data = await loadDataset(join(shared, "data/sentiment-merged/val_all.csv"), { scheme: resolveScheme("neg_neu_pos") });
const train = { ...data, examples: data.examples.slice(0, count) };
const sizes: Record<string, Record<string, unknown>> = {
  "ELECTRA-small-sized (14 M)": { model_type: "electra", vocab_size: 30522, embedding_size: 128, hidden_size: 256, num_hidden_layers: 12, num_attention_heads: 4, intermediate_size: 1024, max_position_embeddings: 512 },
  "DistilBERT-base-sized (66 M)": { model_type: "distilbert", vocab_size: 30522, dim: 768, n_layers: 6, n_heads: 12, hidden_dim: 3072, max_position_embeddings: 512 },
};
for (const [name, init] of Object.entries(sizes)) {
  const events = await trainFull({
    init, tokenizer: join(shared, "models/tokenizers/bert-base-uncased"), train, labels: ["negative", "neutral", "positive"],
    out: mkdtempSync(join(tmpdir(), "tandem-bench-train-")), maxLength: 128, processes: 1, launcher: "spawn", kind: "classifier",
    engine: { epochs: 1, batch_size: 16, lr: 5e-5, head: { pooling: "mean", num_layers: 1, hidden_activation: "relu" } },
  });
  const evaluation = events.find((e) => e.event === "eval");
  const start = events.find((e) => e.event === "start");
  console.log(`${name}: ${Number(evaluation?.samples_per_s).toFixed(1)} samples/s training on CPU (${Number(start?.parameters).toLocaleString("en")} parameters, ${count} texts, batch 16)`);
}
