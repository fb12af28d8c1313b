/**
 * `tandem tune cascade`: a cascade's τ certified on calibration rows (Learn then Test, exact binomial
 * tests), every figure reported on rows the choice never saw; the curve, suspects and a strategy file.
 */
import type { Command } from "commander";
import { UserError } from "../core/errors.js";
import { writeFileAtomic } from "../core/files.js";
import { parseProbabilityCell } from "../data/predictions.js";
import { cellText, readTable, type Table } from "../data/readers.js";
import { TableWriter } from "../data/writers.js";
import { formatFixed } from "../metrics/format.js";
import { cascadeCurve, chooseTau, type CascadePoint } from "../strategies/cascade.js";
import {
  cascadeFigures,
  cascadeSuspects,
  certifyCascade,
  CERTIFY_METHOD,
  selectRows,
  splitForCalibration,
  type CascadeFigures,
  type CertifiedPoint,
  type CertifyResult,
  type CertifyRows,
  type CertifyScope,
} from "../strategies/certify.js";
import { auditComment, certifiedCascadeConfig, DEFAULT_AUDIT } from "../strategies/certified-config.js";
import { strategyFileText, type StrategyConfig, type StrategyConfigInput } from "../strategies/config.js";
import { loadStrategyFile } from "../strategies/factory.js";
import { shorthandConfig } from "../strategies/members.js";
import { parseFormat, parseInteger, parseNumber, parseNumberList, printJson, snakeCaseKeys } from "./options.js";

interface TuneOptions {
  encoder: string;
  encoderPred: string;
  encoderProbs: string;
  encoderCost: string;
  llm: string;
  llmPred: string;
  llmCost: string;
  gold: string;
  textCol?: string;
  targetAccuracy?: number;
  targetAgreement?: number;
  on: CertifyScope;
  confidence: number;
  calibrationShare: number;
  seed: number;
  reportOn?: string;
  reportLlm?: string;
  taus?: number[];
  suspects?: string;
  writeConfig?: string;
  auditShare: number;
  strategies?: string;
  encoderStrategy: string;
  llmStrategy?: string;
  targetF1?: number;
  maxLlmShare?: number;
  budget?: number;
  format: "text" | "json";
}

/** Rows of a pair of prediction files, with what the report and the suspects file need. */
interface PredictionRows {
  rows: CertifyRows;
  /** File line of each row (of the encoder file). */
  lines: number[];
  texts?: string[];
  file: string;
}

function column(table: Table, name: string, role: string): string[] {
  if (!table.columns.includes(name)) throw new UserError(`no column "${name}" (${role}); the file has: ${table.columns.join(", ")}`, { file: table.file });
  return table.records.map((r) => cellText(r.values[name]).trim());
}

function costColumn(table: Table, name: string): number[] | undefined {
  if (!table.columns.includes(name)) return undefined;
  return table.records.map((record) => {
    const text = cellText(record.values[name]).trim();
    const value = text === "" ? 0 : Number(text);
    if (!Number.isFinite(value) || value < 0) throw new UserError(`cost must be a non-negative number, not "${text}"`, { file: table.file, line: record.line, column: name });
    return value;
  });
}

async function readPredictionRows(encoderFile: string, llmFile: string, options: TuneOptions, gold: "required" | "optional" | "none"): Promise<PredictionRows> {
  const encoder = await readTable(encoderFile);
  const llm = llmFile === encoderFile ? encoder : await readTable(llmFile);
  if (encoder.records.length !== llm.records.length) {
    throw new UserError(`${encoderFile} has ${encoder.records.length} rows but ${llmFile} has ${llm.records.length}; the cascade needs the same rows in the same order`);
  }
  if (encoder.records.length === 0) throw new UserError("the file has a header but no rows", { file: encoderFile });
  let goldLabels: string[] | undefined;
  if (gold === "required" || (gold === "optional" && encoder.columns.includes(options.gold))) {
    goldLabels = column(encoder, options.gold, "--gold");
    const empty = goldLabels.findIndex((g) => g === "");
    if (empty >= 0) throw new UserError("empty gold label (every row needs one for figures against gold)", { file: encoderFile, line: encoder.records[empty]!.line, column: options.gold });
    if (llm !== encoder && llm.columns.includes(options.gold)) {
      const llmGold = column(llm, options.gold, "--gold");
      const bad = goldLabels.findIndex((g, i) => g !== llmGold[i]);
      if (bad >= 0) throw new UserError(`gold labels differ from ${encoderFile} ("${goldLabels[bad]}" vs "${llmGold[bad]}"): not the same rows in the same order`, { file: llmFile, line: llm.records[bad]!.line, column: options.gold });
    }
  }
  if (!encoder.columns.includes(options.encoderProbs)) throw new UserError(`no column "${options.encoderProbs}" (--encoder-probs)`, { file: encoderFile });
  const confidence = encoder.records.map((record) => {
    const vector = parseProbabilityCell(record.values[options.encoderProbs]);
    if (!vector) throw new UserError("cannot read a probability (vector or number)", { file: encoderFile, line: record.line, column: options.encoderProbs });
    return Math.max(...vector);
  });
  const textColumn = options.textCol ?? ["text", "sentence"].find((c) => encoder.columns.includes(c));
  if (options.textCol && !encoder.columns.includes(options.textCol)) throw new UserError(`no column "${options.textCol}" (--text-col)`, { file: encoderFile });
  return {
    rows: {
      encoderPred: column(encoder, options.encoderPred, "--encoder-pred"),
      encoderConfidence: confidence,
      llmPred: column(llm, options.llmPred, "--llm-pred"),
      gold: goldLabels,
      llmCost: costColumn(llm, options.llmCost),
      encoderCost: llm === encoder ? undefined : costColumn(encoder, options.encoderCost),
    },
    lines: encoder.records.map((r) => r.line),
    texts: textColumn ? encoder.records.map((r) => cellText(r.values[textColumn])) : undefined,
    file: encoderFile,
  };
}

const percent = (value: number | null, digits = 2) => (value === null || Number.isNaN(value) ? "—" : `${formatFixed(value * 100, digits)}%`);
const dollars = (value: number | null) => (value === null ? "—" : `$${value.toFixed(4)}`);

function figureLine(f: CascadeFigures): string {
  const parts = [];
  if (f.accuracy !== null) parts.push(`accuracy ${percent(f.accuracy)}`, `macro F1 ${percent(f.macroF1)}`);
  parts.push(`agreement with the LLM ${percent(f.agreement)}`, `LLM share ${percent(f.llmShare, 1)} (${f.llmCalls} of ${f.rows})`);
  if (f.costPerThousand !== null) parts.push(`cost per 1,000 ${dollars(f.costPerThousand)}`);
  return parts.join(", ");
}

function curveText(result: CertifyResult, hasHeldOut: boolean, metricName: string): string {
  const cert = result.certificate;
  const decisive = (p: CertifiedPoint) => p.tau === cert.tau || p.test.outcome === "failed";
  const shown = result.points.filter((p) => Math.abs(p.tau * 20 - Math.round(p.tau * 20)) < 1e-9 || decisive(p));
  const calibrationLabel = hasHeldOut ? "calibration" : "calibration (in-sample)";
  let out = `      │ ${calibrationLabel}: ${metricName}, exact test${hasHeldOut ? "".padEnd(Math.max(0, 38 - calibrationLabel.length - metricName.length)) + "│ held out" : ""}\n`;
  out += `    τ │  rows   estimate  lower bound   p-value  test        LLM share${hasHeldOut ? " │ accuracy  macro F1  agreement  LLM share" : ""}\n`;
  for (const p of shown) {
    const t = p.test;
    out += `${formatFixed(p.tau, 2).padStart(5)} │ ${String(t.trials).padStart(5)} ${percent(t.estimate).padStart(10)} ${percent(t.lowerBound).padStart(12)} ${(t.trials ? t.pValue.toExponential(2) : "—").padStart(9)}  ${t.outcome.padEnd(10)} ${percent(p.calibration.llmShare, 1).padStart(10)}`;
    if (p.heldOut) out += ` │ ${percent(p.heldOut.accuracy).padStart(8)} ${percent(p.heldOut.macroF1).padStart(9)} ${percent(p.heldOut.agreement).padStart(10)} ${percent(p.heldOut.llmShare, 1).padStart(10)}`;
    out += `${p.tau === cert.tau && cert.certified ? "  ← certified" : ""}\n`;
  }
  return out + `(every 0.05 and the decisive rows; -f json has all ${result.points.length})\n`;
}

/** The cascade's members for the written strategy file: shorthands, or named strategies of --strategies. */
function configStrategies(options: TuneOptions): { strategies: StrategyConfigInput[]; encoder: string | StrategyConfig; llm: string | StrategyConfig; name: string } {
  if (!options.llmStrategy) throw new UserError("--write-config needs --llm-strategy (provider:model, e.g. openai:gpt-4o-mini, or a strategy name in --strategies FILE)");
  if (options.strategies) {
    const file = loadStrategyFile(options.strategies);
    const names = file.strategies.map((s) => s.name!);
    for (const [flag, ref] of [["--encoder-strategy", options.encoderStrategy], ["--llm-strategy", options.llmStrategy]] as const) {
      if (!names.includes(ref)) throw new UserError(`${flag} "${ref}" is not a strategy of the file (${names.join(", ")})`, { file: options.strategies });
    }
    const name = names.includes("cascade") ? "certified-cascade" : "cascade";
    return { strategies: file.strategies, encoder: options.encoderStrategy, llm: options.llmStrategy, name };
  }
  const encoder = shorthandConfig(options.encoderStrategy);
  const llm = shorthandConfig(options.llmStrategy);
  if (encoder.type !== "encoder") throw new UserError(`--encoder-strategy "${options.encoderStrategy}" is not an encoder (a model folder, a hub id or starter)`);
  if (llm.type !== "llm") throw new UserError(`--llm-strategy "${options.llmStrategy}" is not an LLM (provider:model, e.g. openai:gpt-4o-mini)`);
  return { strategies: [], encoder, llm, name: "cascade" };
}

export function registerTune(program: Command): void {
  const tune = program.command("tune").description("Tune combinations of encoder and LLM.");
  tune
    .command("cascade")
    .description(
      "Certify a cascade's τ (the encoder answers when its top probability ≥ τ, the LLM answers the rest) from stored predictions of both, with a finite-sample guarantee, and report it on rows the choice never saw. No calls are made.",
    )
    .requiredOption("--encoder <file>", "encoder predictions with probabilities (from tandem classify --strategy encoder)")
    .option("--encoder-pred <column>", "encoder prediction column", "prediction")
    .option("--encoder-probs <column>", "encoder probability column (vector, or the top probability)", "probabilities")
    .option("--encoder-cost <column>", "per-row cost column of the encoder file, when it has one", "costUsd")
    .requiredOption("--llm <file>", "LLM predictions for the same rows in the same order (may be the encoder file, with other columns)")
    .option("--llm-pred <column>", "LLM prediction column", "prediction")
    .option("--llm-cost <column>", "per-row cost column of the LLM file (tandem classify writes costUsd)", "costUsd")
    .option("--gold <column>", "gold label column of the encoder file; used when present (needed for --target-accuracy)", "label")
    .option("--target-accuracy <a>", "certify accuracy against gold ≥ a (a fraction, e.g. 0.85)", parseNumber("--target-accuracy", 0, 1))
    .option("--target-agreement <a>", "certify agreement with the LLM alone ≥ a: needs no gold labels (default 0.95)", parseNumber("--target-agreement", 0, 1))
    .option("--on <scope>", "cascade: the metric of every answer; encoder: of the answers the encoder keeps", parseFormat(["cascade", "encoder"] as const), "cascade")
    .option("--confidence <c>", "the guarantee's confidence level 1 − δ", parseNumber("--confidence", 0, 1), 0.95)
    .option("--calibration-share <s>", "share of the rows the τ is certified on (seeded, stratified by gold, else by LLM label); the rest are held out for the report; 1 = all (no held-out figures)", parseNumber("--calibration-share", 0, 1), 0.5)
    .option("--seed <n>", "seed of the split", parseInteger("--seed"), 42)
    .option("--report-on <file>", "held-out rows in a separate file (encoder predictions, the columns of --encoder); every row of --encoder is then calibration")
    .option("--report-llm <file>", "LLM predictions of the --report-on rows (default: --report-on itself when --llm is --encoder, else required)")
    .option("--taus <list>", "the τ grid, tested from the highest down (default 1, 0.99, …, 0)", parseNumberList("--taus"))
    .option("--suspects <file>", "write the rows where the encoder is confident (≥ the certified τ) but disagrees with the LLM or gold, most confident first")
    .option("--text-col <column>", "text column copied into the suspects file (default: text or sentence when present)")
    .option("--write-config <file>", "write the certified cascade as a strategy file for tandem serve (τ and the certificate)")
    .option("--llm-strategy <ref>", "the written cascade's LLM: provider:model, or a strategy name of --strategies")
    .option("--audit-share <s>", "the written cascade's audit: this share of its answers, drawn uniformly, is checked against the LLM when served (0: no audit)", parseNumber("--audit-share", 0, 1), DEFAULT_AUDIT.share)
    .option("--encoder-strategy <ref>", "the written cascade's encoder: starter, a model folder, a hub id, or a strategy name of --strategies", "starter")
    .option("--strategies <file>", "a strategy file whose strategies the written file keeps (the cascade refers to them by name)")
    .option("--target-f1 <f>", "also: the lowest LLM share reaching this macro F1 on the calibration rows (no guarantee)", parseNumber("--target-f1", 0, 1))
    .option("--max-llm-share <s>", "also: the best macro F1 sending at most this share to the LLM on the calibration rows (no guarantee)", parseNumber("--max-llm-share", 0, 1))
    .option("--budget <dollars>", "also: the best macro F1 whose LLM cost, scaled from the calibration rows to the whole file, is at most this (no guarantee)", parseNumber("--budget", 0))
    .option("-f, --format <format>", "text or json", parseFormat(["text", "json"] as const), "text")
    .addHelpText(
      "after",
      `
The guarantee (${CERTIFY_METHOD}):
  With probability at least --confidence over the draw of the calibration rows, the metric at the
  certified τ is at least the target on new rows from the same distribution — a finite-sample statement,
  not an average. Each τ's null hypothesis "metric(τ) < target" is tested with the exact binomial test
  (P(X ≥ k) for X ~ Bin(n, target) ≤ 1 − confidence, i.e. the one-sided Clopper–Pearson lower bound ≥
  target); testing goes from τ = 1 down and stops at the first τ not rejected, which controls the
  family-wise error at 1 − confidence without splitting it over the grid (Angelopoulos et al., "Learn
  then Test", 2021; Clopper & Pearson, 1934). With --on encoder a trial is a row the encoder keeps (the
  test is exact given their number, as in Jung et al., "Trust or Escalate", ICLR 2025). When no τ passes,
  nothing is certified and τ = 1: the LLM answers everything. An all-correct sample needs at least
  ln(1 − confidence)/ln(target) rows (59 at 0.95/0.95). The order is part of the guarantee: if τ = 1 (the
  LLM alone) misses an accuracy target, nothing is certified even where the cascade beats the LLM; a
  --taus grid that starts lower must be chosen before looking at the calibration rows.

Figures: the curve shows the test on the calibration rows and every figure on the held-out rows
(--calibration-share, or --report-on). With --calibration-share 1 the figures are in-sample and say so.

JSON: {"rows", "split", "certified": {"certified", "tau", "lower_bound", "target", "metric", "on",
"confidence", "method", "calibration_rows", "calibration_hash", "held_out_rows", "calibration": {figures},
"held_out": {figures}, "summary"}, "points": [{"tau", "test": {"trials", "successes", "estimate",
"lower_bound", "p_value", "outcome"}, "calibration": {figures}, "held_out": {figures}}], "chosen"?,
"suspects"?}. Figures: rows, encoder_rows, llm_calls, llm_share, agreement, encoder_agreement, accuracy,
macro_f1, encoder_accuracy, cost_per_1000 (fractions; null where the rows lack what a figure needs).`,
    )
    .action(async (options: TuneOptions, command: Command) => {
      if (options.targetAccuracy !== undefined && options.targetAgreement !== undefined) throw new UserError("give one of --target-accuracy and --target-agreement");
      for (const [flag, value] of [["--target-accuracy", options.targetAccuracy], ["--target-agreement", options.targetAgreement], ["--confidence", options.confidence]] as const) {
        if (value !== undefined && !(value > 0 && value < 1)) throw new UserError(`${flag} must be strictly between 0 and 1`);
      }
      if (!(options.calibrationShare > 0)) throw new UserError("--calibration-share must be more than 0");
      const metric = options.targetAccuracy !== undefined ? "accuracy" : "agreement";
      const level = options.targetAccuracy ?? options.targetAgreement ?? 0.95;
      const goldGiven = command.getOptionValueSource("gold") === "cli";
      const needGold = metric === "accuracy" || options.targetF1 !== undefined || options.maxLlmShare !== undefined || options.budget !== undefined;
      const goldMode = needGold || goldGiven ? "required" : "optional";
      const main = await readPredictionRows(options.encoder, options.llm, options, goldMode);

      let calibration: PredictionRows;
      let heldOut: PredictionRows | undefined;
      let split: Record<string, unknown>;
      if (options.reportOn) {
        const reportLlm = options.reportLlm ?? (options.llm === options.encoder ? options.reportOn : undefined);
        if (!reportLlm) throw new UserError("--report-on needs --report-llm (the LLM predictions of those rows), unless --llm is the --encoder file");
        calibration = main;
        heldOut = await readPredictionRows(options.reportOn, reportLlm, options, main.rows.gold ? "required" : "none");
        split = { calibration: options.encoder, held_out: options.reportOn };
      } else {
        const parts = splitForCalibration(main.rows, options.calibrationShare, options.seed);
        const part = (indices: number[]): PredictionRows => ({ rows: selectRows(main.rows, indices), lines: indices.map((i) => main.lines[i]!), texts: main.texts ? indices.map((i) => main.texts![i]!) : undefined, file: main.file });
        calibration = part(parts.calibration);
        heldOut = parts.heldOut.length > 0 ? part(parts.heldOut) : undefined;
        split = { calibration_share: options.calibrationShare, seed: options.seed, stratified_by: parts.stratifiedBy };
      }
      const result = certifyCascade({ calibration: calibration.rows, heldOut: heldOut?.rows, target: { metric, level, on: options.on }, confidence: options.confidence, taus: options.taus });
      const cert = result.certificate;

      // The older rules choose on the calibration rows too (in-sample there), reported held out; no guarantee.
      let chosen: { rule: string; tau: number; calibration: CascadePoint; heldOut: CascadeFigures | null } | undefined;
      if (options.targetF1 !== undefined || options.maxLlmShare !== undefined || options.budget !== undefined) {
        const rows = calibration.rows;
        const scale = main.rows.encoderPred.length / rows.encoderPred.length;
        if (options.budget !== undefined && !rows.llmCost) throw new UserError(`--budget needs the LLM file's cost column "${options.llmCost}" (see --llm-cost)`, { file: options.llm });
        const curve = cascadeCurve({ gold: rows.gold!, encoderPred: rows.encoderPred, encoderConfidence: rows.encoderConfidence, llmPred: rows.llmPred, llmCost: rows.llmCost }, result.points.map((p) => p.tau));
        const choice = chooseTau(curve, { targetF1: options.targetF1, maxLlmShare: options.maxLlmShare, budgetUsd: options.budget === undefined ? undefined : options.budget / scale });
        chosen = { rule: choice.rule, tau: choice.best.tau, calibration: choice.best, heldOut: heldOut ? cascadeFigures(heldOut.rows, choice.best.tau) : null };
      }

      let suspectCount: number | undefined;
      if (options.suspects) {
        const parts: Array<[string, PredictionRows]> = [["calibration", calibration], ...(heldOut ? [["held out", heldOut] as [string, PredictionRows]] : [])];
        const columns = ["file", "line", "part", ...(main.texts ? ["text"] : []), "encoder", "confidence", "llm", ...(main.rows.gold ? ["gold"] : []), "disagrees_with"];
        const suspects = parts.flatMap(([name, rows]) => cascadeSuspects(rows.rows, cert.tau).map((s) => ({ ...s, part: name, rows })));
        suspects.sort((a, b) => b.confidence - a.confidence);
        const writer = new TableWriter(options.suspects, columns);
        for (const s of suspects) writer.write({ file: s.rows.file, line: s.rows.lines[s.row], part: s.part, text: s.rows.texts?.[s.row], encoder: s.encoder, confidence: s.confidence, llm: s.llm, gold: s.gold, disagrees_with: s.disagreesWith });
        writer.close();
        suspectCount = suspects.length;
      }

      if (options.writeConfig) {
        const members = configStrategies(options);
        const audit = options.auditShare > 0 ? { ...DEFAULT_AUDIT, share: options.auditShare } : false;
        const cascade = certifiedCascadeConfig(members.encoder, members.llm, cert, { name: members.name, createdAt: new Date().toISOString(), audit });
        const comment = [
          `written by tandem tune cascade from ${options.encoder} and ${options.llm}`,
          cert.summary,
          ...(cert.heldOut ? [`held out (${cert.heldOut.rows} rows): ${figureLine(cert.heldOut)}`] : []),
        ];
        const rows = calibration.rows;
        const llmCostPerText = rows.llmCost && rows.llmCost.length ? Array.from(rows.llmCost).reduce((a, b) => a + b, 0) / rows.llmCost.length : null;
        const notes = audit ? [{ strategy: members.strategies.length, key: "audit", lines: auditComment(cert, audit, llmCostPerText) }] : [];
        writeFileAtomic(options.writeConfig, strategyFileText([...members.strategies, cascade], members.name, comment, notes));
      }

      const metricName = `${metric}${options.on === "encoder" ? " of kept answers" : ""}`;
      if (options.format === "json") {
        const { target, ...rest } = cert;
        printJson(
          snakeCaseKeys({
            rows: { total: main.rows.encoderPred.length + (options.reportOn ? heldOut!.rows.encoderPred.length : 0), calibration: cert.calibrationRows, heldOut: cert.heldOutRows },
            split,
            certified: { ...rest, target: target.level, metric: target.metric, on: target.on },
            points: result.points,
            ...(chosen ? { chosen: { ...chosen, certified: false } } : {}),
            ...(suspectCount !== undefined ? { suspects: { file: options.suspects, rows: suspectCount } } : {}),
          }),
        );
      } else {
        let out = `Certified cascade: ${metricName} ≥ ${percent(level)} at ${percent(options.confidence, 0)} confidence\n`;
        out += options.reportOn
          ? `rows: ${cert.calibrationRows} calibration (${options.encoder}), ${cert.heldOutRows} held out (${options.reportOn})\n\n`
          : `rows: ${cert.calibrationRows + cert.heldOutRows} → ${cert.calibrationRows} calibration, ${cert.heldOutRows} held out (seed ${options.seed}, stratified by ${String(split.stratified_by === "gold" ? "gold" : "LLM label")})\n\n`;
        out += curveText(result, heldOut !== undefined, metricName);
        out += `\n${cert.certified ? "certified" : "not certified"}: ${cert.summary}\n`;
        out += `calibration${heldOut ? "" : " (in-sample)"}, ${cert.calibration.rows} rows, at τ = ${cert.tau}: ${figureLine(cert.calibration)}\n`;
        if (cert.heldOut) out += `held out, ${cert.heldOut.rows} rows, at τ = ${cert.tau}: ${figureLine(cert.heldOut)}\n`;
        else out += "no held-out rows (--calibration-share 1): the figures above are in-sample\n";
        if (chosen) out += `\nalso, chosen on the calibration rows without a guarantee (${chosen.rule}): τ = ${chosen.tau}, calibration macro F1 ${percent(chosen.calibration.macroF1)}${chosen.heldOut ? `; held out: ${figureLine(chosen.heldOut)}` : ""}\n`;
        if (suspectCount !== undefined) out += `\n${suspectCount} suspects (confident at τ = ${cert.tau} but disagreeing) → ${options.suspects}\n`;
        if (options.writeConfig) out += `cascade strategy file → ${options.writeConfig} (tandem serve --config ${options.writeConfig})\n`;
        process.stdout.write(out);
      }
    });
}
