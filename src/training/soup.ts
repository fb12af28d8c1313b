/**
 * Weight averaging of two fine-tuned checkpoints of the same architecture ("model soup", Wortsman et al.
 * 2022): θ = (1 − t)·θ_a + t·θ_b, tensor by tensor. Two stages of one fine-tune usually sit in one basin,
 * and a point between them often generalises better than either end.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../core/errors.js";
import { readSafetensors, writeSafetensors, type Tensor } from "../encoders/safetensors.js";

/** θ = (1 − t)·a + t·b for every tensor; both sets must have the same names and shapes. Pure. */
export function interpolateTensors(a: ReadonlyMap<string, Tensor>, b: ReadonlyMap<string, Tensor>, t: number): Map<string, Tensor> {
  if (!(t >= 0 && t <= 1)) throw new RangeError(`the interpolation weight must be between 0 and 1, not ${t}`);
  const out = new Map<string, Tensor>();
  for (const [name, left] of a) {
    const right = b.get(name);
    if (!right) throw new RangeError(`tensor ${name} is in the first checkpoint only`);
    if (right.shape.join("×") !== left.shape.join("×")) throw new RangeError(`tensor ${name}: shape ${left.shape.join("×")} vs ${right.shape.join("×")}`);
    const data = new Float32Array(left.data.length);
    for (let i = 0; i < data.length; i++) data[i] = (1 - t) * (left.data[i] as number) + t * (right.data[i] as number);
    out.set(name, { shape: [...left.shape], data });
  }
  for (const name of b.keys()) if (!a.has(name)) throw new RangeError(`tensor ${name} is in the second checkpoint only`);
  return out;
}

/**
 * Writes `out`: a checkpoint folder with the interpolated model.safetensors and the other files
 * (config, tokenizer) of `dirB`. Ready for `tandem export --checkpoint out`.
 */
export function soupCheckpoints(dirA: string, dirB: string, t: number, out: string): void {
  const weights = (dir: string) => {
    const file = join(dir, "model.safetensors");
    if (!existsSync(file)) throw new UserError("no model.safetensors in the checkpoint folder", { file: dir });
    return readSafetensors(file);
  };
  let tensors: Map<string, Tensor>;
  try {
    tensors = interpolateTensors(weights(dirA), weights(dirB), t);
  } catch (error) {
    if (error instanceof RangeError) throw new UserError(`cannot average ${dirA} and ${dirB}: ${error.message}`);
    throw error;
  }
  mkdirSync(out, { recursive: true });
  for (const file of readdirSync(dirB)) if (/^(config|tokenizer|tokenizer_config|special_tokens_map)\.json$|^vocab\.txt$/.test(file)) copyFileSync(join(dirB, file), join(out, file));
  writeSafetensors(join(out, "model.safetensors"), tensors, { soup: JSON.stringify({ a: dirA, b: dirB, t }) });
}
