// Content hashes of dataset files (sha256, streamed: a multi-GB Parquet file never sits in
// memory) and of a set of files (a folder: sha256 over "relative path\0file hash\n", sorted).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';

export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => h.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

export async function sha256Files(root: string, files: string[]): Promise<string> {
  if (files.length === 1 && path.resolve(files[0]) === path.resolve(root)) return sha256File(files[0]);
  const parts: string[] = [];
  for (const f of [...files].sort()) parts.push(`${path.relative(root, f).split(path.sep).join('/')}\0${await sha256File(f)}\n`);
  return createHash('sha256').update(parts.join('')).digest('hex');
}
