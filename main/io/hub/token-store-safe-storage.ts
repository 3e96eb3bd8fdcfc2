// The desktop app's token store: the token encrypted with Electron's safeStorage (the OS
// keychain: Keychain on macOS, DPAPI on Windows, libsecret/kwallet on Linux) in
// <data>/hub-token.bin. main/app.ts passes `safeStorage` in, so this module does not import
// electron and the CLI never loads it.
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TokenStore } from './token-store';

/** The part of Electron's safeStorage this store uses. */
export interface SafeStorageLike {
  isEncryptionAvailable(): boolean;
  encryptString(plain: string): Buffer;
  decryptString(encrypted: Buffer): string;
}

export class SafeStorageTokenStore implements TokenStore {
  private readonly file: string;
  constructor(
    private readonly safeStorage: SafeStorageLike,
    dataDir: string,
  ) {
    this.file = join(dataDir, 'hub-token.bin');
  }

  async get(): Promise<string | undefined> {
    let enc: Buffer;
    try {
      enc = await readFile(this.file);
    } catch {
      return undefined;
    }
    if (!this.safeStorage.isEncryptionAvailable()) return undefined;
    try {
      return this.safeStorage.decryptString(enc) || undefined;
    } catch {
      return undefined; // another user's or machine's keychain: as if none were stored
    }
  }

  async set(token: string | undefined): Promise<void> {
    if (!token) {
      await rm(this.file, { force: true });
      return;
    }
    if (!this.safeStorage.isEncryptionAvailable()) {
      // Never fall back to plain text on disk.
      throw new Error('The OS keychain is not available, so the token cannot be stored safely; set HF_TOKEN instead.');
    }
    await writeFile(this.file, this.safeStorage.encryptString(token), { mode: 0o600 });
  }

  async has(): Promise<boolean> {
    return (await this.get()) !== undefined;
  }
}
