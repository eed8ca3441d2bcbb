// selfguided export --format web: a static folder that samples a trained model in the visitor's browser.
// index.html; page.js (web/page.ts bundled by esbuild: the project's own schedulers, guidance and sampler
// loop, sample-onnx.ts, so the page cannot drift from the library); onnxruntime-web's module and its
// WebAssembly; model.onnx (onnx-export.ts); model.json (what the page needs: sizes, prediction, abar_t,
// the condition kind, a few training images per id and a few conditions drawn from the training set).
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toPixels } from '../data/dataset.js';
import { encodePng } from '../data/png.js';
import { loadDataset } from '../data/spec.js';
import { buildConditions, disposeConditions } from '../diffusion/conditions.js';
import { spatialKind } from '../diffusion/layout.js';
import { drawConditions, loadModel, type LoadedModel } from '../diffusion/pipeline.js';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { onnxBytes } from './onnx-export.js';
import type { WebModel } from './web-model.js';

/** onnxruntime-web's files the page loads: its ES module (WebGPU and WebAssembly) and the WebAssembly. */
const ORT_FILES = ['ort.bundle.min.mjs', 'ort-wasm-simd-threaded.jsep.wasm'];

const here = dirname(fileURLToPath(import.meta.url));

export interface WebExportOptions {
  /** training images shown for each id (one-hot id models) */
  perId?: number;
  /** training conditions offered with their images (every conditional model) */
  drawn?: number;
  seed?: number;
  title?: string;
  version?: string;
}

async function dataUrl(images: Tensor, i: number, scale: number): Promise<string> {
  const chw = torch.tidy(() => toPixels(images.select(0, i)));
  try {
    return `data:image/png;base64,${(await encodePng(chw, scale)).png.toString('base64')}`;
  } finally {
    chw.dispose();
  }
}

/** model.json: the sizes, the schedule and the conditions the page offers. */
async function webModel(m: LoadedModel, o: WebExportOptions): Promise<WebModel> {
  const c = m.model.config;
  const scale = Math.max(1, Math.round(48 / c.imageSize));
  const model: WebModel = {
    title:
      o.title ??
      `selfguided: ${m.conditions.source === 'none' ? 'unguided' : basename(m.conditions.source)}, step ${m.step}`,
    channels: c.channels,
    imageSize: c.imageSize,
    condDim: c.condDim,
    mapChannels: c.spatialCondChannels,
    prediction: m.config.diffusion.prediction,
    alphasCumprod: Array.from(m.schedule.samplingAlphasCumprod),
    conditions: { source: m.conditions.source, numIds: m.conditions.numIds, oneHot: m.conditions.oneHot },
    layout: c.spatialCondChannels > 0 ? spatialKind(m) : null,
    idExamples: null,
    drawn: [],
  };
  if (c.condDim === 0 && c.spatialCondChannels === 0) return model;
  const ds = await loadDataset(m.config.data);
  const set = buildConditions(m.config.condition, ds);
  try {
    if (set.ids && set.oneHot && set.numIds !== null && c.spatialCondChannels === 0) {
      const per = o.perId ?? 4;
      const rows: number[][] = Array.from({ length: set.numIds }, () => []);
      set.ids.forEach((id, row) => {
        if (rows[id]!.length < per) rows[id]!.push(row);
      });
      const images = ds.images(rows.flat());
      try {
        let k = 0;
        model.idExamples = [];
        for (const r of rows) {
          const urls: string[] = [];
          for (let j = 0; j < r.length; j++) urls.push(await dataUrl(images, k++, scale));
          model.idExamples.push(urls);
        }
      } finally {
        images.dispose();
      }
    }
    const n = o.drawn ?? 8;
    const { cond, maps, rows } = drawConditions(set, n, o.seed ?? 0);
    const images = ds.images(rows);
    try {
      for (let i = 0; i < n; i++) {
        const v = cond ? Array.from(cond.select(0, i).toFloat32Array(), Number) : null;
        const mp = maps ? Buffer.from(maps.select(0, i).contiguous().toFloat32Array().buffer).toString('base64') : null;
        model.drawn.push({ cond: v, maps: mp, image: await dataUrl(images, i, scale) });
      }
    } finally {
      images.dispose();
      cond?.dispose();
      maps?.dispose();
    }
  } finally {
    disposeConditions(set);
    ds.dispose();
  }
  return model;
}

/** web/page.ts with the library code it imports, as one ES module (onnxruntime-web stays the page's import). */
export async function bundlePage(entry = join(here, 'web', 'page.ts')): Promise<string> {
  const { build } = await import('esbuild');
  const r = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    write: false,
    external: ['onnxruntime-web'],
    legalComments: 'none',
  });
  return r.outputFiles[0]!.text;
}

/** The page's script: the bundle `npm run build` made (an installed package), or the sources bundled now. */
async function pageScript(): Promise<string> {
  const built = join(here, 'web', 'page.bundle.js');
  return existsSync(built) ? readFileSync(built, 'utf8') : bundlePage();
}

/** The page's style and its start script live in files of their own: a host's CSP may forbid inline ones. */
const STYLE = `body { font: 15px system-ui, sans-serif; margin: 1.5em; max-width: 60em; color: #222; }
#controls label { margin-right: 1em; display: inline-block; }
#controls input { width: 5em; }
#conditions button { border: 2px solid transparent; background: #f4f4f4; margin: 2px; padding: 2px; cursor: pointer; }
#conditions button.chosen { border-color: #2563eb; }
#conditions img { image-rendering: pixelated; vertical-align: middle; }
#out { image-rendering: pixelated; width: min(100%, 48em); margin-top: 1em; display: block; }
`;

const START = `import * as ort from './ort.bundle.min.mjs';
import { start } from './page.js';
start(ort).catch((e) => { document.getElementById('status').textContent = 'error: ' + e.message; });
`;

const html = (title: string) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</title>
<link rel="stylesheet" href="style.css">
</head>
<body>
<h1 id="title">selfguided</h1>
<p>A self-guided diffusion model sampled in this browser (no server): onnxruntime-web runs the network, the
page runs the same schedulers and guidance as the selfguided library.</p>
<div id="controls"></div>
<div id="conditions"></div>
<p><button id="sample" type="button" disabled>sample</button> <span id="status"></span>
<a id="save" download="samples.png" hidden>save the image</a></p>
<canvas id="out" width="0" height="0"></canvas>
<script type="module" src="start.js"></script>
</body>
</html>
`;

/**
 * The page's code files (everything but model.json and model.onnx), as the folder holds them: what the web
 * app serves itself for a run's page, so that no script is ever read from the runs folder.
 */
export async function webCodeFile(name: string): Promise<string | Buffer | null> {
  if (name === 'index.html') return html('selfguided');
  if (name === 'style.css') return STYLE;
  if (name === 'start.js') return START;
  if (name === 'page.js') return (pageCache ??= pageScript());
  if (ORT_FILES.includes(name)) return readFileSync(join(ortDist(), name));
  return null;
}
let pageCache: Promise<string> | undefined;

/** onnxruntime-web's dist folder: its exports name the WebAssembly files, not the folder. */
function ortDist(): string {
  return dirname(createRequire(import.meta.url).resolve(`onnxruntime-web/${ORT_FILES[1]}`));
}

export interface WebExportResult {
  out: string;
  files: string[];
}

/** Writes the static folder for a checkpoint (EMA weights) into `out`. */
export async function exportWeb(checkpoint: string, out: string, o: WebExportOptions = {}): Promise<WebExportResult> {
  const m = loadModel(checkpoint);
  try {
    const model = await webModel(m, o);
    const bytes = onnxBytes(m, o.version);
    const script = await pageScript();
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'model.onnx'), bytes);
    writeFileSync(join(out, 'model.json'), JSON.stringify(model));
    writeFileSync(join(out, 'page.js'), script);
    writeFileSync(join(out, 'index.html'), html(model.title));
    writeFileSync(join(out, 'style.css'), STYLE);
    writeFileSync(join(out, 'start.js'), START);
    for (const f of ORT_FILES) copyFileSync(join(ortDist(), f), join(out, f));
    return { out, files: ['index.html', 'style.css', 'start.js', 'page.js', 'model.onnx', 'model.json', ...ORT_FILES] };
  } finally {
    m.dispose();
  }
}
