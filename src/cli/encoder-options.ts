/** Options shared by the commands that run an encoder (classify, embed, bench encoder). */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { UserError } from "../core/errors.js";
import { resolveModelDir, STARTER_MODEL } from "../encoders/hub.js";
import { EncoderModel } from "../encoders/model.js";
import { DEFAULT_ROW_TOKENS, packingRowTokens } from "../encoders/packing.js";
import { parseInteger } from "./options.js";

export interface EncoderCliOptions {
  model?: string;
  batchSize: number;
  maxLength: number;
  threads?: number;
  device: string;
  bucketing: boolean;
  /** --packing: true (rows of the default size) or the row's tokens. */
  packing?: boolean | number;
}


export function withEncoderOptions(command: Command): Command {
  return command
    .option("--model <dir|org/name>", "encoder model: a folder in Hugging Face layout (config.json, tokenizer.json or vocab.txt, onnx/model.onnx) or a hub id (downloaded once); default: the bundled starter model")
    .option("--batch-size <n>", "texts per batch", parseInteger("--batch-size", 1), 32)
    .option("--max-length <n>", "longest input in tokens; longer texts are truncated (and counted)", parseInteger("--max-length", 2), 512)
    .option("--threads <n>", "ONNX Runtime threads (default: all cores)", parseInteger("--threads", 1))
    .option("--device <ep>", "execution provider: cpu, or cuda / dml / coreml where ONNX Runtime has it", "cpu")
    .option("--no-bucketing", "keep the input order in batches instead of grouping texts of similar length")
    .option("--packing [tokens]", `pack each batch's texts into shared rows of ${DEFAULT_ROW_TOKENS} tokens (or this many), each text attending only to itself: texts of mixed lengths cost their real tokens instead of the longest one's (BERT-family graphs)`, parseInteger("--packing", 8));
}

export async function loadEncoderFromCli(options: EncoderCliOptions): Promise<EncoderModel> {
  let spec = options.model;
  if (spec === undefined) {
    if (!existsSync(join(STARTER_MODEL, "config.json"))) {
      throw new UserError("no --model given and the bundled starter model (models/starter) is not in this checkout");
    }
    spec = STARTER_MODEL;
  }
  const dir = await resolveModelDir(spec, { onDownload: (file) => process.stderr.write(`downloading ${spec}/${file}\n`) });
  return EncoderModel.load(dir, { threads: options.threads, executionProvider: options.device, packing: packingRowTokens(options.packing) !== undefined });
}
