// `hukuk parity` on every committed T5 fixture (tests/fixtures/t5/*): our CPU engine against
// transformers 5.17 + peft 0.21 goldens, at issue 4's CPU tolerances. Also checks that a broken
// golden is caught (the harness can fail).
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkFixture, fixtureDirs, loadParityEngine, relError, run } from '../../main/cli/commands/parity';
import { parseSafetensors } from '../../common/formats/safetensors';

const fixtures = resolve(__dirname, '../fixtures/t5');
const engine = loadParityEngine();
const dirs = fixtureDirs(fixtures);
const tmp = mkdtempSync(join(tmpdir(), 'hukuk-parity-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('parity fixtures', () => {
  it('has the six configurations', () => {
    expect(dirs.map((d) => d.split('/').pop())).toEqual([
      'buckets8',
      'gated_gelu_untied',
      'gated_silu',
      'padding',
      'relu_tied',
      'unequal_depth',
    ]);
  });

  for (const dir of dirs) {
    it(`passes on ${dir.split('/').pop()}`, async () => {
      const r = await checkFixture(engine, dir, 'cpu', 'fp32');
      expect(r.error).toBeUndefined();
      const names = r.checks.map((c) => c.name);
      for (const n of ['base_logits', 'base_loss', 'logits', 'loss', 'qlora_logits', 'qlora_loss', 'greedy_ids', 'beam4_ids'])
        expect(names).toContain(n);
      expect(names.some((n) => n.startsWith('grads'))).toBe(true);
      for (const c of r.checks) {
        expect(c.skipped, c.name).toBeUndefined();
        expect(c.ok, `${c.name}: ${c.value} > ${c.tol} ${c.detail ?? ''}`).toBe(true);
      }
      expect(r.ok).toBe(true);
    });
  }
});

describe('parity harness', () => {
  it('relError is the relative L2 norm', () => {
    expect(relError([1, 2, 2], [1, 2, 2])).toBe(0);
    expect(relError([0, 0, 0], [3, 0, 4])).toBeCloseTo(1, 12);
    expect(relError([3, 0, 4.5], [3, 0, 4])).toBeCloseTo(0.1, 12);
    expect(relError([1], [1, 2])).toBe(Number.POSITIVE_INFINITY);
  });

  it('fails when a golden is perturbed beyond tolerance', async () => {
    const src = join(fixtures, 'relu_tied');
    const dst = join(tmp, 'relu_tied_bad');
    cpSync(src, dst, { recursive: true });
    const file = join(dst, 'goldens.safetensors');
    const bytes = readFileSync(file);
    const h = parseSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
    const t = h.tensors.find((x) => x.name === 'logits')!;
    const f = new Float32Array(bytes.buffer, bytes.byteOffset + t.begin, (t.end - t.begin) / 4);
    f[0] += 0.05 * Math.max(...Array.from(f, Math.abs)); // a small change, far above 1e-5 relative
    writeFileSync(file, bytes);
    const r = await checkFixture(engine, dst, 'cpu', 'fp32');
    const logits = r.checks.find((c) => c.name === 'logits')!;
    expect(logits.ok).toBe(false);
    expect(r.ok).toBe(false);
    // the other checks are untouched
    expect(r.checks.find((c) => c.name === 'base_logits')!.ok).toBe(true);
  });

  it('the CLI exits 0 on the fixtures and 1 on a broken one, with --json', async () => {
    const out: string[] = [];
    const ctx = { dataDir: tmp, stdout: (l: string) => out.push(l), stderr: (l: string) => out.push(l) };
    expect(await run([join(fixtures, 'padding'), '--json'], ctx)).toBe(0);
    const rep = JSON.parse(out[out.length - 1]);
    expect(rep.ok).toBe(true);
    expect(rep.fixtures[0].checks.length).toBeGreaterThan(8);
    const bad = join(tmp, 'relu_tied_bad');
    expect(await run([bad], ctx)).toBe(1);
    expect(await run([join(tmp, 'nowhere')], ctx)).toBe(2);
  });

  it('reports a model that cannot be loaded as a failure naming the problem', async () => {
    const dst = join(tmp, 'missing_tensor');
    cpSync(join(fixtures, 'relu_tied'), dst, { recursive: true });
    copyFileSync(join(fixtures, 'gated_silu', 'model', 'model.safetensors'), join(dst, 'model', 'model.safetensors'));
    const r = await checkFixture(engine, dst, 'cpu', 'fp32');
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/ENGINE_CORRUPT: .*'(.*)'/);
  });
});
