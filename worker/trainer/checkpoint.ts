// Checkpoints on disk, written so that a crash at any moment leaves either the previous state
// or the new one, never half of one:
//   <output>/checkpoints/step-N/
//       adapter/adapter_config.json, adapter/adapter_model.safetensors   (peft format)
//       optimizer.safetensors   <param>.exp_avg / <param>.exp_avg_sq (AdamW moments, fp32)
//       trainer_state.json      step, epoch position, seed, schedule, config, last metrics
//       COMPLETE                written last; a folder without it is ignored
// Everything goes into a temporary sibling folder first; files and folder are fsynced, then the
// folder is renamed into place and the parent folder fsynced.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSafetensors, serializeSafetensors } from '../../common/formats/safetensors';
import type { TrainingConfig } from '../../common/training/config';
import type { OptimizerStateEntry } from './engine-api';

export const COMPLETE_MARKER = 'COMPLETE';

export interface TrainerState {
  version: 1;
  /** optimizer updates done */
  step: number;
  /** the epoch to continue in and the next micro-batch index in its order */
  epoch: number;
  nextBatch: number;
  totalUpdates: number;
  warmupUpdates: number;
  /** training rows (after nothing was skipped): a resume on other data would be meaningless */
  trainRows: number;
  seed: number;
  config: TrainingConfig;
  lastLoss: number | null;
  lastEvalLoss: number | null;
  savedAt: number;
}

function fsyncPath(p: string): void {
  const fd = openSync(p, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function fsyncTree(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) fsyncTree(p);
    else fsyncPath(p);
  }
  fsyncPath(dir);
}

/**
 * Fills a fresh temporary folder with `fill(tmp)`, fsyncs it and renames it to `dest`
 * (replacing an older `dest`). Used for checkpoints and for the final adapter.
 */
export function writeDirAtomically(dest: string, fill: (tmp: string) => void): void {
  const parent = join(dest, '..');
  mkdirSync(parent, { recursive: true });
  // A process killed between the two renames below left `dest` moved aside: bring it back.
  if (!existsSync(dest)) {
    const base = dest.split(/[\\/]/).pop() ?? '';
    const stranded = readdirSync(parent).find((n) => n.startsWith(`${base}.old-`));
    if (stranded) renameSync(join(parent, stranded), dest);
  }
  const tmp = `${dest}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    fill(tmp);
    fsyncTree(tmp);
    if (existsSync(dest)) {
      // rename() cannot replace a non-empty folder: move the old one aside first, and put it
      // back if the new one cannot take its place (the old checkpoint is never lost).
      const old = `${dest}.old-${process.pid}`;
      rmSync(old, { recursive: true, force: true });
      renameSync(dest, old);
      try {
        renameSync(tmp, dest);
      } catch (e) {
        renameSync(old, dest);
        throw e;
      }
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(tmp, dest);
    }
    fsyncPath(parent);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

export function encodeOptimizerState(entries: readonly OptimizerStateEntry[]): Uint8Array {
  const tensors = entries.flatMap((e) => [
    { name: `${e.name}.exp_avg`, dtype: 'F32' as const, shape: [e.expAvg.length], data: new Uint8Array(e.expAvg.buffer, e.expAvg.byteOffset, e.expAvg.byteLength) },
    { name: `${e.name}.exp_avg_sq`, dtype: 'F32' as const, shape: [e.expAvgSq.length], data: new Uint8Array(e.expAvgSq.buffer, e.expAvgSq.byteOffset, e.expAvgSq.byteLength) },
  ]);
  return serializeSafetensors(tensors, { format: 'pt', content: 'adamw-state' });
}

export function decodeOptimizerState(bytes: Uint8Array, file: string): OptimizerStateEntry[] {
  const h = parseSafetensors(bytes, file);
  const f32 = (name: string): Float32Array => {
    const t = h.tensors.find((x) => x.name === name);
    if (!t || t.dtype !== 'F32') throw new Error(`${file}: missing F32 tensor ${name}`);
    // copy: the source may not be 4-byte aligned
    return new Float32Array(bytes.slice(t.begin, t.end).buffer);
  };
  return h.tensors
    .filter((t) => t.name.endsWith('.exp_avg'))
    .map((t) => {
      const name = t.name.slice(0, -'.exp_avg'.length);
      return { name, expAvg: f32(`${name}.exp_avg`), expAvgSq: f32(`${name}.exp_avg_sq`) };
    });
}

export interface CheckpointWriter {
  saveAdapter(dir: string): void;
  optimizerState(): OptimizerStateEntry[];
}

export function writeCheckpoint(checkpointsDir: string, state: TrainerState, w: CheckpointWriter): string {
  const dest = join(checkpointsDir, `step-${state.step}`);
  writeDirAtomically(dest, (tmp) => {
    w.saveAdapter(join(tmp, 'adapter'));
    writeFileSync(join(tmp, 'optimizer.safetensors'), encodeOptimizerState(w.optimizerState()));
    writeFileSync(join(tmp, 'trainer_state.json'), JSON.stringify(state, null, 2));
    writeFileSync(join(tmp, COMPLETE_MARKER), `${new Date(state.savedAt).toISOString()}\n`);
  });
  return dest;
}

export function readCheckpoint(dir: string): { state: TrainerState; optimizer: OptimizerStateEntry[]; adapterDir: string } {
  if (!existsSync(join(dir, COMPLETE_MARKER))) throw new Error(`${dir} is not a complete checkpoint (no ${COMPLETE_MARKER} marker)`);
  const state = JSON.parse(readFileSync(join(dir, 'trainer_state.json'), 'utf8')) as TrainerState;
  if (state.version !== 1) throw new Error(`${dir}: trainer_state.json version ${String(state.version)} is not supported`);
  const file = join(dir, 'optimizer.safetensors');
  const optimizer = decodeOptimizerState(new Uint8Array(readFileSync(file)), file);
  return { state, optimizer, adapterDir: join(dir, 'adapter') };
}

/** Complete checkpoints under <output>/checkpoints, oldest first. */
export function listCheckpoints(checkpointsDir: string): { step: number; dir: string }[] {
  if (!existsSync(checkpointsDir)) return [];
  return readdirSync(checkpointsDir)
    .map((n) => /^step-(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ step: Number(m[1]), dir: join(checkpointsDir, m[0]) }))
    .filter((c) => statSync(c.dir).isDirectory() && existsSync(join(c.dir, COMPLETE_MARKER)))
    .sort((a, b) => a.step - b.step);
}

/** Deletes all but the newest `keep` complete checkpoints (keep 0 = keep all). */
export function pruneCheckpoints(checkpointsDir: string, keep: number): void {
  if (keep <= 0) return;
  const all = listCheckpoints(checkpointsDir);
  for (const c of all.slice(0, Math.max(0, all.length - keep))) rmSync(c.dir, { recursive: true, force: true });
}
