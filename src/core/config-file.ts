/**
 * Configuration files (YAML or JSON) checked against a zod schema. Keys may be written snake_case or
 * camelCase; every error is one line naming the file, the line and the field as written.
 */
import { readFileSync } from "node:fs";
import { LineCounter, parseDocument, type Node } from "yaml";
import type { z } from "zod";
import { camelizeKeys, describeIssue, originalPath, type UnionDescriber } from "./config-keys.js";
import { UserError } from "./errors.js";

export interface ConfigProblem {
  /** Path in the camelCase value. */
  path: ReadonlyArray<PropertyKey>;
  message: string;
}

/** `describeUnion`: the file's own words for a value that matches none of a union's forms (strategies name their types). */
export function parseConfigText<S extends z.ZodType>(text: string, file: string, schema: S, check?: (value: z.output<S>) => ConfigProblem[], describeUnion?: UnionDescriber): z.output<S> {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter });
  if (document.errors.length > 0) {
    const error = document.errors[0]!;
    throw new UserError(`invalid YAML: ${error.message.split("\n")[0]}`, { file, line: error.linePos?.[0]?.line });
  }
  const raw = document.toJS() as unknown;
  const lineOf = (path: Array<string | number>): number | undefined => {
    for (let n = path.length; n >= 0; n--) {
      const node = (n === 0 ? document.contents : document.getIn(path.slice(0, n), true)) as Node | undefined;
      const offset = node?.range?.[0];
      if (offset !== undefined) return lineCounter.linePos(offset).line;
    }
    return undefined;
  };
  const valueAt = (path: Array<string | number>) => path.reduce<unknown>((node, key) => (node as Record<string | number, unknown> | undefined)?.[key], raw);
  const fail = (problemPath: ReadonlyArray<PropertyKey>, message: (field: string, value: unknown) => string, extraKey?: string): never => {
    const path = originalPath(raw, problemPath);
    if (extraKey !== undefined) path.push(extraKey);
    const field = path.join(".");
    throw new UserError(message(String(path[path.length - 1] ?? ""), valueAt(path)), { file, line: lineOf(path), column: field || undefined });
  };
  const parsed = schema.safeParse(camelizeKeys(raw ?? {}));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    // Unknown keys: point at the first one.
    const unknownKey = issue.code === "unrecognized_keys" ? issue.keys[0] : undefined;
    const rawKey = unknownKey === undefined ? undefined : originalKey(raw, issue.path, unknownKey);
    return fail(issue.path, (field, value) => (rawKey !== undefined ? `unknown field "${rawKey}"` : describeIssue(issue, field, value, describeUnion)), rawKey);
  }
  for (const problem of check?.(parsed.data) ?? []) fail(problem.path, () => problem.message);
  return parsed.data;
}

/** The key as written in the file for a camelCase key reported by the schema. */
function originalKey(raw: unknown, path: ReadonlyArray<PropertyKey>, key: string): string {
  let node = raw;
  for (const segment of originalPath(raw, path)) node = (node as Record<string | number, unknown> | undefined)?.[segment];
  const keys = node && typeof node === "object" ? Object.keys(node) : [];
  return keys.find((k) => k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()) === key) ?? key;
}

export function readConfigFile(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    throw new UserError("file not found", { file });
  }
}
