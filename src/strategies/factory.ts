/**
 * The single factory: every entry point (classify, run, demo, finetune follow --eval, the server, the
 * library) builds strategies here, from the one config schema.
 */
import { dirname, resolve } from "node:path";
import { z } from "zod";
import { parseConfigText, readConfigFile, type ConfigProblem } from "../core/config-file.js";
import { UserError } from "../core/errors.js";
import { openStore, type Store } from "../core/store.js";
import { StrategyConfigSchema, describeIssue, describeStrategyUnion, type EncoderConfig, type MemberRef, type StrategyConfig, type StrategyConfigInput } from "./config.js";
import type { LlmContext } from "./llm.js";
import { checkStrategy, checkStrategySet, executionOrder, shorthandConfig } from "./members.js";
import { definitionOf, resolveStrategyPaths, type BuildContext, type StrategyDefinition } from "./registry.js";
import type { Strategy } from "./strategy.js";

export interface StrategyContext {
  /** State database for the LLM response cache: a store or a file (default .tandem/tandem.db, or TANDEM_DB). */
  store?: Store | string;
  /** A price file (JSON or YAML) on top of the built-in table. */
  pricing?: string;
  /** Label scheme of LLM answers when a config names none (default neg_neu_pos). */
  scheme?: string;
  /** Strategies already built, for members given by name. */
  named?: ReadonlyMap<string, Strategy>;
  /** Called for each file downloaded from a model hub. */
  onDownload?: (file: string) => void;
  onRetry?: LlmContext["onRetry"];
  onBatchProgress?: LlmContext["onBatchProgress"];
  /** Settings for encoders whose config leaves them out (the server's spinWait: false, packing: "auto"). */
  encoderDefaults?: Partial<Pick<EncoderConfig, "spinWait" | "threads" | "batchSize" | "packing" | "replicas">>;
  /** Applied to every strategy built (members included), e.g. the server's dynamic batching of encoders. */
  decorate?: (strategy: Strategy) => Strategy;
}

/** A validated config from anything a caller wrote (a shorthand string or an object); errors name the field. */
export function parseStrategyConfig(input: StrategyConfigInput | string, where: { file?: string; membersByName?: boolean } = {}): StrategyConfig {
  if (typeof input === "string") return shorthandConfig(input);
  const parsed = StrategyConfigSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.map(String).join(".");
    const value = issue.path.reduce<unknown>((node, key) => (node as Record<PropertyKey, unknown> | undefined)?.[key], input);
    throw new UserError(describeIssue(issue, field || "type", value), { file: where.file, column: field || undefined });
  }
  // Members named by a set are checked with the set (createStrategies); here they are shorthands.
  const problems = where.membersByName ? [] : checkStrategy(parsed.data);
  if (problems.length > 0) throw new UserError(problems[0]!.message, { file: where.file, column: problems[0]!.path.join(".") });
  return parsed.data;
}

function storeOf(context: StrategyContext): Store {
  return typeof context.store === "object" ? context.store : openStore(context.store);
}

/** Builds one strategy (and its inline or shorthand members). */
export async function createStrategy(input: StrategyConfigInput | string, context: StrategyContext = {}): Promise<Strategy> {
  const built = await buildStrategy(parseStrategyConfig(input, { membersByName: context.named !== undefined }), context);
  return context.decorate ? context.decorate(built) : built;
}

async function buildStrategy(config: StrategyConfig, context: StrategyContext): Promise<Strategy> {
  const member = async (ref: MemberRef): Promise<Strategy> => {
    if (typeof ref === "string" && context.named) {
      const found = context.named.get(ref);
      if (!found) throw new UserError(`"${ref}" is not a strategy defined here (${[...context.named.keys()].join(", ")})`);
      return found; // already decorated
    }
    return createStrategy(ref, context);
  };
  const build: BuildContext = { ...context, member, store: () => storeOf(context) };
  return (definitionOf(config.type) as StrategyDefinition<StrategyConfig["type"]>).build(config as never, build);
}

/** A set of named strategies whose members refer to each other by name. */
export interface StrategySet {
  /** In an order where members come before what is built on them. */
  strategies: Map<string, Strategy>;
  close(): Promise<void>;
}

/** Builds a list of named strategies (checked as a set: references, member kinds, cycles). */
export async function createStrategies(configs: readonly StrategyConfig[], context: StrategyContext = {}): Promise<StrategySet> {
  const problems = checkStrategySet(configs);
  if (problems.length > 0) throw new UserError(problems[0]!.message, { column: `strategies.${problems[0]!.path.join(".")}` });
  const strategies = new Map<string, Strategy>();
  const close = async () => {
    for (const strategy of [...strategies.values()].reverse()) await strategy.close();
  };
  try {
    for (const config of executionOrder(configs)) strategies.set(config.name!, await createStrategy(config, { ...context, named: strategies }));
  } catch (error) {
    await close();
    throw error;
  }
  return { strategies, close };
}

/** A strategy file: one strategy, or named strategies with the one to use by default. */
export interface StrategyFile {
  strategies: StrategyConfig[];
  /** The name of the strategy used when none is asked for. */
  default: string;
}

const StrategySetSchema = z.strictObject({
  strategies: z.array(StrategyConfigSchema).min(1, "at least one strategy"),
  /** The strategy used when a request names none (default: the last one). */
  default: z.string().optional(),
});

/**
 * Reads a strategy file (YAML or JSON): either one strategy (`type: cascade ...`) or `strategies:` (named,
 * referring to each other by name) with an optional `default:`. Local paths are relative to the file.
 */
export function parseStrategyFile(text: string, file: string): StrategyFile {
  const base = dirname(resolve(file));
  const single = !/^\s*strategies\s*:/m.test(text);
  if (single) {
    const config = parseConfigText(text, file, StrategyConfigSchema, (value) => checkStrategy(value), describeStrategyUnion);
    const named = { ...resolveStrategyPaths(config, base), name: config.name ?? config.type };
    return { strategies: [named], default: named.name };
  }
  const set = parseConfigText(text, file, StrategySetSchema, (value) => {
    const problems: ConfigProblem[] = checkStrategySet(value.strategies).map((issue) => ({ path: ["strategies", ...issue.path], message: issue.message }));
    if (value.default !== undefined && !value.strategies.some((s) => s.name === value.default)) problems.push({ path: ["default"], message: `default "${value.default}" is not one of the strategies` });
    return problems;
  }, describeStrategyUnion);
  return { strategies: set.strategies.map((s) => resolveStrategyPaths(s, base)), default: set.default ?? set.strategies.at(-1)!.name! };
}

export function loadStrategyFile(file: string): StrategyFile {
  return parseStrategyFile(readConfigFile(file), file);
}
