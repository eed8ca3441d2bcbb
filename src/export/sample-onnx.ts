// Sampling an exported model without libtorch: the project's schedulers (scheduler-math.ts) and guidance
// (guidance-math.ts) over Float32Arrays, around any function that runs the network (onnxruntime-web in the
// browser, onnxruntime-node in the tests). Browser-safe: no Node imports.
import { noiseFromOutput, guidedNoise } from '../diffusion/guidance-math.js';
import { makeSchedulerCore, type SamplerName } from '../diffusion/scheduler-math.js';
import { F32 } from './f32.js';

/**
 * Runs the network on a batch: x [batch, C, H, W], every image at timestep t, cond [batch, D] and maps
 * [batch, K, H, W] (null when the model takes none); returns its raw output (v or eps), [batch, C, H, W].
 */
export type RunNetwork = (
  x: Float32Array,
  batch: number,
  t: number,
  cond: Float32Array | null,
  maps: Float32Array | null,
) => Promise<Float32Array>;

export interface OnnxSampleOptions {
  sampler: SamplerName;
  steps: number;
  /** DDIM only */
  eta?: number;
  clipX0?: boolean;
  scale: number;
  prediction: 'eps' | 'v';
  /** abar_t as the samplers use it (the model's selfguided.alphas_cumprod) */
  alphasCumprod: ArrayLike<number>;
  /** images */
  n: number;
  /** n * D condition values, or null */
  cond: Float32Array | null;
  /** n * K * H * W condition map values, or null */
  maps: Float32Array | null;
  /** x_T: n * C * H * W standard normal values */
  xT: Float32Array;
  /** standard normal noise for the steps that draw it (n * C * H * W values each call) */
  noise: () => Float32Array;
  onStep?: (done: number, total: number, predOriginal: Float32Array) => void;
}

/** n images (n * C * H * W values, in [-1, 1] up to the model) from x_T, with classifier-free guidance. */
export async function sampleOnnx(run: RunNetwork, o: OnnxSampleOptions): Promise<Float32Array> {
  const core = makeSchedulerCore<F32>(
    o.sampler,
    { T: o.alphasCumprod.length, samplingAlphasCumprod: o.alphasCumprod },
    { eta: o.eta, clipX0: o.clipX0 },
  );
  core.setTimesteps(o.steps);
  const hasCond = o.cond !== null || o.maps !== null;
  const twoPasses = hasCond && o.scale !== 1 && o.scale !== 0;
  const zerosLike = (a: Float32Array | null) => (a ? new Float32Array(a.length) : null);
  // s = 0 is the unconditional branch alone: the null condition (zeros) in one pass.
  const one = { cond: o.scale === 0 ? zerosLike(o.cond) : o.cond, maps: o.scale === 0 ? zerosLike(o.maps) : o.maps };
  const two = twoPasses ? { cond: doubled(o.cond), maps: doubled(o.maps) } : null;
  let x = new F32(o.xT).mul(core.initNoiseSigma);
  const ts = core.timesteps;
  try {
    for (let i = 0; i < ts.length; i++) {
      const t = ts[i]!;
      const d = core.inputDivisor(i);
      const xin = d === 1 ? x : x.div(d);
      const abar = o.alphasCumprod[t]!;
      let eps: F32;
      if (two) {
        const out = await run(concat(xin.data, xin.data), 2 * o.n, t, two.cond, two.maps);
        const half = xin.data.length;
        const epsC = noiseFromOutput(o.prediction, new F32(out.subarray(0, half)), xin, abar);
        const epsU = noiseFromOutput(o.prediction, new F32(out.subarray(half)), xin, abar);
        eps = guidedNoise(epsC, epsU, o.scale);
      } else {
        eps = noiseFromOutput(o.prediction, new F32(await run(xin.data, o.n, t, one.cond, one.maps)), xin, abar);
      }
      const step = core.step(eps, i, x, () => new F32(o.noise()));
      x = step.prevSample;
      o.onStep?.(i + 1, ts.length, step.predOriginal.data);
    }
    return x.data;
  } finally {
    core.reset();
  }
}

/** The condition followed by its null (zeros): the conditional and the unconditional halves of one batch. */
function doubled(a: Float32Array | null): Float32Array | null {
  return a ? concat(a, new Float32Array(a.length)) : null;
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const r = new Float32Array(a.length + b.length);
  r.set(a);
  r.set(b, a.length);
  return r;
}
