// Seeded random split: the same seed and ratio give the same split on every machine
// (mulberry32 + Fisher-Yates; Math.random is never used).

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Indices 0..n-1 shuffled with `seed`. */
export function shuffledIndices(n: number, seed: number): number[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  const rnd = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    const t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
  return idx;
}

/**
 * Splits n rows: `ratio` of them (rounded, at least 1 when n >= 2 and ratio > 0) go to the
 * held-out part; the rest to train. Both index lists come back in original order.
 */
export function seededSplit(n: number, ratio: number, seed: number): { train: number[]; heldOut: number[] } {
  if (!(ratio >= 0 && ratio < 1)) throw new Error(`split ratio must be in [0, 1), got ${ratio}`);
  let k = Math.round(n * ratio);
  if (ratio > 0 && n >= 2 && k === 0) k = 1;
  const order = shuffledIndices(n, seed);
  const held = order.slice(0, k).sort((a, b) => a - b);
  const heldSet = new Set(held);
  const train: number[] = [];
  for (let i = 0; i < n; i++) if (!heldSet.has(i)) train.push(i);
  return { train, heldOut: held };
}
