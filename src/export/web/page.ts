// The exported model's page: samples the model in the visitor's browser with onnxruntime-web (WebGPU where
// the browser has it, else WebAssembly), the project's own schedulers and guidance (sample-onnx.ts), and the
// conditions the model was trained on: an id (with the training images behind it), a class set, or a
// condition drawn from the training set (any kind, boxes and masks included, shown with its image).
// window.selfguided.sample() is the same sampler with the noise passed in, for tests and for scripts.
import type * as Ort from 'onnxruntime-web';
import { boxLayoutArrays, maskLayoutArrays, type LayoutBox } from '../../diffusion/layout-math.js';
import { SAMPLERS, type SamplerName } from '../../diffusion/scheduler-math.js';
import { sampleOnnx, type RunNetwork } from '../sample-onnx.js';
import type { WebModel } from '../web-model.js';

/** What the images are conditioned on: an id, a class set, a drawn training condition, or a drawn layout. */
export interface Pick {
  id?: number;
  set?: number[];
  drawn?: number;
  boxes?: LayoutBox[];
  /** segment ids, imageSize^2 */
  mask?: Uint8Array;
}

export interface SampleRequest {
  sampler: SamplerName;
  steps: number;
  eta?: number;
  scale: number;
  n: number;
  /** n * condDim values, or null */
  cond: Float32Array | null;
  maps: Float32Array | null;
  /** n * C * H * W standard normal values; drawn from the seed when left out */
  xT?: Float32Array;
  /** the noise of each step that draws it; drawn from the seed when left out */
  noise?: Float32Array[];
  seed?: number;
  onStep?: (done: number, total: number) => void;
}

/** A seeded standard normal source (Box-Muller over a 32-bit mulberry generator). */
function normal(seed: number): () => number {
  let a = seed >>> 0;
  const u = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

function decodeFloats(b64: string): Float32Array {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Float32Array(bytes.buffer);
}

export class WebSampler {
  private constructor(
    private readonly ort: typeof Ort,
    private readonly session: Ort.InferenceSession,
    readonly model: WebModel,
    readonly backend: string,
  ) {}

  static async open(ort: typeof Ort, base = '.'): Promise<WebSampler> {
    const model = (await (await fetch(`${base}/model.json`)).json()) as WebModel;
    const gpu = 'gpu' in navigator;
    for (const eps of gpu ? [['webgpu'], ['wasm']] : [['wasm']]) {
      try {
        const session = await ort.InferenceSession.create(`${base}/model.onnx`, { executionProviders: eps });
        return new WebSampler(ort, session, model, eps[0]!);
      } catch (e) {
        if (eps[0] === 'wasm') throw e;
      }
    }
    throw new Error('no backend');
  }

  private get imageValues(): number {
    return this.model.channels * this.model.imageSize ** 2;
  }

  /** n images (n * C * H * W values in [-1, 1]). */
  async sample(r: SampleRequest): Promise<Float32Array> {
    const m = this.model;
    const size = r.n * this.imageValues;
    const gauss = normal(r.seed ?? 0);
    const draw = () => Float32Array.from({ length: size }, gauss);
    const xT = r.xT ?? draw();
    let k = 0;
    const noise = () => (r.noise ? r.noise[k++]! : draw());
    const { ort, session } = this;
    const run: RunNetwork = async (x, batch, t, cond, maps) => {
      const s = m.imageSize;
      const feeds: Record<string, Ort.Tensor> = {
        sample: new ort.Tensor('float32', x, [batch, m.channels, s, s]),
        timestep: new ort.Tensor('int64', new BigInt64Array(batch).fill(BigInt(t)), [batch]),
      };
      if (m.condDim > 0) feeds.cond = new ort.Tensor('float32', cond!, [batch, m.condDim]);
      if (m.mapChannels > 0) feeds.maps = new ort.Tensor('float32', maps!, [batch, m.mapChannels, s, s]);
      const out = await session.run(feeds);
      return (await out[m.prediction]!.getData()) as Float32Array;
    };
    const images = await sampleOnnx(run, {
      sampler: r.sampler,
      steps: r.steps,
      eta: r.eta,
      scale: r.scale,
      prediction: m.prediction,
      alphasCumprod: m.alphasCumprod,
      n: r.n,
      cond: r.cond,
      maps: r.maps,
      xT,
      noise,
      onStep: (done, total) => r.onStep?.(done, total),
    });
    return images.map((v) => Math.min(1, Math.max(-1, v)));
  }

  /** The conditions of n images: one id (one-hot), a class set (n-hot), or a drawn training condition. */
  conditions(n: number, pick: Pick): { cond: Float32Array | null; maps: Float32Array | null } {
    const m = this.model;
    const repeat = (a: Float32Array) => {
      const r = new Float32Array(a.length * n);
      for (let i = 0; i < n; i++) r.set(a, i * a.length);
      return r;
    };
    if (pick.drawn !== undefined) {
      const d = m.drawn[pick.drawn]!;
      return {
        cond: d.cond ? repeat(Float32Array.from(d.cond)) : null,
        maps: d.maps ? repeat(decodeFloats(d.maps)) : null,
      };
    }
    if (pick.boxes || pick.mask) {
      // The library's own encoding of a layout (layout-math.ts); it throws the reason a layout cannot apply.
      const S = m.imageSize;
      const one = pick.boxes
        ? boxLayoutArrays(m.layout!, S, pick.boxes)
        : maskLayoutArrays(m.layout!, pick.mask!, S, S);
      return { cond: repeat(one.cond), maps: repeat(one.maps) };
    }
    if (m.condDim === 0) return { cond: null, maps: null };
    const v = new Float32Array(m.condDim);
    for (const i of pick.set ?? (pick.id !== undefined ? [pick.id] : [])) v[i] = 1;
    return { cond: repeat(v), maps: null };
  }
}

/** n images as one row of RGBA pixels on a canvas. */
function draw(canvas: HTMLCanvasElement, m: WebModel, images: Float32Array, n: number): void {
  const s = m.imageSize,
    c = m.channels;
  canvas.width = n * s;
  canvas.height = s;
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(n * s, s);
  for (let k = 0; k < n; k++)
    for (let y = 0; y < s; y++)
      for (let x = 0; x < s; x++) {
        const px = (y * n * s + k * s + x) * 4;
        for (let ch = 0; ch < 3; ch++) {
          const v = images[k * c * s * s + (c === 3 ? ch : 0) * s * s + y * s + x]!;
          img.data[px + ch] = Math.round(((v + 1) / 2) * 255);
        }
        img.data[px + 3] = 255;
      }
  ctx.putImageData(img, 0, 0);
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  text = '',
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text) e.textContent = text;
  return e;
}

const PALETTE = ['#e6334d', '#33b34d', '#ffe61a', '#0080cc', '#f58033', '#991ab3', '#4de6e6', '#e633e6'];

/**
 * The layout of a box- or mask-guided model drawn by hand on a magnified canvas: boxes dragged out with
 * the chosen self-label id (one box for models trained on the main object), or segments painted with a
 * brush. Every change reports the layout as the page's pick.
 */
function layoutEditor(m: WebModel, onChange: (p: Pick) => void): HTMLElement {
  const kind = m.layout!;
  const S = m.imageSize;
  const zoom = Math.max(1, Math.floor(320 / S));
  const box = el('div', { id: 'layout' });
  box.append(
    el(
      'p',
      {},
      kind.kind === 'boxes'
        ? `draw ${kind.objects === 'main' ? 'a box' : 'boxes'} (drag on the canvas) with the self-label id chosen here:`
        : 'paint segments (drag on the canvas) with the segment id chosen here:',
    ),
  );
  const id = el('select', { id: 'layout-id' });
  for (let i = 0; i < kind.k; i++) id.append(el('option', { value: String(i) }, String(i)));
  if (kind.kind === 'masks') id.value = String(Math.min(1, kind.k - 1));
  const brush = el('input', {
    id: 'brush',
    type: 'number',
    min: '1',
    max: String(S),
    value: String(Math.max(1, Math.round(S / 8))),
  });
  const clear = el('button', { type: 'button', id: 'layout-clear' }, 'clear');
  const canvas = el('canvas', { id: 'layout-canvas', width: String(S * zoom), height: String(S * zoom) });
  box.append(id, ...(kind.kind === 'masks' ? [el('label', {}, ' brush '), brush] : []), ' ', clear, el('br'), canvas);
  const ctx = canvas.getContext('2d')!;
  const boxes: LayoutBox[] = [];
  const mask = new Uint8Array(S * S);
  const at = (e: MouseEvent) => {
    const r = canvas.getBoundingClientRect();
    const f = (v: number, lo: number, len: number) => Math.min(S, Math.max(0, Math.round(((v - lo) / len) * S)));
    return [f(e.clientX, r.left, r.width), f(e.clientY, r.top, r.height)] as const;
  };
  const render = (drag?: LayoutBox) => {
    ctx.fillStyle = '#111';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (kind.kind === 'masks')
      for (let p = 0; p < S * S; p++) {
        if (!mask[p]) continue;
        ctx.fillStyle = PALETTE[(mask[p]! - 1) % PALETTE.length]!;
        ctx.fillRect((p % S) * zoom, Math.floor(p / S) * zoom, zoom, zoom);
      }
    for (const b of drag ? [...boxes, drag] : boxes) {
      const [x0, y0, x1, y1] = b.box;
      ctx.strokeStyle = PALETTE[b.id % PALETTE.length]!;
      ctx.lineWidth = 2;
      ctx.strokeRect(x0 * zoom, y0 * zoom, (x1 - x0) * zoom, (y1 - y0) * zoom);
      ctx.fillStyle = ctx.strokeStyle;
      ctx.fillText(String(b.id), x0 * zoom + 3, y0 * zoom + 11);
    }
  };
  const report = () =>
    onChange(kind.kind === 'boxes' ? { boxes: boxes.map((b) => ({ ...b })) } : { mask: mask.slice() });
  const paint = (x: number, y: number) => {
    const r = Number(brush.value) / 2;
    for (let yy = 0; yy < S; yy++)
      for (let xx = 0; xx < S; xx++)
        if ((xx + 0.5 - x) ** 2 + (yy + 0.5 - y) ** 2 <= r * r) mask[yy * S + xx] = Number(id.value);
  };
  let start: readonly [number, number] | null = null;
  canvas.onmousedown = (e) => {
    start = at(e);
    if (kind.kind === 'masks') {
      paint(...start);
      render();
    }
  };
  canvas.onmousemove = (e) => {
    if (!start) return;
    const [x, y] = at(e);
    if (kind.kind === 'masks') paint(x, y);
    render(kind.kind === 'boxes' ? { box: corners(start, [x, y]), id: Number(id.value) } : undefined);
  };
  canvas.onmouseup = (e) => {
    if (!start) return;
    const [x, y] = at(e);
    if (kind.kind === 'boxes') {
      const b = { box: corners(start, [x, y]), id: Number(id.value) };
      if (b.box[2] > b.box[0] && b.box[3] > b.box[1]) {
        if (kind.objects === 'main') boxes.length = 0;
        boxes.push(b);
      }
    }
    start = null;
    render();
    report();
  };
  clear.onclick = () => {
    boxes.length = 0;
    mask.fill(0);
    render();
    report();
  };
  render();
  return box;
}

function corners(a: readonly [number, number], b: readonly [number, number]): [number, number, number, number] {
  return [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[0], b[0]), Math.max(a[1], b[1])];
}

/** Builds the page's form and wires it to the sampler. */
export async function start(ort: typeof Ort): Promise<WebSampler> {
  const status = document.getElementById('status')!;
  status.textContent = 'loading the model...';
  const s = await WebSampler.open(ort);
  const m = s.model;
  const w = window as unknown as { selfguided: WebSampler; selfguidedPick: () => Pick };
  w.selfguided = s;
  // What the form would sample now (for scripts and tests).
  w.selfguidedPick = () => pick;
  document.title = m.title;
  document.getElementById('title')!.textContent = m.title;
  const form = document.getElementById('controls')!;
  const field = (label: string, input: HTMLElement) => {
    const l = el('label', {}, `${label} `);
    l.append(input);
    form.append(l);
    return input;
  };
  const sampler = field('sampler', el('select', { id: 'sampler' })) as HTMLSelectElement;
  for (const name of SAMPLERS) sampler.append(el('option', { value: name }, name));
  sampler.value = 'ddpm';
  const steps = field(
    'steps',
    el('input', { id: 'steps', type: 'number', min: '1', max: '1000', value: '25' }),
  ) as HTMLInputElement;
  const scale = field(
    'guidance scale',
    el('input', { id: 'scale', type: 'number', step: '0.5', value: '2' }),
  ) as HTMLInputElement;
  const seed = field('seed', el('input', { id: 'seed', type: 'number', value: '0' })) as HTMLInputElement;
  const count = field(
    'images',
    el('input', { id: 'n', type: 'number', min: '1', max: '16', value: '4' }),
  ) as HTMLInputElement;
  let pick: Pick = {};
  const conds = document.getElementById('conditions')!;
  const choose = (p: typeof pick, node: HTMLElement) => {
    pick = p;
    for (const c of conds.querySelectorAll('.chosen')) c.classList.remove('chosen');
    node.classList.add('chosen');
  };
  if (m.idExamples && m.conditions.oneHot) {
    conds.append(el('p', {}, `ids (${m.conditions.numIds}): each with training images behind it`));
    m.idExamples.forEach((imgs, id) => {
      const b = el('button', { type: 'button', class: 'id', 'data-id': String(id) }, `${id} `);
      for (const src of imgs) b.append(el('img', { src, alt: '' }));
      b.onclick = () => choose({ id }, b);
      conds.append(b);
    });
    choose({ id: 0 }, conds.querySelector('button.id')!);
  } else if (m.condDim > 0 && m.conditions.numIds !== null && m.mapChannels === 0) {
    conds.append(el('p', {}, 'classes present (a class set)'));
    const boxes = Array.from({ length: m.conditions.numIds }, (_, i) => {
      const b = el('input', { type: 'checkbox', value: String(i) });
      const l = el('label', { class: 'class' }, `${i} `);
      l.prepend(b);
      conds.append(l);
      return b;
    });
    const update = () => (pick = { set: boxes.filter((b) => b.checked).map((b) => Number(b.value)) });
    for (const b of boxes) b.onchange = update;
    boxes[0]!.checked = true;
    update();
  }
  if (m.layout) {
    const editor = layoutEditor(m, (p) => choose(p, editor));
    conds.append(editor);
  }
  if (m.drawn.length > 0) {
    conds.append(el('p', {}, 'or a condition from the training set (shown with its image)'));
    m.drawn.forEach((d, i) => {
      const b = el('button', { type: 'button', class: 'drawn', 'data-drawn': String(i) });
      b.append(el('img', { src: d.image, alt: `training condition ${i}` }));
      b.onclick = () => choose({ drawn: i }, b);
      conds.append(b);
    });
    if (Object.keys(pick).length === 0) choose({ drawn: 0 }, conds.querySelector('button.drawn')!);
  }
  const go = document.getElementById('sample') as HTMLButtonElement;
  const canvas = document.getElementById('out') as HTMLCanvasElement;
  const save = document.getElementById('save') as HTMLAnchorElement;
  go.onclick = async () => {
    go.disabled = true;
    const n = Number(count.value);
    try {
      const t0 = performance.now();
      const images = await s.sample({
        sampler: sampler.value as SamplerName,
        steps: Number(steps.value),
        scale: Number(scale.value),
        seed: Number(seed.value),
        n,
        ...s.conditions(n, pick),
        onStep: (done, total) => (status.textContent = `step ${done} / ${total}`),
      });
      draw(canvas, m, images, n);
      save.href = canvas.toDataURL('image/png');
      save.hidden = false;
      status.textContent = `done in ${((performance.now() - t0) / 1000).toFixed(1)} s (${s.backend})`;
    } catch (e) {
      status.textContent = `error: ${(e as Error).message}`;
    } finally {
      go.disabled = false;
    }
  };
  go.disabled = false;
  status.textContent = `ready (${s.backend})`;
  return s;
}
