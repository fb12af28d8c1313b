/** The service's Prometheus metrics (prom-client), on a registry of its own so that servers in one process stay apart. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export interface ServerMetrics {
  registry: Registry;
  requests: Counter<"route" | "method" | "status">;
  latency: Histogram<"route">;
  batchSize: Histogram;
  items: Counter<"strategy" | "answered_by" | "status">;
  llmItems: Counter<"strategy">;
  cost: Counter<"strategy">;
  cacheHits: Counter<"strategy">;
  queueDepth: Gauge;
  rejected: Counter<"reason">;
  confidence: Histogram<"strategy" | "member">;
  llmShareHour: Gauge<"strategy">;
  auditItems: Counter<"strategy" | "outcome">;
  auditAgreement: Gauge<"strategy" | "quantity">;
  auditLower: Gauge<"strategy" | "quantity">;
  auditUpper: Gauge<"strategy" | "quantity">;
  auditEvidence: Gauge<"strategy" | "quantity">;
  auditTarget: Gauge<"strategy" | "quantity">;
  auditCost: Counter<"strategy">;
  degraded: Gauge<"strategy">;
  feedback: Counter<"strategy" | "answered_by" | "correct">;
  liveAccuracy: Gauge<"strategy" | "answered_by">;
}

export function createMetrics(queueDepth: () => number): ServerMetrics {
  const registry = new Registry();
  // Node's own metrics as tandem_process_cpu_seconds_total, tandem_nodejs_heap_size_used_bytes, …
  collectDefaultMetrics({ register: registry, prefix: "tandem_" });
  return {
    registry,
    requests: new Counter({ name: "tandem_http_requests_total", help: "HTTP requests by route, method and status", labelNames: ["route", "method", "status"], registers: [registry] }),
    latency: new Histogram({ name: "tandem_http_request_duration_seconds", help: "Request latency", labelNames: ["route"], buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [registry] }),
    batchSize: new Histogram({ name: "tandem_encoder_batch_size", help: "Texts per encoder call (dynamic batching)", buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256], registers: [registry] }),
    items: new Counter({ name: "tandem_items_total", help: "Texts classified, by strategy, the member that answered and status", labelNames: ["strategy", "answered_by", "status"], registers: [registry] }),
    llmItems: new Counter({ name: "tandem_llm_items_total", help: "Texts answered by an LLM (LLM share = this / tandem_items_total)", labelNames: ["strategy"], registers: [registry] }),
    cost: new Counter({ name: "tandem_cost_usd_total", help: "Dollars of LLM answers (cache hits count their original price)", labelNames: ["strategy"], registers: [registry] }),
    cacheHits: new Counter({ name: "tandem_llm_cache_hits_total", help: "LLM answers served from the response cache", labelNames: ["strategy"], registers: [registry] }),
    queueDepth: new Gauge({ name: "tandem_queue_depth", help: "Texts accepted and not yet answered", registers: [registry], collect() {
      this.set(queueDepth());
    } }),
    rejected: new Counter({ name: "tandem_rejected_total", help: "Requests refused before work: load shedding, limits, auth", labelNames: ["reason"], registers: [registry] }),
    confidence: new Histogram({ name: "tandem_confidence", help: "Top class probability of answers, by strategy and the member that answered", labelNames: ["strategy", "member"], buckets: [0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.99, 1], registers: [registry] }),
    llmShareHour: new Gauge({ name: "tandem_llm_share_last_hour", help: "Share of texts answered by an LLM over the last 60 minutes", labelNames: ["strategy"], registers: [registry] }),
    auditItems: new Counter({ name: "tandem_audit_items_total", help: "Audit sample: agree, disagree (kept answers asked of the LLM), agree_routed (drawn answers the LLM gave), failed, dropped (queue full), over_budget, over_rate", labelNames: ["strategy", "outcome"], registers: [registry] }),
    auditAgreement: new Gauge({ name: "tandem_audit_agreement", help: "The watched quantity since the last reset (quantity: agreement_cascade = the cascade's answers equal to the LLM's alone, agreement_encoder = the encoder's kept answers, accuracy_* from feedback)", labelNames: ["strategy", "quantity"], registers: [registry] }),
    auditLower: new Gauge({ name: "tandem_audit_agreement_lower_bound", help: "Anytime-valid lower confidence bound of the watched quantity (Howard et al. 2021)", labelNames: ["strategy", "quantity"], registers: [registry] }),
    auditUpper: new Gauge({ name: "tandem_audit_agreement_upper_bound", help: "Anytime-valid upper confidence bound of the watched quantity", labelNames: ["strategy", "quantity"], registers: [registry] }),
    auditEvidence: new Gauge({ name: "tandem_audit_evidence", help: "The drift test's wealth against quantity ≥ target (degraded at 1/(1 − confidence))", labelNames: ["strategy", "quantity"], registers: [registry] }),
    auditTarget: new Gauge({ name: "tandem_audit_target", help: "The target the drift test holds the watched quantity to (the certificate's, or audit.target)", labelNames: ["strategy", "quantity"], registers: [registry] }),
    auditCost: new Counter({ name: "tandem_audit_cost_usd_total", help: "Dollars of audit calls", labelNames: ["strategy"], registers: [registry] }),
    degraded: new Gauge({ name: "tandem_strategy_degraded", help: "1 while the audit rejects the watched quantity's target (until reset)", labelNames: ["strategy"], registers: [registry] }),
    feedback: new Counter({ name: "tandem_feedback_total", help: "Feedback received, by the member that had answered and whether it was right", labelNames: ["strategy", "answered_by", "correct"], registers: [registry] }),
    liveAccuracy: new Gauge({ name: "tandem_live_accuracy", help: "Accuracy from feedback, by the member that answered", labelNames: ["strategy", "answered_by"], registers: [registry] }),
  };
}
