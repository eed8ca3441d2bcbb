// The UNet as an ONNX graph, emitted from the modules' own structure: each layer below writes the ops its
// forward() runs (unet.ts), with the module's own weights, so the graph follows whatever the modules hold
// (preset, condition sizes, attention, resampling). The parity tests run the graph in onnxruntime beside
// libtorch on the same inputs for every preset and condition shape, which is what keeps the two in step.
import * as nn from '../nn/index.js';
import type { Tensor } from '../torch/index.js';
import {
  AttentionBlock,
  Downsample,
  ResBlock,
  type Stage,
  Upsample,
  type UNet,
  type UNetConfig,
} from '../diffusion/unet.js';
import { float, type OnnxGraph, type Dim } from './onnx-graph.js';

/** The graph's input and output names, as the metadata and docs/export.md give them. */
export const ONNX_NAMES = { sample: 'sample', timestep: 'timestep', cond: 'cond', maps: 'maps' } as const;

/** Why a UNet cannot be exported, or null when it can. */
export function unsupportedReason(c: UNetConfig): string | null {
  if (c.baseChannels % 2)
    return `the timestep embedding of an odd width (${c.baseChannels} base channels) is not exported`;
  return null;
}

/** Emits the UNet's forward pass into `g`; returns the output's name. */
export function emitUNet(g: OnnxGraph, model: UNet, prediction: 'eps' | 'v'): void {
  const c = model.config;
  const why = unsupportedReason(c);
  if (why) throw new Error(`cannot export this model: ${why}`);
  const B: Dim = 'batch';
  const x = g.input(ONNX_NAMES.sample, [B, c.channels, c.imageSize, c.imageSize]);
  const t = g.input(ONNX_NAMES.timestep, [B], 'int64');
  const cond = c.condDim > 0 ? g.input(ONNX_NAMES.cond, [B, c.condDim]) : null;
  const maps =
    c.spatialCondChannels > 0 ? g.input(ONNX_NAMES.maps, [B, c.spatialCondChannels, c.imageSize, c.imageSize]) : null;

  let emb = sequential(g, model.timeEmbed, timestepEmbedding(g, t, c.baseChannels), 'time_embed');
  if (model.condEmbed && cond) {
    const ce = sequential(g, model.condEmbed, cond, 'cond_embed');
    emb = c.condMode === 'concat' ? g.node('Concat', [emb, ce], { axis: 1 }) : g.node('Add', [emb, ce]);
  }
  let h = maps ? g.node('Concat', [x, maps], { axis: 1 }) : x;
  const hs: string[] = [];
  model.input.items.forEach((s, i) => {
    h = stage(g, s, h, emb, `input_blocks.${i}`);
    hs.push(h);
  });
  h = stage(g, model.middle, h, emb, 'middle_block');
  model.output.items.forEach((s, i) => {
    h = stage(g, s, g.node('Concat', [h, hs.pop()!], { axis: 1 }), emb, `output_blocks.${i}`);
  });
  const out = conv(g, model.outConv, silu(g, groupNorm(g, model.outNorm, h, 'out_norm')), 'out_conv');
  g.output(prediction, out, [B, c.channels, c.imageSize, c.imageSize]);
}

/** Sinusoidal embedding (cos first), as timestepEmbedding() in unet.ts: [B] int64 -> [B, dim]. */
function timestepEmbedding(g: OnnxGraph, t: string, dim: number, maxPeriod = 10000): string {
  const half = dim / 2;
  const freqs = Float32Array.from({ length: half }, (_, i) => Math.exp((-Math.log(maxPeriod) / half) * i));
  const tf = g.node('Unsqueeze', [g.node('Cast', [t], { to: 1 }), g.constant('axes', [1], [1], 'int64')]);
  const args = g.node('Mul', [tf, g.constant('timestep_freqs', freqs, [1, half])]);
  return g.node('Concat', [g.node('Cos', [args]), g.node('Sin', [args])], { axis: 1 });
}

function weights(g: OnnxGraph, name: string, t: Tensor, dims = t.shape): string {
  return g.constant(name, t.toFloat32Array(), dims);
}

function linear(g: OnnxGraph, m: nn.Linear, x: string, path: string): string {
  const inputs = [x, weights(g, `${path}.weight`, m.weight)];
  if (m.bias) inputs.push(weights(g, `${path}.bias`, m.bias));
  return g.node('Gemm', inputs, { transB: 1 });
}

function conv(g: OnnxGraph, m: nn.Conv2d, x: string, path: string): string {
  const inputs = [x, weights(g, `${path}.weight`, m.weight)];
  if (m.bias) inputs.push(weights(g, `${path}.bias`, m.bias));
  const [, , kh, kw] = m.weight.shape as [number, number, number, number];
  return g.node('Conv', inputs, {
    kernel_shape: [kh, kw],
    strides: m.stride,
    pads: [m.padding[0], m.padding[1], m.padding[0], m.padding[1]],
    dilations: m.dilation,
    group: m.groups,
  });
}

function silu(g: OnnxGraph, x: string): string {
  return g.node('Mul', [x, g.node('Sigmoid', [x])]);
}

/**
 * GroupNorm as opset 17 writes it: the groups normalised by InstanceNormalization over [B, G, rest], then
 * the per-channel affine.
 */
function groupNorm(g: OnnxGraph, m: nn.GroupNorm, x: string, path: string): string {
  const G = m.numGroups;
  const grouped = g.node('Reshape', [x, g.constant('group_shape', [0, G, -1], [3], 'int64')]);
  const normed = g.node(
    'InstanceNormalization',
    [grouped, g.constant('ones', new Float32Array(G).fill(1), [G]), g.constant('zeros', new Float32Array(G), [G])],
    { epsilon: float(m.eps) },
  );
  let h = g.node('Reshape', [normed, g.node('Shape', [x])]);
  const C = m.numChannels;
  if (m.weight) h = g.node('Mul', [h, weights(g, `${path}.weight`, m.weight, [C, 1, 1])]);
  if (m.bias) h = g.node('Add', [h, weights(g, `${path}.bias`, m.bias, [C, 1, 1])]);
  return h;
}

function sequential(g: OnnxGraph, s: nn.Sequential, x: string, path: string): string {
  let h = x;
  s.layers.forEach((m, i) => {
    if (m instanceof nn.Linear) h = linear(g, m, h, `${path}.${i}`);
    else if (m instanceof nn.SiLU) h = silu(g, h);
    else throw new Error(`cannot export ${path}.${i}: a ${m.constructor.name} in an embedding MLP`);
  });
  return h;
}

function resample(g: OnnxGraph, x: string, how: 'none' | 'up' | 'down'): string {
  if (how === 'down') return g.node('AveragePool', [x], { kernel_shape: [2, 2], strides: [2, 2] });
  if (how === 'up') return upsample(g, x);
  return x;
}

/** Nearest-neighbour doubling, as torch.interpolate(scaleFactor 2, 'nearest'). */
function upsample(g: OnnxGraph, x: string): string {
  return g.node('Resize', [x, '', g.constant('scales', [1, 1, 2, 2], [4])], {
    mode: 'nearest',
    coordinate_transformation_mode: 'asymmetric',
    nearest_mode: 'floor',
  });
}

function resBlock(g: OnnxGraph, m: ResBlock, x: string, emb: string, path: string): string {
  let h = silu(g, groupNorm(g, m.inNorm, x, `${path}.in_norm`));
  h = conv(g, m.inConv, resample(g, h, m.o.resample), `${path}.in_conv`);
  const xs = resample(g, x, m.o.resample);
  const e = g.node('Unsqueeze', [
    linear(g, m.emb, silu(g, emb), `${path}.emb`),
    g.constant('axes', [2, 3], [2], 'int64'),
  ]);
  if (m.o.scaleShift) {
    const [scale, shift] = g.nodeN('Split', [e], 2, { axis: 1 }) as [string, string];
    const normed = groupNorm(g, m.outNorm, h, `${path}.out_norm`);
    h = g.node('Add', [g.node('Mul', [normed, g.node('Add', [scale, g.constant('one', [1], [1])])]), shift]);
  } else {
    h = groupNorm(g, m.outNorm, g.node('Add', [h, e]), `${path}.out_norm`);
  }
  // Dropout is the identity at inference.
  h = conv(g, m.outConv, silu(g, h), `${path}.out_conv`);
  return g.node('Add', [m.skip ? conv(g, m.skip, xs, `${path}.skip`) : xs, h]);
}

function attention(g: OnnxGraph, m: AttentionBlock, x: string, path: string): string {
  const heads = m.heads,
    d = m.channels / heads;
  const qkv = conv(g, m.qkv, groupNorm(g, m.norm, x, `${path}.norm`), `${path}.qkv`);
  // [B, 3C, H, W] -> [B, 3, heads, d, HW] -> [3, B, heads, HW, d]
  const split = g.node(
    'Transpose',
    [g.node('Reshape', [qkv, g.constant('qkv_shape', [0, 3, heads, d, -1], [5], 'int64')])],
    {
      perm: [1, 0, 2, 4, 3],
    },
  );
  const [q, k, v] = g
    .nodeN('Split', [split], 3, { axis: 0 })
    .map((p) => g.node('Squeeze', [p, g.constant('axes', [0], [1], 'int64')])) as [string, string, string];
  const scores = g.node('Mul', [
    g.node('MatMul', [q, g.node('Transpose', [k], { perm: [0, 1, 3, 2] })]),
    g.constant('attn_scale', [1 / Math.sqrt(d)], [1]),
  ]);
  const out = g.node('MatMul', [g.node('Softmax', [scores], { axis: -1 }), v]);
  // [B, heads, HW, d] -> [B, heads, d, HW] -> [B, C, H, W] (C = heads * d)
  const back = g.node('Reshape', [g.node('Transpose', [out], { perm: [0, 1, 3, 2] }), g.node('Shape', [x])]);
  return g.node('Add', [x, conv(g, m.proj, back, `${path}.proj`)]);
}

function stage(g: OnnxGraph, s: Stage, x: string, emb: string, path: string): string {
  let h = x;
  s.layers.forEach((l, i) => {
    const p = `${path}.${i}`;
    if (l instanceof ResBlock) h = resBlock(g, l, h, emb, p);
    else if (l instanceof AttentionBlock) h = attention(g, l, h, p);
    else if (l instanceof Downsample) h = conv(g, l.conv, h, `${p}.conv`);
    else if (l instanceof Upsample) h = conv(g, l.conv, upsample(g, h), `${p}.conv`);
    else if (l instanceof nn.Conv2d) h = conv(g, l, h, p);
    else throw new Error(`cannot export ${p}: a ${(l as object).constructor.name}`);
  });
  return h;
}
