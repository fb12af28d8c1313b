// tandem gateway: the wire formats read and written (pure); official SDKs (openai and Anthropic for Node,
// openai and anthropic for Python) pointed at it, streaming and not, JSON-schema answers, errors passed
// through; byte-identical pass-through; keys; and a task's whole life on real texts from ../shared with a
// local upstream answering from a hidden rule: record → shadow (distilled in the background, the request
// path never waiting) → promote (CLI) → serve → a drift → back to record → distilled again.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { UserError } from "../src/core/errors.js";
import { closeStores } from "../src/core/store.js";
import { cellText, readTable } from "../src/data/readers.js";
import { startGateway, type Gateway } from "../src/gateway/app.js";
import { GatewayTaskSchema, loadGatewayFile, parseGatewayFile } from "../src/gateway/config.js";
import { tandemCommand } from "../src/gateway/distiller.js";
import { parseSse, SseReader } from "../src/gateway/sse.js";
import { labelOfAnswer, matchTask, proposeTasks, writeLabel } from "../src/gateway/templates.js";
import { readAnswer, readRequest, readStreamedBody, studentResponse, studentStream } from "../src/gateway/wire.js";
import { startWireUpstream, type WireUpstream } from "./fixtures/wire-upstream.js";
import { runCliAsync, SHARED, tempDir } from "./helpers.js";

const SYSTEM = "Classify the sentiment of the review. Answer with one word: negative, neutral or positive.";
const TASK = GatewayTaskSchema.parse({ name: "sentiment", messages: [{ role: "system", content: SYSTEM }, { role: "user", content: "Review: {text}" }], labels: ["negative", "neutral", "positive"] });
const PYTHON = [join(process.env.TANDEM_PY_TOOLS ?? join(process.env.TMPDIR ?? tmpdir(), "tandem-py-tools"), "bin", "python")].find(existsSync);
const pythonSdks = PYTHON ? spawnSync(PYTHON, ["-c", "import openai, anthropic"]).status === 0 : false;

describe("gateway wire formats (pure)", () => {
  test("a request's prompt: OpenAI parts and developer role, Anthropic's system field; images pass through", () => {
    const openai = readRequest("openai", { model: "m", messages: [{ role: "developer", content: [{ type: "text", text: "Be " }, { type: "text", text: "brief." }] }, { role: "user", content: "hi" }], stream: true, stream_options: { include_usage: true }, n: 1 });
    assert.deepEqual(openai?.messages, [{ role: "system", content: "Be brief." }, { role: "user", content: "hi" }]);
    assert.equal(openai?.stream, true);
    assert.equal(openai?.includeUsage, true);
    const anthropic = readRequest("anthropic", { model: "claude", system: [{ type: "text", text: "Sys" }], messages: [{ role: "user", content: [{ type: "text", text: "x" }] }], max_tokens: 5 });
    assert.deepEqual(anthropic?.messages, [{ role: "system", content: "Sys" }, { role: "user", content: "x" }]);
    assert.equal(readRequest("openai", { model: "m", messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }] }), undefined);
    assert.equal(readRequest("openai", { messages: [] }), undefined);
  });

  test("a template matches the prompt and gives the slot's text; anything else does not match", () => {
    const prompt = (user: string, system = SYSTEM) => ({ model: "gpt-4o-mini", messages: [{ role: "system", content: system }, { role: "user", content: user }] });
    assert.equal(matchTask(TASK, prompt("Review: a fine film")), "a fine film");
    assert.equal(matchTask(TASK, prompt("Review:  ")), undefined);
    assert.equal(matchTask(TASK, prompt("a fine film")), undefined);
    assert.equal(matchTask(TASK, prompt("Review: a fine film", SYSTEM + " ")), undefined);
    assert.equal(matchTask({ ...TASK, model: "gpt-4o" }, prompt("Review: x")), undefined);
  });

  test("labels read from answers and written back: words, sentences, JSON fields, a request's JSON schema", () => {
    const written = { ...TASK, written: ["Negative", "Neutral", "Positive"] };
    assert.equal(labelOfAnswer(written, "Positive.").label, "positive");
    assert.equal(labelOfAnswer(written, "The review is negative.").label, "negative");
    assert.equal(labelOfAnswer(written, "not positive at all").label, null);
    assert.equal(labelOfAnswer(written, '{"sentiment": "Neutral"}').label, "neutral");
    assert.equal(labelOfAnswer({ ...TASK, answer: { json: "label" } }, '{"label": "loud"}').reason, '"loud" is not one of the labels');
    assert.equal(writeLabel(written, "positive"), "Positive");
    assert.equal(writeLabel({ ...TASK, answer: { json: "label" } }, "neutral"), '{"label":"neutral"}');
    const schema = { type: "json_schema", json_schema: { name: "c", schema: { type: "object", properties: { sentiment: { type: "string", enum: ["negative", "neutral", "positive"] } }, required: ["sentiment"] } } };
    assert.equal(writeLabel(TASK, "negative", schema), '{"sentiment":"negative"}');
  });

  test("a student's answer in each wire's shape, whole and streamed; upstream answers read back", () => {
    const request = readRequest("openai", { model: "gpt-4o-mini", messages: [{ role: "user", content: "x" }], stream: true, stream_options: { include_usage: true }, logprobs: true, top_logprobs: 2 })!;
    const answer = { content: "positive", probabilities: [0.1, 0.2, 0.7], written: ["negative", "neutral", "positive"], id: "chatcmpl-1", created: 1 };
    const whole = studentResponse(request, answer) as { choices: Array<{ message: { content: string }; logprobs: { content: Array<{ logprob: number; top_logprobs: Array<{ token: string }> }> } }>; usage: { total_tokens: number } };
    assert.equal(whole.choices[0]!.message.content, "positive");
    assert.equal(whole.usage.total_tokens, 0);
    assert.ok(Math.abs(whole.choices[0]!.logprobs.content[0]!.logprob - Math.log(0.7)) < 1e-12);
    assert.deepEqual(whole.choices[0]!.logprobs.content[0]!.top_logprobs.map((t) => t.token), ["positive", "neutral"]);
    const events = parseSse(studentStream(request, answer));
    assert.equal(events.at(-1)!.data, "[DONE]");
    assert.deepEqual(readStreamedBody("openai", studentStream(request, answer)), { text: "positive", usage: { inputTokens: 0, cachedInputTokens: 0, outputTokens: 0 }, model: "gpt-4o-mini" });
    const anthropic = readRequest("anthropic", { model: "claude", messages: [{ role: "user", content: "x" }], stream: true })!;
    const stream = studentStream(anthropic, { ...answer, id: "msg_1" });
    assert.deepEqual(parseSse(stream).map((e) => e.event), ["message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"]);
    assert.equal(readStreamedBody("anthropic", stream)?.text, "positive");
    assert.deepEqual(readAnswer("anthropic", { content: [{ type: "text", text: "neu" }, { type: "text", text: "tral" }], usage: { input_tokens: 10, output_tokens: 1, cache_read_input_tokens: 4 } }), { text: "neutral", usage: { inputTokens: 14, cachedInputTokens: 4, outputTokens: 1 }, model: undefined });
  });

  test("server-sent events split across pieces and line endings read the same", () => {
    const body = "event: a\r\ndata: 1\r\n\r\n: comment\ndata: 2\ndata: 3\n\ndata: [DONE]";
    const whole = parseSse(body);
    assert.deepEqual(whole, [{ event: "a", data: "1" }, { data: "2\n3" }, { data: "[DONE]" }]);
    for (let cut = 1; cut < body.length; cut++) {
      const reader = new SseReader();
      reader.push(body.slice(0, cut));
      reader.push(body.slice(cut));
      reader.end();
      assert.deepEqual(reader.events, whole, `cut at ${cut}`);
    }
  });

  test("templates found in recorded prompts: the slot between a common prefix and suffix, labels from the answers", () => {
    const prompts = ["great food", "awful service", "fine, I guess", "loved it"].map((text, i) => ({
      wire: "openai" as const, model: "gpt-4o-mini", messages: [{ role: "system", content: "Rate it." }, { role: "user", content: `Review: "${text}"\nSentiment:` }], answer: ["Positive", "Negative", "Neutral", "Positive"][i]!,
    }));
    const other = { wire: "openai" as const, model: "gpt-4o-mini", messages: [{ role: "user", content: "What is the capital of France?" }], answer: "Paris." };
    const [proposal, ...rest] = proposeTasks([...prompts, other], { minCount: 3 });
    assert.equal(rest.length, 0);
    assert.equal(proposal!.count, 4);
    assert.deepEqual(proposal!.task.messages, [{ role: "system", content: "Rate it." }, { role: "user", content: 'Review: "{text}"\nSentiment:' }]);
    assert.deepEqual(proposal!.task.labels, ["negative", "neutral", "positive"]);
    assert.deepEqual(proposal!.task.written, ["Negative", "Neutral", "Positive"]);
    assert.equal(matchTask(GatewayTaskSchema.parse(proposal!.task), { model: "gpt-4o-mini", messages: prompts[2]!.messages }), "fine, I guess");
  });

  test("the gateway file: one slot per task, a written form per label, errors name the line", () => {
    assert.throws(() => parseGatewayFile("tasks:\n  - name: t\n    messages: [{role: user, content: hi}]\n    labels: [a, b]\n", "g.yaml"), /exactly one message must hold \{text\}/);
    assert.throws(() => parseGatewayFile("tasks:\n  - name: t\n    messages: [{role: user, content: '{text}'}]\n    labels: [a, b]\n    written: [A]\n", "g.yaml"), /one form per label/);
    assert.throws(() => parseGatewayFile("upstream: openai:gpt-4o-mini\ntasks:\n  - name: t\n    messages: [{role: user, content: '{text}'}]\n    labels: [a, b]\n    distil_after: 10\n", "g.yaml"), (error: Error) => /line 6.*unknown field "distil_after"/.test((error as UserError).describe()));
    const file = parseGatewayFile("upstream: openai:gpt-4o-mini\ntasks:\n  - name: t\n    messages: [{role: user, content: 'Text: {text}'}]\n    labels: [a, b]\n    distill_after: 100\n    audit: {share: 0.5}\n", "g.yaml");
    assert.equal(file.tasks[0]!.distillAfter, 100);
    assert.deepEqual(file.tasks[0]!.audit, { share: 0.5, maxCostPerDay: 2, rpm: 60 });
  });
});

describe("gateway: SDKs, pass-through, keys", () => {
  let upstream: WireUpstream;
  let gateway: Gateway;
  const db = join(mkdtempSync(join(tempDir(), "gateway-sdk-")), "state.db");
  before(async () => {
    upstream = await startWireUpstream((text) => (/good|great/.test(text) ? "positive" : /bad|awful/.test(text) ? "negative" : text.startsWith("Review: ") ? "neutral" : undefined));
    process.env.ANTHROPIC_BASE_URL = upstream.url;
    gateway = await startGateway({ upstreams: [`compat:${upstream.url}/v1#gpt-4o-mini`, `anthropic:claude-3-5-haiku-latest`], tasks: [TASK], store: db, port: 0, logger: false });
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
    delete process.env.ANTHROPIC_BASE_URL;
  });

  test("a pass-through is byte-identical to calling the upstream, whole and streamed, headers included", async () => {
    for (const body of [
      { model: "gpt-4o-mini", messages: [{ role: "user", content: "What is 2 + 2?" }] },
      { model: "gpt-4o-mini", messages: [{ role: "user", content: "Tell me a story." }], stream: true, stream_options: { include_usage: true } },
    ]) {
      const raw = JSON.stringify(body, null, 1);
      const direct = await fetch(`${upstream.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", authorization: "Bearer sk-client-0123456789" }, body: raw });
      const through = await fetch(`${gateway.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", authorization: "Bearer sk-client-0123456789" }, body: raw });
      assert.equal(through.status, 200);
      assert.deepEqual(Buffer.from(await through.arrayBuffer()), Buffer.from(await direct.arrayBuffer()));
      assert.equal(through.headers.get("x-ratelimit-remaining-requests"), "9999");
      assert.equal(through.headers.get("x-tandem-answered-by"), null);
      // The body went upstream as sent, the client's key with it.
      const received = upstream.requests.at(-1)!;
      assert.equal(received.body.toString("utf8"), raw);
      assert.equal(received.headers.authorization, "Bearer sk-client-0123456789");
    }
    const models = await fetch(`${gateway.url}/v1/models`);
    assert.equal(await models.text(), '{ "object" : "list",\n  "data": [ {"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"} ] }\n');
  });

  test("the official openai SDK (Node): a task's prompt recorded, streaming and not, JSON schema; errors passed through", async () => {
    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "sk-client-0123456789", maxRetries: 0 });
    const messages = (text: string) => [{ role: "system" as const, content: SYSTEM }, { role: "user" as const, content: `Review: ${text}` }];
    const { data, response } = await client.chat.completions.create({ model: "gpt-4o-mini", messages: messages("a great film") }).withResponse();
    assert.equal(data.choices[0]!.message.content, "positive");
    assert.equal(response.headers.get("x-tandem-answered-by"), "upstream");
    const stream = await client.chat.completions.create({ model: "gpt-4o-mini", messages: messages("a bad film"), stream: true, stream_options: { include_usage: true } });
    let text = "";
    let usage: unknown;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? "";
      usage ??= chunk.usage ?? undefined;
    }
    assert.equal(text, "negative");
    assert.ok(usage);
    const structured = await client.chat.completions.create({ model: "gpt-4o-mini", messages: messages("an odd film"), response_format: { type: "json_schema", json_schema: { name: "c", strict: true, schema: { type: "object", properties: { label: { type: "string", enum: ["negative", "neutral", "positive"] } }, required: ["label"], additionalProperties: false } } } });
    assert.deepEqual(JSON.parse(structured.choices[0]!.message.content!), { label: "neutral" });
    await gateway.idle();
    const view = gateway.tasks()[0]!;
    assert.equal(view.labels, 3);
    assert.equal(view.counters.forwarded, 3);
    assert.ok(view.counters.forwardedUsd > 0, "the upstream's usage priced at gpt-4o-mini's rates");
    upstream.failNext(1, 429, { "retry-after": "7" });
    await assert.rejects(client.chat.completions.create({ model: "gpt-4o-mini", messages: messages("x") }), (error: InstanceType<typeof OpenAI.APIError>) => {
      assert.equal(error.status, 429);
      assert.equal(error.headers?.get("retry-after"), "7");
      assert.equal(error.headers?.get("x-ratelimit-limit-requests"), "10000");
      // The upstream echoed the key: the gateway takes it out.
      assert.match(error.message, /Rate limit reached for the key \[redacted\]/);
      assert.doesNotMatch(error.message, /sk-client/);
      return true;
    });
  });

  test("the official Anthropic SDK (Node): messages whole and streamed through the Anthropic upstream", async () => {
    const client = new Anthropic({ baseURL: gateway.url, apiKey: "sk-ant-client-0123456789", maxRetries: 0 });
    const message = await client.messages.create({ model: "claude-3-5-haiku-latest", max_tokens: 5, system: SYSTEM, messages: [{ role: "user", content: "Review: a good book" }] });
    assert.deepEqual(message.content, [{ type: "text", text: "positive" }]);
    // The client's key goes upstream as the SDK sent it (this SDK version: Authorization: Bearer).
    const sent = upstream.requests.at(-1)!.headers;
    assert.equal(sent["x-api-key"] ?? sent.authorization?.replace(/^Bearer /, ""), "sk-ant-client-0123456789");
    const stream = client.messages.stream({ model: "claude-3-5-haiku-latest", max_tokens: 5, system: SYSTEM, messages: [{ role: "user", content: "Review: an awful book" }] });
    assert.equal(await stream.finalText(), "negative");
    await gateway.idle();
    assert.equal(gateway.tasks()[0]!.labels, 5);
  });

  test("gateway keys: a client without one gets 401 in the wire's shape; with one, the upstream gets the gateway's own key, never shown", async () => {
    process.env.OPENAI_COMPAT_API_KEY = "sk-upstream-secret-987654321";
    const keyed = await startGateway({ upstreams: [`compat:${upstream.url}/v1#gpt-4o-mini`], store: db, port: 0, logger: false, apiKeys: ["gw-key-0123456789"] });
    try {
      const refused = await fetch(`${keyed.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      assert.equal(refused.status, 401);
      assert.equal(((await refused.json()) as { error: { type: string } }).error.type, "authentication_error");
      const client = new OpenAI({ baseURL: `${keyed.url}/v1`, apiKey: "gw-key-0123456789", maxRetries: 0 });
      await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hello" }] });
      assert.equal(upstream.requests.at(-1)!.headers.authorization, "Bearer sk-upstream-secret-987654321");
      upstream.failNext(1, 429);
      await assert.rejects(client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hello" }] }), (error: Error) => !error.message.includes("sk-upstream-secret") && /\[redacted\]/.test(error.message));
    } finally {
      delete process.env.OPENAI_COMPAT_API_KEY;
      await keyed.close();
    }
  });

  test("an unreachable upstream is a 502 in the wire's shape; a wire without an upstream is a 404 saying how to add one", async () => {
    const lonely = await startGateway({ upstreams: ["compat:http://127.0.0.1:9/v1#m"], store: db, port: 0, logger: false });
    try {
      const down = await fetch(`${lonely.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] }) });
      assert.equal(down.status, 502);
      assert.match(((await down.json()) as { error: { message: string } }).error.message, /could not be reached/);
      const anthropic = await fetch(`${lonely.url}/v1/messages`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      assert.equal(anthropic.status, 404);
      assert.match(((await anthropic.json()) as { error: { message: string } }).error.message, /--upstream anthropic:MODEL/);
    } finally {
      await lonely.close();
    }
  });
});

describe("gateway: a task's life on real texts", () => {
  let upstream: WireUpstream;
  let gateway: Gateway;
  const dir = mkdtempSync(join(tempDir(), "gateway-life-"));
  const db = join(dir, "state.db");
  const gate = join(dir, "gate");
  let gold = new Map<string, string>();
  let texts: string[] = [];
  const task = GatewayTaskSchema.parse({ ...TASK, distillAfter: 600, student: "head", targetAgreement: 0.9, audit: { share: 1, rpm: 100_000 } });

  before(async () => {
    const rows = (await readTable(join(SHARED, "data/sentiment-merged/test_all.csv"))).records.map((r) => ({ text: cellText(r.values.sentence), label: cellText(r.values.label) }));
    gold = new Map(rows.map((r) => [r.text, r.label]));
    texts = [...new Set(rows.map((r) => r.text))];
    upstream = await startWireUpstream((text) => gold.get(text.replace(/^Review: /, "")));
    // The distill waits for the test to open the gate: the requests meanwhile show that none waits on it.
    process.env.ANTHROPIC_BASE_URL = upstream.url;
    const command = ["sh", "-c", 'while [ ! -f "$0" ]; do sleep 0.05; done; exec "$@"', gate, ...tandemCommand()];
    gateway = await startGateway({ upstreams: [`compat:${upstream.url}/v1#gpt-4o-mini`, "anthropic:claude-3-5-haiku-latest"], tasks: [task], store: db, dir: join(dir, "students"), port: 0, logger: false, distillCommand: command, seed: 1, pollMs: 50 });
  });
  after(async () => {
    await gateway?.close();
    await upstream?.close();
    delete process.env.ANTHROPIC_BASE_URL;
    closeStores();
  });

  const client = () => new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "sk-client-0123456789", maxRetries: 0 });
  const ask = (text: string, extra: Record<string, unknown> = {}) => client().chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "system", content: SYSTEM }, { role: "user", content: `Review: ${text}` }], ...extra } as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming).withResponse();

  test("record → shadow → promote → serve → drift → record → distilled again", { timeout: 300_000 }, async () => {
    // record: every request forwarded and learned from.
    for (const text of texts.slice(0, 600)) {
      const { data, response } = await ask(text);
      assert.equal(response.headers.get("x-tandem-answered-by"), "upstream");
      assert.equal(data.choices[0]!.message.content, gold.get(text));
    }
    await new Promise((resolve) => setImmediate(resolve));
    let view = gateway.tasks()[0]!;
    assert.equal(view.stage, "record");
    assert.equal(view.distill.state, "running");
    // The distill is held: requests are answered all the same.
    for (const text of texts.slice(600, 630)) assert.equal((await ask(text)).response.status, 200);
    assert.equal(gateway.tasks()[0]!.distill.state, "running");
    writeFileSync(gate, "");
    await gateway.idle();
    view = gateway.tasks()[0]!;
    assert.equal(view.stage, "shadow", JSON.stringify(view.distill));
    assert.equal(view.student!.certified, true);
    assert.equal(view.student!.labels, 600);
    assert.ok(view.student!.localShare > 0.2, `projected local share ${view.student!.localShare}`);

    // shadow: still forwarded; the student answers in the background.
    for (const text of texts.slice(630, 680)) assert.equal((await ask(text)).response.headers.get("x-tandem-answered-by"), "upstream");
    await gateway.idle();
    view = gateway.tasks()[0]!;
    assert.equal(view.shadow!.texts, 50);
    assert.ok(view.projected!.savedPer1000Usd! > 0);

    // promote from the command line; the gateway picks it up.
    const promoted = await runCliAsync(["gateway", "promote", "sentiment", "--db", db]);
    assert.equal(promoted.status, 0, promoted.stderr);
    assert.match(promoted.stderr, /task sentiment is at serve/);
    await gateway.runtime("sentiment")!.refresh();
    assert.equal(gateway.tasks()[0]!.stage, "serve");

    // serve: the student answers what it keeps, in the upstream's shape.
    let local = 0;
    for (const text of texts.slice(680, 980)) {
      const { data, response } = await ask(text);
      if (response.headers.get("x-tandem-answered-by") === "student") {
        local++;
        assert.ok(task.labels.includes(data.choices[0]!.message.content!));
        assert.equal(data.usage?.total_tokens, 0);
        assert.match(data.id, /^chatcmpl-tandem-/);
      }
    }
    await gateway.idle();
    view = gateway.tasks()[0]!;
    assert.ok(local > 60, `${local} of 300 answered locally`);
    assert.equal(view.counters.local, local);
    assert.ok(view.counters.savedUsd > 0);
    assert.equal(view.audit!.alarm, false);
    assert.ok(view.audit!.estimate! >= 0.9, `cascade agreement ${view.audit!.estimate}`);

    // The student's answers through every SDK shape: streamed, JSON schema, Anthropic whole and streamed.
    let keptText = "";
    for (const text of texts.slice(2000)) {
      const { kept } = await gateway.runtime("sentiment")!.answerLocally(text);
      if (kept?.label === "positive" && gold.get(text) === "positive") {
        keptText = text;
        break;
      }
    }
    assert.ok(keptText, "a text the student keeps");
    const stream = await client().chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "system", content: SYSTEM }, { role: "user", content: `Review: ${keptText}` }], stream: true });
    let streamed = "";
    for await (const chunk of stream) streamed += chunk.choices[0]?.delta?.content ?? "";
    assert.ok(task.labels.includes(streamed), streamed);
    const schema = { type: "json_schema", json_schema: { name: "c", strict: true, schema: { type: "object", properties: { sentiment: { type: "string", enum: task.labels } }, required: ["sentiment"], additionalProperties: false } } };
    const structured = await ask(keptText, { response_format: schema });
    assert.ok(task.labels.includes((JSON.parse(structured.data.choices[0]!.message.content!) as { sentiment: string }).sentiment));
    const anthropic = new Anthropic({ baseURL: gateway.url, apiKey: "sk-ant-client-0123456789", maxRetries: 0 });
    const message = await anthropic.messages.create({ model: "claude-3-5-haiku-latest", max_tokens: 5, system: SYSTEM, messages: [{ role: "user", content: `Review: ${keptText}` }] }).withResponse();
    assert.equal(message.response.headers.get("x-tandem-answered-by"), "student");
    assert.deepEqual(message.data.content.map((b) => (b as { text: string }).text), ["positive"]);
    assert.equal(await anthropic.messages.stream({ model: "claude-3-5-haiku-latest", max_tokens: 5, system: SYSTEM, messages: [{ role: "user", content: `Review: ${keptText}` }] }).finalText(), "positive");

    if (pythonSdks) {
      const script = join(dir, "sdk.py");
      writeFileSync(script, PYTHON_SDK_SCRIPT);
      // Not spawnSync: the gateway answering the script runs in this process.
      const run = await runProcess(PYTHON!, [script, gateway.url, SYSTEM, keptText]);
      assert.equal(run.status, 0, run.stderr);
      const results = JSON.parse(run.stdout) as Record<string, unknown>;
      assert.deepEqual(results, { openai: "positive", openai_stream: "positive", openai_schema: { sentiment: "positive" }, openai_header: "student", passthrough: "Echo: What is 2 + 2?", anthropic: "positive", anthropic_stream: "positive", error_status: 429 });
    }
    await gateway.idle();

    // drift: the upstream changes its rule; the audit raises the alarm and the task forwards everything.
    const rotate: Record<string, string> = { positive: "negative", negative: "neutral", neutral: "positive" };
    upstream.rule = (text) => rotate[gold.get(text.replace(/^Review: /, ""))!];
    let sent = 0;
    for (const text of texts.slice(1000, 1400)) {
      // Kept texts asked alongside: a request whose student is retired by the alarm mid-call still gets its answer.
      await Promise.all([ask(text), ask(keptText), ask(keptText)]);
      sent++;
      await gateway.idle();
      if (gateway.tasks()[0]!.stage !== "serve") break;
    }
    view = gateway.tasks()[0]!;
    assert.equal(view.stage, "record", `no alarm after ${sent} requests`);
    assert.ok(sent < 200, `the alarm took ${sent} requests`);
    assert.match(view.history.at(-1)!.why, /drift alarm/);
    assert.equal(view.generation, 2);
    assert.ok(view.labels <= 2, `${view.labels} labels since the alarm`); // at most the two asked alongside
    for (const text of texts.slice(1400, 1420)) assert.equal((await ask(text)).response.headers.get("x-tandem-answered-by"), "upstream");
    const status = await runCliAsync(["gateway", "status", "--db", db, "-f", "json"]);
    assert.equal(status.status, 0, status.stderr);
    assert.equal((JSON.parse(status.stdout) as { tasks: Array<{ stage: string; generation: number }> }).tasks[0]!.stage, "record");

    // … and distills again from the labels collected since the alarm.
    for (const text of texts.slice(1420, 2000)) await ask(text);
    await gateway.idle();
    view = gateway.tasks()[0]!;
    assert.equal(view.stage, "shadow", JSON.stringify(view.distill));
    assert.equal(view.student!.labels, 600);
    assert.match(view.student!.dir, /g2-600-/);
  });

  test("the CLI: promote refuses a task without a certified student; tasks proposes templates from unmatched traffic", async () => {
    const refused = await runCliAsync(["gateway", "promote", "nope", "--db", db]);
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /no task "nope"/);
    for (const [text, topic] of [["the match ended 2-1", "sports"], ["parliament passed the bill", "politics"], ["a late goal", "sports"], ["the minister resigned", "politics"]]) {
      upstream.rule = (t) => (t === `Text: ${text}` ? topic : undefined);
      await client().chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "system", content: "Topic: sports or politics?" }, { role: "user", content: `Text: ${text}` }] });
    }
    await gateway.idle();
    const listed = await runCliAsync(["gateway", "tasks", "--db", db, "-f", "json"]);
    assert.equal(listed.status, 0, listed.stderr);
    const proposals = (JSON.parse(listed.stdout) as { proposals: Array<{ id: string; count: number; task: { messages: unknown; labels: string[] } }> }).proposals;
    const topic = proposals.find((p) => p.count === 4)!;
    assert.ok(topic, JSON.stringify(proposals));
    assert.deepEqual(topic.task.messages, [{ role: "system", content: "Topic: sports or politics?" }, { role: "user", content: "Text: {text}" }], JSON.stringify(proposals));
    assert.deepEqual(topic.task.labels, ["politics", "sports"]);
    const config = join(dir, "gateway.yaml");
    writeFileSync(config, "upstream: openai:gpt-4o-mini # the team's LLM\n");
    const accepted = await runCliAsync(["gateway", "tasks", "--db", db, "--accept", topic.id, "--name", "topic", "--config", config]);
    assert.equal(accepted.status, 0, accepted.stderr);
    const file = loadGatewayFile(config);
    assert.equal(file.tasks[0]!.name, "topic");
    assert.match(readFileSync(config, "utf8"), /# the team's LLM/);
  });
});

function runProcess(command: string, args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: { ...process.env, NO_PROXY: "127.0.0.1" } });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("close", (status) => resolve({ status: status ?? -1, stdout, stderr }));
  });
}

const PYTHON_SDK_SCRIPT = `
import json, sys
import anthropic, openai
url, system, text = sys.argv[1], sys.argv[2], sys.argv[3]
client = openai.OpenAI(base_url=url + "/v1", api_key="sk-client-0123456789", max_retries=0)
messages = [{"role": "system", "content": system}, {"role": "user", "content": "Review: " + text}]
out = {}
raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages)
out["openai_header"] = raw.headers.get("x-tandem-answered-by")
out["openai"] = raw.parse().choices[0].message.content
out["openai_stream"] = "".join((c.choices[0].delta.content or "") for c in client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True) if c.choices)
schema = {"type": "json_schema", "json_schema": {"name": "c", "strict": True, "schema": {"type": "object", "properties": {"sentiment": {"type": "string", "enum": ["negative", "neutral", "positive"]}}, "required": ["sentiment"], "additionalProperties": False}}}
out["openai_schema"] = json.loads(client.chat.completions.create(model="gpt-4o-mini", messages=messages, response_format=schema).choices[0].message.content)
out["passthrough"] = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "What is 2 + 2?"}]).choices[0].message.content
claude = anthropic.Anthropic(base_url=url, api_key="sk-ant-client-0123456789", max_retries=0)
out["anthropic"] = claude.messages.create(model="claude-3-5-haiku-latest", max_tokens=5, system=system, messages=[{"role": "user", "content": "Review: " + text}]).content[0].text
with claude.messages.stream(model="claude-3-5-haiku-latest", max_tokens=5, system=system, messages=[{"role": "user", "content": "Review: " + text}]) as stream:
    out["anthropic_stream"] = "".join(stream.text_stream)
try:
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "/fail"}])
except openai.APIStatusError as error:
    out["error_status"] = error.status_code
print(json.dumps(out))
`;
