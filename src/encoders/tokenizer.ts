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

/**
 * The BERT pipeline (clean text, lowercase, split on spaces and punctuation, WordPiece, [CLS] … [SEP]) for
 * texts of ASCII characters, computing exactly what the engine computes for them — the engine tests each
 * character with regular expressions, and this loop is several times faster — or undefined where the text
 * is not plain ASCII or holds a special token's text (the engine answers those). Checked id for id
 * against the engine on every text of ../shared and on random ASCII (test/encoders.test.ts).
 */
function asciiBertEncoder(definition: Record<string, unknown>, config: Record<string, unknown>, tokenizer: Tokenizer): ((text: string) => number[] | undefined) | undefined {
  const normalizer = definition.normalizer as { type?: string; clean_text?: boolean; lowercase?: boolean } | null;
  const preTokenizer = definition.pre_tokenizer as { type?: string } | null;
  const model = definition.model as { type?: string; vocab?: Record<string, number>; unk_token?: string; continuing_subword_prefix?: string; max_input_chars_per_word?: number; fuse_unk?: boolean } | undefined;
  const post = definition.post_processor as { type?: string; single?: Array<{ SpecialToken?: { id: string }; Sequence?: { id: string } }> } | null;
  if (normalizer?.type !== "BertNormalizer" || normalizer.clean_text !== true || preTokenizer?.type !== "BertPreTokenizer") return undefined;
  if (model?.type !== "WordPiece" || !model.vocab || Array.isArray(model.vocab) || model.fuse_unk || config.remove_space === true || config.do_lowercase_and_remove_accent === true) return undefined;
  const single = post?.type === "TemplateProcessing" ? post.single : undefined;
  if (!single || single.length !== 3 || !single[0]?.SpecialToken || single[1]?.Sequence?.id !== "A" || !single[2]?.SpecialToken) return undefined;
  const cls = tokenizer.token_to_id(single[0].SpecialToken.id);
  const sep = tokenizer.token_to_id(single[2].SpecialToken.id);
  const unk = model.unk_token === undefined ? undefined : tokenizer.token_to_id(model.unk_token);
  if (cls === undefined || sep === undefined || unk === undefined) return undefined;
  const vocab = new Map(Object.entries(model.vocab));
  // The engine looks word pieces up among the added tokens too.
  for (const token of (definition.added_tokens ?? []) as Array<{ content: string; id: number }>) vocab.set(token.content, token.id);
  const prefix = model.continuing_subword_prefix ?? "##";
  const longest = model.max_input_chars_per_word ?? 100;
  const lowercase = normalizer.lowercase === true;
  const specials = ((definition.added_tokens ?? []) as Array<{ content: string }>).map((token) => token.content.toLowerCase());
  const words = new Map<string, number[]>();
  const wordPiece = (word: string): number[] => {
    let ids = words.get(word);
    if (ids) return ids;
    ids = [];
    if (word.length > longest) ids.push(unk);
    else {
      for (let start = 0; start < word.length; ) {
        let end = word.length;
        let id: number | undefined;
        for (; start < end; end--) {
          id = vocab.get(start > 0 ? prefix + word.slice(start, end) : word.slice(start, end));
          if (id !== undefined) break;
        }
        if (id === undefined) {
          ids = [unk];
          break;
        }
        ids.push(id);
        start = end;
      }
    }
    if (words.size > 100_000) words.clear();
    words.set(word, ids);
    return ids;
  };
  // ASCII punctuation as the engine's BertPreTokenizer counts it (\p{P} and the ASCII symbol ranges).
  const isPunctuation = (c: number) => (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
  return (text) => {
    let cleaned = "";
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c >= 128) return undefined;
      // Control characters go (tab, newline and carriage return become spaces), as the engine's clean_text does.
      if (c === 9 || c === 10 || c === 13) cleaned += " ";
      else if (c < 32 || c === 127) continue;
      else cleaned += lowercase && c >= 65 && c <= 90 ? String.fromCharCode(c + 32) : text[i];
    }
    const lowered = cleaned.toLowerCase();
    if (specials.some((special) => lowered.includes(special))) return undefined;
    const ids = [cls];
    let word = -1;
    for (let i = 0; i <= cleaned.length; i++) {
      const c = i < cleaned.length ? cleaned.charCodeAt(i) : 32;
      const boundary = c === 32 || isPunctuation(c);
      if (boundary && word >= 0) {
        for (const id of wordPiece(cleaned.slice(word, i))) ids.push(id);
        word = -1;
      }
      if (c !== 32 && isPunctuation(c)) for (const id of wordPiece(cleaned[i] as string)) ids.push(id);
      else if (!boundary && word < 0) word = i;
    }
    ids.push(sep);
    return ids;
  };
}

export function loadTokenizer(dir: string, options: { /** Always the engine (to compare the ASCII fast path with). */ engineOnly?: boolean } = {}): TextTokenizer {
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
  const fast = options.engineOnly ? undefined : asciiBertEncoder(definition, config, tokenizer);
  return {
    padId,
    vocabSize,
    encode(text, maxLength) {
      const ids = fast?.(text) ?? tokenizer.encode(text).ids;
      if (ids.length <= maxLength) return { ids, truncated: false };
      // Keep the leading tokens and the closing special token ([SEP] or </s>).
      return { ids: [...ids.slice(0, maxLength - 1), ids[ids.length - 1] as number], truncated: true };
    },
  };
}
