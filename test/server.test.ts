// `tandem serve` through a real HTTP client (Node's fetch): every endpoint, validation, auth, limits,
// load shedding, dynamic batching, the OpenAPI document, and a graceful shutdown with requests in flight.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import SwaggerParser from "@apidevtools/swagger-parser";
import { startServer, type RunningServer } from "../src/server/app.js";
import { parseStrategyFile } from "../src/strategies/factory.js";
import { createStrategy } from "../src/strategies/factory.js";
import { startMockServer, type MockServer } from "./fixtures/openai-server.js";
import { spawnServe, tempDir, tempFile } from "./helpers.js";

let llm: MockServer;
let slowLlm: MockServer;
before(async () => {
  llm = await startMockServer({});
  slowLlm = await startMockServer({ latencyMs: 400 });
});
after(async () => {
  await llm.close();
  await slowLlm.close();
});

function config(llmUrl: string): string {
  return `strategies:
  - name: lexicon
    type: lexicon
  - name: encoder
    type: encoder
    model: starter
  - name: gpt
    type: llm
    model: compat:${llmUrl}#gpt-4o-mini
    program: label
    hints: encoder
  - name: cascade
    type: cascade
    encoder: encoder
    llm: gpt
    tau: 0.95
default: cascade
`;
}

async function serve(options: Partial<Parameters<typeof startServer>[0]> = {}, llmUrl = llm.url): Promise<RunningServer> {
  const server = await startServer({ strategies: parseStrategyFile(config(llmUrl), "serve.yaml"), port: 0, store: join(tempDir(), `serve-${Math.random()}.db`), ...options });
  await server.ready;
  return server;
}

/** A response body as JSON (the shape is what the assertions check). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
const json = async (response: Response | Promise<Response>): Promise<Json> => (await response).json();

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) });

test("serve: every endpoint, the cascade's routing and cost, validation errors with the field, a valid OpenAPI 3.1 document", async () => {
  const server = await serve();
  try {
    assert.deepEqual(await json(fetch(`${server.url}/healthz`)), { status: "ok" });
    const ready = await fetch(`${server.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual((await json(ready)).strategies, ["lexicon", "encoder", "gpt", "cascade"]);

    const listed = await json(fetch(`${server.url}/v1/strategies`));
    assert.equal(listed.default, "cascade");
    const cascadeInfo = listed.strategies.find((s: { name: string }) => s.name === "cascade");
    assert.deepEqual(cascadeInfo, { name: "cascade", type: "cascade", labels: ["negative", "neutral", "positive"], models: ["starter", `compat:${llm.url}#gpt-4o-mini`], members: ["encoder", "gpt"], tau: 0.95, traffic: { texts: 0, llm_share: 0, llm_share_last_hour: 0 }, live_accuracy: [] });

    const texts = ["An utterly delightful, moving film.", "Boring.", "The food was okay I guess, the staff were there.", "Worst purchase of my life, it broke in a day."];
    const response = await post(`${server.url}/v1/classify`, { texts });
    assert.equal(response.status, 200);
    const body = await json(response);
    assert.equal(body.strategy, "cascade");
    assert.equal(body.results.length, 4);
    // The same cascade offline, by the library: the service must answer the same.
    const offline = await createStrategy({ type: "cascade", encoder: "starter", llm: { type: "llm", model: `compat:${llm.url}#gpt-4o-mini`, program: "label", hints: "starter" }, tau: 0.95 }, { store: join(tempDir(), "offline.db") });
    const expected = await offline.classify(texts);
    await offline.close();
    body.results.forEach((r: { label: string; answered_by: string; cost_usd: number; probabilities: Record<string, number> | null }, i: number) => {
      assert.equal(r.label, expected[i]!.label, `text ${i}`);
      assert.equal(r.answered_by === "encoder", expected[i]!.answeredBy === "encoder", `text ${i}: who answered`);
      assert.ok(Math.abs(r.cost_usd - expected[i]!.costUsd) < 1e-12);
    });
    const routed = body.results.filter((r: { answered_by: string }) => r.answered_by === "gpt").length;
    assert.equal(body.totals.llm_share, routed / 4);
    assert.equal(body.totals.texts, 4);
    assert.ok(Math.abs(body.totals.cost_usd - body.results.reduce((s: number, r: { cost_usd: number }) => s + r.cost_usd, 0)) < 1e-12);

    const lexicon = await json(post(`${server.url}/v1/classify`, { texts: ["I love it"], strategy: "lexicon" }));
    assert.equal(lexicon.results[0].label, "positive");
    assert.equal(Object.keys(lexicon.results[0].probabilities).join(), "negative,neutral,positive");

    const bad: Array<[unknown, number, string | undefined, RegExp]> = [
      [{}, 400, "texts", /texts/],
      [{ texts: "one text" }, 400, "texts", /must be array/],
      [{ texts: [] }, 400, "texts", /fewer than 1/],
      [{ texts: [1] }, 400, "texts.0", /must be string/],
      [{ texts: ["a"], stratgy: "x" }, 400, "stratgy", /not a known field/],
      [{ texts: ["a"], strategy: "nope" }, 400, "strategy", /unknown strategy "nope"/],
      ["{not json", 400, undefined, /JSON/i],
    ];
    for (const [payload, status, field, message] of bad) {
      const r = await post(`${server.url}/v1/classify`, payload);
      assert.equal(r.status, status, JSON.stringify(payload));
      const error = await json(r);
      assert.equal(error.field, field, JSON.stringify(payload));
      assert.match(error.error, message);
    }

    const document = await json(fetch(`${server.url}/openapi.json`));
    assert.equal(document.openapi, "3.1.0");
    await SwaggerParser.validate(structuredClone(document));
    assert.ok(document.paths["/v1/classify"].post.requestBody.content["application/json"].schema.properties.texts);
    assert.ok(document.paths["/v1/jobs"] === undefined || document.paths["/v1/jobs"].post);
    const docs = await fetch(`${server.url}/docs/`);
    assert.equal(docs.status, 200);
    assert.match(await docs.text(), /swagger/i);

    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /tandem_http_requests_total\{route="\/v1\/classify",method="POST",status="200"\} 2/);
    assert.match(metrics, new RegExp(`tandem_llm_items_total\\{strategy="cascade"\\} ${routed}`));
    assert.match(metrics, /tandem_encoder_batch_size_count \d+/);
    assert.match(metrics, /tandem_cost_usd_total\{strategy="cascade"\} [0-9.e-]+/);
    assert.match(metrics, /tandem_queue_depth 0/);
  } finally {
    await server.close();
  }
});

test("serve: API keys (401 without or with a wrong key, never echoed; 200 with a right one), required off loopback", async () => {
  const server = await serve({ apiKeys: ["k-right-123", "k-other-456"] });
  try {
    const none = await post(`${server.url}/v1/classify`, { texts: ["hi"] });
    assert.equal(none.status, 401);
    assert.match(none.headers.get("www-authenticate") ?? "", /^Bearer/);
    const wrong = await post(`${server.url}/v1/classify`, { texts: ["hi"] }, { authorization: "Bearer sk-wrong-SECRET-987" });
    assert.equal(wrong.status, 401);
    const text = await wrong.text();
    assert.doesNotMatch(text, /SECRET|sk-wrong/);
    assert.equal((await fetch(`${server.url}/v1/strategies`)).status, 401);
    assert.equal((await fetch(`${server.url}/metrics`)).status, 401);
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200, "health checks need no key");
    const right = await post(`${server.url}/v1/classify`, { texts: ["hi"], strategy: "lexicon" }, { authorization: "Bearer k-other-456" });
    assert.equal(right.status, 200);
  } finally {
    await server.close();
  }
  await assert.rejects(startServer({ strategies: parseStrategyFile(config(llm.url), "serve.yaml"), host: "0.0.0.0", port: 0 }), /not loopback\) needs API keys/);
});

test("serve: limits give 413, a full queue gives 429 with Retry-After", async () => {
  const server = await serve({ maxTexts: 5, maxTextLength: 50, bodyLimit: 2048, maxQueue: 6, maxWaitMs: 20 }, slowLlm.url);
  try {
    const many = await post(`${server.url}/v1/classify`, { texts: ["a", "b", "c", "d", "e", "f"], strategy: "lexicon" });
    assert.equal(many.status, 413);
    assert.equal((await json(many)).field, "texts");
    const long = await post(`${server.url}/v1/classify`, { texts: ["ok", "x".repeat(51)], strategy: "lexicon" });
    assert.equal(long.status, 413);
    assert.equal((await json(long)).field, "texts.1");
    const huge = await post(`${server.url}/v1/classify`, { texts: ["y".repeat(4000)] });
    assert.equal(huge.status, 413);

    // The LLM answers in 400 ms: five 2-text requests to it fill the queue of 6.
    const llmCalls = Array.from({ length: 5 }, (_, i) => post(`${server.url}/v1/classify`, { texts: [`slow ${i} a`, `slow ${i} b`], strategy: "gpt" }));
    const statuses = await Promise.all(llmCalls.map(async (p) => {
      const r = await p;
      return { status: r.status, retry: r.headers.get("retry-after") };
    }));
    assert.ok(statuses.filter((s) => s.status === 200).length >= 1, JSON.stringify(statuses));
    const shed = statuses.filter((s) => s.status === 429);
    assert.ok(shed.length >= 1, JSON.stringify(statuses));
    assert.ok(shed.every((s) => s.retry === "1"));
  } finally {
    await server.close();
  }
});

test("serve: dynamic batching answers concurrent one-text requests in fewer encoder calls, with the offline answers", async () => {
  const server = await serve({ maxWaitMs: 20 });
  try {
    // 24 one-text requests at once: answered in fewer encoder calls than requests.
    const before = await (await fetch(`${server.url}/metrics`)).text();
    const calls = (metrics: string) => Number(/tandem_encoder_batch_size_count (\d+)/.exec(metrics)?.[1] ?? 0);
    const texts = Array.from({ length: 24 }, (_, i) => `review number ${i}: ${i % 2 ? "great" : "bad"} value`);
    const answers = await Promise.all(texts.map((t) => post(`${server.url}/v1/classify`, { texts: [t], strategy: "encoder" }).then(json)));
    const after = await (await fetch(`${server.url}/metrics`)).text();
    const used = calls(after) - calls(before);
    assert.ok(used >= 1 && used < 24, `${used} encoder calls for 24 requests`);
    const offline = await createStrategy("starter");
    const expected = await offline.classify(texts);
    await offline.close();
    answers.forEach((a, i) => {
      assert.equal(a.results[0].label, expected[i]!.label);
      assert.ok(Math.abs(a.results[0].probabilities.positive - expected[i]!.probabilities![2]!) < 1e-5);
    });
  } finally {
    await server.close();
  }
});

test("tandem serve: SIGTERM stops accepting, answers every request in flight, exits 0", async () => {
  const file = tempFile("serve-shutdown.yaml", config(slowLlm.url));
  const { url, child, stderr: output } = await spawnServe(["--config", file, "--port", "0", "--db", join(tempDir(), "shutdown.db"), "--log-level", "silent"]);
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  const before = slowLlm.requests;
  const inFlight = Array.from({ length: 6 }, (_, i) => post(`${url}/v1/classify`, { texts: [`in flight ${i}`], strategy: "gpt" }));
  // SIGTERM once all six reached the LLM (the server holds them, their answers 400 ms away): in flight for sure.
  for (let i = 0; slowLlm.requests - before < 6; i++) {
    if (i > 3000) throw new Error("the requests never reached the LLM");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  child.kill("SIGTERM");
  const answered = await Promise.all(inFlight.map(async (p) => {
    const r = await p;
    return { status: r.status, body: await json(r) };
  }));
  assert.deepEqual(answered.map((a) => a.status), [200, 200, 200, 200, 200, 200], JSON.stringify(answered));
  assert.ok(answered.every((a) => a.body.results[0].status === "ok"));
  const code = await exited;
  const stderr = output();
  assert.equal(code, 0, stderr);
  assert.match(stderr, /SIGTERM: finishing the requests in flight[\s\S]*stopped/);
  await assert.rejects(fetch(`${url}/healthz`), "no longer listening");
});

test("serve: the request shape of text-embeddings-inference (POST /predict, GET /info) answers with the default strategy, as /v1/classify does", async () => {
  const server = await startServer({ strategies: parseStrategyFile("strategies:\n  - name: encoder\n    type: encoder\n    model: starter\n  - name: lexicon\n    type: lexicon\ndefault: encoder\n", "tei.yaml"), port: 0, store: join(tempDir(), "tei.db"), logger: false });
  await server.ready;
  try {
    const texts = ["An utterly delightful film.", "Boring and far too long."];
    const classified = await json(post(`${server.url}/v1/classify`, { texts }));
    const one = await json(post(`${server.url}/predict`, { inputs: texts[0] }));
    assert.deepEqual(one.map((s: Json) => s.label), Object.entries(classified.results[0].probabilities as Record<string, number>).sort((a, b) => b[1] - a[1]).map(([label]) => label), "highest score first");
    assert.ok(Math.abs(one[0].score - Math.max(...(Object.values(classified.results[0].probabilities) as number[]))) < 1e-6);
    const many = await json(post(`${server.url}/predict`, { inputs: texts, raw_scores: true }));
    assert.equal(many.length, 2);
    assert.equal(many[1][0].label, classified.results[1].label);
    assert.ok(Math.abs(many[1][0].score - Math.log(classified.results[1].probabilities[classified.results[1].label])) < 1e-6, "raw scores are log-probabilities");
    const info = await json(fetch(`${server.url}/info`));
    assert.equal(info.model_id, "encoder");
    assert.deepEqual(info.model_type.classifier.id2label, { 0: "negative", 1: "neutral", 2: "positive" });
    const bad = await post(`${server.url}/predict`, { inputs: [] });
    assert.equal(bad.status, 400);
    assert.equal(typeof ((await bad.json()) as Json).error, "string", "the one error shape");
  } finally {
    await server.close();
  }
});
