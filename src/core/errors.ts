/**
 * Errors caused by the user's input (a missing file, a bad column, an unknown label). The CLI prints
 * them as one line and exits with code 2; anything else is a bug and keeps its stack trace.
 */
export interface Location {
  file?: string;
  line?: number;
  column?: string;
}

export class UserError extends Error {
  readonly location: Location;
  readonly exitCode: number;

  constructor(message: string, location: Location = {}, exitCode = 2) {
    super(message);
    this.name = "UserError";
    this.location = location;
    this.exitCode = exitCode;
  }

  /** "file.csv, line 12, column "label": message" — the one line the user sees. */
  describe(): string {
    const parts: string[] = [];
    if (this.location.file !== undefined) parts.push(this.location.file);
    if (this.location.line !== undefined) parts.push(`line ${this.location.line}`);
    if (this.location.column !== undefined) parts.push(`column "${this.location.column}"`);
    return parts.length > 0 ? `${parts.join(", ")}: ${this.message}` : this.message;
  }
}

export function isUserError(error: unknown): error is UserError {
  return error instanceof UserError;
}
