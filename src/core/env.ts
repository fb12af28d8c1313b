/**
 * Secrets come from the environment, or from a `.env` file in the working directory (read once, never
 * overriding variables already set). Values are never printed, logged or written anywhere.
 */
import { existsSync, readFileSync } from "node:fs";
import { UserError } from "./errors.js";

let loaded = false;

/** Parses KEY=value lines (# comments, optional quotes, optional `export`). */
export function parseDotEnv(content: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const raw of content.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!match) continue;
    let value = match[2] as string;
    if ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'"))) value = value.slice(1, -1);
    else value = value.replace(/\s+#.*$/, "");
    values[match[1] as string] = value;
  }
  return values;
}

export function loadDotEnv(file = ".env"): void {
  if (loaded) return;
  loaded = true;
  if (!existsSync(file)) return;
  for (const [key, value] of Object.entries(parseDotEnv(readFileSync(file, "utf8")))) {
    if (process.env[key] === undefined) process.env[key] = value;
  }
}

/** The value of a secret, or a UserError naming the variable (never its value). */
export function requireSecret(name: string, purpose: string): string {
  loadDotEnv();
  const value = process.env[name];
  if (!value) throw new UserError(`${purpose} needs ${name}: set it in the environment or in a .env file`);
  return value;
}
