// The service's OpenAPI document against schemathesis (property-based requests from the document itself),
// CI-sized: a bounded number of cases per operation, a fixed seed. Every check but "valid data is accepted"
// (a label or strategy name the schema cannot know is refused with 400 by design): no server error, every
// status and body as documented, unknown methods 405 with Allow, and with keys a 401 for every protected
// operation. schemathesis lives in a venv of its own (.ci/install-python-tools).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startServer } from "../src/server/app.js";
import { jobsPlugin } from "../src/server/jobs.js";
import { tempDir } from "./helpers.js";

const SCHEMATHESIS = [join(process.env.TANDEM_PY_TOOLS ?? join(process.env.TMPDIR ?? tmpdir(), "tandem-py-tools"), "bin", "schemathesis")].find(existsSync);

function run(args: string[]): Promise<{ status: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(SCHEMATHESIS!, args, { env: { ...process.env, NO_COLOR: "1" } });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (output += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (output += c));
    child.on("close", (status) => resolve({ status: status ?? -1, output }));
  });
}

for (const keys of [false, true]) {
  test(`OpenAPI: schemathesis finds no violation (30 cases per operation, seed 1${keys ? ", API keys required" : ""})`, { skip: !SCHEMATHESIS && !process.env.CI ? "schemathesis is not installed (.ci/install-python-tools)" : false }, async () => {
    assert.ok(SCHEMATHESIS, "CI installs schemathesis (.ci/install-python-tools)");
    const db = join(tempDir(), `openapi-${keys}.db`);
    const strategies = { strategies: [{ name: "lexicon", type: "lexicon" as const }], default: "lexicon" };
    const server = await startServer({ strategies, port: 0, store: db, logger: false, apiKeys: keys ? ["openapi-test-key-0123"] : [], plugins: [jobsPlugin({}, strategies.strategies, db)] });
    await server.ready;
    try {
      const result = await run([
        "run", `${server.url}/openapi.json`, "--checks", "all", "--exclude-checks", "positive_data_acceptance", "--max-examples", "30", "--seed", "1",
        "--generation-database", "none", "--no-color", "--workers", "1", ...(keys ? ["-H", "Authorization: Bearer openapi-test-key-0123"] : []),
      ]);
      assert.equal(result.status, 0, result.output.slice(-4000));
      assert.match(result.output, /Tested: 14\b/, "every operation (classify, strategies, feedback, audit reset, jobs, TEI, health, metrics)");
    } finally {
      await server.close();
    }
  });
}
