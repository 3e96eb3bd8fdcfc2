// `pull`: pick the files of a Hub repository worth having, download them with resume into
// a staging folder under the data folder (<data>/downloads/<kind>s/<owner>--<name>/), and
// hand the folder to the importer. The staging folder is stable per repository and
// revision, so an interrupted pull picks up where it stopped.
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError } from '../../../common/contract/errors';
import { checkRepoId, downloadFile, listRepoFiles, matchesListing, type HubFile, type HubOptions, type RepoKind, type RepoListing } from './client';

const MODEL_SIDE_FILES = new Set([
  'config.json',
  'generation_config.json',
  'spiece.model',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
  'README.md',
]);

/** The files a model pull downloads: config, tokenizer, and one weight format (safetensors first). */
export function selectModelFiles(files: HubFile[], indexWeightMap?: Map<string, string>): HubFile[] {
  const byPath = new Map(files.map((f) => [f.path, f]));
  const picked = files.filter((f) => MODEL_SIDE_FILES.has(f.path));
  const weightChoices = [
    ['model.safetensors'],
    ['model.safetensors.index.json'],
    ['pytorch_model.bin'],
    ['pytorch_model.bin.index.json'],
  ];
  const choice = weightChoices.find(([p]) => byPath.has(p));
  if (!choice) {
    throw new AppError('not_found', 'the repository has no model.safetensors or pytorch_model.bin weights');
  }
  picked.push(byPath.get(choice[0])!);
  if (choice[0].endsWith('.index.json') && indexWeightMap) {
    for (const shard of new Set(indexWeightMap.values())) {
      const f = byPath.get(shard);
      if (!f) throw new AppError('corrupt_file', `${choice[0]} names ${shard}, which the repository does not have`);
      picked.push(f);
    }
  }
  return picked;
}

const DATA_EXT = /\.(json|jsonl|csv|tsv|parquet|txt|md)$/i;

/** The files a dataset pull downloads: data files in any folder, and the README (dataset card). */
export function selectDatasetFiles(files: HubFile[]): HubFile[] {
  const picked = files.filter((f) => DATA_EXT.test(f.path) && !f.path.startsWith('.'));
  if (!picked.some((f) => f.path !== 'README.md')) throw new AppError('not_found', 'the dataset repository has no JSON, JSONL, CSV or Parquet files');
  return picked;
}

export interface PullProgress {
  repo: string;
  kind: RepoKind;
  phase: 'listing' | 'downloading' | 'verifying' | 'done';
  file?: string;
  fileIndex?: number;
  fileCount?: number;
  bytesDone: number;
  bytesTotal: number | null;
}

export interface PullOptions extends HubOptions {
  kind: RepoKind;
  repo: string;
  revision?: string;
  dataDir: string;
  onProgress?: (p: PullProgress) => void;
}

export interface PullResult {
  dir: string;
  listing: RepoListing;
  /** sha256 is null for a file an earlier pull already verified. */
  files: { path: string; bytes: number; sha256: string | null; resumedFrom: number }[];
}

export function stagingDir(dataDir: string, kind: RepoKind, repo: string, revision: string): string {
  const safeRev = revision.replace(/[^A-Za-z0-9._-]/g, '_');
  return join(dataDir, 'downloads', `${kind}s`, `${repo.replace('/', '--')}@${safeRev}`);
}

export async function pullRepo(o: PullOptions): Promise<PullResult> {
  const revision = o.revision ?? 'main';
  checkRepoId(o.repo);
  o.onProgress?.({ repo: o.repo, kind: o.kind, phase: 'listing', bytesDone: 0, bytesTotal: null });
  const listing = await listRepoFiles(o.kind, o.repo, revision, o);
  const dir = stagingDir(o.dataDir, o.kind, o.repo, revision);
  let wanted: HubFile[];
  if (o.kind === 'model') {
    // A sharded model: fetch the index first to learn which shards to fetch.
    const first = selectModelFiles(listing.files);
    const index = first.find((f) => f.path.endsWith('.index.json'));
    let weightMap: Map<string, string> | undefined;
    if (index) {
      const dest = join(dir, index.path);
      if (!existsSync(dest)) await downloadFile(o.kind, o.repo, revision, index, dest, { ...o, onProgress: undefined });
      const json = JSON.parse(await readFile(dest, 'utf8')) as { weight_map?: Record<string, string> };
      weightMap = new Map(Object.entries(json.weight_map ?? {}));
    }
    wanted = selectModelFiles(listing.files, weightMap);
  } else {
    wanted = selectDatasetFiles(listing.files);
  }
  const known = wanted.every((f) => f.size !== undefined);
  const bytesTotal = known ? wanted.reduce((s, f) => s + (f.size ?? 0), 0) : null;
  const results: PullResult['files'] = [];
  let before = 0;
  for (let i = 0; i < wanted.length; i++) {
    const f = wanted[i];
    const dest = join(dir, f.path);
    // Verified and renamed into place by an earlier, interrupted pull: keep it, if it is still
    // the file the listing names now (checked by size and hash, not by its presence).
    const done = await stat(dest).catch(() => null);
    if (done && (await matchesListing(dest, f, done.size))) {
      results.push({ path: f.path, bytes: done.size, sha256: null, resumedFrom: done.size });
      before += done.size;
      continue;
    }
    const report = (bytesDone: number): void =>
      o.onProgress?.({ repo: o.repo, kind: o.kind, phase: 'downloading', file: f.path, fileIndex: i, fileCount: wanted.length, bytesDone: before + bytesDone, bytesTotal });
    report(0);
    const r = await downloadFile(o.kind, o.repo, revision, f, dest, { ...o, onProgress: (p) => report(p.bytesDone) });
    results.push({ path: f.path, ...r });
    before += r.bytes;
  }
  o.onProgress?.({ repo: o.repo, kind: o.kind, phase: 'done', bytesDone: before, bytesTotal: bytesTotal ?? before });
  return { dir, listing, files: results };
}
