// TensorBoard event files, as torch.utils.tensorboard.SummaryWriter writes them: a sequence of TFRecords
// (little-endian uint64 length, masked CRC-32C of the length, the serialized Event, masked CRC-32C of it),
// first an Event with file_version "brain.Event:2", then one Event per scalar, image or text. Any tool
// that reads TensorBoard logs (TensorBoard, W&B and MLflow importers) reads these.
import { hostname } from 'node:os';
import { join } from 'node:path';
import { appendBytes } from '../files.js';
import { maskedCrc32c } from './crc32c.js';
import { encode, type Field } from './proto.js';

/** Field numbers of tensorflow/core/util/event.proto and framework/summary.proto. */
const EVENT = { wallTime: 1, step: 2, fileVersion: 3, summary: 5, sessionLog: 6 } as const;
const SUMMARY = { value: 1 } as const;
const VALUE = { tag: 1, simpleValue: 2, image: 4, tensor: 8, metadata: 9 } as const;
const IMAGE = { height: 1, width: 2, colorspace: 3, encoded: 4 } as const;
const SESSION_START = 1;
const DT_STRING = 7;

export interface ImageSize {
  height: number;
  width: number;
  /** 1 grayscale, 3 RGB, 4 RGBA */
  channels: 1 | 3 | 4;
}

/** One TFRecord around data. */
export function tfRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + 4 + data.length + 4);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  view.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

let fileCounter = 0;

export class EventWriter {
  readonly path: string;

  /**
   * Starts a new event file in dir (one per process, as SummaryWriter does; TensorBoard merges the files
   * of a directory). `purgeFrom`: a resumed run passes the first step it will log again, so that
   * TensorBoard drops what the interrupted process logged from there on (a SessionLog START).
   */
  constructor(dir: string, o: { purgeFrom?: number } = {}) {
    const stamp = Math.floor(Date.now() / 1000);
    this.path = join(dir, `events.out.tfevents.${stamp}.${hostname()}.${process.pid}.${fileCounter++}`);
    this.write([{ n: EVENT.fileVersion, bytes: 'brain.Event:2' }]);
    if (o.purgeFrom !== undefined) {
      this.write([
        { n: EVENT.step, varint: o.purgeFrom },
        { n: EVENT.sessionLog, message: [{ n: 1, varint: SESSION_START }] },
      ]);
    }
  }

  scalar(tag: string, value: number, step: number): void {
    this.summary(step, [
      { n: VALUE.tag, bytes: tag },
      { n: VALUE.simpleValue, float: value },
    ]);
  }

  /** Every finite number of a record as a scalar, its key as the tag (with an optional prefix). */
  scalars(record: Record<string, number>, step: number, prefix = ''): void {
    for (const [k, v] of Object.entries(record)) if (Number.isFinite(v)) this.scalar(prefix + k, v, step);
  }

  /** An encoded image (PNG) of the given size. */
  image(tag: string, png: Uint8Array, size: ImageSize, step: number): void {
    this.summary(step, [
      { n: VALUE.tag, bytes: tag },
      {
        n: VALUE.image,
        message: [
          { n: IMAGE.height, varint: size.height },
          { n: IMAGE.width, varint: size.width },
          { n: IMAGE.colorspace, varint: size.channels },
          { n: IMAGE.encoded, bytes: png },
        ],
      },
    ]);
  }

  /** Markdown text, shown by TensorBoard's text plugin (the layout of SummaryWriter.add_text). */
  text(tag: string, markdown: string, step: number): void {
    this.summary(step, [
      { n: VALUE.tag, bytes: `${tag}/text_summary` },
      { n: VALUE.metadata, message: [{ n: 1, message: [{ n: 1, bytes: 'text' }] }] },
      {
        n: VALUE.tensor,
        message: [
          { n: 1, varint: DT_STRING },
          { n: 2, message: [{ n: 2, message: [{ n: 1, varint: 1 }] }] },
          { n: 8, bytes: markdown },
        ],
      },
    ]);
  }

  private summary(step: number, value: Field[]): void {
    this.write([
      { n: EVENT.step, varint: step },
      { n: EVENT.summary, message: [{ n: SUMMARY.value, message: value }] },
    ]);
  }

  private write(fields: Field[]): void {
    appendBytes(this.path, tfRecord(encode([{ n: EVENT.wallTime, double: Date.now() / 1000 }, ...fields])));
  }
}
