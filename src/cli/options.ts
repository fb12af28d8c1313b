/** Parsers and shared option helpers for the commands. */
import { existsSync } from "node:fs";
import { basename, dirname, isAbsolute, join, relative } from "node:path";
import { InvalidArgumentError } from "commander";
import { resolveScheme, type LabelScheme } from "../data/labels.js";

export function parseInteger(name: string, min = Number.MIN_SAFE_INTEGER) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < min) throw new InvalidArgumentError(`${name} must be an integer${min > Number.MIN_SAFE_INTEGER ? ` ≥ ${min}` : ""}.`);
    return parsed;
  };
}

export function parseNumber(name: string, min = -Infinity, max = Infinity) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isFinite(parsed) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(`${name} must be a number${Number.isFinite(min) ? ` in [${min}, ${max}]` : ""}.`);
    }
    return parsed;
  };
}

export function parseNumberList(name: string) {
  return (value: string): number[] => {
    const parts = value.split(",").map((part) => Number(part.trim()));
    if (parts.length === 0 || parts.some((part) => !Number.isFinite(part))) {
      throw new InvalidArgumentError(`${name} must be a comma-separated list of numbers.`);
    }
    return parts;
  };
}

export function parseList(value: string): string[] {
  return value.split(",").map((part) => part.trim()).filter((part) => part.length > 0);
}

export function parseFormat<T extends string>(allowed: readonly T[]) {
  return (value: string): T => {
    if (!(allowed as readonly string[]).includes(value)) throw new InvalidArgumentError(`use one of: ${allowed.join(", ")}.`);
    return value as T;
  };
}

export function optionalScheme(spec: string | undefined): LabelScheme | undefined {
  return spec === undefined ? undefined : resolveScheme(spec);
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + "\n");
}

// The CLI's JSON keeps its documented snake_case keys (one converter, beside camelizeKeys).
export { snakeCaseKeys } from "../strategies/config.js";

/** How the user started tandem, for commands it suggests: `./tandem` (the clone's launcher), `npx tandem`, or `tandem`. */
export function invocation(): string {
  if (process.env.npm_command === "exec") return "npx tandem";
  const entry = process.argv[1] ?? "";
  if (basename(entry) === "tandem" && existsSync(join(dirname(entry), "package.json"))) {
    const path = relative(process.cwd(), entry);
    return path.startsWith("..") || isAbsolute(path) ? entry : `./${path}`;
  }
  return "tandem";
}
