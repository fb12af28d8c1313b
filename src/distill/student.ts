/**
 * distill, unit 2: the student. Each round trains a head on the backbone's cached embeddings (fractions of
 * a second) to choose the next questions; the final student is that head, or the backbone fine-tuned on the
 * same training labels with the PyTorch engine (the default where it is installed: it is what takes traffic
 * off the LLM, see docs/distill.md). A backbone that ships only its ONNX graph (the starter) is read back
 * into a trainable checkpoint once. The fine-tune keeps a checkpoint every epoch and resumes from it when
 * the same run is started again. The result is int8 where the backbone is float and the quality guard
 * passes on the calibration texts.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { UserError } from "../core/errors.js";
import { Random } from "../core/random.js";
import type { Dataset } from "../data/dataset.js";
import { evenlySpaced } from "../data/split.js";
import { softmaxRows, type HeadConfig, type HeadWeights } from "../encoders/head.js";
import { classifyWithEncoder } from "../encoders/inference.js";
import type { EncoderModel } from "../encoders/model.js";
import { calibrateActivationRanges, compareQuantized, quantizeModel } from "../encoders/quantize-model.js";
import type { Vectors } from "../encoders/vectors.js";
import { hasTorch } from "../training/engine.js";
import { trainFull } from "../training/full.js";
import { headConfigOf, writeHeadModelFolder } from "../training/head-model.js";
import { trainableCheckpoint } from "../training/onnx-checkpoint.js";
import { predictHead, trainHead, type HeadTrainingSettings } from "../training/train-head.js";
import type { DistillEvent, StudentHead } from "./types.js";

const HEADS: Record<StudentHead, { shape: { numLayers: number; hiddenDim: number; activation: "gelu"; dropoutRate: number }; lr: number; epochs: number }> = {
  softmax: { shape: { numLayers: 0, hiddenDim: 0, activation: "gelu", dropoutRate: 0 }, lr: 1e-2, epochs: 50 },
  mlp: { shape: { numLayers: 1, hiddenDim: 256, activation: "gelu", dropoutRate: 0.1 }, lr: 1e-3, epochs: 40 },
};

/**
 * Training labels from which a full student is the default: below this, fine-tuning a whole encoder costs
 * minutes to learn little more than a head does in a second.
 */
export const FULL_STUDENT_MIN_LABELS = 300;

/**
 * The fine-tuning recipe of a full student, measured on GPT-4o-mini's answers (docs/distill.md): 3 epochs at
 * 3e-5 left the LLM fewer texts at the certificate than 5 epochs or 1e-4 (whose student is overconfident).
 */
export const FULL_STUDENT_ENGINE = { epochs: 3, batch_size: 16, lr: 3e-5, warmup_ratio: 0.1, scheduler: "linear", weight_decay: 0.01, group_by_length: true };

/** head or full: what was asked, else full where the engine runs and there are enough labels. */
export function chooseStudent(asked: "head" | "full" | undefined, trainingLabels: number): { kind: "head" | "full"; why?: string } {
  if (asked) return { kind: asked };
  if (trainingLabels < FULL_STUDENT_MIN_LABELS) return { kind: "head", why: `a head student: ${trainingLabels} training labels (fine-tuning pays from about ${FULL_STUDENT_MIN_LABELS})` };
  if (!hasTorch()) return { kind: "head", why: "a head student: the PyTorch engine is not installed (Python with torch; fine-tuning the encoder, the default where it is, takes more traffic off the LLM)" };
  return { kind: "full" };
}

function headSettings(head: StudentHead, seed: number): HeadTrainingSettings {
  return { optimizer: { name: "adamw", lr: HEADS[head].lr, weightDecay: 0.01 }, scheduler: "cosine", warmupRatio: 0.1, epochs: HEADS[head].epochs, batchSize: 32, earlyStop: "score", patience: 0, tolerance: 0, seed };
}

function rowsOf(vectors: Vectors, indices: readonly number[]): Vectors {
  const data = new Float32Array(indices.length * vectors.dim);
  indices.forEach((row, i) => data.set(vectors.data.subarray(row * vectors.dim, (row + 1) * vectors.dim), i * vectors.dim));
  return { rows: indices.length, dim: vectors.dim, data };
}

export interface HeadStudent {
  config: HeadConfig;
  weights: HeadWeights;
  /** Class probabilities of every pool row, [rows × k]. */
  probabilities: Float32Array;
}

/** A head trained on the training labels only (a fixed schedule: no validation rows are taken from anywhere). */
export async function trainHeadStudent(vectors: Vectors, training: readonly number[], labelOf: (i: number) => number, labels: readonly string[], pooling: HeadConfig["pooling"], head: StudentHead, seed: number): Promise<HeadStudent> {
  const config = headConfigOf({ pooling, ...HEADS[head].shape }, vectors.dim, labels.length);
  const result = await trainHead(config, headSettings(head, seed), { vectors: rowsOf(vectors, training), labels: Int32Array.from(training, labelOf) }, undefined);
  const logits = await predictHead(config, result.weights, vectors);
  return { config, weights: result.weights, probabilities: softmaxRows(logits, vectors.rows, labels.length) };
}

/** Label and top probability of every row. */
export function argmaxRows(probabilities: Float32Array, rows: number, k: number, labels: readonly string[]): { pred: string[]; confidence: number[] } {
  const pred: string[] = [];
  const confidence: number[] = [];
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < k; c++) if ((probabilities[r * k + c] as number) > (probabilities[r * k + best] as number)) best = c;
    pred.push(labels[best]!);
    confidence.push(probabilities[r * k + best] as number);
  }
  return { pred, confidence };
}

export interface FinalStudentInput {
  kind: "head" | "full";
  backbone: EncoderModel;
  backboneDir: string;
  /** The last round's head (the head student itself). */
  head: HeadStudent;
  pool: readonly string[];
  trainingRows: readonly number[];
  calibrationRows: readonly number[];
  labelOf: (row: number) => string;
  labels: readonly string[];
  out: string;
  seed: number;
  maxLength: number;
  engine?: Record<string, unknown>;
  /** Where trainable checkpoints derived from ONNX-only backbones are kept. */
  checkpoints: string;
  emit: (event: DistillEvent) => void;
}

/**
 * Writes the final student's folder (OUT/model) and returns how it is quantized. The head is written on the
 * backbone's graph; a full student is fine-tuned in OUT/.fine-tune (kept, with a checkpoint per epoch, until
 * the student is written) and resumes there when the same labels and settings are given again.
 */
export async function writeFinalStudent(input: FinalStudentInput): Promise<{ modelDir: string; quantization: string }> {
  const { out, labels, maxLength } = input;
  const modelDir = join(out, "model");
  const partial = join(out, `.model.partial-${process.pid}`);
  rmSync(partial, { recursive: true, force: true });
  const backboneConfig = JSON.parse(readFileSync(join(input.backboneDir, "config.json"), "utf8")) as Record<string, unknown>;
  let quantization = backboneConfig.quantization ? "int8 (the backbone's)" : "float";
  if (input.kind === "full") {
    await fineTune(input, partial);
    quantization = "float";
  } else {
    writeHeadModelFolder(partial, input.backbone, input.head.config, input.head.weights, labels);
  }

  // int8 where the student is float, kept only when the quality guard passes on the calibration texts.
  const calibrationTexts = input.calibrationRows.map((i) => input.pool[i]!);
  const studentConfig = JSON.parse(readFileSync(join(partial, "config.json"), "utf8")) as Record<string, unknown>;
  if (!studentConfig.quantization) {
    const int8 = `${partial}-int8`;
    const guardTexts = calibrationTexts.length ? calibrationTexts : input.pool.slice(0, 200);
    try {
      // Static activations (ranges and smoothing from the pool's texts: faster, batch-invariant by
      // construction) when they hold the guard, else dynamic ones, else float.
      const rangeTexts = evenlySpaced(input.pool, 2048);
      const ranges = await calibrateActivationRanges(partial, rangeTexts, { maxLength });
      let kind = "static";
      quantizeModel(partial, int8, { smoothing: { ...ranges, texts: rangeTexts.length }, activations: "static" });
      let check = await compareQuantized(partial, int8, guardTexts, undefined, { maxLength });
      if (check.agreement < 0.98) {
        kind = "dynamic";
        quantizeModel(partial, int8);
        check = await compareQuantized(partial, int8, guardTexts, undefined, { maxLength });
      }
      if (check.agreement >= 0.98) {
        rmSync(partial, { recursive: true, force: true });
        renameSync(int8, partial);
        quantization = `int8, ${kind} activations (label agreement with float ${(check.agreement * 100).toFixed(2)}% on ${check.rows} calibration texts)`;
      } else {
        rmSync(int8, { recursive: true, force: true });
        quantization = `float (int8 agreed on only ${(check.agreement * 100).toFixed(2)}% of calibration texts, under the 98% guard)`;
      }
    } catch (error) {
      rmSync(int8, { recursive: true, force: true });
      quantization = `float (int8 not possible: ${(error as Error).message})`;
    }
  }
  rmSync(modelDir, { recursive: true, force: true });
  renameSync(partial, modelDir);
  if (input.kind === "full") rmSync(join(out, ".fine-tune"), { recursive: true, force: true });
  return { modelDir, quantization };
}

async function fineTune(input: FinalStudentInput, into: string): Promise<void> {
  const { out, labels, seed, maxLength, emit } = input;
  // A backbone with only its ONNX graph (the starter) gives a trainable checkpoint once, read back out of the graph.
  const graphFile = [join(input.backboneDir, "onnx", "model.onnx"), join(input.backboneDir, "model.onnx")].find(existsSync);
  const key = graphFile ? createHash("sha256").update(readFileSync(graphFile)).digest("hex").slice(0, 16) : "none";
  const start = trainableCheckpoint(input.backboneDir, join(input.checkpoints, `${basename(input.backboneDir)}-${key}`));
  const engine = { ...FULL_STUDENT_ENGINE, seed, ...input.engine, checkpoint_every: 1, resume: true };
  const order = new Random(seed).shuffle([...input.trainingRows]);
  const valCount = Math.round(order.length * 0.1);
  const work = join(out, ".fine-tune");
  // Resumes only the same fine-tune: the same start, rows and settings.
  const fingerprint = createHash("sha256").update(JSON.stringify({ start, engine, rows: order.map((i) => [input.pool[i], input.labelOf(i)]) })).digest("hex");
  if (!existsSync(join(work, ".fingerprint")) || readFileSync(join(work, ".fingerprint"), "utf8") !== fingerprint) {
    rmSync(work, { recursive: true, force: true });
  } else if (existsSync(join(work, "checkpoint.pt"))) emit({ kind: "note", message: "resuming the fine-tune from its last checkpoint" });
  const dataset = (indices: readonly number[], name: string): Dataset => ({ file: join(out, `${name}.csv`), columns: ["text", "label"], textColumn: "text", labelColumn: "label", examples: indices.map((i, line) => ({ text: input.pool[i]!, label: input.labelOf(i), line: line + 2, row: {} })) });
  const trainRows = order.slice(valCount);
  const epochs = Number(engine.epochs);
  const total = Math.ceil(trainRows.length / Number(engine.batch_size)) * epochs;
  emit({ kind: "note", message: `fine-tuning ${basename(input.backboneDir)} on ${trainRows.length} labels (${valCount} to choose the epoch), ${epochs} epochs, PyTorch engine` });
  await trainFull({
    model: start,
    tokenizer: start,
    train: dataset(trainRows, "train"),
    val: valCount ? dataset(order.slice(0, valCount), "val") : undefined,
    labels: [...labels],
    out: work,
    engine,
    maxLength,
    processes: 1,
    launcher: "spawn",
    kind: "classifier",
    onEvent: (event) => {
      if (event.event === "start") writeFileSync(join(work, ".fingerprint"), fingerprint);
      if (event.event === "step") emit({ kind: "train", done: Number(event.step), total, epoch: Number(event.epoch), loss: Number(event.loss) });
    },
  });
  rmSync(join(work, "data"), { recursive: true, force: true });
  // The student folder: what the engine exported, without its training state.
  rmSync(into, { recursive: true, force: true });
  renameSync(work, into);
  for (const file of ["checkpoint.pt", "best.safetensors", ".fingerprint"]) rmSync(join(into, file), { force: true });
}

/** The served student's class probabilities over the pool: a head reads the (final graph's) pooled vectors, a fine-tuned model runs whole. */
export async function studentProbabilities(model: EncoderModel, kind: "head" | "full", pool: readonly string[], maxLength: number, head: HeadStudent, encode: (model: EncoderModel) => Promise<Vectors>): Promise<Float32Array> {
  if (kind === "head") {
    const vectors = await encode(model);
    return softmaxRows(await predictHead(head.config, head.weights, vectors), pool.length, head.config.numLabels);
  }
  return (await classifyWithEncoder(model, pool, { batchSize: 32, maxLength })).probabilities;
}

export function noFullStudentError(dir: string): UserError {
  return new UserError("--student full fine-tunes the backbone on the PyTorch engine: this backbone has neither PyTorch weights (model.safetensors) nor an ONNX graph tandem can read them back from", { file: dir });
}
