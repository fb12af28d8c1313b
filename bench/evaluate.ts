// Benchmark: `evaluate` on 1,000,000 rows after parsing (labels in memory as strings), with and
// without probabilities and slices. Target: at least 1,000,000 rows/s.
import { Random } from "../src/core/random.js";
import { evaluate } from "../src/metrics/evaluate.js";

const n = 1_000_000;
const labels = ["negative", "neutral", "positive"];
const sources = ["dynasent_r1", "dynasent_r2", "sst_local"];
const random = new Random(7);
const gold: string[] = new Array(n);
const pred: string[] = new Array(n);
const by: string[] = new Array(n);
const probabilities = new Float64Array(n * 3);
for (let i = 0; i < n; i++) {
  const g = random.nextInt(3);
  const p = random.nextFloat() < 0.8 ? g : random.nextInt(3);
  gold[i] = labels[g]!;
  pred[i] = labels[p]!;
  by[i] = sources[random.nextInt(3)]!;
  const a = random.nextFloat();
  const b = random.nextFloat() * (1 - a);
  probabilities.set([a, b, 1 - a - b], i * 3);
}

function time(label: string, run: () => unknown): void {
  run(); // warm-up
  const seconds: number[] = [];
  for (let r = 0; r < 3; r++) {
    const started = performance.now();
    run();
    seconds.push((performance.now() - started) / 1000);
  }
  const best = Math.min(...seconds);
  console.log(`${label}: ${(n / best / 1e6).toFixed(2)} M rows/s (best of 3: ${best.toFixed(3)} s)${label.startsWith("report") ? `; target ≥ 1 M rows/s: ${n / best >= 1e6 ? "met" : "MISSED"}` : ""}`);
}

time("report + confusion matrix", () => evaluate({ gold, pred }));
time("report + per-source slices", () => evaluate({ gold, pred, by }));
time("report + ROC AUC (3 × n log n sorts)", () => evaluate({ gold, pred, probabilities }));
