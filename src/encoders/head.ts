/**
 * The research's classifier on top of an encoder, in TypeScript: pooling over last_hidden_state
 * (cls, mean, or max with padded positions as zeros), then Linear(hidden_size→hidden_dim), activation,
 * [Linear(hidden_dim→hidden_dim), activation] × (num_layers−1), Linear(hidden_dim→n_classes).
 * Dropout is inactive at inference. Pure.
 */
import erfc from "@stdlib/math-base-special-erfc";
import { UserError } from "../core/errors.js";
import type { Tensor } from "./safetensors.js";

export type Pooling = "cls" | "mean" | "max";
export type Activation = "tanh" | "relu" | "sigmoid" | "leaky_relu" | "gelu" | "swish" | "swishglu";

/** Activation names as the research code writes them (PyTorch class names) and as tandem does. */
const ACTIVATION_NAMES: Record<string, Activation> = {
  tanh: "tanh", relu: "relu", sigmoid: "sigmoid", leaky_relu: "leaky_relu", leakyrelu: "leaky_relu",
  gelu: "gelu", swish: "swish", silu: "swish", swishglu: "swishglu", swish_glu: "swishglu",
};

export function parseActivation(name: string): Activation {
  const activation = ACTIVATION_NAMES[name.toLowerCase()];
  if (!activation) throw new UserError(`unknown activation "${name}" (use ${Object.keys(ACTIVATION_NAMES).join(", ")})`);
  return activation;
}

export function parsePooling(name: string): Pooling {
  if (name === "cls" || name === "mean" || name === "max") return name;
  throw new UserError(`unknown pooling "${name}" (use cls, mean or max)`);
}

export interface HeadConfig {
  pooling: Pooling;
  inputDim: number;
  hiddenDim: number;
  activation: Activation;
  numLayers: number;
  numLabels: number;
  dropoutRate: number;
}

export interface Linear {
  /** out × in, row-major (PyTorch's layout). */
  weight: Float32Array;
  bias: Float32Array;
  inDim: number;
  outDim: number;
}

export interface HeadWeights {
  /** num_layers hidden Linears, then the output Linear. */
  linears: Linear[];
  /** SwishGLU's projection (hidden_dim → 2·hidden_dim), one instance shared by every hidden layer. */
  glu?: Linear;
}

/** Pools a [batch, seq, dim] hidden state with its [batch, seq] mask into [batch, dim]. */
export function pool(hidden: Float32Array, mask: ArrayLike<number | bigint>, batch: number, seq: number, dim: number, pooling: Pooling): Float32Array {
  const out = new Float32Array(batch * dim);
  for (let b = 0; b < batch; b++) {
    const target = out.subarray(b * dim, (b + 1) * dim);
    if (pooling === "cls") {
      target.set(hidden.subarray(b * seq * dim, b * seq * dim + dim));
      continue;
    }
    if (pooling === "max") target.fill(Number.NEGATIVE_INFINITY);
    let count = 0;
    for (let s = 0; s < seq; s++) {
      const m = Number(mask[b * seq + s]);
      count += m;
      const row = (b * seq + s) * dim;
      if (pooling === "mean") {
        if (m !== 0) for (let d = 0; d < dim; d++) target[d] += (hidden[row + d] as number) * m;
      } else {
        // Padded positions count as zeros (h · mask), not −∞, as in the research code.
        for (let d = 0; d < dim; d++) {
          const value = (hidden[row + d] as number) * m;
          if (value > (target[d] as number)) target[d] = value;
        }
      }
    }
    if (pooling === "mean") for (let d = 0; d < dim; d++) target[d] = (target[d] as number) / count;
  }
  return out;
}

/** y = x Wᵀ + b for a batch of rows. */
export function linearForward(x: Float32Array, rows: number, layer: Linear): Float32Array {
  const { weight, bias, inDim, outDim } = layer;
  const y = new Float32Array(rows * outDim);
  for (let r = 0; r < rows; r++) {
    const xr = r * inDim;
    for (let o = 0; o < outDim; o++) {
      const wo = o * inDim;
      let sum = bias[o] as number;
      for (let i = 0; i < inDim; i++) sum += (x[xr + i] as number) * (weight[wo + i] as number);
      y[r * outDim + o] = sum;
    }
  }
  return y;
}

const silu = (v: number) => v / (1 + Math.exp(-v));

function activate(x: Float32Array, rows: number, dim: number, activation: Activation, glu?: Linear): Float32Array {
  if (activation === "swishglu") {
    if (!glu) throw new Error("SwishGLU needs its projection weights");
    const projected = linearForward(x, rows, glu);
    const half = glu.outDim / 2;
    const out = new Float32Array(rows * half);
    for (let r = 0; r < rows; r++) {
      for (let d = 0; d < half; d++) {
        const a = projected[r * glu.outDim + d] as number;
        const g = projected[r * glu.outDim + half + d] as number;
        out[r * half + d] = a * silu(g);
      }
    }
    return out;
  }
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i] as number;
    switch (activation) {
      case "tanh": out[i] = Math.tanh(v); break;
      case "relu": out[i] = v > 0 ? v : 0; break;
      case "sigmoid": out[i] = 1 / (1 + Math.exp(-v)); break;
      case "leaky_relu": out[i] = v > 0 ? v : 0.01 * v; break;
      // PyTorch's nn.GELU default: the exact form with the error function.
      case "gelu": out[i] = 0.5 * v * (2 - erfc(v / Math.SQRT2)); break;
      case "swish": out[i] = silu(v); break;
    }
  }
  return out;
}

/** Logits [batch, numLabels] from pooled vectors [batch, inputDim]. */
export function headForward(pooled: Float32Array, batch: number, config: HeadConfig, weights: HeadWeights): Float32Array {
  let x = pooled;
  for (let l = 0; l < config.numLayers; l++) {
    const layer = weights.linears[l] as Linear;
    x = activate(linearForward(x, batch, layer), batch, layer.outDim, config.activation, weights.glu);
  }
  return linearForward(x, batch, weights.linears[config.numLayers] as Linear);
}

export function softmaxRows(logits: Float32Array, rows: number, k: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let r = 0; r < rows; r++) {
    let max = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < k; c++) max = Math.max(max, logits[r * k + c] as number);
    let sum = 0;
    for (let c = 0; c < k; c++) {
      const e = Math.exp((logits[r * k + c] as number) - max);
      out[r * k + c] = e;
      sum += e;
    }
    for (let c = 0; c < k; c++) out[r * k + c] = (out[r * k + c] as number) / sum;
  }
  return out;
}

/**
 * Head weights from a checkpoint's tensors. Accepted names, with or without a leading model prefix:
 * the research layout `classifier.layers.{i}.weight` — an nn.Sequential of [Linear, activation,
 * (Dropout)] blocks, so Linears sit at every 3rd index with dropout and every 2nd without — and the
 * SwishGLU projection `classifier.layers.{j}.projection.*` stored once or under every activation index
 * (one module instance is shared by all hidden layers).
 */
export function headWeightsFromTensors(tensors: Map<string, Tensor>, config: HeadConfig, file?: string): HeadWeights {
  const stem = (name: string) => {
    const at = name.indexOf("classifier.layers.");
    return at >= 0 ? name.slice(at) : undefined;
  };
  const byStem = new Map<string, Tensor>();
  for (const [name, tensor] of tensors) {
    const key = stem(name);
    if (key !== undefined) byStem.set(key, tensor);
  }
  if (byStem.size === 0) throw new UserError("no classifier head weights (classifier.layers.*) in the checkpoint", { file });
  const step = config.dropoutRate > 0 ? 3 : 2;
  // A checkpoint saved without dropout modules has Linears every 2nd index: detect rather than trust the config.
  const hasIndex = (i: number) => byStem.has(`classifier.layers.${i}.weight`);
  const stride = hasIndex(step) ? step : hasIndex(step === 3 ? 2 : 3) ? (step === 3 ? 2 : 3) : step;
  const take = (name: string): Tensor => {
    const tensor = byStem.get(name);
    if (!tensor) throw new UserError(`the checkpoint has no tensor "${name}"`, { file });
    return tensor;
  };
  const linear = (prefix: string, inDim: number, outDim: number): Linear => {
    const weight = take(`${prefix}.weight`);
    const bias = take(`${prefix}.bias`);
    if (weight.shape[0] !== outDim || weight.shape[1] !== inDim) {
      throw new UserError(`${prefix}.weight has shape [${weight.shape}] but the config implies [${outDim}, ${inDim}]`, { file });
    }
    return { weight: weight.data, bias: bias.data, inDim, outDim };
  };
  const linears: Linear[] = [];
  for (let l = 0; l <= config.numLayers; l++) {
    const inDim = l === 0 ? config.inputDim : config.hiddenDim;
    const outDim = l === config.numLayers ? config.numLabels : config.hiddenDim;
    linears.push(linear(`classifier.layers.${l * stride}`, inDim, outDim));
  }
  let glu: Linear | undefined;
  if (config.activation === "swishglu" && config.numLayers > 0) {
    const candidates = Array.from({ length: config.numLayers }, (_, l) => `classifier.layers.${l * stride + 1}.projection`);
    const found = candidates.find((prefix) => byStem.has(`${prefix}.weight`));
    if (!found) throw new UserError(`no SwishGLU projection weights (looked for ${candidates.map((c) => c + ".weight").join(", ")})`, { file });
    glu = linear(found, config.hiddenDim, 2 * config.hiddenDim);
  }
  return { linears, glu };
}

/** Head tensors in the research layout (SwishGLU stored once, under the first activation index). */
export function headWeightsToTensors(config: HeadConfig, weights: HeadWeights, prefix = ""): Map<string, Tensor> {
  const stride = config.dropoutRate > 0 ? 3 : 2;
  const tensors = new Map<string, Tensor>();
  weights.linears.forEach((layer, l) => {
    tensors.set(`${prefix}classifier.layers.${l * stride}.weight`, { shape: [layer.outDim, layer.inDim], data: layer.weight });
    tensors.set(`${prefix}classifier.layers.${l * stride}.bias`, { shape: [layer.outDim], data: layer.bias });
  });
  if (weights.glu) {
    tensors.set(`${prefix}classifier.layers.1.projection.weight`, { shape: [weights.glu.outDim, weights.glu.inDim], data: weights.glu.weight });
    tensors.set(`${prefix}classifier.layers.1.projection.bias`, { shape: [weights.glu.outDim], data: weights.glu.bias });
  }
  return tensors;
}
