/**
 * A task's distill, in a child process (`tandem distill --teacher-labels …`): the gateway's event loop
 * never runs an embedding or a training step, so no request waits on it.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { redact } from "../core/redact.js";
import { csvField } from "../data/writers.js";
import type { GatewayTask } from "./config.js";
import type { StudentRecord } from "./store.js";

/** This tandem's CLI, run with the same Node and loader flags (tsx in development, none when built). */
export function tandemCommand(): string[] {
  const here = fileURLToPath(import.meta.url);
  const main = fileURLToPath(new URL(`../cli/main${extname(here)}`, import.meta.url));
  const loaders: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if ((flag === "--import" || flag === "--loader" || flag === "--experimental-loader") && argv[i + 1]) loaders.push(flag, argv[++i]!);
    else if (/^--(import|loader|experimental-loader)=/.test(flag)) loaders.push(flag);
  }
  return [process.execPath, ...loaders, main];
}

export interface DistillJob {
  task: GatewayTask;
  /** The teacher's answers: texts and labels recorded since the task's generation began. */
  rows: ReadonlyArray<{ text: string; label: string; costUsd: number; sample: boolean }>;
  /** The upstream, written into the cascade as its LLM. */
  upstream: string;
  dir: string;
  db: string;
  /** The command that runs tandem (default: this one's CLI); a prefix the arguments are appended to. */
  command?: readonly string[];
  onLine?: (line: string) => void;
  /** Stops the child (the gateway is closing). */
  signal?: AbortSignal;
}

/** Runs distill on the recorded labels; the student's record, or an error with distill's last line. */
export async function distillTask(job: DistillJob): Promise<StudentRecord> {
  mkdirSync(job.dir, { recursive: true });
  const labelsFile = join(job.dir, "teacher-labels.csv");
  writeFileSync(labelsFile, "text,label,cost_usd,sample\n" + job.rows.map((r) => `${csvField(r.text)},${csvField(r.label)},${r.costUsd},${r.sample ? 1 : 0}`).join("\n") + "\n");
  const out = join(job.dir, "student");
  const args = [
    "distill", "--teacher-labels", labelsFile, "--labels", job.task.labels.join(","), "--llm-strategy", job.upstream, "-o", out, "--db", job.db,
    "--target-agreement", String(job.task.targetAgreement), "--confidence", String(job.task.confidence), "--audit-share", String(job.task.audit.share), "-f", "json",
    ...(job.task.student ? ["--student", job.task.student] : []), ...(job.task.backbone ? ["--backbone", job.task.backbone] : []),
  ];
  const [command, ...prefix] = job.command ?? tandemCommand();
  const child = spawn(command!, [...prefix, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, TANDEM_PROGRESS: "plain" }, signal: job.signal, killSignal: "SIGTERM" });
  let stdout = "";
  let lastLine = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    for (const line of chunk.split("\n").filter((l) => l.trim())) {
      lastLine = line;
      job.onLine?.(redact(line));
    }
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", (error) => (job.signal?.aborted ? resolve(null) : reject(error)));
    child.once("close", resolve);
  });
  if (code !== 0) throw new Error(`distill exited with ${code}: ${redact(lastLine)}`);
  const summary = JSON.parse(stdout) as { certified: { certified: boolean; tau: number; calibration: { llm_share: number; encoder_agreement: number | null } }; student: { student_agreement: number | null }; model: string };
  if (!existsSync(join(out, "model"))) throw new Error("distill wrote no model");
  return {
    dir: out,
    tau: summary.certified.tau,
    certified: summary.certified.certified,
    localShare: summary.certified.certified ? 1 - summary.certified.calibration.llm_share : 0,
    agreement: summary.student.student_agreement,
    labels: job.rows.length,
    at: new Date().toISOString(),
  };
}
