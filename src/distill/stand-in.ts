/**
 * A stand-in teacher for trying the distill → serve → audit loop with no key and no network: a local HTTP
 * server speaking the OpenAI chat-completions protocol (so tandem talks to it as `compat:URL#stand-in`,
 * exactly as to a real LLM) that answers each prompt with a label it looks up — the known label of the
 * text the prompt holds — and, for a text it does not know, the VADER lexicon's label. It is not an LLM,
 * and everything that uses it says so.
 */
import { createServer, type Server } from "node:http";
import { lexiconPrediction } from "../strategies/lexicon.js";

export interface StandInTeacher {
  /** The base URL (…/v1) for `compat:URL#stand-in`. */
  url: string;
  /** Chat completions answered. */
  answered: () => number;
  close(): Promise<void>;
}

const squash = (text: string) => text.replace(/\s+/g, " ").trim();

/** Starts the stand-in on a free port of 127.0.0.1; `labels` maps texts to the answers it gives. */
export async function startStandInTeacher(labels: ReadonlyMap<string, string>): Promise<StandInTeacher> {
  const known = [...labels].map(([text, label]) => [squash(text), label] as const).filter(([text]) => text.length > 0);
  // Longest first: a short text inside a longer one's prompt must not win.
  known.sort((a, b) => b[0].length - a[0].length);
  let answered = 0;
  const answer = (prompt: string): string => {
    const flat = squash(prompt);
    for (const [text, label] of known) if (flat.includes(text)) return label;
    return lexiconPrediction(flat).label;
  };
  const server: Server = createServer((request, response) => {
    let body = "";
    request.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
    request.on("end", () => {
      if (request.method !== "POST" || !request.url?.endsWith("/chat/completions")) {
        response.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: "the stand-in teacher answers POST /v1/chat/completions only" } }));
        return;
      }
      let parsed: { messages?: Array<{ role: string; content: unknown }>; model?: string };
      try {
        parsed = JSON.parse(body);
      } catch {
        response.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: "the body is not JSON" } }));
        return;
      }
      const prompt = (parsed.messages ?? []).filter((m) => m.role === "user").map((m) => (typeof m.content === "string" ? m.content : JSON.stringify(m.content))).join("\n");
      const label = answer(prompt);
      answered++;
      response.writeHead(200, { "content-type": "application/json" }).end(
        JSON.stringify({
          id: `stand-in-${answered}`,
          object: "chat.completion",
          created: Math.floor(Date.now() / 1000),
          model: parsed.model ?? "stand-in",
          choices: [{ index: 0, message: { role: "assistant", content: label }, finish_reason: "stop", logprobs: null }],
          usage: { prompt_tokens: Math.ceil(prompt.length / 4), completion_tokens: 1, total_tokens: Math.ceil(prompt.length / 4) + 1 },
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    answered: () => answered,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
