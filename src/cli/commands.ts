/**
 * Which module registers which top-level command. The CLI loads only the module of the command it
 * runs (each pulls in its own part of the library: ONNX Runtime, zod, the provider SDKs, ...); the
 * top-level help is printed from a manifest written at build time (dist/cli/commands.json), so
 * `tandem --help` loads none of them.
 */
import type { Command } from "commander";

type Register = (program: Command) => void;

/** In the order the help lists them. */
export const REGISTRARS: ReadonlyArray<{ commands: readonly string[]; load: () => Promise<Register> }> = [
  { commands: ["evaluate"], load: async () => (await import("./evaluate.js")).registerEvaluate },
  { commands: ["compare"], load: async () => (await import("./compare.js")).registerCompare },
  { commands: ["classify"], load: async () => (await import("./classify.js")).registerClassify },
  { commands: ["quantize", "push", "embed", "bench"], load: async () => (await import("./encoders.js")).registerEncoderCommands },
  { commands: ["prompt"], load: async () => (await import("./llm.js")).registerPrompt },
  { commands: ["finetune"], load: async () => (await import("./finetune.js")).registerFinetune },
  { commands: ["tune"], load: async () => (await import("./tune.js")).registerTune },
  { commands: ["distill"], load: async () => (await import("./distill.js")).registerDistill },
  { commands: ["run", "runs", "report", "demo"], load: async () => (await import("./experiments.js")).registerExperiments },
  { commands: ["train", "export"], load: async () => (await import("./train.js")).registerTraining },
  { commands: ["data"], load: async () => (await import("./data.js")).registerData },
  { commands: ["serve"], load: async () => (await import("./serve.js")).registerServe },
  { commands: ["view"], load: async () => (await import("./serve.js")).registerView },
  { commands: ["gateway"], load: async () => (await import("./gateway.js")).registerGateway },
  { commands: ["jobs", "worker"], load: async () => (await import("./jobs.js")).registerJobs },
];

/** One line of the top-level help: the command as the help shows it ("run [options] <experiment>") and its description. */
export interface CommandSummary {
  name: string;
  term: string;
  description: string;
}

export const MANIFEST_FILE = "commands.json";
