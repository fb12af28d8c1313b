/**
 * Experiment files (YAML): one dataset, named strategies (the one strategy schema), a baseline,
 * replicates. Errors name the file, the line and the field; nothing runs until the whole file is sound.
 */
import { dirname, resolve } from "node:path";
import { z } from "zod";
import { parseConfigText, readConfigFile, type ConfigProblem } from "../core/config-file.js";
import { describeStrategyUnion, StrategyConfigSchema } from "../strategies/config.js";
import { resolveStrategyPaths } from "../strategies/registry.js";
import { checkStrategySet } from "../strategies/members.js";

export const ExperimentSchema = z.strictObject({
  name: z.string().min(1).default("experiment"),
  dataset: z.strictObject({
    file: z.string().min(1),
    text: z.string().optional(),
    label: z.string().optional(),
    /** Column whose values are reported as slices (e.g. source). */
    slices: z.string().optional(),
    scheme: z.string().default("neg_neu_pos"),
    /** The first N rows only. */
    limit: z.number().int().min(1).optional(),
  }),
  /** The strategy the others are tested against. */
  baseline: z.string().optional(),
  /** Runs of every sampling strategy (LLMs and what builds on them), with seeds seed, seed + 1, …; deterministic strategies run once. */
  replicates: z.number().int().min(1).max(100).default(1),
  seed: z.number().int().min(0).default(42),
  strategies: z.array(StrategyConfigSchema).min(1, "at least one strategy"),
});

export type ExperimentConfig = z.output<typeof ExperimentSchema> & { file: string };

/** Names, references, member kinds, cycles and the baseline: the checks beyond each field's own. */
function checkExperiment(config: z.output<typeof ExperimentSchema>): ConfigProblem[] {
  const problems: ConfigProblem[] = checkStrategySet(config.strategies).map((issue) => ({ path: ["strategies", ...issue.path], message: issue.message }));
  if (config.baseline !== undefined && !config.strategies.some((s) => s.name === config.baseline)) {
    problems.push({ path: ["baseline"], message: `baseline "${config.baseline}" is not one of the strategies` });
  }
  return problems;
}

export function parseExperiment(text: string, file: string): ExperimentConfig {
  const config = parseConfigText(text, file, ExperimentSchema, checkExperiment, describeStrategyUnion);
  const base = dirname(resolve(file));
  return { ...config, file, dataset: { ...config.dataset, file: resolve(base, config.dataset.file) }, strategies: config.strategies.map((s) => resolveStrategyPaths(s, base)) };
}

export function loadExperiment(file: string): ExperimentConfig {
  return parseExperiment(readConfigFile(file), file);
}

