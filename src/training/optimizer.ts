/**
 * Optimizers and learning-rate schedules for head training, with PyTorch's semantics so that settings
 * carry over from the engine: Adam and SGD add weight_decay·θ to the gradient (L2), AdamW decays the
 * weights directly (decoupled); SGD's momentum buffer starts at the first gradient, no dampening.
 * Schedules follow Hugging Face's get_*_schedule_with_warmup (the factor at step 0 is 0 with warm-up).
 *
 * The parameters, their gradients and the optimizer's state live in one WebAssembly memory, and the
 * update runs there four floats at a time (wasm/optimizer.wat): the training loop hands ONNX Runtime
 * views of that memory, so nothing is copied between a step's gradients and its update.
 */
import { OPTIMIZER_WASM_BASE64 } from "./wasm/optimizer-wasm.js";

export type OptimizerName = "adamw" | "adam" | "sgd";
export type SchedulerName = "cosine" | "linear" | "constant";

export interface OptimizerSettings {
  name: OptimizerName;
  lr: number;
  weightDecay: number;
  /** SGD momentum (default 0.9). */
  momentum?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

interface Kernels {
  adam(p: number, g: number, m: number, v: number, n: number, stepSize: number, secondCorrection: number, decay: number, l2: number, beta1: number, beta2: number, eps: number): void;
  sgd(p: number, g: number, b: number, n: number, lr: number, wd: number, momentum: number): void;
}

const wasmModule = new WebAssembly.Module(Buffer.from(OPTIMIZER_WASM_BASE64, "base64"));
const PAGE = 65536;

/** One tensor's place in memory: byte offsets of its parameters, gradient and state; length padded to 4. */
interface Slot {
  size: number;
  padded: number;
  param: number;
  grad: number;
  first: number;
  second: number;
}

export class Optimizer {
  /** The parameters, one view per tensor; update them in place (e.g. to initialise). */
  readonly params: Float32Array[];
  /** Where each step's gradients go (ONNX Runtime writes them here). */
  readonly grads: Float32Array[];
  private readonly slots: Slot[];
  private readonly kernels: Kernels;
  private steps = 0;

  constructor(readonly settings: OptimizerSettings, sizes: readonly number[]) {
    let offset = 0;
    const take = (floats: number) => {
      const at = offset;
      offset += floats * 4;
      return at;
    };
    const padded = sizes.map((n) => Math.ceil(n / 4) * 4);
    const slots: Slot[] = sizes.map((size, k) => ({ size, padded: padded[k]!, param: take(padded[k]!), grad: take(padded[k]!), first: take(padded[k]!), second: settings.name === "sgd" ? 0 : take(padded[k]!) }));
    // Sized once: growing a memory detaches the views handed out below.
    const memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(offset / PAGE)) });
    this.kernels = new WebAssembly.Instance(wasmModule, { env: { memory } }).exports as unknown as Kernels;
    this.slots = slots;
    this.params = slots.map((s) => new Float32Array(memory.buffer, s.param, s.size));
    this.grads = slots.map((s) => new Float32Array(memory.buffer, s.grad, s.size));
  }

  /** One update of every parameter with the gradients in `grads`, at learning rate `lr`. */
  step(lr: number): void {
    this.steps++;
    const { name, weightDecay: wd } = this.settings;
    if (name === "sgd") {
      const momentum = this.steps === 1 ? 0 : (this.settings.momentum ?? 0.9);
      for (const s of this.slots) this.kernels.sgd(s.param, s.grad, s.first, s.padded, lr, wd, momentum);
      return;
    }
    const beta1 = this.settings.beta1 ?? 0.9;
    const beta2 = this.settings.beta2 ?? 0.999;
    const eps = this.settings.eps ?? 1e-8;
    const stepSize = lr / (1 - beta1 ** this.steps);
    const secondCorrection = 1 / Math.sqrt(1 - beta2 ** this.steps);
    const decay = name === "adamw" ? 1 - lr * wd : 1;
    const l2 = name === "adam" ? wd : 0;
    for (const s of this.slots) this.kernels.adam(s.param, s.grad, s.first, s.second, s.padded, stepSize, secondCorrection, decay, l2, beta1, beta2, eps);
  }
}

/** The learning-rate factor at optimizer step `step` (0-based) of `total`, with `warmup` warm-up steps. */
export function scheduleFactor(name: SchedulerName, step: number, total: number, warmup: number): number {
  if (step < warmup) return step / Math.max(1, warmup);
  if (name === "constant") return 1;
  const progress = (step - warmup) / Math.max(1, total - warmup);
  if (name === "linear") return Math.max(0, 1 - progress);
  return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
}
