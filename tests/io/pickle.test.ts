import { describe, expect, it } from 'vitest';
import { AppError } from '../../common/contract/errors';
import { unpickle } from '../../common/formats/pickle';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTorchStateDict, TorchBinFile } from '../../main/io/models/torch-bin';
import { contiguousStride, pickleStateDict, storedZip } from './models-builders';

const enc = (s: string) => [...new TextEncoder().encode(s)];

function refusal(bytes: Uint8Array): AppError {
  try {
    parseTorchStateDict(bytes, 'data.pkl');
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    return e as AppError;
  }
  throw new Error('expected the pickle to be refused');
}

describe('pickle VM (weights-only)', () => {
  it('reads a torch-style state dict: storages, offsets, strides, shared storages, BUILD of _metadata', () => {
    const pkl = pickleStateDict([
      { name: 'shared.weight', storageKey: '0', storageType: 'FloatStorage', storageNumel: 12, offset: 0, shape: [3, 4], stride: [4, 1] },
      { name: 'lm_head.weight', storageKey: '0', storageType: 'FloatStorage', storageNumel: 12, offset: 0, shape: [3, 4], stride: [4, 1] },
      { name: 'half', storageKey: '1', storageType: 'HalfStorage', storageNumel: 70000, offset: 5, shape: [2, 3, 5], stride: contiguousStride([2, 3, 5]) },
      { name: 'bf', storageKey: '2', storageType: 'BFloat16Storage', storageNumel: 8, offset: 0, shape: [2, 4], stride: [1, 2] },
    ]);
    const sd = parseTorchStateDict(pkl, 'data.pkl');
    expect([...sd.keys()]).toEqual(['shared.weight', 'lm_head.weight', 'half', 'bf']);
    expect(sd.get('shared.weight')!.storage).toBe(sd.get('lm_head.weight')!.storage);
    expect(sd.get('half')).toMatchObject({ storageOffset: 5, shape: [2, 3, 5], stride: [15, 5, 1], storage: { key: '1', dtype: 'F16', numel: 70000 } });
    expect(sd.get('bf')).toMatchObject({ stride: [1, 2], storage: { dtype: 'BF16' } });
  });

  it('refuses GLOBAL os.system + REDUCE, naming os.system, before anything is called', () => {
    // cos\nsystem\n (S'echo pwned'\ntR.  — the classic; in protocol 2 with BINUNICODE
    const hostile = Uint8Array.from([0x80, 2, 0x63, ...enc('os\nsystem\n'), 0x58, 10, 0, 0, 0, ...enc('echo pwned'), 0x85, 0x52, 0x2e]);
    const e = refusal(hostile);
    expect(e.code).toBe('corrupt_file');
    expect(e.message).toContain('os.system');
    // as CPython actually pickles os.system on Linux
    expect(refusal(Uint8Array.from([0x80, 2, 0x63, ...enc('posix\nsystem\n'), 0x29, 0x52, 0x2e])).message).toContain('posix.system');
  });

  it('refuses builtins.eval through STACK_GLOBAL (protocol 4) and torch.storage._load_from_bytes', () => {
    const viaStack = Uint8Array.from([0x80, 4, 0x8c, 8, ...enc('builtins'), 0x8c, 4, ...enc('eval'), 0x93, 0x8c, 1, ...enc('1'), 0x85, 0x52, 0x2e]);
    expect(refusal(viaStack).message).toContain('builtins.eval');
    const legacy = Uint8Array.from([0x80, 2, 0x63, ...enc('torch.storage\n_load_from_bytes\n'), 0x43, 1, 0, 0x85, 0x52, 0x2e]);
    expect(refusal(legacy).message).toContain('torch.storage._load_from_bytes');
  });

  it('refuses a storage type being called, opcodes off the allow-list, and a hostile BUILD', () => {
    const callStorage = Uint8Array.from([0x80, 2, 0x63, ...enc('torch\nFloatStorage\n'), 0x29, 0x52, 0x2e]);
    expect(refusal(callStorage).message).toMatch(/REDUCE on something that is not an allowed callable/);
    const inst = Uint8Array.from([0x80, 2, 0x28, 0x69, ...enc('os\nsystem\n'), 0x2e]);
    expect(refusal(inst).message).toMatch(/refused pickle opcode INST/);
    const ext = Uint8Array.from([0x80, 2, 0x82, 1, 0x2e]);
    expect(refusal(ext).message).toMatch(/EXT1/);
    // BUILD on a list (Python would call __setstate__ / update __dict__): refused
    const build = Uint8Array.from([0x80, 2, 0x5d, 0x7d, 0x62, 0x2e]);
    expect(() => unpickle(build, { resolveGlobal: () => undefined })).toThrow(/BUILD/);
  });

  it('refuses truncated pickles and non-state-dict roots', () => {
    const pkl = pickleStateDict([{ name: 'w', storageKey: '0', storageType: 'FloatStorage', storageNumel: 4, offset: 0, shape: [4], stride: [1] }]);
    expect(refusal(pkl.subarray(0, pkl.length - 10)).message).toMatch(/truncated|underflow|ends/);
    const list = Uint8Array.from([0x80, 2, 0x5d, 0x2e]);
    expect(refusal(list).code).toBe('unsupported');
  });

  it('decodes the primitive opcodes', () => {
    // [None, True, False, -2 (BININT), 300 (BININT2), 2**70 (LONG1), -1 (LONG1), 1.5, b'ab', 'ğ', memo get]
    const long70 = [0, 0, 0, 0, 0, 0, 0, 0, 0x40];
    const bytes = Uint8Array.from([
      0x80, 2, 0x5d, 0x71, 0, 0x28, 0x4e, 0x88, 0x89, 0x4a, 0xfe, 0xff, 0xff, 0xff, 0x4d, 0x2c, 0x01,
      0x8a, long70.length, ...long70, 0x8a, 1, 0xff, 0x47, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0x43, 2, 0x61, 0x62,
      0x8c, 2, 0xc4, 0x9f, 0x71, 1, 0x68, 1, 0x65, 0x2e,
    ]);
    const v = unpickle(bytes, { resolveGlobal: () => undefined }) as unknown[];
    expect(v.slice(0, 7)).toEqual([null, true, false, -2, 300, 2n ** 70n, -1]);
    expect(v[7]).toBe(1.5);
    expect([...(v[8] as Uint8Array)]).toEqual([0x61, 0x62]);
    expect(v.slice(9)).toEqual(['ğ', 'ğ']);
  });

  it('refuses a broadcast view (zero strides) naming more elements than its storage holds', async () => {
    const pkl = pickleStateDict([
      { name: 'w', storageKey: '0', storageType: 'FloatStorage', storageNumel: 1, offset: 0, shape: [1 << 20, 1 << 20], stride: [0, 0] },
    ]);
    const dir = mkdtempSync(join(tmpdir(), 'hukuk-pickle-'));
    try {
      const file = join(dir, 'pytorch_model.bin');
      writeFileSync(file, storedZip([
        { name: 'archive/data.pkl', data: pkl },
        { name: 'archive/data/0', data: new Uint8Array(4) },
      ]));
      await expect(TorchBinFile.open(file)).rejects.toThrow(/more elements than its storage/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
