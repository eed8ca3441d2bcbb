// A small builder of ONNX graphs over onnx-proto's generated messages: named inputs and outputs with
// symbolic dimensions, float32/int64 initializers, nodes with fresh output names, and the model's
// metadata. Exporters (unet-onnx.ts) describe the network with it; onnx-proto does the protobuf encoding.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** A dimension: a fixed size, or a name shared by the inputs and outputs that vary together (batch). */
export type Dim = number | string;
export type ElemType = 'float32' | 'int64';

const ELEM: Record<ElemType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  int64: onnx.TensorProto.DataType.INT64,
};

/** A float attribute (a bare number is an int, as ONNX tells them apart). */
export class FloatAttr {
  constructor(readonly value: number) {}
}
export const float = (v: number) => new FloatAttr(v);
export type Attr = number | number[] | string | FloatAttr;

/** The opset the exporters write (Resize, Split and Unsqueeze take their parameters as inputs there). */
export const OPSET = 17;

export class OnnxGraph {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly used = new Set<string>();

  /** A name not used yet in the graph, from a readable stem (the module path it belongs to). */
  fresh(stem: string): string {
    let name = stem;
    for (let i = 1; this.used.has(name); i++) name = `${stem}_${i}`;
    this.used.add(name);
    return name;
  }

  input(name: string, dims: Dim[], type: ElemType = 'float32'): string {
    if (this.used.has(name)) throw new Error(`ONNX graph: '${name}' is already defined`);
    this.used.add(name);
    this.inputs.push(valueInfo(name, dims, type));
    return name;
  }

  /** Makes `value` a graph output under `name`. */
  output(name: string, value: string, dims: Dim[], type: ElemType = 'float32'): void {
    this.node('Identity', [value], {}, this.reserve(name));
    this.outputs.push(valueInfo(name, dims, type));
  }

  private reserve(name: string): string {
    if (this.used.has(name)) throw new Error(`ONNX graph: '${name}' is already defined`);
    this.used.add(name);
    return name;
  }

  /** A constant tensor (weights, shapes, scales) stored in the graph. */
  constant(stem: string, data: Float32Array | number[], dims: number[], type: ElemType = 'float32'): string {
    const n = dims.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new RangeError(`ONNX constant ${stem}: ${data.length} values for shape [${dims}]`);
    const name = this.fresh(stem);
    const raw =
      type === 'float32'
        ? new Uint8Array(Float32Array.from(data).buffer)
        : new Uint8Array(BigInt64Array.from(data, (v) => BigInt(v)).buffer);
    this.initializers.push({ name, dims, dataType: ELEM[type], rawData: raw });
    return name;
  }

  /** One node; returns its output's name (a fresh one from the op's stem unless given). */
  node(op: string, inputs: string[], attrs: Record<string, Attr> = {}, output?: string): string {
    const out = output ?? this.fresh(`${op}`);
    this.nodes.push({
      opType: op,
      name: out,
      input: inputs,
      output: [out],
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return out;
  }

  /** A node with several outputs (Split). */
  nodeN(op: string, inputs: string[], outputs: number, attrs: Record<string, Attr> = {}): string[] {
    const outs = Array.from({ length: outputs }, () => this.fresh(op));
    this.nodes.push({
      opType: op,
      name: outs[0],
      input: inputs,
      output: outs,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outs;
  }

  /** The encoded model: the graph, opset OPSET, and string metadata (metadata_props). */
  toBytes(o: { name: string; producer: string; version: string; metadata: Record<string, string> }): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: o.producer,
      producerVersion: o.version,
      opsetImport: [{ domain: '', version: OPSET }],
      metadataProps: Object.entries(o.metadata).map(([key, value]) => ({ key, value })),
      graph: {
        name: o.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }

  /** How many nodes of each op the graph holds (for tests and the export's summary). */
  opCounts(): Record<string, number> {
    const c: Record<string, number> = {};
    for (const n of this.nodes) c[n.opType!] = (c[n.opType!] ?? 0) + 1;
    return c;
  }
}

function valueInfo(name: string, dims: Dim[], type: ElemType): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEM[type],
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, v: Attr): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (v instanceof FloatAttr) return { name, type: T.FLOAT, f: v.value };
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if (!Number.isInteger(v)) throw new TypeError(`ONNX attribute ${name}: ${v} is not an integer (use float())`);
  return { name, type: T.INT, i: v };
}
