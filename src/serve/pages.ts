// Server-rendered HTML of the web app: plain pages that name the client's stylesheet and scripts
// (client/: served as files under /app/, linted and type-checked as browser code).
import { SAMPLERS } from '../diffusion/schedulers.js';
import type { ModelInfo, RunSummary } from './runs.js';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A page; `run` marks the body with the run its script works on. */
export function layout(title: string, body: string, run?: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} - selfguided</title><link rel="stylesheet" href="/app/style.css"></head>
<body${run === undefined ? '' : ` data-run="${escapeHtml(run)}"`}><header><b>selfguided</b><a href="/">Runs</a><a href="/annotations">Self-annotations</a><a href="/reports">Reports</a></header><main>${body}</main></body></html>`;
}

/**
 * The client scripts are served as files under /app/ (the pages' Content-Security-Policy allows no
 * inline script), so a page names them.
 */
export const scriptTag = (name: string) => `<script src="/app/${name}.js"></script>`;

const fmt = (x: number | null, d = 4) => (x === null ? '' : x.toPrecision(d));
export const fileUrl = (rel: string) => `/files/${rel.split('/').map(encodeURIComponent).join('/')}`;
const runUrl = (rel: string) => `/run?path=${encodeURIComponent(rel)}`;

export function runsPage(root: string, runs: RunSummary[]): string {
  const rows = runs
    .map(
      (r) => `<tr data-run="${escapeHtml(r.path)}">
<td><a href="${runUrl(r.path)}">${escapeHtml(r.path)}</a></td><td>${escapeHtml(r.kind)}</td>
<td><span class="state ${r.state}">${r.state}</span></td>
<td>${r.step}${r.steps !== null ? ` / ${r.steps}` : ''}</td><td>${fmt(r.loss)}</td>
<td class="muted">${escapeHtml(r.updated.replace('T', ' ').slice(0, 19))}</td>
<td>${r.previews.length ? `<img class="thumb" alt="latest preview" src="${fileUrl(r.previews[r.previews.length - 1]!)}">` : ''}</td></tr>`,
    )
    .join('\n');
  const body = runs.length
    ? `<table id="runs"><thead><tr><th>run</th><th>kind</th><th>state</th><th>step</th><th>loss</th><th>updated</th><th>preview</th></tr></thead>
<tbody>${rows}</tbody></table>`
    : `<p>No runs under <code>${escapeHtml(root)}</code> yet. Train one, e.g. <code>bin/selfguided.mjs train --condition label --preset tiny --steps 2000 --run-dir runs/first</code>, or run <code>npm run demo</code>.</p>`;
  return layout('Runs', `<h1>Runs</h1><p class="muted">Every run under <code>${escapeHtml(root)}</code>.</p>${body}`);
}

/** `condition`: the run's condition file relative to the root, when it lies under it. */
export function runPage(r: RunSummary, config: string, condition: string | null = null): string {
  const previews = [...r.previews]
    .reverse()
    .map(
      (p) =>
        `<figure data-preview="${escapeHtml(p)}"><img alt="preview" src="${fileUrl(p)}"><figcaption>${escapeHtml(p.split('/').pop()!.replace('.png', ''))}</figcaption></figure>`,
    )
    .join('');
  const body = `<h1>${escapeHtml(r.path)} <span id="state" class="state ${r.state}">${r.state}</span></h1>
<p class="muted">${escapeHtml(r.kind)} run, trained to step ${r.step}${r.steps !== null ? ` of ${r.steps}` : ''}. <span id="last"></span></p>
${r.kind === 'diffusion' ? `<p><a id="play" href="/playground?path=${encodeURIComponent(r.path)}">Sample in the playground</a></p>` : ''}
${condition ? `<p><a id="condition" href="/annotation?path=${encodeURIComponent(condition)}">Its self-annotations: ${escapeHtml(condition)}</a></p>` : ''}
<h2>Loss</h2><svg id="chart" width="720" height="260" role="img" aria-label="loss against step"></svg>
<h2>Previews</h2><div id="previews" class="previews">${previews}</div>
<h2>Configuration</h2><pre>${escapeHtml(config)}</pre>
${scriptTag('run')}`;
  return layout(r.path, body, r.path);
}

export function playgroundPage(r: RunSummary, m: ModelInfo): string {
  const ids =
    m.numIds !== null && m.spatialChannels === 0
      ? `<label for="ids">ids (0-${m.numIds - 1})</label><input id="ids" value="${Array.from({ length: Math.min(m.numIds, 4) }, (_, i) => i).join(',')}">
<label for="per-id">images per id</label><input id="per-id" type="number" min="1" max="16" value="4">`
      : '';
  const boxes =
    m.spatialChannels === 1
      ? `<div><h2>Layout</h2><p class="muted">Drag to draw boxes (none: layouts drawn from the training annotations).</p>
<div id="boxes"></div><p>box id <input id="box-id" type="number" min="0" max="${Math.max(0, (m.numIds ?? 1) - 1)}" value="0">
<button type="button" id="clear-boxes">clear</button> <span id="box-count">0</span> boxes</p></div>`
      : m.spatialChannels > 1
        ? `<div><h2>Mask</h2><p class="muted">Paint segments (nothing painted: layouts drawn from the training annotations).</p>
<canvas id="mask" width="${m.imageSize}" height="${m.imageSize}" data-size="${m.imageSize}"></canvas>
<p>segment <select id="segment">${Array.from({ length: m.spatialChannels }, (_, i) => `<option${i === 1 ? ' selected' : ''}>${i}</option>`).join('')}</select>
brush <input id="brush" type="number" min="1" max="12" value="3">
<button type="button" id="clear-mask">clear</button> <span id="painted">0</span> px painted</p></div>`
        : '';
  const perId = ids || m.spatialChannels === 0 ? '' : '<input id="per-id" type="hidden" value="4">';
  const form = `<form id="form" class="play">
${ids}${perId}
<label for="n">images${ids ? ' (without ids)' : ''}</label><input id="n" type="number" min="1" max="64" value="16">
<label for="scale">guidance scale <b id="scale-value">2</b></label><input id="scale" type="range" min="0" max="10" step="0.5" value="2">
<label for="sampler">sampler</label><select id="sampler">${SAMPLERS.map((x) => `<option${x === 'ddim' ? ' selected' : ''}>${x}</option>`).join('')}</select>
<label for="steps">steps</label><input id="steps" type="number" min="1" max="1000" value="25">
<label for="seed">seed</label><input id="seed" type="number" min="0" value="0">
<button id="sample" type="submit">Sample</button><span><button id="cancel" type="button" disabled>Cancel</button></span>
<progress id="progress" value="0" max="1"></progress><span id="status" class="muted">idle</span>
</form>`;
  const body = `<h1>Playground: ${escapeHtml(r.path)}</h1>
<p class="muted">Guided by ${escapeHtml(m.source)}${m.numIds !== null ? ` (${m.numIds} ids)` : ''}; ${m.imageSize}x${m.imageSize} images, step ${r.step}. Each request samples in its own process; the server runs one at a time and queues the rest.</p>
<div class="play-area"><div>${form}<img id="result" alt="samples" hidden></div>${boxes}</div>
<p><button id="in-browser" type="button">Sample in this browser</button> <span class="muted" id="in-browser-status">the model exported to a page that samples here, with no server work (onnxruntime-web)</span></p>
${scriptTag('playground')}`;
  return layout(`Playground ${r.path}`, body, r.path);
}
