/**
 * Optimizers and learning-rate schedules for head training, with PyTorch's semantics so that settings
 * carry over from the engine: Adam and SGD add weight_decay·θ to the gradient (L2), AdamW decays the
 * weights directly (decoupled); SGD's momentum buffer starts at the first gradient, no dampening.
 * Schedules follow Hugging Face's get_*_schedule_with_warmup (the factor at step 0 is 0 with warm-up).
 * Pure: updates the given arrays in place.
 */
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

export class Optimizer {
  private readonly first: Float32Array[];
  private readonly second: Float32Array[];
  private steps = 0;

  constructor(readonly settings: OptimizerSettings, sizes: readonly number[]) {
    this.first = sizes.map((n) => new Float32Array(n));
    this.second = settings.name === "sgd" ? [] : sizes.map((n) => new Float32Array(n));
  }

  /** One update of every parameter with its gradient, at learning rate `lr`. */
  step(params: Float32Array[], grads: Float32Array[], lr: number): void {
    this.steps++;
    const { name, weightDecay: wd } = this.settings;
    if (name === "sgd") {
      const momentum = this.settings.momentum ?? 0.9;
      params.forEach((p, k) => sgdStep(p, grads[k]!, this.first[k]!, lr, wd, momentum, this.steps === 1));
      return;
    }
    const beta1 = this.settings.beta1 ?? 0.9;
    const beta2 = this.settings.beta2 ?? 0.999;
    const eps = this.settings.eps ?? 1e-8;
    const stepSize = lr / (1 - beta1 ** this.steps);
    const secondCorrection = 1 / Math.sqrt(1 - beta2 ** this.steps);
    const decay = name === "adamw" ? 1 - lr * wd : 1;
    const l2 = name === "adam" ? wd : 0;
    params.forEach((p, k) => adamStep(p, grads[k]!, this.first[k]!, this.second[k]!, stepSize, secondCorrection, decay, l2, beta1, beta2, eps));
  }
}

function adamStep(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, stepSize: number, secondCorrection: number, decay: number, l2: number, beta1: number, beta2: number, eps: number): void {
  const n = p.length;
  for (let i = 0; i < n; i++) {
    const theta = p[i]!;
    const grad = g[i]! + l2 * theta;
    const mi = beta1 * m[i]! + (1 - beta1) * grad;
    const vi = beta2 * v[i]! + (1 - beta2) * grad * grad;
    m[i] = mi;
    v[i] = vi;
    p[i] = theta * decay - (stepSize * mi) / (Math.sqrt(vi) * secondCorrection + eps);
  }
}

function sgdStep(p: Float32Array, g: Float32Array, buffer: Float32Array, lr: number, wd: number, momentum: number, first: boolean): void {
  const n = p.length;
  for (let i = 0; i < n; i++) {
    const grad = g[i]! + wd * p[i]!;
    const b = momentum === 0 ? grad : first ? grad : momentum * buffer[i]! + grad;
    buffer[i] = b;
    p[i] = p[i]! - lr * b;
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
