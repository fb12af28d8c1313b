/**
 * The worker-thread side of a threaded session (session-thread.ts): it creates one ONNX Runtime session
 * from the graph it is given and runs it for each message. onnxruntime-node's `run` computes on the calling
 * thread, so running it here leaves the main thread's event loop free (a server keeps answering HTTP).
 *
 * It is JavaScript source for an `eval` worker, not a module file: a worker started from a .ts file gets
 * none of the loader hooks that run tandem from its sources (tests, tsx), and this way the build and the
 * sources start the same code. It loads onnxruntime-node from the path the main thread resolved.
 */
import type * as ort from "onnxruntime-node";

export interface WireTensor {
  type: ort.Tensor.Type;
  data: ort.Tensor.DataType;
  dims: readonly number[];
}

export type ToSession = { kind: "run"; id: number; feeds: Record<string, WireTensor>; fetches: string[] } | { kind: "release" };
export type FromSession =
  | { kind: "ready"; inputNames: string[]; outputNames: string[] }
  | { kind: "failed"; message: string }
  | { kind: "result"; id: number; outputs: Record<string, WireTensor> }
  | { kind: "error"; id: number; message: string };

/** workerData: { ortPath, graph (a path or bytes), options }. Messages: ToSession in, FromSession out. */
export const SESSION_WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const ort = require(workerData.ortPath);
const port = parentPort;
(async () => {
  let session;
  try {
    session = await ort.InferenceSession.create(workerData.graph, workerData.options);
    // ONNX Runtime holds its own copy now: the bytes need not stay for the thread's life.
    workerData.graph = null;
  } catch (error) {
    port.postMessage({ kind: "failed", message: String(error && error.message || error) });
    return;
  }
  port.postMessage({ kind: "ready", inputNames: [...session.inputNames], outputNames: [...session.outputNames] });
  port.on("message", (message) => {
    if (message.kind === "release") {
      // process.exit in a worker ends only this thread.
      session.release().finally(() => process.exit(0));
      return;
    }
    const fail = (error) => port.postMessage({ kind: "error", id: message.id, message: String(error && error.message || error) });
    try {
      const feeds = {};
      for (const [name, t] of Object.entries(message.feeds)) feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
      session.run(feeds, message.fetches).then((result) => {
        const outputs = {};
        const transfer = new Set();
        for (const [name, tensor] of Object.entries(result)) {
          outputs[name] = { type: tensor.type, data: tensor.data, dims: tensor.dims };
          if (tensor.data.buffer instanceof ArrayBuffer) transfer.add(tensor.data.buffer);
        }
        port.postMessage({ kind: "result", id: message.id, outputs }, [...transfer]);
      }, fail);
    } catch (error) {
      fail(error);
    }
  });
})();
`;
