/**
 * Optional parts of tandem (the HTTP service, jobs on Redis, tracing, the Mistral and Together
 * fine-tuning SDKs) live in optional peer dependencies, so that a library user who classifies with the
 * starter does not install a web framework, a queue and three vendor SDKs. Loading one that is missing
 * is a one-line error naming what to install.
 */
import { UserError } from "./errors.js";

/** The packages of each optional part, as `npm install` takes them. */
export const OPTIONAL_PARTS = {
  server: ["fastify", "@fastify/multipart", "@fastify/swagger", "@fastify/swagger-ui", "prom-client"],
  redis: ["bullmq", "ioredis"],
  tracing: ["@opentelemetry/sdk-trace", "@opentelemetry/exporter-trace-otlp-http", "@opentelemetry/context-async-hooks", "@opentelemetry/resources"],
  mistral: ["@mistralai/mistralai"],
  together: ["together-ai"],
} as const;

export type OptionalPart = keyof typeof OPTIONAL_PARTS;

const USES: Record<OptionalPart, string> = {
  server: "the HTTP service (tandem serve, tandem view, tandem/server)",
  redis: "jobs on Redis (--redis, tandem worker)",
  tracing: "OpenTelemetry traces (--otlp-endpoint)",
  mistral: "fine-tuning on Mistral",
  together: "fine-tuning on Together",
};

/** Runs `load`; a missing package of the part becomes one line saying what to install. */
export async function loadOptional<T>(part: OptionalPart, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    const packages: readonly string[] = OPTIONAL_PARTS[part];
    if ((code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") && packages.some((name) => message.includes(`'${name}'`) || message.includes(`"${name}"`))) {
      throw new UserError(`${USES[part]} needs packages that are not installed: npm install ${packages.join(" ")} (optional dependencies of tandem)`);
    }
    throw error;
  }
}
