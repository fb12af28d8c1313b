/**
 * Writing files so that a kill never leaves a partial file under the final name: the bytes go to a
 * temporary name beside the target and are renamed when complete (rename is atomic on one file system).
 */
import { mkdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { UserError } from "./errors.js";
import { basename, dirname, join } from "node:path";

/** The temporary name of a file being written (beside it, hidden, unique to this process). */
export function partialName(file: string): string {
  return join(dirname(file), `.${basename(file)}.partial-${process.pid}`);
}

export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  // Checked first: renaming onto a folder would fail naming the temporary file, not the one asked for.
  if (statSync(file, { throwIfNoEntry: false })?.isDirectory()) throw new UserError("is a folder: give a file name", { file });
  mkdirSync(dirname(file), { recursive: true });
  const partial = partialName(file);
  try {
    writeFileSync(partial, data);
    renameSync(partial, file);
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  }
}
