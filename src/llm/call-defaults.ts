/**
 * The defaults of an LLM call, in one place: the strategy schema documents them, the CLI's flags show
 * them, and the LLM strategy and the runner apply them (a library caller of either gets the same).
 */
export const CALL_DEFAULTS = {
  temperature: 0,
  /** Alternatives per token when log-probabilities are asked for (1–20). */
  topLogprobs: 5,
  /** Seconds before a request is given up (and retried). */
  timeoutSeconds: 60,
  /** Requests in flight. */
  concurrency: 8,
  /** Retries of a failed request (429, 5xx, timeouts, malformed answers). */
  retries: 6,
  structured: "auto",
  logprobs: "auto",
} as const;
