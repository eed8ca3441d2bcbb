// Sharded datasets in the WebDataset layout the field uses: uncompressed tar files of samples, each sample
// the files that share a key (`000000123.png`, `000000123.cls` with the label, `000000123.json` with its
// boxes and source, `000000123.mask.png` with its semantic mask), and an index.json beside them (shard
// names and sample counts, image size, channels, class names, the provenance). Tar is read and written by
// tar-stream (mafintosh's streaming tar, the one tar-fs and WebDataset's JavaScript readers build on): it
// reads and writes entries as streams without touching the file system's layout, which is all a shard is.
// A shard is written under a temporary name and renamed when whole; index.json names only whole shards,
// so an interrupted pack resumes after the last of them.
import { once } from 'node:events';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import tar from 'tar-stream';
import { z } from 'zod';
import { readJsonFile, writeJsonFile } from '../util/json-file.js';

export const SHARDS_FORMAT = 'selfguided-shards/1';
export const INDEX_FILE = 'index.json';

export const ShardIndex = z.object({
  format: z.literal(SHARDS_FORMAT),
  imageSize: z.number().int().positive(),
  channels: z.union([z.literal(1), z.literal(3)]),
  /** the labels' names (the .cls files hold indices into it), null when the samples have no labels */
  classNames: z.array(z.string()).nullable(),
  /** the object classes of the .json boxes and the .mask.png masks (class c is mask value c + 1) */
  objectClasses: z.array(z.string()).nullable(),
  /** whole shards, in order */
  shards: z.array(z.object({ name: z.string(), samples: z.number().int().nonnegative(), bytes: z.number().int() })),
  /** samples in the whole shards */
  samples: z.number().int().nonnegative(),
  /** source items consumed up to the end of the last whole shard (where a resumed pack continues) */
  sourcePosition: z.number().int().nonnegative(),
  /** source files that could not be decoded, with why */
  skipped: z.array(z.object({ path: z.string(), reason: z.string() })),
  /** what was packed and how (the data spec as JSON, the packing settings) */
  provenance: z.record(z.string(), z.string()),
  /** the pack finished: no more samples will be added */
  complete: z.boolean(),
});
export type ShardIndex = z.infer<typeof ShardIndex>;

/** One sample as stored: its PNG, and what is known of it. */
export interface ShardSample {
  key: string;
  /** the image as PNG bytes (image size x image size, the index's channels) */
  png: Buffer;
  label: number | null;
  /** boxes [x0, y0, x1, y1] in pixels with their object classes, and the source file, when known */
  meta: { boxes?: number[][]; classes?: number[]; source?: string } | null;
  /** the semantic mask as a grey PNG (0 background, c + 1 object class c) */
  mask: Buffer | null;
}

/** Whether a directory holds a shard index. */
export const isShardDir = (dir: string): boolean => existsSync(join(dir, INDEX_FILE));

export function readShardIndex(dir: string): ShardIndex {
  if (!isShardDir(dir)) throw new Error(`${dir} is not a shard directory (no ${INDEX_FILE})`);
  return readJsonFile(join(dir, INDEX_FILE), ShardIndex);
}

const shardName = (i: number) => `shard-${String(i).padStart(6, '0')}.tar`;
const sampleKey = (i: number) => String(i).padStart(9, '0');

export interface ShardWriterOptions {
  imageSize: number;
  channels: 1 | 3;
  classNames: string[] | null;
  objectClasses: string[] | null;
  provenance: Record<string, string>;
  /** samples per shard (default 10,000) */
  shardSize?: number;
}

/**
 * Writes samples into shards of `shardSize`. Opening a directory that a pack of the same source started
 * continues after its last whole shard (`index.sourcePosition` says where the source resumes); a
 * directory that holds another dataset is refused.
 */
export class ShardWriter {
  private pack: tar.Pack | null = null;
  private file: ReturnType<typeof createWriteStream> | null = null;
  private inShard = 0;
  /** the source position after the last item added or skipped */
  private pendingPosition = 0;
  /** source items skipped since the last whole shard, kept with the next one */
  private pendingSkips: { path: string; reason: string }[] = [];

  private constructor(
    readonly dir: string,
    readonly index: ShardIndex,
    readonly shardSize: number,
  ) {}

  static open(dir: string, o: ShardWriterOptions): ShardWriter {
    const shardSize = o.shardSize ?? 10000;
    if (!Number.isInteger(shardSize) || shardSize < 1)
      throw new RangeError(`shard size must be >= 1, got ${shardSize}`);
    mkdirSync(dir, { recursive: true });
    for (const f of readdirSync(dir)) if (f.endsWith('.tar.tmp')) rmSync(join(dir, f));
    if (isShardDir(dir)) {
      const index = readShardIndex(dir);
      const same =
        index.imageSize === o.imageSize &&
        index.channels === o.channels &&
        index.provenance.source === o.provenance.source;
      if (!same)
        throw new Error(
          `${dir} already holds shards of another dataset (${index.provenance.source}, ${index.imageSize} px, ${index.channels} channels): pack into a new directory`,
        );
      if (index.complete) throw new Error(`${dir} is a finished pack of ${index.samples} samples`);
      return new ShardWriter(dir, index, shardSize);
    }
    const index: ShardIndex = {
      format: SHARDS_FORMAT,
      imageSize: o.imageSize,
      channels: o.channels,
      classNames: o.classNames,
      objectClasses: o.objectClasses,
      shards: [],
      samples: 0,
      sourcePosition: 0,
      skipped: [],
      provenance: o.provenance,
      complete: false,
    };
    writeJsonFile(join(dir, INDEX_FILE), index);
    return new ShardWriter(dir, index, shardSize);
  }

  /** Where the source continues: items before it are in whole shards (or were skipped). */
  get sourcePosition(): number {
    return this.index.sourcePosition;
  }

  private get tmpPath(): string {
    return join(this.dir, `${shardName(this.index.shards.length)}.tmp`);
  }

  /** Adds the sample made from source item `position` (the items before it are all added or skipped). */
  async add(s: Omit<ShardSample, 'key'>, position: number): Promise<void> {
    if (!this.pack) {
      this.pack = tar.pack();
      this.file = createWriteStream(this.tmpPath);
      this.pack.pipe(this.file);
    }
    const key = sampleKey(this.index.samples + this.inShard);
    const entry = (name: string, data: Buffer | string) =>
      new Promise<void>((ok, bad) => this.pack!.entry({ name, mtime: new Date(0) }, data, (e) => (e ? bad(e) : ok())));
    await entry(`${key}.png`, s.png);
    if (s.label !== null) await entry(`${key}.cls`, String(s.label));
    if (s.meta) await entry(`${key}.json`, JSON.stringify(s.meta));
    if (s.mask) await entry(`${key}.mask.png`, s.mask);
    this.inShard++;
    this.pendingPosition = position + 1;
    if (this.inShard >= this.shardSize) await this.closeShard();
  }

  /** A source item skipped (a file that would not decode), with why. */
  skip(path: string, reason: string, position: number): void {
    this.pendingSkips.push({ path, reason });
    this.pendingPosition = position + 1;
  }

  private async closeShard(): Promise<void> {
    const name = shardName(this.index.shards.length);
    if (this.pack && this.file) {
      this.pack.finalize();
      await once(this.file, 'close');
      renameSync(this.tmpPath, join(this.dir, name));
      this.index.shards.push({ name, samples: this.inShard, bytes: statSync(join(this.dir, name)).size });
      this.index.samples += this.inShard;
    }
    this.index.sourcePosition = Math.max(this.index.sourcePosition, this.pendingPosition);
    this.index.skipped.push(...this.pendingSkips);
    this.pendingSkips = [];
    writeJsonFile(join(this.dir, INDEX_FILE), this.index);
    this.pack = null;
    this.file = null;
    this.inShard = 0;
  }

  /** Writes the last (partial) shard and marks the pack finished. */
  async finish(): Promise<ShardIndex> {
    await this.closeShard();
    this.index.complete = true;
    writeJsonFile(join(this.dir, INDEX_FILE), this.index);
    return this.index;
  }
}

async function collect(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/**
 * The samples of one shard in order. A truncated or damaged shard is an error that names the file and
 * the last whole sample read from it (with `expect`, the index's count and size, a shard cut at an entry
 * boundary is caught too: tar has no length of its own to check).
 */
export async function* readShard(
  path: string,
  expect?: { samples: number; bytes: number },
): AsyncGenerator<ShardSample> {
  const extract = tar.extract();
  const source = createReadStream(path);
  source.on('error', (e) => extract.destroy(e));
  source.pipe(extract);
  let current: ShardSample | null = null;
  let last = '(none)';
  let yielded = 0;
  try {
    for await (const entry of extract) {
      const name = entry.header.name;
      const dot = name.indexOf('.');
      const key = dot < 0 ? name : name.slice(0, dot),
        ext = dot < 0 ? '' : name.slice(dot + 1);
      const data = await collect(entry);
      if (current && current.key !== key) {
        last = current.key;
        yielded++;
        yield current;
        current = null;
      }
      current ??= { key, png: Buffer.alloc(0), label: null, meta: null, mask: null };
      if (ext === 'png') current.png = data;
      else if (ext === 'cls') current.label = Number(data.toString('utf8'));
      else if (ext === 'json') current.meta = JSON.parse(data.toString('utf8')) as ShardSample['meta'];
      else if (ext === 'mask.png') current.mask = data;
    }
  } catch (e) {
    throw new Error(`shard ${path} is truncated or damaged after sample ${last}: ${(e as Error).message}`);
  } finally {
    source.destroy();
  }
  const size = statSync(path).size;
  if (expect && (size !== expect.bytes || yielded + (current ? 1 : 0) !== expect.samples))
    throw new Error(
      `shard ${path} is truncated or damaged after sample ${last}: ${size} of ${expect.bytes} bytes, ${yielded + (current ? 1 : 0)} of ${expect.samples} samples`,
    );
  if (current) {
    if (current.png.length === 0) throw new Error(`shard ${path}: sample ${current.key} has no image`);
    yield current;
  }
}

/** A sample's PNG (and mask PNG) decoded to raw pixels of the index's size and channels. */
export async function decodeSample(
  s: ShardSample,
  index: ShardIndex,
): Promise<{ pixels: Buffer; mask: Buffer | null }> {
  const { default: sharp } = await import('sharp');
  const raw = async (png: Buffer, channels: number, what: string) => {
    // A grey PNG is one band; sharp's default output would make it sRGB.
    const img = channels === 1 ? sharp(png).extractChannel(0) : sharp(png).removeAlpha();
    const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
    if (info.width !== index.imageSize || info.height !== index.imageSize || info.channels !== channels)
      throw new Error(
        `sample ${s.key}: ${what} is ${info.width}x${info.height}x${info.channels}, the index says ${index.imageSize}x${index.imageSize}x${channels}`,
      );
    return data;
  };
  return {
    pixels: await raw(s.png, index.channels, 'the image'),
    mask: s.mask ? await raw(s.mask, 1, 'the mask') : null,
  };
}

/** The images of a batch of samples decoded at once (sharp's calls overlap), as one HWC buffer [n, S, S, C]. */
export async function decodeImages(samples: ShardSample[], index: ShardIndex): Promise<Uint8Array> {
  const size = index.imageSize * index.imageSize * index.channels;
  const decoded = await Promise.all(samples.map((s) => decodeSample(s, index)));
  const out = new Uint8Array(samples.length * size);
  decoded.forEach((d, j) => out.set(d.pixels, j * size));
  return out;
}
