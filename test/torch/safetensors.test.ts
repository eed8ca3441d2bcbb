// safetensors: round trips, an independent reader of what we write, files laid out as Python writes
// them, and corrupt files rejected with a clear error.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import * as torch from '../../src/torch/index.js';

const { safetensors } = torch;
const dir = mkdtempSync(join(tmpdir(), 'sg-st-'));

// Written from the format's specification, sharing no code with src/torch/safetensors.ts.
function independentRead(buf: Buffer): {
  meta: Record<string, string> | undefined;
  entries: Record<string, { dtype: string; shape: number[]; bytes: Buffer }>;
} {
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const entries: Record<string, { dtype: string; shape: number[]; bytes: Buffer }> = {};
  for (const [k, v] of Object.entries(header)) {
    if (k === '__metadata__') continue;
    const e = v as { dtype: string; shape: number[]; data_offsets: [number, number] };
    entries[k] = {
      dtype: e.dtype,
      shape: e.shape,
      bytes: buf.subarray(8 + n + e.data_offsets[0], 8 + n + e.data_offsets[1]),
    };
  }
  return { meta: header.__metadata__, entries };
}

// Byte layout of a file as the reference Python writer produces it (header padded to 8 with spaces).
function pythonStyleFile(): Buffer {
  const w = Buffer.alloc(16);
  [1.5, -2, 3.25, 0].forEach((v, i) => w.writeFloatLE(v, i * 4));
  const ids = Buffer.alloc(16);
  ids.writeBigInt64LE(7n, 0);
  ids.writeBigInt64LE(-3n, 8);
  let json = JSON.stringify({
    __metadata__: { format: 'pt' },
    ids: { dtype: 'I64', shape: [2], data_offsets: [0, 16] },
    weight: { dtype: 'F32', shape: [2, 2], data_offsets: [16, 32] },
  });
  while ((json.length + 8) % 8) json += ' ';
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, Buffer.from(json), ids, w]);
}

describe('safetensors', () => {
  test('every dtype round-trips through a file with metadata', () => {
    const tensors = {
      f32: torch.tensor([
        [1.5, -2],
        [3, 4],
      ]),
      f64: torch.tensor([Math.PI], { dtype: 'float64' }),
      i64: torch.tensor([2n ** 40n, -1n]),
      i32: torch.tensor(new Int32Array([-5, 6])),
      u8: torch.tensor(new Uint8Array([0, 255])),
      b: torch.tensor([true, false, true]),
      f16: torch.tensor([0.5, 1]).to('float16'),
      bf16: torch.tensor([0.5, 1]).to('bfloat16'),
      scalar: torch.scalarTensor(3),
      empty: torch.zeros([0, 3]),
    };
    const path = join(dir, 'all.safetensors');
    safetensors.saveFile(path, tensors, { run: 'test', config: JSON.stringify({ a: 1 }) });
    const { tensors: back, metadata } = safetensors.loadFile(path);
    assert.deepEqual(metadata, { run: 'test', config: '{"a":1}' });
    for (const [k, t] of Object.entries(tensors)) {
      const u = back.get(k)!;
      assert.equal(u.dtype, t.dtype, k);
      assert.deepEqual(u.shape, t.shape, k);
      assert.deepEqual(Buffer.from(u.toTypedArray().buffer), Buffer.from(t.toTypedArray().buffer), k);
    }
  });

  test('what we write reads back with an independent parser', () => {
    const path = join(dir, 'indep.safetensors');
    safetensors.saveFile(path, { w: torch.tensor([[1, 2, 3]]), n: torch.tensor([9n]) }, { k: 'v' });
    const buf = readFileSync(path);
    assert.equal((8 + Number(buf.readBigUInt64LE(0))) % 8, 0, 'data section is 8-byte aligned');
    const r = independentRead(buf);
    assert.deepEqual(r.meta, { k: 'v' });
    assert.equal(r.entries.w!.dtype, 'F32');
    assert.deepEqual(r.entries.w!.shape, [1, 3]);
    assert.deepEqual(
      [0, 1, 2].map((i) => r.entries.w!.bytes.readFloatLE(i * 4)),
      [1, 2, 3],
    );
    assert.equal(r.entries.n!.dtype, 'I64');
    assert.equal(r.entries.n!.bytes.readBigInt64LE(0), 9n);
  });

  test('reads a file laid out as Python writes it', () => {
    const { tensors, metadata } = safetensors.deserialize(pythonStyleFile());
    assert.deepEqual(metadata, { format: 'pt' });
    assert.deepEqual(tensors.get('weight')!.toArray(), [
      [1.5, -2],
      [3.25, 0],
    ]);
    assert.deepEqual(tensors.get('ids')!.toArray(), [7, -3]);
  });

  test('corrupt files are rejected with the path and the reason', () => {
    const good = pythonStyleFile();
    const cases: [string, Buffer, RegExp][] = [
      ['short', good.subarray(0, 5), /too short/],
      ['truncated', good.subarray(0, good.length - 4), /runs past the end of the file/],
      ['hugeheader', Buffer.concat([Buffer.from([255, 255, 255, 255, 0, 0, 0, 0]), good.subarray(8)]), /header length/],
      [
        'badjson',
        Buffer.concat([
          good.subarray(0, 8),
          Buffer.from('{"a":'.padEnd(Number(good.readBigUInt64LE(0)), ' ')),
          good.subarray(8 + Number(good.readBigUInt64LE(0))),
        ]),
        /not valid JSON/,
      ],
    ];
    const hdr = (obj: unknown) => {
      const j = Buffer.from(JSON.stringify(obj));
      const l = Buffer.alloc(8);
      l.writeBigUInt64LE(BigInt(j.length));
      return Buffer.concat([l, j, Buffer.alloc(8)]);
    };
    cases.push(['dtype', hdr({ x: { dtype: 'Q9', shape: [2], data_offsets: [0, 8] } }), /unsupported dtype 'Q9'/]);
    cases.push(['size', hdr({ x: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }), /needs 12/]);
    cases.push(['shape', hdr({ x: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }), /invalid shape/]);
    cases.push(['offsets', hdr({ x: { dtype: 'F32', shape: [1], data_offsets: [4] } }), /invalid data_offsets/]);
    const before = torch.liveTensors();
    for (const [name, bytes, re] of cases) {
      const path = join(dir, `${name}.safetensors`);
      writeFileSync(path, bytes);
      assert.throws(
        () => safetensors.loadFile(path),
        (e: Error) => e instanceof safetensors.SafetensorsError && re.test(e.message) && e.message.includes(path),
        name,
      );
    }
    assert.equal(torch.liveTensors(), before, 'no tensors leak from failed loads');
    assert.throws(() => safetensors.loadFile(join(dir, 'missing.safetensors')), /cannot read file \(ENOENT\)/);
  });

  test('metadata must be strings; __metadata__ cannot name a tensor', () => {
    assert.throws(
      () => safetensors.serialize({ a: torch.ones([1]) }, { n: 1 as unknown as string }),
      /must be a string/,
    );
    assert.throws(() => safetensors.serialize({ __metadata__: torch.ones([1]) }), /reserved/);
  });
});
