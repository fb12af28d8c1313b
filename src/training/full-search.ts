/**
 * `tandem train full --search N`: hyper-parameter search over full fine-tuning runs. Trial 1 trains
 * the settings given (the baseline); the others sample the encoder's learning rate and the head's
 * width, depth, dropout and activation with head-search's sampler (random, then TPE), and a trial whose
 * validation macro F1 after an epoch falls below the median of the finished trials at that epoch is
 * stopped there (its engine process is ended). Each trial trains into its own folder beside OUT; the
 * best one becomes OUT and the others are deleted as soon as they are beaten, so disk use stays at
 * about two model folders.
 */
import { existsSync, readFileSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { UserError } from "../core/errors.js";
import { Random } from "../core/random.js";
import { parseActivation } from "../encoders/head.js";
import { DEFAULT_SEARCH_SPACE, pruneReason, suggestTrial, type SearchSpace, type TrialParams, type TrialRecord } from "./head-search.js";
import { trainFull, type FullTrainingOptions } from "./full.js";

/** The head's space; the encoder learns at a tenth of a head's rates. */
export const FULL_SEARCH_SPACE: SearchSpace = { ...DEFAULT_SEARCH_SPACE, lr: [1e-5, 3e-4] };

export interface FullSearchOptions extends FullTrainingOptions {
  trials: number;
  space?: SearchSpace;
  sampler?: "tpe" | "random";
  /** Median pruning (default on); a trial is judged from its first epoch on. */
  pruning?: boolean;
  onTrial?: (trial: TrialRecord, best: TrialRecord) => void;
}

export interface FullSearchResult {
  out: string;
  trials: TrialRecord[];
  baseline: TrialRecord;
  best: TrialRecord;
}

/** The head the engine would build from the options and the starting model's config (its defaults resolved). */
function baselineParams(options: FullTrainingOptions): TrialParams {
  const head = (options.engine.head ?? {}) as Record<string, unknown>;
  const modelConfig = options.model ? (JSON.parse(readFileSync(join(options.model, "config.json"), "utf8")) as Record<string, unknown>) : (options.init ?? {});
  const pick = (key: string, fallback: unknown) => head[key] ?? modelConfig[key] ?? fallback;
  return {
    lr: Number(options.engine.lr ?? 5e-5),
    hiddenDim: Number(pick("hidden_dim", modelConfig.hidden_size ?? modelConfig.dim)),
    layers: Number(pick("num_layers", 1)),
    dropout: Number(pick("dropout_rate", 0)),
    activation: parseActivation(String(pick("hidden_activation", "relu"))),
  };
}

export async function searchFullModel(options: FullSearchOptions): Promise<FullSearchResult> {
  if (!options.val) throw new UserError("a search needs validation data to compare trials (--val, or a --val-fraction of --train)");
  if (options.processes > 1) throw new UserError("--search runs one process per trial: drop --nproc");
  if (options.engine.resume) throw new UserError("--search starts every trial afresh: drop --resume");
  const out = resolve(options.out);
  const trialsDir = join(dirname(out), `.${basename(out)}.search`);
  rmSync(trialsDir, { recursive: true, force: true });
  const space = options.space ?? FULL_SEARCH_SPACE;
  const seed = Number(options.engine.seed ?? 42);
  const random = new Random(seed);
  const baseline = baselineParams(options);
  const trials: TrialRecord[] = [];
  let best: { record: TrialRecord; dir: string } | undefined;
  try {
    for (let n = 1; n <= options.trials; n++) {
      const params = n === 1 ? baseline : suggestTrial(space, trials, random, options.sampler === "random" ? { startup: Number.POSITIVE_INFINITY } : {});
      const dir = join(trialsDir, `trial-${n}`);
      const scores: number[] = [];
      const controller = new AbortController();
      let pruned: string | undefined;
      const started = performance.now();
      const head = { ...((options.engine.head ?? {}) as Record<string, unknown>), hidden_dim: params.hiddenDim, num_layers: params.layers, dropout_rate: params.dropout, hidden_activation: params.activation };
      try {
        await trainFull({
          ...options,
          out: dir,
          engine: { ...options.engine, lr: params.lr, head, seed: seed + n - 1 },
          signal: controller.signal,
          onEvent: (event) => {
            options.onEvent?.(event);
            if (event.event !== "eval" || event.macro_f1 === undefined) return;
            scores.push(Number(event.macro_f1));
            if (options.pruning === false || n === 1) return;
            pruned = pruneReason(scores, trials, { minEpoch: 1 });
            if (pruned) controller.abort();
          },
        });
      } catch (error) {
        if (!controller.signal.aborted) throw error;
      }
      const record: TrialRecord = { trial: n, params, scores, best: scores.length ? Math.max(...scores) : 0, status: pruned ? "pruned" : "complete", seconds: (performance.now() - started) / 1000 };
      trials.push(record);
      if (!pruned && (!best || record.best > best.record.best)) {
        if (best) rmSync(best.dir, { recursive: true, force: true });
        best = { record, dir };
      } else {
        rmSync(dir, { recursive: true, force: true });
      }
      options.onTrial?.(record, best?.record ?? record);
    }
    if (!best || !existsSync(join(best.dir, "config.json"))) throw new UserError("no trial finished: nothing to write");
    rmSync(out, { recursive: true, force: true });
    renameSync(best.dir, out);
  } finally {
    rmSync(trialsDir, { recursive: true, force: true });
  }
  return { out, trials, baseline: trials[0]!, best: best.record };
}
