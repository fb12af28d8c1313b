// Encoders off the event loop: a session computing on a worker thread answers exactly as one on the
// calling thread while the event loop keeps turning; copies of a model (replicas) take concurrent calls;
// the server's batcher starts a call only after the requests already read have queued their texts, and
// shares what waits among idle copies.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { readTable } from "../src/data/readers.js";
import { resolveModelDir } from "../src/encoders/hub.js";
import { runEncoder } from "../src/encoders/inference.js";
import { EncoderModel } from "../src/encoders/model.js";
import { createThreadedSession } from "../src/encoders/session-thread.js";
import { batchingStrategy } from "../src/server/batcher.js";
import { createStrategy } from "../src/strategies/factory.js";
import { replicaPlan, type EncoderStrategy } from "../src/strategies/encoder.js";
import type { Prediction, Strategy } from "../src/strategies/strategy.js";
import { SHARED } from "./helpers.js";

let starter: string;
let texts: string[];

before(async () => {
  starter = await resolveModelDir("starter");
  const table = await readTable(join(SHARED, "data/sentiment-merged/test_all.csv"));
  texts = table.records.slice(0, 96).map((r) => String(r.values.sentence));
});

test("a worker-thread session answers bit for bit as the calling thread's, padded and packed, while the event loop turns", async () => {
  const here = await EncoderModel.load(starter, { packing: true });
  const there = await EncoderModel.load(starter, { packing: true, workerThread: true });
  try {
    for (const packing of [undefined, 64]) {
      const a = await runEncoder(here, texts, { batchSize: 16, packing });
      const b = await runEncoder(there, texts, { batchSize: 16, packing });
      assert.deepEqual([...b.values], [...a.values], `packing ${packing}`);
    }
    // On the calling thread a run holds the event loop until it ends; on a worker the loop turns meanwhile.
    const turnsDuring = async (model: EncoderModel) => {
      let turns = 0;
      let running = true;
      const spin = () => {
        if (!running) return;
        turns++;
        setImmediate(spin);
      };
      const run = model.run(model.feeds(texts.map((t) => model.tokenizer.encode(t, 128).ids)), texts.length);
      setImmediate(spin);
      await run;
      running = false;
      return turns;
    };
    assert.ok((await turnsDuring(there)) >= 3, "the event loop should turn while a worker computes");
    assert.ok((await turnsDuring(here)) <= 1, "on the calling thread the run holds the loop (the comparison's premise)");
  } finally {
    await here.release();
    await there.release();
  }
});

test("a threaded session: a graph ONNX Runtime refuses rejects with its message; a released session refuses runs", async () => {
  await assert.rejects(createThreadedSession(new Uint8Array([1, 2, 3, 4]), {}), /protobuf|parse|model/i);
  const session = await createThreadedSession(readFileSync(join(starter, "onnx/model.onnx")), { intraOpNumThreads: 1 });
  assert.ok(session.inputNames.includes("input_ids"));
  await session.release();
  await assert.rejects(session.run({}), /released/);
});

test("replicas: copies of the encoder take concurrent calls, each answered as by one copy", async () => {
  const one = (await createStrategy({ type: "encoder", model: "starter" })) as EncoderStrategy;
  const two = (await createStrategy({ type: "encoder", model: "starter", replicas: 2 })) as EncoderStrategy;
  try {
    assert.equal(one.replicas, 1);
    assert.equal(two.replicas, 2);
    const expected = await one.classify(texts);
    const halves = await Promise.all([two.classify(texts.slice(0, 48)), two.classify(texts.slice(48))]);
    const got = halves.flat();
    got.forEach((p, i) => {
      assert.equal(p.label, expected[i]!.label, `text ${i}`);
      p.probabilities!.forEach((v, c) => assert.ok(Math.abs(v - expected[i]!.probabilities![c]!) < 1e-6, `text ${i}`));
    });
  } finally {
    await one.close();
    await two.close();
  }
});

test("replicaPlan: auto is one single-threaded copy per core up to four, then threads; fewer with more threads; one on an accelerator", () => {
  assert.deepEqual(replicaPlan({ replicas: "auto" }, 2), { replicas: 2, threads: 1 });
  assert.deepEqual(replicaPlan({ replicas: "auto" }, 3), { replicas: 3, threads: 1 });
  assert.deepEqual(replicaPlan({ replicas: "auto" }, 8), { replicas: 4, threads: 2 });
  assert.deepEqual(replicaPlan({ replicas: "auto" }, 18), { replicas: 4, threads: 4 });
  assert.deepEqual(replicaPlan({ replicas: "auto", threads: 3 }, 8), { replicas: 2, threads: 3 });
  assert.deepEqual(replicaPlan({ replicas: "auto", threads: 1 }, 8), { replicas: 4, threads: 1 });
  assert.deepEqual(replicaPlan({ replicas: "auto", threads: 16 }, 8), { replicas: 1, threads: 16 });
  assert.deepEqual(replicaPlan({ replicas: "auto", device: "cuda" }, 8), { replicas: 1, threads: undefined });
  assert.deepEqual(replicaPlan({ replicas: 4 }, 8), { replicas: 4, threads: 2 });
  assert.deepEqual(replicaPlan({ replicas: 1 }, 8), { replicas: 1, threads: undefined });
  assert.deepEqual(replicaPlan({}, 8), { replicas: 1, threads: undefined });
});

/** A strategy whose calls end when the test says, recording each call's texts. */
function heldStrategy(replicas: number): Strategy & { replicas: number; calls: string[][]; finish(call: number): void } {
  const calls: string[][] = [];
  const finishers: Array<() => void> = [];
  return {
    name: "held",
    type: "encoder",
    labels: ["a", "b"],
    members: [],
    replicas,
    calls,
    finish: (call) => finishers[call]!(),
    classify(batch): Promise<Prediction[]> {
      calls.push([...batch]);
      return new Promise((resolve) => finishers.push(() => resolve(batch.map((text) => ({ label: text, status: "ok", costUsd: 0 })))));
    },
    close: async () => {},
  };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

test("batcher: requests queued in one turn of the event loop share one call; idle copies share what waits", async () => {
  const single = heldStrategy(1);
  const batched = batchingStrategy(single, { maxBatch: 64, maxWaitMs: 0 });
  const burst = Array.from({ length: 10 }, (_, i) => batched.classify([`t${i}`]));
  await turn();
  assert.deepEqual(single.calls.map((c) => c.length), [10], "a burst read in one turn is one call");
  const late = batched.classify(["late"]);
  await turn();
  assert.equal(single.calls.length, 1, "the only copy is busy: the text waits");
  single.finish(0);
  assert.deepEqual((await Promise.all(burst)).map((p) => p[0]!.label), Array.from({ length: 10 }, (_, i) => `t${i}`));
  await turn();
  assert.deepEqual(single.calls[1], ["late"]);
  single.finish(1);
  await late;

  const pair = heldStrategy(2);
  const shared = batchingStrategy(pair, { maxBatch: 4, maxWaitMs: 0 });
  const queued = Array.from({ length: 7 }, (_, i) => shared.classify([`u${i}`]));
  await turn();
  // Two idle copies: the first maxBatch texts start at once, split evenly between them; the other three wait.
  assert.deepEqual(pair.calls, [["u0", "u1"], ["u2", "u3"]]);
  const more = Array.from({ length: 3 }, (_, i) => shared.classify([`v${i}`]));
  await turn();
  assert.equal(pair.calls.length, 2, "both copies busy: nothing starts");
  pair.finish(1);
  await turn();
  assert.deepEqual(pair.calls[2], ["u4", "u5", "u6", "v0"], "maxBatch texts wait: the freed copy takes them at once, oldest first");
  pair.finish(0);
  // Fewer than maxBatch wait: the freed copy starts them after a turn of the loop.
  await turn();
  await turn();
  assert.deepEqual(pair.calls[3], ["v1", "v2"]);
  pair.finish(2);
  pair.finish(3);
  assert.equal((await Promise.all([...queued, ...more])).length, 10);
});
