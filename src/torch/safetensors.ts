// The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian header
// length, a JSON header {name: {dtype, shape, data_offsets}, __metadata__: {str: str}}, then raw bytes.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { writeFileAtomic } from '../util/files.js';
import { dtypeCode, elementSize, type DType } from './dtype.js';
import { native } from './native.js';
import { Tensor, type Device } from './tensor.js';

const TO_ST: Record<DType, string> = {
  float64: 'F64',
  float32: 'F32',
  float16: 'F16',
  bfloat16: 'BF16',
  int64: 'I64',
  int32: 'I32',
  int16: 'I16',
  int8: 'I8',
  uint8: 'U8',
  bool: 'BOOL',
};
const FROM_ST = new Map<string, DType>(Object.entries(TO_ST).map(([k, v]) => [v, k as DType]));
const MAX_HEADER = 100 * 1024 * 1024;

export type Metadata = Record<string, string>;
export interface SafetensorsContent {
  tensors: Map<string, Tensor>;
  metadata: Metadata;
}

export class SafetensorsError extends Error {
  constructor(source: string, why: string) {
    super(`safetensors ${source}: ${why}`);
    this.name = 'SafetensorsError';
  }
}

/** Serialises named tensors (copied to CPU, row-major) with string metadata. */
export function serialize(tensors: Map<string, Tensor> | Record<string, Tensor>, metadata: Metadata = {}): Buffer {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string')
      throw new TypeError(`safetensors metadata '${k}' must be a string (JSON-encode structured values)`);
  }
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === '__metadata__')
      throw new TypeError("safetensors: '__metadata__' is reserved and cannot name a tensor");
    const bytes = new Uint8Array(native.toBytes(t.handle));
    header[name] = { dtype: TO_ST[t.dtype], shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    blobs.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  // Pad so the data starts 8-byte aligned, as the reference writer does.
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const head = Buffer.from(json, 'utf8');
  const out = Buffer.allocUnsafe(8 + head.length + offset);
  out.writeBigUInt64LE(BigInt(head.length), 0);
  head.copy(out, 8);
  let pos = 8 + head.length;
  for (const b of blobs) {
    out.set(b, pos);
    pos += b.length;
  }
  return out;
}

/** Parses a safetensors buffer; every inconsistency is a SafetensorsError naming `source`. */
export function deserialize(buf: Uint8Array, opts: { device?: Device; source?: string } = {}): SafetensorsContent {
  const src = opts.source ?? '<buffer>';
  if (buf.length < 8) throw new SafetensorsError(src, `file is ${buf.length} bytes, too short for a header`);
  const view = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = view.readBigUInt64LE(0);
  if (n > BigInt(Math.min(MAX_HEADER, buf.length - 8)))
    throw new SafetensorsError(src, `header length ${n} exceeds the file (${buf.length} bytes)`);
  const headerLen = Number(n);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(view.subarray(8, 8 + headerLen).toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new SafetensorsError(src, `header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw new SafetensorsError(src, 'header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = buf.length - dataStart;
  const metadata: Metadata = {};
  const tensors = new Map<string, Tensor>();
  try {
    for (const [name, raw] of Object.entries(header)) {
      if (name === '__metadata__') {
        for (const [k, v] of Object.entries((raw ?? {}) as Record<string, unknown>)) {
          if (typeof v !== 'string') throw new SafetensorsError(src, `metadata '${k}' is not a string`);
          metadata[k] = v;
        }
        continue;
      }
      const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      const dtype = FROM_ST.get(String(info?.dtype));
      if (!dtype) throw new SafetensorsError(src, `tensor '${name}' has unsupported dtype '${String(info?.dtype)}'`);
      const shape = info.shape;
      if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
        throw new SafetensorsError(src, `tensor '${name}' has an invalid shape ${JSON.stringify(shape)}`);
      }
      const offs = info.data_offsets;
      if (
        !Array.isArray(offs) ||
        offs.length !== 2 ||
        !offs.every((o) => Number.isInteger(o) && o >= 0) ||
        offs[0] > offs[1]
      ) {
        throw new SafetensorsError(src, `tensor '${name}' has invalid data_offsets ${JSON.stringify(offs)}`);
      }
      const [begin, end] = offs as [number, number];
      if (end > dataLen)
        throw new SafetensorsError(
          src,
          `tensor '${name}' data [${begin}, ${end}) runs past the end of the file (${dataLen} data bytes): truncated?`,
        );
      const numel = (shape as number[]).reduce((a, b) => a * b, 1);
      if (end - begin !== numel * elementSize(dtype)) {
        throw new SafetensorsError(
          src,
          `tensor '${name}' has ${end - begin} bytes but shape [${shape.join(', ')}] of ${dtype} needs ${numel * elementSize(dtype)}`,
        );
      }
      const bytes = new Uint8Array(buf.buffer, buf.byteOffset + dataStart + begin, end - begin);
      tensors.set(name, new Tensor(native.fromBytes(bytes, dtypeCode(dtype), shape as number[], opts.device)));
    }
  } catch (e) {
    for (const t of tensors.values()) t.dispose();
    throw e;
  }
  return { tensors, metadata };
}

/**
 * Writes atomically: every write checked, the file synced and read back before it is renamed into
 * place, so an interrupted save or a full disk never leaves a broken file under `path`.
 */
export function saveFile(
  path: string,
  tensors: Map<string, Tensor> | Record<string, Tensor>,
  metadata: Metadata = {},
): void {
  writeFileAtomic(path, serialize(tensors, metadata));
}

export function loadFile(path: string, opts: { device?: Device } = {}): SafetensorsContent {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new SafetensorsError(path, `cannot read file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return deserialize(buf, { device: opts.device, source: path });
}

/** The string metadata of a safetensors file, read from its header alone (the tensors stay on disk). */
export function readMetadata(path: string): Metadata {
  const fd = openSync(path, 'r');
  try {
    const len = Buffer.alloc(8);
    if (readSync(fd, len, 0, 8, 0) !== 8) throw new SafetensorsError(path, 'file too short for a header');
    const n = len.readBigUInt64LE(0);
    if (n > BigInt(MAX_HEADER)) throw new SafetensorsError(path, `header length ${n} is not plausible`);
    const header = Buffer.alloc(Number(n));
    if (readSync(fd, header, 0, header.length, 8) !== header.length)
      throw new SafetensorsError(path, 'header is truncated');
    let parsed: { __metadata__?: Record<string, unknown> };
    try {
      parsed = JSON.parse(header.toString('utf8')) as typeof parsed;
    } catch (e) {
      throw new SafetensorsError(path, `header is not valid JSON (${(e as Error).message})`);
    }
    const out: Metadata = {};
    for (const [k, v] of Object.entries(parsed.__metadata__ ?? {})) if (typeof v === 'string') out[k] = v;
    return out;
  } finally {
    closeSync(fd);
  }
}
