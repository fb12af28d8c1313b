/**
 * An encoder model on ONNX Runtime. Three kinds, told apart by the files:
 * - "classifier": the graph outputs `logits` (a complete sequence classifier);
 * - "backbone+head": the graph outputs `last_hidden_state` and the research head's weights are in
 *   head.safetensors or model.safetensors (pooling and head run in TypeScript, see head.ts);
 * - "embedding": a backbone without a head; vectors are pooled (and optionally L2-normalised).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { UserError } from "../core/errors.js";
import {
  headForward,
  headWeightsFromTensors,
  parseActivation,
  parsePooling,
  pool,
  softmaxRows,
  type HeadConfig,
  type HeadWeights,
  type Pooling,
} from "./head.js";
import { MAX_POOLING_REFUSAL, packedFeeds, packGraph, PackingUnsupported, planPackedRows, poolPackedRows } from "./packing.js";
import { readSafetensors } from "./safetensors.js";
import { loadTokenizer, type TextTokenizer } from "./tokenizer.js";
import { portableGraph } from "./int8-kernel.js";
import { createThreadedSession, type RunnableSession } from "./session-thread.js";

export type EncoderKind = "classifier" | "backbone+head" | "embedding";
export type EncoderOutputKind = "model" | "pooled";

export interface SessionOptions {
  /** Threads for one operator (ONNX Runtime's intra-op pool); default: all cores. */
  threads?: number;
  /** "cpu" (default), "cuda", "dml", "coreml", ... as the installed ONNX Runtime supports. */
  executionProvider?: string;
  /**
   * Let ONNX Runtime's threads spin between operators (default true: fastest when the model has the
   * machine to itself). A server turns it off: spinning threads take the CPU its requests need.
   */
  spinWait?: boolean;
  /**
   * Also load the graph rewritten for packed rows (`runPacked`): true refuses, with the reason, a model it
   * cannot rewrite; "auto" then loads it without packing (`canPack` says which).
   */
  packing?: boolean | "auto";
  /**
   * Compute on a worker thread, leaving the calling thread's event loop free while a batch runs (a
   * server's). Default false: on the calling thread, as onnxruntime-node does, which offline is faster
   * (measured 4–12% at batch 32 and 1: a worker adds a hand-over per batch and gains nothing there).
   */
  workerThread?: boolean;
}

/** The sessions of a graph rewritten for packed rows (see packing.ts). */
interface PackedSessions {
  backbone: RunnableSession;
  /** Where texts may start in a packed row (a multiple of this), chosen by `packingAlignment`. */
  alignment: number;
  /** A classifier graph's head: pooled vectors → logits. */
  head?: { session: RunnableSession; input: string; pooling: Pooling };
}

export interface EncoderOutput {
  /** [rows, numLabels] for classifiers, [rows, dim] vectors for embedding models. */
  values: Float32Array;
  width: number;
}

export class EncoderModel {
  private constructor(
    readonly dir: string,
    /** The ONNX graph file. */
    readonly graphFile: string,
    readonly kind: EncoderKind,
    readonly labels: string[],
    readonly tokenizer: TextTokenizer,
    readonly session: RunnableSession,
    readonly maxPositions: number,
    readonly pooling: Pooling,
    readonly normalize: boolean,
    /** The graph outputs last_hidden_state: pooled vectors can be taken (head training, embeddings). */
    readonly hasHiddenStates: boolean,
    private readonly head?: { config: HeadConfig; weights: HeadWeights },
    private readonly packed?: PackedSessions,
    /** Why packing is off when it was asked for as "auto" (the graph could not be rewritten). */
    readonly packingRefusal?: string,
  ) {}

  /** The model was loaded with packing: `runPacked` works. */
  get canPack(): boolean {
    return this.packed !== undefined;
  }

  /** Where texts start in packed rows (a multiple of this), as the load-time probe chose; undefined without packing. */
  get packingAlignmentUsed(): number | undefined {
    return this.packed?.alignment;
  }

  static async load(dir: string, options: SessionOptions = {}): Promise<EncoderModel> {
    return (await EncoderModel.loadCopies(dir, options, 1))[0]!;
  }

  /**
   * `count` copies of the model, each with its own sessions (on worker threads with `workerThread`, so
   * that they compute at once). The folder is read, the graph made portable and packed, and the packing
   * probe run once for all of them.
   */
  static async loadCopies(dir: string, options: SessionOptions, count: number): Promise<EncoderModel[]> {
    const configFile = join(dir, "config.json");
    if (!existsSync(configFile)) throw new UserError("no config.json in the model folder", { file: dir });
    let config: Record<string, unknown>;
    try {
      config = JSON.parse(readFileSync(configFile, "utf8"));
    } catch (error) {
      throw new UserError(`cannot read config.json (${(error as Error).message})`, { file: configFile });
    }
    const graph = [join(dir, "onnx", "model.onnx"), join(dir, "model.onnx")].find(existsSync);
    if (!graph) throw new UserError("no ONNX graph: expected onnx/model.onnx or model.onnx", { file: dir });
    const tokenizer = loadTokenizer(dir);
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: options.threads ?? 0,
      interOpNumThreads: 1,
      executionProviders: [options.executionProvider ?? "cpu"],
      graphOptimizationLevel: "all",
      ...(options.spinWait === false ? { extra: { session: { intra_op: { allow_spinning: "0" } } } } : {}),
    };
    const workerThread = options.workerThread ?? false;
    const sessions: RunnableSession[] = [];
    try {
      const portable = await portableGraph(graph);
      for (let copy = 0; copy < count; copy++) sessions.push(await openSession(portable, sessionOptions, workerThread));
    } catch (error) {
      for (const opened of sessions) await opened.release();
      throw new UserError(`ONNX Runtime cannot load the graph: ${(error as Error).message}`, { file: graph });
    }
    const session = sessions[0]!;
    const pooling = typeof config.pooling === "string" ? parsePooling(config.pooling) : "mean";
    const outputs = session.outputNames;
    const maxPositions = Number(config.max_position_embeddings ?? 512);
    const labels = labelsFromConfig(config);
    const hasHidden = outputs.includes("last_hidden_state");
    if (!hasHidden && !outputs.includes("logits")) {
      throw new UserError(`the graph outputs ${outputs.join(", ")}; tandem needs "logits" or "last_hidden_state"`, { file: graph });
    }
    // head.safetensors says "run this head on the backbone" (a trained or exported head), even when the
    // graph also has the classifier's logits; model.safetensors holds a head only for backbone graphs.
    const headFile = [join(dir, "head.safetensors"), ...(outputs.includes("logits") ? [] : [join(dir, "model.safetensors")])].find(existsSync);
    // DistilBERT's config uses hidden_dim for its FFN width, so a head there records head_hidden_dim.
    const headWidth = config.head_hidden_dim ?? config.hidden_dim;
    const hasHeadConfig = headWidth !== undefined && config.num_layers !== undefined;
    let head: { config: HeadConfig; weights: HeadWeights } | undefined;
    if (hasHidden && headFile && hasHeadConfig) {
      const headConfig: HeadConfig = {
        pooling,
        inputDim: Number(config.hidden_size ?? config.dim),
        hiddenDim: Number(headWidth),
        activation: parseActivation(String(config.hidden_activation ?? "relu")),
        numLayers: Number(config.num_layers),
        numLabels: labels.length,
        dropoutRate: Number(config.dropout_rate ?? 0),
      };
      if (!Number.isFinite(headConfig.inputDim)) throw new UserError("config.json has no hidden_size", { file: configFile });
      const tensors = readSafetensors(headFile, (name) => name.includes("classifier."));
      head = { config: headConfig, weights: headWeightsFromTensors(tensors, headConfig, headFile) };
    }
    const kind: EncoderKind = head ? "backbone+head" : outputs.includes("logits") ? "classifier" : "embedding";

    let packed: PackedSessions[] = [];
    let packingRefusal: string | undefined;
    if (options.packing) {
      try {
        // A classifier graph pools inside itself (its head is split off at that pooling); otherwise config.json's pooling runs on packed rows.
        if (kind !== "classifier" && pooling === "max") throw new UserError(`cannot pack this model's rows: ${MAX_POOLING_REFUSAL}`, { file: configFile });
        packed = await loadPackedSessions(graph, sessionOptions, workerThread, count);
      } catch (error) {
        if (options.packing !== "auto" || !(error instanceof UserError)) throw error;
        packingRefusal = error.message;
      }
    }
    const normalize = kind === "embedding" && config.normalize !== false;
    const copies = (withPacking: boolean, refusal?: string) =>
      sessions.map((own, copy) => new EncoderModel(dir, graph, kind, kind === "embedding" ? [] : labels, tokenizer, own, maxPositions, pooling, normalize, hasHidden, head, withPacking ? packed[copy] : undefined, refusal));
    const models = copies(packed.length > 0, packingRefusal);
    if (packed.length > 0) {
      // The probe measures this CPU's kernels: what holds for one copy holds for all.
      const alignment = await models[0]!.packingAlignment();
      if (alignment !== undefined) for (const sessionsOfCopy of packed) sessionsOfCopy.alignment = alignment;
      else if (options.packing === "auto") {
        for (const sessionsOfCopy of packed) await releasePacked(sessionsOfCopy);
        return copies(false, "packed rows do not reproduce padded answers exactly on this CPU");
      }
    }
    return models;
  }

  /**
   * The smallest alignment of texts in packed rows (4, 8, 16 or 32 positions) at which probe texts get
   * exactly, bit for bit, the pooled vectors (or logits) they get padded: what this CPU's kernels need for
   * a text's answer not to depend on its row-mates. Undefined when none does.
   */
  private async packingAlignment(): Promise<number | undefined> {
    const ids = PACKING_PROBE.map((text) => this.tokenizer.encode(text, Math.min(64, this.maxPositions)).ids);
    const output: EncoderOutputKind = this.hasHiddenStates ? "pooled" : "model";
    const alone: Float32Array[] = [];
    for (const one of ids) alone.push((await this.run(this.feeds([one]), 1, output)).values);
    for (const alignment of [4, 8, 16, 32]) {
      this.packed!.alignment = alignment;
      const packed = await this.runPacked(ids, 64, output);
      const width = packed.width;
      if (alone.every((values, i) => values.every((v, j) => v === packed.values[i * width + j]))) return alignment;
    }
    return undefined;
  }

  /**
   * Feeds for a batch of token id lists: padded to the longest (or to `padTo`, for fixed-padding
   * comparisons), int64, with the mask and token types the graph asks for.
   */
  feeds(batch: number[][], padTo = 1): { feeds: Record<string, ort.Tensor>; seq: number; mask: BigInt64Array } {
    const seq = Math.max(padTo, ...batch.map((ids) => ids.length));
    const rows = batch.length;
    const ids = new BigInt64Array(rows * seq).fill(BigInt(this.tokenizer.padId));
    const mask = new BigInt64Array(rows * seq);
    batch.forEach((tokens, r) => {
      for (let s = 0; s < tokens.length; s++) {
        ids[r * seq + s] = BigInt(tokens[s] as number);
        mask[r * seq + s] = 1n;
      }
    });
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of this.session.inputNames) {
      if (name === "input_ids") feeds[name] = new ort.Tensor("int64", ids, [rows, seq]);
      else if (name === "attention_mask") feeds[name] = new ort.Tensor("int64", mask, [rows, seq]);
      else if (name === "token_type_ids") feeds[name] = new ort.Tensor("int64", new BigInt64Array(rows * seq), [rows, seq]);
      else throw new UserError(`the graph wants an input "${name}" that tandem does not know how to fill`, { file: this.dir });
    }
    return { feeds, seq, mask };
  }

  /**
   * Runs one prepared batch. "model": logits for classifiers, vectors for embedding models; "pooled":
   * the pooled last_hidden_state, never normalised — what a head sees (tandem train head).
   */
  async run(prepared: { feeds: Record<string, ort.Tensor>; seq: number; mask: BigInt64Array }, rows: number, output: EncoderOutputKind = "model", pooling: Pooling = this.pooling): Promise<EncoderOutput> {
    if (output === "pooled" && !this.hasHiddenStates) {
      throw new UserError("the model's graph outputs logits only, not last_hidden_state: re-export it with tandem export (classifier graphs then output both) or use a backbone", { file: this.dir });
    }
    if (output === "model" && this.kind === "classifier") {
      const result = await this.session.run(prepared.feeds, ["logits"]);
      const logits = result.logits as ort.Tensor;
      return { values: logits.data as Float32Array, width: Number(logits.dims[1]) };
    }
    const result = await this.session.run(prepared.feeds, ["last_hidden_state"]);
    const hidden = result.last_hidden_state as ort.Tensor;
    const dim = Number(hidden.dims[2]);
    const pooled = pool(hidden.data as Float32Array, prepared.mask, rows, prepared.seq, dim, output === "pooled" ? pooling : this.pooling);
    if (output === "pooled") return { values: pooled, width: dim };
    return this.fromPooled(pooled, rows, dim);
  }

  /**
   * Runs texts packed into rows of up to `rowTokens` tokens (each text attends only to itself and numbers
   * its positions from 0): the cost of their real tokens, not of rows × the longest. Every text must fit
   * a row. The model must be loaded with `packing`.
   */
  async runPacked(ids: readonly (readonly number[])[], rowTokens: number, output: EncoderOutputKind = "model", pooling: Pooling = this.pooling): Promise<EncoderOutput & { positions: number }> {
    const packed = this.packed;
    if (!packed) throw new Error("the model was loaded without packing");
    if (output === "pooled" && !this.hasHiddenStates) throw new UserError("the model's graph outputs logits only, not last_hidden_state", { file: this.dir });
    const rows = planPackedRows(ids.map((row) => row.length), rowTokens, packed.alignment);
    const fed = packedFeeds(ids, rows, this.tokenizer.padId);
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of packed.backbone.inputNames) {
      if (name === "input_ids") feeds[name] = new ort.Tensor("int64", fed.inputIds, [fed.rows, fed.sequence]);
      else if (name === "position_ids") feeds[name] = new ort.Tensor("int64", fed.positionIds, [fed.rows, fed.sequence]);
      else if (name === "attention_bias") feeds[name] = new ort.Tensor("float32", fed.attentionBias, [fed.rows, 1, fed.sequence, fed.sequence]);
      else if (name === "token_type_ids") feeds[name] = new ort.Tensor("int64", new BigInt64Array(fed.rows * fed.sequence), [fed.rows, fed.sequence]);
      else throw new UserError(`the packed graph wants an input "${name}" that tandem does not know how to fill`, { file: this.dir });
    }
    const hidden = (await packed.backbone.run(feeds, ["last_hidden_state"])).last_hidden_state as ort.Tensor;
    const dim = Number(hidden.dims[2]);
    const positions = fed.rows * fed.sequence;
    const rowPooling = output === "pooled" ? pooling : (packed.head?.pooling ?? this.pooling);
    const pooled = poolPackedRows(hidden.data as Float32Array, rows, ids.length, fed.sequence, dim, rowPooling);
    if (output === "pooled") return { values: pooled, width: dim, positions };
    if (this.kind === "classifier") {
      const head = packed.head!;
      const logits = (await head.session.run({ [head.input]: new ort.Tensor("float32", pooled, [ids.length, dim]) }, ["logits"])).logits as ort.Tensor;
      return { values: logits.data as Float32Array, width: Number(logits.dims[1]), positions };
    }
    return { ...this.fromPooled(pooled, ids.length, dim), positions };
  }

  /** What the model answers from pooled vectors: its head's logits, or (embedding models) the vectors, normalised if configured. */
  private fromPooled(pooled: Float32Array, rows: number, dim: number): EncoderOutput {
    if (this.kind === "backbone+head") {
      const head = this.head!;
      return { values: headForward(pooled, rows, head.config, head.weights), width: head.config.numLabels };
    }
    if (this.normalize) {
      for (let r = 0; r < rows; r++) {
        let norm = 0;
        for (let d = 0; d < dim; d++) norm += (pooled[r * dim + d] as number) ** 2;
        norm = Math.sqrt(norm) || 1;
        for (let d = 0; d < dim; d++) pooled[r * dim + d] = (pooled[r * dim + d] as number) / norm;
      }
    }
    return { values: pooled, width: dim };
  }

  async release(): Promise<void> {
    await this.session.release();
    if (this.packed) await releasePacked(this.packed);
  }
}

async function releasePacked(packed: PackedSessions): Promise<void> {
  await packed.backbone.release();
  await packed.head?.session.release();
}

/** Texts of several lengths for `packingAlignment`'s probe. */
const PACKING_PROBE = [
  "Fine.",
  "The food was cold and the waiter rude.",
  "A gorgeous, witty, seductive movie.",
  "Not what I expected, but I liked it a lot more than the first one.",
  "It is a film.",
  "Meh",
  "This is neither good nor bad, just long, and then some more words.",
  "Great!",
  "The plot twists kept me guessing until the very last scene of the second act.",
  "Never again, never.",
];

/** A session of a graph already made portable (int8-kernel.ts), on a worker thread or the caller's. */
async function openSession(graph: string | Uint8Array, options: ort.InferenceSession.SessionOptions, workerThread: boolean): Promise<RunnableSession> {
  if (workerThread) return createThreadedSession(graph, options);
  const session = typeof graph === "string" ? await ort.InferenceSession.create(graph, options) : await ort.InferenceSession.create(graph, options);
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    run: (feeds, fetches) => (fetches ? session.run(feeds, [...fetches]) : session.run(feeds)) as Promise<Record<string, ort.Tensor>>,
    release: () => session.release(),
  };
}

/** The packed-row sessions of `count` copies: the graph rewritten (and made portable) once. */
async function loadPackedSessions(graph: string, sessionOptions: ort.InferenceSession.SessionOptions, workerThread: boolean, count: number): Promise<PackedSessions[]> {
  let graphs: ReturnType<typeof packGraph>;
  try {
    graphs = packGraph(readFileSync(graph));
  } catch (error) {
    if (error instanceof PackingUnsupported) throw new UserError(`cannot pack this model's rows: ${error.message}`, { file: graph });
    throw error;
  }
  const backbone = await portableGraph(graphs.backbone);
  const head = graphs.head && { ...graphs.head, bytes: await portableGraph(graphs.head.bytes) };
  const sets: PackedSessions[] = [];
  for (let copy = 0; copy < count; copy++) {
    const own = await openSession(backbone, sessionOptions, workerThread);
    if (!head) {
      sets.push({ backbone: own, alignment: 1 });
      continue;
    }
    // The head is one small product per text: a trip to a worker thread would cost more than it computes.
    const headSession = await openSession(head.bytes, { ...sessionOptions, intraOpNumThreads: 1 }, false);
    sets.push({ backbone: own, alignment: 1, head: { session: headSession, input: head.input, pooling: head.pooling } });
  }
  return sets;
}

/** id2label in index order; generic names when the config has none. */
export function labelsFromConfig(config: Record<string, unknown>): string[] {
  const id2label = config.id2label as Record<string, string> | undefined;
  if (id2label && Object.keys(id2label).length > 0) {
    const entries = Object.entries(id2label).map(([id, label]) => [Number(id), String(label)] as const);
    entries.sort((a, b) => a[0] - b[0]);
    return entries.map(([, label]) => label);
  }
  const count = Number(config.num_labels ?? 0);
  return Array.from({ length: count }, (_, i) => `LABEL_${i}`);
}

export { softmaxRows };
