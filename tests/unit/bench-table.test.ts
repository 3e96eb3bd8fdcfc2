// bench/gpu/table.mjs on result files written here: one row per shape and variant with the
// ratios and the target verdicts, the generation row against the 3 ms/token target, and the
// older result files (no variants, no generation) still giving a table.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = mkdtempSync(join(tmpdir(), 'hukuk-bench-table-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const table = (dir: string, prefix?: string) => execFileSync(process.execPath, ['bench/gpu/table.mjs', dir, ...(prefix ? [prefix] : [])], { encoding: 'utf8' });
const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
const row = (md: string, start: string) => md.split('\n').find((l) => l.startsWith(start)) ?? '';

describe('bench/gpu/table.mjs', () => {
  it('writes shape, variant, ours, baseline, ratios and target verdicts; generation against 3 ms/token', () => {
    const dir = join(root, 'new');
    execFileSync('mkdir', ['-p', dir]);
    const t = (tag: string, shape: string, sps: number, ms: number, gib: number) => {
      const [bs, src, tgt] = shape.split('x').map(Number);
      return { kind: 'train', tag, shape, bs, src, tgt, samples_per_s: sps, ms_per_step: ms, peak_gib: gib, x_floor: 2, floor_ms: 5 };
    };
    writeFileSync(join(dir, 'meta.txt'), 'NVIDIA H100 80GB HBM3, 580.1, 81559 MiB\n2026-11-28T01:00Z\n');
    writeFileSync(join(dir, 'ours.jsonl'), jsonl([t('default', '16x64x128', 700, 22.9, 2.5), t('default', '16x512x512', 100, 160, 30)]));
    writeFileSync(
      join(dir, 'variants.jsonl'),
      jsonl([
        t('recompute', '16x64x128', 500, 32, 1.5),
        t('recompute', '16x512x512', 80, 200, 12),
        t('flash_off', '16x64x128', 600, 26.7, 2.6),
        { kind: 'train', tag: 'flash_off', shape: '16x512x512', error: 'out of GPU memory | needed 9 MiB' },
        t('no_graphs', '16x64x128', 650, 24.6, 2.5), // another experiment: its own row
      ]),
    );
    writeFileSync(
      join(dir, 'gen.jsonl'),
      jsonl([
        { kind: 'generate', what: 'setup', gpu: 'NVIDIA H100', quant: 'nf4', compute: 'fp32', lora_B_nonzero: '288/288' },
        { kind: 'generate', what: 'check', rel_err_per_step: [1e-6, 2e-6], argmax_equal: '2/2' },
        { kind: 'generate', what: 'greedy', batch: 1, new_tokens: 128, ms_per_token: 2.5, ms_total: 384, tokens_per_s: 400 },
        { kind: 'generate', what: 'beam 4', batch: 1, new_tokens: 128, ms_per_token: 2.9, ms_total: 420 },
        { kind: 'generate', what: 'greedy batched', batch: 16, new_tokens: 64, ms_per_token: 4, ms_total: 300, tokens_per_s: 4000 },
      ]),
    );
    writeFileSync(
      join(dir, 'baseline.jsonl'),
      'Loading weights: 100%\n' +
        jsonl([
          { note: "bitsandbytes unavailable: No module named 'bitsandbytes'" },
          { kind: 'train', mode: 'lora_bf16', bs: 16, src: 64, tgt: 128, samples_per_s: 25, ms_per_step: 640, peak_gib: 9 },
          { kind: 'train', mode: 'lora_bf16', bs: 16, src: 512, tgt: 512, samples_per_s: 25, ms_per_step: 640, peak_gib: 60 },
          { kind: 'generate', mode: 'lora_bf16', new_tokens: 128, ms_per_token: 80 },
        ]),
    );
    const md = table(dir);
    expect(md).toMatch(/^Card and date: NVIDIA H100 80GB HBM3, 580.1, 81559 MiB; 2026-11-28T01:00Z\./);
    expect(row(md, '| 16 × 64 × 128 | default |')).toBe('| 16 × 64 × 128 | default | 700 | 22.9 | 2.5 | 25 | 640 | 9 | 28.00× | 0.28 | yes |');
    expect(row(md, '| 16 × 64 × 128 | recompute |')).toMatch(/\| 20\.00× \| 0\.17 \| yes \|$/);
    expect(row(md, '| 16 × 64 × 128 | fused attention off |')).toMatch(/\| 24\.00× \| 0\.29 \| yes \|$/);
    expect(row(md, '| 16 × 512 × 512 | default |')).toMatch(/\| 4\.00× \| 0\.50 \| no \(speed 4\.0× < 8×, memory 0\.50 > 0\.33\) \|$/);
    expect(row(md, '| 16 × 512 × 512 | recompute |')).toMatch(/\| 3\.20× \| 0\.20 \| no \(speed 3\.2× < 8×\) \|$/);
    expect(row(md, '| 16 × 512 × 512 | fused attention off |')).toMatch(/error: out of GPU memory \/ needed 9 MiB/);
    // steady 2.5 ms/token, end to end 384 / 128 = 3 ms/token (as the baseline measures): 80 / 3
    expect(row(md, '| batch 1, greedy, 128 new tokens |')).toBe('| batch 1, greedy, 128 new tokens | 2.5 | 3 | 80 | 26.7× | yes |');
    // beam search and a batched row are shown but not compared with the batch-1 greedy baseline
    expect(row(md, '| batch 1, beam 4,')).toBe('| batch 1, beam 4, 128 new tokens | 2.9 | 3.281 | — | — | — |');
    expect(row(md, '| batch 16,')).toBe('| batch 16, greedy batched, 64 new tokens | 4 (4000 tokens/s) | 4.688 | — | — | — |');
    expect(md).toMatch(/- generation setup: NVIDIA H100, quant nf4, compute fp32, LoRA B non-zero 288\/288/);
    expect(md).toMatch(/- generation check, GPU step vs the CPU graph .*argmax equal 2\/2/);
    expect(row(md, '| 16 × 64 × 128 | no_graphs (experiment) |')).toMatch(/\| 650 \| 24\.6 \|/);
    expect(md).not.toMatch(/not in these results/);
    expect(md.split('\n').filter((l) => l.startsWith('| 16 × 512 × 512 |'))).toHaveLength(3);
  });

  it('reads the archived results of 2026-11-27 (no variants, no GPU generation) by prefix', () => {
    const md = table('bench/gpu/results', 'h200-2026-11-27-2338-');
    expect(row(md, '| 16 × 64 × 128 | default |')).toBe(
      '| 16 × 64 × 128 | default | 187.37 | 85.39 | 7.202 | 33.49 | 477.79 | 8.559 | 5.59× | 0.84 | no (speed 5.6× < 20×, memory 0.84 > 0.33) |',
    );
    expect(row(md, '| 16 × 64 × 128 | no_graphs (experiment) |')).toMatch(/\| 159\.13 \|/);
    expect(row(md, '| batch 1, greedy, 128 new tokens |')).toBe('| batch 1, greedy, 128 new tokens | not measured | | 76.862 | — | — |');
    expect(md).toMatch(/- not in these results: recompute, fused attention off/);
  });

  it('says so when a stage was skipped for time', () => {
    const dir = join(root, 'skipped');
    execFileSync('mkdir', ['-p', dir]);
    writeFileSync(join(dir, 'ours.jsonl'), jsonl([{ kind: 'train', tag: 'default', shape: '8x512x512', bs: 8, src: 512, tgt: 512, samples_per_s: 40, ms_per_step: 200, peak_gib: 10 }]));
    writeFileSync(join(dir, 'variants.jsonl'), jsonl([{ kind: 'train', tag: 'flash_off', shape: 'all', error: 'skipped: variants had no time left in the 530 s budget' }]));
    writeFileSync(join(dir, 'gen.jsonl'), jsonl([{ kind: 'generate', error: 'bench/gpu/gen_bench.mjs is missing' }]));
    writeFileSync(join(dir, 'notes.jsonl'), jsonl([{ kind: 'note', note: 'train_bench (default) was stopped by its 120 s timeout: its later lines are missing' }]));
    writeFileSync(join(dir, 'baseline.jsonl'), jsonl([{ kind: 'train', mode: 'lora_bf16', bs: 16, src: 512, tgt: 512, samples_per_s: 25, ms_per_step: 640, peak_gib: 60 }]));
    const md = table(dir);
    // the shape the timeout cut from ours still has its row, with the baseline's figures
    expect(row(md, '| 16 × 512 × 512 | default |')).toBe('| 16 × 512 × 512 | default | not run | | | 25 | 640 | 60 | — | — | — |');
    expect(md).toMatch(/- train_bench \(default\) was stopped by its 120 s timeout/);
    expect(row(md, '| 8 × 512 × 512 | default |')).toBe('| 8 × 512 × 512 | default | 40 | 200 | 10 | — | — | — | — | — | — |');
    expect(md).toMatch(/- flash_off: skipped: variants had no time left/);
    expect(row(md, '| batch 1, greedy')).toMatch(/\| bench\/gpu\/gen_bench\.mjs is missing \| \| — \|/);
  });

  it('the 3 ms target holds on both definitions, or says that only the steady figure meets it', () => {
    const dir = join(root, 'gen-only');
    execFileSync('mkdir', ['-p', dir]);
    const gen = (ms: number, total: number) => writeFileSync(join(dir, 'gen.jsonl'), jsonl([{ kind: 'generate', what: 'greedy', batch: 1, new_tokens: 128, ms_per_token: ms, ms_total: total }]));
    gen(2.8, 400);
    expect(row(table(dir), '| batch 1, greedy, 128 new tokens |')).toBe('| batch 1, greedy, 128 new tokens | 2.8 | 3.125 | — | — | steady only (end to end 3.125) |');
    gen(3.5, 460);
    expect(row(table(dir), '| batch 1, greedy, 128 new tokens |')).toMatch(/\| no \(3\.5 > 3\) \|$/);
  });
});
