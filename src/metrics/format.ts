/** Human-readable renderings of reports: scikit-learn's text layout and Markdown tables. Pure. */
import type { ClassScores, ClassificationReport } from "./report.js";
import type { Evaluation, EvaluationReport } from "./evaluate.js";

/**
 * Python's `format(x, ".Nf")`: exact decimal rounding of the double with ties to even. JavaScript's
 * toFixed breaks exact ties upwards (0.125 → "0.13" where Python prints "0.12").
 */
export function formatFixed(value: number, digits: number): string {
  if (!Number.isFinite(value)) return Number.isNaN(value) ? "nan" : value > 0 ? "inf" : "-inf";
  const text = value.toFixed(digits);
  const longer = Math.abs(value).toFixed(Math.min(100, digits + 25));
  const tail = longer.slice(longer.indexOf(".") + 1 + digits);
  if (/^50*$/.test(tail)) {
    const truncated = Math.abs(value).toFixed(digits + 25).slice(0, longer.indexOf(".") + 1 + digits).replace(/\.$/, "");
    const lastDigit = Number(truncated.replace(".", "").slice(-1));
    if (lastDigit % 2 === 0) return (value < 0 ? "-" : "") + truncated;
  }
  return text;
}

const isScores = (value: unknown): value is ClassScores =>
  typeof value === "object" && value !== null && "precision" in value && "support" in value;

/** The string scikit-learn's classification_report prints (digits=2 by default). */
export function formatClassificationReport(report: ClassificationReport, digits = 2): string {
  const classNames = Object.keys(report).filter(
    (key) => !["accuracy", "micro avg", "macro avg", "weighted avg"].includes(key) && isScores(report[key]),
  );
  const width = Math.max(...classNames.map((name) => name.length), "weighted avg".length, digits);
  const pad = (text: string, size: number) => text.padStart(size);
  const headers = ["precision", "recall", "f1-score", "support"];
  let out = pad("", width) + " " + headers.map((h) => " " + pad(h, 9)).join("") + "\n\n";
  const row = (name: string, scores: ClassScores) =>
    pad(name, width) +
    " " +
    [scores.precision, scores.recall, scores["f1-score"]].map((v) => " " + pad(formatFixed(v, digits), 9)).join("") +
    " " +
    pad(String(Math.round(scores.support)), 9) +
    "\n";
  for (const name of classNames) out += row(name, report[name] as ClassScores);
  out += "\n";
  if (typeof report.accuracy === "number") {
    const total = (report["macro avg"] as ClassScores).support;
    out += pad("accuracy", width) + " " + " " + pad("", 9) + " " + pad("", 9) + " " + pad(formatFixed(report.accuracy, digits), 9) + " " + pad(String(total), 9) + "\n";
  } else if (isScores(report["micro avg"])) {
    out += row("micro avg", report["micro avg"]);
  }
  out += row("macro avg", report["macro avg"] as ClassScores);
  out += row("weighted avg", report["weighted avg"] as ClassScores);
  return out;
}

export function formatConfusionMatrix(labels: readonly string[], matrix: number[][]): string {
  const head = "gold \\ predicted";
  const width = Math.max(head.length, ...labels.map((label) => label.length));
  const cellWidth = Math.max(...labels.map((label) => label.length), ...matrix.flat().map((v) => String(v).length)) + 2;
  let out = head.padEnd(width) + labels.map((label) => label.padStart(cellWidth)).join("") + "\n";
  matrix.forEach((row, i) => {
    out += (labels[i] as string).padEnd(width) + row.map((v) => String(v).padStart(cellWidth)).join("") + "\n";
  });
  return out;
}

function classLabelsOf(report: EvaluationReport): string[] {
  return Object.keys(report).filter((key) => isScores(report[key]) && !key.endsWith(" avg"));
}

function formatExtras(report: EvaluationReport, digits: number): string {
  let out = "";
  if (report.roc_auc !== undefined) {
    out += `ROC AUC${report.roc_auc_per_class ? " (one-vs-rest, macro)" : ""}: ${report.roc_auc === null ? "undefined (one class only)" : formatFixed(report.roc_auc, 4)}${report.roc_auc_rows !== undefined ? ` (over the ${report.roc_auc_rows} rows with probabilities)` : ""}\n`;
    if (report.roc_auc_per_class) {
      out += Object.entries(report.roc_auc_per_class)
        .map(([label, auc]) => `  ${label}: ${auc === null ? "undefined" : formatFixed(auc, 4)}`)
        .join("\n") + "\n";
    }
  }
  for (const fbeta of report.fbeta ?? []) {
    const perClass = Object.entries(fbeta.per_class).map(([label, v]) => `${label} ${formatFixed(v, digits + 2)}`).join(", ");
    out += `F-beta (beta=${fbeta.beta}): macro ${formatFixed(fbeta["macro avg"], digits + 2)}, weighted ${formatFixed(fbeta["weighted avg"], digits + 2)}; ${perClass}\n`;
  }
  if (report.binary) {
    const b = report.binary;
    out += `Binary (positive "${b.positive_label}"${b.threshold !== null ? `, threshold ${b.threshold}` : ""}): precision ${formatFixed(b.precision, 4)}, recall ${formatFixed(b.recall, 4)}, F1 ${formatFixed(b["f1-score"], 4)}, specificity ${formatFixed(b.specificity, 4)}, accuracy ${formatFixed(b.accuracy, 4)} (tp ${b.tp}, fp ${b.fp}, fn ${b.fn}, tn ${b.tn})\n`;
  }
  if (report.ordinal) {
    const o = report.ordinal;
    out += `Ordinal: exact ${formatFixed(o.exact_accuracy, 4)}, off-by-one ${formatFixed(o.off_by_one_accuracy, 4)}, MAE ${formatFixed(o.mae, 4)}, RMSE ${formatFixed(o.rmse, 4)}\n`;
    if (o.collapsed) out += `Collapsed at <=${o.cutoff} vs >${o.cutoff}:\n` + formatClassificationReport(o.collapsed, digits);
  }
  return out;
}

function formatOne(title: string, report: EvaluationReport, digits: number): string {
  let out = `== ${title} ==\n` + formatClassificationReport(report, digits);
  if (report.confusion_matrix) out += "\n" + formatConfusionMatrix(classLabelsOf(report), report.confusion_matrix);
  const extras = formatExtras(report, digits);
  if (extras) out += "\n" + extras;
  return out;
}

export function formatEvaluationText(evaluation: Evaluation, digits = 2): string {
  let out = formatOne(`all rows (${evaluation.rows})`, evaluation.overall, digits);
  for (const [key, report] of Object.entries(evaluation.by ?? {})) {
    const support = (report["macro avg"] as ClassScores).support;
    out += "\n" + formatOne(`${key} (${support})`, report, digits);
  }
  return out;
}

const pct = (value: number, digits: number) => formatFixed(value * 100, digits);

/** Markdown: one summary table (macro F1, accuracy per slice) and one per-class table per slice. */
export function formatEvaluationMarkdown(evaluation: Evaluation, digits = 2): string {
  const sections: Array<[string, EvaluationReport]> = [["all", evaluation.overall], ...Object.entries(evaluation.by ?? {})];
  const hasAuc = evaluation.overall.roc_auc !== undefined;
  let out = `| slice | rows | macro F1 (%) | accuracy (%) | weighted F1 (%)${hasAuc ? " | ROC AUC" : ""} |\n|---|---:|---:|---:|---:|${hasAuc ? "---:|" : ""}\n`;
  for (const [name, report] of sections) {
    const macro = report["macro avg"] as ClassScores;
    const weighted = report["weighted avg"] as ClassScores;
    const accuracy = typeof report.accuracy === "number" ? pct(report.accuracy, digits) : "–";
    const auc = hasAuc ? ` | ${report.roc_auc === null || report.roc_auc === undefined ? "–" : formatFixed(report.roc_auc, 4)}` : "";
    out += `| ${name} | ${macro.support} | ${pct(macro["f1-score"], digits)} | ${accuracy} | ${pct(weighted["f1-score"], digits)}${auc} |\n`;
  }
  for (const [name, report] of sections) {
    out += `\n**${name}**\n\n| class | precision | recall | F1 | support |\n|---|---:|---:|---:|---:|\n`;
    for (const label of classLabelsOf(report)) {
      const s = report[label] as ClassScores;
      out += `| ${label} | ${formatFixed(s.precision, digits + 2)} | ${formatFixed(s.recall, digits + 2)} | ${formatFixed(s["f1-score"], digits + 2)} | ${s.support} |\n`;
    }
  }
  return out;
}
