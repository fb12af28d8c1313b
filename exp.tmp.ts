import { readFileSync } from "node:fs";
import { cellText, readTable } from "./src/data/readers.js";
import { EncoderModel } from "./src/encoders/model.js";
import { classifyWithEncoder } from "./src/encoders/inference.js";
const table = await readTable("../shared/data/sentiment-merged/test_all.csv");
const texts = table.records.slice(0, 1000).map((r) => cellText(r.values.sentence));
const mode = process.env.NAME ?? process.env.TANDEM_INT8_ACTIVATIONS ?? "row";
const model = await EncoderModel.load(process.env.DIR ?? "models/starter");
const run = async (t: string[], bs: number, bucketing: boolean) => classifyWithEncoder(model, t, { batchSize: bs, bucketing, maxLength: 128 });
const a = await run(texts, 32, true);
const order = texts.map((_, i) => i).sort((x, y) => ((x * 7919) % 1000) - ((y * 7919) % 1000));
const shuffled = await run(order.map((i) => texts[i]!), 32, false);
const single = await run(texts.slice(0, 300), 1, false);
let labelDiff = 0, probDiff = 0;
order.forEach((i, j) => { if (a.predictions[i] !== shuffled.predictions[j]) labelDiff++; for (let c = 0; c < 3; c++) probDiff = Math.max(probDiff, Math.abs(a.probabilities[i*3+c]! - shuffled.probabilities[j*3+c]!)); });
let l1 = 0, p1 = 0;
for (let i = 0; i < 300; i++) { if (a.predictions[i] !== single.predictions[i]) l1++; for (let c = 0; c < 3; c++) p1 = Math.max(p1, Math.abs(a.probabilities[i*3+c]! - single.probabilities[i*3+c]!)); }
console.log(mode, `shuffled: ${labelDiff} labels differ, max prob diff ${probDiff}; batch 1 vs 32: ${l1} of 300 labels, max prob diff ${p1}`);
// timing
for (const bs of [1, 8, 32]) {
  let best = Infinity;
  for (let r = 0; r < 3; r++) { const t0 = performance.now(); await run(texts.slice(0, bs === 1 ? 200 : 1000), bs, true); best = Math.min(best, performance.now() - t0); }
  console.log(mode, `bs ${bs}: ${((bs === 1 ? 200 : 1000) / best * 1000).toFixed(0)} texts/s`);
}
import { writeFileSync } from "node:fs";
writeFileSync(`/tmp/exp/${mode}.json`, JSON.stringify({ pred: a.predictions, probs: Array.from(a.probabilities) }));
await model.release();

const ref = JSON.parse(readFileSync("/tmp/exp/tensor.json", "utf8"));
let agree = 0; a.predictions.forEach((p, i) => { if (p === ref.pred[i]) agree++; });
console.log(mode, `agreement with per-tensor dynamic: ${agree / 10}%`);
