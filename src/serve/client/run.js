// @ts-check
// The run page's client: draws loss against step as SVG, appends points from the server's event stream,
// and shows new previews as they are written. Served as /app/run.js.

/** @typedef {{ step: number, loss: number }} MetricsRecord */
/** @typedef {{ state: string, previews: string[] }} RunState */

const run = document.body.dataset.run ?? '';
const chart = /** @type {HTMLElement} */ (document.getElementById('chart'));
/** @type {MetricsRecord[]} */
const points = [];

/** An URL under /files/ for a path relative to the runs folder. */
const fileUrl = (/** @type {string} */ p) => '/files/' + p.split('/').map(encodeURIComponent).join('/');

function draw() {
  const W = 720,
    H = 260,
    L = 56,
    B = 28;
  const pts = points.filter((p) => Number.isFinite(p.loss) && p.loss > 0);
  if (!pts.length) {
    chart.innerHTML = '<text x="20" y="30">no loss logged yet</text>';
    return;
  }
  const xs = pts.map((p) => p.step),
    ys = pts.map((p) => Math.log10(p.loss));
  const x0 = Math.min(...xs),
    x1 = Math.max(...xs, x0 + 1),
    y0 = Math.min(...ys),
    y1 = Math.max(...ys, y0 + 1e-6);
  const sx = (/** @type {number} */ x) => L + ((x - x0) / (x1 - x0)) * (W - L - 10);
  const sy = (/** @type {number} */ y) => 10 + (1 - (y - y0) / (y1 - y0)) * (H - B - 10);
  const d = pts
    .map((p, i) => (i ? 'L' : 'M') + sx(p.step).toFixed(1) + ',' + sy(Math.log10(p.loss)).toFixed(1))
    .join('');
  chart.innerHTML =
    '<path d="' +
    d +
    '" fill="none" stroke="#2c5bd6" stroke-width="1.6"/>' +
    `<text x="${L}" y="${H - 8}">step ${x0}</text><text x="${W - 90}" y="${H - 8}">step ${x1}</text>` +
    `<text x="4" y="16">${Math.pow(10, y1).toPrecision(3)}</text>` +
    `<text x="4" y="${H - B}">${Math.pow(10, y0).toPrecision(3)}</text>`;
  const last = /** @type {MetricsRecord} */ (pts[pts.length - 1]);
  const label = document.getElementById('last');
  if (label) label.textContent = 'step ' + last.step + ', loss ' + last.loss.toPrecision(4);
}

/** Adds the previews the page does not show yet, newest first. */
function showPreviews(/** @type {string[]} */ previews) {
  const box = /** @type {HTMLElement} */ (document.getElementById('previews'));
  const shown = new Set([...box.querySelectorAll('figure')].map((f) => f.dataset.preview));
  for (const p of previews) {
    if (shown.has(p)) continue;
    const f = document.createElement('figure');
    f.dataset.preview = p;
    const img = document.createElement('img');
    img.alt = 'preview';
    img.src = fileUrl(p);
    const caption = document.createElement('figcaption');
    caption.textContent = (p.split('/').pop() ?? p).replace('.png', '');
    f.append(img, caption);
    box.prepend(f);
  }
}

const es = new EventSource('/api/stream?path=' + encodeURIComponent(run));
es.addEventListener('metrics', (e) => {
  for (const r of /** @type {MetricsRecord[]} */ (JSON.parse(e.data))) points.push(r);
  draw();
});
es.addEventListener('state', (e) => {
  const s = /** @type {RunState} */ (JSON.parse(e.data));
  const badge = /** @type {HTMLElement} */ (document.getElementById('state'));
  badge.textContent = s.state;
  badge.className = 'state ' + s.state;
  showPreviews(s.previews);
});
draw();
