// selfguided export --format onnx: a checkpoint's EMA UNet as an ONNX file any runtime loads, with what a
// sampler needs beside the network in the model's metadata (the UNet's config, the noise schedule and its
// abar_t, the prediction, the conditions and how guidance combines the two passes).
import { writeFileAtomic } from '../util/files.js';
import { loadModel, type LoadedModel } from '../diffusion/pipeline.js';
import { OnnxGraph, OPSET } from './onnx-graph.js';
import { emitUNet, ONNX_NAMES } from './unet-onnx.js';

/** The metadata keys an exported model carries (docs/export.md). */
export const ONNX_META = {
  format: 'selfguided.format',
  unet: 'selfguided.unet',
  diffusion: 'selfguided.diffusion',
  alphasCumprod: 'selfguided.alphas_cumprod',
  conditions: 'selfguided.conditions',
  guidance: 'selfguided.guidance',
  checkpoint: 'selfguided.checkpoint',
} as const;

export const ONNX_FORMAT = 'selfguided-unet/1';

/** The ONNX bytes of a loaded model's network (its weights as loaded: EMA unless asked otherwise). */
export function onnxBytes(m: LoadedModel, version = '0'): Uint8Array {
  const g = new OnnxGraph();
  const prediction = m.config.diffusion.prediction;
  emitUNet(g, m.model, prediction);
  const c = m.model.config;
  const inputs = [
    `${ONNX_NAMES.sample} [batch, ${c.channels}, ${c.imageSize}, ${c.imageSize}] float32: x_t`,
    `${ONNX_NAMES.timestep} [batch] int64: t in 0..${m.schedule.T - 1}`,
    ...(c.condDim > 0 ? [`${ONNX_NAMES.cond} [batch, ${c.condDim}] float32: the image-level condition`] : []),
    ...(c.spatialCondChannels > 0
      ? [
          `${ONNX_NAMES.maps} [batch, ${c.spatialCondChannels}, ${c.imageSize}, ${c.imageSize}] float32: the condition maps`,
        ]
      : []),
  ];
  return g.toBytes({
    name: 'selfguided-unet',
    producer: 'selfguided',
    version,
    metadata: {
      [ONNX_META.format]: ONNX_FORMAT,
      [ONNX_META.unet]: JSON.stringify(c),
      [ONNX_META.diffusion]: JSON.stringify(m.config.diffusion),
      // What the samplers use (a zero terminal abar raised to a tiny value), one per timestep.
      [ONNX_META.alphasCumprod]: JSON.stringify(Array.from(m.schedule.samplingAlphasCumprod)),
      [ONNX_META.conditions]: JSON.stringify(m.conditions),
      [ONNX_META.guidance]: `classifier-free: out = out(x, t, 0) + s * (out(x, t, c) - out(x, t, 0)) with zeros as the null condition (cond and maps); inputs: ${inputs.join('; ')}; output ${prediction}: the ${prediction === 'v' ? 'v prediction, eps = sqrt(abar_t) v + sqrt(1 - abar_t) x_t' : 'noise prediction'}`,
      [ONNX_META.checkpoint]: JSON.stringify({ path: m.path, step: m.step }),
    },
  });
}

export interface OnnxExportResult {
  out: string;
  bytes: number;
  opset: number;
  prediction: 'eps' | 'v';
}

/** Writes a checkpoint's network as ONNX to `out` (atomically: a failed export leaves no file). */
export function exportOnnx(
  checkpoint: string,
  out: string,
  o: { ema?: boolean; version?: string } = {},
): OnnxExportResult {
  const m = loadModel(checkpoint, { ema: o.ema });
  try {
    const bytes = onnxBytes(m, o.version);
    writeFileAtomic(out, bytes);
    return { out, bytes: bytes.length, opset: OPSET, prediction: m.config.diffusion.prediction };
  } finally {
    m.dispose();
  }
}
