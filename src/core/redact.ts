/**
 * One redaction step for every message that leaves the process — errors, logs, stored error texts:
 * the values of every configured secret, and anything shaped like an API key or a bearer token, become
 * "[redacted]". Providers sometimes echo the key they were sent in a 401's body; this is where it stops.
 */

/** Environment variables whose values are secrets. */
export const SECRET_VARIABLES = ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_COMPAT_API_KEY", "HF_TOKEN", "TANDEM_API_KEY", "TANDEM_API_KEYS", "MISTRAL_API_KEY", "TOGETHER_API_KEY", "REDIS_URL"];

const KEY_SHAPES = [
  /\bsk-[A-Za-z0-9_-]{8,}/g, // OpenAI, Anthropic (sk-ant-…), most compatible servers
  /\bhf_[A-Za-z0-9]{8,}/g, // Hugging Face
  /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi, // Authorization header values
  /\b(api[_-]?key|token|password|secret)(["']?\s*[:=]\s*["']?)[^\s"',;&]{8,}/gi, // key=value pairs
  /(redis(?:s)?:\/\/[^:@/\s]*:)[^@/\s]+@/gi, // passwords in Redis URLs
];

const extraSecrets = new Set<string>();

/** Also redact these values (API keys of a server, a password from a URL). */
export function addSecret(value: string | undefined): void {
  if (value && value.length >= 6) extraSecrets.add(value);
}

function secrets(): string[] {
  const values = new Set(extraSecrets);
  for (const name of SECRET_VARIABLES) {
    const value = process.env[name];
    if (!value) continue;
    // Comma-separated lists (TANDEM_API_KEYS) are several secrets.
    for (const part of [value, ...value.split(",")]) if (part.trim().length >= 6) values.add(part.trim());
  }
  // Longest first, so a key is not half-replaced by a shorter one inside it.
  return [...values].sort((a, b) => b.length - a.length);
}

export function redact(text: string): string {
  let out = text;
  for (const secret of secrets()) out = out.split(secret).join("[redacted]");
  for (const shape of KEY_SHAPES) {
    out = out.replace(shape, (match, ...groups) => {
      const prefix = typeof groups[0] === "string" && /^(Bearer|Basic)$/i.test(groups[0]) ? `${groups[0]} ` : "";
      if (typeof groups[0] === "string" && typeof groups[1] === "string" && /api|token|password|secret/i.test(groups[0])) return `${groups[0]}${groups[1]}[redacted]`;
      if (typeof groups[0] === "string" && /^redis/i.test(groups[0])) return `${groups[0]}[redacted]@`;
      return `${prefix}[redacted]`;
    });
  }
  return out;
}

/** An error's message, redacted. */
export function errorMessage(error: unknown): string {
  return redact(error instanceof Error ? error.message : String(error));
}
