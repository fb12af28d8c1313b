/**
 * What tandem's ONNX graph rewrites (int8 quantization, its load-time rewrites) share: tensor and node
 * types, element types, and byte views. Internal: the public API takes and returns bytes, so that its
 * declarations never name onnx-proto's types.
 */
import onnxProto from "onnx-proto";

const { onnx } = onnxProto;
export type Tensor = onnxProto.onnx.ITensorProto;
export type Node = onnxProto.onnx.INodeProto;
export const FLOAT = onnx.TensorProto.DataType.FLOAT;
export const INT8 = onnx.TensorProto.DataType.INT8;
export const UINT8 = onnx.TensorProto.DataType.UINT8;
export const MS_DOMAIN = "com.microsoft";

export function dimsOf(tensor: Tensor): number[] {
  return (tensor.dims ?? []).map((d) => Number(d));
}

export const bytesOf = (array: Float32Array | Int8Array) => new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
