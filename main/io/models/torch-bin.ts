// pytorch_model.bin (torch.save's zip format: <archive>/data.pkl + <archive>/data/<key>
// storages) read the way `torch.load(weights_only=True)` reads a state dict, minus the
// execution: the pickle goes through common/formats/pickle.ts with an allow-list of exactly
// the globals a state dict needs. Tensors are byte ranges of the zip; nothing is read until
// asked for.
import { AppError } from '../../../common/contract/errors';
import { unpickle, type PickleGlobal } from '../../../common/formats/pickle';
import { DTYPE_SIZES, numelOf, type DType } from '../../../common/formats/safetensors';
import { RandomAccessFile } from './random-access-file';
import { ZipReader } from './zip';

/** Storage classes torch.save names (legacy typed-storage names) and their element types. */
const STORAGE_DTYPES: Record<string, DType> = {
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  DoubleStorage: 'F64',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

// A state dict's pickle is about 100-200 bytes a tensor (32 MB: ~200k tensors). The limit also
// bounds what a hostile pickle can make the VM hold in main's heap: every opcode byte can push
// one value (a run of DUP), so 256 MB of DUPs would be a 2 GB stack.
const MAX_PICKLE_BYTES = 32 << 20;

interface StorageType extends PickleGlobal {
  readonly storageDtype: DType;
}

export interface TorchStorage {
  key: string;
  dtype: DType;
  numel: number;
}

export interface TorchTensor {
  storage: TorchStorage;
  /** In elements, as torch counts it. */
  storageOffset: number;
  shape: number[];
  stride: number[];
}

function isTensor(v: unknown): v is TorchTensor {
  return !!v && typeof v === 'object' && 'storage' in v && 'stride' in v;
}

function intList(v: unknown, what: string, src: string): number[] {
  if (!Array.isArray(v) || !v.every((x) => Number.isSafeInteger(x) && x >= 0)) {
    throw new AppError('corrupt_file', `${src}: ${what} is not a tuple of non-negative integers`);
  }
  return v as number[];
}

/**
 * Unpickles a torch state dict. The allow-list: collections.OrderedDict,
 * torch._utils._rebuild_tensor_v2 / _rebuild_parameter / _rebuild_parameter_with_state, and
 * the storage types; persistent ids ('storage', type, key, location, numel). Everything else
 * — os.system, builtins.eval, torch.storage._load_from_bytes, tensor subclasses — is refused.
 */
export function parseTorchStateDict(pkl: Uint8Array, source: string): Map<string, TorchTensor> {
  const storages = new Map<string, TorchStorage>();
  const g = (qualifiedName: string, call: (args: readonly unknown[]) => unknown): PickleGlobal => ({ qualifiedName, call });
  const rebuildTensor = g('torch._utils._rebuild_tensor_v2', (args) => {
    const [storage, offset, size, stride] = args;
    if (!storage || typeof storage !== 'object' || !('key' in storage)) {
      throw new AppError('corrupt_file', `${source}: _rebuild_tensor_v2 without a storage`);
    }
    if (!Number.isSafeInteger(offset) || (offset as number) < 0) {
      throw new AppError('corrupt_file', `${source}: bad storage offset ${String(offset)}`);
    }
    const shape = intList(size, 'a tensor size', source);
    const strides = intList(stride, 'a tensor stride', source);
    if (shape.length !== strides.length) throw new AppError('corrupt_file', `${source}: size and stride lengths differ`);
    return { storage: storage as TorchStorage, storageOffset: offset as number, shape: [...shape], stride: [...strides] } satisfies TorchTensor;
  });
  const rebuildParameter = (name: string) =>
    g(name, (args) => {
      if (!isTensor(args[0])) throw new AppError('corrupt_file', `${source}: ${name} of something that is not a tensor`);
      return args[0];
    });
  const orderedDict = g('collections.OrderedDict', (args) => {
    const m = new Map<unknown, unknown>();
    if (args.length > 1) throw new AppError('corrupt_file', `${source}: OrderedDict with ${args.length} arguments`);
    if (args.length === 1 && args[0] !== null) {
      const items = args[0];
      if (items instanceof Map) for (const [k, v] of items) m.set(k, v);
      else if (Array.isArray(items)) {
        for (const kv of items) {
          if (!Array.isArray(kv) || kv.length !== 2) throw new AppError('corrupt_file', `${source}: bad OrderedDict item`);
          m.set(kv[0], kv[1]);
        }
      } else throw new AppError('corrupt_file', `${source}: bad OrderedDict argument`);
    }
    return m;
  });

  const allowed: Record<string, PickleGlobal> = {
    'collections.OrderedDict': orderedDict,
    'torch._utils._rebuild_tensor_v2': rebuildTensor,
    'torch._utils._rebuild_parameter': rebuildParameter('torch._utils._rebuild_parameter'),
    'torch._utils._rebuild_parameter_with_state': rebuildParameter('torch._utils._rebuild_parameter_with_state'),
  };
  for (const [cls, dtype] of Object.entries(STORAGE_DTYPES)) {
    // A storage type is only ever a value inside a persistent id; calling it is refused.
    allowed[`torch.${cls}`] = { qualifiedName: `torch.${cls}`, storageDtype: dtype } as StorageType;
  }

  const root = unpickle(pkl, {
    source,
    resolveGlobal: (module, name) => allowed[`${module}.${name}`],
    persistentLoad: (pid) => {
      if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage') {
        throw new AppError('corrupt_file', `${source}: unsupported persistent id ${JSON.stringify(String(pid))}`);
      }
      const [, type, key, , numel] = pid as [string, StorageType, unknown, unknown, unknown];
      if (!type || typeof type !== 'object' || !('storageDtype' in type)) {
        throw new AppError('corrupt_file', `${source}: persistent id without a storage type`);
      }
      if (typeof key !== 'string' || !/^[A-Za-z0-9_]+$/.test(key)) {
        throw new AppError('corrupt_file', `${source}: bad storage key ${JSON.stringify(key)}`);
      }
      if (!Number.isSafeInteger(numel) || (numel as number) < 0) throw new AppError('corrupt_file', `${source}: bad storage size`);
      const existing = storages.get(key);
      if (existing) return existing;
      const s: TorchStorage = { key, dtype: type.storageDtype, numel: numel as number };
      storages.set(key, s);
      return s;
    },
    // state_dict()'s OrderedDict carries `_metadata` as instance state; accept and drop it.
    build: (target, state) => target instanceof Map && (state instanceof Map || state === null),
  });

  if (!(root instanceof Map)) {
    throw new AppError('unsupported', `${source}: the pickle holds ${describe(root)}, not a state dict of tensors`);
  }
  const out = new Map<string, TorchTensor>();
  for (const [k, v] of root) {
    if (typeof k !== 'string') throw new AppError('corrupt_file', `${source}: a state dict key is not a string`);
    if (!isTensor(v)) {
      throw new AppError('unsupported', `${source}: entry ${k} is ${describe(v)}, not a tensor (is this a training checkpoint rather than a state dict?)`);
    }
    out.set(k, v);
  }
  return out;
}

function describe(v: unknown): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Map) return 'a dict';
  return typeof v;
}

export function isContiguous(t: TorchTensor): boolean {
  let expect = 1;
  for (let i = t.shape.length - 1; i >= 0; i--) {
    if (t.shape[i] !== 1 && t.stride[i] !== expect) return false;
    expect *= t.shape[i];
  }
  return true;
}

/** The highest element index (+1) a tensor touches in its storage; 0 for empty tensors. */
function storageExtent(t: TorchTensor): number {
  if (numelOf(t.shape) === 0) return 0;
  let last = t.storageOffset;
  t.shape.forEach((d, i) => (last += (d - 1) * t.stride[i]));
  return last + 1;
}

export interface TorchBinTensor {
  name: string;
  dtype: DType;
  shape: number[];
  tensor: TorchTensor;
  /** Absolute offset of the storage's bytes in the .bin file. */
  storageFileOffset: number;
}

/** An opened pytorch_model.bin: the state dict's tensors, located but not read. */
export class TorchBinFile {
  private constructor(
    readonly file: RandomAccessFile,
    readonly tensors: TorchBinTensor[],
  ) {}

  static async open(path: string): Promise<TorchBinFile> {
    const file = await RandomAccessFile.open(path);
    try {
      const head = await file.read(0, Math.min(4, file.size));
      if (!(head[0] === 0x50 && head[1] === 0x4b)) {
        throw new AppError(
          'unsupported',
          `${path}: not a zip archive; the legacy (pre-1.6) torch.save format is not supported — re-save it with a recent PyTorch or as safetensors`,
        );
      }
      const zip = await ZipReader.open(file);
      const pklName = [...zip.entries.keys()].find((n) => n === 'data.pkl' || /^[^/]+\/data\.pkl$/.test(n));
      if (!pklName) throw new AppError('corrupt_file', `${path}: the archive has no data.pkl`);
      const prefix = pklName.slice(0, pklName.length - 'data.pkl'.length);
      const byteorder = zip.entries.has(`${prefix}byteorder`)
        ? new TextDecoder().decode(await zip.readEntry(`${prefix}byteorder`)).trim()
        : 'little';
      if (byteorder !== 'little') throw new AppError('unsupported', `${path}: ${byteorder}-endian tensors are not supported`);
      // A state dict's pickle is small (about 100 bytes a tensor); a huge one is not a state dict.
      const pklSize = zip.entries.get(pklName)!.size;
      if (pklSize > MAX_PICKLE_BYTES) {
        throw new AppError('corrupt_file', `${path}: data.pkl is ${pklSize} bytes; a state dict's is far smaller (limit ${MAX_PICKLE_BYTES})`);
      }
      const stateDict = parseTorchStateDict(await zip.readEntry(pklName), path);
      const storageAt = new Map<string, number>();
      const tensors: TorchBinTensor[] = [];
      for (const [name, t] of stateDict) {
        const s = t.storage;
        let at = storageAt.get(s.key);
        if (at === undefined) {
          const loc = await zip.locate(`${prefix}data/${s.key}`);
          if (loc.length < s.numel * DTYPE_SIZES[s.dtype]) {
            throw new AppError(
              'corrupt_file',
              `${path}: storage ${s.key} (of tensor ${name}) has ${loc.length} bytes, its header says ${s.numel} ${s.dtype} elements: truncated?`,
            );
          }
          at = loc.offset;
          storageAt.set(s.key, at);
        }
        if (storageExtent(t) > s.numel) {
          throw new AppError('corrupt_file', `${path}: tensor ${name} reaches past the end of its storage ${s.key}`);
        }
        // A view with zero strides (torch's expand) may name far more elements than its storage
        // holds, and readTensor would allocate all of them: weights are never such views.
        if (numelOf(t.shape) > s.numel) {
          throw new AppError('corrupt_file', `${path}: tensor ${name} has more elements than its storage ${s.key} (a broadcast view is not a weight)`);
        }
        tensors.push({ name, dtype: s.dtype, shape: t.shape, tensor: t, storageFileOffset: at });
      }
      return new TorchBinFile(file, tensors);
    } catch (e) {
      await file.close();
      throw e;
    }
  }

  /** A tensor's bytes, row-major contiguous (strided views are gathered). */
  async readTensor(t: TorchBinTensor): Promise<Uint8Array> {
    const el = DTYPE_SIZES[t.dtype];
    const n = numelOf(t.shape);
    if (n === 0) return new Uint8Array(0);
    if (isContiguous(t.tensor)) {
      return this.file.read(t.storageFileOffset + t.tensor.storageOffset * el, n * el);
    }
    // Rare in state dicts (a transposed view saved as is): read the span it touches, gather.
    const first = t.tensor.storageOffset;
    const span = storageExtent(t.tensor) - first;
    const src = await this.file.read(t.storageFileOffset + first * el, span * el);
    const out = new Uint8Array(n * el);
    const idx = new Array<number>(t.shape.length).fill(0);
    for (let i = 0; i < n; i++) {
      let off = 0;
      for (let d = 0; d < idx.length; d++) off += idx[d] * t.tensor.stride[d];
      out.set(src.subarray(off * el, off * el + el), i * el);
      for (let d = idx.length - 1; d >= 0; d--) {
        if (++idx[d] < t.shape[d]) break;
        idx[d] = 0;
      }
    }
    return out;
  }

  async close(): Promise<void> {
    await this.file.close();
  }
}
