/**
 * Model locations: a local folder in Hugging Face layout, or a hub id ("org/name") downloaded once
 * into the cache (TANDEM_CACHE, default ~/.cache/tandem). The hub address can be changed with
 * TANDEM_HUB_URL (mirrors, tests); HF_TOKEN is sent when set, never printed.
 */
import { existsSync, mkdirSync, renameSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { UserError } from "../core/errors.js";

const REQUIRED = ["config.json"];
const ONE_OF_TOKENIZER = ["tokenizer.json", "vocab.txt"];
const ONE_OF_GRAPH = ["onnx/model.onnx", "model.onnx"];
const OPTIONAL = ["tokenizer_config.json", "special_tokens_map.json", "head.safetensors", "model.safetensors"];

/** The bundled starter model, shipped with the package (models/starter); the model spec "starter" names it. */
export const STARTER_MODEL = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "models", "starter");

export function cacheRoot(): string {
  return process.env.TANDEM_CACHE ?? join(homedir(), ".cache", "tandem");
}

function looksLikeHubId(spec: string): boolean {
  return /^[\w.-]+\/[\w.-]+$/.test(spec) && !spec.startsWith(".");
}

const HOW_TO_PROVIDE =
  "put the model in a folder with config.json, tokenizer.json (or vocab.txt) and onnx/model.onnx and pass that folder";

async function download(url: string, target: string, required: boolean): Promise<boolean> {
  const headers: Record<string, string> = {};
  if (process.env.HF_TOKEN) headers.authorization = `Bearer ${process.env.HF_TOKEN}`;
  let response: Response;
  try {
    response = await fetch(url, { headers, redirect: "follow" });
  } catch (error) {
    if (!required) return false;
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
    throw new UserError(`cannot download ${url} (${cause}); offline? ${HOW_TO_PROVIDE}`);
  }
  if (response.status === 404) {
    if (!required) return false;
    throw new UserError(`${url} does not exist (404); check the model id, or ${HOW_TO_PROVIDE}`);
  }
  if (!response.ok) throw new UserError(`downloading ${url} failed: HTTP ${response.status} ${response.statusText}`);
  const bytes = Buffer.from(await response.arrayBuffer());
  mkdirSync(dirname(target), { recursive: true });
  // Write then rename, so an interrupted download never leaves a truncated file in the cache.
  writeFileSync(`${target}.part`, bytes);
  renameSync(`${target}.part`, target);
  return true;
}

/** A folder holding the model's files: "starter" (the bundled model), the spec itself, or the cached download of a hub id. */
export async function resolveModelDir(spec: string, options: { revision?: string; onDownload?: (file: string) => void } = {}): Promise<string> {
  if (spec === "starter" && !existsSync(spec)) {
    if (!existsSync(join(STARTER_MODEL, "config.json"))) throw new UserError(`the bundled starter model is missing (${STARTER_MODEL})`);
    return STARTER_MODEL;
  }
  if (existsSync(spec)) {
    if (!statSync(spec).isDirectory()) throw new UserError("a model is a folder (config.json, tokenizer, onnx/model.onnx), not a file", { file: spec });
    return spec;
  }
  if (!looksLikeHubId(spec)) throw new UserError(`no model folder "${spec}" (and it is not a hub id like org/name); ${HOW_TO_PROVIDE}`);
  const revision = options.revision ?? "main";
  const dir = join(cacheRoot(), "models", spec.replace("/", "--"), revision);
  const base = (process.env.TANDEM_HUB_URL ?? "https://huggingface.co").replace(/\/$/, "");
  const fetchFile = async (file: string, required: boolean) => {
    const target = join(dir, file);
    if (existsSync(target)) return true;
    options.onDownload?.(file);
    return download(`${base}/${spec}/resolve/${revision}/${file}`, target, required);
  };
  for (const file of REQUIRED) await fetchFile(file, true);
  for (const group of [ONE_OF_TOKENIZER, ONE_OF_GRAPH]) {
    let found = false;
    for (const file of group) if (!found) found = await fetchFile(file, false);
    if (!found) throw new UserError(`model ${spec} has none of ${group.join(", ")} on the hub; ${HOW_TO_PROVIDE}`);
  }
  for (const file of OPTIONAL) await fetchFile(file, false);
  return dir;
}
