/** API keys: Bearer tokens compared in constant time; never logged, never echoed. */
import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { UserError } from "../core/errors.js";

const digest = (text: string) => createHash("sha256").update(text).digest();

/** Checks a presented token against every key without stopping early, so timing says nothing about which matched or how much. */
export function keyChecker(keys: readonly string[]): (presented: string | undefined) => boolean {
  const digests = keys.map(digest);
  return (presented) => {
    const candidate = digest(presented ?? "");
    let match = false;
    for (const key of digests) match = timingSafeEqual(candidate, key) || match;
    return match && presented !== undefined;
  };
}

/** The token of an `Authorization: Bearer …` header. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return match?.[1];
}

/** Keys from TANDEM_API_KEYS (comma-separated) and/or a file (one per line, # comments). */
export function loadApiKeys(file?: string): string[] {
  const keys = (process.env.TANDEM_API_KEYS ?? "").split(",").map((k) => k.trim()).filter(Boolean);
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      throw new UserError("cannot read the API keys file", { file });
    }
    keys.push(...text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line && !line.startsWith("#")));
  }
  return keys;
}

export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}
