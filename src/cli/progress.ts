/** A progress bar on stderr for long work (items/s and ETA); silent when stderr is not a terminal. */
import cliProgress from "cli-progress";

export interface ProgressReporter {
  update(done: number, extra?: Record<string, string>): void;
  stop(): void;
}

/** A progress bar; with total 0 (unknown, e.g. a file read as it streams) a counter with the rate. */
export function progressBar(total: number, label: string, enabled = Boolean(process.stderr.isTTY)): ProgressReporter {
  if (!enabled) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      format: total > 0 ? `${label} [{bar}] {value}/{total} | {percentage}% | {rate} items/s | ETA {eta_formatted}{extra}` : `${label} {value} rows | {rate} items/s{extra}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = performance.now();
  bar.start(total, 0, { rate: "0", extra: "" });
  return {
    update(done, extra) {
      const seconds = (performance.now() - started) / 1000;
      const suffix = extra ? " | " + Object.entries(extra).map(([k, v]) => `${k} ${v}`).join(" | ") : "";
      bar.update(done, { rate: seconds > 0 ? (done / seconds).toFixed(1) : "0", extra: suffix });
    },
    stop() {
      bar.stop();
    },
  };
}
