"""bitsandbytes' NF4 + double quantization, reproduced in numpy (float32 arithmetic).

Used by make_parity_fixtures.py to build the qlora_* goldens on a machine without
bitsandbytes. Checked here against ../shared/fixtures/nf4/nf4_goldens.safetensors
(made by bitsandbytes 0.50.2): `python3 tools/nf4_reference.py` prints per-case matches.
"""
import numpy as np

NF4_CODE = np.array([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0], dtype=np.float32)


def _torch_linspace_f32(start, end, steps):
    """torch.linspace in float32 as the golden maker's machine computed it: step in float32,
    first half start + i*step, second half end - (steps-1-i)*step, each with ONE rounding
    (fused multiply-add). Checked against bitsandbytes' code2 in the shared goldens."""
    start, end = np.float32(start), np.float32(end)
    step = np.float32((end - start) / np.float32(steps - 1))
    half = steps // 2
    out = np.empty(steps, dtype=np.float32)
    for i in range(steps):
        if i < half:
            out[i] = np.float32(np.float64(start) + np.float64(step) * i)
        else:
            out[i] = np.float32(np.float64(end) - np.float64(step) * (steps - i - 1))
    return out


def create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8):
    """bitsandbytes.functional.create_dynamic_map (float32 linspace/means like torch)."""
    data = []
    non_sign_bits = total_bits - 1
    additional_items = 2 ** (non_sign_bits - max_exponent_bits) - 1
    for i in range(max_exponent_bits):
        fraction_items = int(2 ** (i + non_sign_bits - max_exponent_bits) + 1 if signed
                             else 2 ** (i + non_sign_bits - max_exponent_bits + 1) + 1)
        boundaries = _torch_linspace_f32(0.1, 1.0, fraction_items)
        means = ((boundaries[:-1] + boundaries[1:]) / np.float32(2.0)).astype(np.float32)
        scale = np.float32(10 ** (-(max_exponent_bits - 1) + i))
        data += (scale * means).astype(np.float32).tolist()
        if signed:
            data += (-scale * means).astype(np.float32).tolist()
    if additional_items > 0:
        boundaries = _torch_linspace_f32(0.1, 1.0, additional_items + 1)
        means = ((boundaries[:-1] + boundaries[1:]) / np.float32(2.0)).astype(np.float32)
        scale = np.float32(10 ** (-(max_exponent_bits - 1) + i))
        data += (scale * means).tolist()
        if signed:
            data += (-scale * means).tolist()
    data.append(0)
    data.append(1.0)
    data += [0] * (256 - len(data))
    data.sort()
    return np.array(data, dtype=np.float32)


def _nf4_codes(scaled):
    # midpoint thresholds; x > t picks the upper code (ties go to the lower one)
    th = ((NF4_CODE[:-1].astype(np.float64) + NF4_CODE[1:].astype(np.float64)) / 2).astype(np.float32)
    return np.searchsorted(th, scaled, side='left').astype(np.uint8)


def _dquantize(code, x):
    """bitsandbytes' dQuantize<0>: binary search in the sorted 256-value code, then nearest."""
    pivot = np.full(x.shape, 127, dtype=np.int64)
    upper_pivot = np.full(x.shape, 255, dtype=np.int64)
    lower_pivot = np.zeros(x.shape, dtype=np.int64)
    lower = np.full(x.shape, -1.0, dtype=np.float32)
    upper = np.full(x.shape, 1.0, dtype=np.float32)
    val = code[pivot]
    i = 64
    while i > 0:
        gt = x > val
        lower_pivot = np.where(gt, pivot, lower_pivot)
        lower = np.where(gt, val, lower)
        upper_pivot = np.where(gt, upper_pivot, pivot)
        upper = np.where(gt, upper, val)
        pivot = np.where(gt, pivot + i, pivot - i)
        val = code[pivot]
        i >>= 1
    upper = np.where(upper_pivot == 255, code[255], upper)
    lower = np.where(lower_pivot == 0, code[0], lower)
    gt = x > val
    mid_up = ((upper + val) * np.float32(0.5)).astype(np.float32)
    mid_lo = ((lower + val) * np.float32(0.5)).astype(np.float32)
    return np.where(gt, np.where(x > mid_up, upper_pivot, pivot),
                    np.where(x < mid_lo, lower_pivot, pivot)).astype(np.uint8)


def _blocks(flat, bs):
    n = flat.size
    nb = (n + bs - 1) // bs
    pad = np.zeros(nb * bs, dtype=np.float32)
    pad[:n] = flat
    return pad.reshape(nb, bs), n


def quantize_nf4(w, blocksize=64, blocksize2=256, double_quant=True):
    flat = np.ascontiguousarray(w, dtype=np.float32).reshape(-1)
    blk, n = _blocks(flat, blocksize)
    absmax = np.abs(blk).max(axis=1).astype(np.float32)
    inv = (np.float32(1.0) / absmax).astype(np.float32)
    scaled = (blk * inv[:, None]).astype(np.float32)
    codes = _nf4_codes(scaled).reshape(-1)[:n]
    out = {'codes': codes, 'absmax': absmax}
    if double_quant:
        # bitsandbytes: absmax.mean() on the GPU. numpy's pairwise float32 mean matches it for the
        # small tensors here (shared goldens case1/case3); large ones can differ by one ulp.
        offset = np.float32(absmax.mean(dtype=np.float32))
        centered = (absmax - offset).astype(np.float32)
        code2 = create_dynamic_map(signed=True)
        b2, n2 = _blocks(centered, blocksize2)
        absmax2 = np.abs(b2).max(axis=1).astype(np.float32)
        inv2 = (np.float32(1.0) / absmax2).astype(np.float32)
        q = _dquantize(code2, (b2 * inv2[:, None]).astype(np.float32)).reshape(-1)[:n2]
        out.update(absmax_q=q, offset=offset, absmax2=absmax2, code2=code2)
    return out


def dequantize_nf4(st, shape, blocksize=64, blocksize2=256):
    if 'absmax_q' in st:
        q = st['absmax_q']
        blk = np.arange(q.size) // blocksize2
        absmax = (st['code2'][q] * st['absmax2'][blk]).astype(np.float32)
        absmax = (absmax + st['offset']).astype(np.float32)
    else:
        absmax = st['absmax']
    codes = st['codes']
    blk = np.arange(codes.size) // blocksize
    return (NF4_CODE[codes] * absmax[blk]).astype(np.float32).reshape(shape)


def pack(codes):
    c = codes if codes.size % 2 == 0 else np.concatenate([codes, np.zeros(1, np.uint8)])
    return ((c[0::2] << 4) | c[1::2]).astype(np.uint8)


if __name__ == '__main__':
    import json, struct, sys
    path = sys.argv[1] if len(sys.argv) > 1 else '../shared/fixtures/nf4/nf4_goldens.safetensors'
    raw = open(path, 'rb').read()
    n = struct.unpack('<Q', raw[:8])[0]
    hdr = json.loads(raw[8:8 + n])
    dt = {'F32': np.float32, 'U8': np.uint8}

    def get(k):
        h = hdr[k]
        a, b = h['data_offsets']
        return np.frombuffer(raw[8 + n + a:8 + n + b], dtype=dt[h['dtype']]).reshape(h['shape'])
    cases = json.loads(hdr['__metadata__']['cases'])
    ok = True
    for name, c in cases.items():
        x = get(f'{name}.input')
        st = quantize_nf4(x, c['blocksize'], c.get('blocksize2', 256), c['double_quant'])
        res = {'packed': np.array_equal(pack(st['codes']), get(f'{name}.packed'))}
        if c['double_quant']:
            res['code2'] = np.array_equal(st['code2'], get(f'{name}.code2'))
            res['absmax_q'] = np.array_equal(st['absmax_q'], get(f'{name}.absmax_q'))
            res['absmax2'] = np.array_equal(st['absmax2'], get(f'{name}.absmax2'))
            res['offset'] = np.array_equal(st['offset'], get(f'{name}.offset')[0])
        else:
            res['absmax'] = np.array_equal(st['absmax'], get(f'{name}.absmax'))
        deq = dequantize_nf4(st, x.shape, c['blocksize'], c.get('blocksize2', 256))
        res['dequantized'] = np.array_equal(deq, get(f'{name}.dequantized'))
        if not res['dequantized']:
            d = get(f'{name}.dequantized')
            res['deq_maxdiff'] = float(np.abs(deq - d).max())
            res['ndiff'] = int((deq != d).sum())
        print(name, res)
        ok = ok and all(v for k, v in res.items() if isinstance(v, bool))
    print('ALL MATCH' if ok else 'MISMATCH')
