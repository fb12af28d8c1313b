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
}

export function createMetrics(queueDepth: () => number): ServerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "tandem_process_" });
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
  };
}
