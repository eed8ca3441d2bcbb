// The package as a Node user gets it: `npm pack`, installed from the tarball into a fresh folder, used
// with plain node (no tsx, no TypeScript): a tensor op, a tiny UNet forward pass and one sampling step.
// The first import builds the native addon against this machine's libtorch.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const SCRIPT = `
import { torch, diffusion } from 'selfguided';
const t = torch.ones([2, 2]).mul(3);
console.log('sum', t.sum().item());
const net = new diffusion.UNet(diffusion.unetConfig('tiny', { imageSize: 16, channels: 1 }));
net.eval();
const schedule = new diffusion.NoiseSchedule('linear', 1000);
const eps = (x, step) => net.call(x, torch.full([x.shape[0]], step, { dtype: 'int64' }));
const x = torch.noGrad(() => diffusion.sample(schedule, eps, [2, 1, 16, 16], { sampler: 'ddim', steps: 1 }));
console.log('sample', x.shape.join('x'), Number.isFinite(x.abs().sum().item()));
`;

test('npm pack, install the tarball in a fresh folder, run with plain node', { timeout: 900_000 }, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'sg-pack-'));
  const pack = spawnSync('npm', ['pack', '--pack-destination', tmp, '--silent'], { encoding: 'utf8' });
  assert.equal(pack.status, 0, pack.stderr);
  const tarball = join(tmp, pack.stdout.trim().split('\n').pop()!);
  const app = join(tmp, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  const install = spawnSync('npm', ['install', '--no-audit', '--no-fund', tarball], { cwd: app, encoding: 'utf8' });
  assert.equal(install.status, 0, install.stderr);
  writeFileSync(join(app, 'use.mjs'), SCRIPT);
  const env = { ...process.env };
  for (const k of ['SELFGUIDED_ADDON', 'SELFGUIDED_BUILD_DIR', 'NODE_OPTIONS']) delete env[k];
  const run = spawnSync(process.execPath, ['use.mjs'], { cwd: app, encoding: 'utf8', env });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stderr, /building the native addon/);
  assert.match(run.stdout, /^sum 12$/m);
  assert.match(run.stdout, /^sample 2x1x16x16 true$/m);
  const cli = spawnSync(join(app, 'node_modules', '.bin', 'selfguided'), ['--help'], { cwd: app, encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stderr);
  assert.match(cli.stdout, /self-guided diffusion models/);
});
