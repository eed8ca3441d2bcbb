// TensorBoard event files read back by an independent reader (test/helpers/tensorboard-reader.ts):
// every record's two checksums are checked and every value compared.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { crc32c } from '../../src/util/tensorboard/crc32c.js';
import { EventWriter } from '../../src/util/tensorboard/event-writer.js';
import { readEvents } from '../helpers/tensorboard-reader.js';

describe('TensorBoard event files', () => {
  test('CRC-32C matches the standard check value', () => {
    assert.equal(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
  });

  test('scalars, an image and text decode to what was written, every CRC checks', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-tb-'));
    try {
      const t0 = Date.now() / 1000;
      const w = new EventWriter(dir);
      w.scalars({ loss: 0.125, lr: 2e-4, grad_norm: Number.NaN }, 50, 'train/');
      w.scalar('train/loss', 0.0625, 100);
      const png = Uint8Array.from([137, 80, 78, 71, 13, 10, 26, 10, 1, 2, 3, 250]);
      w.image('preview', png, { height: 28, width: 56, channels: 1 }, 100);
      w.text('config', '```\n{"steps": 3000}\n```', 0);
      const files = readdirSync(dir);
      assert.equal(files.length, 1);
      assert.match(files[0]!, /^events\.out\.tfevents\.\d{10}\..+\.\d+\.\d+$/);
      const ev = readEvents(join(dir, files[0]!));
      assert.equal(ev[0]!.fileVersion, 'brain.Event:2');
      for (const e of ev) assert.ok(e.wallTime >= t0 - 1 && e.wallTime <= Date.now() / 1000 + 1);
      const values = ev.slice(1).map((e) => ({ step: e.step, v: e.summary!.value[0]! }));
      assert.deepEqual(
        values.map((x) => [x.step, x.v.tag]),
        [
          [50, 'train/loss'],
          [50, 'train/lr'],
          [100, 'train/loss'],
          [100, 'preview'],
          [0, 'config/text_summary'],
        ],
        'NaN grad_norm is skipped',
      );
      assert.equal(values[0]!.v.simpleValue, 0.125);
      assert.equal(values[1]!.v.simpleValue, Math.fround(2e-4));
      assert.equal(values[2]!.v.simpleValue, 0.0625);
      const img = values[3]!.v.image!;
      assert.deepEqual([img.height, img.width, img.colorspace], [28, 56, 1]);
      assert.deepEqual([...img.encodedImageString], [...png]);
      const text = values[4]!.v;
      assert.equal(text.metadata!.pluginData.pluginName, 'text');
      assert.equal(text.tensor!.dtype, 7);
      assert.deepEqual(
        text.tensor!.tensorShape.dim.map((d) => d.size),
        [1],
      );
      assert.equal(new TextDecoder().decode(text.tensor!.stringVal[0]), '```\n{"steps": 3000}\n```');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a resumed run starts its file with a SessionLog START at the step it logs from', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-tb-'));
    try {
      const w = new EventWriter(dir, { purgeFrom: 2751 });
      w.scalar('train/loss', 1.5, 2800);
      const ev = readEvents(w.path);
      assert.equal(ev[0]!.fileVersion, 'brain.Event:2');
      assert.equal(ev[1]!.step, 2751);
      assert.equal(ev[1]!.sessionLog!.status, 1);
      assert.equal(ev[2]!.summary!.value[0]!.simpleValue, 1.5);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the reader would catch a flipped byte (the checks can fail)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-tb-'));
    try {
      const w = new EventWriter(dir);
      w.scalar('x', 1, 1);
      const b = readFileSync(w.path);
      b[b.length - 6]! ^= 0x01;
      writeFileSync(w.path, b);
      assert.throws(() => readEvents(w.path), /data CRC/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
