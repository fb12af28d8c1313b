/**
 * One definition per strategy type, and the one table of them that the factory, the member checks, the
 * path resolution, the experiment runner's accounting and the server iterate. Adding a strategy: its
 * implementation file, its schema in `config.ts` (one entry in the union) and one entry here — see
 * docs/architecture.md. The implementations load on first build, so reading this table stays cheap
 * (config checks run before ONNX Runtime or an SDK is loaded).
 */
import { resolve } from "node:path";
import type { Store } from "../core/store.js";
import { cascadeStrategy, routedRows } from "./cascade.js";
import type { LlmContext } from "./llm.js";
import type { EncoderConfig, MemberRef, StrategyConfig, StrategyType } from "./config.js";
import type { Prediction, Strategy } from "./strategy.js";

export type ConfigOf<T extends StrategyType> = Extract<StrategyConfig, { type: T }>;

/** A member and the field that names it, for error messages (["members", 1]). */
export interface MemberField {
  field: Array<string | number>;
  ref: MemberRef;
}

/** What a definition's build gets from the factory. */
export interface BuildContext {
  /** A member built (or found by name in the set being built). */
  member(ref: MemberRef): Promise<Strategy>;
  /** The state database (LLM cache), opened on first use. */
  store(): Store;
  pricing?: string;
  scheme?: string;
  onDownload?: (file: string) => void;
  onRetry?: LlmContext["onRetry"];
  onBatchProgress?: LlmContext["onBatchProgress"];
  encoderDefaults?: Partial<Pick<EncoderConfig, "spinWait" | "threads" | "batchSize" | "packing" | "replicas">>;
}

/** A member's totals over a run, for the composite's own (run accounting). */
export interface MemberTotals {
  seconds: number;
  trainingCostUsd: number;
  predictions: readonly Prediction[];
}

export interface StrategyDefinition<T extends StrategyType> {
  type: T;
  /** The members it is built on. */
  members(config: ConfigOf<T>): MemberField[];
  /** Whether its answers always carry class probabilities (what a cascade's τ is applied to). */
  givesProbabilities(config: ConfigOf<T>): boolean;
  /** Local paths (model folders, example files) made absolute against a config file's folder. */
  resolvePaths(config: ConfigOf<T>, paths: PathResolver): ConfigOf<T>;
  build(config: ConfigOf<T>, context: BuildContext): Promise<Strategy>;
  /**
   * Its time and training cost over a run from its members' (members ran over every row); a cascade
   * also gives the share its LLM answered. Default: its own time, no training cost.
   */
  account?(config: ConfigOf<T>, members: readonly MemberTotals[]): { seconds?: number; trainingCostUsd?: number; llmShare?: number };
}

export interface PathResolver {
  file(value: string | undefined): string | undefined;
  /** A model string: local folders and local: files resolved, provider specs and hub ids kept. */
  model(value: string): string;
  member<R extends MemberRef | undefined>(ref: R): R;
}

const none = (): MemberField[] => [];
const sum = (members: readonly MemberTotals[], key: "seconds" | "trainingCostUsd") => members.reduce((total, m) => total + m[key], 0);

export const STRATEGY_DEFINITIONS: { [T in StrategyType]: StrategyDefinition<T> } = {
  lexicon: {
    type: "lexicon",
    members: none,
    givesProbabilities: () => false,
    resolvePaths: (config) => config,
    build: async (config) => (await import("./lexicon.js")).lexiconStrategy(config, config.name ?? "lexicon"),
  },
  encoder: {
    type: "encoder",
    members: none,
    givesProbabilities: () => true,
    resolvePaths: (config, paths) => ({ ...config, model: paths.model(config.model) }),
    // The config's own settings win; ones it leaves out (or undefined) take the context's defaults.
    build: async (config, context) =>
      (await import("./encoder.js")).loadEncoderStrategy({ ...context.encoderDefaults, ...Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined)), type: "encoder", model: config.model }, config.name ?? "encoder", context.onDownload),
  },
  llm: {
    type: "llm",
    members: (config) => (config.hints === undefined ? [] : [{ field: ["hints"], ref: config.hints }]),
    givesProbabilities: () => false,
    resolvePaths: (config, paths) => ({ ...config, model: paths.model(config.model), examples: paths.file(config.examples), template: paths.file(config.template), embedder: config.embedder === undefined ? undefined : paths.model(config.embedder), hints: paths.member(config.hints) }),
    async build(config, context) {
      const hints = config.hints === undefined ? undefined : await context.member(config.hints);
      const { llmStrategy } = await import("./llm.js");
      return llmStrategy(config, config.name ?? config.model, { store: context.store(), pricing: context.pricing, scheme: context.scheme ?? "neg_neu_pos", hints, onRetry: context.onRetry, onBatchProgress: context.onBatchProgress });
    },
    account: (config) => ({ trainingCostUsd: config.trainingCost ?? 0 }),
  },
  cascade: {
    type: "cascade",
    members: (config) => [
      { field: ["encoder"], ref: config.encoder },
      { field: ["llm"], ref: config.llm },
    ],
    givesProbabilities: () => true,
    resolvePaths: (config, paths) => ({ ...config, encoder: paths.member(config.encoder), llm: paths.member(config.llm) }),
    async build(config, context) {
      const encoder = await context.member(config.encoder);
      const llm = await context.member(config.llm);
      return cascadeStrategy(encoder, llm, config.tau, config.name ?? `cascade(τ=${config.tau})`);
    },
    // Its members ran over every row; the cascade waits on the routed share of the LLM's time only.
    account(config, [encoder, llm]) {
      const share = encoder!.predictions.length ? routedRows(encoder!.predictions, config.tau).length / encoder!.predictions.length : 0;
      return { seconds: encoder!.seconds + llm!.seconds * share, trainingCostUsd: encoder!.trainingCostUsd + llm!.trainingCostUsd, llmShare: share };
    },
  },
  ensemble: {
    type: "ensemble",
    members: (config) => config.members.map((ref, i) => ({ field: ["members", i], ref })),
    givesProbabilities: (config) => config.method === "average",
    resolvePaths: (config, paths) => ({ ...config, members: config.members.map((ref) => paths.member(ref)) }),
    async build(config, context) {
      const members: Strategy[] = [];
      for (const ref of config.members) members.push(await context.member(ref));
      const { ensembleStrategy } = await import("./ensemble.js");
      return ensembleStrategy(members, config.method, config.name ?? "ensemble");
    },
    account: (_config, members) => ({ seconds: sum(members, "seconds"), trainingCostUsd: sum(members, "trainingCostUsd") }),
  },
};

export function definitionOf<T extends StrategyType>(type: T): StrategyDefinition<T> {
  return STRATEGY_DEFINITIONS[type];
}

/** The members a strategy is built on, with the field that names each (for error messages). */
export function memberRefs(config: StrategyConfig): MemberField[] {
  return (definitionOf(config.type) as StrategyDefinition<StrategyType>).members(config as never);
}

/** Whether a strategy of this config always gives class probabilities (what a cascade's τ is applied to). */
export function givesProbabilities(config: StrategyConfig): boolean {
  return (definitionOf(config.type) as StrategyDefinition<StrategyType>).givesProbabilities(config as never);
}

/** Local paths in a strategy (model folders, GGUF files, examples, templates) made relative to `base`; provider specs and hub ids stay. */
export function resolveStrategyPaths(config: StrategyConfig, base: string): StrategyConfig {
  const paths: PathResolver = {
    file: (value) => (value === undefined ? undefined : resolve(base, value)),
    model: (value) => {
      if (value.startsWith("local:")) return `local:${resolve(base, value.slice(6))}`;
      if (value.startsWith(".") || value.startsWith("/")) return resolve(base, value);
      return value;
    },
    member: (ref) => (typeof ref === "object" && ref !== null ? (resolveStrategyPaths(ref, base) as typeof ref) : ref),
  };
  return (definitionOf(config.type) as StrategyDefinition<StrategyType>).resolvePaths(config as never, paths);
}
