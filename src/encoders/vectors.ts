/**
 * The vectors file written by `tandem embed` and read by similar-example prompts and head training:
 * 16-byte header — the ASCII magic "TNDV", then little-endian uint32 version (1), rows and dim — followed
 * by rows × dim float32 values, little-endian, row-major, in the order of the input rows.
 */
import { readFileSync } from "node:fs";
import { writeFileAtomic } from "../core/files.js";
import { UserError } from "../core/errors.js";

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

export interface Vectors {
  rows: number;
  dim: number;
  data: Float32Array;
}

export function writeVectors(file: string, vectors: Vectors): void {
  const header = Buffer.alloc(16);
  header.write("TNDV", 0, "ascii");
  header.writeUInt32LE(1, 4);
  header.writeUInt32LE(vectors.rows, 8);
  header.writeUInt32LE(vectors.dim, 12);
  const count = vectors.rows * vectors.dim;
  const body = Buffer.alloc(count * 4);
  if (LITTLE_ENDIAN) new Float32Array(body.buffer, body.byteOffset, count).set(vectors.data.subarray(0, count));
  else for (let i = 0; i < count; i++) body.writeFloatLE(vectors.data[i] as number, i * 4);
  writeFileAtomic(file, Buffer.concat([header, body]));
}

export function readVectors(file: string): Vectors {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch {
    throw new UserError("file not found", { file });
  }
  if (bytes.length < 16 || bytes.toString("ascii", 0, 4) !== "TNDV") throw new UserError("not a tandem vectors file (no TNDV header)", { file });
  const version = bytes.readUInt32LE(4);
  if (version !== 1) throw new UserError(`vectors file version ${version} is newer than this tandem understands`, { file });
  const rows = bytes.readUInt32LE(8);
  const dim = bytes.readUInt32LE(12);
  if (bytes.length !== 16 + rows * dim * 4) throw new UserError(`vectors file is truncated: expected ${rows} × ${dim} values`, { file });
  const data = new Float32Array(rows * dim);
  // Buffers from readFileSync may start at any offset: copy the bytes into the aligned array.
  if (LITTLE_ENDIAN) new Uint8Array(data.buffer).set(bytes.subarray(16));
  else for (let i = 0; i < rows * dim; i++) data[i] = bytes.readFloatLE(16 + i * 4);
  return { rows, dim, data };
}
