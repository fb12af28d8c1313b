/**
 * The one strategy config schema (zod; the TypeScript types are inferred from it). The same objects are
 * written in experiment files, `tandem classify --config`, the server's configuration and the library.
 * Keys are camelCase; files may spell them snake_case (see `camelizeKeys`). A member (a cascade's
 * encoder and llm, an ensemble's members, an llm's hints) is an inline config or a string: the name of
 * another strategy of the same file, or, where there is no file, a shorthand (`lexicon`, a model
 * folder / hub id / `starter` for an encoder, `provider:model` for an llm).
 */
import { Document, isMap, isScalar } from "yaml";
import { z } from "zod";
import { camelCase, camelizeKeys, describeIssue as describeConfigIssue, originalPath, snakeCaseKeys, type UnionDescriber } from "../core/config-keys.js";
import { CALL_DEFAULTS } from "../llm/call-defaults.js";
import { PROGRAM_NAMES } from "../llm/prompts/programs.js";

export { camelCase, camelizeKeys, originalPath, snakeCaseKeys };

const name = z.string().min(1).optional();
const count = (min = 1) => z.number().int().min(min);

export const LexiconConfigSchema = z.strictObject({
  type: z.literal("lexicon"),
  name,
  /** |compound| below this is neutral (VADER's convention 0.05). */
  neutralThreshold: z.number().min(0).max(1).optional(),
  /** Sharpness of the probability softmax. */
  temperature: z.number().positive().optional(),
});

export const EncoderConfigSchema = z.strictObject({
  type: z.literal("encoder"),
  name,
  /** A model folder, a hub id (org/name) or "starter" (the bundled model). */
  model: z.string().min(1).default("starter"),
  batchSize: count().optional(),
  maxLength: count(2).optional(),
  threads: count().optional(),
  /** ONNX Runtime execution provider: cpu, cuda, dml, coreml. */
  device: z.string().optional(),
  /** Group texts of similar length into batches (default on). */
  bucketing: z.boolean().optional(),
  /** End a batch early where padding would exceed this share of its real tokens (batch_size is then the most). */
  paddingSlack: z.number().min(0).optional(),
  /**
   * Sequence packing: a batch's texts share rows of 64 tokens (or this many), each attending only to
   * itself, so texts of random lengths cost their real tokens, not the longest one's. "auto": pack where
   * the model's graph allows it, else pad (the server's default); true: pack or refuse the model.
   */
  packing: z.union([z.boolean(), count(8), z.literal("auto")]).optional(),
  /** ONNX Runtime threads spin between operators (default on; `tandem serve` turns it off unless set). */
  spinWait: z.boolean().optional(),
  /**
   * Copies of the model that run calls at the same time, each computing on its own worker thread with
   * `threads` threads. "auto": one single-threaded copy per core up to four, the cores then shared out as
   * threads, or as many as fit `threads` (`tandem serve`'s and the gateway's default): concurrent calls, as a server gathers them, use the cores better as
   * independent batches than as one batch split across them, and the event loop stays free. Unset (offline
   * default): one copy on the calling thread, which runs one call's batches fastest.
   */
  replicas: z.union([count(), z.literal("auto")]).optional(),
});

const member = (): z.ZodUnion<[z.ZodString, typeof StrategyConfigSchema]> => z.union([z.string().min(1), StrategyConfigSchema]);

export const LlmConfigSchema = z.strictObject({
  type: z.literal("llm"),
  name,
  /** openai:MODEL, anthropic:MODEL, local:/path/model.gguf, compat:http://host:port/v1#MODEL */
  model: z.string().min(1),
  program: z.enum(PROGRAM_NAMES).default("zero-shot"),
  /** A YAML prompt template file instead of a program. */
  template: z.string().optional(),
  /** Label scheme of the answers (default: the dataset's, else neg_neu_pos). */
  scheme: z.string().optional(),
  /** The strategy whose label / probabilities the prompt shows (programs label, probs, label-probs). */
  get hints() {
    return member().optional();
  },
  /** Labelled examples for similar / balanced / few-shot programs (never the test split). */
  examples: z.string().optional(),
  k: count().optional(),
  /** Embedding model for choosing similar examples (default BM25). */
  embedder: z.string().optional(),
  /** Seed of the example choice. */
  exampleSeed: z.number().int().optional(),
  task: z.string().optional(),
  item: z.string().optional(),
  system: z.string().optional(),
  /** Longest text put into a prompt, in characters (default 6,000); longer ones are cut and counted. */
  maxInputChars: count(1).optional(),
  temperature: z.number().min(0).max(2).optional().describe(`sampling temperature (default ${CALL_DEFAULTS.temperature})`),
  /** Sampling seed sent to the provider; each seed is its own cache entry. */
  samplingSeed: z.number().int().optional(),
  maxTokens: count().optional(),
  structured: z.enum(["auto", "on", "off"]).optional().describe(`JSON-schema answers where the provider takes them (default ${CALL_DEFAULTS.structured})`),
  /** Completion-style models (babbage-002, davinci-002 and their fine-tunes): one prompt ending with promptEnd; the answer stops at completionEnd. */
  completionFormat: z.strictObject({ promptEnd: z.string().min(1), completionEnd: z.string().min(1) }).optional(),
  logprobs: z.enum(["auto", "on", "off"]).optional().describe(`token log-probabilities for class probabilities (default ${CALL_DEFAULTS.logprobs})`),
  topLogprobs: z.number().int().min(1).max(20).optional().describe(`alternatives per token (default ${CALL_DEFAULTS.topLogprobs})`),
  concurrency: count().optional().describe(`requests in flight (default ${CALL_DEFAULTS.concurrency})`),
  rpm: count().optional(),
  tpm: count().optional(),
  timeout: z.number().positive().optional().describe(`per-request timeout in seconds (default ${CALL_DEFAULTS.timeoutSeconds})`),
  retries: count(0).optional().describe(`retries of a failed request (default ${CALL_DEFAULTS.retries})`),
  /** Stop dispatching before spending more than this many dollars. */
  maxCost: z.number().min(0).optional(),
  /** Dollars per million tokens, when the price table does not know the model (an OpenAI-compatible endpoint). */
  price: z.strictObject({ input: z.number().min(0), output: z.number().min(0), cachedInput: z.number().min(0).optional() }).optional(),
  /** Dollars spent to train the model (reports add it to the cost). */
  trainingCost: z.number().min(0).optional(),
  /** OpenAI Batch API: half price, answers within 24 h. */
  batch: z.boolean().optional(),
  pollSeconds: z.number().positive().optional(),
});

/**
 * What `tandem tune cascade` / `tandem distill` certified about a cascade's τ (Learn then Test with
 * exact binomial tests): recorded in its strategy file, logged by `tandem serve` and shown in
 * GET /v1/strategies. The numbers are the certificate's; the server does not recompute them.
 */
export const CascadeCertificateSchema = z.strictObject({
  /** agreement: with the LLM alone (no gold needed); accuracy: against gold labels. */
  metric: z.enum(["accuracy", "agreement"]),
  /** cascade: of every answer; encoder: of the answers the encoder keeps. */
  on: z.enum(["cascade", "encoder"]).default("cascade"),
  /** The level the metric is certified to reach. */
  target: z.number().gt(0).lt(1),
  confidence: z.number().gt(0).lt(1),
  /** The lower confidence bound at τ on the calibration rows. */
  lowerBound: z.number().min(0).max(1).nullable(),
  /** False: no τ could be certified and τ is 1 (the LLM answers everything). */
  certified: z.boolean(),
  calibrationRows: count(0),
  /** sha256 of the calibration rows as tested. */
  calibrationHash: z.string().min(1),
  method: z.string().optional(),
  /** Figures at τ on rows the choice never saw. */
  heldOut: z.record(z.string(), z.number().nullable()).optional(),
  createdAt: z.string().optional(),
});

export const CascadeConfigSchema = z.strictObject({
  type: z.literal("cascade"),
  name,
  /** Answers first; must give class probabilities (an encoder, an average ensemble, or another cascade). */
  get encoder() {
    return member();
  },
  /** Answers the items whose top encoder probability is below tau. */
  get llm() {
    return member();
  },
  /** τ = 1: the LLM answers everything. */
  tau: z.number().min(0).max(1).default(0.9),
  certificate: CascadeCertificateSchema.optional(),
  /**
   * `tandem serve`: a random share of the answers also goes to the LLM (in the background, within its own
   * budget and rate); the agreement is watched with anytime-valid statistics against the target.
   */
  audit: z
    .strictObject({
      share: z.number().gt(0).max(1),
      /** Dollars of audit calls per UTC day. */
      maxCostPerDay: z.number().min(0).optional(),
      /** Audit calls per minute. */
      rpm: count().optional(),
      /** Agreement the drift test holds the cascade to (default: the certificate's target and quantity). */
      target: z.number().gt(0).lt(1).optional(),
      /** The scope of `target`: cascade (every answer; default) or encoder (the answers the encoder keeps). */
      on: z.enum(["cascade", "encoder"]).optional(),
      /** Of the drift alarm and the bounds (default: the certificate's, else 0.95). */
      confidence: z.number().gt(0).lt(1).optional(),
    })
    .optional(),
  /** When the audit rejects the target: keep serving the cascade (none, the default) or let the LLM answer everything (llm) until a reset. */
  onDegraded: z.enum(["none", "llm"]).optional(),
  /** Keep the texts of collected answers (default true); false: only their sha256. */
  storeTexts: z.boolean().optional(),
});

export const EnsembleConfigSchema = z.strictObject({
  type: z.literal("ensemble"),
  name,
  get members() {
    return z.array(member()).min(2, "an ensemble needs at least two members");
  },
  method: z.enum(["majority", "average"]).default("majority"),
});

export const StrategyConfigSchema = z.discriminatedUnion("type", [LexiconConfigSchema, EncoderConfigSchema, LlmConfigSchema, CascadeConfigSchema, EnsembleConfigSchema]);

/** A strategy as written (defaults not yet applied). */
export type StrategyConfigInput = z.input<typeof StrategyConfigSchema>;
/** A validated strategy config. */
export type StrategyConfig = z.output<typeof StrategyConfigSchema>;
export type StrategyType = StrategyConfig["type"];
export type LexiconConfig = z.output<typeof LexiconConfigSchema>;
export type EncoderConfig = z.output<typeof EncoderConfigSchema>;
export type LlmConfig = z.output<typeof LlmConfigSchema>;
export type CascadeConfig = z.output<typeof CascadeConfigSchema>;
export type EnsembleConfig = z.output<typeof EnsembleConfigSchema>;
export type CascadeCertificateRecord = z.output<typeof CascadeCertificateSchema>;
export type MemberRef = string | StrategyConfig;

/** Every strategy type, read off the schema's union (one entry per strategy). */
export const STRATEGY_TYPES: readonly StrategyType[] = StrategyConfigSchema.options.map((option) => option.shape.type.value);

/** A named strategy, as in experiment files and server configurations. */
export const NamedStrategyConfigSchema = StrategyConfigSchema.and(z.object({ name: z.string().min(1) }));


/** One readable line for a zod issue, a union of strategies described by their types. */
export function describeIssue(issue: z.core.$ZodIssue, fieldName: string, value?: unknown): string {
  return describeConfigIssue(issue, fieldName, value, describeStrategyUnion);
}

export const describeStrategyUnion: UnionDescriber = (issue, fieldName, value) => {
  if (issue.path.at(-1) === "type") return value === undefined ? `"type" is required (${STRATEGY_TYPES.join(", ")})` : `unknown strategy type "${String(value)}" (use ${STRATEGY_TYPES.join(", ")})`;
  return `"${fieldName}" must be a strategy name or a strategy (type: ${STRATEGY_TYPES.join(", ")})`;
};



/** A comment written above one key of one strategy (e.g. its `audit:`). */
export interface StrategyFileNote {
  strategy: number;
  key: string;
  lines: readonly string[];
}

/**
 * A strategy file (the experiment / serve schema) as YAML text, keys in snake_case as people write
 * them, after `#` comment lines, with comments above the keys `notes` name. Pure.
 */
export function strategyFileText(strategies: StrategyConfigInput[], defaultName: string, comment: readonly string[] = [], notes: readonly StrategyFileNote[] = []): string {
  const header = comment.map((line) => `# ${line}\n`).join("");
  const doc = new Document(snakeCaseKeys({ strategies, default: defaultName }, []));
  for (const note of notes) {
    const map = doc.getIn(["strategies", note.strategy], true);
    if (!isMap(map)) continue;
    const key = note.key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    const pair = map.items.find((item) => isScalar(item.key) && item.key.value === key);
    if (pair && isScalar(pair.key)) pair.key.commentBefore = note.lines.map((line) => ` ${line}`).join("\n");
  }
  return header + doc.toString({ lineWidth: 0 });
}
