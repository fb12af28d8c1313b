// Benchmark: the LLM engine against the local OpenAI-compatible test server (in its own process).
// 1. Overhead: tandem's run loop (prompt, throttle, retry wrapper, parse, logprobs, SQLite cache write)
//    vs bare SDK calls at concurrency 64, server answering instantly. Target: < 1 ms per item.
// 2. Scaling: items/s per concurrency with a server taking 20 ms and a limit of 60,000 requests/minute
//    (1,000/s): throughput should grow linearly with concurrency until the limit binds.
import { spawn } from "node:child_process";
import { join } from "node:path";
import OpenAI from "openai";
import { openStore } from "../src/core/store.js";
import { ResponseCache } from "../src/llm/cache.js";
import { DEFAULT_PRICES, lookupPrice } from "../src/llm/pricing.js";
import { defaultWording, renderProgram } from "../src/llm/prompts/programs.js";
import { createChatModel } from "../src/llm/providers/registry.js";
import { runLlm } from "../src/llm/runner.js";

const LABELS = ["negative", "neutral", "positive"];
const wording = defaultWording("sentiment");

async function server(port: number, latencyMs: number) {
  const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "llm-server.ts"), String(port), String(latencyMs)], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
  return child;
}

const texts = Array.from({ length: 4000 }, (_, i) => `Review number ${i}: the service was ${["great", "slow", "fine"][i % 3]} and the food ${["cold", "lovely", "ok"][i % 3]}.`);
const prices = lookupPrice(DEFAULT_PRICES, "openai", "gpt-4o-mini");

async function engine(url: string, count: number, concurrency: number, options: { rpm?: number; cache?: boolean } = {}): Promise<number> {
  const model = await createChatModel(`compat:${url}#gpt-4o-mini`);
  const cache = options.cache ? new ResponseCache(openStore(":memory:")) : undefined;
  const started = performance.now();
  await runLlm({ model, labels: LABELS, count, concurrency, rpm: options.rpm, cache, logprobs: true, prices, messages: (i) => renderProgram("zero-shot", LABELS, { text: texts[i % texts.length]! }, wording) });
  return (performance.now() - started) / 1000;
}

async function bare(url: string, count: number, concurrency: number): Promise<number> {
  const client = new OpenAI({ baseURL: url, apiKey: "x", maxRetries: 0 });
  const messages = Array.from({ length: count }, (_, i) => renderProgram("zero-shot", LABELS, { text: texts[i % texts.length]! }, wording));
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        await client.chat.completions.create({ model: "gpt-4o-mini", messages: messages[i]!, max_tokens: 10, temperature: 0, logprobs: true, top_logprobs: 5 });
      }
    }),
  );
  return (performance.now() - started) / 1000;
}

const instant = await server(18787, 0);
const url = "http://127.0.0.1:18787/v1";
const n = 4000;
await engine(url, 500, 64);
await bare(url, 500, 64);
const bareSeconds = Math.min(await bare(url, n, 64), await bare(url, n, 64));
const engineSeconds = Math.min(await engine(url, n, 64), await engine(url, n, 64));
const cachedSeconds = Math.min(await engine(url, n, 64, { cache: true }), await engine(url, n, 64, { cache: true }));
const overhead = ((engineSeconds - bareSeconds) / n) * 1000;
const overheadCache = ((cachedSeconds - bareSeconds) / n) * 1000;
console.log(`overhead, ${n} items at concurrency 64, instant server (separate process):`);
console.log(`  bare SDK calls        ${(n / bareSeconds).toFixed(0)} items/s`);
console.log(`  tandem run loop       ${(n / engineSeconds).toFixed(0)} items/s → overhead ${overhead.toFixed(3)} ms/item`);
console.log(`  … + SQLite cache      ${(n / cachedSeconds).toFixed(0)} items/s → overhead ${overheadCache.toFixed(3)} ms/item; target < 1 ms: ${Math.max(overhead, overheadCache) < 1 ? "met" : "MISSED"}`);
instant.kill();

const slow = await server(18788, 20);
const slowUrl = "http://127.0.0.1:18788/v1";
const rpm = 60_000;
console.log(`\nscaling: server latency 20 ms, limit ${rpm} requests/minute (${rpm / 60}/s)`);
console.log("concurrency  items/s  ideal min(c/0.02 s, limit)  ratio");
for (const concurrency of [1, 2, 4, 8, 16, 32, 64]) {
  const count = Math.min(2000, 60 * concurrency);
  const seconds = await engine(slowUrl, count, concurrency, { rpm });
  const ideal = Math.min(concurrency / 0.02, rpm / 60);
  console.log(`${String(concurrency).padStart(11)} ${(count / seconds).toFixed(0).padStart(8)} ${ideal.toFixed(0).padStart(27)} ${(count / seconds / ideal).toFixed(2).padStart(6)}`);
}
slow.kill();
