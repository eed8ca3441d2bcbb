// The exported model's page: samples the model in the visitor's browser with onnxruntime-web (WebGPU where
// the browser has it, else WebAssembly), the project's own schedulers and guidance (sample-onnx.ts), and the
// conditions the model was trained on: an id (with the training images behind it), a class set, or a
// condition drawn from the training set (any kind, boxes and masks included, shown with its image).
// window.selfguided.sample() is the same sampler with the noise passed in, for tests and for scripts.
import type * as Ort from 'onnxruntime-web';
import { SAMPLERS, type SamplerName } from '../../diffusion/scheduler-math.js';
import { sampleOnnx, type RunNetwork } from '../sample-onnx.js';
import type { WebModel } from '../web-model.js';

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
  conditions(n: number, pick: { id?: number; set?: number[]; drawn?: number }): Pick<SampleRequest, 'cond' | 'maps'> {
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

/** Builds the page's form and wires it to the sampler. */
export async function start(ort: typeof Ort): Promise<WebSampler> {
  const status = document.getElementById('status')!;
  status.textContent = 'loading the model...';
  const s = await WebSampler.open(ort);
  const m = s.model;
  (window as unknown as { selfguided: WebSampler }).selfguided = s;
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
  let pick: { id?: number; set?: number[]; drawn?: number } = {};
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
  if (m.drawn.length > 0) {
    conds.append(el('p', {}, 'or a condition from the training set (shown with its image)'));
    m.drawn.forEach((d, i) => {
      const b = el('button', { type: 'button', class: 'drawn', 'data-drawn': String(i) });
      b.append(el('img', { src: d.image, alt: `training condition ${i}` }));
      b.onclick = () => choose({ drawn: i }, b);
      conds.append(b);
    });
    if (pick.id === undefined && pick.set === undefined) choose({ drawn: 0 }, conds.querySelector('button.drawn')!);
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
