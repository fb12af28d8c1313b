/**
 * Progress of long work on stderr: a bar with the total, percentage, items/s and ETA on a terminal; where
 * stderr is not a terminal (a log file, CI), a plain line every 10 seconds and one at the end.
 * `TANDEM_PROGRESS=bar|plain|none` (or a command's --progress) chooses.
 */
import cliProgress from "cli-progress";

export interface ProgressReporter {
  update(done: number, extra?: Record<string, string>): void;
  stop(): void;
}

export type ProgressMode = "auto" | "bar" | "plain" | "none";

export const PROGRESS_MODES = ["auto", "bar", "plain", "none"] as const;

function chosenMode(mode: ProgressMode): Exclude<ProgressMode, "auto"> {
  const env = (process.env.TANDEM_PROGRESS ?? "").trim().toLowerCase();
  const wanted = mode !== "auto" ? mode : env === "bar" || env === "plain" || env === "none" ? env : "auto";
  if (wanted !== "auto") return wanted;
  return process.stderr.isTTY ? "bar" : "plain";
}

const PLAIN_INTERVAL_MS = 10_000;

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** A progress reporter; with total 0 (unknown) it counts with the rate. */
export function progressBar(total: number, label: string, mode: ProgressMode = "auto"): ProgressReporter {
  const chosen = chosenMode(mode);
  if (chosen === "none") return { update() {}, stop() {} };
  const started = performance.now();
  if (chosen === "plain") {
    let last = started;
    let done = 0;
    let suffix = "";
    const line = () => {
      const seconds = (performance.now() - started) / 1000;
      const rate = seconds > 0 ? done / seconds : 0;
      const of = total > 0 ? `${done.toLocaleString("en-US")}/${total.toLocaleString("en-US")} (${((done / total) * 100).toFixed(1)}%)` : `${done.toLocaleString("en-US")}`;
      const eta = total > 0 && rate > 0 && done < total ? `, ETA ${duration((total - done) / rate)}` : "";
      process.stderr.write(`${label}: ${of}, ${rate.toFixed(1)} items/s${eta}, ${duration(seconds)} so far${suffix}\n`);
    };
    return {
      update(value, extra) {
        done = value;
        suffix = extra ? "; " + Object.entries(extra).map(([k, v]) => `${k} ${v}`).join("; ") : "";
        const now = performance.now();
        if (now - last >= PLAIN_INTERVAL_MS) {
          last = now;
          line();
        }
      },
      stop() {
        if (performance.now() - started >= PLAIN_INTERVAL_MS) line();
      },
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: total > 0 ? `${label} [{bar}] {value}/{total} | {percentage}% | {rate} items/s | ETA {eta_formatted}{extra}` : `${label} {value} rows | {rate} items/s{extra}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
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
