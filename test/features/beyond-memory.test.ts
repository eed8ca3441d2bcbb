// Features and self-labels beyond memory: rows read from a features file on disk equal the loaded ones,
// parts join on disk into the file one save would write, streamed extraction from shards equals the
// in-memory extraction byte for byte and resumes after an interruption to the same file, and k-means fitted
// on a sample then assigned block by block finds the partition full k-means finds where the answer is known.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { kmeans, kmeansRows } from '../../src/annotate/kmeans.js';
import { loadShards } from '../../src/data/load-shards.js';
import { packDataset } from '../../src/data/pack.js';
import { StreamedDataset } from '../../src/data/stream.js';
import { loadConditionFile } from '../../src/diffusion/conditions.js';
import { nmi } from '../../src/eval/cluster-metrics.js';
import { extractFeatures, extractFeaturesStreamed, type FeatureExtractor } from '../../src/features/extract.js';
import { openFeatureRows, tensorRows } from '../../src/features/feature-rows.js';
import { joinFeatureParts, loadFeatures, saveFeatures } from '../../src/features/features-file.js';
import { selfLabelsRows } from '../../src/pipelines/self-labels-rows.js';
import * as torch from '../../src/torch/index.js';
import { flat } from '../helpers/check.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'sg-beyond-'));
const provenance = {
  extractor: 'test',
  config: '{}',
  dataset: 'synthetic',
  datasetSize: 0,
  preprocessing: '{}',
};

/** Mean colour and a 4x4 grid of means as patches: a deterministic extractor with both outputs. */
function poolExtractor(o: { failAfter?: number } = {}): FeatureExtractor {
  let calls = 0;
  return {
    name: 'pool',
    provenance: () => ({ extractor: 'pool', config: '{}' }),
    embed(images) {
      if (o.failAfter !== undefined && calls++ >= o.failAfter) throw new Error('interrupted');
      const grid = torch.adaptiveAvgPool2d(images, [4, 4]);
      return { features: grid.flatten(1), patches: grid.permute(0, 2, 3, 1) };
    },
  };
}

/** k well-separated blobs in D dimensions, n points each, and their true ids. */
function blobs(k: number, n: number, d: number): { x: torch.Tensor; ids: Int32Array } {
  const g = new torch.Generator(3);
  const centres = torch.randn([k, d], { generator: g }).mul(10);
  const ids = Int32Array.from({ length: k * n }, (_, i) => i % k);
  const x = torch.tidy(() =>
    centres.indexSelect(0, torch.tensor(ids).long()).add(torch.randn([k * n, d], { generator: g }).mul(0.5)),
  );
  centres.dispose();
  return { x, ids };
}

describe('features beyond memory', () => {
  let shards = '';
  before(async () => {
    shards = join(tmp(), 'sh');
    await packDataset(
      { kind: 'fashion-mnist', limit: 150 },
      { out: shards, shardSize: 64, log: () => {}, progress: false },
    );
  });

  test('rows read from disk equal the loaded features; gathers read runs and gaps; other files are refused', () => {
    const dir = tmp();
    const x = torch.randn([50, 6], { generator: new torch.Generator(1) });
    const path = join(dir, 'f.safetensors');
    saveFeatures(path, { features: x, patches: null, provenance });
    const rows = openFeatureRows(path);
    assert.deepEqual([rows.rows, rows.dim], [50, 6]);
    assert.deepEqual(flat(rows.read(7, 5)), flat(x.narrow(0, 7, 5)));
    const idx = Int32Array.from([0, 1, 2, 9, 30, 31, 49]);
    assert.deepEqual(flat(rows.gather(idx)), flat(x.indexSelect(0, torch.tensor(idx).long())));
    assert.throws(() => rows.read(45, 6), /rows 45\.\.51 of 50/);
    rows.close();
    const half = join(dir, 'h.safetensors');
    saveFeatures(half, { features: x.to('float16'), patches: null, provenance });
    assert.throws(() => openFeatureRows(half), /needs float32 features, these are F16/);
    torch.safetensors.saveFile(join(dir, 'other.safetensors'), { features: x });
    assert.throws(() => openFeatureRows(join(dir, 'other.safetensors')), /not a selfguided features file/);
  });

  test('parts join on disk into the file one save writes', () => {
    const dir = tmp();
    const f = torch.randn([10, 3], { generator: new torch.Generator(2) });
    const p = torch.randn([10, 2, 2, 3], { generator: new torch.Generator(3) }).to('float16');
    const parts = [0, 4, 7].map((s, i, all) => {
      const len = (all[i + 1] ?? 10) - s;
      const path = join(dir, `part${i}.safetensors`);
      torch.safetensors.saveFile(path, { features: f.narrow(0, s, len), patches: p.narrow(0, s, len) });
      return path;
    });
    const shapes = joinFeatureParts(join(dir, 'joined.safetensors'), parts, provenance);
    assert.deepEqual(shapes, { features: [10, 3], patches: [10, 2, 2, 3] });
    saveFeatures(join(dir, 'whole.safetensors'), { features: f, patches: p, provenance });
    assert.deepEqual(readFileSync(join(dir, 'joined.safetensors')), readFileSync(join(dir, 'whole.safetensors')));
  });

  test('streamed extraction equals the in-memory one byte for byte, and resumes after an interruption', async () => {
    const dir = tmp();
    const ds = await StreamedDataset.open(shards);
    const mem = await loadShards(shards);
    const o = { batchSize: 16, shardSize: 48, patches: true, progress: false };
    const whole = join(dir, 'mem.safetensors');
    const f = extractFeatures(mem, poolExtractor(), { ...o, out: whole });
    f.features.dispose();
    f.patches?.dispose();
    const streamed = join(dir, 'streamed.safetensors');
    await assert.rejects(
      extractFeaturesStreamed(ds, poolExtractor({ failAfter: 5 }), { ...o, out: streamed }),
      /interrupted/,
    );
    await extractFeaturesStreamed(ds, poolExtractor(), { ...o, out: streamed });
    const a = loadFeatures(whole, { patches: true }),
      b = loadFeatures(streamed, { patches: true });
    assert.deepEqual(flat(b.features), flat(a.features));
    assert.deepEqual(flat(b.patches!.float()), flat(a.patches!.float()));
    assert.equal(b.provenance.datasetSize, 150);
    mem.dispose();
  });

  test('k-means on a sample, then every row assigned, finds the known partition; small data is plain k-means', () => {
    const { x, ids } = blobs(8, 250, 16);
    const full = kmeans(x, { k: 8, seed: 1, restarts: 2 });
    const sampled = kmeansRows(tensorRows(x), { k: 8, seed: 1, restarts: 2, fitSample: 300, assignBlock: 128 });
    assert.equal(nmi(full.assignments, ids), 1);
    assert.equal(nmi(sampled.assignments, full.assignments), 1, 'the same partition');
    assert.equal(
      sampled.sizes.reduce((a, b) => a + b),
      2000,
    );
    const same = kmeansRows(tensorRows(x), { k: 8, seed: 1, restarts: 2, fitSample: 5000 });
    assert.deepEqual(same.assignments, full.assignments, 'fewer rows than the sample: plain k-means');
    assert.throws(() => kmeansRows(tensorRows(x), { k: 8, fitSample: 100, balanced: true }), /cannot fit on a sample/);
    assert.throws(() => kmeansRows(tensorRows(x), { k: 200, fitSample: 100 }), /larger than the fitting sample/);
  });

  test('self-labels from disk: a one-hot condition file for training, judged against the labels', async () => {
    const dir = tmp();
    const ds = await StreamedDataset.open(shards);
    const features = join(dir, 'f.safetensors');
    await extractFeaturesStreamed(ds, poolExtractor(), {
      out: features,
      progress: false,
      extraProvenance: { dataSpec: JSON.stringify({ kind: 'shards', path: shards, stream: true }) },
    });
    const r = await selfLabelsRows(features, { k: 5, fitSample: 100, seed: 2, log: () => {} });
    const c = loadConditionFile(r.out, 150);
    assert.equal(c.numIds, 5);
    const q = r.report.quality as { nmi: number };
    assert.ok(q.nmi > 0.1, `NMI against the labels ${q.nmi}`);
    assert.match(r.lines.join('\n'), /cluster sizes: .*\n[\s\S]*NMI/);
  });
});
