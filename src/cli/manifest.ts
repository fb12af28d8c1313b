/** Writes dist/cli/commands.json, the top-level help's manifest (run by `npm run build`). */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Help } from "commander";
import { MANIFEST_FILE, type CommandSummary } from "./commands.js";
import { buildFullProgram } from "./main.js";

const program = await buildFullProgram();
const help = new Help();
const summaries: CommandSummary[] = program.commands.map((command) => ({ name: command.name(), term: help.subcommandTerm(command), description: command.description() }));
writeFileSync(join(import.meta.dirname, MANIFEST_FILE), JSON.stringify(summaries, null, 2) + "\n");
