/**
 * What the server's route plugins share: the strategies once loaded, their monitors, the label store, the
 * limits and admission, and the recent answers that feedback refers to. Built once by startServer.
 */
import type { FastifyReply } from "fastify";
import type { StrategyFile, StrategySet } from "../strategies/factory.js";
import type { ServeOptions } from "./app.js";
import type { LabelStore } from "./label-store.js";
import type { ServerMetrics } from "./metrics.js";
import type { StrategyMonitor } from "./monitor.js";

/** An answer remembered for POST /v1/feedback. */
export interface RecentAnswer {
  strategy: string;
  text: string;
  answeredBy: string;
  label: string;
}

export interface ServerContext {
  strategies: () => StrategySet | undefined;
  /** Live state per strategy (audit, feedback, traffic), once the strategies are loaded. */
  monitors: () => ReadonlyMap<string, StrategyMonitor>;
  /** Why the models did not load (undefined while loading and once loaded). */
  loadError: () => unknown;
  /** What served cascades collect (audit pairs, paid LLM answers, feedback), once the models are loaded. */
  labelStore: () => LabelStore | undefined;
  /** The strategies served, as configured, and the default. */
  file: StrategyFile;
  defaultStrategy: string;
  metrics: ServerMetrics;
  options: Required<Pick<ServeOptions, "maxTexts" | "maxTextLength" | "requestTimeoutMs" | "maxQueue">>;
  /** Refuses work beyond the queue limit: false (and a 429 sent) when the server is full. */
  admit(reply: FastifyReply, texts: number): boolean;
  /** Texts of the requests being answered now (what admission counts besides the batchers' queues). */
  inFlight: { add(texts: number): void; done(texts: number): void };
  /** The most recent answers by id (the oldest dropped first), for feedback. */
  answers: { remember(id: string, answer: RecentAnswer): void; recall(id: string): RecentAnswer | undefined; window: number };
}
