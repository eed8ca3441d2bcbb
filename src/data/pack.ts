// `selfguided data pack`: any dataset the project reads, written as shards (shards.ts). A plain image
// folder is streamed file by file (decoded, resized and composited as the folder loader does, a bad file
// reported with its path and skipped), so a folder of a million images packs in bounded memory; the
// built-in datasets and folders with an object-annotations file are read whole and written row by row.
// Resumable: run the same command again and it continues after the last whole shard.
import { relative, sep } from 'node:path';
import * as torch from '../torch/index.js';
import { Progress } from '../util/progress.js';
import type { ImageDataset } from './dataset.js';
import { decodeImage, listImageFiles } from './image-folder.js';
import { encodePng, encodeRawPng } from './png.js';
import { ShardWriter, type ShardIndex, type ShardSample } from './shards.js';
import { DataSpec, loadDataset, type DataSpecInput } from './spec.js';
import { parseWith } from '../util/json-file.js';

export interface PackOptions {
  /** the shard directory */
  out: string;
  /** samples per shard (default 10,000) */
  shardSize?: number;
  /** files decoded at once (image folders) */
  concurrency?: number;
  log?: (msg: string) => void;
  /** show a progress bar (default true) */
  progress?: boolean;
}

/** Packs the dataset a spec describes into shards under `o.out`; returns the finished index. */
export async function packDataset(input: DataSpecInput, o: PackOptions): Promise<ShardIndex> {
  const spec = parseWith(DataSpec, input, 'data spec');
  const log = o.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const provenance = { source: JSON.stringify(spec), packedBy: 'selfguided data pack' };
  if (spec.kind === 'folder' && !spec.annotations) return packFolder(spec, provenance, o, log);
  const ds = await loadDataset(spec, log);
  try {
    return await packRows(ds, provenance, o, log);
  } finally {
    ds.dispose();
  }
}

type FolderSpec = Extract<DataSpec, { kind: 'folder' }>;

/** An image folder, file by file: at most `concurrency` images in memory at once. */
async function packFolder(
  spec: FolderSpec,
  provenance: Record<string, string>,
  o: PackOptions,
  log: (m: string) => void,
): Promise<ShardIndex> {
  const files = listImageFiles(spec.path);
  if (files.length === 0) throw new Error(`image folder ${spec.path} has no PNG or JPEG files`);
  // Class names from every file's folder (not only the decodable ones), so a resumed pack agrees.
  const folderOf = (f: string) => {
    const parts = relative(spec.path, f).split(sep);
    return parts.length > 1 ? parts[0]! : null;
  };
  const classNames = spec.labelsFromFolders
    ? [...new Set(files.map(folderOf).filter((x): x is string => x !== null))].sort()
    : null;
  const ids = new Map(classNames?.map((c, i) => [c, i]));
  const writer = ShardWriter.open(o.out, {
    imageSize: spec.size,
    channels: spec.channels,
    classNames,
    objectClasses: null,
    provenance,
    shardSize: o.shardSize,
  });
  const start = writer.sourcePosition;
  if (start > 0) log(`continuing the pack in ${o.out} at file ${start} of ${files.length}`);
  const bar = o.progress === false ? null : new Progress(files.length, { label: 'pack', unit: 'img' }, start);
  const window = o.concurrency ?? 8;
  for (let s = start; s < files.length; s += window) {
    const batch = files.slice(s, s + window);
    const decoded = await Promise.allSettled(
      batch.map(async (f) => {
        const raw = await decodeImage(f, spec.size, spec.channels, spec.alphaBackground);
        return encodeRawPng(raw, spec.size, spec.size, spec.channels);
      }),
    );
    for (let j = 0; j < batch.length; j++) {
      const r = decoded[j]!,
        f = batch[j]!;
      if (r.status === 'rejected') {
        const reason = (r.reason as Error).message.split('\n')[0]!;
        log(`skipped ${f}: ${reason}`);
        writer.skip(f, reason, s + j);
        continue;
      }
      const folder = folderOf(f);
      const label = classNames ? (folder === null ? -1 : ids.get(folder)!) : null;
      await writer.add({ png: r.value, label, meta: { source: relative(spec.path, f) }, mask: null }, s + j);
    }
    bar?.update(Math.min(files.length, s + window));
  }
  const index = await writer.finish();
  if (index.samples === 0)
    throw new Error(`image folder ${spec.path}: none of its ${files.length} image files could be decoded`);
  return index;
}

/** A dataset already in memory, row by row (labels, boxes and masks included). */
async function packRows(
  ds: ImageDataset,
  provenance: Record<string, string>,
  o: PackOptions,
  log: (m: string) => void,
): Promise<ShardIndex> {
  const writer = ShardWriter.open(o.out, {
    imageSize: ds.size,
    channels: ds.channels as 1 | 3,
    classNames: ds.labels ? (ds.classNames ?? Array.from({ length: ds.numClasses! }, (_, i) => String(i))) : null,
    objectClasses: ds.scene?.classNames ?? null,
    provenance,
    shardSize: o.shardSize,
  });
  const start = writer.sourcePosition;
  if (start > 0) log(`continuing the pack in ${o.out} at image ${start} of ${ds.length}`);
  const bar = o.progress === false ? null : new Progress(ds.length, { label: 'pack', unit: 'img' }, start);
  const scene = ds.scene;
  const [m] = scene ? (scene.boxes.shape.slice(1) as [number]) : [0];
  const boxes = scene ? (scene.boxes.to('int32').toTypedArray() as Int32Array) : null;
  const classes = scene ? (scene.classes.to('int32').toTypedArray() as Int32Array) : null;
  for (let i = start; i < ds.length; i++) {
    const image = ds.pixels.select(0, i);
    const { png } = await encodePng(image);
    image.dispose();
    let meta: ShardSample['meta'] = null;
    let mask: Buffer | null = null;
    if (scene) {
      const keep = Array.from({ length: m }, (_, k) => k).filter((k) => classes![i * m + k]! >= 0);
      meta = {
        boxes: keep.map((k) => Array.from(boxes!.subarray((i * m + k) * 4, (i * m + k) * 4 + 4))),
        classes: keep.map((k) => classes![i * m + k]!),
      };
      const mk = torch.tidy(() => scene.masks.select(0, i).unsqueeze(0).contiguous());
      mask = (await encodePng(mk)).png;
      mk.dispose();
    }
    await writer.add({ png, label: ds.labels ? ds.labels[i]! : null, meta, mask }, i);
    if (i % 500 === 0) bar?.update(i + 1);
  }
  bar?.update(ds.length);
  return writer.finish();
}
