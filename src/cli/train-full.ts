/** `tandem train full`: fine-tune an encoder with the research head on the PyTorch engine. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { UserError } from "../core/errors.js";
import { formatFixed } from "../metrics/format.js";
import { trainFull, type FullTrainingOptions } from "../training/full.js";
import { searchFullModel } from "../training/full-search.js";
import { describeTrial, reportSearch, withSearchOptions } from "./search-output.js";
import { parseFormat, parseInteger, parseNumber } from "./options.js";
import { progressBar, type ProgressReporter } from "./progress.js";
import { loadTrainingData, withTrainingDataOptions, type TrainingDataOptions } from "./training-data.js";

interface TrainFullOptions extends TrainingDataOptions {
  model?: string;
  initConfig?: string;
  tokenizer?: string;
  out: string;
  pooling?: string;
  hiddenDim?: number;
  activation?: string;
  layers?: number;
  dropout?: number;
  epochs: number;
  batchSize: number;
  gradAccumulation: number;
  lr: number;
  headLr?: number;
  weightDecay: number;
  optimizer: string;
  scheduler: string;
  warmupRatio: number;
  layerLrDecay: number;
  finetune: string;
  finetuneLast: number;
  clip: number;
  earlyStop: string;
  patience: number;
  tolerance: number;
  targetScore?: number;
  checkpointEvery: number;
  resume?: boolean;
  stopAfterEpoch?: number;
  maxLength: number;
  mixedPrecision: boolean;
  zero?: boolean;
  groupByLength?: boolean;
  nproc: number;
  launcher: "torchrun" | "spawn";
  kind: "classifier" | "backbone";
  search?: number;
  sampler: "tpe" | "random";
  pruning: boolean;
  db?: string;
  report?: string;
  format: "text" | "json";
}

export function registerTrainFull(train: Command): void {
  const command = train
    .command("full")
    .description("Fine-tune an encoder (BERT, ELECTRA, DistilBERT) with the research's pooling and head on the PyTorch engine; writes a model folder tandem classifies with. Needs Python with torch.")
    .option("--model <dir>", "model folder to start from (Hugging Face layout: config.json, model.safetensors or pytorch_model.bin, tokenizer)")
    .option("--init-config <file>", "JSON model config to train from scratch instead (model_type, sizes)")
    .option("--tokenizer <dir>", "tokenizer folder (default: the model's)")
    .requiredOption("-o, --out <dir>", "model folder to write (also holds checkpoints and the training log)");
  withTrainingDataOptions(command)
    .option("--pooling <p>", "cls, mean or max (head)")
    .option("--hidden-dim <n>", "head width", parseInteger("--hidden-dim", 1))
    .option("--activation <name>", "tanh, relu, sigmoid, leaky_relu, gelu, swish, swishglu")
    .option("--layers <n>", "head layers", parseInteger("--layers", 1))
    .option("--dropout <p>", "head dropout", parseNumber("--dropout", 0, 0.99))
    .option("--epochs <n>", "epochs", parseInteger("--epochs", 1), 3)
    .option("--batch-size <n>", "global batch size (split across processes)", parseInteger("--batch-size", 1), 32)
    .option("--grad-accumulation <n>", "batches per optimizer step", parseInteger("--grad-accumulation", 1), 1)
    .option("--lr <x>", "learning rate (top encoder layer)", parseNumber("--lr", 0), 5e-5)
    .option("--head-lr <x>", "learning rate of the head (default --lr)", parseNumber("--head-lr", 0))
    .option("--weight-decay <x>", "L2 / weight decay", parseNumber("--weight-decay", 0), 0)
    .option("--optimizer <name>", "adamw, adam, sgd, adagrad, rmsprop", parseFormat(["adamw", "adam", "sgd", "adagrad", "rmsprop"] as const), "adamw")
    .option("--scheduler <name>", "none, linear, cosine, step, multi_step, exponential, cosine_warm_restarts, reduce_on_plateau, cyclic", parseFormat(["none", "linear", "cosine", "step", "multi_step", "exponential", "cosine_warm_restarts", "reduce_on_plateau", "cyclic"] as const), "linear")
    .option("--warmup-ratio <x>", "share of steps warming up (linear, cosine)", parseNumber("--warmup-ratio", 0, 1), 0)
    .option("--layer-lr-decay <x>", "layer-wise LR decay: each layer below the top × x", parseNumber("--layer-lr-decay", 0, 1), 1)
    .option("--finetune <what>", "all, last (the last --finetune-last layers) or head (frozen backbone)", parseFormat(["all", "last", "head"] as const), "all")
    .option("--finetune-last <n>", "with --finetune last: layers to train", parseInteger("--finetune-last", 0), 0)
    .option("--clip <x>", "gradient norm clipping (0: none)", parseNumber("--clip", 0), 1)
    .option("--seed <n>", "seed", parseInteger("--seed"), 42)
    .option("--early-stop <on>", "score (validation macro F1) or loss", parseFormat(["score", "loss"] as const), "score")
    .option("--patience <n>", "epochs without improvement before stopping (0: never)", parseInteger("--patience", 0), 0)
    .option("--tolerance <x>", "smallest improvement that counts", parseNumber("--tolerance", 0), 0)
    .option("--target-score <f>", "stop once validation macro F1 reaches this", parseNumber("--target-score", 0, 1))
    .option("--checkpoint-every <n>", "epochs between checkpoints", parseInteger("--checkpoint-every", 1), 1)
    .option("--resume", "continue from the checkpoint in --out")
    .option("--stop-after-epoch <n>", "stop after this epoch, keeping the checkpoint (continue later with --resume)", parseInteger("--stop-after-epoch", 1))
    .option("--max-length <n>", "longest input in tokens", parseInteger("--max-length", 2), 128)
    .option("--no-mixed-precision", "full precision on GPU")
    .option("--group-by-length", "batch rows of similar token length together (shuffled windows of 50 batches): much less padding when lengths vary, e.g. SST phrases")
    .option("--zero", "ZeRO: shard optimizer state across processes (ZeroRedundancyOptimizer)")
    .option("--nproc <n>", "processes (DDP: one per GPU, or CPU processes with gloo)", parseInteger("--nproc", 1), 1)
    .option("--launcher <how>", "torchrun, or spawn (tandem starts the ranks itself, one machine; for a torchrun that does not work)", parseFormat(["torchrun", "spawn"] as const), "torchrun")
    .option("--kind <kind>", "export: classifier graph, or backbone graph + head in TypeScript", parseFormat(["classifier", "backbone"] as const), "classifier");
  withSearchOptions(command, { trial: "fine-tuning runs (trial 1 uses the flags given)", space: "the encoder's learning rate and the head's width, layers, dropout and activation" })
    .option("-f, --format <format>", "with --search: text or json (the summary on stdout)", parseFormat(["text", "json"] as const), "text")
    .action(async (options: TrainFullOptions) => {
      if (!options.model === !options.initConfig) throw new UserError("give --model DIR to fine-tune, or --init-config FILE to train from scratch");
      const tokenizer = options.tokenizer ?? options.model;
      if (!tokenizer) throw new UserError("--init-config needs --tokenizer DIR");
      const { train, val, labels } = await loadTrainingData(options);
      let init: Record<string, unknown> | undefined;
      if (options.initConfig) {
        try {
          init = JSON.parse(readFileSync(options.initConfig, "utf8"));
        } catch (error) {
          throw new UserError(`cannot read the model config (${(error as Error).message})`, { file: options.initConfig });
        }
      }
      const head: Record<string, unknown> = {};
      if (options.pooling) head.pooling = options.pooling;
      if (options.hiddenDim) head.hidden_dim = options.hiddenDim;
      if (options.activation) head.hidden_activation = options.activation;
      if (options.layers) head.num_layers = options.layers;
      if (options.dropout !== undefined) head.dropout_rate = options.dropout;
      let bar: ProgressReporter | undefined;
      let stepsPerEpoch = 1;
      const training: FullTrainingOptions = {
        model: options.model,
        init,
        tokenizer,
        train,
        val,
        labels,
        out: options.out,
        maxLength: options.maxLength,
        processes: options.nproc,
        launcher: options.launcher,
        kind: options.kind,
        engine: {
          head, epochs: options.epochs, batch_size: options.batchSize, grad_accumulation: options.gradAccumulation, lr: options.lr, head_lr: options.headLr ?? null,
          weight_decay: options.weightDecay, optimizer: options.optimizer, scheduler: options.scheduler, warmup_ratio: options.warmupRatio, layer_lr_decay: options.layerLrDecay,
          finetune: options.finetune, finetune_last: options.finetuneLast, clip: options.clip, seed: options.seed, early_stop: options.earlyStop, patience: options.patience,
          tolerance: options.tolerance, target_score: options.targetScore ?? null, checkpoint_every: options.checkpointEvery, resume: Boolean(options.resume),
          stop_after_epoch: options.stopAfterEpoch ?? null, mixed_precision: options.mixedPrecision, zero: Boolean(options.zero), group_by_length: Boolean(options.groupByLength),
        },
        onEvent: (event) => {
          if (event.event === "prepared") process.stderr.write(`${event.train} training and ${event.val} validation examples tokenized${event.truncated ? ` (${event.truncated} truncated)` : ""}\n`);
          if (event.event === "start") {
            stepsPerEpoch = Number(event.steps_per_epoch);
            process.stderr.write(`training ${Number(event.parameters).toLocaleString("en")} parameters (${Number(event.trainable).toLocaleString("en")} trainable) on ${event.device}, ${event.world_size} process(es)\n`);
          }
          if (event.event === "resumed") process.stderr.write(`resumed after epoch ${event.epoch}\n`);
          if (event.event === "note") process.stderr.write(`note: ${String(event.message)}\n`);
          if (event.event === "step") {
            bar ??= progressBar(stepsPerEpoch, `epoch ${event.epoch}`);
            bar.update(((Number(event.step) - 1) % stepsPerEpoch) + 1, { loss: Number(event.loss).toFixed(4), "samples/s": Number(event.samples_per_s).toFixed(0) });
          }
          if (event.event === "eval") {
            bar?.stop();
            bar = undefined;
            const f1 = event.macro_f1 === undefined ? "" : `, val loss ${Number(event.val_loss).toFixed(4)}, val macro F1 ${formatFixed(Number(event.macro_f1) * 100, 2)}%`;
            process.stderr.write(`epoch ${event.epoch}: train loss ${Number(event.train_loss).toFixed(4)}${f1}, ${Number(event.samples_per_s).toFixed(0)} samples/s\n`);
          }
          if (event.event === "early_stop") process.stderr.write(`early stop after epoch ${event.epoch}: ${event.reason}\n`);
        },
      };
      if (options.search) {
        const result = await searchFullModel({ ...training, trials: options.search, sampler: options.sampler, pruning: options.pruning, onTrial: (t, best) => {
          bar?.stop();
          bar = undefined;
          process.stderr.write(describeTrial(t, best, options.search!) + "\n");
        } });
        reportSearch({ kind: "full", encoder: options.model ?? options.initConfig!, train: train.file, val: val?.file ?? `${train.file} (held out)`, sampler: options.sampler, out: options.out, trials: result.trials, baseline: result.baseline, best: result.best }, options);
        return;
      }
      const events = await trainFull(training);
      bar?.stop();
      const done = events.find((e) => e.event === "done");
      process.stdout.write(`model folder → ${options.out} (best epoch ${done?.best_epoch ?? "?"}); classify with --model ${options.out}; log: ${join(options.out, "training_log.json")}\n`);
    });
}
