// Static files of the built renderer for `hukuk serve`: a fixed MIME table, paths confined
// to the root (no "..", no encoded escapes, no symlink out), index.html for app routes.
import { createReadStream, realpathSync, statSync } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
};

export function mimeType(file: string): string {
  return MIME[extname(file).toLowerCase()] ?? 'application/octet-stream';
}

export type Resolved = { kind: 'file'; path: string; size: number } | { kind: 'forbidden' } | { kind: 'missing' };

/**
 * Maps a URL pathname to a file under `root`. Refuses anything that would leave the root
 * (dot segments, encoded slashes or backslashes, NUL, symlinks pointing out). A path with
 * no extension that matches no file is an app route: index.html.
 */
export function resolveStatic(root: string, pathname: string): Resolved {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return { kind: 'forbidden' };
  }
  if (decoded.includes('\0') || decoded.includes('\\') || /%2f|%5c/i.test(pathname)) return { kind: 'forbidden' };
  const segments = decoded.split('/').filter((s) => s.length > 0);
  if (segments.some((s) => s === '..' || s === '.')) return { kind: 'forbidden' };
  let realRoot: string;
  try {
    realRoot = realpathSync(resolve(root));
  } catch {
    // The UI is not built (or is being rebuilt): a 404, not an exception that ends the server.
    return { kind: 'missing' };
  }
  const candidate = segments.length ? join(realRoot, ...segments) : join(realRoot, 'index.html');
  const file = tryFile(realRoot, candidate);
  if (file) return file;
  if (file === null) return { kind: 'forbidden' };
  if (extname(decoded) === '') {
    const index = tryFile(realRoot, join(realRoot, 'index.html'));
    if (index) return index;
  }
  return { kind: 'missing' };
}

/** The file, undefined when absent, null when it resolves outside the root. */
function tryFile(realRoot: string, candidate: string): { kind: 'file'; path: string; size: number } | undefined | null {
  let real: string;
  try {
    real = realpathSync(candidate);
  } catch {
    return undefined;
  }
  if (real !== realRoot && !real.startsWith(realRoot + sep)) return null;
  let st;
  try {
    st = statSync(real);
  } catch {
    return undefined; // removed between realpath and stat
  }
  if (st.isDirectory()) return tryFile(realRoot, join(real, 'index.html'));
  if (!st.isFile()) return undefined;
  return { kind: 'file', path: real, size: st.size };
}

export function openStatic(path: string) {
  return createReadStream(path);
}
