// Server-rendered HTML of the web app: plain pages, one stylesheet, and on the run page a small script
// that draws the loss curve and keeps it live from the server's event stream.
import type { ModelInfo, RunSummary } from './runs.js';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f7f8fa; }
header { background: #1d2330; color: #fff; padding: 10px 24px; display: flex; gap: 24px; align-items: baseline; }
header a { color: #cfe0ff; text-decoration: none; } header b { font-size: 16px; }
main { padding: 16px 24px; max-width: 1200px; }
table { border-collapse: collapse; background: #fff; width: 100%; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #e3e6eb; }
th { background: #eef1f5; font-weight: 600; }
.state { padding: 1px 8px; border-radius: 9px; font-size: 12px; }
.running { background: #d8f5dc; color: #126b22; } .finished { background: #e3e8ff; color: #283c8f; }
.stopped { background: #f1e6d6; color: #7a4b06; }
.previews { display: flex; flex-wrap: wrap; gap: 12px; }
.previews figure { margin: 0; background: #fff; padding: 6px; border: 1px solid #e3e6eb; }
.previews img { image-rendering: pixelated; max-width: 100%; }
.pictures figure { margin: 0 0 12px; } .pictures img { image-rendering: pixelated; max-width: 100%; }
.thumb { height: 40px; image-rendering: pixelated; }
pre { background: #fff; border: 1px solid #e3e6eb; padding: 10px; overflow: auto; max-height: 360px; }
#chart { background: #fff; border: 1px solid #e3e6eb; }
.muted { color: #6b7383; }
form.play { display: grid; grid-template-columns: 140px 260px; gap: 8px 12px; align-items: center; background: #fff; padding: 12px; border: 1px solid #e3e6eb; max-width: 440px; }
#boxes { position: relative; width: 256px; height: 256px; background: #111; cursor: crosshair; user-select: none; }
#boxes .box { position: absolute; border: 2px solid #ffcc33; color: #ffcc33; font-size: 11px; }
#result { image-rendering: pixelated; max-width: 100%; margin-top: 12px; }
.play-area { display: flex; gap: 24px; flex-wrap: wrap; }
.report img { max-width: 100%; image-rendering: pixelated; } .report table { width: auto; } .report td, .report th { font-size: 13px; }
.report code { background: #eef1f5; padding: 0 3px; }
`;

/** A page; `run` marks the body with the run its script works on. */
export function layout(title: string, body: string, run?: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} - selfguided</title><style>${STYLE}</style></head>
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

// The client side of the run page: draws loss against step as SVG, appends points from the event
// stream, and shows new previews as they are written.
export const runScript = `
const run = document.body.dataset.run;
const chart = document.getElementById('chart');
const points = [];
function draw() {
  const W = 720, H = 260, L = 56, B = 28;
  const pts = points.filter((p) => Number.isFinite(p.loss) && p.loss > 0);
  if (!pts.length) { chart.innerHTML = '<text x="20" y="30">no loss logged yet</text>'; return; }
  const xs = pts.map((p) => p.step), ys = pts.map((p) => Math.log10(p.loss));
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1), y0 = Math.min(...ys), y1 = Math.max(...ys, y0 + 1e-6);
  const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - 10), sy = (y) => 10 + (1 - (y - y0) / (y1 - y0)) * (H - B - 10);
  const d = pts.map((p, i) => (i ? 'L' : 'M') + sx(p.step).toFixed(1) + ',' + sy(Math.log10(p.loss)).toFixed(1)).join('');
  chart.innerHTML = '<path d="' + d + '" fill="none" stroke="#2c5bd6" stroke-width="1.6"/>' +
    '<text x="' + L + '" y="' + (H - 8) + '">step ' + x0 + '</text><text x="' + (W - 90) + '" y="' + (H - 8) + '">step ' + x1 + '</text>' +
    '<text x="4" y="16">' + Math.pow(10, y1).toPrecision(3) + '</text><text x="4" y="' + (H - B) + '">' + Math.pow(10, y0).toPrecision(3) + '</text>';
  document.getElementById('last').textContent = 'step ' + pts[pts.length - 1].step + ', loss ' + pts[pts.length - 1].loss.toPrecision(4);
}
const es = new EventSource('/api/stream?path=' + encodeURIComponent(run));
es.addEventListener('metrics', (e) => { for (const r of JSON.parse(e.data)) points.push(r); draw(); });
es.addEventListener('state', (e) => {
  const s = JSON.parse(e.data);
  const badge = document.getElementById('state');
  badge.textContent = s.state; badge.className = 'state ' + s.state;
  const box = document.getElementById('previews');
  const shown = new Set([...box.querySelectorAll('figure')].map((f) => f.dataset.preview));
  for (const p of s.previews) {
    if (shown.has(p)) continue;
    const f = document.createElement('figure'); f.dataset.preview = p;
    const img = document.createElement('img'); img.alt = 'preview';
    img.src = '/files/' + p.split('/').map(encodeURIComponent).join('/');
    const caption = document.createElement('figcaption'); caption.textContent = p.split('/').pop().replace('.png', '');
    f.append(img, caption);
    box.prepend(f);
  }
});
draw();
`;

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

// The playground's client side: posts a sampling request, follows the job's event stream (progress,
// result or error), cancels on request; on a box-guided model, boxes are drawn by dragging on a canvas.
export const playScript = `
const run = document.body.dataset.run;
const $ = (id) => document.getElementById(id);
const boxes = [];
const area = $('boxes');
if (area) {
  let start = null, el = null;
  const pos = (e) => { const r = area.getBoundingClientRect(); return [Math.min(1, Math.max(0, (e.clientX - r.left) / r.width)), Math.min(1, Math.max(0, (e.clientY - r.top) / r.height))]; };
  area.addEventListener('mousedown', (e) => { start = pos(e); el = document.createElement('div'); el.className = 'box'; area.appendChild(el); });
  area.addEventListener('mousemove', (e) => { if (!start) return; const p = pos(e);
    const [x0, y0, x1, y1] = [Math.min(start[0], p[0]), Math.min(start[1], p[1]), Math.max(start[0], p[0]), Math.max(start[1], p[1])];
    Object.assign(el.style, { left: x0 * 100 + '%', top: y0 * 100 + '%', width: (x1 - x0) * 100 + '%', height: (y1 - y0) * 100 + '%' }); el.dataset.box = JSON.stringify([x0, y0, x1, y1]); });
  window.addEventListener('mouseup', () => { if (!start) return; start = null;
    if (!el.dataset.box || JSON.parse(el.dataset.box).some((v, i, b) => i >= 2 && v - b[i - 2] < 0.03)) { el.remove(); return; }
    const id = Number($('box-id').value); el.textContent = id; boxes.push({ box: JSON.parse(el.dataset.box), id }); $('box-count').textContent = boxes.length; });
  $('clear-boxes').addEventListener('click', () => { boxes.length = 0; area.querySelectorAll('.box').forEach((b) => b.remove()); $('box-count').textContent = 0; });
}
const maskCanvas = $('mask');
const mask = maskCanvas ? new Uint8Array(Number(maskCanvas.dataset.size) ** 2) : null;
if (maskCanvas) {
  const S = Number(maskCanvas.dataset.size), ctx = maskCanvas.getContext('2d');
  const palette = ['#000000', '#e6334d', '#33b34d', '#ffe61a', '#0080cc', '#f58033', '#991ab3', '#4de6e6', '#e6e6e6', '#33e633'];
  let down = false, painted = 0;
  const paint = (e) => {
    const r = maskCanvas.getBoundingClientRect(), id = Number($('segment').value), b = Number($('brush').value);
    const cx = ((e.clientX - r.left) / r.width) * S, cy = ((e.clientY - r.top) / r.height) * S;
    ctx.fillStyle = palette[id % palette.length];
    for (let y = Math.max(0, Math.floor(cy - b)); y < Math.min(S, Math.ceil(cy + b)); y++)
      for (let x = Math.max(0, Math.floor(cx - b)); x < Math.min(S, Math.ceil(cx + b)); x++)
        if ((x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= b * b) { mask[y * S + x] = id; ctx.fillRect(x, y, 1, 1); painted++; }
    $('painted').textContent = painted;
  };
  maskCanvas.addEventListener('mousedown', (e) => { down = true; paint(e); });
  maskCanvas.addEventListener('mousemove', (e) => { if (down) paint(e); });
  window.addEventListener('mouseup', () => { down = false; });
  $('clear-mask').addEventListener('click', () => { mask.fill(0); painted = 0; ctx.clearRect(0, 0, S, S); $('painted').textContent = 0; });
}
$('scale').addEventListener('input', () => { $('scale-value').textContent = $('scale').value; });
let current = null;
$('form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const req = { run, scale: Number($('scale').value), sampler: $('sampler').value, steps: Number($('steps').value), seed: Number($('seed').value) };
  const ids = $('ids') ? $('ids').value.trim() : '';
  if (boxes.length) { req.boxes = boxes; req.perId = Number($('per-id').value); }
  else if (mask && Number($('painted').textContent) > 0) {
    const S = Number(maskCanvas.dataset.size);
    req.mask = Array.from({ length: S }, (_, y) => Array.from(mask.subarray(y * S, (y + 1) * S)));
    req.perId = Number($('per-id').value);
  }
  else if (ids) { req.ids = ids.split(',').map((x) => Number(x.trim())); req.perId = Number($('per-id').value); }
  else req.n = Number($('n').value);
  $('status').textContent = 'submitting'; $('progress').value = 0;
  const r = await fetch('/api/sample', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(req) });
  const body = await r.json();
  if (!r.ok) { $('status').textContent = body.error; return; }
  current = body.id; $('cancel').disabled = false;
  const es = new EventSource('/api/jobs/' + body.id + '/stream');
  es.addEventListener('job', (ev) => {
    const j = JSON.parse(ev.data);
    if (j.progress) { $('progress').max = j.progress[1]; $('progress').value = j.progress[0]; }
    $('status').textContent = j.state + (j.error ? ': ' + j.error : '');
    if (j.state === 'done') { $('result').src = '/files/' + j.output.split('/').map(encodeURIComponent).join('/'); $('result').hidden = false; }
    if (!['queued', 'running'].includes(j.state)) { es.close(); $('cancel').disabled = true; current = null; }
  });
});
$('cancel').addEventListener('click', () => { if (current) fetch('/api/jobs/' + current + '/cancel', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }); });
`;

export function playgroundPage(r: RunSummary, m: ModelInfo): string {
  const ids =
    m.numIds !== null && m.spatialChannels === 0
      ? `<label for="ids">ids (0-${m.numIds - 1})</label><input id="ids" value="${Array.from({ length: Math.min(m.numIds, 4) }, (_, i) => i).join(',')}">
<label for="per-id">images per id</label><input id="per-id" type="number" min="1" max="16" value="4">`
      : '';
  const boxes =
    m.spatialChannels === 1
      ? `<div><h2>Layout</h2><p class="muted">Drag to draw boxes (none: layouts drawn from the training annotations).</p>
<div id="boxes"></div><p>box id <input id="box-id" type="number" min="0" max="${Math.max(0, (m.numIds ?? 1) - 1)}" value="0" style="width:60px">
<button type="button" id="clear-boxes">clear</button> <span id="box-count">0</span> boxes</p></div>`
      : m.spatialChannels > 1
        ? `<div><h2>Mask</h2><p class="muted">Paint segments (nothing painted: layouts drawn from the training annotations).</p>
<canvas id="mask" width="${m.imageSize}" height="${m.imageSize}" data-size="${m.imageSize}" style="width:${m.imageSize * 6}px;height:${m.imageSize * 6}px;image-rendering:pixelated;background:#000;cursor:crosshair"></canvas>
<p>segment <select id="segment">${Array.from({ length: m.spatialChannels }, (_, i) => `<option${i === 1 ? ' selected' : ''}>${i}</option>`).join('')}</select>
brush <input id="brush" type="number" min="1" max="12" value="3" style="width:50px">
<button type="button" id="clear-mask">clear</button> <span id="painted">0</span> px painted</p></div>`
        : '';
  const perId = ids || m.spatialChannels === 0 ? '' : '<input id="per-id" type="hidden" value="4">';
  const form = `<form id="form" class="play">
${ids}${perId}
<label for="n">images${ids ? ' (without ids)' : ''}</label><input id="n" type="number" min="1" max="64" value="16">
<label for="scale">guidance scale <b id="scale-value">2</b></label><input id="scale" type="range" min="0" max="10" step="0.5" value="2">
<label for="sampler">sampler</label><select id="sampler">${['ddim', 'dpm++2m', 'euler', 'heun', 'ddpm'].map((x) => `<option>${x}</option>`).join('')}</select>
<label for="steps">steps</label><input id="steps" type="number" min="1" max="1000" value="25">
<label for="seed">seed</label><input id="seed" type="number" min="0" value="0">
<button id="sample" type="submit">Sample</button><span><button id="cancel" type="button" disabled>Cancel</button></span>
<progress id="progress" value="0" max="1"></progress><span id="status" class="muted">idle</span>
</form>`;
  const body = `<h1>Playground: ${escapeHtml(r.path)}</h1>
<p class="muted">Guided by ${escapeHtml(m.source)}${m.numIds !== null ? ` (${m.numIds} ids)` : ''}; ${m.imageSize}x${m.imageSize} images, step ${r.step}. Each request samples in its own process; the server runs one at a time and queues the rest.</p>
<div class="play-area"><div>${form}<img id="result" alt="samples" hidden></div>${boxes}</div>
${scriptTag('playground')}`;
  return layout(`Playground ${r.path}`, body, r.path);
}
