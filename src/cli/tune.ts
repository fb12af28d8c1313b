/** `tandem tune cascade`: macro F1, accuracy and LLM share for every τ from stored predictions; the τ to use. */
import type { Command } from "commander";
import { UserError } from "../core/errors.js";
import { parseProbabilityCell } from "../data/predictions.js";
import { cellText, readTable, type Table } from "../data/readers.js";
import { formatFixed } from "../metrics/format.js";
import { cascadeCurve, chooseTau, DEFAULT_TAUS } from "../strategies/cascade.js";
import { parseFormat, parseNumber, parseNumberList, printJson, snakeCaseKeys } from "./options.js";

interface TuneOptions {
  encoder: string;
  encoderPred: string;
  encoderProbs: string;
  llm: string;
  llmPred: string;
  gold: string;
  taus?: number[];
  targetF1?: number;
  maxLlmShare?: number;
  budget?: number;
  llmCost: string;
  format: "text" | "json";
}

function column(table: Table, name: string, role: string): string[] {
  if (!table.columns.includes(name)) throw new UserError(`no column "${name}" (${role}); the file has: ${table.columns.join(", ")}`, { file: table.file });
  return table.records.map((r) => cellText(r.values[name]).trim());
}

export function registerTune(program: Command): void {
  const tune = program.command("tune").description("Tune combinations of encoder and LLM.");
  tune
    .command("cascade")
    .description("What-if for a cascade (the encoder answers when its top probability ≥ τ, the LLM answers the rest) from stored predictions of both, row by row: no calls are made.")
    .requiredOption("--encoder <file>", "encoder predictions with probabilities (from tandem classify --strategy encoder)")
    .option("--encoder-pred <column>", "encoder prediction column", "prediction")
    .option("--encoder-probs <column>", "encoder probability column (vector, or the top probability)", "probabilities")
    .requiredOption("--llm <file>", "LLM predictions for the same rows in the same order")
    .option("--llm-pred <column>", "LLM prediction column", "prediction")
    .option("--gold <column>", "gold label column (in the encoder file; the LLM file must agree when it has it)", "label")
    .option("--taus <list>", "thresholds to try (default 0, 0.05, …, 1)", parseNumberList("--taus"))
    .option("--target-f1 <f>", "choose the lowest LLM share reaching this macro F1 (a fraction, e.g. 0.8)", parseNumber("--target-f1", 0, 1))
    .option("--max-llm-share <s>", "choose the best macro F1 sending at most this share of items to the LLM", parseNumber("--max-llm-share", 0, 1))
    .option("--budget <dollars>", "choose the best macro F1 whose LLM answers cost at most this (needs --llm-cost)", parseNumber("--budget", 0))
    .option("--llm-cost <column>", "per-row cost column of the LLM file (tandem classify writes costUsd)", "costUsd")
    .option("-f, --format <format>", "text or json", parseFormat(["text", "json"] as const), "text")
    .addHelpText("after", `
JSON: {"points": [{"tau", "macroF1", "accuracy", "llmShare", "llmCalls"}, ...], "best": {...}, "rule": "..."}
(macroF1, accuracy and llmShare as fractions).`)
    .action(async (options: TuneOptions) => {
      const encoder = await readTable(options.encoder);
      const llm = await readTable(options.llm);
      if (encoder.records.length !== llm.records.length) {
        throw new UserError(`${options.encoder} has ${encoder.records.length} rows but ${options.llm} has ${llm.records.length}; the cascade needs the same rows in the same order`);
      }
      if (encoder.records.length === 0) throw new UserError("the file has a header but no rows", { file: options.encoder });
      const gold = column(encoder, options.gold, "--gold");
      if (llm.columns.includes(options.gold)) {
        const llmGold = column(llm, options.gold, "--gold");
        const bad = gold.findIndex((g, i) => g !== llmGold[i]);
        if (bad >= 0) throw new UserError(`gold labels differ from ${options.encoder} ("${gold[bad]}" vs "${llmGold[bad]}"): not the same rows in the same order`, { file: options.llm, line: llm.records[bad]!.line, column: options.gold });
      }
      const encoderPred = column(encoder, options.encoderPred, "--encoder-pred");
      const llmPred = column(llm, options.llmPred, "--llm-pred");
      if (!encoder.columns.includes(options.encoderProbs)) throw new UserError(`no column "${options.encoderProbs}" (--encoder-probs)`, { file: options.encoder });
      const confidence = encoder.records.map((record) => {
        const vector = parseProbabilityCell(record.values[options.encoderProbs]);
        if (!vector) throw new UserError("cannot read a probability (vector or number)", { file: options.encoder, line: record.line, column: options.encoderProbs });
        return Math.max(...vector);
      });
      const llmCost = llm.columns.includes(options.llmCost) ? llm.records.map((r) => Number(cellText(r.values[options.llmCost])) || 0) : undefined;
      if (options.budget !== undefined && !llmCost) throw new UserError(`--budget needs the LLM file's cost column "${options.llmCost}" (see --llm-cost)`, { file: options.llm });
      const points = cascadeCurve({ gold, encoderPred, encoderConfidence: confidence, llmPred, llmCost }, options.taus ?? DEFAULT_TAUS);
      const choice = chooseTau(points, { targetF1: options.targetF1, maxLlmShare: options.maxLlmShare, budgetUsd: options.budget });
      if (options.format === "json") {
        printJson(snakeCaseKeys({ points, best: choice.best, rule: choice.rule }));
        return;
      }
      let out = `    τ  macro F1 (%)  accuracy (%)  LLM share (%)  LLM calls${llmCost ? "  LLM cost" : ""}\n`;
      for (const p of points) {
        out += `${formatFixed(p.tau, 2).padStart(5)} ${formatFixed(p.macroF1 * 100, 2).padStart(13)} ${formatFixed(p.accuracy * 100, 2).padStart(13)} ${formatFixed(p.llmShare * 100, 1).padStart(14)} ${String(p.llmCalls).padStart(10)}${llmCost ? `  $${(p.llmCostUsd ?? 0).toFixed(6)}` : ""}${p === choice.best ? "  ← chosen" : ""}\n`;
      }
      out += `\nchosen τ = ${choice.best.tau} (${choice.rule}): macro F1 ${formatFixed(choice.best.macroF1 * 100, 2)}% with ${formatFixed(choice.best.llmShare * 100, 1)}% of items sent to the LLM\n`;
      process.stdout.write(out);
    });
}
