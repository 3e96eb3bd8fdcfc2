// pytorch_model.bin -> model.safetensors, streamed: the header first, then each tensor's
// bytes in chunks, so converting a 2.5 GB checkpoint holds one chunk in memory, not the
// model. Tied copies (the same view of the same storage under a second name, e.g.
// lm_head.weight = shared.weight) are written once, as transformers' save_pretrained does.
// Written to <out>.part and renamed, so a crash never leaves a half file under the real name.
import { open, rename, rm } from 'node:fs/promises';
import { AppError } from '../../../common/contract/errors';
import { buildHeader, DTYPE_SIZES, numelOf } from '../../../common/formats/safetensors';
import { isContiguous, TorchBinFile, type TorchBinTensor } from './torch-bin';

const CHUNK = 16 << 20;

export interface ConvertResult {
  tensors: number;
  /** Names dropped because they alias a tensor already written: name -> kept name. */
  dropped: Record<string, string>;
  bytes: number;
}

export async function convertTorchBinToSafetensors(
  binPath: string,
  outPath: string,
  onProgress?: (doneBytes: number, totalBytes: number) => void,
): Promise<ConvertResult> {
  return convertTorchBinsToSafetensors([binPath], outPath, onProgress);
}

/** Several .bin shards (pytorch_model.bin.index.json) into one model.safetensors. */
export async function convertTorchBinsToSafetensors(
  binPaths: string[],
  outPath: string,
  onProgress?: (doneBytes: number, totalBytes: number) => void,
): Promise<ConvertResult> {
  const bins: TorchBinFile[] = [];
  const part = `${outPath}.part`;
  try {
    for (const p of binPaths) bins.push(await TorchBinFile.open(p));
    const keep: { bin: TorchBinFile; t: TorchBinTensor }[] = [];
    const dropped: Record<string, string> = {};
    const names = new Set<string>();
    bins.forEach((bin, i) => {
      // Storages are per file: aliases (tied weights) are found within one shard.
      const seen = new Map<string, string>();
      for (const t of bin.tensors) {
        if (names.has(t.name)) throw new AppError('corrupt_file', `tensor ${t.name} appears in more than one shard (${binPaths[i]})`);
        names.add(t.name);
        const key = `${t.tensor.storage.key}|${t.tensor.storageOffset}|${t.shape.join(',')}|${t.tensor.stride.join(',')}`;
        const first = seen.get(key);
        if (first) dropped[t.name] = first;
        else {
          seen.set(key, t.name);
          keep.push({ bin, t });
        }
      }
    });
    const { bytes: header, dataBytes } = buildHeader(keep.map(({ t }) => ({ name: t.name, dtype: t.dtype, shape: t.shape })));
    const out = await open(part, 'w');
    try {
      let pos = 0;
      const write = async (b: Uint8Array) => {
        let done = 0;
        while (done < b.length) {
          const { bytesWritten } = await out.write(b, done, b.length - done, pos + done);
          done += bytesWritten;
        }
        pos += b.length;
      };
      await write(header);
      let done = 0;
      for (const { bin, t } of keep) {
        const el = DTYPE_SIZES[t.dtype];
        const total = numelOf(t.shape) * el;
        if (isContiguous(t.tensor)) {
          const start = t.storageFileOffset + t.tensor.storageOffset * el;
          for (let off = 0; off < total; off += CHUNK) {
            await write(await bin.file.read(start + off, Math.min(CHUNK, total - off)));
            done += Math.min(CHUNK, total - off);
            onProgress?.(done, dataBytes);
          }
        } else {
          await write(await bin.readTensor(t));
          done += total;
          onProgress?.(done, dataBytes);
        }
      }
      if (pos !== header.length + dataBytes) throw new AppError('internal', `wrote ${pos} bytes, expected ${header.length + dataBytes}`);
      await out.sync();
    } finally {
      await out.close();
    }
    await rename(part, outPath);
    return { tensors: keep.length, dropped, bytes: header.length + dataBytes };
  } catch (e) {
    await rm(part, { force: true });
    throw e;
  } finally {
    await Promise.all(bins.map((b) => b.close()));
  }
}
