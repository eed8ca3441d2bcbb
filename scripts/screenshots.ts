// Screenshots of the web app for the README and docs/app/: trains a small label-guided run with previews
// (or reuses it), serves it, and photographs the runs page, the run page and the playground after a
// sample, in Debian's chromium; with --condition, also the self-annotation view of that condition file
// (copied under the runs folder).
//   node --import tsx scripts/screenshots.ts [--runs runs/screenshots] [--steps 600] [--condition FILE]
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { DiffusionTrainer } from '../src/diffusion/index.js';
import { latestStep } from '../src/train/checkpoint.js';
import { startServer } from '../src/serve/server.js';

const { values: a } = parseArgs({
  options: {
    runs: { type: 'string', default: 'runs/screenshots' },
    steps: { type: 'string', default: '600' },
    out: { type: 'string', default: 'docs/app' },
    condition: { type: 'string' },
  },
});
const steps = Number(a.steps);
const run = join(a.runs!, 'fm-label-tiny');
if (latestStep(run) < steps) {
  const t = existsSync(join(run, 'config.json'))
    ? await DiffusionTrainer.open(run, { resume: true })
    : await DiffusionTrainer.open(run, {
        config: {
          data: { kind: 'fashion-mnist' },
          condition: { kind: 'label' },
          model: { preset: 'tiny' },
          train: { steps, batchSize: 32, lr: 1e-3, logEvery: 10, checkpointEvery: 200 },
        },
      });
  await t.train({ previewEvery: steps / 3 });
  t.dispose();
}
mkdirSync(a.out!, { recursive: true });
if (a.condition) {
  mkdirSync(join(a.runs!, 'annotations'), { recursive: true });
  copyFileSync(a.condition, join(a.runs!, 'annotations', basename(a.condition)));
}
const server = await startServer({ root: a.runs!, port: 0 });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
  await page.goto(server.url);
  await page.screenshot({ path: join(a.out!, 'runs.png') });
  await page.goto(new URL('/run?path=fm-label-tiny', server.url).href);
  await page.locator('#chart path').waitFor();
  await page.screenshot({ path: join(a.out!, 'run.png'), fullPage: true });
  await page.goto(new URL('/playground?path=fm-label-tiny', server.url).href);
  await page.locator('#ids').fill('0,1,5,7,8,9');
  await page.locator('#per-id').fill('8');
  await page.locator('#scale').fill('3');
  await page.locator('#sample').click();
  await page.locator('#status', { hasText: 'done' }).waitFor({ timeout: 600_000 });
  await page.waitForTimeout(500);
  await page.screenshot({ path: join(a.out!, 'playground.png'), fullPage: true });
  if (a.condition) {
    await page.goto(new URL(`/annotation?path=annotations/${basename(a.condition)}`, server.url).href);
    await page.locator('#pictures img').last().waitFor({ timeout: 600_000 });
    await page.waitForTimeout(500);
    await page.screenshot({ path: join(a.out!, 'annotations.png'), fullPage: true });
  }
  console.log(`screenshots in ${a.out}`);
} finally {
  await browser.close();
  await server.close();
}
