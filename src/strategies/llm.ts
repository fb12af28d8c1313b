/**
 * The llm strategy: a provider model asked through a prompt program (or a template), optionally with
 * hints — another strategy's label and probabilities, similar or class-balanced labelled examples.
 * Calls go through the engine's cache, rate limits, retries, budget and cost accounting. The client is
 * built on the first call, so estimates and prices need no key.
 */
import { UserError } from "../core/errors.js";
import type { Store } from "../core/store.js";
import { loadDataset } from "../data/dataset.js";
import { resolveScheme, type LabelScheme } from "../data/labels.js";
import { resolveModelDir } from "../encoders/hub.js";
import { EncoderModel } from "../encoders/model.js";
import { runEncoder } from "../encoders/inference.js";
import { CALL_DEFAULTS } from "../llm/call-defaults.js";
import { ResponseCache, cacheKey } from "../llm/cache.js";
import { costOf, formatUsd, loadPriceTable, lookupPrice, PRICES_AS_OF, type PriceLookup } from "../llm/pricing.js";
import { countCut, exampleKind, MAX_INPUT_CHARS, planPrompts, type PromptPlan } from "../llm/prompts/build.js";
import type { LabelledExample } from "../llm/prompts/examples.js";
import { defaultWording, PROGRAMS, type TaskWording } from "../llm/prompts/programs.js";
import { loadTemplate, templateUses } from "../llm/prompts/template.js";
import { createChatModel, describeModel, openAiClientFor } from "../llm/providers/registry.js";
import { buildRequest, runLlm, type LlmRunOptions } from "../llm/runner.js";
import { countRequestTokens } from "../llm/tokens.js";
import type { ChatMessage, ChatModel, ModelInfo } from "../llm/types.js";
import type { LlmConfig } from "./config.js";
import { closeOnce, memberPredictions, reorderProbabilities, type ClassifyOptions, type Prediction, type Strategy } from "./strategy.js";

export interface LlmContext {
  /** State database holding the response cache (and batch jobs). */
  store: Store;
  /** A price file on top of the built-in table. */
  pricing?: string;
  /** Label scheme when the config names none. */
  scheme: string;
  /** The strategy whose answers the prompt shows (config `hints`). */
  hints?: Strategy;
  /** Retries and Batch API progress, for progress displays. */
  onRetry?: LlmRunOptions["onRetry"];
  onBatchProgress?: (message: string) => void;
}

export interface LlmEstimate {
  calls: number;
  cached: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  basis: string;
}

export interface LlmStrategy extends Strategy {
  readonly wording: TaskWording;
  readonly info: ModelInfo;
  readonly prices: PriceLookup;
  readonly scheme: LabelScheme;
  /** Tokens and dollars of the calls these texts would make that are not cached yet (an upper bound). */
  estimate(texts: readonly string[], options?: ClassifyOptions): Promise<LlmEstimate>;
  /** The messages the program sends for these texts (no call is made). */
  prompts(texts: readonly string[], options?: ClassifyOptions): Promise<(index: number) => ChatMessage[]>;
  readonly maxInputChars: number;
  /** Settings of the config this model's provider does not take (dropped). */
  readonly warnings: readonly string[];
}

/** What shapes an LLM's prompts (the llm config without the model and the call settings). */
export type PromptConfig = Pick<LlmConfig, "program" | "template" | "scheme" | "examples" | "k" | "embedder" | "exampleSeed" | "task" | "item" | "system" | "maxInputChars">;

export interface PromptBuilder {
  scheme: LabelScheme;
  labels: string[];
  wording: TaskWording;
  usesLabel: boolean;
  usesProbs: boolean;
  /** The messages of each text; hints are other predictions in `labels` order, one per text. */
  prompts(texts: readonly string[], hints?: readonly Prediction[]): Promise<(index: number) => ChatMessage[]>;
}

/** Prompts of a program or template for texts, with their hints and demonstrations (also used to build fine-tuning files). */
export function promptBuilder(config: PromptConfig, defaultScheme = "neg_neu_pos"): PromptBuilder {
  const scheme = resolveScheme(config.scheme ?? defaultScheme);
  const labels = [...scheme.labels];
  const template = config.template ? loadTemplate(config.template) : undefined;
  const wording = {
    ...defaultWording(scheme.description),
    ...(config.task ? { task: config.task } : {}),
    ...(config.item ? { item: config.item } : {}),
    ...(config.system ? { system: config.system } : {}),
  };
  const program = PROGRAMS[config.program];
  const usesLabel = template ? templateUses(template, "encoder_label") : program.usesEncoderLabel;
  const usesProbs = template ? templateUses(template, "encoder_probs") : program.usesEncoderProbs;
  const kind = exampleKind({ program: config.program, template });
  if (kind !== "none" && !config.examples) throw new UserError(`program "${config.program}" needs labelled examples: --examples FILE (examples: in a config)`);
  let pool: Promise<LabelledExample[]> | undefined;
  const examplePool = () => (pool ??= loadDataset(config.examples!, { scheme }).then((d) => d.examples.map((e) => ({ text: e.text, label: e.label as string }))));
  return {
    scheme,
    labels,
    wording,
    usesLabel,
    usesProbs,
    async prompts(texts, hints) {
      if ((usesLabel || usesProbs) && !hints && !template) {
        throw new UserError(`program "${config.program}" needs the encoder's ${usesLabel ? "label" : "probabilities"}: hints (an encoder strategy), or --encoder-pred / --encoder-probs columns`);
      }
      const plan: PromptPlan = {
        program: config.program,
        template,
        labels,
        wording,
        texts,
        k: config.k,
        seed: config.exampleSeed,
        maxInputChars: config.maxInputChars,
        encoderLabels: hints?.map((p) => p.label),
        encoderProbs: hints?.map((p) => p.probabilities ?? labels.map((l) => (l === p.label ? 1 : 0))),
      };
      if (kind !== "none") {
        plan.pool = await examplePool();
        if (kind === "similar" && config.embedder) {
          const embedder = await EncoderModel.load(await resolveModelDir(config.embedder));
          try {
            const poolVectors = await runEncoder(embedder, plan.pool.map((e) => e.text));
            const queryVectors = await runEncoder(embedder, texts);
            plan.vectors = { pool: poolVectors.values, queries: queryVectors.values, dim: poolVectors.width };
          } finally {
            await embedder.release();
          }
        }
      }
      return planPrompts(plan);
    },
  };
}

export function llmStrategy(config: LlmConfig, name: string, context: LlmContext): LlmStrategy {
  const info = describeModel(config.model);
  const completion = config.completionFormat;
  if (completion && !info.supportsCompletions) {
    throw new UserError(`the prompt/completion format needs a model served through an OpenAI-style completions API (openai:, together:, compat:); ${config.model} is ${info.provider}`);
  }
  if (completion && config.batch) throw new UserError("the Batch API takes chat requests only; drop batch for the prompt/completion format");
  const builder = promptBuilder(config, context.scheme);
  const { labels, scheme } = builder;
  const prices = lookupPrice(loadPriceTable(context.pricing), info.provider, info.model, config.price);
  const cache = new ResponseCache(context.store);
  // Fine-tuned models answer as they were trained (a bare label), so "auto" leaves structured output off for them.
  const fineTuned = info.model.startsWith("ft:");
  const structuredMode = config.structured ?? CALL_DEFAULTS.structured;
  const logprobsMode = config.logprobs ?? CALL_DEFAULTS.logprobs;
  // A setting the provider does not take is dropped with a warning (the registry says what each takes).
  const warnings: string[] = [];
  if (structuredMode === "on" && !info.supportsStructured) warnings.push(`warning: ${name}: ${info.provider} takes no JSON-schema answers; structured: on is ignored`);
  if (logprobsMode === "on" && !info.supportsLogprobs) warnings.push(`warning: ${name}: ${info.provider} returns no token log-probabilities; logprobs: on is ignored`);
  const structured = info.supportsStructured && (structuredMode === "on" || (structuredMode === "auto" && info.structuredByDefault && !fineTuned));
  const logprobs = info.supportsLogprobs && logprobsMode !== "off";
  let model: Promise<ChatModel> | undefined;

  async function prompts(texts: readonly string[], options: ClassifyOptions = {}): Promise<(index: number) => ChatMessage[]> {
    const needsHints = builder.usesLabel || builder.usesProbs;
    const hints = options.hints ?? (context.hints && needsHints ? hintsFrom(context.hints, await memberPredictions(context.hints, texts, options)) : undefined);
    return builder.prompts(texts, hints);
  }

  /** Hints in this strategy's label order. */
  function hintsFrom(member: Strategy, predictions: readonly Prediction[]): Prediction[] {
    return predictions.map((p) => ({ ...p, probabilities: reorderProbabilities(p.probabilities, member.labels, labels) }));
  }

  const runShape = (count: number, messages: (index: number) => ChatMessage[], samplingSeed: number | undefined) => ({
    labels,
    messages,
    count,
    temperature: config.temperature ?? CALL_DEFAULTS.temperature,
    seed: samplingSeed ?? config.samplingSeed,
    maxTokens: config.maxTokens,
    structured,
    logprobs,
    topLogprobs: config.topLogprobs ?? CALL_DEFAULTS.topLogprobs,
    timeoutMs: (config.timeout ?? CALL_DEFAULTS.timeoutSeconds) * 1000,
    completion,
  });

  const strategy: LlmStrategy = {
    name,
    type: "llm",
    labels,
    members: context.hints ? [context.hints] : [],
    info,
    prices,
    scheme,
    wording: builder.wording,
    maxInputChars: config.maxInputChars ?? MAX_INPUT_CHARS,
    warnings,
    prompts,
    async estimate(texts, options = {}) {
      const messages = await prompts(texts, options);
      const shape = { ...runShape(texts.length, messages, options.samplingSeed), model: info };
      let cached = 0;
      let inputTokens = 0;
      let outputTokens = 0;
      for (let i = 0; i < texts.length; i++) {
        const request = buildRequest(shape, messages(i));
        if (cache.get(cacheKey(info.provider, info.model, request))) {
          cached++;
          continue;
        }
        inputTokens += countRequestTokens(request, info.model);
        outputTokens += request.maxTokens;
      }
      const costUsd = costOf({ inputTokens, cachedInputTokens: 0, outputTokens }, prices);
      return { calls: texts.length - cached, cached, inputTokens, outputTokens, costUsd, basis: prices.price ? `${prices.basis}, prices as of ${PRICES_AS_OF}` : prices.basis };
    },
    async classify(texts, options = {}) {
      const messages = await prompts(texts, options);
      const cut = countCut(texts, strategy.maxInputChars);
      const chat = await (model ??= createChatModel(config.model));
      const runOptions: LlmRunOptions = {
        ...runShape(texts.length, messages, options.samplingSeed),
        model: chat,
        concurrency: config.concurrency ?? CALL_DEFAULTS.concurrency,
        rpm: config.rpm,
        tpm: config.tpm,
        maxRetries: config.retries ?? CALL_DEFAULTS.retries,
        cache,
        prices,
        maxCostUsd: config.maxCost,
        signal: options.signal,
        stop: options.stop,
        onRetry: context.onRetry,
        onResult: (_, totals) => options.onProgress?.(totals.done),
      };
      if (config.batch) {
        const { fillCacheWithBatch } = await import("../llm/batch.js");
        const { client } = await openAiClientFor(config.model);
        const filled = await fillCacheWithBatch(runOptions, {
          client,
          db: context.store,
          cache,
          prices,
          pollSeconds: config.pollSeconds,
          signal: options.stop,
          onProgress: (p) => context.onBatchProgress?.(`batch ${p.batchId}: ${p.status} (${p.completed}/${p.total} done, ${p.failed} failed)`),
        });
        if (filled.added > 0) context.onBatchProgress?.(`batch: ${filled.added} answers for ${formatUsd(filled.costUsd)} (batch price); they are read from the cache below`);
        if (filled.failed > 0) context.onBatchProgress?.(`${filled.failed} batch requests failed; they are sent one by one now`);
      }
      const run = await runLlm(runOptions);
      options.onReport?.({ strategy: name, cut: { count: cut, maxChars: strategy.maxInputChars }, retries: run.totals.retries });
      return run.results.map((r) => ({
        label: r.label,
        probabilities: r.probabilities,
        answeredBy: name,
        status: r.status,
        error: r.error,
        raw: r.raw,
        inputTokens: r.inputTokens,
        outputTokens: r.outputTokens,
        costUsd: r.costUsd,
        latencyMs: r.latencyMs,
        cached: r.cached,
      }));
    },
    close: closeOnce(async () => {
      if (model) await (await model).close?.();
    }),
  };
  return strategy;
}
