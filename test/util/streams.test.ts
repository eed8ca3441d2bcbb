// The random streams cannot collide: every (stream, seed, position) has its own key, in all 64 bits and
// in the low 32 bits libtorch's CPU generator keeps; a key does not move when another stream is added.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Rng } from '../../src/util/rng.js';
import { HOST_STREAMS, hostRng, streamKey, TORCH_STREAMS } from '../../src/util/streams.js';
import * as torch from '../../src/torch/index.js';

const NAMES = [...Object.keys(HOST_STREAMS), ...Object.keys(TORCH_STREAMS)] as (keyof typeof HOST_STREAMS)[];

describe('random streams', () => {
  test('no two named streams and no two seeds share a key (64 bits, and 32 bits for libtorch)', () => {
    const keys = new Map<bigint, string>();
    const low = new Map<number, string>();
    for (const name of NAMES)
      for (let seed = 0; seed < 2000; seed++) {
        const k = streamKey(seed, name);
        const what = `${name} seed ${seed}`;
        assert.equal(keys.get(k), undefined, `${what} has the key of ${keys.get(k)}`);
        keys.set(k, what);
        if (name in TORCH_STREAMS) {
          const l = Number(k & 0xffffffffn);
          assert.equal(low.get(l), undefined, `${what} seeds libtorch's CPU generator as ${low.get(l)}`);
          low.set(l, what);
        }
      }
    assert.equal(keys.size, NAMES.length * 2000);
    // seed + id used to make seed 1 of one stream seed 0 of another: here neither the seeds nor the names shift
    assert.notEqual(streamKey(1, 'kmeans.init'), streamKey(0, 'eval.real-rows'));
    assert.notEqual(streamKey(17, 'sample.noise'), streamKey(0, 'kmeans.init'));
  });

  test('positions are part of the key: epochs and restarts of one stream differ, and from other seeds', () => {
    const keys = new Set<bigint>();
    for (let seed = 0; seed < 50; seed++)
      for (let epoch = 0; epoch < 50; epoch++) {
        keys.add(streamKey(seed, 'loader.order', epoch));
        for (let start = 0; start < 4; start++) keys.add(streamKey(seed, 'loader.flips', epoch, start * 32));
      }
    assert.equal(keys.size, 50 * 50 * 5);
    // (seed 0, position 1) is neither (seed 1) nor (seed 0, positions 0, 1) nor (seed 1, position 0)
    const k = streamKey(0, 'loader.flips', 1);
    for (const other of [
      streamKey(1, 'loader.flips'),
      streamKey(0, 'loader.flips', 0, 1),
      streamKey(1, 'loader.flips', 0),
    ])
      assert.notEqual(k, other);
  });

  test('a key is a fixed function of (seed, name, position), and a bad seed is refused', () => {
    assert.equal(streamKey(7, 'scenes.canvas', 3), streamKey(7, 'scenes.canvas', 3));
    const a = hostRng(5, 'kmeans.init', 2).permutation(20);
    assert.deepEqual(hostRng(5, 'kmeans.init', 2).permutation(20), a);
    assert.notDeepEqual(hostRng(5, 'kmeans.init', 3).permutation(20), a);
    assert.deepEqual(Rng.fromKey(streamKey(5, 'kmeans.init', 2)).permutation(20), a);
    assert.throws(() => streamKey(-1, 'kmeans.init'), /non-negative integer/);
    assert.throws(() => streamKey(0.5, 'kmeans.init'), /non-negative integer/);
  });

  test('the two noise streams of one seed draw different noise', () => {
    const a = torch.randn([64], { generator: torch.streamGenerator(0, 'sample.noise') });
    const b = torch.randn([64], { generator: torch.streamGenerator(0, 'diffusion-features.noise') });
    const c = torch.randn([64], { generator: torch.streamGenerator(0, 'sample.noise') });
    assert.ok(a.sub(b).abs().max().item() > 0.1);
    assert.equal(a.sub(c).abs().max().item(), 0);
    for (const t of [a, b, c]) t.dispose();
  });
});
