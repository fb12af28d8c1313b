/**
 * Pooled encoder vectors for head training, computed once and cached on disk as vectors files
 * (vectors.ts). The cache key covers everything the vectors depend on — the graph's bytes, the
 * tokenizer files, the pooling, the effective maximum length and the texts in order — so a cached file
 * is reused exactly when encoding again would give the same numbers, across runs and head settings.
 */
import { createHash } from "node:crypto";
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Pooling } from "../encoders/head.js";
import { runEncoder } from "../encoders/inference.js";
import type { EncoderModel } from "../encoders/model.js";
import { readVectors, writeVectors, type Vectors } from "../encoders/vectors.js";

export interface EncodeOptions {
  pooling: Pooling;
  maxLength: number;
  batchSize: number;
  /** Folder of cached encodings; undefined: always encode, cache nothing. */
  cacheDir?: string;
  onProgress?: (done: number, total: number) => void;
}

export interface Encoded {
  vectors: Vectors;
  /** True when the vectors came from the cache. */
  cached: boolean;
  /** The cache file, when caching. */
  file?: string;
  truncated: number;
  seconds: number;
}

const graphDigests = new Map<string, string>();

async function fileDigest(file: string): Promise<string> {
  const { size, mtimeMs } = statSync(file);
  const memo = `${file}\u0000${size}\u0000${mtimeMs}`;
  const known = graphDigests.get(memo);
  if (known) return known;
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  const digest = hash.digest("hex");
  graphDigests.set(memo, digest);
  return digest;
}

/** The cache key of one encoding job. */
export async function encodingKey(model: EncoderModel, texts: readonly string[], pooling: Pooling, maxLength: number): Promise<string> {
  const hash = createHash("sha256");
  hash.update(`tandem-encodings-v1\u0000${await fileDigest(model.graphFile)}\u0000${pooling}\u0000${Math.min(maxLength, model.maxPositions)}\u0000`);
  for (const name of ["tokenizer.json", "vocab.txt", "tokenizer_config.json"]) {
    const file = join(model.dir, name);
    if (existsSync(file)) hash.update(`${name}\u0000`).update(readFileSync(file));
  }
  hash.update(`${texts.length}\u0000`);
  for (const text of texts) hash.update(text).update("\u0000");
  return hash.digest("hex").slice(0, 32);
}

export async function encodeTexts(model: EncoderModel, texts: readonly string[], options: EncodeOptions): Promise<Encoded> {
  const started = performance.now();
  let file: string | undefined;
  if (options.cacheDir !== undefined) {
    file = join(options.cacheDir, `${await encodingKey(model, texts, options.pooling, options.maxLength)}.tndv`);
    if (existsSync(file)) {
      const vectors = readVectors(file);
      if (vectors.rows === texts.length) return { vectors, cached: true, file, truncated: 0, seconds: (performance.now() - started) / 1000 };
    }
  }
  const result = await runEncoder(model, texts, { batchSize: options.batchSize, maxLength: options.maxLength, output: "pooled", pooling: options.pooling, onProgress: options.onProgress });
  const vectors: Vectors = { rows: texts.length, dim: result.width, data: result.values };
  if (file && texts.length > 0) {
    mkdirSync(options.cacheDir!, { recursive: true });
    // Write then rename, so an interrupted run never leaves a truncated cache entry behind.
    const partial = `${file}.${process.pid}.partial`;
    writeVectors(partial, vectors);
    renameSync(partial, file);
  }
  return { vectors, cached: false, file, truncated: result.truncated, seconds: (performance.now() - started) / 1000 };
}
