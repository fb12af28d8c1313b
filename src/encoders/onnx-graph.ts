/**
 * A small builder for ONNX graphs (onnx-proto's message types): named inputs and outputs, constants,
 * and one call per operator. tandem writes its head-training graphs with it, so that the matrix
 * products of training run in ONNX Runtime's kernels rather than in JavaScript loops.
 */
import onnxProto from "onnx-proto";

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

export type Dim = number | string;
export type ElementType = "float" | "int64";
const ELEMENT_TYPES: Record<ElementType, number> = { float: FLOAT, int64: INT64 };
export type AttributeValue = number | number[] | { float: number };

export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private counter = 0;

  constructor(
    private readonly name: string,
    private readonly producer = "tandem",
  ) {}

  input(name: string, dims: Dim[], type: ElementType = "float"): string {
    this.inputs.push(valueInfo(name, ELEMENT_TYPES[type], dims));
    return name;
  }

  /** Marks a value as a graph output under `name` (an Identity when the value has another name). */
  output(value: string, name: string, dims: Dim[]): void {
    if (value !== name) this.nodes.push(onnx.NodeProto.create({ opType: "Identity", input: [value], output: [name] }));
    this.outputs.push(valueInfo(name, FLOAT, dims));
  }

  /** A float constant: a scalar for a number, else a tensor of the given dims. */
  float(values: number | Float32Array, dims: number[] = []): string {
    const data = typeof values === "number" ? Float32Array.of(values) : values;
    return this.initializer(dims, FLOAT, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }

  /** An int64 constant: a 1-D tensor of the values, or a scalar with dims []. */
  int64s(values: number[], dims: number[] = [values.length]): string {
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    return this.initializer(dims, INT64, new Uint8Array(data.buffer));
  }

  /** Adds one operator with a single output and returns the output's name. Integer attributes stay integers; {float: x} makes a float one. */
  op(type: string, inputs: string[], attributes: Record<string, AttributeValue> = {}): string {
    const out = `${type.toLowerCase()}_${this.counter++}`;
    const attribute = Object.entries(attributes).map(([name, value]) => {
      if (Array.isArray(value)) return { name, type: onnx.AttributeProto.AttributeType.INTS, ints: value };
      if (typeof value === "number") return { name, type: onnx.AttributeProto.AttributeType.INT, i: value };
      return { name, type: onnx.AttributeProto.AttributeType.FLOAT, f: value.float };
    });
    this.nodes.push(onnx.NodeProto.create({ opType: type, input: inputs, output: [out], attribute }));
    return out;
  }

  encode(): Uint8Array {
    const graph = onnx.GraphProto.create({ name: this.name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs });
    const model = onnx.ModelProto.create({ irVersion: 8, producerName: this.producer, opsetImport: [{ domain: "", version: 17 }], graph });
    return onnx.ModelProto.encode(model).finish();
  }

  private initializer(dims: number[], dataType: number, rawData: Uint8Array): string {
    const name = `const_${this.counter++}`;
    this.initializers.push(onnx.TensorProto.create({ name, dims, dataType, rawData }));
    return name;
  }
}

function valueInfo(name: string, elemType: number, dims: Dim[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === "string" ? { dimParam: d } : { dimValue: d })) } } },
  });
}
