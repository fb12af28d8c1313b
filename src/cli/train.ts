/** `tandem export`: Hugging Face checkpoints (including the research's ElectraClassifier layout) → tandem model folders. */
import { rmSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { quantizeModel } from "../encoders/quantize-model.js";
import { pushModel } from "../encoders/push.js";
import type { Command } from "commander";
import { parseFormat } from "./options.js";
import { runEngine } from "../training/engine.js";
import { registerTrainFull } from "./train-full.js";
import { registerTrainHead } from "./train-head.js";

export function registerTraining(program: Command): void {
  const train = program.command("train").description("Train encoders: a head on cached vectors in TypeScript (train head), or full fine-tuning on the PyTorch engine (train full).");
  registerTrainHead(train);
  registerTrainFull(train);
  program
    .command("export")
    .description("Convert a PyTorch / Hugging Face checkpoint (config.json + model.safetensors or pytorch_model.bin; BERT, ELECTRA, DistilBERT, or the research's ElectraClassifier with its head) into a tandem model folder with an ONNX graph. Needs Python with torch.")
    .requiredOption("--checkpoint <dir>", "checkpoint folder")
    .requiredOption("-o, --out <dir>", "model folder to write")
    .option("--kind <kind>", "classifier: one graph with logits out; backbone: last_hidden_state graph + head.safetensors (head in TypeScript)", parseFormat(["classifier", "backbone"] as const), "classifier")
    .option("--tokenizer <dir>", "tokenizer files to copy (default: the checkpoint's)")
    .option("--labels <list>", "labels, comma-separated, when config.json has no id2label")
    .option("--int8", "write the int8 model (tandem quantize) instead of fp32")
    .option("--push <repo>", "then publish the folder to the hub as user/name (tandem push; HF_TOKEN)")
    .action(async (options: { checkpoint: string; out: string; kind: string; tokenizer?: string; labels?: string; int8?: boolean; push?: string }) => {
      const fp32 = options.int8 ? join(dirname(resolve(options.out)), `.${basename(options.out)}.fp32-${process.pid}`) : resolve(options.out);
      // The engine runs in its own folder: hand it absolute paths.
      const args = ["--checkpoint", resolve(options.checkpoint), "--out", fp32, "--kind", options.kind];
      if (options.tokenizer) args.push("--tokenizer", resolve(options.tokenizer));
      if (options.labels) args.push("--labels", options.labels);
      await runEngine("export", args);
      if (options.int8) {
        try {
          const result = quantizeModel(fp32, options.out);
          process.stdout.write(`int8: ${result.matmuls} MatMuls, ${result.embeddings} embedding table(s); graph ${(result.graphBytesBefore / 1e6).toFixed(1)} → ${(result.graphBytesAfter / 1e6).toFixed(1)} MB\n`);
        } finally {
          rmSync(fp32, { recursive: true, force: true });
        }
      }
      process.stdout.write(`${options.kind} model folder → ${options.out} (use it with --model ${options.out})\n`);
      if (options.push) {
        const pushed = await pushModel(options.out, options.push);
        process.stdout.write(`${pushed.files.length} files → ${pushed.url}; use it with --model ${options.push}\n`);
      }
    });
}
