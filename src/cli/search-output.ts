/** What `train head --search` and `train full --search` print and keep: trial lines, the run store, the HTML report, the table. */
import { join } from "node:path";
import type { Command } from "commander";
import { writeFileAtomic } from "../core/files.js";
import { renderSearchHtml } from "../experiments/report.js";
import { RunStore, type HeadSearchRecord } from "../experiments/store.js";
import { formatFixed } from "../metrics/format.js";
import type { TrialRecord } from "../training/head-search.js";
import { parseFormat, parseInteger, printJson } from "./options.js";

/** The search options both training commands take; `what` names a trial's unit and trial 1. */
export function withSearchOptions(command: Command, what: { trial: string; space: string }): Command {
  return command
    .option("--search <trials>", `hyper-parameter search: this many ${what.trial} over ${what.space}; the best trial is written; every trial is stored in the run store`, parseInteger("--search", 2))
    .option("--sampler <name>", "with --search: tpe (a tree-structured Parzen estimator after 5 random trials) or random", parseFormat(["tpe", "random"] as const), "tpe")
    .option("--no-pruning", "with --search: run every trial to the end (default: stop a trial whose validation macro F1 after an epoch falls below the median of the finished trials at that epoch)")
    .option("--db <file>", "with --search: state database holding the run store (default .tandem/tandem.db)")
    .option("--report <file>", "with --search: the search's HTML report (trial table, F1 curves); default OUT/search.html");
}

export function describeTrial(t: TrialRecord, best: TrialRecord, total: number): string {
  return `trial ${t.trial}/${total}: lr ${t.params.lr.toExponential(2)}, ${t.params.layers} × ${t.params.hiddenDim} ${t.params.activation}, dropout ${t.params.dropout.toFixed(2)} → ${formatFixed(t.best * 100, 2)}% (${t.status}, ${t.scores.length} epochs, ${t.seconds.toFixed(1)} s); best so far #${best.trial} ${formatFixed(best.best * 100, 2)}%`;
}

export type FinishedSearch = Omit<HeadSearchRecord, "id" | "createdAt" | "bestTrial" | "bestScore" | "baselineScore"> & { kind: "head" | "full"; baseline: TrialRecord; best: TrialRecord };

/** Stores the search, writes its report (default OUT/search.html) and prints the verdict and the table (or JSON). */
export function reportSearch(search: FinishedSearch, options: { db?: string; report?: string; format: "text" | "json" }): HeadSearchRecord {
  const record = new RunStore(options.db).saveHeadSearch({
    kind: search.kind, encoder: search.encoder, train: search.train, val: search.val, sampler: search.sampler, out: search.out,
    trials: search.trials, bestTrial: search.best.trial, bestScore: search.best.best, baselineScore: search.baseline.best,
  });
  const report = options.report ?? join(search.out, "search.html");
  writeFileAtomic(report, renderSearchHtml(record));
  const given = search.kind === "full" ? "the given settings" : "the given head";
  const beat = search.best.trial !== 1 && search.best.best > search.baseline.best;
  const verdict = beat
    ? `the search beat ${given}: trial #${search.best.trial} ${formatFixed(search.best.best * 100, 2)}% against ${formatFixed(search.baseline.best * 100, 2)}% (+${formatFixed((search.best.best - search.baseline.best) * 100, 2)} points)`
    : `the search could not beat ${given} (${formatFixed(search.baseline.best * 100, 2)}%) in ${search.trials.length} trials; its model is written`;
  if (options.format === "json") {
    printJson({ search: record.id, out: search.out, report, beat_baseline: beat, best_trial: search.best.trial, best: search.best.best, baseline: search.baseline.best, trials: search.trials });
    return record;
  }
  const lines = search.trials.map((t) => `${String(t.trial).padStart(5)}  ${t.params.lr.toExponential(2).padStart(8)}  ${String(t.params.layers).padStart(6)}  ${String(t.params.hiddenDim).padStart(5)}  ${t.params.dropout.toFixed(2).padStart(7)}  ${t.params.activation.padEnd(10)}  ${String(t.scores.length).padStart(6)}  ${t.status.padEnd(8)}  ${formatFixed(t.best * 100, 2).padStart(9)}${t.trial === search.best.trial ? "  ◆" : ""}`);
  process.stdout.write(`trial        lr  layers  width  dropout  activation  epochs  status    val F1 %\n${lines.join("\n")}\n\n${verdict}\nmodel folder → ${search.out} (trial #${search.best.trial}); search ${record.id} stored; report → ${report}\n`);
  return record;
}
