/** Writes dist/cli/commands.json, the top-level help's manifest (run by `npm run build`). */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Help } from "commander";
import { MANIFEST_FILE, type CommandSummary } from "./commands.js";
import { buildFullProgram } from "./main.js";

// Documented as without the environment (options whose default is REDIS_URL / TANDEM_SERVER).
delete process.env.REDIS_URL;
delete process.env.TANDEM_SERVER;
const program = await buildFullProgram();
const help = new Help();
const summaries: CommandSummary[] = program.commands.map((command) => ({ name: command.name(), term: help.subcommandTerm(command), description: command.description() }));
writeFileSync(join(import.meta.dirname, MANIFEST_FILE), JSON.stringify(summaries, null, 2) + "\n");

// The CLI reference beside the README, from the same definitions.
const { cliReference } = await import("./reference.js");
writeFileSync(join(import.meta.dirname, "..", "..", "docs", "cli.md"), cliReference(program));
