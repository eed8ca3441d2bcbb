// A small seeded PRNG for host-side choices (shuffles, subsets, flips) that must not depend on
// libtorch's generator state: splitmix64 seeding into xoshiro128**.
export class Rng {
  private s: Uint32Array;

  constructor(...seeds: number[]) {
    let x = 0x9e3779b97f4a7c15n;
    for (const s of seeds) x = (x ^ BigInt.asUintN(64, BigInt(Math.floor(s)))) * 0xbf58476d1ce4e5b9n;
    this.s = Rng.state(x);
  }

  /** A generator whose SplitMix64 seeding starts from a 64-bit key (util/streams.ts's stream keys). */
  static fromKey(key: bigint): Rng {
    const r = new Rng();
    r.s = Rng.state(key);
    return r;
  }

  /** xoshiro128**'s four words from SplitMix64 started at x (never all zero). */
  private static state(start: bigint): Uint32Array {
    let x = start;
    const next = () => {
      x = BigInt.asUintN(64, x + 0x9e3779b97f4a7c15n);
      let z = x;
      z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
      z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
      return Number(BigInt.asUintN(32, z ^ (z >> 31n)));
    };
    const s = new Uint32Array([next(), next(), next(), next()]);
    if (s.every((v) => v === 0)) s[0] = 1;
    return s;
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** A uniformly random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i]!;
      p[i] = p[j]!;
      p[j] = t;
    }
    return p;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
