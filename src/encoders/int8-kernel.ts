/**
 * Which int8 product this CPU's ONNX Runtime computes. On x86 CPUs without VNNI, ONNX Runtime's U8S8
 * kernel adds pairs of u8 × s8 products into a saturating 16-bit integer, so an int8 model answers
 * differently there than everywhere else; a one-operator probe tells, and sessions of int8 graphs on
 * such CPUs get their weights widened to uint8 (`widenInt8Weights`), which computes the exact product.
 */
import { readFileSync } from "node:fs";
import * as ort from "onnxruntime-node";
import onnxProto from "onnx-proto";
import { rowwiseActivations, widenInt8Weights } from "./int8-rewrites.js";
import { fuseEncoderGraph, isFused } from "./fusions.js";

const { onnx } = onnxProto;
let probe: Promise<boolean> | undefined;

/** How int8 weights run: `auto` widens them where the CPU's kernel saturates; `TANDEM_INT8_KERNEL` overrides. */
export type Int8KernelChoice = "auto" | "widen" | "native";

export function int8KernelChoice(): Int8KernelChoice {
  const value = (process.env.TANDEM_INT8_KERNEL ?? "auto").trim().toLowerCase();
  if (value === "auto" || value === "widen" || value === "native") return value;
  throw new Error(`TANDEM_INT8_KERNEL must be auto, widen or native, not ${JSON.stringify(process.env.TANDEM_INT8_KERNEL)}`);
}

/**
 * True when ONNX Runtime's u8 × s8 product saturates on this CPU: 64 products of 255 × 127 add to 2,072,640
 * exactly, but to 32 × 32,767 when each pair is clamped to 16 bits. A GEMM of the shape encoders run (8 × 64
 * by 64 × 64), not a vector product, which may take another kernel. Measured once per process.
 */
export function int8ProductSaturates(): Promise<boolean> {
  probe ??= (async () => {
    const [m, k, n] = [8, 64, 64];
    const graph = onnx.GraphProto.create({
      name: "int8-probe",
      node: [onnx.NodeProto.create({ opType: "DynamicQuantizeMatMul", domain: "com.microsoft", input: ["a", "w", "w_scale", "w_zero"], output: ["y"] })],
      initializer: [
        onnx.TensorProto.create({ name: "w", dims: [k, n], dataType: onnx.TensorProto.DataType.INT8, rawData: new Uint8Array(k * n).fill(127) }),
        onnx.TensorProto.create({ name: "w_scale", dims: [n], dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(new Float32Array(n).fill(1).buffer) }),
        onnx.TensorProto.create({ name: "w_zero", dims: [n], dataType: onnx.TensorProto.DataType.INT8, rawData: new Uint8Array(n) }),
      ],
      input: [valueInfo("a", [m, k])],
      output: [valueInfo("y", [m, n])],
    });
    const model = onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: "", version: 17 }, { domain: "com.microsoft", version: 1 }], graph });
    const session = await ort.InferenceSession.create(onnx.ModelProto.encode(model).finish(), { logSeverityLevel: 3 });
    try {
      const y = (await session.run({ a: new ort.Tensor("float32", new Float32Array(m * k).fill(1), [m, k]) })).y!.data as Float32Array;
      // Exact: (1/255) × 64 × 255 × 127 = 8,128 in every cell; saturated: 32 × 32,767 / 255 ≈ 4,112.
      return y.some((v) => Math.abs(v - 8128) > 1);
    } finally {
      await session.release();
    }
  })();
  return probe;
}

function valueInfo(name: string, dims: number[]) {
  return onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: dims.map((dimValue) => ({ dimValue })) } } } });
}

/** Whether sessions of int8 graphs widen their weights in this process. */
export async function widensInt8Weights(): Promise<boolean> {
  const choice = int8KernelChoice();
  return choice === "widen" || (choice === "auto" && (await int8ProductSaturates()));
}

/** How int8 activations are quantized at run time: per row (`row`, the default: answers independent of batch-mates) or per tensor (`tensor`, ONNX Runtime's DynamicQuantizeMatMul as stored); `TANDEM_INT8_ACTIVATIONS` overrides. */
export function int8ActivationChoice(): "row" | "tensor" {
  const value = (process.env.TANDEM_INT8_ACTIVATIONS ?? "row").trim().toLowerCase();
  if (value === "row" || value === "tensor") return value;
  throw new Error(`TANDEM_INT8_ACTIVATIONS must be row or tensor, not ${JSON.stringify(process.env.TANDEM_INT8_ACTIVATIONS)}`);
}

/** Whether tandem fuses self-attention as it opens a graph (fusions.ts); `TANDEM_FUSE=0` turns it off (for comparison). */
export function graphFusionChoice(): boolean {
  const value = (process.env.TANDEM_FUSE ?? "1").trim();
  if (value === "1" || value === "0") return value === "1";
  throw new Error(`TANDEM_FUSE must be 1 or 0, not ${JSON.stringify(process.env.TANDEM_FUSE)}`);
}

/**
 * The graph (a file or bytes) as this CPU should run it: int8 weights widened where the kernel saturates,
 * activations quantized per row, so that a text's answer does not depend on the other texts of its batch, and
 * self-attention fused into ONNX Runtime's MultiHeadAttention kernel.
 */
export async function portableGraph<T extends string | Uint8Array>(graph: T): Promise<T | Uint8Array> {
  let bytes: Uint8Array | undefined;
  const read = () => (bytes ??= typeof graph === "string" ? readFileSync(graph) : (graph as Uint8Array));
  let changed = false;
  if (await widensInt8Weights()) {
    const result = widenInt8Weights(read());
    if (result.widened > 0) [bytes, changed] = [result.bytes, true];
  }
  // Only graphs with DynamicQuantizeMatMul are rewritten: a byte search spares decoding float graphs.
  if (int8ActivationChoice() === "row" && Buffer.from(read().buffer, read().byteOffset, read().byteLength).includes("DynamicQuantizeMatMul")) {
    const result = rowwiseActivations(read());
    if (result.rewritten > 0) [bytes, changed] = [result.bytes, true];
  }
  if (graphFusionChoice() && !isFused(read())) {
    const result = fuseEncoderGraph(read());
    if (result.summary.attention > 0) [bytes, changed] = [result.bytes, true];
  }
  return changed ? bytes! : graph;
}

/** `ort.InferenceSession.create` on the portable form of the graph. */
export async function createSession(graph: string | Uint8Array, options: ort.InferenceSession.SessionOptions = {}): Promise<ort.InferenceSession> {
  const portable = await portableGraph(graph);
  return typeof portable === "string" ? ort.InferenceSession.create(portable, options) : ort.InferenceSession.create(portable, options);
}
