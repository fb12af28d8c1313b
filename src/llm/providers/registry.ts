/**
 * The provider registry: for each provider, one entry that parses its model strings, names its
 * environment variables and builds its client. Model strings:
 *   openai:gpt-4o-mini, openai:ft:gpt-4o-mini-2024-07-18:org::id   (OPENAI_API_KEY, OPENAI_BASE_URL)
 *   anthropic:claude-3-5-haiku-latest                                (ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL)
 *   local:/path/model.gguf                                           (node-llama-cpp)
 *   compat:http://host:port/v1#model                                 (OPENAI_COMPAT_API_KEY, optional)
 *   mistral:open-mistral-nemo, mistral:ft:open-mistral-nemo:...      (MISTRAL_API_KEY, MISTRAL_BASE_URL)
 *   together:meta-llama/Meta-Llama-3.1-8B-Instruct-Reference         (TOGETHER_API_KEY, TOGETHER_BASE_URL)
 * Mistral and Together answer chat through their OpenAI-compatible endpoints; their fine-tuning goes
 * through each vendor's own SDK (src/llm/tuning).
 * Parsing needs no key, so estimates and price look-ups work without one. SDKs load only when a client
 * is built, so commands that never call a provider do not pay for loading them.
 */
import { existsSync } from "node:fs";
import type OpenAI from "openai";
import { UserError } from "../../core/errors.js";
import { loadDotEnv, requireSecret } from "../../core/env.js";
import type { ChatModel, ChatTransport, ModelInfo } from "../types.js";
import type { FineTuner } from "../tuning/tuner.js";
import { loadOptional } from "../../core/optional.js";

export const PROVIDER_NAMES = ["openai", "anthropic", "local", "compat", "mistral", "together"] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

export interface ModelSpec {
  provider: ProviderName;
  /** The model id sent to the provider (for local: the GGUF path). */
  model: string;
  baseURL?: string;
}

/** How a provider's calls are priced when the price table does not name the model. */
export type PricingRule = "table" | "free" | "table-else-unpriced-free";

/** Where the provider's own HTTP API is, for a gateway in front of it: its wire, base URL and key. */
export interface ProviderEndpoint {
  wire: "openai" | "anthropic";
  baseURL: string;
  /** The environment variable holding its key (none for keyless servers). */
  keyVariable?: string;
}

interface ProviderEntry {
  /** Token log-probabilities (class probabilities) and JSON-schema answers. */
  supportsLogprobs: boolean;
  supportsStructured: boolean;
  /** An OpenAI-style completions API (the prompt/completion format of completion models). */
  supportsCompletions: boolean;
  /** Whether "structured: auto" turns JSON-schema answers on (off where servers vary: compat). */
  structuredByDefault: boolean;
  /** "table": the price table, else unknown; "free": a local model (the table may still name it); "table-else-unpriced-free": priced 0 and flagged when the table does not know it. */
  pricing: PricingRule;
  /** The model string of another model id on the same provider (and endpoint): a fine-tuned model. */
  withModel(spec: ModelSpec, model: string): string;
  /** Its HTTP API for a gateway, where it speaks a wire the gateway does. */
  endpoint?(spec: ModelSpec): ProviderEndpoint;
  /** The part after "provider:" → the spec. */
  parse(rest: string, spec: string): ModelSpec;
  /** Environment variables that must be set before a call (checked before anything is spent). */
  requiredSecrets: string[];
  /** What else must hold before a call; a message when it does not. */
  check?(spec: ModelSpec): string | undefined;
  /** The chat client; what it supports is this entry's (declared here once, for estimates and calls alike). */
  createChatModel(spec: ModelSpec, text: string, options: { gpu?: boolean }): Promise<ChatTransport>;
  /** An SDK client for the APIs beyond chat (files, batches, fine-tuning), where the provider has them. */
  openAiClient?(spec: ModelSpec): Promise<OpenAI>;
  /** The vendor's fine-tuning API, where it has a public one. */
  fineTuner?(spec: ModelSpec): Promise<FineTuner>;
}

const openAiSdk = async () => (await import("openai")).default;

/** A vendor with an OpenAI-compatible chat endpoint and a fine-tuning API of its own. */
function chatVendor(
  provider: "mistral" | "together",
  keyVariable: string,
  urlVariable: string,
  defaultURL: string,
  supports: { logprobs: boolean; structured: boolean },
  fineTuner: (apiKey: string, baseURL: string) => Promise<FineTuner>,
): ProviderEntry {
  const baseURL = () => process.env[urlVariable] || defaultURL;
  return {
    supportsLogprobs: supports.logprobs,
    supportsStructured: supports.structured,
    supportsCompletions: provider === "together",
    structuredByDefault: true,
    pricing: "table",
    withModel: (_, model) => `${provider}:${model}`,
    parse: (model) => ({ provider, model }),
    requiredSecrets: [keyVariable],
    async createChatModel(spec, text) {
      const { openAiChatModel } = await import("./openai.js");
      return openAiChatModel({ spec: text, model: spec.model, apiKey: requireSecret(keyVariable, `model ${text}`), baseURL: baseURL(), provider });
    },
    fineTuner: async () => fineTuner(requireSecret(keyVariable, `${provider} fine-tuning`), baseURL()),
  };
}

const PROVIDERS: Record<ProviderName, ProviderEntry> = {
  openai: {
    supportsLogprobs: true,
    supportsStructured: true,
    supportsCompletions: true,
    structuredByDefault: true,
    pricing: "table",
    withModel: (_, model) => `openai:${model}`,
    endpoint: () => ({ wire: "openai", baseURL: process.env.OPENAI_BASE_URL || "https://api.openai.com/v1", keyVariable: "OPENAI_API_KEY" }),
    parse: (model) => ({ provider: "openai", model }),
    requiredSecrets: ["OPENAI_API_KEY"],
    async createChatModel(spec, text) {
      const { openAiChatModel } = await import("./openai.js");
      return openAiChatModel({ spec: text, model: spec.model, apiKey: requireSecret("OPENAI_API_KEY", `model ${text}`), baseURL: process.env.OPENAI_BASE_URL, provider: "openai" });
    },
    async openAiClient() {
      const OpenAI = await openAiSdk();
      return new OpenAI({ apiKey: requireSecret("OPENAI_API_KEY", "the OpenAI API"), baseURL: process.env.OPENAI_BASE_URL, maxRetries: 2 });
    },
    async fineTuner(spec) {
      const { openAiFineTuner } = await import("../tuning/openai.js");
      return openAiFineTuner(await this.openAiClient!(spec), "openai");
    },
  },
  compat: {
    supportsLogprobs: true,
    supportsStructured: true,
    supportsCompletions: true,
    // Local OpenAI-compatible servers vary in what they do with a JSON schema: "auto" leaves it off.
    structuredByDefault: false,
    pricing: "table-else-unpriced-free",
    withModel: (spec, model) => `compat:${spec.baseURL}#${model}`,
    endpoint: (spec) => ({ wire: "openai", baseURL: spec.baseURL!, keyVariable: "OPENAI_COMPAT_API_KEY" }),
    parse(rest, text) {
      const hash = rest.lastIndexOf("#");
      if (hash < 0 || hash === rest.length - 1) throw new UserError(`invalid model "${text}": compat models are compat:BASE_URL#MODEL, e.g. compat:http://localhost:11434/v1#llama3.1`);
      const baseURL = rest.slice(0, hash);
      if (!/^https?:\/\//.test(baseURL)) throw new UserError(`invalid model "${text}": the base URL must start with http:// or https://`);
      return { provider: "compat", model: rest.slice(hash + 1), baseURL };
    },
    requiredSecrets: [],
    async createChatModel(spec, text) {
      const { openAiChatModel } = await import("./openai.js");
      // Local servers usually need no key; the SDK insists on one, so send a placeholder.
      return openAiChatModel({ spec: text, model: spec.model, apiKey: process.env.OPENAI_COMPAT_API_KEY || "not-needed", baseURL: spec.baseURL, provider: "compat" });
    },
    async openAiClient(spec) {
      const OpenAI = await openAiSdk();
      return new OpenAI({ apiKey: process.env.OPENAI_COMPAT_API_KEY || "not-needed", baseURL: spec.baseURL, maxRetries: 2 });
    },
    async fineTuner(spec) {
      const { openAiFineTuner } = await import("../tuning/openai.js");
      return openAiFineTuner(await this.openAiClient!(spec), "compat");
    },
  },
  // Mistral's chat API has no token log-probabilities but takes JSON-schema response formats; Together
  // returns log-probabilities. The Mistral SDK adds /v1 to its server URL itself.
  mistral: chatVendor("mistral", "MISTRAL_API_KEY", "MISTRAL_BASE_URL", "https://api.mistral.ai/v1", { logprobs: false, structured: true }, async (apiKey, baseURL) =>
    (await loadOptional("mistral", () => import("../tuning/mistral.js"))).mistralFineTuner({ apiKey, serverURL: baseURL.replace(/\/v1\/?$/, "") }),
  ),
  together: chatVendor("together", "TOGETHER_API_KEY", "TOGETHER_BASE_URL", "https://api.together.xyz/v1", { logprobs: true, structured: false }, async (apiKey, baseURL) =>
    (await loadOptional("together", () => import("../tuning/together.js"))).togetherFineTuner({ apiKey, baseURL }),
  ),
  anthropic: {
    supportsLogprobs: false,
    supportsStructured: true,
    supportsCompletions: false,
    structuredByDefault: true,
    pricing: "table",
    withModel: (_, model) => `anthropic:${model}`,
    endpoint: () => ({ wire: "anthropic", baseURL: process.env.ANTHROPIC_BASE_URL || "https://api.anthropic.com", keyVariable: "ANTHROPIC_API_KEY" }),
    parse: (model) => ({ provider: "anthropic", model }),
    requiredSecrets: ["ANTHROPIC_API_KEY"],
    async createChatModel(spec, text) {
      const { anthropicChatModel } = await import("./anthropic.js");
      return anthropicChatModel({ spec: text, model: spec.model, apiKey: requireSecret("ANTHROPIC_API_KEY", `model ${text}`), baseURL: process.env.ANTHROPIC_BASE_URL });
    },
  },
  local: {
    supportsLogprobs: false,
    supportsStructured: true,
    supportsCompletions: false,
    structuredByDefault: true,
    pricing: "free",
    withModel: (_, model) => `local:${model}`,
    parse: (model) => ({ provider: "local", model }),
    requiredSecrets: [],
    check: (spec) => (existsSync(spec.model) ? undefined : `GGUF model ${spec.model} does not exist`),
    async createChatModel(spec, text, options) {
      const { localChatModel } = await import("./local.js");
      return localChatModel({ spec: text, path: spec.model, gpu: options.gpu });
    },
  },
};

const USAGE = "use openai:MODEL, anthropic:MODEL, mistral:MODEL, together:MODEL, local:/path/model.gguf or compat:http://host:port/v1#MODEL";

export function parseModelSpec(text: string): ModelSpec {
  const colon = text.indexOf(":");
  const provider = colon > 0 ? text.slice(0, colon) : "";
  const rest = colon > 0 ? text.slice(colon + 1) : "";
  if (rest === "" || !(PROVIDER_NAMES as readonly string[]).includes(provider)) throw new UserError(`invalid model "${text}": ${USAGE}`);
  return PROVIDERS[provider as ProviderName].parse(rest, text);
}

/** What a model string names and can do, without a key or a client (estimates, cache keys, prices). */
export function describeModel(text: string): ModelInfo {
  const spec = parseModelSpec(text);
  const entry = PROVIDERS[spec.provider];
  return {
    provider: spec.provider,
    model: spec.model,
    spec: text,
    supportsLogprobs: entry.supportsLogprobs,
    supportsStructured: entry.supportsStructured,
    supportsCompletions: entry.supportsCompletions,
    structuredByDefault: entry.structuredByDefault,
    pricing: entry.pricing,
  };
}

/** How a provider's calls are priced past the price table ("table" for a name the registry does not know). */
export function providerPricing(provider: string): PricingRule {
  return (PROVIDERS as Record<string, ProviderEntry | undefined>)[provider]?.pricing ?? "table";
}

/** The model string of `model` on the provider (and endpoint) of `text`: e.g. a fine-tuned model's. */
export function modelOnSameProvider(text: string, model: string): string {
  const spec = parseModelSpec(text);
  return PROVIDERS[spec.provider].withModel(spec, model);
}

/** A model string's provider API for a gateway in front of it (undefined where the gateway speaks no wire of it). */
export function providerEndpoint(text: string): ProviderEndpoint | undefined {
  const spec = parseModelSpec(text);
  return PROVIDERS[spec.provider].endpoint?.(spec);
}

/** What stops a call to this model before it is made (a missing key, a missing file), or undefined. */
export function providerProblem(text: string): string | undefined {
  const spec = parseModelSpec(text);
  loadDotEnv();
  const entry = PROVIDERS[spec.provider];
  const missing = entry.requiredSecrets.find((name) => !process.env[name]);
  if (missing) return `${text} needs ${missing} (environment or .env)`;
  return entry.check?.(spec);
}

export async function createChatModel(text: string, options: { gpu?: boolean } = {}): Promise<ChatModel> {
  const spec = parseModelSpec(text);
  loadDotEnv();
  const entry = PROVIDERS[spec.provider];
  const transport = await entry.createChatModel(spec, text, options);
  return Object.assign(transport, { supportsLogprobs: entry.supportsLogprobs, supportsStructured: entry.supportsStructured });
}

/** An OpenAI SDK client for an openai: or compat: model (files, batches, fine-tuning). */
export async function openAiClientFor(text: string): Promise<{ client: OpenAI; model: string }> {
  const spec = parseModelSpec(text);
  loadDotEnv();
  const entry = PROVIDERS[spec.provider];
  if (!entry.openAiClient) throw new UserError(`${text}: this needs an OpenAI or OpenAI-compatible provider (openai:MODEL or compat:URL#MODEL)`);
  return { client: await entry.openAiClient(spec), model: spec.model };
}

/** The fine-tuning API of the vendor a model string names (openai, compat, mistral, together). */
export async function fineTunerFor(text: string): Promise<{ tuner: FineTuner; model: string; provider: ProviderName }> {
  const spec = parseModelSpec(text);
  loadDotEnv();
  const entry = PROVIDERS[spec.provider];
  if (!entry.fineTuner) throw new UserError(`${text}: ${spec.provider} has no public fine-tuning API tandem can drive; use openai:, mistral:, together: or compat:URL#MODEL`);
  return { tuner: await entry.fineTuner(spec), model: spec.model, provider: spec.provider };
}
