// The exported web page in chromium (Debian's, driven by playwright-core): the folder serves from a plain
// static server, the page loads the model in onnxruntime-web (WebAssembly), shows the ids with their
// training images, samples on a click and offers the image; and its sampler, given the same x_T and step
// noise, ends where the library's does (libtorch, the same guidance and DDPM).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { saveAnnotations } from '../../src/annotate/annotations.js';
import { loadDataset } from '../../src/data/spec.js';
import { DiffusionTrainer } from '../../src/diffusion/trainer.js';
import { groundTruthAnnotations } from '../../src/pipelines/ground-truth.js';
import { guidedEps } from '../../src/diffusion/guidance.js';
import { loadModel } from '../../src/diffusion/pipeline.js';
import { sampleFrom } from '../../src/diffusion/samplers.js';
import { exportWeb } from '../../src/export/web-export.js';
import * as torch from '../../src/torch/index.js';
import { serveFolder, type StaticServer } from '../../src/util/static-server.js';
import { trainTinyRun } from '../helpers/tiny-run.js';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM)`;

let run: string;
let site: StaticServer;
let browser: Browser;

describe('the exported web page in chromium', { skip }, () => {
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-web-'));
    run = join(dir, 'run');
    await trainTinyRun(run);
    await exportWeb(run, join(dir, 'site'));
    site = await serveFolder(join(dir, 'site'));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  after(async () => {
    await browser?.close();
    await site?.close();
  });

  test('loads, shows the ids with their images, samples on a click and offers the image', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(site.url);
    await page.locator('#status', { hasText: /^(ready|error)/ }).waitFor();
    assert.equal(await page.textContent('#status'), 'ready (wasm)');
    assert.equal(await page.locator('#conditions button.id').count(), 10);
    assert.equal(await page.locator('#conditions button.id[data-id="3"] img').count(), 4);
    await page.click('#conditions button.id[data-id="3"]');
    await page.fill('#steps', '3');
    await page.fill('#n', '2');
    await page.click('#sample');
    await page.locator('#status', { hasText: /^(done|error)/ }).waitFor();
    assert.match((await page.textContent('#status'))!, /^done in [\d.]+ s \(wasm\)$/);
    const canvas = await page.locator('#out').evaluate((c) => {
      const e = c as unknown as { width: number; height: number };
      return { w: e.width, h: e.height };
    });
    assert.deepEqual(canvas, { w: 64, h: 32 });
    assert.match((await page.getAttribute('#save', 'href'))!, /^data:image\/png;base64,/);
    assert.deepEqual(errors, []);
    await page.close();
  });

  test("with the same noise, the page's samples are the library's (max abs difference <= 1e-3)", async () => {
    const n = 2,
      steps = 6,
      scale = 3,
      shape = [n, 1, 32, 32];
    const g = new torch.Generator(3);
    const xT = torch.randn(shape, { generator: g });
    const ids = [1, 8];
    const cond = torch.eye(10).index([torch.tensor(ids, { dtype: 'int64' })]);
    const m = loadModel(run);
    const epsFn = guidedEps((x, t, c, mp) => m.model.forward(x, t, c, mp), m.schedule, {
      scale,
      cond,
      maps: null,
      prediction: m.config.diffusion.prediction,
    });
    const want = sampleFrom(m.schedule, epsFn, xT, { sampler: 'ddpm', steps, generator: new torch.Generator(9) })
      .clamp(-1, 1)
      .toFloat32Array();
    m.dispose();
    const noiseGen = new torch.Generator(9);
    const noise = Array.from({ length: steps - 1 }, () =>
      Array.from(torch.randn(shape, { generator: noiseGen }).toFloat32Array()),
    );
    const page = await browser.newPage();
    await page.goto(site.url);
    await page.locator('#status', { hasText: /^ready/ }).waitFor();
    const got = await page.evaluate(
      async ({ xT, noise, ids, n, steps, scale }) => {
        type Sample = (r: object) => Promise<Float32Array>;
        const s = (globalThis as unknown as { selfguided: { sample: Sample } }).selfguided;
        const cond = new Float32Array(n * 10);
        ids.forEach((id: number, i: number) => (cond[i * 10 + id] = 1));
        const out = await s.sample({
          sampler: 'ddpm',
          steps,
          scale,
          n,
          cond,
          maps: null,
          xT: Float32Array.from(xT),
          noise: noise.map((a: number[]) => Float32Array.from(a)),
        });
        return Array.from(out);
      },
      { xT: Array.from(xT.toFloat32Array()), noise, ids, n, steps, scale },
    );
    await page.close();
    assert.equal(got.length, want.length);
    let diff = 0;
    for (let i = 0; i < got.length; i++) diff = Math.max(diff, Math.abs(got[i]! - want[i]!));
    assert.ok(Math.max(...want.map(Math.abs)) > 0.1, 'the samples are not trivial');
    assert.ok(diff <= 1e-3, `max abs difference ${diff}`);
  });
});

describe('the exported page of box- and mask-guided models', { skip }, () => {
  let dir: string;
  let b: Browser;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sg-web-layout-'));
    const scenes = { kind: 'fashion-scenes' as const, split: 'test' as const, limit: 16 };
    const ds = await loadDataset(scenes);
    for (const kind of ['boxes', 'masks'] as const) {
      const file = join(dir, `${kind}.safetensors`);
      saveAnnotations(file, groundTruthAnnotations(ds, kind));
      const t = await DiffusionTrainer.open(join(dir, kind), {
        config: {
          data: scenes,
          condition: { kind: 'file', path: file },
          model: { preset: 'tiny' },
          train: { steps: 2, batchSize: 4, checkpointEvery: 2 },
        },
        log: () => {},
      });
      await t.train({ progress: false });
      t.dispose();
      await exportWeb(join(dir, kind), join(dir, `${kind}-site`));
    }
    ds.dispose();
    b = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  after(async () => {
    await b?.close();
  });

  /** Drags on the layout canvas from one fraction of it to another. */
  async function drag(page: Page, from: [number, number], to: [number, number]): Promise<void> {
    const r = (await page.locator('#layout-canvas').boundingBox())!;
    await page.mouse.move(r.x + from[0] * r.width, r.y + from[1] * r.height);
    await page.mouse.down();
    await page.mouse.move(r.x + to[0] * r.width, r.y + to[1] * r.height, { steps: 4 });
    await page.mouse.up();
  }

  for (const kind of ['boxes', 'masks'] as const)
    test(`${kind}: a layout drawn on the canvas is what the page samples from`, async () => {
      const site = await serveFolder(join(dir, `${kind}-site`));
      const page = await b.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(site.url);
      await page.locator('#status', { hasText: /^(ready|error)/ }).waitFor();
      assert.equal(await page.textContent('#status'), 'ready (wasm)');
      await page.selectOption('#layout-id', '2');
      await drag(page, [0.25, 0.25], [0.75, 0.5]);
      type Picked = { boxes?: { box: number[]; id: number }[]; mask?: Record<string, number> };
      const pick = await page.evaluate(() =>
        (globalThis as unknown as { selfguidedPick: () => Picked }).selfguidedPick(),
      );
      if (kind === 'boxes') {
        // 48 px canvas: a quarter in is pixel 12, three quarters 36, half 24
        assert.deepEqual(pick.boxes, [{ box: [12, 12, 36, 24], id: 2 }]);
      } else {
        const painted = Object.values(pick.mask!).filter((v) => v === 2).length;
        assert.ok(painted > 48, `painted ${painted} pixels with segment 2`);
        assert.ok(Object.values(pick.mask!).every((v) => v === 0 || v === 2));
      }
      await page.fill('#steps', '2');
      await page.fill('#n', '1');
      await page.click('#sample');
      await page.locator('#status', { hasText: /^(done|error)/ }).waitFor();
      assert.match((await page.textContent('#status'))!, /^done/);
      assert.deepEqual(errors, []);
      await page.close();
      await site.close();
    });
});
