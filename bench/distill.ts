// Benchmark: `tandem distill --student head` (its fast mode) with the starter backbone over 10,000 texts (the merged
// validation split and the first 4,579 test texts) with 2,000 teacher labels (4 rounds of 500), the
// teacher a recorded one: the local OpenAI-compatible server replaying answers recorded for every text
// (gold with 10% flipped) with no latency, so the wall time is tandem's own. Target: under 3 minutes.
// Prints the wall time and peak RSS of the CLI (cold: embeddings not cached; warm: the same command again,
// everything cached), and the certified cascade's teacher share at agreement targets 0.95 and 0.9.
// Usage: node --import tsx bench/distill.ts
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cellText, readTable } from "../src/data/readers.js";
import { csvField } from "../src/data/writers.js";
import { goldByText, noisyAnswer, promptForm, startTeacher } from "../test/fixtures/teacher.js";
import { ROOT, SHARED } from "../test/helpers.js";

const work = mkdtempSync(join(tmpdir(), "tandem-bench-distill-"));
const texts: string[] = [];
for (const file of ["val_all.csv", "test_all.csv"]) {
  for (const r of (await readTable(join(SHARED, "data/sentiment-merged", file))).records) if (texts.length < 10_000) texts.push(cellText(r.values.sentence));
}
const input = join(work, "input.csv");
writeFileSync(input, "text\n" + texts.map((t) => csvField(t)).join("\n") + "\n");
// The recorded answers: one per text, fixed before the run.
const rule = noisyAnswer(await goldByText(), 0.1);
const recorded = new Map(texts.map((t) => [promptForm(t), rule(t)]));
const teacher = await startTeacher(0, {}, recorded);

async function run(name: string, target: string): Promise<{ seconds: number; rssMb: number; summary: Record<string, unknown> }> {
  const out = join(work, name);
  const args = [join(ROOT, "dist/cli/main.js"), "distill", "--teacher", `compat:${teacher.url}#gpt-4o-mini`, "-i", input, "--labels", "negative,neutral,positive", "-o", out, "--db", join(work, "state.db"), "--cache-dir", join(work, "encodings"), "--rounds", "4", "--per-round", "500", "--target-agreement", target, "--student", "head", "-f", "json"];
  const started = performance.now();
  // Not spawnSync: the teacher answers from this process's event loop.
  const child = spawn("/usr/bin/time", ["-v", process.execPath, ...args], { cwd: ROOT });
  const result = { stdout: "", stderr: "", status: 0 };
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (result.stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (result.stderr += chunk));
  result.status = await new Promise<number>((resolve) => child.on("close", (code) => resolve(code ?? 1)));
  const seconds = (performance.now() - started) / 1000;
  if (result.status !== 0) throw new Error(`distill failed: ${result.stderr}`);
  const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(result.stderr)?.[1] ?? 0) / 1024;
  return { seconds, rssMb: rss, summary: JSON.parse(result.stdout) as Record<string, unknown> };
}

const rows: string[] = [];
for (const [name, target] of [["cold-0.95", "0.95"], ["warm-0.95", "0.95"], ["warm-0.90", "0.9"]] as const) {
  const { seconds, rssMb, summary } = await run(name.startsWith("warm") ? "warm" : "cold", target);
  const certified = summary.certified as { tau: number; lower_bound: number | null; certified: boolean; calibration_rows: number };
  const costs = summary.costs as { labels_usd: number; paid_this_run_usd: number };
  rows.push(`${name.padEnd(10)} ${seconds.toFixed(1).padStart(7)} s ${rssMb.toFixed(0).padStart(6)} MB   τ ${String(certified.tau).padEnd(5)} bound ${certified.lower_bound === null ? "—" : (certified.lower_bound * 100).toFixed(2) + "%"}  teacher share ${((summary.teacher_share as number) * 100).toFixed(1)}%  labels $${costs.labels_usd.toFixed(4)} (paid now $${costs.paid_this_run_usd.toFixed(4)}), ${certified.calibration_rows} calibration rows`);
}
await teacher.close();
console.log(`tandem distill, starter backbone, head student, ${texts.length} texts, 2,000 teacher labels (recorded teacher, no latency)`);
console.log("run        wall time   peak RSS");
for (const row of rows) console.log(row);
console.log(`(answers served: ${teacher.requests}; ${readFileSync(input, "utf8").length} bytes of input)`);
