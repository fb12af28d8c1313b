// Shared test helpers: temporary files, the shared data folder, and running the built CLI.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const SHARED = resolve(ROOT, "..", "shared");

let folder: string | undefined;
export function tempDir(): string {
  return (folder ??= mkdtempSync(join(tmpdir(), "tandem-test-")));
}

export function tempFile(name: string, content: string | Uint8Array): string {
  const file = join(tempDir(), name);
  writeFileSync(file, content);
  return file;
}

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs the built `tandem` (dist/, made by `npm test`'s build step). */
export function runCli(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): CliResult {
  const result = spawnSync(process.execPath, [join(ROOT, "dist", "cli", "main.js"), ...args], {
    cwd: options.cwd ?? ROOT,
    encoding: "utf8",
    env: { ...process.env, ...options.env },
  });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** Like runCli, without blocking this process (needed when this process hosts a server the CLI calls). */
export function runCliAsync(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, "dist", "cli", "main.js"), ...args], {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, ...options.env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("close", (status) => resolve({ status: status ?? -1, stdout, stderr }));
  });
}

/** Starts the built `tandem serve` and resolves with its address once it logs "ready on"; stdout (its JSON log) is kept too. */
export async function spawnServe(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<{ url: string; child: ChildProcess; stderr: () => string; log: () => string }> {
  const child = spawn(process.execPath, [join(ROOT, "dist", "cli", "main.js"), "serve", ...args], { cwd: options.cwd ?? ROOT, env: { ...process.env, ...options.env } });
  let stderr = "";
  let log = "";
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (log += chunk));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line: ${stderr}`)), 60_000);
    child.stderr!.on("data", () => {
      const match = /ready on (http:\/\/\S+)/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited ${code}: ${stderr}`));
    });
  });
  return { url, child, stderr: () => stderr, log: () => log };
}

/** A seeded uniform generator (mulberry32): simulations repeat exactly. */
export function seededUniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
