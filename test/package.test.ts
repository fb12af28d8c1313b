// The package as users get it: `npm pack`, installed into a fresh project, imported as "tandem" by a
// script that strict TypeScript type-checks and Node runs (lexicon, the bundled starter, and a cascade
// against the local OpenAI-compatible test server). The project's dependencies are linked from this
// checkout, so no network is needed.
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { startMockServer } from "./fixtures/openai-server.js";
import { ROOT, tempDir } from "./helpers.js";

const APP = `import { createClassifier, evaluate, compareClassifiers, type ClassificationResult, type StrategyConfigInput } from "tandem";
import { startServer, viewPlugin, type RunningServer } from "tandem/server";

const lexicon = await createClassifier("lexicon");
const first: ClassificationResult[] = await lexicon.classify(["I love this place", "Never again, awful."]);
await lexicon.close();

const starter = await createClassifier("starter");
const texts = ["An utterly delightful film.", "Boring and far too long.", "It is a movie."];
const encoded = await starter.classify(texts);
await starter.close();

const config: StrategyConfigInput = { type: "cascade", encoder: "starter", llm: process.env.TANDEM_TEST_LLM!, tau: 1 };
const cascade = await createClassifier(config, { store: process.env.TANDEM_TEST_DB });
const routed = await cascade.classify(texts);
await cascade.close();

// The service as a library: a server with the web app and no models, on any free port.
const server: RunningServer = await startServer({ strategies: { strategies: [], default: "" }, port: 0, store: process.env.TANDEM_TEST_DB, plugins: [viewPlugin({ store: process.env.TANDEM_TEST_DB })] });
const page = await fetch(server.url + "/");
await server.close();

const report = evaluate({ gold: ["positive", "negative", "neutral"], pred: encoded.map((r) => r.label), labels: ["negative", "neutral", "positive"] });
const stats = compareClassifiers({ gold: ["a", "b", "a", "b"], predA: ["a", "a", "a", "b"], predB: ["a", "b", "a", "b"], iterations: 200 });
console.log(JSON.stringify({
  lexicon: first.map((r) => r.label),
  starter: encoded.map((r) => ({ label: r.label, sum: r.probabilities!.reduce((a, b) => a + b, 0), by: r.answeredBy })),
  cascade: routed.map((r) => ({ label: r.label, by: r.answeredBy, status: r.status, cost: r.costUsd })),
  accuracy: report.overall.accuracy,
  pMcnemar: stats.mcnemar.pValue,
  webApp: page.status,
}));
`;

// Types are real: a wrong use must fail the type-check.
const MISUSE = `import { createClassifier } from "tandem";
const clf = await createClassifier("lexicon");
const wrong: number = clf.labels;
export { wrong };
`;

test("npm pack → install in a fresh project → strict type-check and run of `import ... from \"tandem\"`", async () => {
  const dir = join(tempDir(), "packed");
  const project = join(dir, "app");
  const modules = join(project, "node_modules");
  mkdirSync(modules, { recursive: true });
  const tarball = execFileSync("npm", ["pack", "--ignore-scripts", "--silent", "--pack-destination", dir], { cwd: ROOT, encoding: "utf8" }).trim().split("\n").at(-1)!;
  execFileSync("tar", ["-xzf", join(dir, tarball), "-C", modules]);
  renameSync(join(modules, "package"), join(modules, "tandem"));
  const shipped = execFileSync("tar", ["-tzf", join(dir, tarball)], { encoding: "utf8" });
  for (const file of ["package/LICENSE", "package/docs/serve.md", "package/dist/index.js", "package/dist/index.d.ts", "package/models/starter/onnx/model.onnx", "package/engines/torch/tandem_torch/train.py", "package/dist/cli/main.js", "package/dist/web/app.js", "package/web/app.css", "package/dist/server.js"]) assert.ok(shipped.includes(file), `${file} is in the package`);
  for (const name of readdirSync(join(ROOT, "node_modules"))) {
    if (name === "tandem" || name.startsWith(".")) continue;
    symlinkSync(join(ROOT, "node_modules", name), join(modules, name));
  }
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  writeFileSync(join(project, "tsconfig.json"), JSON.stringify({ compilerOptions: { strict: true, target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", outDir: "out", types: ["node"], skipLibCheck: false }, files: ["app.ts"] }));
  writeFileSync(join(project, "app.ts"), APP);
  const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
  const checked = spawnSync(process.execPath, [tsc, "-p", project], { encoding: "utf8" });
  assert.equal(checked.status, 0, checked.stdout + checked.stderr);

  writeFileSync(join(project, "misuse.ts"), MISUSE);
  writeFileSync(join(project, "tsconfig.misuse.json"), JSON.stringify({ extends: "./tsconfig.json", compilerOptions: { noEmit: true }, files: ["misuse.ts"] }));
  const misuse = spawnSync(process.execPath, [tsc, "-p", join(project, "tsconfig.misuse.json")], { cwd: project, encoding: "utf8" });
  assert.notEqual(misuse.status, 0);
  assert.match(misuse.stdout, /misuse\.ts\(3,7\): error TS2322: Type 'readonly string\[\]' is not assignable to type 'number'/);

  const server = await startMockServer({});
  try {
    // Asynchronously: this process hosts the server the script calls.
    const run = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const proc = spawn(process.execPath, [join(project, "out", "app.js")], { cwd: project, env: { ...process.env, TANDEM_TEST_LLM: `compat:${server.url}#gpt-4o-mini`, TANDEM_TEST_DB: join(dir, "state.db") } });
      let stdout = "";
      let stderr = "";
      proc.stdout.on("data", (chunk: Buffer) => (stdout += chunk));
      proc.stderr.on("data", (chunk: Buffer) => (stderr += chunk));
      proc.on("close", (status) => resolve({ status, stdout, stderr }));
    });
    assert.equal(run.status, 0, run.stderr);
    const out = JSON.parse(run.stdout);
    assert.deepEqual(out.lexicon, ["positive", "negative"]);
    for (const row of out.starter) {
      assert.ok(["negative", "neutral", "positive"].includes(row.label));
      assert.ok(Math.abs(row.sum - 1) < 1e-5);
      assert.equal(row.by, "encoder");
    }
    assert.equal(out.cascade.length, 3);
    for (const row of out.cascade) {
      assert.equal(row.by, `compat:${server.url}#gpt-4o-mini`, "τ = 1: every item goes to the LLM");
      assert.equal(row.status, "ok");
      assert.ok(row.cost > 0);
    }
    assert.equal(server.requests, 3);
    assert.equal(out.pMcnemar, 1);
    assert.equal(out.webApp, 200, "the web app is served from the installed package");
  } finally {
    await server.close();
  }
});

test("optional parts: a missing package is one line naming what to install; other failures pass through", async () => {
  const { loadOptional } = await import("../src/core/optional.js");
  const missing = Object.assign(new Error("Cannot find package 'bullmq' imported from /somewhere/redis.js"), { code: "ERR_MODULE_NOT_FOUND" });
  await assert.rejects(loadOptional("redis", async () => Promise.reject(missing)), /^UserError: jobs on Redis \(--redis, tandem worker\) needs packages that are not installed: npm install bullmq ioredis \(optional dependencies of tandem\)$/);
  const other = Object.assign(new Error("Cannot find package 'left-pad'"), { code: "ERR_MODULE_NOT_FOUND" });
  await assert.rejects(loadOptional("redis", async () => Promise.reject(other)), /left-pad/);
  assert.equal(await loadOptional("server", async () => 42), 42);
  // The package declares them optional peers (a library install leaves them out) and the clone has them.
  const manifest = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string>; devDependencies: Record<string, string>; peerDependenciesMeta: Record<string, { optional: boolean }> };
  const { OPTIONAL_PARTS } = await import("../src/core/optional.js");
  for (const name of Object.values(OPTIONAL_PARTS).flat()) {
    assert.equal(manifest.peerDependenciesMeta[name]?.optional, true, name);
    assert.ok(manifest.devDependencies[name] && !manifest.dependencies[name], name);
  }
});
