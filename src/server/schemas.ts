/** JSON schemas of the HTTP API: request validation, response serialization and the OpenAPI document. */

export const errorSchema = {
  type: "object",
  properties: { error: { type: "string" }, field: { type: "string" } },
  required: ["error"],
} as const;

export const classifyRequestSchema = {
  type: "object",
  additionalProperties: false,
  required: ["texts"],
  properties: {
    texts: { type: "array", minItems: 1, items: { type: "string" }, description: "The texts to classify" },
    strategy: { type: "string", minLength: 1, description: "A strategy name from GET /v1/strategies (default: the server's default)" },
  },
} as const;

const resultSchema = {
  type: "object",
  required: ["label", "probabilities", "answered_by", "status", "cost_usd"],
  properties: {
    label: { type: "string", description: 'The label, or "" when there is none' },
    probabilities: { type: ["object", "null"], additionalProperties: { type: "number" }, description: "Probability per label, when the strategy has them" },
    answered_by: { type: ["string", "null"], description: "The member that answered (a cascade's encoder or LLM)" },
    status: { type: "string", enum: ["ok", "unparseable", "error", "skipped"] },
    error: { type: ["string", "null"], description: "Why there is no label" },
    raw: { type: ["string", "null"], description: "The LLM's answer as written" },
    input_tokens: { type: "integer" },
    output_tokens: { type: "integer" },
    cost_usd: { type: "number" },
    latency_ms: { type: ["number", "null"] },
    cached: { type: "boolean", description: "Answered from the LLM response cache" },
  },
} as const;

export const classifyResponseSchema = {
  type: "object",
  required: ["strategy", "labels", "results", "totals"],
  properties: {
    strategy: { type: "string" },
    labels: { type: "array", items: { type: "string" } },
    results: { type: "array", items: resultSchema },
    totals: {
      type: "object",
      required: ["texts", "ok", "unparseable", "error", "skipped", "llm_share", "cost_usd", "input_tokens", "output_tokens", "seconds"],
      properties: {
        texts: { type: "integer" },
        ok: { type: "integer" },
        unparseable: { type: "integer" },
        error: { type: "integer" },
        skipped: { type: "integer" },
        llm_share: { type: "number", description: "Share of texts answered by an LLM" },
        cost_usd: { type: "number" },
        input_tokens: { type: "integer" },
        output_tokens: { type: "integer" },
        seconds: { type: "number" },
      },
    },
  },
} as const;

/** A cascade's certificate as its strategy file records it (snake_case, numbers as certified). */
export const certificateSchema = {
  type: "object",
  required: ["metric", "on", "target", "confidence", "lower_bound", "certified", "calibration_rows", "calibration_hash"],
  properties: {
    metric: { type: "string", enum: ["accuracy", "agreement"] },
    on: { type: "string", enum: ["cascade", "encoder"] },
    target: { type: "number" },
    confidence: { type: "number" },
    lower_bound: { type: ["number", "null"] },
    certified: { type: "boolean" },
    calibration_rows: { type: "integer" },
    calibration_hash: { type: "string" },
    method: { type: "string" },
    held_out: { type: "object", additionalProperties: { type: ["number", "null"] } },
    created_at: { type: "string" },
  },
} as const;

export const strategiesResponseSchema = {
  type: "object",
  required: ["default", "strategies"],
  properties: {
    default: { type: "string" },
    strategies: {
      type: "array",
      items: {
        type: "object",
        required: ["name", "type", "labels", "models", "members"],
        properties: {
          name: { type: "string" },
          type: { type: "string", enum: ["lexicon", "encoder", "llm", "cascade", "ensemble"] },
          labels: { type: "array", items: { type: "string" } },
          models: { type: "array", items: { type: "string" } },
          members: { type: "array", items: { type: "string" } },
          /** Cascades: the threshold, and the certificate when the strategy file carries one. */
          tau: { type: "number" },
          certificate: certificateSchema,
        },
      },
    },
  },
} as const;
