/**
 * Experiment files (YAML): one dataset, named strategies, a baseline, replicates. Errors name the file,
 * the line and the field.
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { LineCounter, parseDocument, isMap, isSeq, type Node } from "yaml";
import { UserError } from "../core/errors.js";
import { PROGRAM_NAMES, type ProgramName } from "../llm/prompts/programs.js";

export type StrategyConfig =
  | { name: string; type: "lexicon"; neutralThreshold?: number }
  | { name: string; type: "encoder"; model: string; batchSize?: number; maxLength?: number }
  | { name: string; type: "llm"; model: string; program: ProgramName; hints?: string; examples?: string; k?: number; concurrency?: number; maxCost?: number; trainingCost?: number; structured?: "auto" | "on" | "off"; temperature?: number }
  | { name: string; type: "cascade"; encoder: string; llm: string; tau: number }
  | { name: string; type: "ensemble"; members: string[]; method: "majority" | "average" };

export interface ExperimentConfig {
  name: string;
  file: string;
  dataset: { file: string; text?: string; label?: string; slices?: string; scheme: string; limit?: number };
  baseline?: string;
  /** Runs of every sampling strategy (LLMs and what builds on them), seeds seed, seed + 1, …; deterministic strategies run once. */
  replicates: number;
  seed: number;
  strategies: StrategyConfig[];
}

const TYPES = ["lexicon", "encoder", "llm", "cascade", "ensemble"] as const;

export function parseExperiment(text: string, file: string): ExperimentConfig {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter });
  if (document.errors.length > 0) {
    const error = document.errors[0]!;
    throw new UserError(`invalid YAML: ${error.message.split("\n")[0]}`, { file, line: error.linePos?.[0]?.line });
  }
  const lineOf = (path: Array<string | number>): number | undefined => {
    const node = document.getIn(path, true) as Node | undefined;
    const offset = node?.range?.[0];
    return offset === undefined ? undefined : lineCounter.linePos(offset).line;
  };
  const fail = (path: Array<string | number>, message: string): never => {
    throw new UserError(message, { file, line: lineOf(path) ?? lineOf(path.slice(0, -1)), column: path.join(".") });
  };
  const root = document.toJS() as Record<string, unknown> | null;
  if (!root || typeof root !== "object" || !isMap(document.contents)) fail([], "an experiment file is a YAML mapping with dataset and strategies");
  // Values from the plain JavaScript form; nodes (for line numbers) from the document.
  const get = (path: Array<string | number>) => path.reduce<unknown>((value, key) => (value as Record<string | number, unknown> | undefined)?.[key], root);
  const str = (path: Array<string | number>, required = true): string | undefined => {
    const value = get(path);
    if (value === undefined || value === null) return required ? fail(path, `"${path.join(".")}" is required`) : undefined;
    if (typeof value !== "string" && typeof value !== "number") fail(path, `"${path.join(".")}" must be text`);
    return String(value);
  };
  const num = (path: Array<string | number>, min: number, max = Infinity): number | undefined => {
    const value = get(path);
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "number" || value < min || value > max) fail(path, `"${path.join(".")}" must be a number in [${min}, ${max}]`);
    return value as number;
  };
  const base = dirname(resolve(file));
  const datasetFile = str(["dataset", "file"])!;
  const config: ExperimentConfig = {
    name: str(["name"], false) ?? "experiment",
    file,
    dataset: {
      file: resolve(base, datasetFile),
      text: str(["dataset", "text"], false),
      label: str(["dataset", "label"], false),
      slices: str(["dataset", "slices"], false),
      scheme: str(["dataset", "scheme"], false) ?? "neg_neu_pos",
      limit: num(["dataset", "limit"], 1),
    },
    baseline: str(["baseline"], false),
    replicates: num(["replicates"], 1, 100) ?? 1,
    seed: num(["seed"], 0) ?? 42,
    strategies: [],
  };
  const list = document.getIn(["strategies"], true);
  if (!isSeq(list) || list.items.length === 0) fail(["strategies"], '"strategies" must be a non-empty list');
  const names = new Set<string>();
  const items = (list as { items: unknown[] }).items;
  items.forEach((_, i) => {
    const at = (key: string) => ["strategies", i, key];
    const name = str(at("name"))!;
    if (names.has(name)) fail(at("name"), `strategy name "${name}" is used twice`);
    const type = str(at("type"))!;
    if (!(TYPES as readonly string[]).includes(type)) fail(at("type"), `unknown strategy type "${type}" (use ${TYPES.join(", ")})`);
    const known = (other: string, key: string) => {
      if (!names.has(other)) fail(at(key), `"${other}" is not a strategy defined above this one`);
      return other;
    };
    let strategy: StrategyConfig;
    switch (type) {
      case "lexicon":
        strategy = { name, type, neutralThreshold: num(at("neutral_threshold"), 0, 1) };
        break;
      case "encoder":
        strategy = { name, type, model: resolveModel(base, str(at("model"))!), batchSize: num(at("batch_size"), 1), maxLength: num(at("max_length"), 2) };
        break;
      case "llm": {
        const program = (str(at("program"), false) ?? "zero-shot") as ProgramName;
        if (!PROGRAM_NAMES.includes(program)) fail(at("program"), `unknown program "${program}" (use ${PROGRAM_NAMES.join(", ")})`);
        const hints = str(at("hints"), false);
        const examples = str(at("examples"), false);
        strategy = { name, type, model: resolveModel(base, str(at("model"))!), program, hints: hints === undefined ? undefined : known(hints, "hints"), examples: examples === undefined ? undefined : resolve(base, examples), k: num(at("k"), 1), concurrency: num(at("concurrency"), 1), maxCost: num(at("max_cost"), 0), trainingCost: num(at("training_cost"), 0), temperature: num(at("temperature"), 0, 2) };
        break;
      }
      case "cascade":
        strategy = { name, type, encoder: known(str(at("encoder"))!, "encoder"), llm: known(str(at("llm"))!, "llm"), tau: num(at("tau"), 0, 1) ?? 0.9 };
        break;
      default: {
        const members = get(at("members"));
        if (!Array.isArray(members) || members.length < 2) fail(at("members"), '"members" must list at least two strategies');
        const method = str(at("method"), false) ?? "majority";
        if (method !== "majority" && method !== "average") fail(at("method"), 'method must be "majority" or "average"');
        strategy = { name, type: "ensemble", members: (members as unknown[]).map((m) => known(String(m), "members")), method: method as "majority" | "average" };
      }
    }
    names.add(name);
    config.strategies.push(strategy);
  });
  if (config.baseline !== undefined && !names.has(config.baseline)) fail(["baseline"], `baseline "${config.baseline}" is not one of the strategies`);
  return config;
}

/** Local model paths are relative to the experiment file; provider specs and hub ids stay as they are. */
function resolveModel(base: string, model: string): string {
  if (model.startsWith("local:")) return `local:${resolve(base, model.slice(6))}`;
  if (model.startsWith(".") || model.startsWith("/")) return resolve(base, model);
  return model;
}

export function loadExperiment(file: string): ExperimentConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new UserError("file not found", { file });
  }
  return parseExperiment(text, file);
}
