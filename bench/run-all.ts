// Runs every benchmark in this folder, one after the other, in fresh processes.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
for (const file of readdirSync(here).filter((f) => f.endsWith(".ts") && f !== "run-all.ts").sort()) {
  console.log(`\n# ${file}`);
  spawnSync(process.execPath, ["--import", "tsx", join(here, file)], { stdio: "inherit" });
}
