// Pure batching logic: truncation, length grouping, dynamic padding, seeded splits, config rules.
import { describe, expect, it } from 'vitest';
import {
  chunk,
  collate,
  epochOrder,
  IGNORE_INDEX,
  lengthGroupedOrder,
  paddingFraction,
  plannedSteps,
  prepareExamples,
  resolveTrainingConfig,
  SeededRng,
  splitIndices,
  TrainingConfigSchema,
  warmupUpdates,
} from '../../common/training';

describe('batching', () => {
  it('truncates to the max lengths and keeps the final </s>', () => {
    const [e] = prepareExamples([{ inputIds: [5, 6, 7, 8, 1], labels: [9, 10, 1] }], 3, 8);
    expect(Array.from(e.inputIds)).toEqual([5, 6, 1]);
    expect(Array.from(e.labels)).toEqual([9, 10, 1]);
    const [f] = prepareExamples([{ inputIds: [5, 6, 7, 8], labels: [9] }], 3, 8);
    expect(Array.from(f.inputIds)).toEqual([5, 6, 7]); // no </s> to keep
  });

  it('pads each batch to its own longest row; labels pad with -100', () => {
    const b = collate([
      { inputIds: [3, 4, 1], labels: [7, 1] },
      { inputIds: [5, 1], labels: [8, 9, 10, 1] },
    ]);
    expect([b.batch, b.srcLen, b.tgtLen]).toEqual([2, 3, 4]);
    expect(Array.from(b.inputIds)).toEqual([3, 4, 1, 5, 1, 0]);
    expect(Array.from(b.attentionMask)).toEqual([1, 1, 1, 1, 1, 0]);
    expect(Array.from(b.labels)).toEqual([7, 1, IGNORE_INDEX, IGNORE_INDEX, 8, 9, 10, 1]);
    expect(b.realTokens).toBe(11);
    expect(b.labelTokens).toBe(6);
  });

  it('length grouping is a permutation, sorted within megabatches, longest row first', () => {
    const r = new SeededRng(1);
    const lengths = Array.from({ length: 1000 }, () => 5 + r.below(200));
    const order = lengthGroupedOrder(lengths, 4, new SeededRng(9));
    expect([...order].sort((a, b) => a - b)).toEqual(lengths.map((_, i) => i));
    expect(lengths[order[0]]).toBe(Math.max(...lengths));
    // megabatch = min(1000 / 16, 50) * 4 = 200 rows, sorted descending (except the swapped head)
    for (let m = 0; m < 1000; m += 200) {
      for (let i = m + 2; i < m + 200; i++) expect(lengths[order[i - 1]]).toBeGreaterThanOrEqual(lengths[order[i]]);
    }
    const grouped = paddingFraction(lengths.map((l) => ({ inputIds: new Array(l), labels: [1] })), chunk(order, 4));
    const random = paddingFraction(
      lengths.map((l) => ({ inputIds: new Array(l), labels: [1] })),
      chunk(new SeededRng(9).permutation(1000), 4),
    );
    expect(grouped).toBeLessThan(random / 3);
  });

  it('epoch orders depend only on (seed, epoch)', () => {
    const lengths = Array.from({ length: 50 }, (_, i) => (i * 37) % 11);
    expect(epochOrder(lengths, 4, 42, 0, true)).toEqual(epochOrder(lengths, 4, 42, 0, true));
    expect(epochOrder(lengths, 4, 42, 1, true)).not.toEqual(epochOrder(lengths, 4, 42, 0, true));
    expect(epochOrder(lengths, 4, 43, 0, false)).not.toEqual(epochOrder(lengths, 4, 42, 0, false));
  });

  it('splits rows reproducibly and disjointly', () => {
    const s = splitIndices(100, 0.1, 42);
    expect(s.validation.length).toBe(10);
    expect(new Set([...s.train, ...s.validation]).size).toBe(100);
    expect(splitIndices(100, 0.1, 42)).toEqual(s);
    expect(splitIndices(5, 0, 1).validation).toEqual([]);
  });
});

describe('training config', () => {
  it('fills defaults and enforces the rules', () => {
    const c = resolveTrainingConfig({ loraR: 8 }, { learningRate: 1e-3 });
    expect(c.loraR).toBe(8);
    expect(c.learningRate).toBe(1e-3);
    expect(c.loraAlpha).toBe(32);
    expect(c.lrScheduler).toBe('linear');
    expect(TrainingConfigSchema.safeParse({ compute: 'bf16', device: 'cpu' }).success).toBe(false);
    expect(TrainingConfigSchema.safeParse({ targetModules: ['q', 'q'] }).success).toBe(false);
    expect(TrainingConfigSchema.safeParse({ targetModules: ['x'] }).success).toBe(false);
    expect(TrainingConfigSchema.safeParse({ learningRate: 0 }).success).toBe(false);
    expect(TrainingConfigSchema.safeParse({ bogus: 1 }).success).toBe(false);
  });

  it('plans updates like transformers (ceil per epoch, max steps wins) and warm-up from a ratio', () => {
    const c = resolveTrainingConfig({ batchSize: 16, gradientAccumulationSteps: 2, numEpochs: 3 });
    expect(plannedSteps(c, 1350)).toEqual({ microBatchesPerEpoch: 85, updatesPerEpoch: 43, totalUpdates: 129 });
    expect(plannedSteps({ ...c, maxSteps: 10 }, 1350).totalUpdates).toBe(10);
    expect(warmupUpdates({ warmupSteps: 0, warmupRatio: 0.1 }, 129)).toBe(13);
    expect(warmupUpdates({ warmupSteps: 5, warmupRatio: 0.1 }, 129)).toBe(5);
  });
});
