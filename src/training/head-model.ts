/**
 * `tandem train head` as a library function: encode the training and validation texts once with an
 * encoder's backbone (cached), train a head on the pooled vectors (train-head.ts), and write a model
 * folder the inference engine loads as backbone + head: the encoder's graph, config and tokenizer,
 * head.safetensors, training_log.json and validation_report.json.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync } from "node:fs";
import { writeFileAtomic } from "../core/files.js";
import { basename, dirname, join, relative, resolve } from "node:path";
import { UserError } from "../core/errors.js";
import type { Dataset } from "../data/dataset.js";
import { headWeightsToTensors, type Activation, type HeadConfig, type HeadWeights, type Pooling } from "../encoders/head.js";
import type { EncoderModel } from "../encoders/model.js";
import { writeSafetensors } from "../encoders/safetensors.js";
import { evaluate, type Evaluation } from "../metrics/evaluate.js";
import { Random } from "../core/random.js";
import { encodeTexts, type Encoded } from "./encodings.js";
import { DEFAULT_SEARCH_SPACE, pruneReason, suggestTrial, type SearchSpace, type TrialParams, type TrialRecord } from "./head-search.js";
import { evaluateLogits, predictHead, trainHead, type HeadTrainingEvents, type HeadTrainingResult, type HeadTrainingSettings, type LabelledVectors } from "./train-head.js";

export interface HeadShape {
  pooling: Pooling;
  /** 0: softmax regression on the pooled vector. */
  numLayers: number;
  hiddenDim: number;
  activation: Activation;
  dropoutRate: number;
}

export interface HeadModelOptions {
  encoder: EncoderModel;
  train: Dataset;
  val?: Dataset;
  /** The head's classes, in output order. */
  labels: readonly string[];
  head: HeadShape;
  settings: HeadTrainingSettings;
  maxLength: number;
  encodeBatchSize: number;
  /** Folder of cached encodings; undefined: no cache. */
  cacheDir?: string;
  out: string;
  events?: HeadTrainingEvents & {
    onEncodeStart?: (part: "train" | "val", rows: number) => void;
    onEncodeProgress?: (part: "train" | "val", done: number, total: number) => void;
    onEncoded?: (part: "train" | "val", encoded: Encoded) => void;
  };
}

export interface HeadModelResult {
  out: string;
  config: HeadConfig;
  training: HeadTrainingResult;
  /** The best epoch's head on the validation data (overall and per source when there is one). */
  validation?: Evaluation;
  encodings: { train: Encoded; val?: Encoded };
}

const TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"];

function labelIndices(dataset: Dataset, labels: readonly string[]): Int32Array {
  const index = new Map(labels.map((label, i) => [label, i]));
  return Int32Array.from(dataset.examples, (example) => {
    const found = example.label === undefined ? undefined : index.get(example.label);
    if (found === undefined) throw new UserError(`label "${example.label ?? ""}" is not one of ${labels.join(", ")}`, { file: dataset.file, line: example.line });
    return found;
  });
}

function checkEncoder(encoder: EncoderModel, outDir: string): string {
  const out = resolve(outDir);
  if (out === resolve(encoder.dir)) throw new UserError("the output folder is the encoder's folder: choose another --out", { file: outDir });
  if (!encoder.hasHiddenStates) {
    throw new UserError("the encoder's graph has no last_hidden_state output, so tandem cannot pool its vectors: export the checkpoint with tandem export (classifier graphs then output both) or use a backbone", { file: encoder.dir });
  }
  return out;
}

/** The training and validation vectors (encoded once, cached) with their label indices. */
async function encodeData(options: HeadModelOptions): Promise<{ train: LabelledVectors; val?: LabelledVectors; encodings: HeadModelResult["encodings"] }> {
  const { encoder, events = {} } = options;
  const trainLabels = labelIndices(options.train, options.labels);
  const valLabels = options.val ? labelIndices(options.val, options.labels) : undefined;
  const encode = async (part: "train" | "val", dataset: Dataset): Promise<Encoded> => {
    events.onEncodeStart?.(part, dataset.examples.length);
    const encoded = await encodeTexts(encoder, dataset.examples.map((e) => e.text), {
      pooling: options.head.pooling, maxLength: options.maxLength, batchSize: options.encodeBatchSize, cacheDir: options.cacheDir,
      onProgress: (done, total) => events.onEncodeProgress?.(part, done, total),
    });
    events.onEncoded?.(part, encoded);
    return encoded;
  };
  const trainEncoded = await encode("train", options.train);
  const valEncoded = options.val ? await encode("val", options.val) : undefined;
  return {
    train: { vectors: trainEncoded.vectors, labels: trainLabels },
    val: valEncoded && valLabels ? { vectors: valEncoded.vectors, labels: valLabels } : undefined,
    encodings: { train: trainEncoded, val: valEncoded },
  };
}

export function headConfigOf(head: HeadShape, inputDim: number, numLabels: number): HeadConfig {
  return {
    pooling: head.pooling,
    inputDim,
    hiddenDim: head.numLayers > 0 ? head.hiddenDim : 0,
    activation: head.activation,
    numLayers: head.numLayers,
    numLabels,
    dropoutRate: head.numLayers > 0 ? head.dropoutRate : 0,
  };
}

async function validationOf(options: HeadModelOptions, config: HeadConfig, training: HeadTrainingResult, val: LabelledVectors | undefined): Promise<Evaluation | undefined> {
  if (!val || !options.val) return undefined;
  const logits = await predictHead(config, training.weights, val.vectors, options.settings.threads);
  const { predictions } = evaluateLogits(logits, val.labels, config.numLabels);
  const sources = options.val.examples.map((e) => e.source ?? "");
  return evaluate({
    gold: options.val.examples.map((e) => e.label!),
    pred: Array.from(predictions, (p) => options.labels[p]!),
    labels: options.labels,
    by: sources.some((s) => s !== "") ? sources : undefined,
  });
}

function writeLogs(out: string, options: HeadModelOptions, config: HeadConfig, training: HeadTrainingResult, train: LabelledVectors, val: LabelledVectors | undefined, validation: Evaluation | undefined, extra: Record<string, unknown> = {}): void {
  writeFileAtomic(join(out, "training_log.json"), JSON.stringify({
    encoder: options.encoder.dir,
    head: config,
    settings: { ...options.settings, threads: undefined },
    data: { train: options.train.file, train_rows: train.vectors.rows, val: options.val?.file ?? null, val_rows: val?.vectors.rows ?? 0, max_length: options.maxLength },
    history: training.history,
    best_epoch: training.bestEpoch,
    stop_reason: training.stopReason ?? null,
    seconds: training.seconds,
    ...extra,
  }, null, 2) + "\n");
  if (validation) writeFileAtomic(join(out, "validation_report.json"), JSON.stringify({ overall: validation.overall, by: validation.by }, null, 2) + "\n");
}

export async function trainHeadModel(options: HeadModelOptions): Promise<HeadModelResult> {
  const out = checkEncoder(options.encoder, options.out);
  const { train, val, encodings } = await encodeData(options);
  const config = headConfigOf(options.head, train.vectors.dim, options.labels.length);
  const training = await trainHead(config, options.settings, train, val, options.events);
  const validation = await validationOf(options, config, training, val);
  writeHeadModelFolder(out, options.encoder, config, training.weights, options.labels);
  writeLogs(out, options, config, training, train, val, validation);
  return { out, config, training, validation, encodings };
}

export interface HeadSearchOptions extends HeadModelOptions {
  trials: number;
  space?: SearchSpace;
  sampler?: "tpe" | "random";
  /** Median pruning of poor trials (default on). */
  pruning?: boolean;
  onTrial?: (trial: TrialRecord, best: TrialRecord) => void;
}

export interface HeadSearchResult extends HeadModelResult {
  trials: TrialRecord[];
  /** Trial 1: the head given in `head` and `settings` (the defaults, unless changed), the baseline to beat. */
  baseline: TrialRecord;
  best: TrialRecord;
}

/**
 * `tandem train head --search`: the texts are encoded once; trial 1 trains the given head (the
 * baseline), then `trials − 1` more sample learning rate, width, depth, dropout and activation
 * (headSearch's sampler) with median pruning; the best trial's head is written as the model folder.
 */
export async function searchHeadModel(options: HeadSearchOptions): Promise<HeadSearchResult> {
  const out = checkEncoder(options.encoder, options.out);
  const { train, val, encodings } = await encodeData(options);
  if (!val) throw new UserError("a search needs validation data to compare trials (--val, or a --val-fraction of --train)");
  const space = options.space ?? DEFAULT_SEARCH_SPACE;
  const random = new Random(options.settings.seed);
  const trials: TrialRecord[] = [];
  let best: { record: TrialRecord; config: HeadConfig; training: HeadTrainingResult; settings: HeadTrainingSettings } | undefined;
  for (let n = 1; n <= options.trials; n++) {
    const params: TrialParams = n === 1
      ? { lr: options.settings.optimizer.lr, hiddenDim: options.head.hiddenDim, layers: options.head.numLayers, dropout: options.head.dropoutRate, activation: options.head.activation }
      : options.sampler === "random" ? suggestTrial(space, trials, random, { startup: Number.POSITIVE_INFINITY }) : suggestTrial(space, trials, random);
    const config = headConfigOf({ pooling: options.head.pooling, numLayers: params.layers, hiddenDim: params.hiddenDim, activation: params.activation, dropoutRate: params.dropout }, train.vectors.dim, options.labels.length);
    const settings: HeadTrainingSettings = { ...options.settings, optimizer: { ...options.settings.optimizer, lr: params.lr }, seed: options.settings.seed + n - 1 };
    const scores: number[] = [];
    const training = await trainHead(config, settings, train, val, {
      ...options.events,
      prune: (record) => {
        scores.push(record.val_macro_f1 ?? 0);
        return options.pruning === false || n === 1 ? undefined : pruneReason(scores, trials);
      },
    });
    const record: TrialRecord = { trial: n, params, scores, best: Math.max(...scores), status: training.stopReason?.startsWith("pruned") ? "pruned" : "complete", seconds: training.seconds };
    trials.push(record);
    if (!best || record.best > best.record.best) best = { record, config, training, settings };
    options.onTrial?.(record, best.record);
  }
  const chosen = best!;
  const validation = await validationOf(options, chosen.config, chosen.training, val);
  const chosenOptions = { ...options, settings: chosen.settings };
  writeHeadModelFolder(out, options.encoder, chosen.config, chosen.training.weights, options.labels);
  writeLogs(out, chosenOptions, chosen.config, chosen.training, train, val, validation, { search: { trials, best_trial: chosen.record.trial, sampler: options.sampler ?? "tpe", space } });
  return { out, config: chosen.config, training: chosen.training, validation, encodings, trials, baseline: trials[0]!, best: chosen.record };
}

/** The encoder's graph, tokenizer and config (with the head's keys and labels) plus head.safetensors. */
export function writeHeadModelFolder(out: string, encoder: EncoderModel, config: HeadConfig, weights: HeadWeights, labels: readonly string[]): void {
  mkdirSync(out, { recursive: true });
  const graphRelative = relative(encoder.dir, encoder.graphFile);
  const graphDir = dirname(encoder.graphFile);
  // Copy the graph's folder when it is onnx/ (large graphs keep their weights in external data files beside it).
  if (graphRelative.startsWith("onnx")) {
    mkdirSync(join(out, "onnx"), { recursive: true });
    for (const file of readdirSync(graphDir)) if (file.includes(".onnx")) copyFileSync(join(graphDir, file), join(out, "onnx", file));
  } else {
    copyFileSync(encoder.graphFile, join(out, basename(encoder.graphFile)));
  }
  for (const file of TOKENIZER_FILES) if (existsSync(join(encoder.dir, file))) copyFileSync(join(encoder.dir, file), join(out, file));
  const source = JSON.parse(readFileSync(join(encoder.dir, "config.json"), "utf8")) as Record<string, unknown>;
  const widthKey = source.model_type === "distilbert" ? "head_hidden_dim" : "hidden_dim";
  const modelConfig = {
    ...source,
    pooling: config.pooling,
    num_layers: config.numLayers,
    [widthKey]: config.hiddenDim,
    hidden_activation: config.activation,
    dropout_rate: config.dropoutRate,
    id2label: Object.fromEntries(labels.map((label, i) => [String(i), label])),
    label2id: Object.fromEntries(labels.map((label, i) => [label, i])),
    num_labels: labels.length,
  };
  writeFileAtomic(join(out, "config.json"), JSON.stringify(modelConfig, null, 2) + "\n");
  writeSafetensors(join(out, "head.safetensors"), headWeightsToTensors(config, weights), { format: "pt", producer: "tandem train head" });
}
