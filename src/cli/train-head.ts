/** `tandem train head`: a head on an encoder's cached pooled vectors, in TypeScript (no Python). */
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { parseActivation, parsePooling } from "../encoders/head.js";
import { formatFixed } from "../metrics/format.js";
import { macroF1 } from "../metrics/evaluate.js";
import { searchHeadModel, trainHeadModel, type HeadModelOptions } from "../training/head-model.js";
import type { EncoderModel } from "../encoders/model.js";
import type { Dataset } from "../data/dataset.js";
import { UserError } from "../core/errors.js";
import type { OptimizerName, SchedulerName } from "../training/optimizer.js";
import { loadEncoderFromCli } from "./encoder-options.js";
import { parseFormat, parseInteger, parseNumber, printJson } from "./options.js";
import { progressBar, type ProgressReporter } from "./progress.js";
import { describeTrial, reportSearch, withSearchOptions } from "./search-output.js";
import { loadTrainingData, withTrainingDataOptions, type TrainingDataOptions } from "./training-data.js";

interface TrainHeadOptions extends TrainingDataOptions {
  encoder?: string;
  out: string;
  head: "mlp" | "softmax";
  pooling?: string;
  layers: number;
  hiddenDim: number;
  activation: string;
  dropout: number;
  optimizer: OptimizerName;
  lr: number;
  weightDecay: number;
  momentum: number;
  scheduler: SchedulerName;
  warmupRatio: number;
  epochs: number;
  batchSize: number;
  earlyStop: "score" | "loss";
  patience: number;
  tolerance: number;
  targetScore?: number;
  maxLength: number;
  encodeBatchSize: number;
  threads?: number;
  cache: boolean;
  cacheDir: string;
  format: "text" | "json";
  search?: number;
  sampler: "tpe" | "random";
  pruning: boolean;
  db?: string;
  report?: string;
}

export function registerTrainHead(train: Command): void {
  const command = train
    .command("head")
    .description("Train a classifier head on an encoder's pooled vectors, in TypeScript (no Python): the texts are encoded once (cached under --cache-dir), then softmax regression or the research's MLP head trains on the vectors. Writes a model folder (the encoder's graph + head.safetensors) that classify, run and the server load.")
    .option("--encoder <dir|org/name>", "encoder whose graph outputs last_hidden_state (a backbone export, or a tandem classifier export); default: the bundled starter model")
    .requiredOption("-o, --out <dir>", "model folder to write");
  withTrainingDataOptions(command)
    .option("--head <kind>", "mlp (the research head: --layers × Linear + activation + dropout, then the output Linear) or softmax (softmax regression on the pooled vector)", parseFormat(["mlp", "softmax"] as const), "mlp")
    .option("--pooling <p>", "cls, mean or max over last_hidden_state (default: the encoder's config, else mean)")
    .option("--layers <n>", "hidden layers of the MLP head", parseInteger("--layers", 1), 2)
    .option("--hidden-dim <n>", "width of the MLP head", parseInteger("--hidden-dim", 1), 1024)
    .option("--activation <name>", "tanh, relu, sigmoid, leaky_relu, gelu, swish or swishglu", "swishglu")
    .option("--dropout <p>", "dropout after each hidden layer", parseNumber("--dropout", 0, 0.99), 0.3)
    .option("--optimizer <name>", "adamw (decoupled weight decay), adam or sgd (weight decay as L2)", parseFormat(["adamw", "adam", "sgd"] as const), "adamw")
    .option("--lr <x>", "peak learning rate", parseNumber("--lr", 0), 1e-3)
    .option("--weight-decay <x>", "weight decay (AdamW) or L2 penalty (Adam, SGD)", parseNumber("--weight-decay", 0), 0.01)
    .option("--momentum <x>", "SGD momentum", parseNumber("--momentum", 0, 1), 0.9)
    .option("--scheduler <name>", "cosine, linear or constant, after the warm-up", parseFormat(["cosine", "linear", "constant"] as const), "cosine")
    .option("--warmup-ratio <x>", "share of all steps warming up linearly from 0", parseNumber("--warmup-ratio", 0, 1), 0.1)
    .option("--epochs <n>", "epochs at most", parseInteger("--epochs", 1), 20)
    .option("--batch-size <n>", "vectors per step", parseInteger("--batch-size", 1), 128)
    .option("--early-stop <on>", "score (validation macro F1) or loss (validation loss); also picks the epoch whose weights are kept", parseFormat(["score", "loss"] as const), "score")
    .option("--patience <n>", "epochs without improvement before stopping (0: never)", parseInteger("--patience", 0), 3)
    .option("--tolerance <x>", "smallest improvement that counts", parseNumber("--tolerance", 0), 0)
    .option("--target-score <f>", "stop once validation macro F1 (a fraction) reaches this", parseNumber("--target-score", 0, 1))
    .option("--seed <n>", "seed for initialisation, shuffling, dropout and the validation split", parseInteger("--seed"), 42)
    .option("--max-length <n>", "longest input in tokens when encoding", parseInteger("--max-length", 2), 512)
    .option("--encode-batch-size <n>", "texts per batch when encoding", parseInteger("--encode-batch-size", 1), 32)
    .option("--threads <n>", "ONNX Runtime threads (default: all cores)", parseInteger("--threads", 1))
    .option("--cache-dir <dir>", "where encodings are cached", join(".tandem", "encodings"))
    .option("--no-cache", "encode without reading or writing the cache");
  withSearchOptions(command, { trial: "trials (trial 1 is the head the flags give)", space: "learning rate, width, layers, dropout and activation" })
    .option("--format <f>", "text or json (the summary on stdout)", parseFormat(["text", "json"] as const), "text")
    .action(async (options: TrainHeadOptions) => {
      const { train, val, labels } = await loadTrainingData(options);
      const encoder = await loadEncoderFromCli({ model: options.encoder, batchSize: options.encodeBatchSize, maxLength: options.maxLength, threads: options.threads, device: "cpu", bucketing: true });
      const log = (line: string) => process.stderr.write(line + "\n");
      let bar: ProgressReporter | undefined;
      try {
        if (options.search) {
          await runSearch(options, encoder, train, val, labels, log);
          return;
        }
        const result = await trainHeadModel({
          encoder,
          train,
          val,
          labels,
          ...modelOptionsFromCli(options, encoder),
          events: {
            onEncodeStart: (part, rows) => (bar = progressBar(rows, `encode ${part}`)),
            onEncodeProgress: (_part, done) => bar?.update(done),
            onEncoded: (part, encoded) => {
              bar?.stop();
              bar = undefined;
              const where = encoded.cached ? `from the cache (${encoded.file})` : `in ${encoded.seconds.toFixed(1)} s${encoded.file ? `, cached as ${encoded.file}` : ""}`;
              log(`${part}: ${encoded.vectors.rows} vectors of width ${encoded.vectors.dim} ${where}${encoded.truncated ? `; ${encoded.truncated} texts truncated` : ""}`);
            },
            onStep: (epoch, step, steps, loss) => {
              bar ??= progressBar(steps, `epoch ${epoch}`);
              bar.update(step, { loss: loss.toFixed(4) });
            },
            onEpoch: (record) => {
              bar?.stop();
              bar = undefined;
              const scores = record.val_macro_f1 === undefined ? "" : `, val loss ${record.val_loss!.toFixed(4)}, val macro F1 ${formatFixed(record.val_macro_f1 * 100, 2)}%`;
              log(`epoch ${record.epoch}: train loss ${record.train_loss.toFixed(4)}${scores}, ${record.seconds.toFixed(1)} s (${record.samples_per_s.toFixed(0)} vectors/s)`);
            },
          },
        });
        if (result.training.stopReason) log(`stopped early: ${result.training.stopReason}`);
        const macro = result.validation ? macroF1(result.validation.overall) : undefined;
        if (options.format === "json") {
          printJson({
            out: result.out,
            head: result.config,
            best_epoch: result.training.bestEpoch,
            stop_reason: result.training.stopReason ?? null,
            history: result.training.history,
            validation: result.validation ? { overall: result.validation.overall, by: result.validation.by } : null,
            encodings: { train: { rows: result.encodings.train.vectors.rows, cached: result.encodings.train.cached, file: result.encodings.train.file ?? null }, val: result.encodings.val ? { rows: result.encodings.val.vectors.rows, cached: result.encodings.val.cached, file: result.encodings.val.file ?? null } : null },
          });
        } else {
          const score = macro === undefined ? "" : `; validation macro F1 ${formatFixed(macro * 100, 2)}% (validation_report.json)`;
          process.stdout.write(`model folder → ${options.out} (best epoch ${result.training.bestEpoch}${score}); classify with --model ${options.out}\n`);
        }
      } finally {
        bar?.stop();
        await encoder.release();
      }
    });
}

/** The head, training settings, encoding and output the flags describe. */
function modelOptionsFromCli(options: TrainHeadOptions, encoder: EncoderModel): Pick<HeadModelOptions, "head" | "settings" | "maxLength" | "encodeBatchSize" | "cacheDir" | "out"> {
  const softmax = options.head === "softmax";
  return {
    head: {
      pooling: options.pooling ? parsePooling(options.pooling) : encoder.pooling,
      numLayers: softmax ? 0 : options.layers,
      hiddenDim: options.hiddenDim,
      activation: parseActivation(options.activation),
      dropoutRate: softmax ? 0 : options.dropout,
    },
    settings: {
      optimizer: { name: options.optimizer, lr: options.lr, weightDecay: options.weightDecay, momentum: options.momentum },
      scheduler: options.scheduler, warmupRatio: options.warmupRatio, epochs: options.epochs, batchSize: options.batchSize,
      earlyStop: options.earlyStop, patience: options.patience, tolerance: options.tolerance, targetScore: options.targetScore,
      seed: options.seed, threads: options.threads,
    },
    maxLength: options.maxLength,
    encodeBatchSize: options.encodeBatchSize,
    cacheDir: options.cache ? resolve(options.cacheDir) : undefined,
    out: options.out,
  };
}

/** `train head --search N`: the trials as they finish, the table, the run store and the HTML report. */
async function runSearch(options: TrainHeadOptions, encoder: EncoderModel, train: Dataset, val: Dataset | undefined, labels: readonly string[], log: (line: string) => void): Promise<void> {
  if (options.head === "softmax") throw new UserError("--search tunes the MLP head: drop --head softmax");
  const result = await searchHeadModel({
    encoder, train, val, labels,
    ...modelOptionsFromCli(options, encoder),
    trials: options.search!,
    sampler: options.sampler,
    pruning: options.pruning,
    events: {
      onEncoded: (part, encoded) => log(`${part}: ${encoded.vectors.rows} vectors of width ${encoded.vectors.dim} ${encoded.cached ? `from the cache (${encoded.file})` : `in ${encoded.seconds.toFixed(1)} s`}`),
    },
    onTrial: (t, best) => log(describeTrial(t, best, options.search!)),
  });
  reportSearch({ kind: "head", encoder: encoder.dir, train: train.file, val: val?.file ?? `${train.file} (held out)`, sampler: options.sampler, out: options.out, trials: result.trials, baseline: result.baseline, best: result.best }, options);
}
