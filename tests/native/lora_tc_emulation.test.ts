// ops/lora_tc's tensor-core LoRA kernels, checked without a GPU: tools/lora_tc_emulation compiles
// the very kernels lora_tc.cu builds (native/src/ops/lora_tc_kernels.cuh) for the host, with each
// CUDA thread a std::thread and mma.sync emulated from the PTX fragment layouts, and compares
// lora_down, lora_backward (gA, dx), lora_up_add and lora_up_backward (dh, gB) with the CPU
// reference (ops/lora.cpp) at 1e-5 of the output's largest magnitude (lora_backward_group too:
// members 1 and 3, the in-kernel split reduce and its ticket reset; lora_down_group: each h_i
// bit for bit down_kernel's): dropout on and off,
// accumulate on and off, several row splits and member counts. A wrong fragment index or a
// missing lo term fails it (tried). The same kernels' GPU test is tests/native/cuda_lora_tc.test.ts.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '../..');
const gxx = spawnSync('g++', ['--version']).status === 0;

describe.skipIf(!gxx)('ops/lora_tc kernels in a host emulation of the warp', () => {
  it('equal the CPU reference (emu quick: rows 1, 37, 300; widths 64, 128; n 1 and 3)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hukuk-lora-tc-emu-'));
    try {
      const exe = join(dir, 'emu');
      execFileSync('g++', ['-O2', '-std=c++17', '-pthread', '-Inative/src', '-Itools/lora_tc_emulation',
        'tools/lora_tc_emulation/emu.cpp', 'native/src/ops/lora.cpp', '-o', exe], { cwd: root, stdio: 'pipe' });
      // run asynchronously: a synchronous wait of a minute or more starves vitest's worker RPC
      // ('Timeout calling onTaskUpdate') on a loaded machine
      const r = await new Promise<{ stdout: string; status: number | null }>((done) => {
        const child = spawn(exe, ['quick']);
        let stdout = '';
        child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
        child.on('close', (status) => done({ stdout, status }));
      });
      const lines = r.stdout.trim().split('\n');
      expect(lines.filter((l) => l.endsWith(' ok')).length).toBeGreaterThan(150);
      expect(lines.filter((l) => l.includes('FAIL'))).toEqual([]);
      expect(lines.at(-1)).toBe('all ok (0 failures)');
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);
});
