/**
 * Spans for OpenTelemetry traces (see src/server/tracing.ts, which registers the SDK when an OTLP
 * endpoint is configured). Through @opentelemetry/api only: without a registered SDK its tracer is a
 * no-op, so the spans cost next to nothing.
 */
import { trace, SpanKind, SpanStatusCode, type Attributes, type Span } from "@opentelemetry/api";

export const tracer = () => trace.getTracer("tandem");

/** Runs `work` inside a span (the span ends when it settles; an exception marks it as an error). */
export async function inSpan<T>(name: string, attributes: Attributes, work: (span: Span) => Promise<T>, kind: SpanKind = SpanKind.INTERNAL): Promise<T> {
  return tracer().startActiveSpan(name, { kind, attributes }, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
      throw error;
    } finally {
      span.end();
    }
  });
}

export { SpanKind, SpanStatusCode };
