// The web app in a real browser (Debian's chromium, driven by playwright-core, which downloads no browser
// of its own): the runs page lists a tiny run, its page draws the loss curve, and the curve and the
// previews follow the run live as new metrics and previews are written.
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { saveAnnotations } from '../../src/annotate/annotations.js';
import { loadDataset } from '../../src/data/spec.js';
import { DiffusionTrainer } from '../../src/diffusion/index.js';
import { groundTruthAnnotations } from '../../src/pipelines/ground-truth.js';
import { craftCheckpointMetadata, trainTinyRun } from '../helpers/tiny-run.js';
import { startServer, type RunningServer } from '../../src/serve/server.js';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM)`;

let root: string;
let server: RunningServer;
let browser: Browser;

describe('the web app in chromium', { skip }, () => {
  before(async () => {
    root = join(mkdtempSync(join(tmpdir(), 'sg-browser-')), 'runs');
    await trainTinyRun(join(root, 'tiny'));
    const scenes = { kind: 'fashion-scenes' as const, split: 'test' as const, limit: 16 };
    const ds = await loadDataset(scenes);
    // Box- and mask-guided models: ground-truth boxes and masks of a few fashion-scenes canvases, two steps.
    for (const kind of ['boxes', 'masks'] as const) {
      const file = join(root, `${kind}.safetensors`);
      saveAnnotations(file, groundTruthAnnotations(ds, kind));
      const b = await DiffusionTrainer.open(join(root, kind), {
        config: {
          data: scenes,
          condition: { kind: 'file', path: file },
          model: { preset: 'tiny' },
          train: { steps: 2, batchSize: 4, checkpointEvery: 2, logEvery: 2 },
        },
        log: () => {},
      });
      await b.train({ progress: false });
      b.dispose();
    }
    ds.dispose();
    server = await startServer({ root, port: 0, pollMs: 100 });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('runs page -> run page with its loss curve and previews, updated live', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.url);
    const row = page.locator('#runs tr[data-run="tiny"]');
    await row.waitFor();
    assert.match(await row.innerText(), /diffusion\s+finished\s+4 \/ 4/);
    await row.locator('a').click();
    await page.waitForURL(/\/run\?path=tiny/);
    // The curve: one SVG path through the two logged points.
    const d = await page.locator('#chart path').getAttribute('d');
    assert.equal(d?.match(/[ML]/g)?.length, 2);
    assert.match(await page.locator('#last').innerText(), /step 4, loss/);
    assert.equal(await page.locator('#previews figure').count(), 2);
    assert.ok(
      await page
        .locator('#previews img')
        .first()
        .evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth > 0),
    );

    // The run goes on: a new metrics line and a new preview appear without a reload.
    appendFileSync(join(root, 'tiny', 'metrics.jsonl'), '{"step":6,"loss":0.25}\n');
    copyFileSync(
      join(root, 'tiny', 'previews', 'step-00000004.png'),
      join(root, 'tiny', 'previews', 'step-00000006.png'),
    );
    await page.locator('#last', { hasText: 'step 6, loss 0.2500' }).waitFor({ timeout: 10_000 });
    assert.equal((await page.locator('#chart path').getAttribute('d'))?.match(/[ML]/g)?.length, 3);
    await page.locator('#previews figure[data-preview="tiny/previews/step-00000006.png"]').waitFor({ timeout: 10_000 });
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('self-annotations: from a run to its condition file, rendered, with its boxes over the images', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}run?path=boxes`);
    await page.locator('#condition').click();
    await page.waitForURL(/\/annotation\?path=boxes.safetensors/);
    // Rendered in a child process; the page reloads itself when the view is ready.
    await page.locator('#pictures img').first().waitFor({ timeout: 60_000 });
    assert.match(await page.locator('#quality').innerText(), /hidden boxes\s+IoU of the box areas/);
    assert.ok((await page.locator('#pictures figure').count()) >= 2, 'an overview and the ids');
    for (const img of await page.locator('#pictures img').all())
      assert.ok(await img.evaluate((i) => (i as unknown as { naturalWidth: number }).naturalWidth > 0));
    await page.goto(`${server.url}annotations`);
    assert.equal(await page.locator('#conditions tr[data-file]').count(), 2, 'the boxes and masks files');
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('the playground: move the scale slider, sample, and see the images appear', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(new URL('/run?path=tiny', server.url).href);
    await page.locator('#play').click();
    await page.waitForURL(/\/playground\?path=tiny/);
    await page.locator('#scale').fill('3.5');
    assert.equal(await page.locator('#scale-value').innerText(), '3.5');
    await page.locator('#ids').fill('1,2');
    await page.locator('#per-id').fill('2');
    await page.locator('#steps').fill('2');
    await page.locator('#sample').click();
    await page.locator('#status', { hasText: 'done' }).waitFor({ timeout: 120_000 });
    const img = page.locator('#result');
    await img.waitFor({ state: 'visible' });
    await page.waitForFunction(() => {
      const el = (
        globalThis as unknown as { document: { getElementById(id: string): { naturalWidth: number } | null } }
      ).document.getElementById('result');
      return (el?.naturalWidth ?? 0) > 0;
    });
    assert.match((await img.getAttribute('src'))!, /^\/files\/tiny\/samples\/playground-[0-9a-f]+\.png$/);
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('on a box-guided model, a box drawn on the canvas is the layout sampled', async () => {
    const page = await browser.newPage();
    await page.goto(new URL('/playground?path=boxes', server.url).href);
    const area = page.locator('#boxes');
    const r = (await area.boundingBox())!;
    await page.locator('#box-id').fill('1');
    await page.mouse.move(r.x + 0.2 * r.width, r.y + 0.25 * r.height);
    await page.mouse.down();
    await page.mouse.move(r.x + 0.6 * r.width, r.y + 0.7 * r.height, { steps: 5 });
    await page.mouse.up();
    assert.equal(await page.locator('#box-count').innerText(), '1');
    assert.equal(await area.locator('.box').innerText(), '1');
    await page.locator('#steps').fill('2');
    const submitted = page.waitForRequest((q) => q.url().endsWith('/api/sample') && q.method() === 'POST');
    await page.locator('#sample').click();
    const body = JSON.parse((await submitted).postData()!) as { boxes: { box: number[]; id: number }[] };
    assert.equal(body.boxes.length, 1);
    assert.equal(body.boxes[0]!.id, 1);
    const [x0, y0, x1, y1] = body.boxes[0]!.box as [number, number, number, number];
    for (const [got, want] of [
      [x0, 0.2],
      [y0, 0.25],
      [x1, 0.6],
      [y1, 0.7],
    ] as [number, number][])
      assert.ok(Math.abs(got - want) < 0.02, `${got} ~ ${want}`);
    await page.locator('#status', { hasText: 'done' }).waitFor({ timeout: 120_000 });
    assert.ok(existsSync(join(root, 'boxes', 'samples')));
    await page.close();
  });

  test('on a mask-guided model, segments painted on the canvas are the mask sampled', async () => {
    const page = await browser.newPage();
    await page.goto(new URL('/playground?path=masks', server.url).href);
    const canvas = page.locator('#mask');
    const r = (await canvas.boundingBox())!;
    await page.locator('#segment').selectOption('2');
    await page.mouse.move(r.x + 0.3 * r.width, r.y + 0.5 * r.height);
    await page.mouse.down();
    await page.mouse.move(r.x + 0.7 * r.width, r.y + 0.5 * r.height, { steps: 10 });
    await page.mouse.up();
    assert.ok(Number(await page.locator('#painted').innerText()) > 0);
    await page.locator('#steps').fill('2');
    const submitted = page.waitForRequest((q) => q.url().endsWith('/api/sample') && q.method() === 'POST');
    await page.locator('#sample').click();
    const body = JSON.parse((await submitted).postData()!) as { mask: number[][] };
    assert.equal(body.mask.length, 48);
    assert.ok(body.mask.every((row) => row.length === 48));
    assert.equal(body.mask[24]![24], 2, 'the stroke across the middle');
    assert.equal(body.mask[0]![0], 0, 'unpainted is segment 0');
    await page.locator('#status', { hasText: 'done' }).waitFor({ timeout: 120_000 });
    await page.close();
  });

  test('hostile files run no script: crafted checkpoint metadata, an SVG, markup in a report', async () => {
    cpSync(join(root, 'tiny'), join(root, 'crafted'), { recursive: true });
    craftCheckpointMetadata(join(root, 'crafted'), 'conditions', (c) => {
      c.numIds = '<img src=x onerror=alert(3)>';
    });
    writeFileSync(
      join(root, 'tiny', 'drawing.svg'),
      '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    );
    const reports = mkdtempSync(join(tmpdir(), 'sg-reports-'));
    writeFileSync(join(reports, 'x.md'), '# A report\n\n<script>alert(2)</script>\n\n<img src=x onerror="alert(4)">\n');
    const s = await startServer({ root, reports, port: 0 });
    const page = await browser.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    try {
      const r = await page.goto(new URL('/playground?path=crafted', s.url).href);
      assert.equal(r?.status(), 422);
      assert.match(await page.locator('p').first().innerText(), /numIds/);
      await page.goto(new URL('/files/tiny/drawing.svg', s.url).href);
      await page.goto(new URL('/reports/x.md', s.url).href);
      await page.locator('h1', { hasText: 'A report' }).waitFor();
      await page.waitForTimeout(500);
      assert.deepEqual(dialogs, [], 'no script ran');
    } finally {
      await page.close();
      await s.close();
    }
  });

  test('a run whose name has quotes and brackets still gets its previews live', async () => {
    const name = `q"uo'te"]`;
    cpSync(join(root, 'tiny'), join(root, 'named', name), { recursive: true });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(new URL(`/run?path=${encodeURIComponent(`named/${name}`)}`, server.url).href);
    await page.locator('#chart path').waitFor();
    const before = await page.locator('#previews figure').count();
    mkdirSync(join(root, 'named', name, 'previews'), { recursive: true });
    copyFileSync(
      join(root, 'tiny', 'previews', 'step-00000004.png'),
      join(root, 'named', name, 'previews', 'step-00000010.png'),
    );
    await page.waitForFunction(
      (n) =>
        (
          globalThis as unknown as { document: { querySelectorAll(s: string): { length: number } } }
        ).document.querySelectorAll('#previews figure').length ===
        n + 1,
      before,
      {
        timeout: 10_000,
      },
    );
    assert.equal(await page.locator('#previews figure').count(), before + 1, 'the new one added, none twice');
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('a bad run address shows an error page, not a crash', async () => {
    const page = await browser.newPage();
    const r = await page.goto(new URL('/run?path=nope', server.url).href);
    assert.equal(r?.status(), 404);
    assert.match(await page.locator('h1').innerText(), /404/);
    await page.close();
  });

  test('the playground opens the model in a page that samples in this browser', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}playground?path=tiny`);
    await page.locator('#in-browser').click();
    await page.waitForURL(/\/browser\/tiny\/web\/$/, { timeout: 120_000 });
    await page.locator('#status', { hasText: /^(ready|error)/ }).waitFor({ timeout: 60_000 });
    assert.equal(await page.textContent('#status'), 'ready (wasm)');
    await page.fill('#steps', '2');
    await page.fill('#n', '2');
    await page.click('#sample');
    await page.locator('#status', { hasText: /^(done|error)/ }).waitFor({ timeout: 60_000 });
    assert.match((await page.textContent('#status'))!, /^done/);
    assert.deepEqual(errors, []);
    await page.close();
  });
});
