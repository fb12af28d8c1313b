/** An OpenAI SDK client for a model spec (openai: or compat:), for the APIs beyond chat: files, batches, fine-tuning. */
import OpenAI from "openai";
import { UserError } from "../core/errors.js";
import { loadDotEnv, requireSecret } from "../core/env.js";
import { parseModelSpec } from "./providers/index.js";

export function openAiClientFor(spec: string): { client: OpenAI; model: string } {
  const parsed = parseModelSpec(spec);
  loadDotEnv();
  if (parsed.provider === "openai") {
    return { client: new OpenAI({ apiKey: requireSecret("OPENAI_API_KEY", `model ${spec}`), baseURL: process.env.OPENAI_BASE_URL, maxRetries: 2 }), model: parsed.model };
  }
  if (parsed.provider === "compat") {
    return { client: new OpenAI({ apiKey: process.env.OPENAI_COMPAT_API_KEY || "not-needed", baseURL: parsed.baseURL, maxRetries: 2 }), model: parsed.model };
  }
  throw new UserError(`${spec}: this needs an OpenAI or OpenAI-compatible provider (openai:MODEL or compat:URL#MODEL)`);
}
