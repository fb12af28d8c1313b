/**
 * In-process GGUF models through node-llama-cpp, an optional dependency (`npm install node-llama-cpp`):
 * the core installs and works without it. A JSON-schema grammar constrains generation, so the answer
 * is always {"label": <one of the labels>}.
 */
import { existsSync } from "node:fs";
import { UserError } from "../../core/errors.js";
import { labelJsonSchema } from "../parse.js";
import type { ChatTransport, ChatRequest, ChatResponse } from "../types.js";

// The few parts of node-llama-cpp used here, typed locally so that compiling needs no optional package.
interface LlamaModule {
  getLlama(options: { gpu: false | "auto"; build: "never" | "auto" }): Promise<Llama>;
  LlamaChatSession: new (options: { contextSequence: LlamaSequence; systemPrompt?: string; autoDisposeSequence?: boolean }) => LlamaSession;
}
interface Llama {
  loadModel(options: { modelPath: string }): Promise<LlamaModel>;
  createGrammarForJsonSchema(schema: unknown): Promise<unknown>;
}
interface LlamaSequence {
  clearHistory(): Promise<void>;
}
interface LlamaModel {
  createContext(options: { contextSize: number }): Promise<{ getSequence(): LlamaSequence; dispose(): Promise<void> }>;
  tokenize(text: string): unknown[];
  dispose(): Promise<void>;
}
interface LlamaSession {
  prompt(text: string, options: { grammar?: unknown; maxTokens?: number; temperature?: number; seed?: number }): Promise<string>;
  dispose(options?: { disposeSequence?: boolean }): void;
}

export async function importLlama(): Promise<LlamaModule> {
  const name = "node-llama-cpp";
  try {
    return (await import(name)) as LlamaModule;
  } catch {
    throw new UserError("local models need the optional package node-llama-cpp: run `npm install node-llama-cpp`");
  }
}

export async function localChatModel(options: { spec: string; path: string; gpu?: boolean; contextSize?: number }): Promise<ChatTransport> {
  if (!existsSync(options.path)) throw new UserError("GGUF model file not found", { file: options.path });
  const llamaCpp = await importLlama();
  const llama = await llamaCpp.getLlama({ gpu: options.gpu ? "auto" : false, build: "never" });
  const model = await llama.loadModel({ modelPath: options.path });
  const grammars = new Map<string, unknown>();
  // One context and sequence, made once and used one request at a time (each item starts from an
  // empty history): creating a context per item costs far more than the item itself.
  const context = await model.createContext({ contextSize: options.contextSize ?? 2048 });
  const sequence = context.getSequence();
  let queue: Promise<unknown> = Promise.resolve();
  return {
    provider: "local",
    model: options.path,
    spec: options.spec,
    async complete(request: ChatRequest): Promise<ChatResponse> {
      const run = async (): Promise<ChatResponse> => {
        const key = request.labels.join("\u0000");
        if (request.structured && !grammars.has(key)) {
          grammars.set(key, await llama.createGrammarForJsonSchema(labelJsonSchema(request.labels)));
        }
        const system = request.messages.filter((m) => m.role === "system").map((m) => m.content).join("\n\n");
        const user = request.messages.filter((m) => m.role !== "system").map((m) => m.content).join("\n\n");
        const session = new llamaCpp.LlamaChatSession({ contextSequence: sequence, systemPrompt: system || undefined, autoDisposeSequence: false });
        try {
          const text = await session.prompt(user, {
            grammar: request.structured ? grammars.get(key) : undefined,
            maxTokens: request.maxTokens,
            temperature: request.temperature,
            seed: request.seed,
          });
          return {
            text,
            usage: { inputTokens: model.tokenize(system + user).length, cachedInputTokens: 0, outputTokens: model.tokenize(text).length },
            model: options.path,
          };
        } finally {
          session.dispose({ disposeSequence: false });
          await sequence.clearHistory();
        }
      };
      const result = queue.then(run, run);
      queue = result.catch(() => undefined);
      return result;
    },
    async close() {
      await context.dispose();
      await model.dispose();
    },
  };
}
