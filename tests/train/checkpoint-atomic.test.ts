// Checkpoint folders are replaced atomically: a failed replacement keeps the old one, and a
// replacement interrupted between its two renames is repaired on the next write.
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { writeDirAtomically } from '../../worker/trainer/checkpoint';

describe('writeDirAtomically', () => {
  it('keeps the old folder when filling the new one fails', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hukuk-ckpt-'));
    const dest = join(dir, 'adapter');
    writeDirAtomically(dest, (tmp) => writeFileSync(join(tmp, 'w.txt'), 'v1'));
    expect(() =>
      writeDirAtomically(dest, () => {
        throw new Error('disk full');
      }),
    ).toThrow('disk full');
    expect(readFileSync(join(dest, 'w.txt'), 'utf8')).toBe('v1');
  });

  it('brings back a folder left moved aside by a killed process', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hukuk-ckpt-'));
    const dest = join(dir, 'adapter');
    writeDirAtomically(dest, (tmp) => writeFileSync(join(tmp, 'w.txt'), 'v1'));
    // Simulate a kill after the first rename: only adapter.old-<pid> remains.
    renameSync(dest, `${dest}.old-99999`);
    expect(existsSync(dest)).toBe(false);
    // The next write first repairs, then replaces, so v2 lands and nothing is stranded.
    writeDirAtomically(dest, (tmp) => writeFileSync(join(tmp, 'w.txt'), 'v2'));
    expect(readFileSync(join(dest, 'w.txt'), 'utf8')).toBe('v2');
    expect(existsSync(`${dest}.old-99999`)).toBe(false);
  });
});
