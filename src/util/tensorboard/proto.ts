// The few protobuf wire encodings that TensorBoard's Event messages need: varints, doubles, floats,
// and length-delimited fields (strings, bytes, nested messages). Fields are written in the order given.

export type Field =
  | { n: number; varint: number | bigint }
  | { n: number; double: number }
  | { n: number; float: number }
  | { n: number; bytes: Uint8Array | string }
  | { n: number; message: Field[] };

function varint(v: number | bigint, out: number[]): void {
  let x = BigInt.asUintN(64, BigInt(v));
  while (x >= 0x80n) {
    out.push(Number(x & 0x7fn) | 0x80);
    x >>= 7n;
  }
  out.push(Number(x));
}

const utf8 = new TextEncoder();

export function encode(fields: Field[]): Uint8Array {
  const out: number[] = [];
  const chunks: Uint8Array[] = [];
  const flush = () => {
    if (out.length) chunks.push(Uint8Array.from(out.splice(0)));
  };
  for (const f of fields) {
    if ('varint' in f) {
      varint(f.n << 3, out);
      varint(f.varint, out);
    } else if ('double' in f) {
      varint((f.n << 3) | 1, out);
      const b = new Uint8Array(8);
      new DataView(b.buffer).setFloat64(0, f.double, true);
      out.push(...b);
    } else if ('float' in f) {
      varint((f.n << 3) | 5, out);
      const b = new Uint8Array(4);
      new DataView(b.buffer).setFloat32(0, f.float, true);
      out.push(...b);
    } else {
      const body = 'message' in f ? encode(f.message) : typeof f.bytes === 'string' ? utf8.encode(f.bytes) : f.bytes;
      varint((f.n << 3) | 2, out);
      varint(body.length, out);
      flush();
      chunks.push(body);
    }
  }
  flush();
  const total = chunks.reduce((s, c) => s + c.length, 0);
  const buf = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    buf.set(c, o);
    o += c.length;
  }
  return buf;
}
