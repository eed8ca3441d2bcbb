// @ts-check
// The playground's client: posts a sampling request, follows the job's event stream (progress, result
// or error) and cancels on request. On a box-guided model boxes are drawn by dragging on an area; on a
// mask-guided model segments are painted on a canvas. Served as /app/playground.js.

/**
 * @typedef {{ run: string, scale: number, sampler: string, steps: number, seed: number, n?: number,
 *   ids?: number[], perId?: number, boxes?: { box: number[], id: number }[], mask?: number[][] }} SampleRequest
 * @typedef {{ state: string, error?: string, output?: string, progress?: [number, number] }} JobState
 */

const run = document.body.dataset.run ?? '';
/** The element with this id, or null when the page has none (a model without boxes or masks). */
const maybe = (/** @type {string} */ id) => document.getElementById(id);
/** The element with this id, which the page always has. */
const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (maybe(id));
const input = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ (maybe(id));
const value = (/** @type {string} */ id) => Number(input(id).value);

/** @type {{ box: number[], id: number }[]} */
const boxes = [];
const area = maybe('boxes');
if (area) drawBoxes(area);

/** Boxes drawn by dragging on the area, each labelled with the chosen id; tiny drags are dropped. */
function drawBoxes(/** @type {HTMLElement} */ area) {
  /** @type {number[] | null} */
  let start = null;
  /** @type {HTMLElement | null} */
  let el = null;
  const clamp = (/** @type {number} */ v) => Math.min(1, Math.max(0, v));
  const pos = (/** @type {MouseEvent} */ e) => {
    const r = area.getBoundingClientRect();
    return [clamp((e.clientX - r.left) / r.width), clamp((e.clientY - r.top) / r.height)];
  };
  area.addEventListener('mousedown', (e) => {
    start = pos(e);
    el = document.createElement('div');
    el.className = 'box';
    area.appendChild(el);
  });
  area.addEventListener('mousemove', (e) => {
    if (!start || !el) return;
    const p = pos(e);
    const [sx, sy] = /** @type {[number, number]} */ (start);
    const [px, py] = /** @type {[number, number]} */ (p);
    const [x0, y0, x1, y1] = [Math.min(sx, px), Math.min(sy, py), Math.max(sx, px), Math.max(sy, py)];
    Object.assign(el.style, {
      left: x0 * 100 + '%',
      top: y0 * 100 + '%',
      width: (x1 - x0) * 100 + '%',
      height: (y1 - y0) * 100 + '%',
    });
    el.dataset.box = JSON.stringify([x0, y0, x1, y1]);
  });
  window.addEventListener('mouseup', () => {
    if (!start || !el) return;
    start = null;
    const box = el.dataset.box ? /** @type {number[]} */ (JSON.parse(el.dataset.box)) : null;
    if (!box || box.some((v, i, b) => i >= 2 && v - /** @type {number} */ (b[i - 2]) < 0.03)) {
      el.remove();
      return;
    }
    const id = value('box-id');
    el.textContent = String(id);
    boxes.push({ box, id });
    $('box-count').textContent = String(boxes.length);
  });
  $('clear-boxes').addEventListener('click', () => {
    boxes.length = 0;
    area.querySelectorAll('.box').forEach((b) => b.remove());
    $('box-count').textContent = '0';
  });
}

const maskCanvas = /** @type {HTMLCanvasElement | null} */ (maybe('mask'));
const mask = maskCanvas ? paintMask(maskCanvas) : null;

/** Segments painted with a round brush on the canvas (shown six times its size); returns the id map. */
function paintMask(/** @type {HTMLCanvasElement} */ canvas) {
  const S = Number(canvas.dataset.size);
  const ids = new Uint8Array(S * S);
  canvas.style.width = canvas.style.height = `${S * 6}px`;
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
  const palette = ['#000000', '#e6334d', '#33b34d', '#ffe61a', '#0080cc', '#f58033', '#991ab3', '#4de6e6', '#e6e6e6'];
  let down = false,
    painted = 0;
  const paint = (/** @type {MouseEvent} */ e) => {
    const r = canvas.getBoundingClientRect(),
      id = value('segment'),
      b = value('brush');
    const cx = ((e.clientX - r.left) / r.width) * S,
      cy = ((e.clientY - r.top) / r.height) * S;
    ctx.fillStyle = /** @type {string} */ (palette[id % palette.length]);
    for (let y = Math.max(0, Math.floor(cy - b)); y < Math.min(S, Math.ceil(cy + b)); y++)
      for (let x = Math.max(0, Math.floor(cx - b)); x < Math.min(S, Math.ceil(cx + b)); x++)
        if ((x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= b * b) {
          ids[y * S + x] = id;
          ctx.fillRect(x, y, 1, 1);
          painted++;
        }
    $('painted').textContent = String(painted);
  };
  canvas.addEventListener('mousedown', (e) => {
    down = true;
    paint(e);
  });
  canvas.addEventListener('mousemove', (e) => {
    if (down) paint(e);
  });
  window.addEventListener('mouseup', () => {
    down = false;
  });
  $('clear-mask').addEventListener('click', () => {
    ids.fill(0);
    painted = 0;
    ctx.clearRect(0, 0, S, S);
    $('painted').textContent = '0';
  });
  return { ids, size: S, painted: () => painted };
}

/** The request the form describes: boxes, else a painted mask, else ids, else a number of images. */
function request() {
  /** @type {SampleRequest} */
  const req = {
    run,
    scale: value('scale'),
    sampler: input('sampler').value,
    steps: value('steps'),
    seed: value('seed'),
  };
  const ids = maybe('ids') ? input('ids').value.trim() : '';
  if (boxes.length) {
    req.boxes = boxes;
    req.perId = value('per-id');
  } else if (mask && mask.painted() > 0) {
    const S = mask.size;
    req.mask = Array.from({ length: S }, (_, y) => Array.from(mask.ids.subarray(y * S, (y + 1) * S)));
    req.perId = value('per-id');
  } else if (ids) {
    req.ids = ids.split(',').map((x) => Number(x.trim()));
    req.perId = value('per-id');
  } else req.n = value('n');
  return req;
}

input('scale').addEventListener('input', () => {
  $('scale-value').textContent = input('scale').value;
});
/** @type {string | null} */
let current = null;
const cancel = /** @type {HTMLButtonElement} */ ($('cancel'));
const progress = /** @type {HTMLProgressElement} */ ($('progress'));
$('form').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('status').textContent = 'submitting';
  progress.value = 0;
  const r = await fetch('/api/sample', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(request()),
  });
  const body = /** @type {{ id: string, error?: string }} */ (await r.json());
  if (!r.ok) {
    $('status').textContent = body.error ?? String(r.status);
    return;
  }
  current = body.id;
  cancel.disabled = false;
  const es = new EventSource('/api/jobs/' + body.id + '/stream');
  es.addEventListener('job', (ev) => {
    const j = /** @type {JobState} */ (JSON.parse(ev.data));
    if (j.progress) {
      progress.max = j.progress[1];
      progress.value = j.progress[0];
    }
    $('status').textContent = j.state + (j.error ? ': ' + j.error : '');
    if (j.state === 'done' && j.output) {
      const result = /** @type {HTMLImageElement} */ ($('result'));
      result.src = '/files/' + j.output.split('/').map(encodeURIComponent).join('/');
      result.hidden = false;
    }
    if (!['queued', 'running'].includes(j.state)) {
      es.close();
      cancel.disabled = true;
      current = null;
    }
  });
});
cancel.addEventListener('click', () => {
  if (current)
    fetch('/api/jobs/' + current + '/cancel', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
});

// "Sample in this browser": the server exports the model once (kept while its checkpoint stays the newest),
// then the exported page opens and samples here.
$('in-browser').addEventListener('click', async () => {
  const b = /** @type {HTMLButtonElement} */ ($('in-browser'));
  b.disabled = true;
  $('in-browser-status').textContent = 'exporting the model...';
  try {
    const r = await fetch('/api/export', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ run }),
    });
    const body = /** @type {{ url?: string, error?: string }} */ (await r.json());
    if (!r.ok || !body.url) throw new Error(body.error ?? `HTTP ${r.status}`);
    location.href = body.url;
  } catch (e) {
    $('in-browser-status').textContent = `export failed: ${/** @type {Error} */ (e).message}`;
    b.disabled = false;
  }
});
