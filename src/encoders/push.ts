/**
 * Publishing a model folder to a Hugging Face-compatible hub through the maintained client
 * (@huggingface/hub): the repository is created when missing, then one commit uploads the folder —
 * graph, tokenizer, config, head and the model card (MODEL_CARD.md also as README.md, the hub's card).
 * Training-only files stay behind. The token comes from HF_TOKEN; no message tandem prints contains it.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { UserError } from "../core/errors.js";
import { redact } from "../core/redact.js";

const LEFT_BEHIND = new Set(["best.safetensors", "checkpoint.pt", "data", ".build-key", "training_events.json"]);

export interface PushOptions {
  /** HF_TOKEN by default. */
  token?: string;
  /** TANDEM_HUB_URL, else https://huggingface.co. */
  hubUrl?: string;
  private?: boolean;
  message?: string;
}

export interface PushResult {
  repo: string;
  url: string;
  commit?: string;
  files: Array<{ path: string; bytes: number }>;
}

/** The files a push uploads: every file of the folder but training state, paths relative to it. */
export function filesToPush(dir: string): Array<{ path: string; file: string; bytes: number }> {
  const files: Array<{ path: string; file: string; bytes: number }> = [];
  const walk = (folder: string) => {
    for (const name of readdirSync(folder).sort()) {
      if (LEFT_BEHIND.has(name) || name.startsWith(".")) continue;
      const file = join(folder, name);
      if (statSync(file).isDirectory()) walk(file);
      else files.push({ path: relative(dir, file).split("\\").join("/"), file, bytes: statSync(file).size });
    }
  };
  walk(dir);
  return files;
}

export async function pushModel(dir: string, repo: string, options: PushOptions = {}): Promise<PushResult> {
  if (!existsSync(join(dir, "config.json"))) throw new UserError("not a model folder (no config.json)", { file: dir });
  if (![join(dir, "onnx", "model.onnx"), join(dir, "model.onnx")].some(existsSync)) throw new UserError("no ONNX graph (onnx/model.onnx or model.onnx): export the model first", { file: dir });
  if (!/^[\w.-]+\/[\w.-]+$/.test(repo)) throw new UserError(`"${repo}" is not a repository id like user/name`);
  const token = options.token ?? process.env.HF_TOKEN;
  if (!token) throw new UserError("pushing needs a Hugging Face token: set HF_TOKEN in the environment or in a .env file");
  const hubUrl = (options.hubUrl ?? process.env.TANDEM_HUB_URL ?? "https://huggingface.co").replace(/\/$/, "");
  const files = filesToPush(dir);
  const uploads = files.map((f) => ({ path: f.path, content: new Blob([readFileSync(f.file)]) }));
  if (!files.some((f) => f.path === "README.md") && files.some((f) => f.path === "MODEL_CARD.md")) {
    uploads.push({ path: "README.md", content: new Blob([readFileSync(join(dir, "MODEL_CARD.md"))]) });
  }
  const hub = await import("@huggingface/hub");
  try {
    try {
      await hub.createRepo({ repo: { type: "model", name: repo }, accessToken: token, hubUrl, private: options.private });
    } catch (error) {
      // An existing repository is fine: the commit below updates it.
      if ((error as { statusCode?: number }).statusCode !== 409) throw error;
    }
    const commit = await hub.uploadFiles({ repo: { type: "model", name: repo }, accessToken: token, hubUrl, files: uploads, commitTitle: options.message ?? "Upload a tandem model folder", useXet: false });
    return { repo, url: `${hubUrl}/${repo}`, commit: commit?.commit?.oid, files: uploads.map((u) => ({ path: u.path, bytes: u.content.size })) };
  } catch (error) {
    if (error instanceof UserError) throw error;
    const status = (error as { statusCode?: number }).statusCode;
    // The hub's message may echo what it was sent: redact it, and never include the request.
    throw new UserError(`the hub refused the push${status ? ` (HTTP ${status})` : ""}: ${redact((error as Error).message).replaceAll(token, "[redacted]").slice(0, 300)}`);
  }
}
