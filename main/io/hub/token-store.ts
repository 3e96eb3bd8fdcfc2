// Where the Hub token lives. The CLI and the server take it from --token or the
// environment (HF_TOKEN, as huggingface_hub does); the desktop app keeps it encrypted with
// the OS keychain (Electron safeStorage, see token-store-safe-storage.ts, which only
// main/app.ts wires up). The token is never written to logs or error messages (see redact).
export interface TokenStore {
  get(): Promise<string | undefined>;
  set(token: string | undefined): Promise<void>;
  /** Whether a token is stored, without revealing it (for the settings page). */
  has(): Promise<boolean>;
}

export class EnvTokenStore implements TokenStore {
  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}
  async get(): Promise<string | undefined> {
    const t = this.env.HF_TOKEN ?? this.env.HUGGING_FACE_HUB_TOKEN;
    return t && t.trim() ? t.trim() : undefined;
  }
  async set(): Promise<void> {
    throw new Error('the environment token is read-only; set HF_TOKEN instead');
  }
  async has(): Promise<boolean> {
    return (await this.get()) !== undefined;
  }
}

export class MemoryTokenStore implements TokenStore {
  constructor(private token?: string) {}
  async get(): Promise<string | undefined> {
    return this.token;
  }
  async set(token: string | undefined): Promise<void> {
    this.token = token;
  }
  async has(): Promise<boolean> {
    return this.token !== undefined;
  }
}

/** An explicit token wins; then the store; then nothing (public repositories). */
export async function resolveToken(explicit: string | undefined, store?: TokenStore): Promise<string | undefined> {
  if (explicit && explicit.trim()) return explicit.trim();
  return store ? store.get() : undefined;
}
