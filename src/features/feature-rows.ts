// Rows of a features matrix [N, D] read on demand: from a tensor in memory, or from a features file on
// disk without loading it (the safetensors header gives the tensor's offset, and rows are contiguous), so
// that clustering can work on features that do not fit in memory.
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { FEATURES_FORMAT, provenanceFromMetadata, type Provenance } from './features-file.js';

export interface FeatureRows {
  readonly rows: number;
  readonly dim: number;
  /** rows [start, start + count) as float32 [count, D] */
  read(start: number, count: number): Tensor;
  /** the given rows (ascending) as float32 [n, D] */
  gather(indices: Int32Array): Tensor;
  close(): void;
}

/** The rows of a tensor in memory. */
export function tensorRows(t: Tensor): FeatureRows {
  if (t.ndim !== 2) throw new RangeError(`features must be [N, D], got [${t.shape.join(', ')}]`);
  return {
    rows: t.shape[0]!,
    dim: t.shape[1]!,
    read: (start, count) => torch.tidy(() => t.narrow(0, start, count).float()),
    gather: (indices) => torch.tidy(() => t.indexSelect(0, torch.tensor(indices).long()).float()),
    close: () => {},
  };
}

export interface FeatureRowsFile extends FeatureRows {
  readonly path: string;
  readonly provenance: Provenance;
}

/** A features file's 'features' rows, read from disk as they are asked for (float32 files only). */
export function openFeatureRows(path: string): FeatureRowsFile {
  if (!existsSync(path)) throw new Error(`features file not found: ${path}`);
  const fd = openSync(path, 'r');
  try {
    const fail = (why: string): never => {
      throw new Error(`features file ${path}: ${why}`);
    };
    const len = Buffer.alloc(8);
    if (readSync(fd, len, 0, 8, 0) !== 8) fail('too short for a safetensors header');
    const headerLength = Number(len.readBigUInt64LE(0));
    if (headerLength > 100 * 1024 * 1024) fail(`header length ${headerLength} is not plausible`);
    const head = Buffer.alloc(headerLength);
    if (readSync(fd, head, 0, headerLength, 8) !== headerLength) fail('header is truncated');
    const header = JSON.parse(head.toString('utf8')) as Record<string, unknown> & {
      __metadata__?: Record<string, string>;
    };
    const meta = header.__metadata__ ?? {};
    if (meta.format !== FEATURES_FORMAT) fail(`not a selfguided features file (format '${meta.format ?? 'missing'}')`);
    const f = header.features as { dtype: string; shape: number[]; data_offsets: [number, number] } | undefined;
    if (!f) fail("no 'features' tensor");
    if (f!.dtype !== 'F32') fail(`reading rows from disk needs float32 features, these are ${f!.dtype}`);
    if (f!.shape.length !== 2) fail(`'features' must be [N, D], got [${f!.shape.join(', ')}]`);
    const [rows, dim] = f!.shape as [number, number];
    const base = 8 + headerLength + f!.data_offsets[0];
    const rowBytes = dim * 4;
    const readInto = (buf: Buffer, at: number, row: number, count: number) => {
      const want = count * rowBytes;
      if (readSync(fd, buf, at, want, base + row * rowBytes) !== want)
        throw new Error(`features file ${path}: rows ${row}..${row + count} lie past its end (truncated?)`);
    };
    const asTensor = (buf: Buffer, n: number) =>
      torch.tensor(new Float32Array(buf.buffer, buf.byteOffset, n * dim), { shape: [n, dim] });
    const provenance = provenanceFromMetadata(meta, rows);
    // One scratch buffer for every read (torch.tensor copies out of it): a pass over a file larger than
    // memory must not leave a garbage buffer per block for the collector to find later.
    let scratch = Buffer.alloc(0);
    const bytes = (n: number) => {
      if (scratch.length < n) scratch = Buffer.alloc(n);
      return scratch;
    };
    let open = true;
    return {
      path,
      provenance,
      rows,
      dim,
      read(start, count) {
        if (start < 0 || count < 0 || start + count > rows)
          throw new RangeError(`rows ${start}..${start + count} of ${rows}`);
        const buf = bytes(count * rowBytes);
        readInto(buf, 0, start, count);
        return asTensor(buf, count);
      },
      gather(indices) {
        const buf = bytes(indices.length * rowBytes);
        // Runs of consecutive rows are read at once.
        for (let i = 0; i < indices.length;) {
          let j = i + 1;
          while (j < indices.length && indices[j] === indices[j - 1]! + 1) j++;
          const row = indices[i]!;
          if (row < 0 || indices[j - 1]! >= rows) throw new RangeError(`row ${indices[j - 1]} of ${rows}`);
          readInto(buf, i * rowBytes, row, j - i);
          i = j;
        }
        return asTensor(buf, indices.length);
      },
      close() {
        if (open) closeSync(fd);
        open = false;
      },
    };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}
