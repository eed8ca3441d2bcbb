#!/usr/bin/env node
// Builds the libtorch addon (native/src/*.cc -> native/build/selfguided.node) with g++ directly, so it
// also builds where npm and node-gyp are absent (the GPU machine). Incremental: a translation unit is
// recompiled only when it, a header, or the build configuration changed.
//   LIBTORCH=<dir with include/ and lib/>   else Debian's libtorch-dev under /usr
//   LIBTORCH_CXX11_ABI=0|1                  else read from libc10's symbols
//   NODE_API_HEADERS, NODE_ADDON_API_DIR    else Node's own headers and the node-addon-api package
//   CXX (default g++), JOBS (default 2), SELFGUIDED_BUILD_DIR (default native/build)
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = join(root, 'native', 'src');
const buildDir = resolve(process.env.SELFGUIDED_BUILD_DIR ?? join(root, 'native', 'build'));

function fail(msg) {
  console.error(`build-native: ${msg}`);
  process.exit(1);
}

function findLibtorch() {
  const dir = process.env.LIBTORCH;
  if (dir) {
    const inc = join(dir, 'include');
    const lib = join(dir, 'lib');
    if (!existsSync(join(inc, 'ATen', 'ATen.h')) || !existsSync(lib)) {
      fail(`LIBTORCH=${dir} does not look like libtorch (need include/ATen/ATen.h and lib/)`);
    }
    return { includes: [inc, join(inc, 'torch', 'csrc', 'api', 'include')], libDir: lib, where: dir };
  }
  const multiarch = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib'];
  const libDir = multiarch.find((d) => existsSync(join(d, 'libtorch_cpu.so')));
  if (!existsSync('/usr/include/ATen/ATen.h') || !libDir) {
    fail(
      'libtorch not found. Install it with `apt-get install -y libtorch-dev libopenblas0-pthread` ' +
        '(or run `npm run setup`, which does it as root), or set LIBTORCH to a libtorch directory with include/ and lib/.',
    );
  }
  return { includes: ['/usr/include/torch/csrc/api/include'], libDir, where: 'system (Debian libtorch-dev)' };
}

function detectAbi(libDir) {
  if (process.env.LIBTORCH_CXX11_ABI !== undefined) return process.env.LIBTORCH_CXX11_ABI === '1' ? 1 : 0;
  try {
    const out = execFileSync('nm', ['-D', '--defined-only', join(libDir, 'libc10.so')], {
      maxBuffer: 64 << 20,
    }).toString();
    return out.includes('__cxx11') ? 1 : 0;
  } catch {
    return 1;
  }
}

function findNodeHeaders() {
  const candidates = [
    process.env.NODE_API_HEADERS,
    join(dirname(process.execPath), '..', 'include', 'node'),
    '/usr/include/node',
    '/usr/local/include/node',
  ].filter(Boolean);
  const dir = candidates.find((d) => existsSync(join(d, 'node_api.h')));
  if (!dir) fail('Node-API headers (node_api.h) not found; set NODE_API_HEADERS');
  return dir;
}

function findAddonApi() {
  if (process.env.NODE_ADDON_API_DIR) return process.env.NODE_ADDON_API_DIR;
  try {
    const require = createRequire(join(root, 'package.json'));
    return dirname(require.resolve('node-addon-api/napi.h'));
  } catch {
    fail('node-addon-api not found: run `npm install` or set NODE_ADDON_API_DIR');
  }
}

function run(cmd, args) {
  return new Promise((ok, bad) => {
    const p = spawn(cmd, args, { stdio: 'inherit' });
    p.on('error', bad);
    p.on('exit', (code) => (code === 0 ? ok() : bad(new Error(`${cmd} exited with ${code}`))));
  });
}

async function main() {
  const torch = findLibtorch();
  const abi = detectAbi(torch.libDir);
  const cxx = process.env.CXX ?? 'g++';
  const jobs = Number(process.env.JOBS ?? 2);
  const libs = ['torch', 'torch_cpu', 'c10'];
  for (const opt of ['torch_cuda', 'c10_cuda']) if (existsSync(join(torch.libDir, `lib${opt}.so`))) libs.push(opt);
  // c10d's Gloo process group: its headers need gloo's (Debian: libgloo-dev) and USE_C10D_GLOO.
  const glooHeaders = [...torch.includes, '/usr/include'].some((d) => existsSync(join(d, 'gloo', 'config.h')));
  const cflags = [
    '-O2',
    '-std=c++17',
    '-fPIC',
    '-fvisibility=hidden',
    '-Wall',
    '-Wno-unused-parameter',
    `-D_GLIBCXX_USE_CXX11_ABI=${abi}`,
    '-DNAPI_CPP_EXCEPTIONS',
    '-DNAPI_VERSION=8',
    '-DNODE_ADDON_API_DISABLE_DEPRECATED',
    `-I${findNodeHeaders()}`,
    `-I${findAddonApi()}`,
    ...torch.includes.flatMap((d) => ['-isystem', d]),
    ...(glooHeaders ? ['-DSELFGUIDED_GLOO=1', '-DUSE_C10D_GLOO'] : ['-DSELFGUIDED_GLOO=0']),
  ];
  const ldflags = [
    '-shared',
    `-L${torch.libDir}`,
    `-Wl,-rpath,${torch.libDir}`,
    '-Wl,--no-as-needed',
    ...libs.map((l) => `-l${l}`),
  ];
  mkdirSync(buildDir, { recursive: true });
  const config = JSON.stringify({ cxx, cflags, ldflags });
  const stampFile = join(buildDir, 'config.json');
  const configChanged = !existsSync(stampFile) || readFileSync(stampFile, 'utf8') !== config;
  const sources = readdirSync(srcDir).filter((f) => f.endsWith('.cc'));
  const headerTime = Math.max(
    ...readdirSync(srcDir)
      .filter((f) => f.endsWith('.h'))
      .map((f) => statSync(join(srcDir, f)).mtimeMs),
  );
  const stale = sources.filter((f) => {
    const obj = join(buildDir, f.replace(/\.cc$/, '.o'));
    if (configChanged || !existsSync(obj)) return true;
    const t = statSync(obj).mtimeMs;
    return t < statSync(join(srcDir, f)).mtimeMs || t < headerTime;
  });
  const out = join(buildDir, 'selfguided.node');
  if (stale.length === 0 && existsSync(out)) {
    console.log(`build-native: up to date (${out})`);
    return;
  }
  console.log(
    `build-native: libtorch ${torch.where}, C++11 ABI ${abi}, c10d Gloo ${glooHeaders ? 'on' : 'off (no gloo headers: apt-get install libgloo-dev)'}, compiling ${stale.length} file(s) with ${jobs} job(s)`,
  );
  const t0 = Date.now();
  const queue = [...stale];
  await Promise.all(
    Array.from({ length: Math.max(1, jobs) }, async () => {
      for (let f = queue.shift(); f; f = queue.shift()) {
        await run(cxx, [...cflags, '-c', join(srcDir, f), '-o', join(buildDir, f.replace(/\.cc$/, '.o'))]);
      }
    }),
  );
  await run(cxx, [...sources.map((f) => join(buildDir, f.replace(/\.cc$/, '.o'))), ...ldflags, '-o', out]);
  writeFileSync(stampFile, config);
  console.log(`build-native: built ${out} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

main().catch((e) => fail(e.message));
