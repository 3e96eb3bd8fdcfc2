// A small seeded PRNG (SplitMix32-style mixing over a 32-bit counter) whose whole state is a
// number, so shuffles are reproducible and a checkpoint can store where it stood. Not for
// cryptography. Streams derived from (seed, purpose, index) never need stored state at all.

/** Mixes a 32-bit value (the finaliser of MurmurHash3 / SplitMix). */
export function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** A seed for a sub-stream, e.g. deriveSeed(seed, 'epoch', 3). */
export function deriveSeed(seed: number, ...parts: (number | string)[]): number {
  let h = mix32(seed >>> 0);
  for (const p of parts) {
    if (typeof p === 'number') h = mix32(h ^ mix32((p >>> 0) + 0x9e3779b9));
    else for (let i = 0; i < p.length; i++) h = mix32(h ^ (p.charCodeAt(i) + 0x7f4a7c15));
  }
  return h;
}

export class SeededRng {
  constructor(private state: number) {
    this.state >>>= 0;
  }
  /** Uniform 32-bit integer. */
  nextU32(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    return mix32(this.state);
  }
  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }
  /** Uniform integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** A random permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): number[] {
    const p = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.below(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }
  get snapshot(): number {
    return this.state;
  }
}
