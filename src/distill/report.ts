/**
 * What `tandem distill` writes for people: the student's model card and report.html (agreement and
 * teacher share per round, the learning curve, cost paid against cost saved per 1,000 texts, per-label
 * agreement, the certificate and the suspects). Charts by Vega-Lite, inlined like the run reports.
 */
import { chartLibraries, embedScript, escapeHtml } from "../experiments/report.js";
import type { DistillResult } from "./distill.js";

const pct = (x: number | null | undefined, digits = 2) => (x === null || x === undefined || Number.isNaN(x) ? "—" : `${(x * 100).toFixed(digits)}%`);
const usd = (x: number | null | undefined) => (x === null || x === undefined ? "—" : x === 0 ? "$0" : x < 0.01 ? `$${x.toFixed(6)}` : `$${x.toFixed(4)}`);

export interface ReportContext {
  teacher: string;
  input: string;
  labels: readonly string[];
}

/** The model card of the student folder (Markdown). */
export function studentCard(result: DistillResult, context: ReportContext & { target: number; confidence: number }): string {
  const cert = result.certification.certificate;
  const rounds = result.rounds.map((r) => `| ${r.round === 0 ? "0 (logged)" : r.round} | ${r.asked} | ${r.answered} | ${r.trainingLabels} | ${r.calibrationLabels} | ${pct(r.finalAgreement)} | ${usd(r.paidUsd)} |`).join("\n");
  const evaluation = result.evaluation
    ? `\n## Against gold labels (${result.evaluation.rows} rows of ${result.evaluation.file})\n\n| | accuracy | macro F1 |\n|---|---:|---:|\n| teacher | ${pct(result.evaluation.teacher?.accuracy)} | ${pct(result.evaluation.teacher?.macroF1)} |\n| student | ${pct(result.evaluation.student.accuracy)} | ${pct(result.evaluation.student.macroF1)} |\n| cascade at τ = ${cert.tau} | ${pct(result.evaluation.cascade?.accuracy)} | ${pct(result.evaluation.cascade?.macroF1)} |\n`
    : "";
  return `# Student model distilled by tandem

A ${result.student.kind === "head" ? `classifier head on the embeddings of ${result.student.backbone}` : `${result.student.backbone} fine-tuned end to end on the PyTorch engine`} that learned from the answers of an LLM (${context.teacher}), not from human labels. Labels: ${context.labels.join(", ")}. Weights: ${result.student.quantization}.

## Data

- Texts: ${context.input}.
- Teacher answers: ${result.student.trainingLabels} for training, ${result.student.calibrationLabels} for calibration (a uniform random sample drawn before any training; never trained on).
- Teacher cost of the labels: ${usd(result.costs.labelsUsd)} (${usd(result.costs.paidThisRunUsd)} paid in the last run, ${usd(result.costs.loggedUsd)} from logs).

## Rounds

| round | asked | answered | training labels | calibration labels | student agreement (final calibration set) | paid |
|---|---:|---:|---:|---:|---:|---:|
${rounds}

## Certificate

${cert.summary}.

Learn then Test with fixed-sequence exact binomial tests (Clopper–Pearson), target agreement with the teacher ${pct(context.target)} at ${pct(context.confidence, 0)} confidence, on ${cert.calibrationRows} calibration labels (sha256 ${cert.calibrationHash.slice(7, 19)}…), over a grid of ${result.student.gridSize} τ values (${result.student.grid === "quantiles" ? "quantiles of the student's scores on texts outside calibration" : "steps of 0.01"}).

- **The teacher's share at the certificate**: ${pct(result.teacherShare, 1)} of the input texts (τ = ${cert.tau}); the student answers the other ${pct(1 - result.teacherShare, 1)}.
- The student alone agrees with the teacher on ${pct(result.student.studentAgreement, 1)} of the calibration labels.
- Per 1,000 texts at the teacher's price: ${usd(result.costs.teacherPer1000)} with the teacher alone, ${usd(result.costs.cascadePer1000)} through the cascade, **${usd(result.costs.savedPer1000)} saved**${result.costs.priceBasis ? ` (${result.costs.priceBasis})` : ""}.
${evaluation}
## Use

\`tandem serve --config ${"../cascade.yaml"}\` (from this folder's parent), or \`tandem classify --model <this folder>\`.
`;
}

/** report.html: one self-contained page. */
export function renderDistillReport(result: DistillResult, context: ReportContext & { suspects: Array<{ text: string; student: string; confidence: number; teacher: string }> }): string {
  const cert = result.certification.certificate;
  const schema = "https://vega.github.io/schema/vega-lite/v6.json";
  const roundRows = result.rounds.filter((r) => r.finalAgreement !== null && r.finalAgreement !== undefined);
  const specs: Record<string, unknown> = {
    "learning-curve": {
      $schema: schema, title: "Student agreement with the teacher (final calibration sample) by training labels", width: 520, height: 240,
      data: { values: roundRows.map((r) => ({ labels: r.trainingLabels, agreement: (r.finalAgreement ?? 0) * 100, round: String(r.round) })) },
      mark: { type: "line", point: true },
      encoding: { x: { field: "labels", type: "quantitative", title: "training labels" }, y: { field: "agreement", type: "quantitative", title: "agreement (%)", scale: { zero: false } }, tooltip: [{ field: "round" }, { field: "labels" }, { field: "agreement", format: ".2f" }] },
    },
    "certificate-curve": {
      $schema: schema, title: "Calibration: agreement of the cascade and its lower confidence bound by τ", width: 520, height: 240,
      data: { values: result.certification.points.filter((p) => p.test.trials > 0).flatMap((p) => [{ tau: p.tau, value: p.test.estimate * 100, series: "agreement (calibration)" }, { tau: p.tau, value: p.test.lowerBound * 100, series: "lower bound" }, { tau: p.tau, value: p.calibration.llmShare * 100, series: "teacher share" }]) },
      layer: [
        { mark: { type: "line" }, encoding: { x: { field: "tau", type: "quantitative", title: "τ" }, y: { field: "value", type: "quantitative", title: "%" }, color: { field: "series", type: "nominal", title: null } } },
        { data: { values: [{ tau: cert.tau }] }, mark: { type: "rule", color: "#1a7f37", strokeWidth: 2 }, encoding: { x: { field: "tau", type: "quantitative" } } },
        { data: { values: [{ target: cert.target.level * 100 }] }, mark: { type: "rule", strokeDash: [4, 3], color: "#333" }, encoding: { y: { field: "target", type: "quantitative" } } },
      ],
    },
  };
  if (result.costs.teacherPer1000 !== null) {
    specs["cost"] = {
      $schema: schema, title: "Cost per 1,000 texts", width: 320, height: 160,
      data: { values: [{ what: "teacher alone", usd: result.costs.teacherPer1000 }, { what: `cascade at τ = ${cert.tau}`, usd: result.costs.cascadePer1000 }, { what: "saved", usd: result.costs.savedPer1000 }] },
      mark: "bar", encoding: { y: { field: "what", type: "nominal", title: null, sort: null }, x: { field: "usd", type: "quantitative", title: "US$ per 1,000 texts" } },
    };
  }
  const rounds = result.rounds
    .map((r) => `<tr><td>${r.round === 0 ? "0 (logged)" : r.round}</td><td>${r.asked}</td><td>${r.answered}</td><td>${r.unparseable}</td><td>${r.failed}</td><td>${r.trainingLabels}</td><td>${r.calibrationLabels}</td><td>${pct(r.agreement)}</td><td>${pct(r.finalAgreement)}</td><td>${usd(r.paidUsd)}</td><td>${usd(r.cachedUsd)}</td><td>${r.seconds.toFixed(1)}</td></tr>`)
    .join("\n");
  const perLabel = result.perLabel.map((l) => `<tr><td>${escapeHtml(l.label)}</td><td>${l.rows}</td><td>${pct(l.studentAgreement)}</td><td>${pct(l.agreement)}</td></tr>`).join("\n");
  const suspects = context.suspects.map((s) => `<tr><td class="text">${escapeHtml(s.text)}</td><td>${escapeHtml(s.student)}</td><td>${s.confidence.toFixed(4)}</td><td>${escapeHtml(s.teacher || "(no label)")}</td></tr>`).join("\n");
  const e = result.evaluation;
  const test = (t: { difference: number; ci: [number, number]; pBootstrap: number; pMcnemar: number } | null) => (t ? `${t.difference >= 0 ? "+" : ""}${(t.difference * 100).toFixed(2)} [${(t.ci[0] * 100).toFixed(2)}, ${(t.ci[1] * 100).toFixed(2)}], bootstrap p ${t.pBootstrap.toPrecision(3)}, McNemar p ${t.pMcnemar.toPrecision(3)}` : "—");
  const evaluation = e
    ? `<section><h2>Against gold labels (${e.rows} rows of ${escapeHtml(e.file)})</h2>
<table id="evaluation"><thead><tr><th></th><th>accuracy</th><th>macro F1</th><th>Δ macro F1 vs teacher (points, 95% CI)</th></tr></thead><tbody>
<tr><td>teacher</td><td>${pct(e.teacher?.accuracy)}</td><td>${pct(e.teacher?.macroF1)}</td><td></td></tr>
<tr><td>student</td><td>${pct(e.student.accuracy)}</td><td>${pct(e.student.macroF1)}</td><td>${test(e.studentVsTeacher)}</td></tr>
<tr><td>cascade at τ = ${cert.tau} (teacher answers ${pct(e.cascadeTeacherShare, 1)})</td><td>${pct(e.cascade?.accuracy)}</td><td>${pct(e.cascade?.macroF1)}</td><td>${test(e.cascadeVsTeacher)}</td></tr>
</tbody></table></section>`
    : "";
  const charts = Object.keys(specs).map((id) => `<section><div id="${id}" class="chart"></div></section>`).join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tandem distill — ${escapeHtml(result.out)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:1100px}table{border-collapse:collapse;font-size:14px}td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:right}td:first-child,th:first-child,td.text{text-align:left}td.text{max-width:560px}section{margin:2rem 0}.note{color:#555;font-size:13px}.certificate{padding:0.8rem 1rem;background:#eef6ee;border-left:4px solid #1a7f37}</style>
${chartLibraries()}
</head><body>
<h1>Distilled: a ${escapeHtml(result.student.kind)} student of ${escapeHtml(context.teacher)}</h1>
<p class="note">${escapeHtml(context.input)} · labels ${escapeHtml(context.labels.join(", "))} · backbone ${escapeHtml(result.student.backbone)} · ${escapeHtml(result.student.quantization)} · ${result.seconds.toFixed(0)} s · run ${escapeHtml(result.runId)} (tandem view)</p>
<p class="certificate" id="certificate">${cert.certified ? "Certified" : "Not certified"}: ${escapeHtml(cert.summary)}. At τ = ${cert.tau} the teacher answers <strong>${pct(result.teacherShare, 1)}</strong> of the input texts: ${usd(result.costs.cascadePer1000)} per 1,000 texts instead of ${usd(result.costs.teacherPer1000)} (saved ${usd(result.costs.savedPer1000)}).</p>
<p class="note">Labels cost ${usd(result.costs.labelsUsd)} (${usd(result.costs.paidThisRunUsd)} paid in this run; ${usd(result.costs.loggedUsd)} from logs)${result.stopped ? `; stopped early (${result.stopped})` : ""}${result.failed ? `; ${result.failed} teacher calls failed` : ""}.</p>
<section><h2>Rounds</h2>
<table id="rounds"><thead><tr><th>round</th><th>asked</th><th>answered</th><th>unparseable</th><th>failed</th><th>training labels</th><th>calibration labels</th><th>agreement (calibration so far)</th><th>agreement (final calibration)</th><th>paid</th><th>from cache</th><th>seconds</th></tr></thead>
<tbody>${rounds}</tbody></table></section>
${charts}
<section><h2>Per label (calibration, by the teacher's label)</h2>
<table id="per-label"><thead><tr><th>teacher label</th><th>rows</th><th>student agrees</th><th>cascade agrees at τ = ${cert.tau}</th></tr></thead><tbody>${perLabel}</tbody></table></section>
${evaluation}
<section><h2>Suspects (${result.suspects}; the 50 most confident)</h2>
<p class="note">The student is confident (≥ τ) but the teacher answered otherwise: often a teacher or label error, worth a look. All of them: ${escapeHtml(result.suspectsFile)}.</p>
<table id="suspects"><thead><tr><th>text</th><th>student</th><th>confidence</th><th>teacher</th></tr></thead><tbody>${suspects}</tbody></table></section>
${embedScript(specs)}
</body></html>
`;
}
