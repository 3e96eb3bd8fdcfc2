// engine.T5Model on the CPU: loading (safetensors reader errors, bf16/f16, shards), LoRA
// creation and peft adapters (round trip, config fields, merge), gradients (accumulation,
// finite differences, dropout), QLoRA options, errors. Exactness against transformers + peft is
// tests/native/parity.test.ts.
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Engine, T5Batch, T5Model } from '../../native/index';
import { parseSafetensors, serializeSafetensors, type DType } from '../../common/formats/safetensors';
import { readTensors, relError } from '../../main/cli/commands/parity';

const require = createRequire(import.meta.url);
process.env.OMP_WAIT_POLICY ??= 'passive';
const { loadEngine } = require('../../native/index.cjs') as typeof import('../../native/index');
const engine: Engine = loadEngine();

const fx = resolve(__dirname, '../fixtures/t5');
const tmp = mkdtempSync(join(tmpdir(), 'hukuk-t5-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function goldenBatch(name: string): T5Batch {
  const g = readTensors(join(fx, name, 'goldens.safetensors'));
  const [B, S] = g.input_ids.shape;
  return {
    inputIds: g.input_ids.data as Int32Array,
    attentionMask: g.attention_mask.data as Int32Array,
    labels: g.labels.data as Int32Array,
    batch: B,
    srcLen: S,
    tgtLen: g.labels.shape[1],
  };
}

function load(name: string, opts: Partial<Parameters<Engine['T5Model']['load']>[0]> = {}): T5Model {
  return engine.T5Model.load({ modelDir: join(fx, name, 'model'), device: 'cpu', ...opts });
}

function codeOf(fn: () => unknown): { code?: string; where?: string; message: string } {
  try {
    fn();
  } catch (e) {
    const err = e as Error & { code?: string; where?: string };
    return { code: err.code, where: err.where, message: err.message };
  }
  throw new Error('expected a throw');
}

// rewrite a model.safetensors with a change to its tensors
type T = { name: string; dtype: DType; shape: number[]; data: Uint8Array };
function readRaw(file: string): T[] {
  const bytes = readFileSync(file);
  const h = parseSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), file);
  return h.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: new Uint8Array(bytes.subarray(t.begin, t.end)) }));
}
function modelCopy(name: string, edit: (ts: T[]) => T[]): string {
  const dir = mkdtempSync(join(tmp, `${name}-`));
  cpSync(join(fx, name, 'model', 'config.json'), join(dir, 'config.json'));
  writeFileSync(join(dir, 'model.safetensors'), serializeSafetensors(edit(readRaw(join(fx, name, 'model', 'model.safetensors')))));
  return dir;
}
function toHalf(t: T, kind: 'BF16' | 'F16'): T {
  const f = new Float32Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.length));
  const out = new Uint16Array(f.length);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < f.length; i++) {
    if (kind === 'BF16') out[i] = u[i] >>> 16; // truncation: the value is exactly representable then
    else {
      // float -> half (round to nearest even), enough for normal values of these tiny models
      const x = f[i];
      const s = x < 0 ? 0x8000 : 0;
      const a = Math.abs(x);
      if (a < 6.1e-5) out[i] = s;
      else {
        const e = Math.floor(Math.log2(a));
        const m = Math.round((a / 2 ** e - 1) * 1024);
        out[i] = s | ((e + 15 + (m >> 10)) << 10) | (m & 1023);
      }
    }
  }
  return { ...t, dtype: kind, data: new Uint8Array(out.buffer) };
}
function fromHalf(t: T): Float32Array {
  const h = new Uint16Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.length));
  const out = new Float32Array(h.length);
  const u = new Uint32Array(out.buffer);
  for (let i = 0; i < h.length; i++) {
    if (t.dtype === 'BF16') u[i] = h[i] << 16;
    else {
      const s = h[i] & 0x8000 ? -1 : 1;
      const e = (h[i] >> 10) & 31;
      const m = h[i] & 1023;
      out[i] = e === 0 ? s * m * 2 ** -24 : s * (1 + m / 1024) * 2 ** (e - 15);
    }
  }
  return out;
}

describe('loading', () => {
  it('reads config.json', () => {
    const m = load('unequal_depth');
    expect(m.config.num_layers).toBe(3);
    expect(m.config.num_decoder_layers).toBe(2);
    expect(m.hasLora).toBe(false);
    m.dispose();
  });

  it('names a missing tensor, a wrong shape, a wrong dtype and offsets past the end', () => {
    const missing = modelCopy('relu_tied', (ts) => ts.filter((t) => t.name !== 'encoder.block.1.layer.0.SelfAttention.v.weight'));
    let e = codeOf(() => engine.T5Model.load({ modelDir: missing }));
    expect(e.code).toBe('ENGINE_CORRUPT');
    expect(e.message).toContain("'encoder.block.1.layer.0.SelfAttention.v.weight' is missing");
    expect(e.where).toMatch(/^native\/src\/io\/safetensors\.cpp:\d+$/);

    const shape = modelCopy('relu_tied', (ts) =>
      ts.map((t) => (t.name === 'decoder.final_layer_norm.weight' ? { ...t, shape: [2, 16] } : t)),
    );
    e = codeOf(() => engine.T5Model.load({ modelDir: shape }));
    expect(e.message).toMatch(/'decoder.final_layer_norm.weight' has shape \[2, 16\], expected \[32\]/);

    const dtype = modelCopy('relu_tied', (ts) => ts.map((t) => (t.name === 'shared.weight' ? { ...t, dtype: 'I32' as DType } : t)));
    e = codeOf(() => engine.T5Model.load({ modelDir: dtype }));
    expect(e.message).toMatch(/'shared.weight' has dtype I32/);

    const trunc = mkdtempSync(join(tmp, 'trunc-'));
    cpSync(join(fx, 'relu_tied', 'model', 'config.json'), join(trunc, 'config.json'));
    const whole = readFileSync(join(fx, 'relu_tied', 'model', 'model.safetensors'));
    writeFileSync(join(trunc, 'model.safetensors'), whole.subarray(0, whole.length - 100));
    e = codeOf(() => engine.T5Model.load({ modelDir: trunc }));
    expect(e.code).toBe('ENGINE_CORRUPT');
    expect(e.message).toMatch(/past the end of the data/);

    e = codeOf(() => engine.T5Model.load({ modelDir: join(tmp, 'nope') }));
    expect(e.code).toBe('ENGINE_IO');
  });

  it('converts bf16 and fp16 weights to fp32 exactly', () => {
    const b = goldenBatch('gated_silu');
    for (const kind of ['BF16', 'F16'] as const) {
      const halves: Record<string, Float32Array> = {};
      const dir = modelCopy('gated_silu', (ts) =>
        ts.map((t) => {
          const h = toHalf(t, kind);
          halves[t.name] = fromHalf(h);
          return h;
        }),
      );
      // the same values as fp32 must give identical logits
      const dir32 = modelCopy('gated_silu', (ts) =>
        ts.map((t) => ({ ...t, data: new Uint8Array(halves[t.name].buffer) })),
      );
      const m = engine.T5Model.load({ modelDir: dir });
      const m32 = engine.T5Model.load({ modelDir: dir32 });
      const a = m.forward({ ...b, wantLogits: true }).logits!;
      const c = m32.forward({ ...b, wantLogits: true }).logits!;
      expect(relError(a, c)).toBe(0);
      m.dispose();
      m32.dispose();
    }
  });

  it('reads a sharded model (model.safetensors.index.json)', () => {
    const ts = readRaw(join(fx, 'padding', 'model', 'model.safetensors'));
    const dir = mkdtempSync(join(tmp, 'shards-'));
    cpSync(join(fx, 'padding', 'model', 'config.json'), join(dir, 'config.json'));
    const half = Math.floor(ts.length / 2);
    const files = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
    writeFileSync(join(dir, files[0]), serializeSafetensors(ts.slice(0, half)));
    writeFileSync(join(dir, files[1]), serializeSafetensors(ts.slice(half)));
    const weightMap = Object.fromEntries(ts.map((t, i) => [t.name, files[i < half ? 0 : 1]]));
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const b = goldenBatch('padding');
    const sharded = engine.T5Model.load({ modelDir: dir });
    const single = load('padding');
    expect(relError(sharded.forward({ ...b, wantLogits: true }).logits!, single.forward({ ...b, wantLogits: true }).logits!)).toBe(0);
    sharded.dispose();
    single.dispose();
  });

  it('device cuda without a GPU is an error (never silently the CPU)', () => {
    if (engine.gpus().length > 0) return; // the GPU machine: the CUDA path has its own tests
    expect(['ENGINE_UNSUPPORTED', 'ENGINE_CUDA']).toContain(codeOf(() => load('relu_tied', { device: 'cuda' })).code);
  });
});

describe('LoRA and adapters', () => {
  it('addLora: peft init (B = 0 leaves the logits), names and sizes, modules', () => {
    const m = load('gated_gelu_untied');
    const b = goldenBatch('gated_gelu_untied');
    const base = m.forward({ ...b, wantLogits: true, useAdapter: false }).logits!;
    m.addLora({ r: 4, alpha: 8, targets: ['q', 'wi_0', 'wo'], seed: 1 });
    expect(m.hasLora).toBe(true);
    expect(relError(m.forward({ ...b, wantLogits: true }).logits!, base)).toBe(0);
    const ps = m.loraParams();
    // encoder 2 blocks x (q, wi_0, wo) + decoder 2 blocks x (self q, cross q, wi_0, wo), A and B each
    expect(ps.length).toBe(2 * (2 * 3 + 2 * 4));
    const qa = ps.find((p) => p.name === 'base_model.model.decoder.block.1.layer.1.EncDecAttention.q.lora_A.weight')!;
    expect(qa.size).toBe(4 * 32);
    const ts = m.loraTensors();
    const a = ts.find((t) => t.name.endsWith('encoder.block.0.layer.1.DenseReluDense.wo.lora_A.weight'))!;
    const bound = 1 / Math.sqrt(64); // Kaiming-uniform(a=sqrt(5)) on in_features = d_ff
    expect(Math.max(...Array.from(a.weight, Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...Array.from(a.weight, Math.abs))).toBeGreaterThan(bound * 0.8);
    expect(ts.filter((t) => t.name.endsWith('lora_B.weight')).every((t) => t.weight.every((x) => x === 0))).toBe(true);
    // the same seed gives the same A
    const m2 = load('gated_gelu_untied');
    m2.addLora({ r: 4, alpha: 8, targets: ['q', 'wi_0', 'wo'], seed: 1 });
    expect(Array.from(m2.loraTensors()[0].weight)).toEqual(Array.from(ts[0].weight));
    m2.addLora({ r: 2, targets: ['q', 'v'], modules: ['EncDecAttention'], seed: 1 });
    expect(m2.loraParams().map((p) => p.name.replace('base_model.model.', ''))).toEqual([
      'decoder.block.0.layer.1.EncDecAttention.q.lora_A.weight',
      'decoder.block.0.layer.1.EncDecAttention.q.lora_B.weight',
      'decoder.block.0.layer.1.EncDecAttention.v.lora_A.weight',
      'decoder.block.0.layer.1.EncDecAttention.v.lora_B.weight',
      'decoder.block.1.layer.1.EncDecAttention.q.lora_A.weight',
      'decoder.block.1.layer.1.EncDecAttention.q.lora_B.weight',
      'decoder.block.1.layer.1.EncDecAttention.v.lora_A.weight',
      'decoder.block.1.layer.1.EncDecAttention.v.lora_B.weight',
    ]);
    expect(codeOf(() => m2.addLora({ r: 2, targets: ['qq' as 'q'] })).code).toBe('ENGINE_INVALID_ARG');
    m.dispose();
    m2.dispose();
  });

  it('saveAdapter -> loadAdapter is exact, with peft 0.21 fields', () => {
    const m = load('relu_tied');
    m.loadAdapter(join(fx, 'relu_tied', 'adapter'));
    const b = goldenBatch('relu_tied');
    const before = m.forward({ ...b, wantLogits: true }).logits!;
    const dir = join(tmp, 'saved-adapter');
    m.saveAdapter(dir, { baseModelNameOrPath: 'tiny/relu' });
    const cfg = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({
      peft_type: 'LORA',
      task_type: 'SEQ_2_SEQ_LM',
      r: 4,
      lora_alpha: 8,
      lora_dropout: 0,
      use_rslora: false,
      bias: 'none',
      base_model_name_or_path: 'tiny/relu',
    });
    expect([...cfg.target_modules].sort()).toEqual(['k', 'o', 'q', 'v']);
    // the same keys, shapes and values as peft's own file
    const ours = readTensors(join(dir, 'adapter_model.safetensors'));
    const peft = readTensors(join(fx, 'relu_tied', 'adapter', 'adapter_model.safetensors'));
    expect(Object.keys(ours).sort()).toEqual(Object.keys(peft).sort());
    for (const k of Object.keys(peft)) {
      expect(ours[k].shape).toEqual(peft[k].shape);
      expect(relError(ours[k].data, peft[k].data)).toBe(0);
    }
    const m2 = load('relu_tied');
    m2.loadAdapter(dir);
    expect(relError(m2.forward({ ...b, wantLogits: true }).logits!, before)).toBe(0);
    m.dispose();
    m2.dispose();
  });

  it('rsLoRA scaling is alpha/sqrt(r) (gated_gelu_untied adapter has use_rslora)', () => {
    const m = load('gated_gelu_untied');
    const b = goldenBatch('gated_gelu_untied');
    const dir = join(tmp, 'no-rslora');
    cpSync(join(fx, 'gated_gelu_untied', 'adapter'), dir, { recursive: true });
    const cfg = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    expect(cfg.use_rslora).toBe(true);
    m.loadAdapter(dir);
    const rs = m.forward(b).loss;
    // alpha/sqrt(r) = 16/2 = 8 equals alpha'/r with alpha' = 32: same function
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ ...cfg, use_rslora: false, lora_alpha: 32 }));
    m.loadAdapter(dir);
    expect(m.forward(b).loss).toBe(rs);
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ ...cfg, use_rslora: false }));
    m.loadAdapter(dir);
    expect(m.forward(b).loss).not.toBe(rs);
    m.dispose();
  });

  it('rejects adapters that do not fit, naming the tensor', () => {
    const m = load('padding');
    let e = codeOf(() => m.loadAdapter(join(fx, 'gated_silu', 'adapter')));
    expect(e.code).toBe('ENGINE_CORRUPT');
    expect(m.hasLora).toBe(false);
    const dir = join(tmp, 'bad-adapter');
    cpSync(join(fx, 'padding', 'adapter'), dir, { recursive: true });
    const cfg = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ ...cfg, r: 8 }));
    e = codeOf(() => m.loadAdapter(dir));
    expect(e.message).toMatch(/lora_A.weight' has shape \[4, 32\], expected \[8, 32\]/);
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ ...cfg, use_dora: true }));
    expect(codeOf(() => m.loadAdapter(dir)).code).toBe('ENGINE_UNSUPPORTED');
    m.dispose();
  });

  it('mergeAndSave writes a base that equals base + adapter', () => {
    const m = load('gated_silu');
    m.loadAdapter(join(fx, 'gated_silu', 'adapter'));
    const b = goldenBatch('gated_silu');
    const withAdapter = m.forward({ ...b, wantLogits: true }).logits!;
    const dir = join(tmp, 'merged');
    m.mergeAndSave(dir);
    expect(existsSync(join(dir, 'config.json'))).toBe(true);
    const merged = engine.T5Model.load({ modelDir: dir });
    expect(relError(merged.forward({ ...b, wantLogits: true }).logits!, withAdapter)).toBeLessThan(1e-5);
    m.dispose();
    merged.dispose();
  });
});

describe('gradients', () => {
  it('accumulate across calls and reset with zeroGrad', () => {
    const m = load('relu_tied');
    m.loadAdapter(join(fx, 'relu_tied', 'adapter'));
    const b = goldenBatch('relu_tied');
    m.zeroGrad();
    m.forwardBackward({ ...b, train: false });
    const g1 = m.loraTensors().map((t) => Float32Array.from(t.grad));
    m.forwardBackward({ ...b, train: false });
    const g2 = m.loraTensors().map((t) => t.grad);
    g1.forEach((g, i) => expect(relError(g2[i], g.map((x) => 2 * x))).toBeLessThan(1e-6));
    m.zeroGrad();
    expect(m.loraTensors().every((t) => t.grad.every((x) => x === 0))).toBe(true);
    m.dispose();
  });

  it('match central finite differences, with dropout on (smooth gated-gelu model)', () => {
    const m = load('gated_gelu_untied');
    m.addLora({ r: 4, alpha: 8, targets: ['q', 'k', 'v', 'o', 'wi_0', 'wi_1', 'wo'], dropout: 0.2, seed: 5 });
    // give B values through an adapter file so every gradient is non-zero
    const dir = join(tmp, 'fd-adapter');
    m.saveAdapter(dir);
    const file = join(dir, 'adapter_model.safetensors');
    const bytes = readFileSync(file);
    const h = parseSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
    let s = 7;
    const rnd = (): number => ((s = (s * 1103515245 + 12345) % 2147483648), s / 2147483648 - 0.5);
    const views = new Map(h.tensors.map((t) => [t.name, new Float32Array(bytes.buffer, bytes.byteOffset + t.begin, (t.end - t.begin) / 4)]));
    for (const [name, v] of views) if (name.endsWith('lora_B.weight')) v.forEach((_, i) => (v[i] = 0.2 * rnd()));
    writeFileSync(file, bytes);
    m.loadAdapter(dir);
    const b = { ...goldenBatch('gated_gelu_untied'), train: true, dropoutSeed: 99 };
    const l1 = m.forward(b).loss;
    expect(m.forward(b).loss).toBe(l1); // same seed, same masks
    expect(m.forward({ ...b, dropoutSeed: 100 }).loss).not.toBe(l1);
    expect(m.forward({ ...b, train: false }).loss).not.toBe(l1);
    m.zeroGrad();
    m.forwardBackward(b);
    const ts = m.loraTensors();
    let checked = 0;
    for (const t of ts.filter((_, i) => i % 5 === 0)) {
      let j = 0;
      for (let i = 0; i < t.grad.length; i++) if (Math.abs(t.grad[i]) > Math.abs(t.grad[j])) j = i;
      const v = views.get(t.name)!;
      const orig = v[j];
      const eps = 1e-2;
      const L: number[] = [];
      for (const d of [eps, -eps]) {
        v[j] = orig + d;
        writeFileSync(file, bytes);
        m.loadAdapter(dir);
        L.push(m.forward(b).loss);
      }
      v[j] = orig;
      const fd = (L[0] - L[1]) / (2 * eps);
      expect(Math.abs(fd - t.grad[j]) / Math.abs(t.grad[j]), t.name).toBeLessThan(2e-3);
      checked++;
    }
    expect(checked).toBeGreaterThan(5);
    m.dispose();
  });

  it('forwardBackward needs an adapter and labels', () => {
    const m = load('relu_tied');
    const b = goldenBatch('relu_tied');
    expect(codeOf(() => m.forwardBackward(b)).code).toBe('ENGINE_INVALID_ARG');
    m.addLora({ r: 2, seed: 1 });
    expect(codeOf(() => m.forwardBackward({ ...b, labels: undefined })).code).toBe('ENGINE_INVALID_ARG');
    m.dispose();
  });
});

describe('QLoRA and errors', () => {
  it('quant nf4 changes the logits a little; quantizeWo a little more', () => {
    const b = goldenBatch('relu_tied');
    const fp = load('relu_tied').forward({ ...b, wantLogits: true }).logits!;
    const q = load('relu_tied', { quant: 'nf4' }).forward({ ...b, wantLogits: true }).logits!;
    const qwo = load('relu_tied', { quant: 'nf4', quantizeWo: true }).forward({ ...b, wantLogits: true }).logits!;
    const e1 = relError(q, fp);
    const e2 = relError(qwo, fp);
    expect(e1).toBeGreaterThan(1e-4);
    expect(e1).toBeLessThan(0.2);
    expect(e2).not.toBe(e1);
  });

  it('loads a model saved 4-bit in bitsandbytes layout without re-quantizing', () => {
    const quantized = new Set(['q', 'k', 'v', 'o', 'wi']);
    const dir = modelCopy('relu_tied', (ts) =>
      ts.flatMap((t) => {
        const parts = t.name.split('.');
        if (parts[parts.length - 1] !== 'weight' || !quantized.has(parts[parts.length - 2])) return [t];
        const f = new Float32Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.length));
        const q = engine.nf4Quantize(f, t.shape, { blocksize: 64, doubleQuant: true });
        const prefix = t.name.slice(0, -'weight'.length);
        return Object.entries(engine.nf4ToBnb(q, prefix)).map(([name, r]) => ({
          name,
          dtype: r.dtype as DType,
          shape: r.shape,
          data: r.data,
        }));
      }),
    );
    const b = goldenBatch('relu_tied');
    const fromBnb = engine.T5Model.load({ modelDir: dir });
    const onLoad = load('relu_tied', { quant: 'nf4' });
    expect(relError(fromBnb.forward({ ...b, wantLogits: true }).logits!, onLoad.forward({ ...b, wantLogits: true }).logits!)).toBe(0);
    fromBnb.dispose();
    onLoad.dispose();
  });

  it('bad inputs are JS errors with code and where; dispose is final', () => {
    const m = load('relu_tied');
    const b = goldenBatch('relu_tied');
    const ids = Int32Array.from(b.inputIds);
    ids[3] = 100000;
    const e = codeOf(() => m.forward({ ...b, inputIds: ids }));
    expect(e.code).toBe('ENGINE_INVALID_ARG');
    expect(e.message).toMatch(/token id 100000 at position 3/);
    expect(e.where).toMatch(/^native\/src\/ops\/embedding\.cpp:\d+$/);
    expect(codeOf(() => m.forward({ ...b, batch: 3 })).message).toMatch(/inputIds must hold/);
    const r = m.forward({ ...b, labels: undefined, decoderInputIds: new Int32Array(b.batch * b.tgtLen) });
    expect(Number.isNaN(r.loss)).toBe(true);
    m.dispose();
    expect(codeOf(() => m.forward(b)).code).toBe('ENGINE_DISPOSED');
  });
});

describe('training on the CPU', () => {
  it('loss falls with the trainer optimizer over a few steps', () => {
    const m = load('padding');
    m.addLora({ r: 4, alpha: 8, targets: ['q', 'v'], seed: 3, dropout: 0.05 });
    const b = goldenBatch('padding');
    const opt = (engine as unknown as { optimizerStep: (m: T5Model, o: Record<string, number>) => { gradNorm: number } })
      .optimizerStep;
    const first = m.forward(b).loss;
    for (let step = 1; step <= 15; step++) {
      m.zeroGrad();
      m.forwardBackward({ ...b, dropoutSeed: step });
      opt(m, { lr: 2e-2, step, weightDecay: 0, maxGradNorm: 1 });
    }
    const last = m.forward(b).loss;
    expect(last).toBeLessThan(first - 0.3);
    m.dispose();
  });
});

