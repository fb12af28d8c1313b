// Benchmark: what a distilled student is worth on texts it never saw, with real LLM answers as the teacher.
// ../shared/data/llm-answers/gpt-4o-mini-zero-shot.csv holds GPT-4o-mini's zero-shot labels of 3,265 texts of
// the Sentiment Merged test split (gold labels in test_all.csv). A seeded 765 of them are held out; the
// student is distilled (tandem distill --teacher-labels, defaults otherwise) from the first N of the other
// 2,500 in a seeded order, and evaluated on the held-out texts: the teacher's share at the certified τ, the
// cascade's agreement there (does the certificate hold?), the student's raw agreement with the teacher, and
// macro F1 against gold of teacher, student and cascade. A learning curve over N; the distill's wall time.
// Also the generality row: the same on a non-sentiment task (a text's source, three classes) with a
// simulated teacher, from the general MiniLM backbone.
// A single calibration draw is a noisy measure of a certificate (its τ moves with which ~750 rows were drawn), so
// each student's certificate is also re-drawn: the student was trained without its calibration rows and the
// held-out ones, so any draw of the same size from those is a calibration sample it could have had. The
// expected teacher share over the draws, its spread, and how often the cascade's agreement on the rest held.
// And two reference points on the held-out texts: the best τ chosen on them (oracle), and a student that is
// right by gold on every text, ranked by this student's confidence (what a perfect sentiment model would
// leave the LLM, since the teacher is itself wrong on ~20% of texts).
// ACTIVE=1 adds the same curve with rounds asked of a live teacher replaying the recorded answers (pass
// --selection margin|random to compare how rounds choose texts; ACTIVE=only: that curve alone).
// Usage: node --import tsx bench/student.ts [sizes=500,1000,2000,2500] [extra distill args...]
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { Random } from "../src/core/random.js";
import { cellText, readTable } from "../src/data/readers.js";
import { csvField } from "../src/data/writers.js";
import { classifyWithEncoder } from "../src/encoders/inference.js";
import { EncoderModel } from "../src/encoders/model.js";
import { evaluate, macroF1 } from "../src/metrics/evaluate.js";
import { quantileGrid } from "../src/distill/certification.js";
import { certifyCascade } from "../src/strategies/certify.js";
import { routesToLlm } from "../src/strategies/cascade.js";
import { promptForm, startTeacher } from "../test/fixtures/teacher.js";
import { runCliAsync } from "../test/helpers.js";

const ROOT = join(import.meta.dirname, "..");
const SHARED = join(ROOT, "..", "shared");
const sizes = (process.argv[2] ?? "500,1000,2000,2500").split(",").map(Number);
const extra = process.argv.slice(3);
const LABELS = ["negative", "neutral", "positive"];
const work = mkdtempSync(join(tmpdir(), "tandem-bench-student-"));

const answers = (await readTable(join(SHARED, "data/llm-answers/gpt-4o-mini-zero-shot.csv"))).records.map((r) => ({ text: cellText(r.values.text), teacher: cellText(r.values.llm_label), source: cellText(r.values.source) }));
const gold = new Map((await readTable(join(SHARED, "data/sentiment-merged/test_all.csv"))).records.map((r) => [cellText(r.values.sentence), cellText(r.values.label)]));
const order = new Random(20261206).shuffle(answers.map((_, i) => i));
const heldOut = order.slice(0, 765).map((i) => answers[i]!);
const pool = order.slice(765).map((i) => answers[i]!);

function labelsFile(name: string, rows: Array<{ text: string; teacher: string }>): string {
  const file = join(work, `${name}.csv`);
  writeFileSync(file, "text,label\n" + rows.map((r) => `${csvField(r.text)},${r.teacher}`).join("\n") + "\n");
  return file;
}

interface Redrawn { meanShare: number; sdShare: number; p10: number; p90: number; meanCascade: number; held: number }
interface Row { labels: number; seconds: number; tau: number; certified: boolean; share: number; cascadeAgreement: number; studentAgreement: number; f1: { teacher: number; student: number; cascade: number }; calibrationRows: number; redrawn: Redrawn; oracle: number; perfectOracle: number }
const DRAWS = 200;

/** The share of `rows` left to the teacher at the best τ chosen on them (cascade agreement ≥ target). */
function oracleShare(confidence: readonly number[], agrees: readonly boolean[], target = 0.95): number {
  const order = confidence.map((_, i) => i).sort((a, b) => confidence[b]! - confidence[a]!);
  let wrong = 0;
  let best = 0;
  order.forEach((i, k) => {
    if (!agrees[i]) wrong++;
    if (1 - wrong / order.length >= target) best = k + 1;
  });
  return 1 - best / order.length;
}

/** The certificate re-drawn: n calibration rows drawn from `rows` (never trained on), τ certified on them, the share and agreement on the rest. */
function redraw(rows: Answer[], n: number, grid: number[], labels: readonly string[]): Redrawn {
  const shares: number[] = [];
  const cascades: number[] = [];
  let held = 0;
  for (let d = 0; d < DRAWS; d++) {
    const order = new Random(1000 + d).shuffle(rows.map((_, i) => i));
    const pick = (idx: number[]) => ({ encoderPred: idx.map((i) => rows[i]!.pred), encoderConfidence: idx.map((i) => rows[i]!.confidence), llmPred: idx.map((i) => rows[i]!.teacher) });
    const tau = certifyCascade({ calibration: pick(order.slice(0, n)), target: { metric: "agreement", level: 0.95 }, confidence: 0.95, labels: [...labels], taus: grid }).certificate.tau;
    const rest = order.slice(n);
    const routed = rest.filter((i) => routesToLlm(rows[i]!.confidence, tau));
    shares.push(routed.length / rest.length);
    const agreement = rest.filter((i) => routesToLlm(rows[i]!.confidence, tau) || rows[i]!.pred === rows[i]!.teacher).length / rest.length;
    cascades.push(agreement);
    if (agreement >= 0.95) held++;
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const sorted = [...shares].sort((a, b) => a - b);
  const m = mean(shares);
  return { meanShare: m, sdShare: Math.sqrt(mean(shares.map((x) => (x - m) ** 2))), p10: sorted[Math.floor(0.1 * DRAWS)]!, p90: sorted[Math.floor(0.9 * DRAWS)]!, meanCascade: mean(cascades), held: held / DRAWS };
}

type Answer = { pred: string; confidence: number; teacher: string };

async function evaluateOn(out: string, rows: Array<{ text: string; teacher: string }>, labels: readonly string[], goldOf: (text: string) => string): Promise<{ figures: Omit<Row, "labels" | "seconds" | "calibrationRows" | "certified" | "redrawn">; answers: Answer[] }> {
  const config = parseYaml(readFileSync(join(out, "cascade.yaml"), "utf8")) as { strategies: Array<{ name: string; tau?: number }> };
  const tau = config.strategies.find((s) => s.name === "cascade")!.tau!;
  const model = await EncoderModel.load(join(out, "model"));
  const result = await classifyWithEncoder(model, rows.map((r) => r.text), { batchSize: 32, maxLength: 256 });
  await model.release();
  const k = labels.length;
  const confidence = rows.map((_, i) => Math.max(...Array.from(result.probabilities.subarray(i * k, (i + 1) * k))));
  const kept = rows.map((_, i) => confidence[i]! >= tau && tau < 1);
  const cascade = rows.map((r, i) => (kept[i] ? result.predictions[i]! : r.teacher));
  const agree = (pred: readonly string[]) => pred.filter((p, i) => p === rows[i]!.teacher).length / rows.length;
  const golds = rows.map((r) => goldOf(r.text));
  const f1 = (pred: readonly string[]) => macroF1(evaluate({ gold: golds, pred: [...pred], labels: [...labels] }).overall);
  const figures = {
    tau,
    share: kept.filter((x) => !x).length / rows.length,
    cascadeAgreement: agree(cascade),
    studentAgreement: agree(result.predictions),
    oracle: oracleShare(confidence, result.predictions.map((p, i) => p === rows[i]!.teacher)),
    perfectOracle: oracleShare(confidence, golds.map((g, i) => g === rows[i]!.teacher)),
    f1: { teacher: f1(rows.map((r) => r.teacher)), student: f1(result.predictions), cascade: f1(cascade) },
  };
  return { figures, answers: rows.map((r, i) => ({ pred: result.predictions[i]!, confidence: confidence[i]!, teacher: r.teacher })) };
}

function inputFile(name: string, rows: Array<{ text: string }>): string {
  const file = join(work, `${name}.csv`);
  writeFileSync(file, "text\n" + rows.map((r) => csvField(r.text)).join("\n") + "\n");
  return file;
}

/**
 * With `live` (a teacher replaying the recorded answers), distill asks it in rounds of ACTIVE_PER_ROUND about
 * the whole pool (chosen as `--selection` says, among the extra args) until it has N answers, instead of
 * reading the first N logged ones.
 */
async function curve(name: string, poolRows: Array<{ text: string; teacher: string }>, held: Array<{ text: string; teacher: string }>, labels: readonly string[], goldOf: (text: string) => string, args: string[], live?: { url: string }): Promise<Row[]> {
  const rows: Row[] = [];
  for (const n of sizes) {
    const file = labelsFile(`${name}-${n}`, poolRows.slice(0, n));
    const out = join(work, `${name}-${n}`);
    const started = performance.now();
    const source = live ? ["--teacher", `compat:${live.url}#gpt-4o-mini`, "-i", inputFile(`${name}-input`, poolRows), "--rounds", String(n / ACTIVE_PER_ROUND), "--per-round", String(ACTIVE_PER_ROUND)] : ["--teacher-labels", file, "--llm-strategy", "openai:gpt-4o-mini"];
    // runCliAsync, not spawnSync: a live teacher answers from this process's event loop.
    const run = await runCliAsync(["distill", ...source, "--labels", labels.join(","), "-o", out, "--db", join(work, `${name}-state.db`), "--cache-dir", join(work, "encodings"), "-f", "json", ...args, ...extra]);
    const seconds = (performance.now() - started) / 1000;
    if (run.status !== 0) throw new Error(`distill failed: ${run.stderr}`);
    const summary = JSON.parse(run.stdout) as { certified: { certified: boolean; calibration_rows: number } };
    const { figures, answers } = await evaluateOn(out, held, labels, goldOf);
    // The draws: the run's calibration rows and the held-out texts, the student's answers on both; the grid from its training rows, as distill fixes it.
    const labelled = (await readTable(join(out, "labels.csv"))).records.map((r) => ({ pred: cellText(r.values.student), confidence: Number(cellText(r.values.student_confidence)), teacher: cellText(r.values.teacher_label), part: cellText(r.values.part) }));
    const grid = quantileGrid(labelled.filter((r) => r.part === "training").map((r) => r.confidence));
    const redrawn = redraw([...labelled.filter((r) => r.part === "calibration"), ...answers], summary.certified.calibration_rows, grid, labels);
    rows.push({ labels: n, seconds, certified: summary.certified.certified, calibrationRows: summary.certified.calibration_rows, ...figures, redrawn });
    const r = rows.at(-1)!;
    process.stderr.write(`${name} ${n}: ${seconds.toFixed(0)} s, τ ${r.tau}, held-out teacher share ${(r.share * 100).toFixed(1)}% (re-drawn: ${(redrawn.meanShare * 100).toFixed(1)}% ± ${(redrawn.sdShare * 100).toFixed(1)}), cascade agreement ${(r.cascadeAgreement * 100).toFixed(2)}%, student agreement ${(r.studentAgreement * 100).toFixed(1)}%\n`);
  }
  return rows;
}

const pct = (x: number) => (x * 100).toFixed(1);
function table(title: string, rows: Row[]): void {
  console.log(`\n${title}`);
  console.log("labels  distill s  calib rows  τ      teacher share  cascade agreement  student agreement  macro F1: teacher / student / cascade");
  for (const r of rows) {
    console.log(`${String(r.labels).padStart(6)}  ${r.seconds.toFixed(0).padStart(9)}  ${String(r.calibrationRows).padStart(10)}  ${r.tau.toFixed(2).padEnd(5)}  ${pct(r.share).padStart(12)}%  ${pct(r.cascadeAgreement).padStart(16)}%  ${pct(r.studentAgreement).padStart(16)}%  ${pct(r.f1.teacher)} / ${pct(r.f1.student)} / ${pct(r.f1.cascade)}`);
  }
  console.log(`certificate re-drawn ${DRAWS} times (calibration rows of the same number from the run's calibration rows and the held-out texts; share and agreement on the rest), and the held-out reference points`);
  console.log("labels  teacher share: mean ± sd  10th–90th pct  cascade agreement (mean)  held ≥ 95%  oracle τ share  perfect-by-gold student, oracle share");
  for (const r of rows) {
    const d = r.redrawn;
    console.log(`${String(r.labels).padStart(6)}  ${(pct(d.meanShare) + "% ± " + pct(d.sdShare)).padStart(24)}  ${(pct(d.p10) + "–" + pct(d.p90) + "%").padStart(13)}  ${(pct(d.meanCascade) + "%").padStart(24)}  ${(pct(d.held) + "%").padStart(10)}  ${(pct(r.oracle) + "%").padStart(14)}  ${(pct(r.perfectOracle) + "%").padStart(10)}`);
  }
}

console.log(`tandem distill on GPT-4o-mini's answers: ${pool.length} texts to distill from (first N), ${heldOut.length} held out; ${extra.length ? `extra args: ${extra.join(" ")}` : "defaults"}`);
if (process.env.ACTIVE !== "only") table("sentiment (GPT-4o-mini zero-shot as the teacher), evaluated on the held-out texts", await curve("sentiment", pool, heldOut, LABELS, (t) => gold.get(t)!, []));

// Rounds against logged labels: the same number of answers, asked in rounds by distill of a live teacher that
// replays GPT-4o-mini's recorded answer for each text of the pool (ACTIVE=1).
const ACTIVE_PER_ROUND = 500;
if (process.env.ACTIVE) {
  const teacher = await startTeacher(0, {}, new Map(pool.map((r) => [promptForm(r.text), r.teacher])));
  try {
    table(`sentiment, rounds of ${ACTIVE_PER_ROUND} asked of a live teacher replaying GPT-4o-mini's recorded answers over the ${pool.length}-text pool`, await curve("active", pool, heldOut, LABELS, (t) => gold.get(t)!, [], teacher));
  } finally {
    await teacher.close();
  }
}

// Generality: a text's source (three classes, not sentiment) from the Sentiment Merged validation split, with a
// simulated teacher that gives the true source except on a seeded 15% of texts, where it picks another class.
// Started from the general MiniLM (the backbone the starter was made from: pass its folder with GENERAL=DIR,
// since the hub id cannot be fetched here).
const general = process.env.GENERAL;
if (general) {
  const SOURCES = ["dynasent_r1", "dynasent_r2", "sst_local"];
  const random = new Random(7);
  const val = (await readTable(join(SHARED, "data/sentiment-merged/val_all.csv"))).records.map((r) => ({ text: cellText(r.values.sentence), source: cellText(r.values.source) }));
  const shuffled = random.shuffle([...val]);
  const teacherOf = (source: string) => {
    const others = SOURCES.filter((s) => s !== source);
    return random.nextFloat() < 0.15 ? others[random.nextInt(others.length)]! : source;
  };
  const rows = shuffled.map((r) => ({ text: r.text, teacher: teacherOf(r.source), truth: r.source }));
  const truth = new Map(rows.map((r) => [r.text, r.truth]));
  table(
    "source of the text (3 classes, simulated teacher: 85% right), from the general MiniLM, evaluated on 765 held-out texts",
    await curve("source", rows.slice(765, 765 + Math.max(...sizes)), rows.slice(0, 765), SOURCES, (t) => truth.get(t)!, ["--backbone", general]),
  );
}
