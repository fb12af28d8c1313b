// The tandem web app: runs, a run's comparison, error analysis, the cascade explorer and run-to-run
// comparison, over the JSON API of src/server/view.ts. Plain DOM, hash routes, charts by Vega-Lite (the
// report's library, served by the server). Compiled by `npm run build` (tsconfig.web.json) to dist/web.

declare const vegaEmbed: (element: HTMLElement, spec: unknown, options: Record<string, unknown>) => Promise<unknown>;

// The API's shapes are the server's own types (from the declarations `npm run build` writes before this
// app is compiled): a change on the server that the app does not follow fails the build.
import type { ComparisonRow } from "../dist/experiments/compare.js";
import type { CascadeView, RunDetail, ViewRow } from "../dist/experiments/view.js";

type Json = Record<string, unknown>;

const main = document.getElementById("main") as HTMLElement;
const KEY = "tandem-api-key";

/** Element builder: tag, attributes, children. */
function h(tag: string, attributes: Record<string, string | number | boolean | undefined> = {}, ...children: Array<Node | string | null | undefined>): HTMLElement {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined) element.append(child);
  return element;
}

const pct = (x: number, digits = 2) => (x * 100).toFixed(digits);
const usd = (x: number) => (x === 0 ? "$0" : x < 0.01 ? `$${x.toFixed(6)}` : `$${x.toFixed(4)}`);

async function api<T>(path: string): Promise<T> {
  const key = sessionStorage.getItem(KEY);
  const response = await fetch(path, { headers: key ? { authorization: `Bearer ${key}` } : {} });
  if (response.status === 401) {
    const entered = window.prompt("This server needs an API key (Authorization: Bearer KEY):");
    if (entered) {
      sessionStorage.setItem(KEY, entered);
      return api<T>(path);
    }
  }
  const body = (await response.json()) as T & { error?: string };
  if (!response.ok) throw new Error(body.error ?? `${response.status}`);
  return body;
}

function params(): { path: string[]; query: URLSearchParams } {
  const [path = "", query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  return { path: path.split("/").filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(query) };
}

function chart(id: string, spec: Json): HTMLElement {
  const holder = h("figure", { id, class: "chart" });
  queueMicrotask(() => {
    void vegaEmbed(holder, { $schema: "https://vega.github.io/schema/vega-lite/v6.json", ...spec }, { renderer: "svg", actions: false }).then(() => (holder.dataset.rendered = "true"));
  });
  return holder;
}

function runNav(id: string, current: string): HTMLElement {
  const link = (name: string, href: string) => h("a", { href, "aria-current": current === name ? "page" : undefined }, name);
  return h("nav", { class: "tabs", "aria-label": "run" }, link("Overview", `#/run/${encodeURIComponent(id)}`), link("Errors", `#/run/${encodeURIComponent(id)}/errors`), link("Cascade", `#/run/${encodeURIComponent(id)}/cascade`));
}

// Runs ------------------------------------------------------------------------------------------

async function runsPage(): Promise<void> {
  const { runs } = await api<{ runs: Array<{ id: string; name: string; dataset: string; createdAt: string; strategies: string[]; best: { strategy: string; macroF1: number } | null; costUsd: number; rows: number }> }>("/api/view/runs");
  const filter = h("input", { id: "run-filter", type: "search", placeholder: "dataset, name or strategy" }) as HTMLInputElement;
  const body = h("tbody");
  const render = () => {
    const needle = filter.value.toLowerCase();
    body.replaceChildren(...runs.filter((r) => [r.id, r.name, r.dataset, ...r.strategies].join(" ").toLowerCase().includes(needle)).map((r) =>
      h("tr", { "data-run": r.id },
        h("td", {}, h("a", { href: `#/run/${encodeURIComponent(r.id)}` }, r.id)),
        h("td", {}, r.name), h("td", { class: "path" }, r.dataset.split("/").slice(-2).join("/")), h("td", {}, r.createdAt.slice(0, 16).replace("T", " ")),
        h("td", { class: "num" }, String(r.rows)), h("td", {}, r.strategies.join(", ")),
        h("td", { class: "num" }, r.best ? `${pct(r.best.macroF1)} (${r.best.strategy})` : "–"), h("td", { class: "num" }, usd(r.costUsd)))));
  };
  filter.addEventListener("input", render);
  render();
  main.replaceChildren(
    h("h1", {}, "Runs"),
    h("p", {}, h("label", { for: "run-filter" }, "Filter runs "), filter),
    runs.length === 0 ? h("p", {}, "No runs yet: tandem run FILE, or tandem demo.") : h("table", { "data-testid": "runs" }, h("thead", {}, h("tr", {}, ...["run", "name", "dataset", "date", "rows", "strategies", "best macro F1 (%)", "cost"].map((c) => h("th", { scope: "col" }, c)))), body),
  );
}

// A run -----------------------------------------------------------------------------------------

const detailCache = new Map<string, Promise<RunDetail>>();
const detailOf = (id: string) => {
  if (!detailCache.has(id)) detailCache.set(id, api<RunDetail>(`/api/view/runs/${encodeURIComponent(id)}`));
  return detailCache.get(id)!;
};

async function runPage(id: string): Promise<void> {
  const run = await detailOf(id);
  const rows = run.comparison.table;
  const columns: Array<{ key: string; title: string; value: (r: ComparisonRow) => number | string; text: (r: ComparisonRow) => string }> = [
    { key: "strategy", title: "strategy", value: (r) => r.strategy, text: (r) => r.strategy },
    // The figures a comparison is read by come first, so a narrow window still shows them.
    { key: "macro_f1", title: "macro F1 (%)", value: (r) => r.macroF1, text: (r) => (r.replicates ? `${pct(r.macroF1)} ± ${pct(r.replicates.macroF1Sd)}` : pct(r.macroF1)) },
    { key: "cost", title: "inference cost", value: (r) => r.inferenceCostUsd, text: (r) => usd(r.inferenceCostUsd) },
    { key: "llm_share", title: "LLM share (%)", value: (r) => r.llmShare ?? -1, text: (r) => (r.llmShare === undefined ? "–" : pct(r.llmShare, 1)) },
    { key: "items_per_s", title: "items/s", value: (r) => r.itemsPerSecond, text: (r) => r.itemsPerSecond.toFixed(1) },
    { key: "vs_baseline", title: `Δ F1 vs ${run.comparison.baseline ?? "baseline"} (p Holm)`, value: (r) => r.vsBaseline?.difference ?? 0, text: (r) => (r.vsBaseline ? `${r.vsBaseline.difference >= 0 ? "+" : ""}${pct(r.vsBaseline.difference)} (${r.vsBaseline.pHolm.toPrecision(2)})${r.vsBaseline.significant ? " *" : ""}` : "–") },
    { key: "accuracy", title: "accuracy (%)", value: (r) => r.accuracy, text: (r) => pct(r.accuracy) },
    ...run.slices.map((s) => ({ key: `slice:${s}`, title: `${s} F1 (%)`, value: (r: ComparisonRow) => r.slices[s] ?? 0, text: (r: ComparisonRow) => (r.slices[s] === undefined ? "–" : pct(r.slices[s]!)) })),
    { key: "training_cost", title: "training cost", value: (r) => r.trainingCostUsd, text: (r) => usd(r.trainingCostUsd) },
    { key: "type", title: "type", value: (r) => r.type, text: (r) => r.type },
    { key: "failed", title: "failed rows", value: (r) => r.failed, text: (r) => String(r.failed) },
  ];
  let sortKey = "";
  let descending = true;
  const body = h("tbody");
  const head = h("tr");
  const render = () => {
    const column = columns.find((c) => c.key === sortKey);
    const sorted = column ? [...rows].sort((a, b) => {
      const [x, y] = [column.value(a), column.value(b)];
      return (x < y ? -1 : x > y ? 1 : 0) * (descending ? -1 : 1);
    }) : rows;
    body.replaceChildren(...sorted.map((r) => h("tr", { "data-strategy": r.strategy, class: r.failed > 0 ? "failed" : undefined }, ...columns.map((c, i) => h(i === 0 ? "th" : "td", { scope: i === 0 ? "row" : undefined, "data-field": c.key, class: typeof c.value(r) === "number" ? "num" : undefined }, c.text(r) + (c.key === "failed" && r.failed > 0 ? " ⚠" : ""))))));
    head.replaceChildren(...columns.map((c) => h("th", { scope: "col", "aria-sort": c.key === sortKey ? (descending ? "descending" : "ascending") : undefined }, sortButton(c))));
  };
  const sortButton = (c: (typeof columns)[number]) => {
    const button = h("button", { type: "button", class: "sort" }, c.title);
    button.addEventListener("click", () => {
      descending = sortKey === c.key ? !descending : true;
      sortKey = c.key;
      render();
    });
    return button;
  };
  render();

  const frontier = rows.map((r) => ({ strategy: r.strategy, cost: r.inferenceCostUsd + r.trainingCostUsd, f1: r.macroF1 * 100, pareto: r.pareto ? "Pareto-optimal" : "dominated" }));
  // Ticks at $0 and powers of ten only: a symlog axis otherwise crowds and repeats its labels.
  const costMax = Math.max(0.01, ...frontier.map((f) => f.cost * 1.2));
  const costTicks = [0, ...Array.from({ length: 12 }, (_, i) => 10 ** (i - 4)).filter((v) => v <= costMax)];
  const sliceValues = rows.flatMap((r) => Object.entries(r.slices).map(([slice, f1]) => ({ strategy: r.strategy, slice, f1: f1 * 100 })));
  const significance = h("table", { "data-testid": "significance" },
    h("caption", {}, "McNemar p-values between strategies (exact, two-sided)"),
    h("thead", {}, h("tr", {}, h("td", {}), ...run.strategies.map((s) => h("th", { scope: "col" }, s.name)))),
    h("tbody", {}, ...run.strategies.map((s, i) => h("tr", {}, h("th", { scope: "row" }, s.name), ...run.significance[i]!.map((p) => h("td", { class: `num${p !== null && p < 0.05 ? " significant" : ""}` }, p === null ? "–" : p.toPrecision(3)))))));
  const errorsLink = (query: string) => `#/run/${encodeURIComponent(id)}/errors?${query}`;
  const disagreements = h("table", { "data-testid": "disagreements" },
    h("caption", {}, "Rows where the row's strategy is right and the column's is wrong (diagonal: rows it gets wrong); each count opens those rows"),
    h("thead", {}, h("tr", {}, h("td", {}), ...run.strategies.map((s) => h("th", { scope: "col" }, `${s.name} wrong`)))),
    h("tbody", {}, ...run.strategies.map((a, i) => h("tr", {}, h("th", { scope: "row" }, `${a.name} right`),
      ...run.strategies.map((b, j) => h("td", { class: "num" }, h("a", { href: i === j ? errorsLink(`strategy=${encodeURIComponent(a.name)}&wrong=${encodeURIComponent(a.name)}`) : errorsLink(`right=${encodeURIComponent(a.name)}&wrong=${encodeURIComponent(b.name)}`), "data-right": i === j ? undefined : a.name, "data-wrong": b.name }, String(run.disagreements[i]![j]))))))));
  const confusions = run.strategies.filter((s) => s.confusion).map((s) => {
    const cells = s.confusion!.flatMap((row, i) => row.map((count, j) => ({ gold: run.labels[i], predicted: run.labels[j], count })));
    return chart(`confusion-${s.name}`, {
      description: `Confusion matrix of ${s.name}`, title: s.name, width: 180, height: 180, data: { values: cells },
      encoding: { x: { field: "predicted", type: "nominal", sort: run.labels }, y: { field: "gold", type: "nominal", sort: run.labels } },
      layer: [
        { mark: "rect", encoding: { color: { field: "count", type: "quantitative", scale: { scheme: "blues" }, legend: null } } },
        { mark: { type: "text", fontSize: 13 }, encoding: { text: { field: "count", type: "quantitative" }, color: { condition: { test: `datum.count > ${Math.max(...cells.map((c) => c.count)) / 2}`, value: "white" }, value: "black" } } },
      ],
    });
  });
  main.replaceChildren(
    h("h1", {}, `Run ${run.id}`),
    h("p", { class: "note" }, `${run.name} on ${run.dataset}`),
    runNav(id, "Overview"),
    h("table", { "data-testid": "run-table", class: "wide" }, h("caption", {}, "The comparison (click a heading to sort; ⚠ marks strategies with failed rows)"), h("thead", {}, head), body),
    h("section", {}, h("h2", {}, "Macro F1 against cost"), chart("frontier", {
      description: "Macro F1 against total cost per strategy", width: 640, height: 320, data: { values: frontier },
      mark: { type: "point", filled: true, size: 120 },
      encoding: {
        // symlog keeps a readable axis when every cost is $0, and spreads cents and dollars apart.
        // At least a cent of axis: free strategies sit at the left edge instead of collapsing the axis to $0.
        x: { field: "cost", type: "quantitative", title: "total cost (USD, symlog)", scale: { type: "symlog", constant: 0.001, domain: [0, costMax] }, axis: { values: costTicks, format: "$~g" } },
        y: { field: "f1", type: "quantitative", title: "macro F1 (%)", scale: { zero: false } },
        color: { field: "strategy", type: "nominal", title: "strategy" },
        shape: { field: "pareto", type: "nominal", title: "" },
        tooltip: [{ field: "strategy" }, { field: "cost", format: "$.6f" }, { field: "f1", format: ".2f" }],
      },
    })),
    ...(sliceValues.length ? [h("section", {}, h("h2", {}, "Macro F1 per slice"), chart("slices", {
      description: "Macro F1 per slice and strategy", width: 640, height: 260, data: { values: sliceValues }, mark: "bar",
      encoding: { x: { field: "slice", type: "nominal" }, xOffset: { field: "strategy" }, y: { field: "f1", type: "quantitative", title: "macro F1 (%)" }, color: { field: "strategy", type: "nominal" }, tooltip: [{ field: "strategy" }, { field: "slice" }, { field: "f1", format: ".2f" }] },
    }))] : []),
    h("section", {}, h("h2", {}, "Confusion matrices (rows: gold, columns: predicted)"), h("div", { class: "grid" }, ...confusions)),
    h("section", {}, h("h2", {}, "Where they disagree"), disagreements),
    h("section", {}, h("h2", {}, "Significance"), significance),
  );
}

// Errors ----------------------------------------------------------------------------------------

function select(id: string, label: string, options: string[], value: string | null, empty = "any"): HTMLElement {
  const element = h("select", { id, name: id }, h("option", { value: "" }, empty), ...options.map((o) => h("option", { value: o, selected: o === value }, o)));
  return h("span", { class: "field" }, h("label", { for: id }, label), element);
}

async function errorsPage(id: string, query: URLSearchParams): Promise<void> {
  const run = await detailOf(id);
  const names = run.strategies.map((s) => s.name);
  const form = h("form", { class: "filters", "aria-label": "filter rows" },
    select("gold", "gold", run.labels, query.get("gold")),
    select("strategy", "strategy", names, query.get("strategy")),
    select("pred", "its prediction", run.labels, query.get("pred")),
    run.slices.length ? select("slice", "slice", run.slices, query.get("slice")) : null,
    select("right", "right", names, query.get("right"), "—"),
    select("wrong", "wrong", names, query.get("wrong"), "—"),
    h("span", { class: "field" }, h("label", { for: "min_confidence" }, "confidence ≥"), h("input", { id: "min_confidence", name: "min_confidence", type: "number", min: 0, max: 1, step: 0.01, value: query.get("min_confidence") ?? "" })),
    h("span", { class: "field" }, h("label", { for: "max_confidence" }, "≤"), h("input", { id: "max_confidence", name: "max_confidence", type: "number", min: 0, max: 1, step: 0.01, value: query.get("max_confidence") ?? "" })),
    h("button", { type: "submit" }, "Filter"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [key, value] of new FormData(form as HTMLFormElement)) if (value) next.set(key, String(value));
    location.hash = `#/run/${encodeURIComponent(id)}/errors?${next}`;
  });
  const search = new URLSearchParams(query);
  const result = await api<{ total: number; rows: ViewRow[] }>(`/api/view/runs/${encodeURIComponent(id)}/rows?${search}&limit=200`);
  // A row's detail opens right under the row clicked (one at a time), not below the whole table.
  const detail = h("section", { id: "row-detail", "aria-live": "polite", tabindex: -1 });
  const detailRow = h("tr", { class: "detail" }, h("td", { colspan: 3 + names.length }, detail));
  const body = h("tbody", {}, ...result.rows.map((r) => {
    const button = h("button", { type: "button", class: "link", "aria-expanded": "false" }, String(r.row));
    button.addEventListener("click", () => {
      const row = button.closest("tr")!;
      for (const open of body.querySelectorAll("button[aria-expanded=true]")) open.setAttribute("aria-expanded", "false");
      button.setAttribute("aria-expanded", "true");
      row.after(detailRow);
      void showRow(id, run, r, detail);
    });
    return h("tr", { "data-row": r.row },
      h("td", {}, button), h("td", { class: "text" }, r.text ?? "(text not available)"), h("td", {}, r.gold),
      ...names.map((n) => h("td", { class: r.answers[n]!.label === r.gold ? "right" : "wrong" }, `${r.answers[n]!.label || "(none)"} ${r.answers[n]!.label === r.gold ? "✓" : "✗"}`)));
  }));
  const csv = `/api/view/runs/${encodeURIComponent(id)}/rows?${search}&format=csv`;
  main.replaceChildren(
    h("h1", {}, `Run ${run.id}: errors`),
    runNav(id, "Errors"),
    form,
    h("p", {}, h("strong", { "data-testid": "row-count" }, `${result.total} rows`), result.total > result.rows.length ? ` (the first ${result.rows.length} shown)` : "", " · ", h("a", { href: csv, download: `${id}-rows.csv` }, "export these rows as CSV")),
    h("table", { "data-testid": "rows", class: "wide" }, h("thead", {}, h("tr", {}, ...["row", "text", "gold", ...names].map((c) => h("th", { scope: "col" }, c)))), body),
  );
}

async function showRow(id: string, run: RunDetail, row: ViewRow, into: HTMLElement): Promise<void> {
  const parts: Array<Node> = [h("h2", {}, `Row ${row.row}`), h("p", { class: "text" }, row.text ?? "(text not available)"), h("p", {}, `gold: ${row.gold}${row.slice ? ` · slice: ${row.slice}` : ""}`)];
  for (const s of run.strategies) {
    const a = row.answers[s.name]!;
    const probabilities = a.probabilities ? run.labels.map((l, i) => `${l} ${a.probabilities![i]!.toFixed(3)}`).join(", ") : "no probabilities";
    parts.push(h("h3", {}, `${s.name} (${s.type}): ${a.label || "(none)"}`), h("p", {}, `${probabilities} · status ${a.status}${a.answeredBy ? ` · answered by ${a.answeredBy}` : ""} · ${usd(a.costUsd)}`));
    if (a.error) parts.push(h("p", { class: "error" }, `error: ${a.error}`));
    if (a.raw !== null) parts.push(h("p", {}, "raw answer:"), h("pre", {}, a.raw));
    if (s.type === "llm") {
      const prompt = await api<{ messages?: Array<{ role: string; content: string }>; note?: string }>(`/api/view/runs/${encodeURIComponent(id)}/rows/${row.row}/prompt?strategy=${encodeURIComponent(s.name)}`);
      parts.push(h("details", {}, h("summary", {}, "the prompt sent"), ...(prompt.messages ?? []).map((m) => h("pre", { class: "message" }, `${m.role}:\n${m.content}`)), prompt.note ? h("p", {}, prompt.note) : null));
    }
  }
  into.replaceChildren(...parts);
  into.focus();
}

// Cascade explorer ------------------------------------------------------------------------------

async function cascadePage(id: string, query: URLSearchParams): Promise<void> {
  const run = await detailOf(id);
  const encoders = run.strategies.filter((s) => s.hasProbabilities).map((s) => s.name);
  const llms = run.strategies.filter((s) => s.type === "llm" || s.type === "ensemble").map((s) => s.name);
  const others = llms.length ? llms : run.strategies.map((s) => s.name);
  main.replaceChildren(h("h1", {}, `Run ${run.id}: cascade`), runNav(id, "Cascade"));
  if (encoders.length === 0) {
    main.append(h("p", {}, "No strategy of this run has probabilities to route on: run an encoder in it."));
    return;
  }
  // Opens on the pair a user would try first: the best encoder (by macro F1) before the best LLM, or else the best other strategy.
  const f1 = new Map(run.comparison.table.map((r) => [r.strategy, r.macroF1]));
  const best = (names: string[]) => [...names].sort((a, b) => (f1.get(b) ?? 0) - (f1.get(a) ?? 0))[0];
  const typeOf = new Map(run.strategies.map((s) => [s.name, s.type]));
  const firstEncoder = best(encoders.filter((n) => typeOf.get(n) === "encoder")) ?? best(encoders)!;
  const encoderSelect = select("encoder", "encoder (answers when confident)", encoders, query.get("encoder") ?? firstEncoder, "—");
  const llmSelect = select("llm", "LLM (answers the rest)", others, query.get("llm") ?? best(others.filter((n) => n !== firstEncoder)) ?? others[0]!, "—");
  const slider = h("input", { id: "tau", type: "range", min: 0, max: 1, step: 0.01, value: query.get("tau") ?? "0.9" }) as HTMLInputElement;
  const tauText = h("output", { for: "tau", id: "tau-value" });
  const figures = h("dl", { class: "figures", "data-testid": "cascade-figures" });
  const metricSelect = select("metric", "certify", ["agreement", "accuracy"], query.get("metric") ?? "agreement", "");
  const number = (id: string, value: string) => h("input", { id, type: "number", min: 0.5, max: 0.999, step: 0.005, value }) as HTMLInputElement;
  const targetInput = number("target", query.get("target") ?? "0.95");
  const confidenceInput = number("confidence", query.get("confidence") ?? "0.95");
  const certificatePanel = h("section", { "aria-labelledby": "certificate-heading", "data-testid": "certificate" });
  const curveHolder = h("div");
  const download = h("a", { href: "#", download: "cascade.yaml" }, "download this cascade as a strategy config (YAML)");
  let certifiedTau: number | undefined;
  let pending = 0;
  const update = async () => {
    const encoder = (encoderSelect.querySelector("select") as HTMLSelectElement).value;
    const llm = (llmSelect.querySelector("select") as HTMLSelectElement).value;
    const tau = Number(slider.value);
    tauText.textContent = tau.toFixed(2);
    if (!encoder || !llm) return;
    const ticket = ++pending;
    const metric = (metricSelect.querySelector("select") as HTMLSelectElement).value || "agreement";
    const q = `encoder=${encodeURIComponent(encoder)}&llm=${encodeURIComponent(llm)}&tau=${tau}&metric=${metric}&target=${targetInput.value}&confidence=${confidenceInput.value}`;
    const view = await api<CascadeView>(`/api/view/runs/${encodeURIComponent(id)}/cascade?${q}`);
    if (ticket !== pending) return;
    const item = (term: string, value: string, field: string) => [h("dt", {}, term), h("dd", { "data-field": field }, value)];
    figures.replaceChildren(
      ...item("τ", view.point.tau.toFixed(2), "tau"), ...item("macro F1 (%, in-sample)", pct(view.point.macroF1), "macro_f1"), ...item("accuracy (%, in-sample)", pct(view.point.accuracy), "accuracy"),
      ...item("LLM share (%)", pct(view.point.llmShare, 1), "llm_share"), ...item("LLM calls", String(view.point.llmCalls), "llm_calls"), ...item("LLM cost per 1,000 items", usd(view.costPerThousand), "cost_per_1000"),
    );
    figures.dataset.tau = view.point.tau.toFixed(2);
    const cert = view.certificate;
    certifiedTau = cert.tau;
    const held = cert.heldOut;
    const useButton = h("button", { type: "button", "data-testid": "use-certified" }, `set τ to the certified ${cert.tau.toFixed(2)}`);
    useButton.addEventListener("click", () => {
      slider.value = String(certifiedTau);
      void update();
    });
    certificatePanel.replaceChildren(
      h("h2", { id: "certificate-heading" }, cert.certified ? `Certified τ = ${cert.tau.toFixed(2)}` : "No τ certified: τ = 1 (the LLM answers everything)"),
      h("dl", { class: "figures" },
        ...item(`${cert.target.metric} target (%)`, pct(cert.target.level), "target"), ...item("confidence (%)", pct(cert.confidence, 0), "confidence"),
        ...item("lower bound (%)", cert.lowerBound === null ? "—" : pct(cert.lowerBound), "lower_bound"), ...item("calibration rows", String(cert.calibrationRows), "calibration_rows"),
        ...(held ? [...item("held-out agreement (%)", pct(held.agreement), "held_out_agreement"), ...item("held-out accuracy (%)", held.accuracy === null ? "—" : pct(held.accuracy), "held_out_accuracy"), ...item("held-out LLM share (%)", pct(held.llmShare, 1), "held_out_llm_share"), ...item("held-out rows", String(held.rows), "held_out_rows")] : []),
      ),
      h("p", {}, cert.summary, ". Learn then Test with exact binomial tests, certified on half of the run's rows; the held-out figures are on the other half."),
      useButton,
    );
    certificatePanel.dataset.tau = cert.tau.toFixed(2);
    download.textContent = Math.abs(tau - cert.tau) < 1e-9 ? "download this certified cascade as a strategy config (YAML, with its certificate)" : "download this cascade as a strategy config (YAML; τ not certified)";
    download.setAttribute("href", `/api/view/runs/${encodeURIComponent(id)}/cascade?${q}&format=yaml`);
    history.replaceState(null, "", `#/run/${encodeURIComponent(id)}/cascade?${q}`);
    curveHolder.replaceChildren(
      h("p", { class: "note", "data-testid": "in-sample-note" }, "In-sample curve: every row of the run, the rows you choose τ on — optimistic. The certificate above is chosen on half of the rows and reported on the other half."),
      chart("routing-curve", {
        description: "Macro F1 and LLM share by threshold (in-sample), with the slider's τ (dashed) and the certified τ (solid)", width: 640, height: 280,
        layer: [
          { data: { values: view.curve.flatMap((p) => [{ tau: p.tau, value: p.macroF1 * 100, measure: "macro F1 (%, in-sample)" }, { tau: p.tau, value: p.llmShare * 100, measure: "LLM share (%)" }]) }, mark: { type: "line", point: true }, encoding: { x: { field: "tau", type: "quantitative", title: "τ" }, y: { field: "value", type: "quantitative", title: "%" }, color: { field: "measure", type: "nominal", title: "" } } },
          { data: { values: [{ tau: view.point.tau }] }, mark: { type: "rule", strokeDash: [4, 3], color: "#333" }, encoding: { x: { field: "tau", type: "quantitative" } } },
          { data: { values: [{ tau: cert.tau }] }, mark: { type: "rule", color: "#1a7f37", strokeWidth: 2 }, encoding: { x: { field: "tau", type: "quantitative" } } },
        ],
      }),
    );
  };
  for (const control of [encoderSelect, llmSelect, metricSelect]) control.addEventListener("change", () => void update());
  for (const control of [targetInput, confidenceInput]) control.addEventListener("change", () => void update());
  slider.addEventListener("input", () => void update());
  main.append(
    h("form", { class: "filters", "aria-label": "cascade" }, encoderSelect, llmSelect, h("span", { class: "field" }, h("label", { for: "tau" }, "τ: the encoder answers when its top probability ≥"), slider, tauText)),
    h("form", { class: "filters", "aria-label": "certificate target" }, metricSelect, h("span", { class: "field" }, h("label", { for: "target" }, "target (fraction)"), targetInput), h("span", { class: "field" }, h("label", { for: "confidence" }, "confidence"), confidenceInput)),
    figures, certificatePanel, h("p", {}, download), curveHolder,
  );
  await update();
}

// Compare two runs ------------------------------------------------------------------------------

async function comparePage(query: URLSearchParams): Promise<void> {
  const { runs } = await api<{ runs: Array<{ id: string; name: string }> }>("/api/view/runs");
  const ids = runs.map((r) => r.id);
  const form = h("form", { class: "filters", "aria-label": "runs to compare" }, select("a", "run A", ids, query.get("a"), "—"), select("b", "run B", ids, query.get("b"), "—"), h("button", { type: "submit" }, "Compare"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form as HTMLFormElement);
    location.hash = `#/compare?a=${encodeURIComponent(String(data.get("a")))}&b=${encodeURIComponent(String(data.get("b")))}`;
  });
  main.replaceChildren(h("h1", {}, "Compare two runs"), form);
  if (!query.get("a") || !query.get("b")) return;
  const result = await api<{ rows: Array<{ strategy: string; macroF1A: number; macroF1B: number; difference: number; ci: [number, number]; pBootstrap: number; pMcnemar: number; costA: number; costB: number }> }>(`/api/view/compare?a=${encodeURIComponent(query.get("a")!)}&b=${encodeURIComponent(query.get("b")!)}`);
  main.append(h("table", { "data-testid": "compare" },
    h("caption", {}, "Strategies in both runs: B − A, paired bootstrap (95% CI) and McNemar on the same rows"),
    h("thead", {}, h("tr", {}, ...["strategy", "macro F1 A (%)", "macro F1 B (%)", "Δ (points)", "95% CI", "p bootstrap", "p McNemar", "cost A", "cost B"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, ...result.rows.map((r) => h("tr", { "data-strategy": r.strategy }, h("th", { scope: "row" }, r.strategy), h("td", { class: "num" }, pct(r.macroF1A)), h("td", { class: "num" }, pct(r.macroF1B)), h("td", { class: "num" }, `${r.difference >= 0 ? "+" : ""}${pct(r.difference)}`), h("td", { class: "num" }, `[${pct(r.ci[0])}, ${pct(r.ci[1])}]`), h("td", { class: "num" }, r.pBootstrap.toPrecision(3)), h("td", { class: "num" }, r.pMcnemar.toPrecision(3)), h("td", { class: "num" }, usd(r.costA)), h("td", { class: "num" }, usd(r.costB)))))));
}

// Live: a running server's strategies -------------------------------------------------------------

interface LivePoint { at: string; texts: number; llmShare: number; audited: number; agreement: number | null; lowerBound: number; upperBound: number; degraded: boolean }
interface LiveAudit { share: number; quantity: string; metric: string; on: string; targetFrom: string; outcomesFrom: string; target: number; confidence: number; onDegraded: string; audited: number; agreement: number | null; lowerBound: number; upperBound: number; evidence: number; recentAgreement: number | null; degraded: boolean; degradedSince: string | null; costTodayUsd: number; sample: { rows: number; cascadeAgreement: number | null; rowsToRecertify: number | null } }
interface LiveStrategy { name: string; traffic: { texts: number; llmShare: number; llmShareLastHour: number }; audit: LiveAudit | null; liveAccuracy: Array<{ answeredBy: string; n: number; accuracy: number; lowerBound: number; upperBound: number }>; series: LivePoint[] }

let liveTimer: number | undefined;

async function livePage(): Promise<void> {
  const live = await api<{ serving: boolean; strategies: LiveStrategy[] }>("/api/live");
  if (!live.serving) {
    main.replaceChildren(h("h1", {}, "Live"), h("p", { "data-testid": "not-serving" }, "This server serves no strategies (it is `tandem view`). Start `tandem serve --config cascade.yaml` and open its address to watch its traffic, audit and feedback here."));
    return;
  }
  const rows = live.strategies.map((s) => {
    const a = s.audit;
    const state = !a ? "not audited" : a.degraded ? `degraded since ${a.degradedSince}` : "keeps its target";
    return h("tr", { "data-strategy": s.name, "data-degraded": a?.degraded ? "true" : undefined },
      h("th", { scope: "row" }, s.name),
      h("td", { class: "num" }, String(s.traffic.texts)),
      h("td", { class: "num" }, `${pct(s.traffic.llmShare, 1)}%`),
      h("td", { class: "num" }, `${pct(s.traffic.llmShareLastHour, 1)}%`),
      h("td", {}, a ? a.quantity : "—"),
      h("td", { class: "num" }, a ? String(a.audited) : "—"),
      h("td", { class: "num" }, a && a.agreement !== null ? `${pct(a.agreement)}%` : "—"),
      h("td", { class: "num" }, a ? `[${pct(a.lowerBound)}, ${pct(a.upperBound)}]` : "—"),
      h("td", { class: "num" }, a ? `${pct(a.target)}%` : "—"),
      h("td", { class: "num", title: "uniform sample rows collected for the next distill / rows a certificate at the target needs for the current τ at the observed agreement" }, a ? `${a.sample.rows} / ${a.sample.rowsToRecertify ?? "—"}` : "—"),
      h("td", {}, h("span", { class: a?.degraded ? "badge bad" : "badge", role: a?.degraded ? "alert" : undefined }, state)),
      h("td", {}, s.liveAccuracy.map((f) => `${f.answeredBy}: ${pct(f.accuracy, 1)}% of ${f.n} [${pct(f.lowerBound, 1)}, ${pct(f.upperBound, 1)}]`).join("; ") || "—"),
    );
  });
  const charts = live.strategies.filter((s) => s.audit && s.series.some((p) => p.audited > 0)).map((s) =>
    h("section", {}, h("h2", {}, `${s.name}: ${s.audit!.quantity}, with its anytime-valid ${pct(s.audit!.confidence, 0)}% bounds`),
      chart(`live-${s.name}`, {
        width: 640, height: 220,
        layer: [
          {
            data: { values: s.series.filter((p) => p.audited > 0) },
            encoding: { x: { field: "at", type: "temporal", title: "time", axis: { format: "%H:%M" } } },
            layer: [
              { mark: { type: "area", opacity: 0.25 }, encoding: { y: { field: "lowerBound", type: "quantitative", title: s.audit!.metric, scale: { zero: false } }, y2: { field: "upperBound" } } },
              { mark: { type: "line", point: true }, encoding: { y: { field: "agreement", type: "quantitative" } } },
            ],
          },
          // The target: one horizontal line across the chart, labelled.
          { mark: { type: "rule", strokeDash: [4, 4], color: "#b00" }, encoding: { y: { datum: s.audit!.target, type: "quantitative" } } },
          { mark: { type: "text", align: "left", dx: 4, dy: -6, color: "#b00" }, encoding: { x: { value: 0 }, y: { datum: s.audit!.target, type: "quantitative" }, text: { value: `target ${pct(s.audit!.target, 0)}% (${s.audit!.targetFrom === "certificate" ? "the certificate's" : "audit.target"})` } } },
        ],
      })));
  main.replaceChildren(
    h("h1", {}, "Live"),
    h("p", {}, "Refreshes every 5 seconds. The bounds hold at every moment at once (a confidence sequence), so watching them does not inflate the error rate; the watched quantity is the one the certificate bounds (for the cascade's agreement, a drawn answer the LLM gave counts as agreeing and a drawn answer the encoder kept is asked of the LLM); degraded means the drift test rejected quantity ≥ target at the certificate's confidence. The sample is what the next distill calibrates on."),
    h("table", { "data-testid": "live" },
      h("thead", {}, h("tr", {}, ...["strategy", "texts", "LLM share", "last hour", "watched", "outcomes", "estimate", "bounds", "target", "sample / needed", "state", "feedback accuracy"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, ...rows)),
    ...charts,
  );
  liveTimer = window.setTimeout(() => {
    if (params().path[0] === "live") void route();
  }, 5000);
}

// Router ----------------------------------------------------------------------------------------

async function route(): Promise<void> {
  const { path, query } = params();
  main.setAttribute("aria-busy", "true");
  window.clearTimeout(liveTimer);
  try {
    if (path[0] === "run" && path[1]) {
      if (path[2] === "errors") await errorsPage(path[1], query);
      else if (path[2] === "cascade") await cascadePage(path[1], query);
      else await runPage(path[1]);
    } else if (path[0] === "compare") {
      await comparePage(query);
    } else if (path[0] === "live") {
      await livePage();
    } else {
      await runsPage();
    }
  } catch (error) {
    main.replaceChildren(h("h1", {}, "Something went wrong"), h("p", { class: "error", role: "alert" }, (error as Error).message));
  } finally {
    main.removeAttribute("aria-busy");
    document.body.dataset.page = path.join("/") || "runs";
  }
}

window.addEventListener("hashchange", () => void route());
void route();
