/**
 * Keys of configuration files: files may spell them snake_case or camelCase, the library is camelCase,
 * and the CLI's JSON is snake_case. Also the one readable line for a schema problem.
 */
import type { z } from "zod";

/** A config's own words for a value matching none of a union's forms (strategies name their types). */
export type UnionDescriber = (issue: z.core.$ZodIssue, fieldName: string, value: unknown) => string | undefined;

/** snake_case → camelCase. */
export function camelCase(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** A copy with every object key in camelCase (files may use either spelling). */
export function camelizeKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(camelizeKeys);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [camelCase(k), camelizeKeys(v)]));
  return value;
}

/**
 * The CLI's JSON and the files tandem writes keep snake_case keys while the library is camelCase: keys are converted
 * (macroF1 → macro_f1), except inside `opaque` fields, whose keys are data (slice and strategy names).
 */
export function snakeCaseKeys(value: unknown, opaque: readonly string[] = ["slices", "pairwise"]): unknown {
  if (Array.isArray(value)) return value.map((item) => snakeCaseKeys(item, opaque));
  if (!value || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), opaque.includes(key) ? item : snakeCaseKeys(item, opaque)]),
  );
}

/** The path as written in the original (possibly snake_case) object, for error messages and line lookups. */
export function originalPath(original: unknown, path: ReadonlyArray<PropertyKey>): Array<string | number> {
  const out: Array<string | number> = [];
  let node = original;
  for (const segment of path) {
    if (typeof segment === "number" || Array.isArray(node)) {
      out.push(Number(segment));
      node = Array.isArray(node) ? node[Number(segment)] : undefined;
      continue;
    }
    const key = node && typeof node === "object" ? (Object.keys(node).find((k) => camelCase(k) === segment) ?? String(segment)) : String(segment);
    out.push(key);
    node = node && typeof node === "object" ? (node as Record<string, unknown>)[key] : undefined;
  }
  return out;
}

/** One readable line for a zod issue ("unknown field", "must be …"); `value` is what the file holds there. */
export function describeIssue(issue: z.core.$ZodIssue, fieldName: string, value?: unknown, describeUnion?: UnionDescriber): string {
  switch (issue.code) {
    case "unrecognized_keys":
      return `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
    case "invalid_union":
      return describeUnion?.(issue, fieldName, value) ?? `"${fieldName}" does not match any of its allowed forms`;
    case "invalid_value":
      return `"${fieldName}" must be one of ${issue.values.map((v) => String(v)).join(", ")}${value === undefined ? "" : ` (not "${String(value)}")`}`;
    case "invalid_type": {
      if (value === undefined) return `"${fieldName}" is required`;
      const expected = issue.expected === "int" ? "an integer" : issue.expected === "number" ? "a number" : issue.expected === "string" ? "text" : issue.expected === "boolean" ? "true or false" : issue.expected === "array" ? "a list" : issue.expected === "object" ? "a mapping" : issue.expected;
      return `"${fieldName}" must be ${expected}`;
    }
    case "too_small":
      if (issue.origin === "array") return Number(issue.minimum) === 1 ? `"${fieldName}" must be a non-empty list` : `"${fieldName}" must list at least ${String(issue.minimum)}`;
      if (issue.origin === "string") return `"${fieldName}" must not be empty`;
      return `"${fieldName}" must be ${issue.inclusive === false ? ">" : "≥"} ${String(issue.minimum)}`;
    case "too_big":
      return `"${fieldName}" must be ${issue.inclusive === false ? "<" : "≤"} ${String(issue.maximum)}`;
    default:
      return `"${fieldName}": ${issue.message}`;
  }
}
