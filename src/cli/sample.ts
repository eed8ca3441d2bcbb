// selfguided sample: images from a checkpoint with classifier-free guidance, as a PNG grid.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import {
  ConditionRequestError,
  generate,
  loadModel,
  samplingConditions,
  type LoadedModel,
  type SamplingConditions,
} from '../diffusion/pipeline.js';
import { numEvaluations } from '../diffusion/samplers.js';
import { SAMPLERS } from '../diffusion/schedulers.js';
import type { Tensor } from '../torch/index.js';
import { saveEach, saveGrid } from '../data/png.js';
import { layoutPicture, layoutSampling, LayoutError, type LayoutSampling } from '../diffusion/layout.js';
import * as torch from '../torch/index.js';
import { ensureWritableDir } from '../util/files.js';
import { InvalidFileError } from '../util/json-file.js';
import { Progress } from '../util/progress.js';
import { defineCommand, defineOptions, type Options, parseIdList, UsageError } from './args.js';
import { deviceFromArgs, deviceOption } from './device-arg.js';

const options = defineOptions({
  checkpoint: {
    required: true,
    type: 'string',
    metavar: 'RUN_DIR|FILE',
    help: 'a run directory (its latest checkpoint) or a checkpoint file (required)',
  },
  ids: { type: 'string', metavar: 'IDS', help: 'class/cluster ids, one grid row each, e.g. 0-9 or 1,4,7' },
  'per-id': { type: 'int', min: 1, default: 8, help: 'images per id or per layout (grid columns)' },
  layout: {
    type: 'string',
    metavar: 'FILE',
    help: 'box- or mask-guided models: boxes as JSON ({"units": "pixels"|"fraction", "boxes": [{"box": [x0, y0, x1, y1], "id": 3}]}) or a mask PNG (grey level = segment id)',
  },
  'layouts-from': {
    type: 'string',
    metavar: 'FILE',
    help: 'draw real layouts from a condition file of the same kind (e.g. the test set self-boxes)',
  },
  layouts: { type: 'int', min: 1, default: 4, help: 'with --layouts-from: how many layouts (one grid row each)' },
  n: {
    type: 'int',
    min: 1,
    default: 64,
    help: 'without --ids: number of images (conditions drawn from the training conditions)',
  },
  scale: {
    type: 'number',
    default: 2,
    help: 'guidance scale s in eps_u + s (eps_c - eps_u); s = 1 + w of the (1 + w) form',
  },
  sampler: { type: 'string', default: 'ddim', choices: SAMPLERS, help: 'sampler' },
  steps: { type: 'int', min: 1, default: 50, help: 'sampling steps (network evaluations)' },
  eta: { type: 'number', default: 0, help: 'DDIM noise (0 deterministic)' },
  seed: { type: 'int', default: 0, help: 'random seed (same seed, same images)' },
  'guidance-rescale': {
    type: 'number',
    default: 0,
    help: "guidance rescale phi in [0, 1] (Lin et al.): the guided estimate scaled back to the conditional one's spread, against over-exposure at large scales",
  },
  batch: { type: 'int', min: 1, default: 64, help: 'images per forward batch' },
  ema: { type: 'boolean', default: true, help: 'use the EMA weights (--no-ema for the raw weights)' },
  out: {
    type: 'string',
    metavar: 'PNG',
    help: 'grid path (default <run>/samples/<sampler><steps>-s<scale>-seed<seed>.png)',
  },
  'images-dir': { type: 'string', metavar: 'DIR', help: 'also write each image as its own PNG here' },
  'png-scale': { type: 'int', min: 1, default: 2, help: 'enlarge the grid by this factor (nearest neighbour)' },
  device: deviceOption,
});
type Args = Options<typeof options>;

export const command = defineCommand({
  name: 'sample',
  summary: 'sample images from a trained model with classifier-free guidance',
  options,
  async run(a) {
    const ckpt = a.checkpoint;
    const phi = a['guidance-rescale'];
    if (!(phi >= 0 && phi <= 1)) throw new UsageError('sample', `--guidance-rescale must be in [0, 1], got ${phi}`);
    const m = loadModel(ckpt, { ema: a.ema, device: deviceFromArgs('sample', a) });
    try {
      const runDir = m.path.replace(/\/checkpoints\/[^/]+$/, '');
      const out = a.out ?? join(runDir, 'samples', `${a.sampler}${a.steps}-s${a.scale}-seed${a.seed}.png`);
      // Where the images go is checked before minutes of sampling, not after; folders made for a command
      // that then fails (a bad layout, a bad id) are taken away again.
      const dirs = [dirname(out), a['images-dir']].filter((d): d is string => !!d);
      const made = dirs.map(firstMissing).filter((d): d is string => d !== null);
      let images: Tensor, nrow: number;
      try {
        for (const d of dirs) ensureWritableDir(d);
        ({ images, nrow } = a.layout || a['layouts-from'] ? await sampleLayouts(m, a) : await sampleImages(m, a));
      } catch (e) {
        for (const d of made) removeIfNoFiles(d);
        throw e;
      }
      try {
        await writeImages(images, out, nrow, a);
      } finally {
        images.dispose();
      }
      process.stdout.write(`wrote ${out}\n`);
      return 0;
    } finally {
      m.dispose();
    }
  },
});

/**
 * The grid, then each image to --images-dir. Ctrl-C while they are written says how far it got (the
 * grid is whole once written: files are written atomically) and exits 130.
 */
async function writeImages(images: Tensor, out: string, nrow: number, a: Args): Promise<void> {
  const dir = a['images-dir'];
  let stage = `the grid ${out}`;
  const stop = (signal: NodeJS.Signals) => {
    process.stderr.write(`selfguided sample: interrupted (${signal}) while writing ${stage}\n`);
    process.exit(130);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await saveGrid(images, out, { nrow, scale: a['png-scale'] });
    if (dir) {
      const n = images.shape[0]!;
      stage = `${dir}: 0 of ${n} images written (the grid ${out} is complete)`;
      await saveEach(images, dir, 'img', (done) => {
        stage = `${dir}: ${done} of ${n} images written (the grid ${out} is complete)`;
      });
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/** The outermost folder of dir that does not exist yet (what making dir would create), or null. */
function firstMissing(dir: string): string | null {
  let missing: string | null = null;
  for (let d = resolve(dir); !existsSync(d); d = dirname(d)) missing = d;
  return missing;
}

/** Removes a folder tree that holds no file (only empty folders). */
function removeIfNoFiles(dir: string): void {
  const hasFile = (d: string): boolean =>
    readdirSync(d, { withFileTypes: true }).some((e) => !e.isDirectory() || hasFile(join(d, e.name)));
  try {
    if (!hasFile(dir)) rmSync(dir, { recursive: true });
  } catch {
    // gone already, or unreadable: leave it
  }
}

async function sampleImages(m: LoadedModel, a: Args): Promise<{ images: Tensor; nrow: number }> {
  let c: SamplingConditions;
  try {
    c = await samplingConditions(m, {
      ids: a.ids === undefined ? undefined : parseIdList('sample', 'ids', a.ids),
      perId: a['per-id'],
      n: a.n,
      seed: a.seed,
    });
  } catch (e) {
    if (e instanceof ConditionRequestError) throw new UsageError('sample', e.message);
    throw e;
  }
  const sampler = a.sampler;
  const steps = a.steps;
  const progress = new Progress(Math.ceil(c.n / a.batch) * numEvaluations(sampler, steps), {
    label: 'sample',
    every: 10,
  });
  const images = generate(m, {
    n: c.n,
    cond: c.cond,
    maps: c.maps,
    scale: a.scale,
    sampler,
    steps,
    eta: a.eta,
    seed: a.seed,
    batchSize: a.batch,
    guidanceRescale: a['guidance-rescale'],
    onProgress: (d) => progress.update(d),
  });
  c.cond?.dispose();
  c.maps?.dispose();
  return { images, nrow: c.nrow };
}

/** Samples for each layout, each row the layout's picture and then its samples. */
async function sampleLayouts(m: LoadedModel, a: Args): Promise<{ images: Tensor; nrow: number }> {
  if (a.ids !== undefined) throw new UsageError('sample', '--ids and a layout do not go together');
  let l: LayoutSampling;
  try {
    l = await layoutSampling(m, {
      layout: a.layout,
      layoutsFrom: a['layouts-from'],
      count: a.layouts,
      perLayout: a['per-id'],
      seed: a.seed,
    });
  } catch (e) {
    if (e instanceof LayoutError || e instanceof InvalidFileError) throw new UsageError('sample', e.message);
    throw e;
  }
  const samples = generate(m, {
    n: l.cond.shape[0]!,
    cond: l.cond,
    maps: l.maps,
    scale: a.scale,
    sampler: a.sampler,
    steps: a.steps,
    eta: a.eta,
    seed: a.seed,
    batchSize: a.batch,
    guidanceRescale: a['guidance-rescale'],
  });
  const images = torch.tidy(() => {
    const pics = layoutPicture(l.layouts);
    const rgb = samples.shape[1] === 3 ? samples : samples.expand([samples.shape[0]!, 3, ...samples.shape.slice(2)]);
    const rows: Tensor[] = [];
    for (let i = 0; i < pics.shape[0]!; i++)
      rows.push(pics.narrow(0, i, 1), rgb.narrow(0, i * l.perLayout, l.perLayout));
    return torch.cat(rows, 0);
  });
  for (const t of [samples, l.cond, l.maps, l.layouts]) t.dispose();
  return { images, nrow: l.perLayout + 1 };
}
