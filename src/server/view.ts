/**
 * The web app: `/` of `tandem serve` and of `tandem view`. A built front end (web/app.ts, compiled to
 * dist/web/app.js; no CDN, works offline) at content-hashed URLs cached for a year, the page itself never
 * cached, and a JSON API over the run store (src/experiments/view.ts) that the same API keys as the
 * service protect when the host is not loopback.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyReply } from "fastify";
import { UserError } from "../core/errors.js";
import { openStore } from "../core/store.js";
import { tableLines } from "../data/writers.js";
import { compareRun } from "../experiments/compare.js";
import { FAVICON, packageFile } from "../experiments/report.js";
import type { ExperimentRun } from "../experiments/runner.js";
import { RunStore } from "../experiments/store.js";
import type { ServerContext } from "./context.js";
import { cascadeConfig, cascadeView, compareRunPair, filterRows, listRunSummaries, loadRun, renderedPrompt, runDetail, runTexts, viewRows, type RowFilter, type RunDetail } from "../experiments/view.js";
import { refuse } from "./http-errors.js";

const HERE = dirname(fileURLToPath(import.meta.url));
/** dist/web next to dist/server (the package); from src/server under tsx, the built copy in dist/web. */
const WEB_DIR = [resolve(HERE, "..", "web"), resolve(HERE, "..", "..", "dist", "web")].find((dir) => existsSync(join(dir, "app.js")));
const STYLE = resolve(HERE, "..", "..", "web", "app.css");

interface Asset {
  url: string;
  type: string;
  body: Buffer;
}

function asset(name: string, file: string, type: string): Asset {
  const body = readFileSync(file);
  const hash = createHash("sha256").update(body).digest("hex").slice(0, 12);
  const dot = name.lastIndexOf(".");
  return { url: `/assets/${name.slice(0, dot)}.${hash}${name.slice(dot)}`, type, body };
}

function loadAssets(): Asset[] {
  if (!WEB_DIR) throw new UserError("the web app is not built: run `npm run build`");
  return [
    asset("app.js", join(WEB_DIR, "app.js"), "text/javascript; charset=utf-8"),
    asset("app.css", STYLE, "text/css; charset=utf-8"),
    asset("vega.js", packageFile("vega", "build/vega.min.js"), "text/javascript; charset=utf-8"),
    asset("vega-lite.js", packageFile("vega-lite", "build/vega-lite.min.js"), "text/javascript; charset=utf-8"),
    asset("vega-embed.js", packageFile("vega-embed", "build/vega-embed.min.js"), "text/javascript; charset=utf-8"),
  ];
}

function page(assets: Asset[]): string {
  const scripts = assets.filter((a) => a.type.startsWith("text/javascript"));
  const app = scripts.find((a) => a.url.startsWith("/assets/app."))!;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="${FAVICON}">
<title>tandem</title>
<link rel="stylesheet" href="${assets.find((a) => a.type.startsWith("text/css"))!.url}">
${scripts.filter((a) => a !== app).map((a) => `<script src="${a.url}"></script>`).join("\n")}
<script type="module" src="${app.url}"></script>
</head><body>
<header><a href="#/" class="brand">tandem</a><nav aria-label="main"><a href="#/">Runs</a> <a href="#/compare">Compare</a> <a href="#/live">Live</a></nav></header>
<main id="main" tabindex="-1"><p>Loading…</p></main>
</body></html>
`;
}

class MissingRun extends Error {
  constructor(id: string) {
    super(`no run "${id}" in the state database (see \`tandem runs list\`)`);
  }
}

export interface ViewOptions {
  /** State database holding the runs (default .tandem/tandem.db or TANDEM_DB). */
  store?: string;
}

/** Registers the web app's page, assets and API on a server. */
export function viewPlugin(options: ViewOptions = {}) {
  return (app: FastifyInstance, context?: ServerContext): void => {
    const assets = loadAssets();
    const html = page(assets);
    // Opened on first use: the tables are created or upgraded once, not per request.
    let runStore: RunStore | undefined;
    const store = () => (runStore ??= new RunStore(openStore(options.store)));
    // Comparisons (10,000 bootstrap resamples) are computed once per run and kept.
    const runs = new Map<string, { run: ExperimentRun; detail?: RunDetail; texts?: Promise<string[] | null> }>();
    const runOf = (id: string) => {
      let entry = runs.get(id);
      if (!entry) {
        const record = store().run(id);
        if (!record) throw new MissingRun(id);
        entry = { run: loadRun(store(), id) };
        // A run still in progress gains strategies: read it afresh each time until it is done.
        if (record.status === "done") runs.set(id, entry);
      }
      return entry;
    };
    const fail = (reply: FastifyReply, error: unknown) => {
      if (error instanceof MissingRun) return refuse(reply, 404, error.message);
      if (error instanceof UserError) return refuse(reply, 400, error.message);
      throw error;
    };

    app.get("/", { schema: { hide: true } }, async (_, reply) => reply.type("text/html; charset=utf-8").header("cache-control", "no-cache").send(html));
    for (const a of assets) {
      app.get(a.url, { schema: { hide: true } }, async (_, reply) => reply.type(a.type).header("cache-control", "public, max-age=31536000, immutable").send(a.body));
    }

    app.get("/api/view/runs", { schema: { hide: true } }, async () => ({ runs: listRunSummaries(store()) }));
    // The live page: each served strategy's traffic, audit (agreement, anytime-valid bounds, degraded) and
    // feedback accuracy, with the series sampled every --series-interval and a point for now.
    app.get("/api/live", { schema: { hide: true } }, async () => {
      const monitors = context ? [...context.monitors().values()] : [];
      return {
        serving: context !== undefined && context.defaultStrategy !== "",
        strategies: monitors.map((m) => ({ name: m.name, traffic: m.traffic(), audit: m.snapshot() ?? null, liveAccuracy: m.liveAccuracy(), series: [...m.series, m.point()] })),
      };
    });
    app.get<{ Params: { id: string } }>("/api/view/runs/:id", { schema: { hide: true } }, async (request, reply) => {
      try {
        const entry = runOf(request.params.id);
        entry.detail ??= runDetail(entry.run, compareRun(entry.run));
        return entry.detail;
      } catch (error) {
        return fail(reply, error);
      }
    });
    app.get<{ Params: { id: string }; Querystring: Record<string, string | undefined> }>("/api/view/runs/:id/rows", { schema: { hide: true } }, async (request, reply) => {
      try {
        const entry = runOf(request.params.id);
        const q = request.query;
        const number = (name: string) => (q[name] === undefined || q[name] === "" ? undefined : Number(q[name]));
        const text = (name: string) => (q[name] === undefined || q[name] === "" ? undefined : q[name]);
        const filter: RowFilter = { gold: text("gold"), pred: text("pred"), strategy: text("strategy"), slice: text("slice"), right: text("right"), wrong: text("wrong"), minConfidence: number("min_confidence"), maxConfidence: number("max_confidence"), failed: q.failed === "true" };
        const indices = filterRows(entry.run, filter);
        entry.texts ??= runTexts(entry.run);
        const texts = await entry.texts;
        if (q.format === "csv") {
          const names = entry.run.outcomes.map((o) => o.name);
          const csv = tableLines("csv", ["row", "text", "label", "slice", ...names.flatMap((n) => [n, `${n}_probabilities`])]);
          const lines = viewRows(entry.run, indices, texts).map((r) => csv.line({ row: r.row, text: r.text, label: r.gold, slice: r.slice, ...Object.fromEntries(names.flatMap((n) => [[n, r.answers[n]!.label], [`${n}_probabilities`, r.answers[n]!.probabilities]])) }));
          return reply.type("text/csv; charset=utf-8").header("content-disposition", `attachment; filename="${request.params.id}-rows.csv"`).send(csv.header + lines.join(""));
        }
        const offset = number("offset") ?? 0;
        const limit = Math.min(number("limit") ?? 100, 1000);
        return { total: indices.length, offset, rows: viewRows(entry.run, indices.slice(offset, offset + limit), texts) };
      } catch (error) {
        return fail(reply, error);
      }
    });
    app.get<{ Params: { id: string; row: string }; Querystring: { strategy: string } }>("/api/view/runs/:id/rows/:row/prompt", { schema: { hide: true } }, async (request, reply) => {
      try {
        const entry = runOf(request.params.id);
        const row = Number(request.params.row) - 1;
        if (!(row >= 0 && row < entry.run.gold.length)) throw new UserError(`row must be between 1 and ${entry.run.gold.length}`);
        entry.texts ??= runTexts(entry.run);
        const texts = await entry.texts;
        if (!texts) return { note: "the dataset file is no longer where the run read it" };
        return await renderedPrompt(entry.run, request.query.strategy, texts[row]!, row);
      } catch (error) {
        return fail(reply, error);
      }
    });
    app.get<{ Params: { id: string }; Querystring: { encoder: string; llm: string; tau: string; format?: string; metric?: string; target?: string; confidence?: string } }>("/api/view/runs/:id/cascade", { schema: { hide: true } }, async (request, reply) => {
      try {
        const { run } = runOf(request.params.id);
        const { tau: tauText, metric, target, confidence } = request.query;
        const tau = Number(tauText);
        if (metric !== undefined && metric !== "accuracy" && metric !== "agreement") throw new UserError(`metric must be accuracy or agreement, not "${metric}"`);
        const query = { metric: metric as "accuracy" | "agreement" | undefined, target: target === undefined ? undefined : Number(target), confidence: confidence === undefined ? undefined : Number(confidence) };
        if (request.query.format === "yaml") {
          return reply.type("application/yaml; charset=utf-8").header("content-disposition", `attachment; filename="cascade.yaml"`).send(cascadeConfig(run, request.query.encoder, request.query.llm, tau, query, new Date().toISOString()));
        }
        return cascadeView(run, request.query.encoder, request.query.llm, tau, query);
      } catch (error) {
        return fail(reply, error);
      }
    });
    app.get<{ Querystring: { a: string; b: string } }>("/api/view/compare", { schema: { hide: true } }, async (request, reply) => {
      try {
        return { a: request.query.a, b: request.query.b, rows: compareRunPair(runOf(request.query.a).run, runOf(request.query.b).run) };
      } catch (error) {
        return fail(reply, error);
      }
    });
  };
}
