// Start-up: `tandem --help` is printed from the build's manifest and loads no library package; a
// command loads its own module only; the manifest's help is the full program's help, word for word.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { REGISTRARS } from "../src/cli/commands.js";
import { ROOT, runCli, tempDir } from "./helpers.js";

function importsOf(args: string[]): string[] {
  const log = join(tempDir(), `imports-${args.join("-")}.txt`);
  rmSync(log, { force: true });
  const result = spawnSync(process.execPath, ["--import", join(ROOT, "test/fixtures/record-imports.mjs"), join(ROOT, "dist/cli/main.js"), ...args], { encoding: "utf8", env: { ...process.env, TANDEM_IMPORT_LOG: log } });
  assert.equal(result.status, 0, result.stderr);
  return existsSync(log) ? [...new Set(readFileSync(log, "utf8").trim().split("\n").filter(Boolean))] : [];
}

test("tandem --help and --version load commander only; classify loads what it uses", () => {
  assert.deepEqual(importsOf(["--help"]), ["commander"]);
  assert.deepEqual(importsOf(["--version"]), ["commander"]);
  const evaluate = importsOf(["evaluate", "--help"]);
  assert.ok(!evaluate.includes("openai") && !evaluate.includes("@anthropic-ai/sdk") && !evaluate.includes("onnxruntime-node"), evaluate.join(", "));
  const classify = importsOf(["classify", "--help"]);
  assert.ok(classify.includes("zod") && classify.includes("onnxruntime-node"), classify.join(", "));
});

test("the manifest's help equals the full program's; every command has its module", async () => {
  const { buildFullProgram } = (await import(join(ROOT, "dist/cli/main.js"))) as typeof import("../src/cli/main.js");
  const full = await buildFullProgram();
  assert.equal(runCli(["--help"]).stdout, full.helpInformation());
  const names = full.commands.map((command) => command.name());
  assert.deepEqual([...names].sort(), REGISTRARS.flatMap((r) => r.commands).sort());
  const unknown = runCli(["clasify"]);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown command 'clasify' \(Did you mean classify\?\)/);
  assert.match(runCli(["help", "quantize"]).stdout, /^Usage: tandem quantize \[options\] <model>/);
});
