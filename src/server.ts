/**
 * `tandem/server`: the HTTP service as a library — the server, its jobs API and its web app — kept off
 * the main entry point so that importing `tandem` does not load the HTTP framework, Redis clients or
 * metrics.
 */
export { startServer, type ServeOptions, type ServerContext, type RunningServer } from "./server/app.js";
export type { RecentAnswer } from "./server/context.js";
export { jobsPlugin } from "./server/jobs.js";
export { batchingStrategy, SERVED_ENCODER_DEFAULTS, type BatchingOptions, type BatchingStrategy } from "./server/batcher.js";
export { viewPlugin, type ViewOptions } from "./server/view.js";
export { StrategyMonitor, auditSettings, type AuditSettings, type AuditSnapshot, type LiveAccuracy, type SeriesPoint } from "./server/monitor.js";
export { LabelStore, exportLabels, textHash, EXPORT_COLUMNS, type CollectedAnswer, type StoredLabel, type ExportedLabels } from "./server/label-store.js";
export { startTracing, otlpTracesEndpoint, type Tracing } from "./server/tracing.js";
export { startGateway, type Gateway, type GatewayOptions } from "./gateway/app.js";
