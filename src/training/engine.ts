/**
 * The bridge to the PyTorch engine (engines/torch): finds a Python that has torch, runs an engine
 * module, and turns its JSON-line events into callbacks; the engine's own error message becomes the
 * user's error.
 */
import { spawn, spawnSync } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { UserError } from "../core/errors.js";

export const ENGINE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "engines", "torch");

export interface EngineEvent {
  event: string;
  [key: string]: unknown;
}

let found: string | undefined;

/** TANDEM_PYTHON, else the first of python3, /usr/bin/python3, python that can import torch. */
export function findPython(): string {
  if (found) return found;
  const candidates = [process.env.TANDEM_PYTHON, "python3", "/usr/bin/python3", "python"].filter((c): c is string => Boolean(c));
  for (const candidate of candidates) {
    const probe = spawnSync(candidate, ["-c", "import torch; print(torch.__version__)"], { encoding: "utf8" });
    if (probe.status === 0) return (found = candidate);
    if (candidate === process.env.TANDEM_PYTHON) throw new UserError(`TANDEM_PYTHON=${candidate} cannot import torch (${(probe.stderr || probe.error?.message || "").trim().split("\n").pop()})`);
  }
  throw new UserError("the training engine needs Python with PyTorch: install torch (pip install torch, or Debian's python3-torch), or point TANDEM_PYTHON at a Python that has it");
}

export function hasTorch(): boolean {
  try {
    findPython();
    return true;
  } catch {
    return false;
  }
}

/** Runs `python -m tandem_torch.<module> ...args` (or a launcher such as torchrun), streaming JSON events. */
export function runEngine(
  module: string,
  args: string[],
  options: { onEvent?: (event: EngineEvent) => void; launcher?: string[]; env?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<EngineEvent[]> {
  const python = findPython();
  const command = options.launcher ? options.launcher[0]! : python;
  const commandArgs = options.launcher ? [...options.launcher.slice(1), "-m", `tandem_torch.${module}`, ...args] : ["-m", `tandem_torch.${module}`, ...args];
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, commandArgs, { cwd: ENGINE_DIR, env: { ...process.env, PYTHONPATH: ENGINE_DIR, PYTHONUNBUFFERED: "1", ...options.env }, signal: options.signal });
    const events: EngineEvent[] = [];
    let buffer = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      buffer += chunk;
      let newline = buffer.indexOf("\n");
      while (newline >= 0) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf("\n");
        if (!line.startsWith("{")) continue;
        try {
          const event = JSON.parse(line) as EngineEvent;
          events.push(event);
          options.onEvent?.(event);
        } catch {
          // Not an event line (a library printing to stdout): ignore.
        }
      }
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr = (stderr + chunk).slice(-20_000)));
    child.on("error", (error) => reject(new UserError(`cannot start the training engine (${error.message})`)));
    child.on("close", (code) => {
      const failure = events.find((e) => e.event === "error");
      if (failure) return reject(new UserError(`training engine: ${String(failure.message)}`));
      if (code !== 0) {
        const last = stderr.trim().split("\n").filter((l) => l.trim()).slice(-1)[0] ?? `exit code ${code}`;
        return reject(new UserError(`training engine failed: ${last}`));
      }
      resolvePromise(events);
    });
  });
}
