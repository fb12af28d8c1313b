/**
 * Ctrl-C / SIGTERM for long runs. First signal: stop dispatching, let calls in flight land in the cache
 * (nothing paid is lost), then finish cleanly. Second: abort the calls in flight too.
 */
import { setMaxListeners } from "node:events";

export interface Interruption {
  /** Aborted on the first signal: stop dispatching new calls. */
  stop: AbortSignal;
  /** Aborted on the second: abandon calls in flight. */
  hard: AbortSignal;
  dispose(): void;
}

export function interruptible(): Interruption {
  const stop = new AbortController();
  const hard = new AbortController();
  setMaxListeners(0, hard.signal, stop.signal);
  const onSignal = () => {
    if (!stop.signal.aborted) {
      stop.abort();
      process.stderr.write("\nstopping: waiting for the calls in flight (Ctrl-C again to abandon them)\n");
    } else hard.abort(new Error("interrupted"));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    stop: stop.signal,
    hard: hard.signal,
    dispose() {
      process.removeListener("SIGINT", onSignal);
      process.removeListener("SIGTERM", onSignal);
    },
  };
}
