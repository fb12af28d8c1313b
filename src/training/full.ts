/**
 * Full fine-tuning through the PyTorch engine: TypeScript tokenizes (the same tokenizer the inference
 * engine uses) and writes token ids; the engine trains and exports a model folder; progress arrives
 * as JSON lines. Several processes run through torchrun, or — where torchrun is unusable, as with
 * Debian's torch 1.13 on Python 3.11 — through tandem starting the ranks with torchrun's environment
 * (single machine).
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { UserError } from "../core/errors.js";
import type { Dataset } from "../data/dataset.js";
import { loadTokenizer } from "../encoders/tokenizer.js";
import { ENGINE_DIR, findPython, runEngine, type EngineEvent } from "./engine.js";

export interface FullTrainingOptions {
  /** A model folder to start from (config.json + weights + tokenizer), or a config for a model from scratch. */
  model?: string;
  init?: Record<string, unknown>;
  tokenizer: string;
  train: Dataset;
  val?: Dataset;
  labels: string[];
  out: string;
  /** Engine options (epochs, batch_size, lr, optimizer, scheduler, ...), passed as they are. */
  engine: Record<string, unknown>;
  maxLength: number;
  processes: number;
  launcher: "torchrun" | "spawn";
  kind: "classifier" | "backbone";
  onEvent?: (event: EngineEvent) => void;
  /** Stops the engine (one process only): a search prunes a trial this way. */
  signal?: AbortSignal;
}

function writeIds(file: string, dataset: Dataset, labels: string[], tokenizerDir: string, maxLength: number): number {
  const tokenizer = loadTokenizer(tokenizerDir);
  let truncated = 0;
  const lines = dataset.examples.map((example) => {
    const label = labels.indexOf(example.label as string);
    if (label < 0) throw new UserError(`label "${example.label}" is not one of ${labels.join(", ")}`, { file: dataset.file, line: example.line });
    const encoded = tokenizer.encode(example.text, maxLength);
    if (encoded.truncated) truncated++;
    return JSON.stringify({ ids: encoded.ids, label });
  });
  writeFileSync(file, lines.join("\n") + "\n");
  return truncated;
}

let torchrunWorks: boolean | undefined;

/** Whether torchrun can start a trivial one-process job here (checked once per process). */
export function torchrunUsable(): boolean {
  if (torchrunWorks === undefined) {
    const probe = spawnSync(findPython(), ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1", "-m", "json.tool", "--help"], { encoding: "utf8", timeout: 120_000, stdio: ["ignore", "ignore", "pipe"] });
    torchrunWorks = probe.status === 0;
  }
  return torchrunWorks;
}

/** Starts `processes` ranks of the engine with torchrun's environment variables, rank 0's events streamed. */
function spawnRanks(configFile: string, processes: number, onEvent?: (event: EngineEvent) => void): Promise<EngineEvent[]> {
  const python = findPython();
  const port = String(29500 + Math.floor(Math.random() * 400));
  const children = Array.from({ length: processes }, (_, rank) =>
    spawn(python, ["-m", "tandem_torch.train", "--config", configFile], {
      cwd: ENGINE_DIR,
      env: { ...process.env, PYTHONPATH: ENGINE_DIR, PYTHONUNBUFFERED: "1", RANK: String(rank), LOCAL_RANK: String(rank), WORLD_SIZE: String(processes), LOCAL_WORLD_SIZE: String(processes), MASTER_ADDR: "127.0.0.1", MASTER_PORT: port, OMP_NUM_THREADS: String(Math.max(1, Math.floor(availableParallelism() / processes))) },
    }),
  );
  const events: EngineEvent[] = [];
  let buffer = "";
  children[0]!.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    buffer += chunk;
    for (let newline = buffer.indexOf("\n"); newline >= 0; newline = buffer.indexOf("\n")) {
      const line = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      if (!line.startsWith("{")) continue;
      const event = JSON.parse(line) as EngineEvent;
      events.push(event);
      onEvent?.(event);
    }
  });
  const errors: string[] = [];
  children.forEach((child) => child.stderr.setEncoding("utf8").on("data", (chunk: string) => errors.push(chunk)));
  return Promise.all(children.map((child) => new Promise<number>((done) => child.on("close", (code) => done(code ?? 1))))).then((codes) => {
    const failure = events.find((e) => e.event === "error");
    if (failure) throw new UserError(`training engine: ${String(failure.message)}`);
    if (codes.some((code) => code !== 0)) throw new UserError(`training engine failed: ${errors.join("").trim().split("\n").slice(-1)[0] ?? "a rank exited with an error"}`);
    return events;
  });
}

export async function trainFull(options: FullTrainingOptions): Promise<EngineEvent[]> {
  const out = resolve(options.out);
  const work = join(out, "data");
  mkdirSync(work, { recursive: true });
  if (options.model && !existsSync(join(options.model, "config.json"))) throw new UserError("no config.json in the model folder", { file: options.model });
  const trainFile = join(work, "train.ids.jsonl");
  const truncated = writeIds(trainFile, options.train, options.labels, options.tokenizer, options.maxLength);
  const valFile = options.val ? join(work, "val.ids.jsonl") : undefined;
  if (options.val && valFile) writeIds(valFile, options.val, options.labels, options.tokenizer, options.maxLength);
  options.onEvent?.({ event: "prepared", train: options.train.examples.length, val: options.val?.examples.length ?? 0, truncated });
  const config = {
    ...options.engine,
    ...(options.model ? { model: resolve(options.model) } : { init: options.init }),
    labels: options.labels,
    train: trainFile,
    val: valFile,
    out,
    tokenizer: resolve(options.tokenizer),
    kind: options.kind,
    max_length: options.maxLength,
  };
  const configFile = join(work, "run.json");
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  if (options.processes <= 1) return runEngine("train", ["--config", configFile], { onEvent: options.onEvent, signal: options.signal });
  if (options.signal) throw new UserError("stopping a training run early works with one process only");
  if (options.launcher === "spawn") return spawnRanks(configFile, options.processes, options.onEvent);
  if (!torchrunUsable()) {
    options.onEvent?.({ event: "note", message: "torchrun does not start here (a broken torch.distributed.run, as with Debian's torch 1.13 on Python 3.11): tandem starts the ranks itself (--launcher spawn)" });
    return spawnRanks(configFile, options.processes, options.onEvent);
  }
  return runEngine("train", ["--config", configFile], { onEvent: options.onEvent, launcher: [findPython(), "-m", "torch.distributed.run", `--nproc_per_node=${options.processes}`] });
}
