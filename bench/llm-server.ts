// The test server in a process of its own, for bench/llm.ts: PORT LATENCY_MS.
import { startMockServer } from "../test/fixtures/openai-server.js";

const [port, latency] = process.argv.slice(2).map(Number);
await startMockServer({ latencyMs: latency }, port);
process.stdout.write("ready\n");
