/**
 * Model strings → chat models:
 *   openai:gpt-4o-mini, openai:ft:gpt-4o-mini-2024-07-18:org::id   (OPENAI_API_KEY, OPENAI_BASE_URL)
 *   anthropic:claude-3-5-haiku-latest                                (ANTHROPIC_API_KEY)
 *   local:/path/model.gguf                                           (node-llama-cpp)
 *   compat:http://host:port/v1#model                                 (OPENAI_COMPAT_API_KEY, optional)
 */
import { UserError } from "../../core/errors.js";
import { loadDotEnv, requireSecret } from "../../core/env.js";
import type { ChatModel } from "../types.js";
import { anthropicChatModel } from "./anthropic.js";
import { localChatModel } from "./local.js";
import { openAiChatModel } from "./openai.js";

export interface ModelSpec {
  provider: "openai" | "anthropic" | "local" | "compat";
  model: string;
  baseURL?: string;
}

export function parseModelSpec(spec: string): ModelSpec {
  const colon = spec.indexOf(":");
  const provider = colon > 0 ? spec.slice(0, colon) : "";
  const rest = colon > 0 ? spec.slice(colon + 1) : "";
  const usage = "use openai:MODEL, anthropic:MODEL, local:/path/model.gguf or compat:http://host:port/v1#MODEL";
  if (rest === "") throw new UserError(`invalid model "${spec}": ${usage}`);
  switch (provider) {
    case "openai":
    case "anthropic":
      return { provider, model: rest };
    case "local":
      return { provider, model: rest };
    case "compat": {
      const hash = rest.lastIndexOf("#");
      if (hash < 0 || hash === rest.length - 1) throw new UserError(`invalid model "${spec}": compat models are compat:BASE_URL#MODEL, e.g. compat:http://localhost:11434/v1#llama3.1`);
      const baseURL = rest.slice(0, hash);
      if (!/^https?:\/\//.test(baseURL)) throw new UserError(`invalid model "${spec}": the base URL must start with http:// or https://`);
      return { provider, model: rest.slice(hash + 1), baseURL };
    }
    default:
      throw new UserError(`invalid model "${spec}": ${usage}`);
  }
}

export async function createChatModel(spec: string, options: { gpu?: boolean } = {}): Promise<ChatModel> {
  const parsed = parseModelSpec(spec);
  loadDotEnv();
  switch (parsed.provider) {
    case "openai":
      return openAiChatModel({ spec, model: parsed.model, apiKey: requireSecret("OPENAI_API_KEY", `model ${spec}`), baseURL: process.env.OPENAI_BASE_URL, provider: "openai" });
    case "compat":
      // Local servers usually need no key; the SDK insists on one, so send a placeholder.
      return openAiChatModel({ spec, model: parsed.model, apiKey: process.env.OPENAI_COMPAT_API_KEY || "not-needed", baseURL: parsed.baseURL, provider: "compat" });
    case "anthropic":
      return anthropicChatModel({ spec, model: parsed.model, apiKey: requireSecret("ANTHROPIC_API_KEY", `model ${spec}`), baseURL: process.env.ANTHROPIC_BASE_URL });
    case "local":
      return localChatModel({ spec, path: parsed.model, gpu: options.gpu });
  }
}
