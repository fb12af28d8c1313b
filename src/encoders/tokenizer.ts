/**
 * Tokenization with the Hugging Face tokenizers engine (the one inside @huggingface/transformers):
 * `tokenizer.json` when present, else a WordPiece tokenizer built from `vocab.txt` and
 * `tokenizer_config.json` (BERT/ELECTRA/DistilBERT layout). Truncation keeps the final [SEP].
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { UserError } from "../core/errors.js";

export interface TextTokenizer {
  /** Token ids with special tokens, at most `maxLength` long. */
  encode(text: string, maxLength: number): { ids: number[]; truncated: boolean };
  padId: number;
  vocabSize: number;
}

function readJson(file: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch (error) {
    throw new UserError(`cannot read JSON (${(error as Error).message})`, { file });
  }
}

/** A tokenizer.json equivalent for a BERT-style vocab.txt. */
export function wordPieceDefinition(vocabLines: string[], config: Record<string, unknown>): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  vocabLines.forEach((token, id) => {
    if (token !== "" && !(token in vocab)) vocab[token] = id;
  });
  const special = (key: string, fallback: string) => (typeof config[key] === "string" ? (config[key] as string) : fallback);
  const [cls, sep, pad, unk, mask] = [special("cls_token", "[CLS]"), special("sep_token", "[SEP]"), special("pad_token", "[PAD]"), special("unk_token", "[UNK]"), special("mask_token", "[MASK]")];
  for (const token of [cls, sep, pad, unk]) {
    if (!(token in vocab)) throw new UserError(`vocab.txt has no special token ${token}`);
  }
  const added = [pad, unk, cls, sep, mask].filter((t) => t in vocab).map((content) => ({
    id: vocab[content], content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
  }));
  const lowercase = config.do_lower_case !== false;
  return {
    version: "1.0",
    added_tokens: added,
    normalizer: { type: "BertNormalizer", clean_text: true, handle_chinese_chars: config.tokenize_chinese_chars !== false, strip_accents: config.strip_accents ?? null, lowercase },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: cls, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: sep, type_id: 0 } }],
      pair: [
        { SpecialToken: { id: cls, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: sep, type_id: 0 } },
        { Sequence: { id: "B", type_id: 1 } }, { SpecialToken: { id: sep, type_id: 1 } },
      ],
      special_tokens: {
        [cls]: { id: cls, ids: [vocab[cls]], tokens: [cls] },
        [sep]: { id: sep, ids: [vocab[sep]], tokens: [sep] },
      },
    },
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: { type: "WordPiece", unk_token: unk, continuing_subword_prefix: "##", max_input_chars_per_word: 100, vocab },
  };
}

export function loadTokenizer(dir: string): TextTokenizer {
  const configFile = join(dir, "tokenizer_config.json");
  const config = existsSync(configFile) ? readJson(configFile) : {};
  const tokenizerFile = join(dir, "tokenizer.json");
  const vocabFile = join(dir, "vocab.txt");
  let definition: Record<string, unknown>;
  if (existsSync(tokenizerFile)) definition = readJson(tokenizerFile);
  else if (existsSync(vocabFile)) definition = wordPieceDefinition(readFileSync(vocabFile, "utf8").split(/\r?\n/), config);
  else throw new UserError("no tokenizer: expected tokenizer.json or vocab.txt", { file: dir });
  const tokenizer = new Tokenizer(definition, config);
  const padToken = typeof config.pad_token === "string" ? config.pad_token : "[PAD]";
  const padId = tokenizer.token_to_id(padToken) ?? tokenizer.token_to_id("<pad>") ?? 0;
  const model = definition.model as { vocab?: Record<string, number> | unknown[] } | undefined;
  const vocabSize = model?.vocab ? (Array.isArray(model.vocab) ? model.vocab.length : Object.keys(model.vocab).length) : 0;
  return {
    padId,
    vocabSize,
    encode(text, maxLength) {
      const ids = tokenizer.encode(text).ids;
      if (ids.length <= maxLength) return { ids, truncated: false };
      // Keep the leading tokens and the closing special token ([SEP] or </s>).
      return { ids: [...ids.slice(0, maxLength - 1), ids[ids.length - 1] as number], truncated: true };
    },
  };
}
