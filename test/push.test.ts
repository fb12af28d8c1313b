// Publishing: a model folder pushed through @huggingface/hub to a local hub that speaks the upload API,
// then downloaded by hub id and used — the same bytes, the same predictions; the token never printed.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { filesToPush } from "../src/encoders/push.js";
import { randomBertWeights, writeModelDir } from "./fixtures/bert-graph.js";
import { startHubServer, type HubServer } from "./fixtures/hub-server.js";
import { runCliAsync, SHARED, tempDir, tempFile } from "./helpers.js";

const TOKEN = "hf_TestTokenForTandem1234567890";
let hub: HubServer;
before(async () => (hub = await startHubServer(TOKEN)));
after(() => hub.close());

test("push → download by hub id → classify: every file round-trips byte for byte; a bad token is one line without it", async () => {
  const tokenizer = join(SHARED, "models/tokenizers/bert-base-uncased");
  const dir = writeModelDir(join(tempDir(), "push-model"), randomBertWeights({ vocab: 30522, hidden: 16, layers: 1, heads: 2, intermediate: 32, maxPositions: 64 }, 4, 3), Object.fromEntries(["tokenizer.json", "tokenizer_config.json"].map((f) => [f, readFileSync(join(tokenizer, f))])), { id2label: { 0: "negative", 1: "neutral", 2: "positive" } });
  const { writeFileSync } = await import("node:fs");
  writeFileSync(join(dir, "MODEL_CARD.md"), "# a test model\n");
  writeFileSync(join(dir, "checkpoint.pt"), "training state, not published");
  const env = { HF_TOKEN: TOKEN, TANDEM_HUB_URL: hub.url, TANDEM_CACHE: join(tempDir(), "hub-cache") };

  const pushed = await runCliAsync(["push", dir, "tandem-tests/tiny-bert", "-f", "json"], { env });
  assert.equal(pushed.status, 0, pushed.stderr);
  const result = JSON.parse(pushed.stdout);
  assert.deepEqual(result.files.map((f: { path: string }) => f.path).sort(), ["MODEL_CARD.md", "README.md", "config.json", "onnx/model.onnx", "tokenizer.json", "tokenizer_config.json"]);
  const stored = hub.repos.get("tandem-tests/tiny-bert")!;
  const sha = (data: Buffer) => createHash("sha256").update(data).digest("hex");
  for (const file of filesToPush(dir)) assert.equal(sha(stored.get(file.path)!), sha(readFileSync(file.file)), file.path);
  assert.equal(stored.get("README.md")!.toString(), "# a test model\n");
  assert.ok(!stored.has("checkpoint.pt"));
  assert.ok(stored.get("onnx/model.onnx")!.length > 100_000, "the graph went through the LFS upload");
  assert.ok(!pushed.stdout.includes(TOKEN) && !pushed.stderr.includes(TOKEN));

  // A second push updates the existing repository (409 on create is not an error).
  const again = await runCliAsync(["push", dir, "tandem-tests/tiny-bert"], { env });
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /7? ?files? .*→ http:\/\/127\.0\.0\.1:\d+\/tandem-tests\/tiny-bert/);
  assert.equal(hub.commits, 2);

  const input = tempFile("push-input.csv", "sentence\nA fine film\nA dull one\n");
  const local = await runCliAsync(["classify", "--strategy", "encoder", "--model", dir, "-i", input, "-o", join(tempDir(), "push-local.csv")], { env });
  const remote = await runCliAsync(["classify", "--strategy", "encoder", "--model", "tandem-tests/tiny-bert", "-i", input, "-o", join(tempDir(), "push-remote.csv")], { env });
  assert.equal(remote.status, 0, remote.stderr);
  assert.equal(readFileSync(join(tempDir(), "push-remote.csv"), "utf8"), readFileSync(join(tempDir(), "push-local.csv"), "utf8"));
  assert.equal(local.status, 0);

  const wrong = await runCliAsync(["push", dir, "tandem-tests/other"], { env: { ...env, HF_TOKEN: "hf_WrongTokenButSecret987654321" } });
  assert.equal(wrong.status, 2);
  assert.equal(wrong.stderr.trim().split("\n").length, 1, wrong.stderr);
  assert.match(wrong.stderr, /the hub refused the push \(HTTP 401\)/);
  assert.ok(!wrong.stderr.includes("WrongTokenButSecret"), wrong.stderr);
  const none = await runCliAsync(["push", dir, "tandem-tests/other"], { env: { ...env, HF_TOKEN: "" } });
  assert.match(none.stderr, /needs a Hugging Face token: set HF_TOKEN/);
});
