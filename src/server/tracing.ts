/**
 * Optional OpenTelemetry traces of `tandem serve`, through the official SDK and its OTLP/HTTP exporter,
 * off unless an endpoint is configured (--otlp-endpoint, or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT /
 * OTEL_EXPORTER_OTLP_ENDPOINT). Spans (src/core/spans.ts): the request, the encoder's gathered batch
 * and its call, and each LLM call, the latter with the GenAI semantic conventions (gen_ai.operation.name,
 * gen_ai.provider.name, gen_ai.request.model, gen_ai.usage.input_tokens / output_tokens) and
 * tandem.cost_usd.
 */
import { context, trace } from "@opentelemetry/api";
import { loadOptional } from "../core/optional.js";

/** The traces endpoint configured by flag or environment, if any (…/v1/traces). */
export function otlpTracesEndpoint(flag?: string): string | undefined {
  if (flag) return /\/v1\/traces\/?$/.test(flag) ? flag : `${flag.replace(/\/$/, "")}/v1/traces`;
  if (process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (process.env.OTEL_EXPORTER_OTLP_ENDPOINT) return `${process.env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/$/, "")}/v1/traces`;
  return undefined;
}

export interface Tracing {
  endpoint: string;
  shutdown(): Promise<void>;
}

/** Registers the SDK's tracer provider globally, exporting to `endpoint` in batches (loaded only when used). */
export async function startTracing(endpoint: string, serviceName = "tandem"): Promise<Tracing> {
  const [{ TracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, { AsyncLocalStorageContextManager }, { resourceFromAttributes }] = await loadOptional("tracing", () => Promise.all([
    import("@opentelemetry/sdk-trace"),
    import("@opentelemetry/exporter-trace-otlp-http"),
    import("@opentelemetry/context-async-hooks"),
    import("@opentelemetry/resources"),
  ]));
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ "service.name": serviceName }),
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: endpoint }), scheduledDelayMillis: 1000 })],
  });
  trace.setGlobalTracerProvider(provider);
  return {
    endpoint,
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      context.disable();
    },
  };
}
