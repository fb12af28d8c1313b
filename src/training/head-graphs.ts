/**
 * The research head (head.ts) as ONNX graphs for training: a forward graph (pooled vectors → logits)
 * and a training-step graph (pooled vectors, one-hot labels and dropout masks → mean cross-entropy and
 * the gradient of every parameter, derived by hand). The parameters are graph inputs, so one session
 * serves every step while the optimizer (optimizer.ts) updates them in JavaScript.
 */
import type { HeadConfig } from "../encoders/head.js";
import { GraphBuilder } from "../encoders/onnx-graph.js";

export interface ParameterSpec {
  name: string;
  dims: number[];
  /** Number of values (the product of dims). */
  size: number;
  /** Fan-in, for PyTorch's default nn.Linear initialisation. */
  fanIn: number;
}

/** Parameters in a fixed order: w0, b0, …, w{L}, b{L} (L = the output layer), then the SwishGLU projection. */
export function headParameters(config: HeadConfig): ParameterSpec[] {
  const spec = (name: string, dims: number[], fanIn: number): ParameterSpec => ({ name, dims, size: dims.reduce((a, b) => a * b, 1), fanIn });
  const specs: ParameterSpec[] = [];
  for (let l = 0; l <= config.numLayers; l++) {
    const inDim = l === 0 ? config.inputDim : config.hiddenDim;
    const outDim = l === config.numLayers ? config.numLabels : config.hiddenDim;
    specs.push(spec(`w${l}`, [outDim, inDim], inDim), spec(`b${l}`, [outDim], inDim));
  }
  if (config.activation === "swishglu" && config.numLayers > 0) {
    const H = config.hiddenDim;
    specs.push(spec("glu_w", [2 * H, H], H), spec("glu_b", [2 * H], H));
  }
  return specs;
}

interface HiddenLayer {
  /** Input of the layer's Linear. */
  input: string;
  /** Output of the Linear (pre-activation). */
  z: string;
  /** Values the activation's derivative needs. */
  saved: Record<string, string>;
}

function forward(g: GraphBuilder, config: HeadConfig, training: boolean): { logits: string; layers: HiddenLayer[]; features: string } {
  const H = config.hiddenDim;
  const layers: HiddenLayer[] = [];
  let x = "x";
  for (let l = 0; l < config.numLayers; l++) {
    const z = g.op("Gemm", [x, `w${l}`, `b${l}`], { transB: 1 });
    const saved: Record<string, string> = {};
    let h: string;
    switch (config.activation) {
      case "tanh": h = saved.h = g.op("Tanh", [z]); break;
      case "relu": h = g.op("Relu", [z]); break;
      case "sigmoid": h = saved.h = g.op("Sigmoid", [z]); break;
      case "leaky_relu": h = g.op("LeakyRelu", [z], { alpha: { float: 0.01 } }); break;
      case "gelu": {
        saved.erf = g.op("Erf", [g.op("Mul", [z, g.float(Math.SQRT1_2)])]);
        h = g.op("Mul", [g.op("Mul", [z, g.float(0.5)]), g.op("Add", [saved.erf, g.float(1)])]);
        break;
      }
      case "swish": {
        saved.s = g.op("Sigmoid", [z]);
        h = g.op("Mul", [z, saved.s]);
        break;
      }
      case "swishglu": {
        const u = g.op("Gemm", [z, "glu_w", "glu_b"], { transB: 1 });
        const axis = g.int64s([1]);
        saved.a = g.op("Slice", [u, g.int64s([0]), g.int64s([H]), axis]);
        saved.gate = g.op("Slice", [u, g.int64s([H]), g.int64s([2 * H]), axis]);
        saved.s = g.op("Sigmoid", [saved.gate]);
        saved.silu = g.op("Mul", [saved.gate, saved.s]);
        h = g.op("Mul", [saved.a, saved.silu]);
        break;
      }
    }
    layers.push({ input: x, z, saved });
    x = training && config.dropoutRate > 0 ? g.op("Mul", [h, `mask${l}`]) : h;
  }
  const logits = g.op("Gemm", [x, `w${config.numLayers}`, `b${config.numLayers}`], { transB: 1 });
  return { logits, layers, features: x };
}

function declareParameters(g: GraphBuilder, config: HeadConfig): void {
  for (const spec of headParameters(config)) g.input(spec.name, spec.dims);
}

/** Inputs x [batch, inputDim] and the parameters; output logits [batch, numLabels]. */
export function headForwardGraph(config: HeadConfig): Uint8Array {
  const g = new GraphBuilder("tandem_head_forward");
  g.input("x", ["batch", config.inputDim]);
  declareParameters(g, config);
  g.output(forward(g, config, false).logits, "logits", ["batch", config.numLabels]);
  return g.encode();
}

/**
 * Inputs: x [batch, inputDim]; y [batch, numLabels] one-hot; inv_batch (1/batch, a scalar); with
 * dropout, mask{l} [batch, hiddenDim] holding 0 or 1/(1−p); the parameters. Outputs: loss (mean
 * cross-entropy) and grad_{name} for every parameter.
 */
export function headTrainingStepGraph(config: HeadConfig): Uint8Array {
  const g = new GraphBuilder("tandem_head_step");
  const H = config.hiddenDim;
  g.input("x", ["batch", config.inputDim]);
  g.input("y", ["batch", config.numLabels]);
  g.input("inv_batch", []);
  if (config.dropoutRate > 0) for (let l = 0; l < config.numLayers; l++) g.input(`mask${l}`, ["batch", H]);
  declareParameters(g, config);
  const { logits, layers, features } = forward(g, config, true);

  const logProbs = g.op("LogSoftmax", [logits], { axis: 1 });
  const loss = g.op("Mul", [g.op("ReduceSum", [g.op("Mul", ["y", logProbs])], { keepdims: 0 }), g.op("Neg", ["inv_batch"])]);
  g.output(loss, "loss", []);

  const rows = g.int64s([0]);
  const gradOf = (name: string, value: string, dims: number[]) => g.output(value, `grad_${name}`, dims);
  const linearGrads = (l: number, dz: string, input: string, inDim: number, outDim: number) => {
    gradOf(`w${l}`, g.op("Gemm", [dz, input], { transA: 1 }), [outDim, inDim]);
    gradOf(`b${l}`, g.op("ReduceSum", [dz, rows], { keepdims: 0 }), [outDim]);
  };

  // d loss / d logits = (softmax − y) / batch.
  const L = config.numLayers;
  const dLogits = g.op("Mul", [g.op("Sub", [g.op("Exp", [logProbs]), "y"]), "inv_batch"]);
  linearGrads(L, dLogits, features, L === 0 ? config.inputDim : H, config.numLabels);
  let dx = L > 0 ? g.op("MatMul", [dLogits, `w${L}`]) : "";
  const gluGrads: Array<{ w: string; b: string }> = [];
  for (let l = L - 1; l >= 0; l--) {
    const { input, z, saved } = layers[l]!;
    const dh = config.dropoutRate > 0 ? g.op("Mul", [dx, `mask${l}`]) : dx;
    const one = () => g.float(1);
    let dz: string;
    switch (config.activation) {
      case "tanh": dz = g.op("Mul", [dh, g.op("Sub", [one(), g.op("Mul", [saved.h!, saved.h!])])]); break;
      case "relu": dz = g.op("Where", [g.op("Greater", [z, g.float(0)]), dh, g.float(0)]); break;
      case "sigmoid": dz = g.op("Mul", [dh, g.op("Mul", [saved.h!, g.op("Sub", [one(), saved.h!])])]); break;
      case "leaky_relu": dz = g.op("Mul", [dh, g.op("Where", [g.op("Greater", [z, g.float(0)]), one(), g.float(0.01)])]); break;
      case "gelu": {
        // d/dz [z·Φ(z)] = Φ(z) + z·φ(z), with Φ(z) = (1 + erf(z/√2))/2 and φ the normal density.
        const cdf = g.op("Mul", [g.op("Add", [saved.erf!, one()]), g.float(0.5)]);
        const density = g.op("Mul", [g.op("Exp", [g.op("Mul", [g.op("Mul", [z, z]), g.float(-0.5)])]), g.float(1 / Math.sqrt(2 * Math.PI))]);
        dz = g.op("Mul", [dh, g.op("Add", [cdf, g.op("Mul", [z, density])])]);
        break;
      }
      case "swish": dz = g.op("Mul", [dh, siluDerivative(g, z, saved.s!)]); break;
      case "swishglu": {
        // h = a · silu(gate) with [a, gate] = z·Gᵀ + g_b; G is shared by every hidden layer, so its gradients add up.
        const da = g.op("Mul", [dh, saved.silu!]);
        const dGate = g.op("Mul", [g.op("Mul", [dh, saved.a!]), siluDerivative(g, saved.gate!, saved.s!)]);
        const du = g.op("Concat", [da, dGate], { axis: 1 });
        gluGrads.push({ w: g.op("Gemm", [du, z], { transA: 1 }), b: g.op("ReduceSum", [du, rows], { keepdims: 0 }) });
        dz = g.op("MatMul", [du, "glu_w"]);
        break;
      }
    }
    linearGrads(l, dz, input, l === 0 ? config.inputDim : H, H);
    if (l > 0) dx = g.op("MatMul", [dz, `w${l}`]);
  }
  if (gluGrads.length > 0) {
    const sum = (values: string[]) => (values.length === 1 ? values[0]! : g.op("Sum", values));
    gradOf("glu_w", sum(gluGrads.map((x) => x.w)), [2 * H, H]);
    gradOf("glu_b", sum(gluGrads.map((x) => x.b)), [2 * H]);
  }
  return g.encode();
}

/** silu'(v) = σ(v)·(1 + v·(1 − σ(v))), given s = σ(v). */
function siluDerivative(g: GraphBuilder, v: string, s: string): string {
  const one = g.float(1);
  return g.op("Mul", [s, g.op("Add", [one, g.op("Mul", [v, g.op("Sub", [one, s])])])]);
}
