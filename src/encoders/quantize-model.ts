/**
 * `tandem quantize`: a model folder in, an int8 model folder out (written under a temporary name and
 * renamed when complete), and the quality guard — the fp32 and int8 models on the same texts: label
 * agreement, the largest probability change, and macro F1 of each where gold labels are given.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { UserError } from "../core/errors.js";
import { evaluate, macroF1 } from "../metrics/evaluate.js";
import { classifyWithEncoder, planBatches } from "./inference.js";
import { EncoderModel } from "./model.js";
import * as ort from "onnxruntime-node";
import { fuseEncoderGraph } from "./fusions.js";
import { DEFAULT_SMOOTHING_ALPHA, exposeMatMulInputs, quantizeOnnx, type QuantizeOptions, type QuantizeSummary } from "./quantize.js";

/** Files a quantized folder leaves out: float weights only further training reads, and training state. */
const TRAINING_ONLY = new Set(["model.safetensors", "best.safetensors", "checkpoint.pt", "data", ".build-key"]);

export interface QuantizedModel extends QuantizeSummary {
  out: string;
  /** Self-attention blocks written as one MultiHeadAttention each (fusions.ts). */
  fusedAttention: number;
  graphBytesBefore: number;
  graphBytesAfter: number;
}

/** Writes `out`: the folder of `dir` with its ONNX graph quantized to int8 and config.json recording it. */
export function quantizeModel(dir: string, out: string, options: QuantizeOptions & { /** Write self-attention fused (default true). */ fuse?: boolean } = {}): QuantizedModel {
  const graph = [join(dir, "onnx", "model.onnx"), join(dir, "model.onnx")].find(existsSync);
  if (!graph) throw new UserError("no ONNX graph: expected onnx/model.onnx or model.onnx", { file: dir });
  const configFile = join(dir, "config.json");
  if (!existsSync(configFile)) throw new UserError("no config.json in the model folder", { file: dir });
  if (resolve(dir) === resolve(out)) throw new UserError("--out must be a different folder from the model folder", { file: out });
  const config = JSON.parse(readFileSync(configFile, "utf8")) as Record<string, unknown>;
  if (config.quantization) throw new UserError("the model is already quantized (config.json has \"quantization\")", { file: configFile });
  const source = readFileSync(graph);
  let result: ReturnType<typeof quantizeOnnx>;
  try {
    result = quantizeOnnx(source, options);
  } catch (error) {
    throw new UserError((error as Error).message, { file: graph });
  }
  if (result.summary.matmuls === 0) throw new UserError("no MatMul with a weight matrix in the graph: nothing to quantize", { file: graph });
  // The file is written fused, so that any ONNX Runtime session (not only tandem's) runs the fused graph.
  const fused = options.fuse === false ? { bytes: result.bytes, summary: { attention: 0 } } : fuseEncoderGraph(result.bytes);
  const partial = join(dirname(resolve(out)), `.${basename(out)}.partial-${process.pid}`);
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(dirname(resolve(out)), { recursive: true });
  const root = resolve(dir);
  cpSync(dir, partial, { recursive: true, filter: (file) => !(dirname(resolve(file)) === root && TRAINING_ONLY.has(basename(file))) });
  const target = join(partial, graph.slice(dir.length).replace(/^[/\\]+/, ""));
  writeFileSync(target, fused.bytes);
  const quantization = {
    ...(result.summary.activations === "static"
      ? { method: "static int8 (QuantizeLinear and ONNX Runtime MatMulIntegerToFloat)", activations: `uint8, ${options.smoothing?.lower && options.smoothing.upper ? "asymmetric" : "symmetric (zero point 128)"}, one range per tensor fixed by calibration` }
      : { method: "dynamic int8 (ONNX Runtime DynamicQuantizeMatMul)", activations: "uint8, asymmetric, per tensor, at run time" }),
    weights: "int8, symmetric, one scale per output column",
    embeddings: result.summary.embeddings > 0 ? "int8, symmetric, one scale per row" : "float",
    ...(options.smoothing ? { activation_smoothing: { method: "SmoothQuant (per input channel, folded into the weights)", alpha: options.smoothing.alpha ?? DEFAULT_SMOOTHING_ALPHA, tensors: result.summary.smoothed, calibration_texts: options.smoothing.texts } } : {}),
    matmuls: result.summary.matmuls,
    ...(fused.summary.attention > 0 ? { fused: { multi_head_attention: fused.summary.attention } } : {}),
    source: basename(resolve(dir)),
    tool: "tandem quantize",
  };
  writeFileSync(join(partial, "config.json"), JSON.stringify({ ...config, quantization }, null, 2) + "\n");
  rmSync(out, { recursive: true, force: true });
  renameSync(partial, out);
  return { ...result.summary, out, fusedAttention: fused.summary.attention, graphBytesBefore: source.length, graphBytesAfter: fused.bytes.length };
}

/** Per-channel activation ranges from calibration texts, by activation tensor name. */
export interface ActivationRanges {
  /** Largest |x| of each channel (what smoothing reads). */
  maxima: Map<string, Float32Array>;
  /** Smallest and largest signed x of each channel (what static quantization's asymmetric range reads). */
  lower: Map<string, Float32Array>;
  upper: Map<string, Float32Array>;
}

/**
 * Calibration for activation smoothing and static ranges: runs the fp32 graph on `texts` (token-length
 * batches) and returns each channel's range for every activation a quantized MatMul reads.
 */
export async function calibrateActivationRanges(dir: string, texts: readonly string[], options: Pick<QuantizeOptions, "minElements" | "keepFloat"> & { batchSize?: number; maxLength?: number } = {}): Promise<ActivationRanges> {
  const model = await EncoderModel.load(dir);
  const ranges: ActivationRanges = { maxima: new Map(), lower: new Map(), upper: new Map() };
  try {
    const exposed = exposeMatMulInputs(readFileSync(model.graphFile), options);
    const session = await ort.InferenceSession.create(exposed.bytes, { graphOptimizationLevel: "basic" });
    try {
      const maxLength = Math.min(options.maxLength ?? 128, model.maxPositions);
      const tokens = texts.map((text) => model.tokenizer.encode(text, maxLength).ids);
      for (const batch of planBatches(tokens.map((ids) => ids.length), options.batchSize ?? 16, true)) {
        const { feeds, seq, mask } = model.feeds(batch.map((i) => tokens[i] as number[]));
        const result = await session.run(feeds, exposed.names);
        for (const name of exposed.names) {
          const tensor = result[name] as ort.Tensor;
          const values = tensor.data as Float32Array;
          const width = Number(tensor.dims[tensor.dims.length - 1]);
          const channelMax = ranges.maxima.get(name) ?? new Float32Array(width);
          const low = ranges.lower.get(name) ?? new Float32Array(width).fill(Infinity);
          const high = ranges.upper.get(name) ?? new Float32Array(width).fill(-Infinity);
          // Padding positions of [batch, sequence, width] tensors are left out: their values never reach an answer.
          const perToken = tensor.dims.length === 3 && Number(tensor.dims[1]) === seq;
          for (let i = 0; i < values.length; i++) {
            if (perToken && mask[Math.floor(i / width)] === 0n) continue;
            const j = i % width;
            const value = values[i] as number;
            if (Math.abs(value) > (channelMax[j] as number)) channelMax[j] = Math.abs(value);
            if (value < (low[j] as number)) low[j] = value;
            if (value > (high[j] as number)) high[j] = value;
          }
          ranges.maxima.set(name, channelMax);
          ranges.lower.set(name, low);
          ranges.upper.set(name, high);
        }
      }
    } finally {
      await session.release();
    }
  } finally {
    await model.release();
  }
  return ranges;
}

/** The largest |x| of each channel of every activation a quantized MatMul reads (see calibrateActivationRanges). */
export async function calibrateActivations(dir: string, texts: readonly string[], options: Pick<QuantizeOptions, "minElements" | "keepFloat"> & { batchSize?: number; maxLength?: number } = {}): Promise<Map<string, Float32Array>> {
  return (await calibrateActivationRanges(dir, texts, options)).maxima;
}

export interface QuantizationCheck {
  rows: number;
  /** Share of rows where both models predict the same label. */
  agreement: number;
  /** Largest absolute change of any class probability. */
  maxProbabilityChange: number;
  meanProbabilityChange: number;
  /** Macro F1 (0–1) of each model where gold labels were given. */
  macroF1?: { fp32: number; int8: number };
  /** Seconds each model took on the texts (same batches). */
  seconds: { fp32: number; int8: number };
}

/** Runs both models on the same texts and compares them (the quality guard `tandem quantize --check` prints). */
export async function compareQuantized(fp32Dir: string, int8Dir: string, texts: readonly string[], gold?: readonly string[], options: { batchSize?: number; maxLength?: number } = {}): Promise<QuantizationCheck> {
  const outputs = [];
  for (const dir of [fp32Dir, int8Dir]) {
    const model = await EncoderModel.load(dir);
    try {
      if (model.kind === "embedding") throw new UserError("the quality check needs a classifier (an embedding model has no labels)", { file: dir });
      outputs.push(await classifyWithEncoder(model, texts, { batchSize: options.batchSize ?? 32, maxLength: options.maxLength ?? 128 }));
    } finally {
      await model.release();
    }
  }
  const [a, b] = outputs as [Awaited<ReturnType<typeof classifyWithEncoder>>, Awaited<ReturnType<typeof classifyWithEncoder>>];
  let same = 0;
  let maxChange = 0;
  let sumChange = 0;
  for (let i = 0; i < texts.length; i++) if (a.predictions[i] === b.predictions[i]) same++;
  for (let i = 0; i < a.probabilities.length; i++) {
    const change = Math.abs((a.probabilities[i] as number) - (b.probabilities[i] as number));
    maxChange = Math.max(maxChange, change);
    sumChange += change;
  }
  const check: QuantizationCheck = {
    rows: texts.length,
    agreement: texts.length ? same / texts.length : 1,
    maxProbabilityChange: maxChange,
    meanProbabilityChange: a.probabilities.length ? sumChange / a.probabilities.length : 0,
    seconds: { fp32: a.seconds, int8: b.seconds },
  };
  if (gold) {
    const f1 = (pred: string[]) => macroF1Of(gold, pred, a.labels);
    check.macroF1 = { fp32: f1(a.predictions), int8: f1(b.predictions) };
  }
  return check;
}

function macroF1Of(gold: readonly string[], pred: readonly string[], labels: readonly string[]): number {
  return macroF1(evaluate({ gold: [...gold], pred: [...pred], labels: [...labels] }).overall);
}
