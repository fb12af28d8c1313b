// The web app in a real browser: Playwright driving Debian's Chromium against `tandem view` (and `/` of
// `tandem serve`), on runs the test makes (lexicon, the starter encoder, an LLM on the local test server).
// Every number on a page is checked against the CLI (`runs show -f json`, `runs export`, `tune cascade`),
// every page passes axe-core with no serious violations, and each page's screenshot is kept in
// test-artifacts/.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { parse as parseYaml } from "yaml";
import { readTable } from "../src/data/readers.js";
import { startMockServer, type MockServer } from "./fixtures/openai-server.js";
import { ROOT, runCli, runCliAsync, tempDir } from "./helpers.js";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].find(existsSync);
const ARTIFACTS = join(ROOT, "test-artifacts");
const AXE = createRequire(import.meta.url).resolve("axe-core/axe.min.js");

let server: MockServer;
let view: { child: ChildProcess; url: string };
let browser: Browser | undefined;
let db: string;
let runId: string;
let secondId: string;

function startView(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [join(ROOT, "dist/cli/main.js"), "view", "--port", "0", ...args], { stdio: ["ignore", "ignore", "pipe"] });
  return new Promise((resolve, reject) => {
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk;
      const match = /open (http:\/\/\S+?)\/ /.exec(stderr);
      if (match) resolve({ child, url: match[1]! });
    });
    child.on("exit", () => reject(new Error(stderr)));
  });
}

async function runExperiment(name: string, strategies: string): Promise<string> {
  const file = join(tempDir(), `${name}.yaml`);
  writeFileSync(file, `name: ${name}\ndataset: { file: ${join(ROOT, "data/samples/merged-test-300.csv")}, slices: source }\nbaseline: lexicon\nstrategies:\n${strategies}`);
  const result = await runCliAsync(["run", file, "--db", db, "--iterations", "1000", "-f", "json"]);
  assert.equal(result.status, 0, result.stderr);
  return (/run (\S+)/.exec(result.stderr) ?? /"run": "([^"]+)"/.exec(result.stdout))![1]!;
}

before(async () => {
  server = await startMockServer({});
  db = join(tempDir(), "view.db");
  runId = await runExperiment("view-test", `  - { name: lexicon, type: lexicon }\n  - { name: encoder, type: encoder, model: starter }\n  - { name: llm, type: llm, model: "compat:${server.url}#gpt-4o-mini", program: zero-shot }\n`);
  secondId = await runExperiment("view-test-second", "  - { name: lexicon, type: lexicon }\n  - { name: encoder, type: encoder, model: starter }\n");
  view = await startView(["--db", db]);
  if (CHROMIUM) browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  mkdirSync(ARTIFACTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  view?.child.kill("SIGTERM");
  await server.close();
});

function needBrowser(t: { skip: (message: string) => void }): boolean {
  if (browser) return false;
  assert.ok(!process.env.CI, "CI installs Debian's chromium (see .ci/run)");
  t.skip("no chromium here (apt-get install chromium)");
  return true;
}

async function open(hash: string, ready: string): Promise<Page> {
  const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(`${view.url}/${hash}`);
  await page.waitForSelector(ready);
  assert.deepEqual(errors, []);
  return page;
}

/** axe-core on the page: no serious or critical violations. */
async function accessible(page: Page, name: string): Promise<void> {
  await page.addScriptTag({ path: AXE });
  // Evaluated in the page (a string: this file is type-checked without the DOM library).
  const violations = (await page.evaluate(`axe.run(document).then((result) => result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) })))`)) as Array<{ id: string; impact: string; nodes: string[] }>;
  assert.deepEqual(violations.filter((v) => v.impact === "serious" || v.impact === "critical"), [], `${name}: ${JSON.stringify(violations)}`);
  await page.screenshot({ path: join(ARTIFACTS, `view-${name}.png`), fullPage: true });
}

test("the runs page lists both runs, filters them, and is served with the right caching", async (t) => {
  if (needBrowser(t)) return;
  const page = await open("#/", "[data-testid=runs]");
  assert.equal(await page.locator("[data-testid=runs] tbody tr").count(), 2);
  await page.fill("#run-filter", "second");
  assert.deepEqual(await page.locator("[data-testid=runs] tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-run"))), [secondId]);
  await page.fill("#run-filter", "");
  await accessible(page, "runs");
  await page.close();
  const index = await fetch(`${view.url}/`);
  assert.equal(index.headers.get("cache-control"), "no-cache");
  const script = /src="(\/assets\/app\.[0-9a-f]{12}\.js)"/.exec(await index.text())![1]!;
  assert.equal((await fetch(`${view.url}${script}`)).headers.get("cache-control"), "public, max-age=31536000, immutable");
});

test("a run's page: the table equals `tandem runs show -f json`, sorts, and draws its charts", async (t) => {
  if (needBrowser(t)) return;
  const shown = JSON.parse(runCli(["runs", "show", runId, "--db", db, "-f", "json", "--iterations", "1000"]).stdout) as { table: Array<{ strategy: string; macro_f1: number; accuracy: number; slices: Record<string, number>; llm_share?: number }> };
  const page = await open(`#/run/${runId}`, "[data-testid=run-table] tbody tr");
  for (const row of shown.table) {
    const cell = (field: string) => page.locator(`[data-testid=run-table] tr[data-strategy="${row.strategy}"] [data-field="${field}"]`).textContent();
    assert.equal(await cell("macro_f1"), (row.macro_f1 * 100).toFixed(2), row.strategy);
    assert.equal(await cell("accuracy"), (row.accuracy * 100).toFixed(2), row.strategy);
    for (const [slice, f1] of Object.entries(row.slices)) assert.equal(await cell(`slice:${slice}`), (f1 * 100).toFixed(2), `${row.strategy} ${slice}`);
  }
  await page.getByRole("button", { name: "macro F1 (%)" }).click();
  const order = await page.locator("[data-testid=run-table] tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-strategy")));
  assert.deepEqual(order, [...shown.table].sort((a, b) => b.macro_f1 - a.macro_f1).map((r) => r.strategy));
  await page.waitForSelector("#frontier[data-rendered] svg");
  await page.waitForSelector("#confusion-encoder[data-rendered] svg");
  assert.equal(await page.locator("[data-testid=significance] tbody tr").count(), 3);
  await accessible(page, "run");
  await page.close();
});

test("errors: 'encoder right, LLM wrong' in two clicks; the count equals the stored predictions; CSV export and the prompt sent", async (t) => {
  if (needBrowser(t)) return;
  const exported = join(tempDir(), "view-export.csv");
  assert.equal(runCli(["runs", "export", runId, "--db", db, "-o", exported]).status, 0);
  const rows = (await readTable(exported)).records.map((r) => r.values as Record<string, string>);
  const expected = rows.filter((r) => r.encoder === r.label && r.llm !== r.label).length;
  assert.ok(expected > 0);
  // Two clicks from the list of runs: the run, then the "encoder right, llm wrong" count.
  const start = await open("#/", "[data-testid=runs]");
  await start.locator(`tr[data-run="${runId}"] a`).click();
  const cell = start.locator('[data-testid=disagreements] a[data-right="encoder"][data-wrong="llm"]');
  assert.equal(await cell.textContent(), String(expected));
  await cell.click();
  await start.waitForFunction(`document.querySelector("[data-testid=row-count]")?.textContent === "${expected} rows"`);
  await start.close();
  // The same through the filter form.
  const page = await open(`#/run/${runId}/errors`, "[data-testid=rows]");
  await page.selectOption("#right", "encoder");
  await page.selectOption("#wrong", "llm");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForFunction(`document.querySelector("[data-testid=row-count]")?.textContent === "${expected} rows"`);
  assert.equal(await page.locator("[data-testid=rows] tbody tr").count(), expected);
  const csvHref = await page.getByRole("link", { name: "export these rows as CSV" }).getAttribute("href");
  const csv = await (await fetch(`${view.url}${csvHref}`)).text();
  assert.equal(csv.trim().split("\n").length, expected + 1);
  await page.locator("[data-testid=rows] tbody tr").first().getByRole("button").click();
  await page.waitForSelector("#row-detail details");
  await page.locator("#row-detail summary").click();
  assert.match(await page.locator("#row-detail details").textContent() ?? "", /user:\n[\s\S]+/);
  await accessible(page, "errors");
  await page.close();
});

test("the cascade explorer: the τ slider's F1 and LLM share equal `tandem tune cascade --taus`; the cascade downloads as a strategy config", async (t) => {
  if (needBrowser(t)) return;
  const exported = join(tempDir(), "view-cascade.csv");
  assert.equal(runCli(["runs", "export", runId, "--db", db, "-o", exported]).status, 0);
  const page = await open(`#/run/${runId}/cascade?encoder=encoder&llm=llm&tau=0.5`, "[data-testid=cascade-figures][data-tau='0.50']");
  for (const tau of ["0.85", "0.62"]) {
    await page.locator("#tau").fill(tau);
    await page.waitForSelector(`[data-testid=cascade-figures][data-tau='${tau}']`);
    // The slider's figures are in-sample: tune cascade with every row as calibration.
    const tuned = JSON.parse(runCli(["tune", "cascade", "--encoder", exported, "--encoder-pred", "encoder", "--encoder-probs", "encoder_probabilities", "--llm", exported, "--llm-pred", "llm", "--taus", tau, "--calibration-share", "1", "-f", "json"]).stdout) as { points: Array<{ calibration: { macro_f1: number; llm_share: number } }> };
    const figure = (field: string) => page.locator(`[data-testid=cascade-figures] [data-field=${field}]`).textContent();
    assert.equal(await figure("macro_f1"), (tuned.points[0]!.calibration.macro_f1 * 100).toFixed(2), `τ ${tau}`);
    assert.equal(await figure("llm_share"), (tuned.points[0]!.calibration.llm_share * 100).toFixed(1), `τ ${tau}`);
  }
  // The certificate beside the slider is tune cascade's default (agreement 0.95, half the rows, the run's seed 42).
  const certified = JSON.parse(runCli(["tune", "cascade", "--encoder", exported, "--encoder-pred", "encoder", "--encoder-probs", "encoder_probabilities", "--llm", exported, "--llm-pred", "llm", "-f", "json"]).stdout) as { certified: { tau: number; lower_bound: number; calibration_rows: number; held_out: { agreement: number } } };
  const panel = (field: string) => page.locator(`[data-testid=certificate] [data-field=${field}]`).textContent();
  assert.equal(await page.locator("[data-testid=certificate]").getAttribute("data-tau"), certified.certified.tau.toFixed(2));
  assert.equal(await panel("lower_bound"), (certified.certified.lower_bound * 100).toFixed(2));
  assert.equal(await panel("calibration_rows"), String(certified.certified.calibration_rows));
  assert.equal(await panel("held_out_agreement"), (certified.certified.held_out.agreement * 100).toFixed(2));
  assert.match(await page.getByTestId("in-sample-note").textContent() ?? "", /In-sample curve/);
  await page.getByTestId("use-certified").click();
  await page.waitForSelector(`[data-testid=cascade-figures][data-tau='${certified.certified.tau.toFixed(2)}']`);
  const certifiedHref = await page.getByRole("link", { name: /download this certified cascade/ }).getAttribute("href");
  const certifiedConfig = parseYaml(await (await fetch(`${view.url}${certifiedHref}`)).text()) as { strategies: Array<{ tau: number; certificate: { target: number; lower_bound: number; calibration_hash: string } }> };
  assert.equal(certifiedConfig.strategies[0]!.tau, certified.certified.tau);
  assert.equal(certifiedConfig.strategies[0]!.certificate.lower_bound, certified.certified.lower_bound);
  assert.match(certifiedConfig.strategies[0]!.certificate.calibration_hash, /^sha256:[0-9a-f]{64}$/);
  await page.locator("#tau").fill("0.62");
  await page.waitForSelector("[data-testid=cascade-figures][data-tau='0.62']");
  await page.waitForSelector("#routing-curve[data-rendered] svg");
  const href = await page.getByRole("link", { name: /download this cascade/ }).getAttribute("href");
  const config = parseYaml(await (await fetch(`${view.url}${href}`)).text()) as { strategies: Array<{ type: string; tau: number; encoder: { type: string }; llm: { type: string; model: string } }>; default: string };
  assert.equal(config.strategies[0]!.type, "cascade");
  assert.equal(config.strategies[0]!.tau, 0.62);
  assert.equal(config.strategies[0]!.encoder.type, "encoder");
  assert.equal(config.strategies[0]!.llm.model, `compat:${server.url}#gpt-4o-mini`);
  await accessible(page, "cascade");
  await page.close();
});

test("two runs side by side: the shared strategies with paired tests; runs of other rows are refused", async (t) => {
  if (needBrowser(t)) return;
  const page = await open(`#/compare?a=${runId}&b=${secondId}`, "[data-testid=compare] tbody tr");
  assert.deepEqual(await page.locator("[data-testid=compare] tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-strategy"))), ["lexicon", "encoder"]);
  // The same deterministic strategies on the same rows: no difference, McNemar p = 1.
  assert.match(await page.locator('[data-testid=compare] tr[data-strategy="encoder"]').textContent() ?? "", /\+0\.00.*1\.00/);
  await accessible(page, "compare");
  await page.close();
  const missing = await fetch(`${view.url}/api/view/runs/no-such-run`);
  assert.equal(missing.status, 404);
  assert.match(((await missing.json()) as { error: string }).error, /no run "no-such-run"/);
});

test("with API keys the data needs a key (the page and its assets do not); a wrong key gets 401 without an echo", async () => {
  const keys = join(tempDir(), "view-keys.txt");
  writeFileSync(keys, "view-key-0123456789\n");
  const guarded = await startView(["--db", db, "--api-keys-file", keys]);
  try {
    assert.equal((await fetch(`${guarded.url}/`)).status, 200);
    const denied = await fetch(`${guarded.url}/api/view/runs`, { headers: { authorization: "Bearer wrong-key-987654321" } });
    assert.equal(denied.status, 401);
    assert.ok(!(await denied.text()).includes("wrong-key"));
    const allowed = await fetch(`${guarded.url}/api/view/runs`, { headers: { authorization: "Bearer view-key-0123456789" } });
    assert.equal(((await allowed.json()) as { runs: unknown[] }).runs.length, 2);
  } finally {
    guarded.child.kill("SIGTERM");
  }
  assert.ok(readFileSync(keys, "utf8").length > 0);
});
