import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EnvTokenStore, MemoryTokenStore, resolveToken } from '../../main/io/hub/token-store';
import { SafeStorageTokenStore, type SafeStorageLike } from '../../main/io/hub/token-store-safe-storage';

const dir = mkdtempSync(join(tmpdir(), 'hukuk-token-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Stands in for Electron's safeStorage: a reversible transform that is not the plain text.
function fakeSafeStorage(available = true): SafeStorageLike {
  return {
    isEncryptionAvailable: () => available,
    encryptString: (s) => Buffer.from([...Buffer.from(s, 'utf8')].map((b) => b ^ 0x5a)),
    decryptString: (b) => Buffer.from([...b].map((x) => x ^ 0x5a)).toString('utf8'),
  };
}

describe('Hub token stores', () => {
  it('keeps the token encrypted on disk with safeStorage, and removes it', async () => {
    const store = new SafeStorageTokenStore(fakeSafeStorage(), dir);
    expect(await store.get()).toBeUndefined();
    await store.set('hf_abcdefghijklmnop');
    expect(await store.get()).toBe('hf_abcdefghijklmnop');
    expect(await store.has()).toBe(true);
    expect(readFileSync(join(dir, 'hub-token.bin')).toString('utf8')).not.toContain('hf_abcdefghijklmnop');
    await store.set(undefined);
    expect(await store.has()).toBe(false);
  });

  it('refuses to store a token when the keychain is unavailable (never plain text)', async () => {
    const store = new SafeStorageTokenStore(fakeSafeStorage(false), join(dir));
    await expect(store.set('hf_abcdefghijklmnop')).rejects.toThrow(/keychain is not available/);
  });

  it('reads HF_TOKEN from the environment; an explicit token wins', async () => {
    const env = new EnvTokenStore({ HF_TOKEN: ' hf_fromEnv12345678 ' });
    expect(await env.get()).toBe('hf_fromEnv12345678');
    expect(await resolveToken(undefined, env)).toBe('hf_fromEnv12345678');
    expect(await resolveToken('hf_explicit', env)).toBe('hf_explicit');
    expect(await resolveToken(undefined, new EnvTokenStore({}))).toBeUndefined();
    expect(await resolveToken(undefined, new MemoryTokenStore('m'))).toBe('m');
  });
});
