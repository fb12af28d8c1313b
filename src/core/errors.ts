/**
 * Errors caused by the user's input (a missing file, a bad column, an unknown label), or an end the user
 * should hear of in one line (interrupted, rows failed). Library code says which kind; the CLI prints the
 * line and exits with the kind's code from the one table below. Anything else is a bug and keeps its stack.
 */

/** How a command ends, and its exit code (the table in docs/guarantees.md). */
export const EXIT_CODES = {
  done: 0,
  /** A bug (the stack is printed), or a remote job that ended failed or cancelled. */
  failed: 1,
  /** Bad input: the file, line and field are named; nothing was paid. */
  "bad-input": 2,
  /** Stopped at the budget (--max-cost): what was answered is written. */
  "budget-stop": 3,
  /** Rows failed (status error): the output is written, the reasons summarised; run again to retry them. */
  "rows-failed": 4,
  /** Interrupted (Ctrl-C): calls in flight finish and are cached; run again to continue. */
  interrupted: 130,
} as const;

export type Outcome = keyof typeof EXIT_CODES;
export type ErrorKind = Exclude<Outcome, "done">;
export interface Location {
  file?: string;
  line?: number;
  column?: string;
}

export class UserError extends Error {
  readonly location: Location;
  readonly kind: ErrorKind;

  constructor(message: string, location: Location = {}, kind: ErrorKind = "bad-input") {
    super(message);
    this.name = "UserError";
    this.location = location;
    this.kind = kind;
  }

  get exitCode(): number {
    return EXIT_CODES[this.kind];
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
