/** The strategies served (with their live audit and feedback state), feedback on answers, and the audit reset. */
import type { FastifyInstance } from "fastify";
import { snakeCaseKeys, type StrategyConfig } from "../../strategies/config.js";
import { memberRefs } from "../../strategies/registry.js";
import type { ServerContext } from "../context.js";
import { clip, refuse } from "../http-errors.js";
import { auditResetResponseSchema, errorSchema, feedbackRequestSchema, feedbackResponseSchema, strategiesResponseSchema } from "../schemas.js";

/** The model strings a strategy runs, its members' included. */
function modelsOf(config: StrategyConfig, byName: ReadonlyMap<string, StrategyConfig>): string[] {
  const own = config.type === "encoder" || config.type === "llm" ? [config.model] : [];
  return [...new Set([...own, ...memberRefs(config).flatMap(({ ref }) => {
    const target = typeof ref === "string" ? byName.get(ref) : ref;
    return target ? modelsOf(target, byName) : [];
  })])];
}

export function strategyRoutes(context: ServerContext) {
  const byName = new Map(context.file.strategies.map((c) => [c.name!, c]));
  return async (app: FastifyInstance): Promise<void> => {
    const liveState = (name: string) => {
      const monitor = context.monitors().get(name);
      if (!monitor) return {};
      const audit = monitor.snapshot();
      return snakeCaseKeys({ traffic: monitor.traffic(), liveAccuracy: monitor.liveAccuracy(), ...(audit ? { audit } : {}) }, []) as Record<string, unknown>;
    };

    app.get("/v1/strategies", { schema: { summary: "The strategies this server runs", response: { 200: strategiesResponseSchema } } }, async () => ({
      default: context.file.default,
      strategies: context.file.strategies.map((config) => {
        const built = context.strategies()?.strategies.get(config.name!);
        return {
          name: config.name!,
          type: config.type,
          labels: built ? [...built.labels] : [],
          models: modelsOf(config, byName),
          members: memberRefs(config).map(({ ref }) => (typeof ref === "string" ? ref : ref.type)),
          ...(config.type === "cascade" ? { tau: config.tau, ...(config.certificate ? { certificate: snakeCaseKeys(config.certificate, []) } : {}) } : {}),
          ...liveState(config.name!),
        };
      }),
    }));

    app.post(
      "/v1/feedback",
      { schema: { summary: "The right label for an earlier answer (by its id): live accuracy by member, and training data", body: feedbackRequestSchema, response: { 200: feedbackResponseSchema, "4xx": errorSchema } } },
      async (request, reply) => {
        const body = request.body as { id: string; label: string };
        const set = context.strategies();
        const labelStore = context.labelStore();
        if (!set || !labelStore) return refuse(reply, 503, "loading the models; try again shortly");
        const known = context.answers.recall(body.id) ?? (() => {
          const stored = labelStore!.get(body.id);
          return stored && stored.answer !== null ? { strategy: stored.strategy, text: stored.text ?? "", answeredBy: stored.answeredBy ?? "?", label: stored.answer } : undefined;
        })();
        if (!known) return refuse(reply, 404, `no answer with id "${clip(body.id)}": feedback is taken for the last ${context.answers.window} answers of this server process (held in memory, so not across a restart) and for every answer a cascade collected (LLM answers and audited ones, kept in the state database)`, "id");
        const strategy = set.strategies.get(known.strategy)!;
        if (!strategy.labels.includes(body.label)) return refuse(reply, 400, `label "${clip(body.label)}" is not one of ${strategy.labels.join(", ")}`, "label");
        const config = byName.get(known.strategy);
        const storeText = config?.type === "cascade" ? (config.storeTexts ?? true) : true;
        // A second feedback for the same answer replaces the first (in the store and in the counts).
        const previous = labelStore.feedback({ id: body.id, strategy: known.strategy, text: known.text, storeText, answeredBy: known.answeredBy, answer: known.label, label: body.label });
        const monitor = context.monitors().get(known.strategy)!;
        monitor.feedbackReceived(known.answeredBy, known.label, body.label, previous);
        return snakeCaseKeys({ id: body.id, strategy: known.strategy, answeredBy: known.answeredBy, answer: known.label, label: body.label, correct: known.label === body.label, liveAccuracy: monitor.liveAccuracy() }, []);
      },
    );

    app.post<{ Params: { name: string } }>(
      "/v1/strategies/:name/audit/reset",
      { schema: { summary: "Clears a cascade's audit evidence and its degraded state (an operator's decision)", params: { type: "object", required: ["name"], properties: { name: { type: "string" } } }, response: { 200: auditResetResponseSchema, "4xx": errorSchema } } },
      async (request, reply) => {
        const monitor = context.monitors().get(request.params.name);
        if (!monitor?.audit) return refuse(reply, 404, `no audited strategy "${request.params.name}"`);
        return { strategy: monitor.name, audit: snakeCaseKeys(monitor.reset(`reset through the API from ${request.ip}`), []) };
      },
    );
  };
}
