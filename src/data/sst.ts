/**
 * The Stanford Sentiment Treebank in PTB tree form: "(3 (2 The) (4 (3 good) (2 film)))", a 0–4 label on
 * every node. Yields whole sentences or every labelled phrase, with 5-class, SST-3 or SST-2 labels.
 */
import { readFileSync } from "node:fs";
import { UserError } from "../core/errors.js";

export interface TreeNode {
  label: number;
  /** Leaf word; undefined for inner nodes. */
  word?: string;
  children: TreeNode[];
}

export type SstLabels = "sst5" | "sst3" | "sst2";
export type SstLevel = "sentence" | "phrases";

export interface SstExample {
  text: string;
  label: string;
  /** 1-based line of the tree the example comes from. */
  line: number;
}

/** Parses one PTB tree; throws a plain Error with the character position on malformed input. */
export function parseTree(text: string): TreeNode {
  let pos = 0;
  const skipSpace = () => {
    while (pos < text.length && /\s/.test(text[pos] as string)) pos++;
  };
  const parseNode = (): TreeNode => {
    skipSpace();
    if (text[pos] !== "(") throw new Error(`expected "(" at character ${pos + 1}`);
    pos++;
    skipSpace();
    const labelStart = pos;
    while (pos < text.length && /[0-9]/.test(text[pos] as string)) pos++;
    const label = Number(text.slice(labelStart, pos));
    if (pos === labelStart || label < 0 || label > 4) {
      throw new Error(`expected a 0–4 label at character ${labelStart + 1}`);
    }
    skipSpace();
    const node: TreeNode = { label, children: [] };
    if (text[pos] === "(") {
      while (text[pos] === "(") {
        node.children.push(parseNode());
        skipSpace();
      }
    } else {
      // A leaf runs to the closing parenthesis: a few contain spaces ("8 1\\/2"); escapes are kept as in SST-3.
      const wordStart = pos;
      while (pos < text.length && text[pos] !== ")" && text[pos] !== "(") pos++;
      const word = text.slice(wordStart, pos).trim();
      if (word === "") throw new Error(`expected a word or "(" at character ${pos + 1}`);
      node.word = word;
    }
    if (text[pos] !== ")") throw new Error(`expected ")" at character ${pos + 1}`);
    pos++;
    return node;
  };
  const root = parseNode();
  skipSpace();
  if (pos !== text.length) throw new Error(`unexpected text after the tree at character ${pos + 1}`);
  return root;
}

export function leaves(node: TreeNode): string[] {
  if (node.word !== undefined) return [node.word];
  return node.children.flatMap(leaves);
}

/** Maps a 0–4 SST label to the chosen label set; undefined means "dropped" (neutral in SST-2). */
export function mapSstLabel(label: number, labels: SstLabels): string | undefined {
  if (labels === "sst5") return String(label);
  if (label <= 1) return "negative";
  if (label >= 3) return "positive";
  return labels === "sst3" ? "neutral" : undefined;
}

function collectPhrases(node: TreeNode, out: Array<{ text: string; label: number }>): string[] {
  const words = node.word !== undefined ? [node.word] : node.children.flatMap((child) => collectPhrases(child, out));
  out.push({ text: words.join(" "), label: node.label });
  return words;
}

/** Examples from the text of a tree file. Phrases are de-duplicated by text (SST labels each distinct phrase once). */
export function sstExamples(
  content: string,
  options: { file?: string; level?: SstLevel; labels?: SstLabels } = {},
): SstExample[] {
  const level = options.level ?? "sentence";
  const labels = options.labels ?? "sst3";
  const examples: SstExample[] = [];
  const seen = new Set<string>();
  const lines = content.replace(/^\uFEFF/, "").split(/\r?\n/);
  lines.forEach((raw, index) => {
    if (raw.trim() === "") return;
    const line = index + 1;
    let root: TreeNode;
    try {
      root = parseTree(raw.trim());
    } catch (error) {
      throw new UserError(`malformed SST tree: ${(error as Error).message}`, { file: options.file, line });
    }
    const nodes = level === "sentence" ? [{ text: leaves(root).join(" "), label: root.label }] : [];
    if (level === "phrases") collectPhrases(root, nodes);
    // Phrases are collected bottom-up; emit the sentence first, then its phrases, for readability.
    if (level === "phrases") nodes.reverse();
    for (const node of nodes) {
      const label = mapSstLabel(node.label, labels);
      if (label === undefined) continue;
      if (level === "phrases") {
        if (seen.has(node.text)) continue;
        seen.add(node.text);
      }
      examples.push({ text: node.text, label, line });
    }
  });
  if (examples.length === 0) throw new UserError("no SST trees found", { file: options.file });
  return examples;
}

export function readSstFile(file: string, options: { level?: SstLevel; labels?: SstLabels } = {}): SstExample[] {
  let content: string;
  try {
    content = new TextDecoder("utf-8", { fatal: true }).decode(readFileSync(file));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new UserError("file not found", { file });
    if (error instanceof TypeError) throw new UserError("invalid UTF-8; save the file as UTF-8", { file });
    throw error;
  }
  return sstExamples(content, { ...options, file });
}

/** True when the file looks like PTB trees (first non-blank character is "(" followed by a digit). */
export function looksLikeSstTrees(head: string): boolean {
  return /^\s*\(\s*[0-4]\s/.test(head.replace(/^\uFEFF/, ""));
}
