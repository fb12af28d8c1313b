/**
 * An ONNX Runtime session that computes on a worker thread. onnxruntime-node's `run` returns a promise
 * but computes on the thread that calls it, so a session on the main thread blocks the event loop for a
 * whole batch: a server then cannot read requests or write answers while its encoder runs, and offline
 * the next batch's tokens cannot be prepared meanwhile. The threaded session has the same `run`, with the
 * inputs copied to the worker and the outputs moved back (no copy).
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import * as ort from "onnxruntime-node";
import { SESSION_WORKER_SOURCE, type FromSession, type ToSession, type WireTensor } from "./session-worker.js";

/** What tandem uses of a session: the same whether it computes here or on a worker thread. */
export interface RunnableSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, ort.Tensor>, fetches?: readonly string[]): Promise<Record<string, ort.Tensor>>;
  release(): Promise<void>;
}

/** The onnxruntime-node this module loaded, for the worker to load the same one. */
const ORT_PATH = createRequire(import.meta.url).resolve("onnxruntime-node");

/**
 * Starts a worker thread holding a session of `graph`: a path, or the bytes, copied there (not moved: a
 * Buffer's memory may not be transferable, and a worker given one it cannot take ends before it starts).
 */
export function createThreadedSession(graph: string | Uint8Array, options: ort.InferenceSession.SessionOptions): Promise<RunnableSession> {
  const worker = new Worker(SESSION_WORKER_SOURCE, { eval: true, workerData: { ortPath: ORT_PATH, graph, options } });
  const pending = new Map<number, { resolve: (outputs: Record<string, ort.Tensor>) => void; reject: (error: Error) => void }>();
  let nextId = 0;
  let failure: Error | undefined;
  // The worker keeps the process alive only while a run is waiting for it.
  const settle = (id: number) => {
    const waiter = pending.get(id);
    pending.delete(id);
    if (pending.size === 0) worker.unref();
    return waiter;
  };
  return new Promise((resolve, reject) => {
    let names: { inputNames: string[]; outputNames: string[] } | undefined;
    worker.on("message", (message: FromSession) => {
      if (message.kind === "ready") {
        names = message;
        worker.unref();
        resolve(session(names));
      } else if (message.kind === "failed") {
        reject(new Error(message.message));
        void worker.terminate();
      } else if (message.kind === "result") {
        settle(message.id)?.resolve(Object.fromEntries(Object.entries(message.outputs).map(([name, t]) => [name, new ort.Tensor(t.type, t.data as never, t.dims)])));
      } else {
        settle(message.id)?.reject(new Error(message.message));
      }
    });
    worker.on("error", (error) => {
      failure = error;
      if (!names) reject(error);
      for (const id of [...pending.keys()]) settle(id)?.reject(error);
    });
    worker.on("exit", (code) => {
      failure ??= new Error(`the session's worker thread has ended (exit code ${code})`);
      if (!names) reject(failure);
      for (const id of [...pending.keys()]) settle(id)?.reject(failure);
    });
  });

  function session(names: { inputNames: string[]; outputNames: string[] }): RunnableSession {
    let released: Promise<void> | undefined;
    return {
      inputNames: names.inputNames,
      outputNames: names.outputNames,
      run(feeds, fetches = names.outputNames) {
        if (released) return Promise.reject(new Error("the session was released"));
        if (failure) return Promise.reject(failure);
        const id = nextId++;
        const wire: Record<string, WireTensor> = {};
        for (const [name, tensor] of Object.entries(feeds)) wire[name] = { type: tensor.type, data: tensor.data, dims: tensor.dims };
        return new Promise((resolve, reject) => {
          pending.set(id, { resolve, reject });
          worker.ref();
          worker.postMessage({ kind: "run", id, feeds: wire, fetches: [...fetches] } satisfies ToSession);
        });
      },
      release() {
        released ??= new Promise<void>((done) => {
          worker.once("exit", () => done());
          worker.ref();
          worker.postMessage({ kind: "release" } satisfies ToSession);
        });
        return released;
      },
    };
  }
}
