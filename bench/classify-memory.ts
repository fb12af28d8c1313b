// Peak memory of `tandem classify` as the input grows: 100,000 and 1,000,000 rows (lexicon), each in a
// fresh process measured by /usr/bin/time. The file is read, classified and written a part at a time,
// so the peak should barely grow. Usage: node --import tsx bench/classify-memory.ts
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { readTable } from "../src/data/readers.js";
import { TableWriter } from "../src/data/writers.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const dir = mkdtempSync(join(tmpdir(), "tandem-bench-memory-"));
const table = await readTable(resolve(ROOT, "../shared/data/sentiment-merged/test_all.csv"));
const peaks: Record<number, number> = {};
for (const rows of [100_000, 1_000_000]) {
  const input = join(dir, `in-${rows}.csv`);
  const writer = new TableWriter(input, table.columns);
  for (let i = 0; i < rows; i++) writer.write(table.records[i % table.records.length]!.values);
  writer.close();
  const started = performance.now();
  const run = spawnSync("/usr/bin/time", ["-f", "%M", process.execPath, join(ROOT, "dist/cli/main.js"), "classify", "--strategy", "lexicon", "-i", input, "-o", join(dir, `out-${rows}.csv`)], { encoding: "utf8" });
  if (run.status !== 0) throw new Error(run.stderr);
  peaks[rows] = Number(run.stderr.trim().split("\n").at(-1)) / 1024;
  console.log(`${rows.toLocaleString("en")} rows: peak RSS ${peaks[rows]!.toFixed(0)} MB, ${((performance.now() - started) / 1000).toFixed(1)} s`);
  rmSync(input);
}
console.log(`peak at 1,000,000 rows ÷ peak at 100,000: ${(peaks[1_000_000]! / peaks[100_000]!).toFixed(2)} (target ≤ 1.3)`);
rmSync(dir, { recursive: true, force: true });
