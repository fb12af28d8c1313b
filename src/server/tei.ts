/**
 * The request shape of Hugging Face's text-embeddings-inference (TEI) for sequence classification, so that
 * clients written for TEI work unchanged: `POST /predict` with `{"inputs": "text"}` (or a list of texts)
 * answers every label with its score, highest first (a list of such lists for a list of inputs);
 * `GET /info` describes the model. Both answer with the server's default strategy, through
 * `POST /v1/classify` itself (batching, the cascade's routing, the audit, metrics and keys included).
 */
import type { FastifyInstance } from "fastify";
import { errorSchema } from "./schemas.js";
import { refuse } from "./http-errors.js";
import type { ServerContext } from "./context.js";

const scoreList = { type: "array", items: { type: "object", required: ["label", "score"], properties: { label: { type: "string" }, score: { type: "number" } } } } as const;

const predictBody = {
  type: "object",
  required: ["inputs"],
  properties: {
    inputs: {
      description: "A text, or a list of texts (TEI's text pairs are not supported: tandem classifies single texts)",
      anyOf: [{ type: "string" }, { type: "array", minItems: 1, items: { anyOf: [{ type: "string" }, { type: "array", minItems: 1, maxItems: 1, items: { type: "string" } }] } }],
    },
    raw_scores: { type: "boolean", description: "Natural logarithms of the probabilities instead of the probabilities" },
    truncate: { type: "boolean", description: "Accepted for compatibility: tandem truncates at the model's length anyway" },
    truncation_direction: { type: "string", enum: ["Left", "Right", "left", "right"] },
  },
} as const;

const nullableInteger = { type: ["integer", "null"] } as const;
const infoSchema = {
  type: "object",
  required: ["model_id", "model_type"],
  properties: {
    model_id: { type: "string" },
    model_sha: { type: ["string", "null"] },
    model_dtype: { type: "string" },
    model_type: { type: "object", properties: { classifier: { type: "object", properties: { id2label: { type: "object", additionalProperties: { type: "string" } }, label2id: { type: "object", additionalProperties: { type: "integer" } } } } } },
    max_concurrent_requests: { type: "integer" },
    max_input_length: { type: "integer" },
    max_batch_tokens: nullableInteger,
    max_batch_requests: nullableInteger,
    max_client_batch_size: { type: "integer" },
    auto_truncate: { type: "boolean" },
    tokenization_workers: nullableInteger,
    version: { type: "string" },
  },
} as const;

interface ClassifyAnswer {
  labels: string[];
  results: Array<{ label: string; probabilities: Record<string, number> | null; status: string; error: string | null }>;
}

export function teiPlugin(context: ServerContext) {
  return async (app: FastifyInstance): Promise<void> => {
    app.post(
      "/predict",
      { schema: { summary: "Text classification in the request shape of text-embeddings-inference (TEI): every label with its score, highest first", body: predictBody, response: { 200: { anyOf: [scoreList, { type: "array", items: scoreList }] }, "4xx": errorSchema } } },
      async (request, reply) => {
        const body = request.body as { inputs: string | Array<string | string[]>; raw_scores?: boolean };
        const batch = Array.isArray(body.inputs);
        const texts = (batch ? (body.inputs as Array<string | string[]>) : [body.inputs as string]).map((input) => (Array.isArray(input) ? input[0]! : input));
        const answered = await app.inject({ method: "POST", url: "/v1/classify", headers: { "content-type": "application/json", ...(request.headers.authorization ? { authorization: request.headers.authorization } : {}) }, payload: { texts } });
        if (answered.statusCode !== 200) {
          const error = answered.json() as { error: string; field?: string };
          return refuse(reply, answered.statusCode, error.error.replace(/\btexts\b/g, "inputs"), error.field?.replace(/^texts/, "inputs"));
        }
        const result = answered.json() as ClassifyAnswer;
        const failed = result.results.findIndex((r) => r.status !== "ok");
        if (failed >= 0) return refuse(reply, 424, `inputs.${failed}: no label (${result.results[failed]!.error ?? result.results[failed]!.status})`, `inputs.${failed}`);
        const scores = result.results.map((r) => {
          // A strategy without probabilities (an LLM) gives its label all the mass.
          const probabilities = r.probabilities ?? Object.fromEntries(result.labels.map((label) => [label, label === r.label ? 1 : 0]));
          return Object.entries(probabilities).map(([label, p]) => ({ label, score: body.raw_scores ? Math.log(p) : p })).sort((a, b) => b.score - a.score);
        });
        return batch ? scores : scores[0];
      },
    );

    app.get("/info", { schema: { summary: "The served model, in the shape of text-embeddings-inference's /info", response: { 200: infoSchema } } }, async () => {
      const name = context.defaultStrategy;
      const strategy = context.strategies()?.strategies.get(name);
      const labels = strategy ? [...strategy.labels] : [];
      return {
        model_id: name,
        model_sha: null,
        model_dtype: "tandem",
        model_type: { classifier: { id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])), label2id: Object.fromEntries(labels.map((l, i) => [l, i])) } },
        max_concurrent_requests: context.options.maxQueue,
        max_input_length: context.options.maxTextLength,
        max_batch_tokens: null,
        max_batch_requests: null,
        max_client_batch_size: context.options.maxTexts,
        auto_truncate: true,
        tokenization_workers: null,
        version: "tandem",
      };
    });
  };
}
