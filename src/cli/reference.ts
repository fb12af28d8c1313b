/**
 * The CLI reference (docs/cli.md) from the commander definitions themselves, so it cannot drift from
 * `--help`: `npm run build` writes it, and a test fails when the committed file is stale. Pure.
 */
import type { EventEmitter } from "node:events";
import { Help, type Command } from "commander";

const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n+/g, " ");

function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

function section(command: Command, help: Help, out: string[]): void {
  const path = commandPath(command);
  out.push(`## ${path}`, "", command.description(), "", "```", `${path} ${help.commandUsage(command).split(" ").slice(path.split(" ").length).join(" ")}`.trim(), "```", "");
  const options = help.visibleOptions(command).filter((o) => o.long !== "--help");
  if (options.length) {
    out.push("| option | what | default |", "| --- | --- | --- |");
    for (const option of options) {
      const fallback = option.defaultValue === undefined || option.negate ? "" : `\`${JSON.stringify(option.defaultValue)}\``;
      out.push(`| \`${cell(option.flags)}\` | ${cell(option.description)} | ${fallback} |`);
    }
    out.push("");
  }
  const after = helpTextAfter(command);
  if (after) out.push("```text", after.trim(), "```", "");
  for (const sub of help.visibleCommands(command).filter((c) => c.name() !== "help")) section(sub, help, out);
}

/** The text commands add after their options (`addHelpText("after", …)`), as `--help` prints it. */
function helpTextAfter(command: Command): string {
  let text = "";
  const listeners = (command as unknown as EventEmitter).listeners("afterHelp") as Array<(context: { error: boolean; command: Command; write: (s: string) => void }) => void>;
  for (const listener of listeners) listener({ error: false, command, write: (s: string) => (text += s) });
  return text;
}

/** docs/cli.md: every command and option of `program`. */
export function cliReference(program: Command): string {
  const help = new Help();
  help.helpWidth = 10_000;
  const out = ["# CLI reference", "", "Generated from the commander definitions by `npm run build` (src/cli/reference.ts); `tandem COMMAND --help` prints the same.", ""];
  const commands = help.visibleCommands(program).filter((c) => c.name() !== "help");
  out.push(...commands.map((c) => `- [tandem ${c.name()}](#${`tandem ${c.name()}`.replace(/ /g, "-")})`), "");
  for (const command of commands) section(command, help, out);
  return out.join("\n").replace(/\n{3,}/g, "\n\n");
}
