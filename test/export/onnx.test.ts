// The ONNX export against libtorch: the graph emitted from a UNet's modules, run in onnxruntime on the same
// inputs, gives libtorch's output (max abs difference <= 1e-4 in float32) for every preset's structure and
// every condition shape (none, ids / n-hot / vectors, concat and add, box and mask maps), with scale-shift
// norm off and plain up/down sampling too; a trained checkpoint exports with its schedule in the metadata.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { UNet, unetConfig, type UNetConfig, type UNetPreset } from '../../src/diffusion/unet.js';
import { OnnxGraph } from '../../src/export/onnx-graph.js';
import { emitUNet } from '../../src/export/unet-onnx.js';
import { exportOnnx, ONNX_FORMAT, ONNX_META } from '../../src/export/onnx-export.js';
import { DiffusionTrainer } from '../../src/diffusion/trainer.js';
import { NoiseSchedule } from '../../src/diffusion/schedule.js';
import { loadModel } from '../../src/diffusion/pipeline.js';
import { guidedEps } from '../../src/diffusion/guidance.js';
import { sampleFrom } from '../../src/diffusion/samplers.js';
import { sampleOnnx, type RunNetwork } from '../../src/export/sample-onnx.js';
import * as torch from '../../src/torch/index.js';

/** A UNet whose every weight is random (the zero-initialised output convs would hide most of the graph). */
function randomUNet(c: UNetConfig, seed: number, std = 0.3): UNet {
  const m = new UNet(c);
  const g = new torch.Generator(seed);
  torch.noGrad(() => {
    for (const p of m.parameters()) p.normal_(0, std, g);
  });
  return m.eval();
}

async function ortRun(bytes: Uint8Array, feeds: Record<string, torch.Tensor>): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes);
  const inputs: Record<string, ort.Tensor> = {};
  for (const [k, t] of Object.entries(feeds))
    inputs[k] =
      t.dtype === 'int64'
        ? new ort.Tensor(
            'int64',
            BigInt64Array.from(t.toArray() as number[], (v) => BigInt(v)),
            t.shape,
          )
        : new ort.Tensor('float32', t.toFloat32Array(), t.shape);
  const out = await s.run(inputs);
  await s.release();
  return Object.values(out)[0]!.data as Float32Array;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** libtorch's and onnxruntime's outputs of one UNet on one random batch; the largest difference. */
async function parity(c: UNetConfig, seed = 0): Promise<{ diff: number; scale: number }> {
  const m = randomUNet(c, seed);
  const g = new torch.Generator(seed + 1);
  const b = 3;
  const x = torch.randn([b, c.channels, c.imageSize, c.imageSize], { generator: g });
  const t = torch.tensor([0, 417, 999], { dtype: 'int64' });
  const cond = c.condDim ? torch.randn([b, c.condDim], { generator: g }) : null;
  const maps = c.spatialCondChannels
    ? torch.rand([b, c.spatialCondChannels, c.imageSize, c.imageSize], { generator: g }).gt(0.5).float()
    : null;
  const ref = torch.noGrad(() => m.forward(x, t, cond, maps)).toFloat32Array();
  const graph = new OnnxGraph();
  emitUNet(graph, m, 'eps');
  const bytes = graph.toBytes({ name: 't', producer: 'test', version: '0', metadata: {} });
  const got = await ortRun(bytes, { sample: x, timestep: t, ...(cond ? { cond } : {}), ...(maps ? { maps } : {}) });
  m.dispose();
  return { diff: maxAbsDiff(got, ref), scale: Math.max(...ref.map(Math.abs)) };
}

const TOL = 1e-4;

const CHECK = `
import sys, onnx
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m, full_check=True)
print('ok', ','.join(i.name for i in m.graph.input), '->', ','.join(o.name for o in m.graph.output))
`;

describe('ONNX export', () => {
  const cases: [string, UNetPreset, Partial<UNetConfig> & { imageSize: number; channels: number }][] = [
    ['tiny, unconditional', 'tiny', { imageSize: 16, channels: 1 }],
    ['tiny, one-hot ids (concat)', 'tiny', { imageSize: 16, channels: 1, condDim: 10 }],
    [
      'tiny, n-hot labels added to the timestep embedding',
      'tiny',
      { imageSize: 16, channels: 3, condDim: 7, condMode: 'add' },
    ],
    ['tiny, box maps + their ids', 'tiny', { imageSize: 16, channels: 3, condDim: 4, spatialCondChannels: 5 }],
    [
      'tiny, mask maps only, no scale-shift norm, plain up/down sampling',
      'tiny',
      { imageSize: 16, channels: 1, spatialCondChannels: 3, scaleShiftNorm: false, resblockUpdown: false },
    ],
    ['small (attention at 1/4), continuous 64-d vectors', 'small', { imageSize: 16, channels: 1, condDim: 64 }],
    [
      'small64 (four levels, attention at 1/4 and 1/8), masks + n-hot',
      'small64',
      { imageSize: 16, channels: 3, condDim: 11, spatialCondChannels: 11 },
    ],
  ];
  for (const [name, preset, o] of cases)
    test(`matches libtorch: ${name}`, async () => {
      const { diff, scale } = await parity(unetConfig(preset, o));
      assert.ok(scale > 1e-2, `the output is not trivial (max |out| ${scale})`);
      assert.ok(diff <= TOL, `max abs difference ${diff} (max |out| ${scale})`);
    });

  test('what cannot be exported is refused with the reason, before anything is written', () => {
    const m = new UNet(unetConfig('tiny', { imageSize: 16, channels: 1, baseChannels: 15 }));
    assert.throws(
      () => emitUNet(new OnnxGraph(), m, 'eps'),
      /cannot export this model: the timestep embedding of an odd width \(15 base channels\)/,
    );
    m.dispose();
  });

  test("ONNX's own checker (full check, shape inference) accepts an exported graph with attention", async () => {
    const m = randomUNet(unetConfig('small64', { imageSize: 16, channels: 3, condDim: 4, spatialCondChannels: 2 }), 3);
    const graph = new OnnxGraph();
    emitUNet(graph, m, 'v');
    m.dispose();
    const file = join(mkdtempSync(join(tmpdir(), 'sg-onnx-')), 'm.onnx');
    writeFileSync(file, graph.toBytes({ name: 't', producer: 'test', version: '0', metadata: {} }));
    const r = spawnSync('/usr/bin/python3', ['-c', CHECK, file], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stderr}${r.stdout} (python3-onnx comes with npm run setup)`);
    assert.equal(r.stdout.trim(), 'ok sample,timestep,cond,maps -> v');
  });

  test('a trained checkpoint: file, metadata, the same output; bad paths are clear errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-onnx-'));
    const run = join(dir, 'run');
    const tr = await DiffusionTrainer.open(run, {
      config: {
        data: { kind: 'fashion-mnist', limit: 64 },
        condition: { kind: 'label' },
        model: { preset: 'tiny' },
        train: { steps: 2, batchSize: 8, checkpointEvery: 2 },
      },
      log: () => {},
    });
    await tr.train({ progress: false });
    const out = join(dir, 'model.onnx');
    const r = exportOnnx(run, out);
    assert.equal(r.prediction, 'v');
    const model = onnxProto.onnx.ModelProto.decode(readFileSync(out));
    const meta = Object.fromEntries(model.metadataProps.map((p) => [p.key, p.value]));
    assert.equal(meta[ONNX_META.format], ONNX_FORMAT);
    assert.equal(JSON.parse(meta[ONNX_META.unet]!).condDim, 10);
    assert.equal(JSON.parse(meta[ONNX_META.diffusion]!).prediction, 'v');
    const abar = JSON.parse(meta[ONNX_META.alphasCumprod]!) as number[];
    const sched = new NoiseSchedule('cosine', 1000);
    assert.equal(abar.length, 1000);
    assert.ok(Math.abs(abar[500]! - sched.samplingAlphasCumprod[500]!) < 1e-12);
    assert.equal(JSON.parse(meta[ONNX_META.conditions]!).numIds, 10);
    assert.deepEqual(
      model.graph!.input!.map((i) => i.name),
      ['sample', 'timestep', 'cond'],
    );
    assert.deepEqual(
      model.graph!.output!.map((o) => o.name),
      ['v'],
    );
    assert.equal(Number(model.opsetImport[0]!.version), 17);
    // The file holds the checkpoint's EMA weights: its output is the loaded model's.
    const m = loadModel(run);
    const x = torch.randn([2, 1, 32, 32], { generator: new torch.Generator(5) });
    const t = torch.tensor([3, 700], { dtype: 'int64' });
    const cond = torch.eye(10).index([torch.tensor([2, 7], { dtype: 'int64' })]);
    const ref = torch.noGrad(() => m.model.forward(x, t, cond)).toFloat32Array();
    m.dispose();
    assert.ok(maxAbsDiff(await ortRun(readFileSync(out), { sample: x, timestep: t, cond }), ref) <= TOL);
    assert.throws(() => exportOnnx(join(dir, 'nothing'), join(dir, 'x.onnx')), /nothing/);
    assert.ok(!existsSync(join(dir, 'x.onnx')));
  });

  // The sampler without libtorch (the project's schedulers and guidance over Float32Arrays, the network in
  // onnxruntime) against libtorch's from the same x_T and the same step noise: a guided trajectory ends
  // within 1e-3 (DDPM, DDIM, DPM-Solver++; Euler and Heun 2e-3).
  for (const [sampler, eta] of [
    ['ddpm', 0],
    ['ddim', 0],
    ['ddim', 1],
    ['dpm++2m', 0],
    ['euler', 0],
    ['heun', 0],
  ] as const)
    test(`a guided ${sampler}${eta ? ' (eta 1)' : ''} trajectory in onnxruntime ends where libtorch's does`, async () => {
      const c = unetConfig('tiny', { imageSize: 16, channels: 3, condDim: 4, spatialCondChannels: 2 });
      const m = randomUNet(c, 11, 0.1);
      const schedule = new NoiseSchedule('cosine', 1000);
      const n = 3,
        steps = 12,
        scale = 3;
      const g = new torch.Generator(21);
      const xT = torch.randn([n, 3, 16, 16], { generator: g });
      const cond = torch.eye(4).index([torch.tensor([0, 2, 3], { dtype: 'int64' })]);
      const maps = torch.rand([n, 2, 16, 16], { generator: g }).gt(0.7).float();
      const epsFn = guidedEps((x, t, cc, mm) => m.forward(x, t, cc, mm), schedule, {
        scale,
        cond,
        maps,
        prediction: 'v',
      });
      const ref = sampleFrom(schedule, epsFn, xT, { sampler, steps, eta, generator: new torch.Generator(5) });
      const graph = new OnnxGraph();
      emitUNet(graph, m, 'v');
      const session = await ort.InferenceSession.create(
        graph.toBytes({ name: 't', producer: 'test', version: '0', metadata: {} }),
      );
      const f32 = (a: Float32Array, shape: number[]) => new ort.Tensor('float32', a, shape);
      const run: RunNetwork = async (x, batch, t, cc, mm) => {
        const out = await session.run({
          sample: f32(x, [batch, 3, 16, 16]),
          timestep: new ort.Tensor('int64', new BigInt64Array(batch).fill(BigInt(t)), [batch]),
          cond: f32(cc!, [batch, 4]),
          maps: f32(mm!, [batch, 2, 16, 16]),
        });
        return out.v!.data as Float32Array;
      };
      const noiseGen = new torch.Generator(5);
      let calls = 0;
      const got = await sampleOnnx(run, {
        sampler,
        steps,
        eta,
        scale,
        prediction: 'v',
        alphasCumprod: schedule.samplingAlphasCumprod,
        n,
        cond: cond.toFloat32Array(),
        maps: maps.toFloat32Array(),
        xT: xT.toFloat32Array(),
        noise: () => {
          calls++;
          return torch.randn([n, 3, 16, 16], { generator: noiseGen }).toFloat32Array();
        },
        onStep: () => {},
      });
      await session.release();
      const want = ref.toFloat32Array();
      // The last step lands on the data: no noise there.
      assert.equal(calls, sampler === 'ddpm' || (sampler === 'ddim' && eta) ? steps - 1 : 0);
      assert.ok(Math.max(...want.map(Math.abs)) > 0.1, 'the samples are not trivial');
      const diff = maxAbsDiff(got, want);
      // Euler and Heun start at x_T times sigma_max ~ 2e4 (k-diffusion's scaling of the cosine schedule's
      // last step), where float32 rounds at 1e-3 already: their bound is twice as loose.
      const bound = sampler === 'euler' || sampler === 'heun' ? 2e-3 : 1e-3;
      assert.ok(diff <= bound, `max abs difference ${diff}`);
      m.dispose();
    });
});
