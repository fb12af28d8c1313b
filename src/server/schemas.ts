/** JSON schemas of the HTTP API: request validation, response serialization and the OpenAPI document. */

import { STRATEGY_TYPES } from "../strategies/config.js";

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
    id: { type: "string", description: "This answer's id: POST /v1/feedback with it and the right label" },
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

const liveAccuracySchema = {
  type: "object",
  required: ["answered_by", "n", "correct", "accuracy", "lower_bound", "upper_bound"],
  properties: { answered_by: { type: "string" }, n: { type: "integer" }, correct: { type: "integer" }, accuracy: { type: "number" }, lower_bound: { type: "number" }, upper_bound: { type: "number" } },
} as const;

/** A cascade's audit: the watched quantity (what its certificate bounds) since the last reset, and the drift state. */
export const auditSchema = {
  type: "object",
  required: ["share", "quantity", "metric", "on", "target", "confidence", "audited", "agreement", "lower_bound", "upper_bound", "evidence", "degraded"],
  properties: {
    share: { type: "number" },
    quantity: { type: "string", description: "The watched quantity in words: what the bounds bound and the target tests (e.g. agreement of the cascade's answers with the LLM alone)" },
    metric: { type: "string", enum: ["agreement", "accuracy"] },
    on: { type: "string", enum: ["cascade", "encoder"], description: "cascade: every answer of the cascade; encoder: the answers the encoder keeps" },
    target_from: { type: "string", enum: ["certificate", "audit"], description: "the target is the certificate's, or audit.target" },
    outcomes_from: { type: "string", enum: ["audit", "feedback"], description: "agreement: the audit sample; accuracy: feedback" },
    target: { type: "number" },
    confidence: { type: "number" },
    on_degraded: { type: "string", enum: ["none", "llm"] },
    audited: { type: "integer", description: "outcomes of the watched quantity since the last reset" },
    agreed: { type: "integer", description: "of which successes (agreed, or right)" },
    agreement: { type: ["number", "null"], description: "the watched quantity's estimate (agreed / audited)" },
    lower_bound: { type: "number", description: "Anytime-valid lower confidence bound of the watched quantity (Howard et al. 2021)" },
    upper_bound: { type: "number" },
    evidence: { type: "number", description: "The drift test's wealth against quantity ≥ target; degraded at 1 / (1 − confidence)" },
    recent_agreement: { type: ["number", "null"], description: "The watched quantity over the last 100 outcomes" },
    degraded: { type: "boolean" },
    degraded_since: { type: ["string", "null"] },
    degraded_at_audit: { type: ["integer", "null"], description: "the outcome (counted since the reset) at which the alarm fired" },
    llm_calls: { type: "integer", description: "audit calls to the LLM (kept answers drawn into the sample)" },
    sample: {
      type: "object",
      description: "The uniform sample collected since the reset: the rows the next distill may calibrate on",
      properties: {
        rows: { type: "integer" },
        cascade_agreement: { type: ["number", "null"], description: "the cascade's agreement with the LLM on them" },
        rows_to_recertify: { type: ["integer", "null"], description: "calibration rows a certificate at the target needs to certify the current τ at that agreement (null: not reachable)" },
      },
    },
    queued: { type: "integer" },
    dropped: { type: "object", additionalProperties: { type: "integer" } },
    cost_today_usd: { type: "number" },
    since: { type: "string" },
  },
} as const;

export const feedbackRequestSchema = {
  type: "object",
  additionalProperties: false,
  required: ["id", "label"],
  properties: {
    id: { type: "string", minLength: 1, description: "The id of an earlier classify result" },
    label: { type: "string", minLength: 1, description: "The right label" },
  },
} as const;

export const feedbackResponseSchema = {
  type: "object",
  required: ["id", "strategy", "answered_by", "answer", "label", "correct", "live_accuracy"],
  properties: {
    id: { type: "string" },
    strategy: { type: "string" },
    answered_by: { type: "string" },
    answer: { type: "string" },
    label: { type: "string" },
    correct: { type: "boolean" },
    live_accuracy: { type: "array", items: liveAccuracySchema },
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
          type: { type: "string", enum: [...STRATEGY_TYPES] },
          labels: { type: "array", items: { type: "string" } },
          models: { type: "array", items: { type: "string" } },
          members: { type: "array", items: { type: "string" } },
          /** Cascades: the threshold, and the certificate when the strategy file carries one. */
          tau: { type: "number" },
          certificate: certificateSchema,
          audit: auditSchema,
          traffic: {
            type: "object",
            properties: { texts: { type: "integer", description: "texts answered since start" }, llm_share: { type: "number" }, llm_share_last_hour: { type: "number" } },
          },
          live_accuracy: { type: "array", items: liveAccuracySchema, description: "Accuracy from feedback by the member that answered, with anytime-valid bounds" },
        },
      },
    },
  },
} as const;

/** GET /healthz. */
export const healthSchema = { type: "object", required: ["status"], properties: { status: { type: "string", enum: ["ok"] } } } as const;

/** GET /readyz: ready with the strategies (and the degraded ones), or loading / failed with the reason. */
export const readySchema = {
  type: "object",
  required: ["status"],
  properties: {
    status: { type: "string", enum: ["ready", "loading", "failed"] },
    strategies: { type: "array", items: { type: "string" } },
    degraded: { type: "array", items: { type: "string" } },
    error: { type: "string" },
  },
} as const;

/** POST /v1/strategies/{name}/audit/reset: the audit after the reset. */
export const auditResetResponseSchema = { type: "object", required: ["strategy", "audit"], properties: { strategy: { type: "string" }, audit: auditSchema } } as const;
