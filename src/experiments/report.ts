/**
 * Reports of a run: a text table for the terminal, Markdown for pull requests, and one self-contained
 * HTML page whose charts are drawn by Vega-Lite (the libraries are inlined: no network needed to view
 * it): F1 per slice, the F1-vs-cost frontier with Pareto-optimal strategies marked, confusion-matrix
 * heat maps, the cascade routing curve and the significance matrix.
 */
import { readFileSync } from "node:fs";
import type { HeadSearchRecord } from "./store.js";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { formatFixed } from "../metrics/format.js";
import type { RunComparison, ComparisonRow } from "./compare.js";
import type { ExperimentRun } from "./runner.js";

const pct = (v: number) => formatFixed(v * 100, 2);
const money = (v: number) => (v === 0 ? "0" : v >= 1 ? `$${v.toFixed(2)}` : v >= 0.01 ? `$${v.toFixed(4)}` : `$${v.toFixed(6)}`);
const pValue = (p: number) => (p < 1e-4 ? p.toExponential(1) : formatFixed(p, 4));

/** Macro F1 in points, with "± sd (n)" over replicates where there are any. */
function macroCell(row: ComparisonRow): string {
  return row.replicates ? `${pct(row.macroF1)} ± ${pct(row.replicates.macroF1Sd)} (n=${row.replicates.n})` : pct(row.macroF1);
}

function replicateNote(c: RunComparison): string {
  const failed = c.table.filter((row) => row.failed > 0);
  const failures = failed.length ? ` ✗ marks strategies with failed rows (${failed.map((row) => `${row.strategy}: ${row.failed}`).join(", ")}; their reasons are in the run store): they are left out of the significance tests.` : "";
  return (c.table.some((row) => row.replicates) ? " Rows with ± are means ± sample standard deviations over replicates (different seeds); their cost, tokens and slices are means too." : "") + failures;
}

/** The strategy's name with its marks: ◆ Pareto-optimal, ✗ failed rows. */
function strategyCell(row: ComparisonRow): string {
  return `${row.strategy}${row.pareto ? " ◆" : ""}${row.failed > 0 ? " ✗" : ""}`;
}

function columns(c: RunComparison): { slices: string[] } {
  return { slices: [...new Set(c.table.flatMap((row) => Object.keys(row.slices)))] };
}

function vsBaseline(row: ComparisonRow, c?: RunComparison): string {
  const v = row.vsBaseline;
  if (!v) return row.strategy === c?.baseline && row.failed === 0 ? "baseline" : row.failed > 0 ? `not tested (${row.failed} rows failed)` : row.strategy === c?.baseline ? "baseline" : "not tested";
  return `${v.difference >= 0 ? "+" : ""}${pct(v.difference)} [${pct(v.ci[0])}, ${pct(v.ci[1])}] p=${pValue(v.pHolm)}${v.significant ? " *" : ""}`;
}

export function formatComparisonText(c: RunComparison): string {
  const { slices } = columns(c);
  const name = Math.max(8, ...c.table.map((r) => strategyCell(r).length)) + 2;
  const macroWidth = Math.max(8, ...c.table.map((row) => macroCell(row).length));
  const head = ["strategy".padEnd(name), "macro F1".padStart(macroWidth), "acc", ...slices.map((s) => s.slice(0, 12).padStart(12)), "cost", "$/F1 pt", "items/s", "vs baseline (Δ F1, 95% CI, Holm p)"];
  let out = head.join("  ") + "\n";
  for (const row of c.table) {
    out += [
      strategyCell(row).padEnd(name),
      macroCell(row).padStart(macroWidth),
      pct(row.accuracy).padStart(5),
      ...slices.map((s) => (row.slices[s] === undefined ? "" : pct(row.slices[s]!)).padStart(12)),
      money(row.inferenceCostUsd + row.trainingCostUsd).padStart(4),
      (row.costPerF1Point === null ? "–" : money(row.costPerF1Point)).padStart(7),
      (Number.isFinite(row.itemsPerSecond) ? row.itemsPerSecond.toFixed(0) : "∞").padStart(7),
      vsBaseline(row, c),
    ].join("  ") + "\n";
  }
  out += `\n${c.rows} rows; ◆ Pareto-optimal on macro F1 vs cost; * significant after ${c.correction}.${replicateNote(c)}\n`;
  return out;
}

export function formatComparisonMarkdown(c: RunComparison): string {
  const { slices } = columns(c);
  let out = `### Run ${c.run} (${c.rows} rows)\n\n| strategy | macro F1 (%) | accuracy (%) | ${slices.map((s) => `${s} F1 (%)`).join(" | ")}${slices.length ? " | " : ""}inference cost | training cost | tokens | $ per F1 point | items/s | vs ${c.baseline ?? "baseline"} |\n|---|---:|---:|${slices.map(() => "---:|").join("")}---:|---:|---:|---:|---:|---|\n`;
  for (const row of c.table) {
    out += `| ${strategyCell(row)} | ${macroCell(row)} | ${pct(row.accuracy)} | ${slices.map((s) => (row.slices[s] === undefined ? "" : pct(row.slices[s]!))).join(" | ")}${slices.length ? " | " : ""}${money(row.inferenceCostUsd)} | ${money(row.trainingCostUsd)} | ${row.tokens} | ${row.costPerF1Point === null ? "–" : money(row.costPerF1Point)} | ${Number.isFinite(row.itemsPerSecond) ? row.itemsPerSecond.toFixed(0) : "∞"} | ${vsBaseline(row, c)} |\n`;
  }
  out += `\n◆ Pareto-optimal on macro F1 vs cost. Significance: ${c.correction}; the interval is the paired bootstrap's 95% interval of the macro-F1 difference (points).${replicateNote(c)}\n`;
  return out;
}

export function packageFile(name: string, file: string): string {
  const require = createRequire(import.meta.url);
  let dir = dirname(require.resolve(name));
  while (!dir.endsWith(`node_modules/${name}`) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, file);
}

/** The Vega-Lite specifications of the report's charts, by element id. */
export function chartSpecs(run: ExperimentRun, c: RunComparison): Record<string, unknown> {
  const specs: Record<string, unknown> = {};
  const schema = "https://vega.github.io/schema/vega-lite/v6.json";
  const sliceRows = c.table.flatMap((row) => [{ strategy: row.strategy, slice: "all", f1: row.macroF1 * 100 }, ...Object.entries(row.slices).map(([slice, f1]) => ({ strategy: row.strategy, slice, f1: f1 * 100 }))]);
  specs["f1-per-slice"] = {
    $schema: schema, title: "Macro F1 per slice", data: { values: sliceRows }, width: { step: 14 },
    mark: "bar", encoding: { x: { field: "strategy", type: "nominal", title: null }, xOffset: { field: "slice" }, y: { field: "f1", type: "quantitative", title: "macro F1 (%)" }, color: { field: "slice", type: "nominal" }, tooltip: [{ field: "strategy" }, { field: "slice" }, { field: "f1", format: ".2f" }] },
  };
  const frontier = c.table.map((row) => ({ strategy: row.strategy, cost: row.inferenceCostUsd + row.trainingCostUsd, f1: row.macroF1 * 100, pareto: row.pareto ? "Pareto-optimal" : "dominated", speed: row.itemsPerSecond }));
  // Every strategy at the same cost (all free, say) would collapse the chart to one x: F1 against speed then.
  if (new Set(frontier.map((f) => f.cost)).size < 2) {
    specs["speed-frontier"] = {
      $schema: schema, title: "Macro F1 against speed (every strategy costs the same)", data: { values: frontier.filter((f) => Number.isFinite(f.speed) && f.speed > 0) }, width: 420, height: 280,
      layer: [
        { mark: { type: "point", filled: true, size: 90 }, encoding: { x: { field: "speed", type: "quantitative", title: "items/s (log)", scale: { type: "log" } }, y: { field: "f1", type: "quantitative", title: "macro F1 (%)", scale: { zero: false } }, tooltip: [{ field: "strategy" }, { field: "speed", format: ".1f" }, { field: "f1", format: ".2f" }] } },
        { mark: { type: "text", dx: 6, align: "left" }, encoding: { x: { field: "speed", type: "quantitative", scale: { type: "log" } }, y: { field: "f1", type: "quantitative" }, text: { field: "strategy" } } },
      ],
    };
  } else specs["cost-frontier"] = {
    $schema: schema, title: "Macro F1 against cost", data: { values: frontier }, width: 420, height: 280,
    layer: [
      { transform: [{ filter: "datum.pareto === 'Pareto-optimal'" }], mark: { type: "line", strokeDash: [4, 3], color: "#888" }, encoding: { x: { field: "cost", type: "quantitative" }, y: { field: "f1", type: "quantitative" }, order: { field: "cost" } } },
      { mark: { type: "point", filled: true, size: 90 }, encoding: { x: { field: "cost", type: "quantitative", title: "cost (US$, inference + training)" }, y: { field: "f1", type: "quantitative", title: "macro F1 (%)", scale: { zero: false } }, shape: { field: "pareto", type: "nominal", title: null }, color: { field: "pareto", type: "nominal", title: null }, tooltip: [{ field: "strategy" }, { field: "cost", format: "$.6f" }, { field: "f1", format: ".2f" }] } },
      { mark: { type: "text", dx: 6, align: "left" }, encoding: { x: { field: "cost", type: "quantitative" }, y: { field: "f1", type: "quantitative" }, text: { field: "strategy" } } },
    ],
  };
  const cells = run.outcomes.flatMap((o) => {
    const matrix = o.evaluation.overall.confusion_matrix ?? [];
    const labels = Object.keys(o.evaluation.overall).filter((k) => typeof o.evaluation.overall[k] === "object" && !k.endsWith(" avg") && !["confusion_matrix", "roc_auc_per_class", "fbeta", "binary", "ordinal"].includes(k));
    return matrix.flatMap((row, g) => row.map((count, p) => ({ strategy: o.name, gold: labels[g], predicted: labels[p], count })));
  });
  // One chart per strategy, wrapped three to a row: a faceted grid would draw empty framed panels where a row is short.
  const strategies = [...new Set(cells.map((cell) => cell.strategy))];
  specs["confusion"] = {
    $schema: schema, title: "Confusion matrices (rows: gold, columns: predicted)", data: { values: cells }, columns: 3,
    concat: strategies.map((strategy) => {
      const own = cells.filter((cell) => cell.strategy === strategy);
      const half = Math.max(...own.map((cell) => cell.count)) / 2;
      return {
        title: strategy, width: 150, height: 150, transform: [{ filter: { field: "strategy", equal: strategy } }],
        layer: [
          { mark: "rect", encoding: { x: { field: "predicted", type: "nominal" }, y: { field: "gold", type: "nominal" }, color: { field: "count", type: "quantitative", scale: { scheme: "blues" }, legend: null } } },
          { mark: { type: "text", fontSize: 11 }, encoding: { x: { field: "predicted", type: "nominal" }, y: { field: "gold", type: "nominal" }, text: { field: "count" }, color: { condition: { test: `datum.count > ${half}`, value: "white" }, value: "black" } } },
        ],
      };
    }),
  };
  const curves = run.outcomes.filter((o) => o.curve).flatMap((o) => o.curve!.flatMap((p) => [
    { cascade: o.name, tau: p.tau, share: p.llmShare * 100, value: p.macroF1 * 100, metric: "macro F1" },
    { cascade: o.name, tau: p.tau, share: p.llmShare * 100, value: p.accuracy * 100, metric: "accuracy" },
  ]));
  if (curves.length > 0) {
    specs["cascade-curve"] = {
      $schema: schema, title: "Cascade routing: quality against the share of items sent to the LLM", data: { values: curves }, width: 420, height: 260,
      mark: { type: "line", point: true },
      encoding: { x: { field: "share", type: "quantitative", title: "items sent to the LLM (%)" }, y: { field: "value", type: "quantitative", title: "%", scale: { zero: false } }, color: { field: "metric", type: "nominal" }, strokeDash: { field: "cascade", type: "nominal" }, tooltip: [{ field: "cascade" }, { field: "tau", title: "τ" }, { field: "share", format: ".1f" }, { field: "value", format: ".2f" }, { field: "metric" }] },
    };
  }
  const significance = Object.entries(c.pairwise).flatMap(([a, row]) => Object.entries(row).map(([b, p]) => ({ a, b, p, label: a === b ? "" : pValue(p) })));
  specs["significance"] = {
    $schema: schema, title: "McNemar exact p-values between strategies", data: { values: significance }, width: { step: 60 }, height: { step: 28 },
    layer: [
      { mark: "rect", encoding: { x: { field: "b", type: "nominal", title: null }, y: { field: "a", type: "nominal", title: null }, color: { field: "p", type: "quantitative", scale: { scheme: "reds", reverse: true, domain: [0, 0.2], clamp: true }, title: "p" } } },
      // White on the dark (significant) cells, black on the light ones: readable on both.
      { mark: { type: "text", fontSize: 10 }, encoding: { x: { field: "b", type: "nominal" }, y: { field: "a", type: "nominal" }, text: { field: "label" }, color: { condition: { test: "datum.p < 0.05", value: "white" }, value: "black" } } },
    ],
  };
  return specs;
}

/** The page icon, inline (no request, so no 404 in a server's log or a browser's console). */
export const FAVICON = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Crect width='16' height='16' rx='3' fill='%230b57a4'/%3E%3Ctext x='8' y='12' font-size='11' text-anchor='middle' fill='white' font-family='sans-serif'%3Et%3C/text%3E%3C/svg%3E";

export const escapeHtml = (text: string) => text.replace(/[&<>"]/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[ch] as string);

/** Vega, Vega-Lite and vega-embed inlined, so a report needs no network. */
export function chartLibraries(): string {
  return [packageFile("vega", "build/vega.min.js"), packageFile("vega-lite", "build/vega-lite.min.js"), packageFile("vega-embed", "build/vega-embed.min.js")]
    .map((file) => `<script>${readFileSync(file, "utf8").replace(/<\/script/gi, "<\\/script")}</script>`)
    .join("\n");
}

export function embedScript(specs: Record<string, unknown>): string {
  return `<script>
const specs = ${JSON.stringify(specs).replace(/</g, "\\u003c")};
Promise.all(Object.entries(specs).map(([id, spec]) => vegaEmbed("#" + id, spec, { renderer: "svg", actions: false })))
  .then(() => { document.body.dataset.rendered = String(Object.keys(specs).length); })
  .catch((error) => { document.body.dataset.error = String(error); });
</script>`;
}

/** A head search's report: every trial's validation macro F1 by epoch (pruned trials dashed) and the trial table. */
export function renderSearchHtml(search: HeadSearchRecord): string {
  const points = search.trials.flatMap((t) => t.scores.map((score, i) => ({ trial: `#${t.trial}`, epoch: i + 1, f1: score * 100, status: t.status })));
  const specs = {
    "search-curves": {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      title: "Validation macro F1 by epoch, per trial",
      width: 640, height: 320,
      data: { values: points },
      mark: { type: "line", point: true },
      encoding: {
        x: { field: "epoch", type: "quantitative", axis: { tickMinStep: 1 } },
        y: { field: "f1", type: "quantitative", title: "validation macro F1 (%)", scale: { zero: false } },
        color: { field: "trial", type: "nominal", sort: null },
        strokeDash: { field: "status", type: "nominal", title: "trial" },
        tooltip: [{ field: "trial" }, { field: "epoch" }, { field: "f1", format: ".2f" }, { field: "status" }],
      },
    },
    "search-best": {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      title: "Best validation macro F1 of each trial",
      width: 640, height: 200,
      data: { values: search.trials.map((t) => ({ trial: t.trial, f1: t.best * 100, status: t.status })) },
      mark: "bar",
      encoding: { x: { field: "trial", type: "ordinal" }, y: { field: "f1", type: "quantitative", title: "macro F1 (%)", scale: { zero: false } }, color: { field: "status", type: "nominal" } },
    },
  };
  const full = search.kind === "full";
  const given = full ? "given settings" : "given head";
  const rows = search.trials
    .map((t) => `<tr${t.trial === search.bestTrial ? ' class="best"' : ""}><td>${t.trial}${t.trial === 1 ? ` (${given})` : ""}</td><td>${t.params.lr.toExponential(2)}</td><td>${t.params.layers}</td><td>${t.params.hiddenDim}</td><td>${t.params.dropout.toFixed(2)}</td><td>${escapeHtml(t.params.activation)}</td><td>${t.scores.length}</td><td>${escapeHtml(t.status)}</td><td>${(t.best * 100).toFixed(2)}</td><td>${t.seconds.toFixed(1)}</td></tr>`)
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="${FAVICON}"><title>tandem ${full ? "fine-tuning" : "head"} search — ${escapeHtml(search.id)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:1100px}table{border-collapse:collapse;font-size:14px}td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:right}tr.best{font-weight:600;background:#eef6ee}section{margin:2rem 0}.note{color:#555;font-size:13px}</style>
${chartLibraries()}
</head><body>
<h1>${full ? "Fine-tuning search (train full)" : "Head search"} ${escapeHtml(search.id)}</h1>
<p class="note">${search.trials.length} trials (${escapeHtml(search.sampler)} sampler) on ${escapeHtml(search.encoder)}; best trial #${search.bestTrial}: ${(search.bestScore * 100).toFixed(2)} against ${(search.baselineScore * 100).toFixed(2)} for the ${given}. Model folder: ${escapeHtml(search.out)}</p>
<table id="trials"><thead><tr><th>trial</th><th>${full ? "encoder lr" : "lr"}</th><th>layers</th><th>width</th><th>dropout</th><th>activation</th><th>epochs</th><th>status</th><th>best val macro F1 (%)</th><th>seconds</th></tr></thead>
<tbody>${rows}</tbody></table>
<section><div id="search-curves" class="chart"></div></section>
<section><div id="search-best" class="chart"></div></section>
${embedScript(specs)}
</body></html>
`;
}

export function renderHtml(run: ExperimentRun, c: RunComparison): string {
  const specs = chartSpecs(run, c);
  const libraries = chartLibraries();
  const { slices } = columns(c);
  const rows = c.table
    .map((row) => `<tr><td>${escapeHtml(strategyCell(row))}</td><td>${macroCell(row)}</td><td>${pct(row.accuracy)}</td>${slices.map((s) => `<td>${row.slices[s] === undefined ? "" : pct(row.slices[s]!)}</td>`).join("")}<td>${money(row.inferenceCostUsd)}</td><td>${money(row.trainingCostUsd)}</td><td>${row.tokens}</td><td>${row.costPerF1Point === null ? "–" : money(row.costPerF1Point)}</td><td>${Number.isFinite(row.itemsPerSecond) ? row.itemsPerSecond.toFixed(0) : "∞"}</td><td>${escapeHtml(vsBaseline(row, c))}</td></tr>`)
    .join("\n");
  const charts = Object.keys(specs).map((id) => `<section><div id="${id}" class="chart"></div></section>`).join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="${FAVICON}"><title>tandem report — ${escapeHtml(run.id)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:1100px}table{border-collapse:collapse;font-size:14px}td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}section{margin:2rem 0}.note{color:#555;font-size:13px}</style>
${libraries}
</head><body>
<h1>${escapeHtml(run.config.name)}</h1>
<p class="note">Run ${escapeHtml(run.id)} · ${c.rows} rows of ${escapeHtml(run.config.dataset.file.split("/").slice(-2).join("/"))} · made with tandem</p>
<table id="comparison"><thead><tr><th>strategy</th><th>macro F1 (%)</th><th>accuracy (%)</th>${slices.map((s) => `<th>${escapeHtml(s)} F1 (%)</th>`).join("")}<th>inference cost</th><th>training cost</th><th>tokens</th><th>$ per F1 point</th><th>items/s</th><th>vs ${escapeHtml(c.baseline ?? "baseline")}</th></tr></thead>
<tbody>${rows}</tbody></table>
<p class="note">◆ Pareto-optimal on macro F1 vs cost. Significance: ${escapeHtml(c.correction)}; intervals are paired-bootstrap 95% intervals of the macro-F1 difference (points); * marks significant differences.${escapeHtml(replicateNote(c))}</p>
${charts}
${embedScript(specs)}
</body></html>
`;
}
