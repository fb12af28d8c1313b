#!/usr/bin/env node
/** The `tandem` command: a thin layer that parses arguments and calls the library. */
import { readFileSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { Command, CommanderError, Help } from "commander";
import { EXIT_CODES, isUserError } from "../core/errors.js";
import { redact } from "../core/redact.js";
import { MANIFEST_FILE, REGISTRARS, type CommandSummary } from "./commands.js";

const { version } = createRequire(import.meta.url)("../../package.json") as { version: string };

function baseProgram(): Command {
  return new Command("tandem")
    .description("Cost-effective text classification: small fine-tuned encoders and large language models, in tandem.")
    .version(version)
    .exitOverride()
    // Usage mistakes print as one line, like every other error.
    .configureOutput({ outputError: (text, write) => write(`tandem: ${text.trim().replace(/\n+/g, " ")} (see --help)\n`) });
}

function finish(program: Command): Command {
  const inherit = (command: Command) => {
    for (const sub of command.commands) {
      sub.exitOverride().configureOutput(program.configureOutput());
      inherit(sub);
    }
  };
  inherit(program);
  return program;
}

/** Every command, every module loaded. */
export async function buildFullProgram(): Promise<Command> {
  const program = baseProgram();
  for (const registrar of REGISTRARS) (await registrar.load())(program);
  return finish(program);
}

/**
 * The program for these arguments: only the module of the command named (`tandem classify ...`,
 * `tandem help classify`); for the top-level help, a version or an unknown command, stand-ins from the
 * build's manifest (same help text, nothing loaded); without a manifest (running from source), everything.
 */
export async function buildProgram(argv: string[] = process.argv): Promise<Command> {
  const words = argv.slice(2).filter((arg) => !arg.startsWith("-"));
  const name = words[0] === "help" ? words[1] : words[0];
  const registrar = REGISTRARS.find((r) => name !== undefined && r.commands.includes(name));
  if (registrar) {
    const program = baseProgram();
    (await registrar.load())(program);
    return finish(program);
  }
  let manifest: CommandSummary[];
  try {
    manifest = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), MANIFEST_FILE), "utf8")) as CommandSummary[];
  } catch {
    return buildFullProgram();
  }
  const terms = new Map(manifest.map((c) => [c.name, c.term]));
  const standard = new Help();
  const program = baseProgram().configureHelp({ subcommandTerm: (command) => terms.get(command.name()) ?? standard.subcommandTerm(command) });
  for (const summary of manifest) program.command(summary.name).description(summary.description);
  return finish(program);
}

export async function main(argv: string[]): Promise<number> {
  try {
    await (await buildProgram(argv)).parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version "errors" are normal exits; usage mistakes exit 2 like other user errors.
      return error.exitCode === 0 ? EXIT_CODES.done : EXIT_CODES["bad-input"];
    }
    if (isUserError(error)) {
      process.stderr.write(`tandem: error: ${redact(error.describe())}\n`);
      return error.exitCode;
    }
    const expected = describeExpected(error);
    if (expected) {
      process.stderr.write(`tandem: error: ${redact(expected)}\n`);
      return EXIT_CODES["bad-input"];
    }
    throw error;
  }
}

const FILE_ERRORS: Record<string, string> = {
  EISDIR: "is a folder, not a file",
  ENOTDIR: "a part of the path is a file, not a folder",
  EEXIST: "a part of the path is a file, not a folder",
  EACCES: "permission denied",
  EPERM: "permission denied",
  ENOSPC: "no space left on the device",
  EROFS: "the file system is read-only",
  ENOENT: "no such file or folder",
};

/**
 * Failures that are the environment's, not a bug: file system refusals (naming the path) and provider
 * answers (HTTP status and message) — one line, exit 2, no stack trace.
 */
function describeExpected(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const { code, path, status } = error as Error & { code?: string; path?: string; status?: unknown };
  if (code && FILE_ERRORS[code] && path) return `${path}: ${FILE_ERRORS[code]}`;
  if (typeof status === "number") return `the provider answered HTTP ${status}: ${error.message.replace(/\s+/g, " ").slice(0, 300)}`;
  if (error.name === "ProviderError") return `the provider call failed: ${error.message}`;
  return undefined;
}

/** Runs the command line with this process's arguments and sets the exit code. */
export function runFromCommandLine(): void {
  // Pipes closed early (e.g. `| head`) are not errors.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(0);
    throw error;
  });
  main(process.argv).then(
    (code) => {
      process.exitCode = code;
      // A failed command must not linger on an open handle (a queue connection, a timer of a half-started server).
      if (code !== 0) setTimeout(() => process.exit(code), 500).unref();
    },
    (error: unknown) => {
      process.stderr.write(`tandem: internal error (please report): ${redact(error instanceof Error ? (error.stack ?? error.message) : String(error))}\n`);
      process.exitCode = EXIT_CODES.failed;
    },
  );
}

// Run only when executed (node dist/cli/main.js, or the `tandem` bin link); importing does nothing.
const entry = process.argv[1];
if (entry && realpathSync(entry) === fileURLToPath(import.meta.url)) runFromCommandLine();
