// The caching CPU allocator: large blocks are reused by size class, a steady loop maps nothing after its
// first pass, the cache stays within its bound, and c10's default can be chosen instead.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import * as torch from '../../src/torch/index.js';

const MB = 2 ** 20;
const caching = torch.cpuMemory.stats().allocator === 'caching';

describe('caching CPU allocator', { skip: !caching && 'SELFGUIDED_CPU_ALLOCATOR=default is set' }, () => {
  test('a freed large block serves the next request of its size class, with the new contents', () => {
    const s0 = torch.cpuMemory.stats();
    const a = torch.full([1000, 250], 3); // 1,000,000 bytes: the 1 MiB class
    const s1 = torch.cpuMemory.stats();
    assert.equal(s1.inUseBytes! - s0.inUseBytes!, MB);
    a.dispose();
    const b = torch.full([256, 1024], 5); // exactly 1 MiB: same class
    const s2 = torch.cpuMemory.stats();
    assert.equal(s2.hits! - s1.hits!, 1);
    assert.equal(s2.maps, s1.maps);
    assert.equal(b.sum().item(), 5 * 256 * 1024);
    b.dispose();
  });

  test('small tensors stay with c10 default allocator and are not counted', () => {
    const s0 = torch.cpuMemory.stats();
    const t = torch.ones([1000]); // 4 KB
    assert.equal(torch.cpuMemory.stats().inUseBytes, s0.inUseBytes);
    t.dispose();
  });

  test('a loop that repeats the same shapes maps no memory after its first pass', () => {
    const w = torch.randn([16, 8, 3, 3]);
    const step = () =>
      torch.tidy(() => {
        const x = torch.randn([8, 8, 32, 32]);
        return torch.conv2d(x, w, null, { padding: 1 }).relu().sum().item();
      });
    step();
    const s1 = torch.cpuMemory.stats();
    for (let i = 0; i < 20; i++) step();
    const s2 = torch.cpuMemory.stats();
    assert.equal(s2.maps, s1.maps, 'no new mappings');
    assert.equal(s2.mappedBytes, s1.mappedBytes);
    assert.ok(s2.hits! > s1.hits!);
    w.dispose();
  });

  test('the cache never holds more than max(floor, 3 x peak in use); emptyCache returns it all', () => {
    torch.cpuMemory.setCacheFloor(0);
    try {
      torch.cpuMemory.resetPeak();
      const base = torch.cpuMemory.stats();
      const ts = [1, 2, 4].map((mb) => torch.zeros([mb * 262144]));
      const peak = torch.cpuMemory.stats().peakInUseBytes!;
      assert.equal(peak - base.inUseBytes!, 7 * MB);
      for (const t of ts) t.dispose();
      const s = torch.cpuMemory.stats();
      assert.ok(s.cachedBytes! >= 7 * MB && s.cachedBytes! <= 3 * peak, `cached ${s.cachedBytes} within 3 x ${peak}`);
      // A lower peak lowers the bound: the oldest blocks go back to the kernel first.
      torch.cpuMemory.resetPeak();
      const after = torch.cpuMemory.stats();
      assert.ok(after.cachedBytes! <= 3 * after.peakInUseBytes!);
      assert.ok(after.unmaps! > s.unmaps!);
      torch.cpuMemory.emptyCache();
      const e = torch.cpuMemory.stats();
      assert.equal(e.cachedBytes, 0);
      assert.equal(e.mappedBytes, e.inUseBytes);
    } finally {
      torch.cpuMemory.setCacheFloor(256);
    }
  });

  test('a request takes a larger cached block (up to 2x) rather than mapping a new one', () => {
    const big = torch.zeros([3 * 262144]); // 3 MiB
    big.dispose();
    const s0 = torch.cpuMemory.stats();
    const small = torch.zeros([2 * 262144]); // 2 MiB: a smaller class, served by the 3 MiB block
    const s1 = torch.cpuMemory.stats();
    assert.equal(s1.maps, s0.maps);
    assert.equal(s1.inUseBytes! - s0.inUseBytes!, 3 * MB);
    small.dispose();
  });

  test('a cached block that no request takes back for a long while is returned to the kernel', () => {
    const idle = torch.zeros([5 * 262144]); // 5 MiB, a class nothing else here uses
    idle.dispose();
    assert.ok(torch.cpuMemory.stats().cachedBytes! >= 5 * MB);
    const u0 = torch.cpuMemory.stats().unmaps!;
    for (let i = 0; i < 16384 + 4096; i++) torch.empty([16384]).dispose(); // 64 KiB each
    const s = torch.cpuMemory.stats();
    assert.ok(s.unmaps! > u0, 'the idle block was unmapped');
    const again = torch.zeros([5 * 262144]);
    assert.ok(torch.cpuMemory.stats().maps! > s.maps!, 'so the next request of its class maps anew');
    again.dispose();
  });

  test('kernels that allocate raw workspace (convolution backward) work through it', () => {
    const x = torch.randn([4, 8, 40, 40]).requiresGrad_(true);
    const w = torch.randn([8, 8, 3, 3]).requiresGrad_(true);
    const y = torch.conv2d(x, w, null, { padding: 1 }).square().sum();
    y.backward();
    assert.ok(Number.isFinite(x.grad!.abs().sum().item()));
    for (const t of [x, w, y]) t.dispose();
  });

  test('a negative cache floor is refused', () => {
    assert.throws(() => torch.cpuMemory.setCacheFloor(-1), /floor must be >= 0/);
  });
});

test('SELFGUIDED_CPU_ALLOCATOR=default keeps c10 default allocator; an unknown value is refused', () => {
  const runtime = fileURLToPath(new URL('../../src/torch/index.ts', import.meta.url));
  const code = `import(${JSON.stringify(runtime)}).then((t) => console.log(t.cpuMemory.stats().allocator))`;
  const run = (value: string) =>
    spawnSync(process.execPath, ['--import', 'tsx', '-e', code], {
      env: { ...process.env, SELFGUIDED_CPU_ALLOCATOR: value },
      encoding: 'utf8',
    });
  assert.equal(run('default').stdout.trim(), 'default');
  assert.equal(run('caching').stdout.trim(), 'caching');
  const bad = run('jemalloc');
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /SELFGUIDED_CPU_ALLOCATOR must be 'caching' or 'default'/);
});
