// Benchmark: start-up and large files. `tandem --help` (best of 10 fresh processes, against a bare
// `node -e 0`); `tandem evaluate` on a 1,000,000-row prediction file end to end (best of 3, peak RSS);
// and reading that file — tandem's streaming parser against csv-parse (tandem's previous reader, the
// same records) and pandas.read_csv where Python has pandas — alternating, best of 3.
// Targets: --help ≤ 0.25 s; evaluate on 1,000,000 rows ≤ 2 s; reading ≥ 3× csv-parse.
// Usage: node --import tsx bench/cli.ts [rows=1000000]
import { spawnSync } from "node:child_process";
import { createReadStream, existsSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "csv-parse";
import { streamRecords } from "../src/data/readers.js";

const ROOT = join(import.meta.dirname, "..");
const CLI = join(ROOT, "dist/cli/main.js");
const rows = Number(process.argv[2] ?? 1_000_000);
const file = join(tmpdir(), `tandem-bench-predictions-${rows}.csv`);
if (!existsSync(file)) {
  // test_all.csv's rows, repeated, with a prediction and a probability vector per row (a classify output).
  const source = readFileSync(join(ROOT, "../shared/data/sentiment-merged/test_all.csv"), "utf8");
  const records: string[][] = [];
  for await (const record of parse(source, { bom: true, from_line: 2 }) as AsyncIterable<string[]>) records.push(record);
  const labels = ["negative", "neutral", "positive"];
  const quote = (text: string) => (/[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text);
  const lines = ["sentence,label,source,split,prediction,probabilities"];
  for (let i = 0; i < rows; i++) {
    const r = records[i % records.length]!;
    const p = [0.2 + (i % 7) / 20, 0.1 + (i % 5) / 30, 0];
    p[2] = 1 - p[0]! - p[1]!;
    lines.push([quote(r[0]!), r[1], r[2], r[3], labels[i % 3], `"[${p.map((v) => v.toFixed(6)).join(",")}]"`].join(","));
  }
  writeFileSync(file, lines.join("\n") + "\n");
}

function seconds(command: string, args: string[]): { seconds: number; rssMb?: number } {
  const timed = existsSync("/usr/bin/time");
  const started = performance.now();
  const run = timed ? spawnSync("/usr/bin/time", ["-f", "%M", command, ...args], { encoding: "utf8" }) : spawnSync(command, args, { encoding: "utf8" });
  const elapsed = (performance.now() - started) / 1000;
  if (run.status !== 0) throw new Error(`${command} ${args.join(" ")}: ${run.stderr}`);
  const rss = timed ? Number(run.stderr.trim().split("\n").pop()) / 1024 : undefined;
  return { seconds: elapsed, rssMb: rss };
}
const best = (runs: Array<{ seconds: number; rssMb?: number }>) => runs.reduce((a, b) => (b.seconds < a.seconds ? b : a));

const bare = best(Array.from({ length: 10 }, () => seconds(process.execPath, ["-e", "0"])));
const help = best(Array.from({ length: 10 }, () => seconds(process.execPath, [CLI, "--help"])));
console.log(`tandem --help: ${help.seconds.toFixed(3)} s (bare node: ${bare.seconds.toFixed(3)} s)   target ≤ 0.25 s ${help.seconds <= 0.25 ? "met" : "MISSED"}`);

const evaluate = best(Array.from({ length: 3 }, () => seconds(process.execPath, [CLI, "evaluate", "-i", file])));
console.log(`tandem evaluate on ${rows.toLocaleString("en")} rows (${(readFileSync(file).length / 1e6).toFixed(0)} MB): ${evaluate.seconds.toFixed(2)} s, peak RSS ${evaluate.rssMb?.toFixed(0) ?? "?"} MB   target ≤ 2 s ${evaluate.seconds <= 2 ? "met" : "MISSED"}`);

async function readWithTandem(): Promise<number> {
  let n = 0;
  for await (const record of streamRecords(file)) if (record.values.label !== undefined) n++;
  return n;
}
async function readWithCsvParse(): Promise<number> {
  let n = 0;
  const parser = createReadStream(file).pipe(parse({ bom: true, columns: true, info: true, skip_empty_lines: true }));
  for await (const item of parser as AsyncIterable<{ record: Record<string, string> }>) if (item.record.label !== undefined) n++;
  return n;
}
const timings: Record<string, number> = {};
const counts: Record<string, number> = {};
for (let round = 0; round < 3; round++) {
  for (const [name, read] of round % 2 === 0 ? ([["tandem", readWithTandem], ["csv-parse", readWithCsvParse]] as const) : ([["csv-parse", readWithCsvParse], ["tandem", readWithTandem]] as const)) {
    const started = performance.now();
    counts[name] = await read();
    timings[name] = Math.min(timings[name] ?? Infinity, (performance.now() - started) / 1000);
  }
}
if (counts.tandem !== counts["csv-parse"]) throw new Error(`different record counts: ${counts.tandem} vs ${counts["csv-parse"]}`);
const pandas = spawnSync("python3", ["-c", `import time, pandas\nbest = 9e9\nfor _ in range(3):\n    t = time.perf_counter(); frame = pandas.read_csv(${JSON.stringify(file)}); best = min(best, time.perf_counter() - t)\nprint(best, len(frame))`], { encoding: "utf8" });
const pandasSeconds = pandas.status === 0 ? Number(pandas.stdout.trim().split(" ")[0]) : undefined;
console.log(`reading the file (${counts.tandem} records): tandem ${timings.tandem!.toFixed(2)} s, csv-parse ${timings["csv-parse"]!.toFixed(2)} s (${(timings["csv-parse"]! / timings.tandem!).toFixed(2)}×)${pandasSeconds ? `, pandas.read_csv ${pandasSeconds.toFixed(2)} s` : ", pandas not installed"}   target ≥ 3× ${timings["csv-parse"]! / timings.tandem! >= 3 ? "met" : "MISSED"}`);
