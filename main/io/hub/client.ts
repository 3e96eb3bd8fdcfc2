// A small Hugging Face Hub client: list a repository's files (/api/{models,datasets}/<repo>/
// revision/<rev>?blobs=true) and download one file (/<repo>/resolve/<rev>/<path>, datasets
// under /datasets/) into <dest>.part with resume (Range), then verify its size and hash
// before renaming it into place. Offline is the default: nothing here runs unless a
// person asks to pull. The endpoint comes from the options or HF_ENDPOINT, so tests point
// it at a local server. The token never appears in an error or a log line: every message
// that leaves this module goes through `redact`.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AppError } from '../../../common/contract/errors';

export type RepoKind = 'model' | 'dataset';

export interface HubOptions {
  /** Default: $HF_ENDPOINT or https://huggingface.co */
  endpoint?: string;
  token?: string;
  /** Injected in tests; default: global fetch. */
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

export interface HubFile {
  path: string;
  size?: number;
  /** sha256 of the content, for LFS files. */
  sha256?: string;
  /** git blob sha1, for files stored in git itself. */
  blobId?: string;
}

export interface RepoListing {
  repo: string;
  kind: RepoKind;
  revision: string;
  /** The commit the revision resolved to, when the hub says. */
  sha?: string;
  files: HubFile[];
}

export function endpointOf(o: HubOptions): string {
  return (o.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
}

/** Replaces the token (and any Bearer value) in a message. */
export function redact(message: string, token?: string): string {
  let m = message.replace(/(Bearer\s+)[^\s"']+/gi, '$1***');
  if (token) m = m.split(token).join('***');
  return m.replace(/hf_[A-Za-z0-9]{8,}/g, 'hf_***');
}

const REPO_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}(\/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?$/;

export function checkRepoId(repo: string): string {
  if (!REPO_ID.test(repo) || repo.includes('..')) {
    throw new AppError('invalid_payload', `"${repo}" is not a Hugging Face repository id (owner/name)`);
  }
  return repo;
}

/** A repo file path that is safe to join under a local folder. */
export function checkRepoPath(p: string): string {
  const parts = p.split('/');
  if (!p || p.startsWith('/') || p.includes('\\') || p.includes('\0') || parts.some((s) => s === '' || s === '.' || s === '..')) {
    throw new AppError('corrupt_file', `the hub listed an unsafe file path: ${JSON.stringify(p)}`);
  }
  return p;
}

function encodePath(p: string): string {
  return p.split('/').map(encodeURIComponent).join('/');
}

async function hubFetch(url: string, o: HubOptions, headers: Record<string, string> = {}): Promise<{ res: Response; hops: Response[] }> {
  const f = o.fetch ?? fetch;
  const origin = new URL(url).origin;
  const hops: Response[] = [];
  let current = url;
  for (let i = 0; i < 6; i++) {
    const h: Record<string, string> = { ...headers, 'user-agent': 'hukuk-studio' };
    // The token goes only to the hub's own origin, never to a CDN it redirects to.
    if (o.token && new URL(current).origin === origin) h.authorization = `Bearer ${o.token}`;
    let res: Response;
    try {
      res = await f(current, { headers: h, redirect: 'manual', signal: o.signal });
    } catch (e) {
      if (o.signal?.aborted) throw new AppError('cancelled', 'The download was cancelled.');
      throw new AppError('io_error', redact(`Cannot reach ${new URL(current).origin}: ${(e as Error).message}`, o.token));
    }
    if (res.status >= 300 && res.status < 400 && res.headers.get('location')) {
      hops.push(res);
      await res.body?.cancel();
      current = new URL(res.headers.get('location')!, current).toString();
      continue;
    }
    return { res, hops };
  }
  throw new AppError('io_error', `Too many redirects for ${url}`);
}

async function failFor(res: Response, what: string, o: HubOptions): Promise<never> {
  const body = redact((await res.text().catch(() => '')).slice(0, 300), o.token);
  const detail = body ? `: ${body}` : '';
  if (res.status === 401 || res.status === 403) {
    throw new AppError('forbidden', `${what}: the hub refused access (HTTP ${res.status}). The repository may be gated or private; log in or set a token${detail}`);
  }
  if (res.status === 404) throw new AppError('not_found', `${what}: not found on the hub (HTTP 404)${detail}`);
  throw new AppError('io_error', `${what}: HTTP ${res.status}${detail}`);
}

export async function listRepoFiles(kind: RepoKind, repo: string, revision: string, o: HubOptions = {}): Promise<RepoListing> {
  checkRepoId(repo);
  const url = `${endpointOf(o)}/api/${kind}s/${repo}/revision/${encodeURIComponent(revision)}?blobs=true`;
  const { res } = await hubFetch(url, o, { accept: 'application/json' });
  if (!res.ok) await failFor(res, `${kind} ${repo}@${revision}`, o);
  let json: { sha?: unknown; siblings?: unknown };
  try {
    json = (await res.json()) as typeof json;
  } catch {
    throw new AppError('io_error', `${kind} ${repo}: the hub answered with something that is not JSON`);
  }
  if (!Array.isArray(json.siblings)) throw new AppError('io_error', `${kind} ${repo}: the hub's answer has no file list`);
  const files: HubFile[] = [];
  for (const s of json.siblings as { rfilename?: unknown; size?: unknown; blobId?: unknown; lfs?: { sha256?: unknown; size?: unknown } }[]) {
    if (typeof s.rfilename !== 'string') continue;
    const f: HubFile = { path: checkRepoPath(s.rfilename) };
    const size = s.lfs?.size ?? s.size;
    if (typeof size === 'number') f.size = size;
    if (typeof s.lfs?.sha256 === 'string' && /^[0-9a-f]{64}$/.test(s.lfs.sha256)) f.sha256 = s.lfs.sha256;
    else if (typeof s.blobId === 'string' && /^[0-9a-f]{40}$/.test(s.blobId)) f.blobId = s.blobId;
    files.push(f);
  }
  return { repo, kind, revision, sha: typeof json.sha === 'string' ? json.sha : undefined, files };
}

export interface DownloadProgress {
  file: string;
  bytesDone: number;
  bytesTotal: number | null;
  resumedFrom: number;
}

/**
 * Whether a file already on disk is the listed one: its size, and its LFS sha256 or git blob
 * sha1 when the listing has them. (The staging folder is named after the revision, e.g.
 * 'main', which can move to another commit between two pulls.)
 */
export async function matchesListing(path: string, file: HubFile, size: number): Promise<boolean> {
  if (file.size === undefined || size !== file.size) return false;
  if (file.sha256) return (await hashFile(path, 'sha256')) === file.sha256;
  if (file.blobId) return (await hashFile(path, 'sha1', `blob ${size}\0`)) === file.blobId;
  return true;
}

async function hashFile(path: string, algorithm: 'sha256' | 'sha1', prefix?: string): Promise<string> {
  const h = createHash(algorithm);
  if (prefix) h.update(prefix);
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

function unquote(etag: string | null): string | undefined {
  if (!etag) return undefined;
  return etag.replace(/^W\//, '').replace(/^"|"$/g, '');
}

/**
 * Downloads one file to `dest` (via `dest.part`, resumed when present) and verifies it:
 * the size, the LFS sha256 (from the listing, or the x-linked-etag header) or, for a file
 * kept in git, its blob sha1. On a mismatch the partial file is removed and nothing is
 * left under `dest`.
 */
export async function downloadFile(
  kind: RepoKind,
  repo: string,
  revision: string,
  file: HubFile,
  dest: string,
  o: HubOptions & { onProgress?: (p: DownloadProgress) => void } = {},
): Promise<{ bytes: number; sha256: string; resumedFrom: number }> {
  checkRepoId(repo);
  checkRepoPath(file.path);
  const part = `${dest}.part`;
  await mkdir(dirname(dest), { recursive: true });
  let have = 0;
  try {
    have = (await stat(part)).size;
  } catch {
    have = 0;
  }
  if (file.size !== undefined && have > file.size) {
    await rm(part, { force: true });
    have = 0;
  }
  const base = kind === 'dataset' ? `${endpointOf(o)}/datasets/${repo}` : `${endpointOf(o)}/${repo}`;
  const url = `${base}/resolve/${encodeURIComponent(revision)}/${encodePath(file.path)}`;
  const what = `${repo}/${file.path}`;
  let resumedFrom = have;
  let expectedSha256 = file.sha256;
  let res: Response;
  let hops: Response[];
  ({ res, hops } = await hubFetch(url, o, have > 0 ? { range: `bytes=${have}-` } : {}));
  if (res.status === 416 && have > 0) {
    // The part may already be whole (the process died after the last byte); otherwise start over.
    await res.body?.cancel();
    if (file.size !== undefined && have === file.size) {
      return finish();
    }
    await rm(part, { force: true });
    have = resumedFrom = 0;
    ({ res, hops } = await hubFetch(url, o));
  }
  if (!res.ok) await failFor(res, what, o);
  if (res.status === 200 && have > 0) {
    have = resumedFrom = 0; // the server ignored Range: write from the start
  }
  if (res.status === 206) {
    // Append only where the part ends; a server answering another range would corrupt it.
    const start = Number(/^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '')?.[1] ?? NaN);
    if (start !== have) {
      await res.body?.cancel();
      await rm(part, { force: true });
      throw new AppError('io_error', `${what}: the server resumed at byte ${start}, not ${have}; the partial file was removed, run the pull again to start over`);
    }
  }
  // Metadata the hub puts on the redirect (LFS) or the final response.
  const all = [...hops, res];
  const linkedEtag = all.map((r) => unquote(r.headers.get('x-linked-etag'))).find(Boolean);
  const linkedSize = all.map((r) => r.headers.get('x-linked-size')).find(Boolean);
  if (!expectedSha256 && linkedEtag && /^[0-9a-f]{64}$/.test(linkedEtag)) expectedSha256 = linkedEtag;
  let total: number | null = file.size ?? (linkedSize ? Number(linkedSize) : null);
  if (total === null && res.headers.get('content-length')) total = have + Number(res.headers.get('content-length'));

  const out = await open(part, have > 0 ? 'a' : 'w');
  let done = have;
  let lastReport = 0;
  try {
    if (res.body) {
      const reader = res.body.getReader();
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (e) {
          if (o.signal?.aborted) throw new AppError('cancelled', 'The download was cancelled; run the pull again to resume.');
          throw new AppError('io_error', redact(`${what}: the download broke off after ${done} bytes (${(e as Error).message}); run the pull again to resume`, o.token));
        }
        if (chunk.done) break;
        await out.write(chunk.value);
        done += chunk.value.length;
        const t = Date.now();
        if (o.onProgress && t - lastReport > 100) {
          lastReport = t;
          o.onProgress({ file: file.path, bytesDone: done, bytesTotal: total, resumedFrom });
        }
      }
    }
  } finally {
    await out.close();
  }
  if (total !== null && done < total) {
    throw new AppError('io_error', `${what}: the download broke off after ${done} of ${total} bytes; run the pull again to resume`);
  }
  o.onProgress?.({ file: file.path, bytesDone: done, bytesTotal: total, resumedFrom });
  return finish();

  async function finish(): Promise<{ bytes: number; sha256: string; resumedFrom: number }> {
    const size = (await stat(part)).size;
    const bad = async (msg: string): Promise<never> => {
      await rm(part, { force: true });
      throw new AppError('corrupt_file', `${what}: ${msg}; the partial file was removed`);
    };
    if (file.size !== undefined && size !== file.size) await bad(`got ${size} bytes, the hub lists ${file.size}`);
    const sha256 = await hashFile(part, 'sha256');
    if (expectedSha256 && sha256 !== expectedSha256) await bad(`sha256 mismatch (expected ${expectedSha256}, got ${sha256})`);
    if (!expectedSha256 && file.blobId) {
      const sha1 = await hashFile(part, 'sha1', `blob ${size}\0`);
      if (sha1 !== file.blobId) await bad(`git blob hash mismatch (expected ${file.blobId}, got ${sha1})`);
    }
    await rename(part, dest);
    return { bytes: size, sha256, resumedFrom };
  }
}
