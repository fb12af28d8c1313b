/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header naming each tensor's
 * dtype, shape and byte range, then the raw little-endian data. Small enough to read and write here;
 * tensors are returned as float32 whatever their stored type (F32, F16, BF16, F64).
 */
import { closeSync, openSync, readSync, fstatSync } from "node:fs";
import { writeFileAtomic } from "../core/files.js";
import { UserError } from "../core/errors.js";

export interface Tensor {
  shape: number[];
  data: Float32Array;
}

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? Number.NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

function decode(entry: HeaderEntry, bytes: Buffer, file: string, name: string): Float32Array {
  const count = entry.shape.reduce((a, b) => a * b, 1);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  switch (entry.dtype) {
    case "F32":
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
      break;
    case "F64":
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
      break;
    case "F16":
      for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
      break;
    case "BF16": {
      const scratch = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < count; i++) {
        scratch.setUint32(0, view.getUint16(i * 2, true) << 16, true);
        out[i] = scratch.getFloat32(0, true);
      }
      break;
    }
    default:
      throw new UserError(`tensor "${name}" has dtype ${entry.dtype}; tandem reads F32, F16, BF16 and F64`, { file });
  }
  return out;
}

/** Reads the tensors whose names pass `select` (all by default), without reading the others' bytes. */
export function readSafetensors(file: string, select: (name: string) => boolean = () => true): Map<string, Tensor> {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    throw new UserError("file not found", { file });
  }
  try {
    const size = fstatSync(fd).size;
    const lengthBytes = Buffer.alloc(8);
    readSync(fd, lengthBytes, 0, 8, 0);
    const headerLength = Number(lengthBytes.readBigUInt64LE(0));
    if (headerLength <= 0 || headerLength + 8 > size) throw new UserError("not a safetensors file (bad header length)", { file });
    const headerBytes = Buffer.alloc(headerLength);
    readSync(fd, headerBytes, 0, headerLength, 8);
    let header: Record<string, HeaderEntry | Record<string, string>>;
    try {
      header = JSON.parse(headerBytes.toString("utf8"));
    } catch {
      throw new UserError("not a safetensors file (header is not JSON)", { file });
    }
    const tensors = new Map<string, Tensor>();
    const dataSize = size - 8 - headerLength;
    const WIDTH: Record<string, number> = { F32: 4, F64: 8, F16: 2, BF16: 2 };
    // Every tensor's range must lie inside the file and match its shape and dtype: a truncated or
    // inconsistent file is refused here, never read as zeros.
    for (const [name, raw] of Object.entries(header)) {
      if (name === "__metadata__") continue;
      const entry = raw as Partial<HeaderEntry>;
      const offsets = entry.data_offsets;
      if (!Array.isArray(entry.shape) || !entry.shape.every((d) => Number.isInteger(d) && d >= 0) || !Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0) || offsets[1]! < offsets[0]!) {
        throw new UserError(`tensor "${name}" has an invalid header entry (shape, data_offsets)`, { file });
      }
      if (offsets[1]! > dataSize) throw new UserError(`the file is truncated: tensor "${name}" ends at byte ${8 + headerLength + offsets[1]!}, the file has ${size}`, { file });
      const width = WIDTH[entry.dtype ?? ""];
      const count = entry.shape.reduce((a, b) => a * b, 1);
      if (width !== undefined && (offsets[1]! - offsets[0]!) !== count * width) {
        throw new UserError(`tensor "${name}": ${offsets[1]! - offsets[0]!} bytes for shape [${entry.shape.join(", ")}] of ${entry.dtype} (expected ${count * width})`, { file });
      }
    }
    for (const [name, entry] of Object.entries(header)) {
      if (name === "__metadata__" || !select(name)) continue;
      const { data_offsets: [start, end], shape } = entry as HeaderEntry;
      const bytes = Buffer.alloc(end - start);
      readSync(fd, bytes, 0, end - start, 8 + headerLength + start);
      tensors.set(name, { shape, data: decode(entry as HeaderEntry, bytes, file, name) });
    }
    return tensors;
  } finally {
    closeSync(fd);
  }
}

/** Writes float32 tensors (sorted by name, 8-byte aligned header as the reference writer does). */
export function writeSafetensors(file: string, tensors: Map<string, Tensor> | Record<string, Tensor>, metadata?: Record<string, string>): void {
  const entries = [...(tensors instanceof Map ? tensors.entries() : Object.entries(tensors))].sort(([a], [b]) => (a < b ? -1 : 1));
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, tensor] of entries) {
    const expected = tensor.shape.reduce((a, b) => a * b, 1);
    if (expected !== tensor.data.length) throw new RangeError(`tensor ${name}: shape ${tensor.shape} does not match ${tensor.data.length} values`);
    header[name] = { dtype: "F32", shape: tensor.shape, data_offsets: [offset, offset + tensor.data.byteLength] };
    offset += tensor.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const headerBytes = Buffer.from(json, "utf8");
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let position = 8 + headerBytes.length;
  for (const [, tensor] of entries) {
    Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength).copy(out, position);
    position += tensor.data.byteLength;
  }
  writeFileAtomic(file, out);
}
