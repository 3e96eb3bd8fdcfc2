#!/usr/bin/env bash
# One call on the GPU machine for the CUDA T5 engine (issue 5): build (sm_90), the CUDA tests
# (parity with the goldens at fp32 and bf16, CPU-vs-CUDA training step), our trainer-step
# benchmark on the flagship shape, then torch_baseline.py (LoRA-bf16, the bar where bitsandbytes
# is missing) in the same call, and the side-by-side table (bench/gpu/table.mjs).
# Carried from the dev machine: .device/node.tar.xz (../shared/tools/device-node.sh),
# .device/nf4/nm.tar.xz (vitest + addon headers), .device-t5/torch_baseline.py (a copy of
# ../shared/bench/torch_baseline.py).
#   STAGES="build tests bench baseline" SHAPES=16x64x128,16x512x512,8x512x512 bash bench/gpu/run.sh
set -uo pipefail
OUT=${OUT:-/tmp/t5gpu}; mkdir -p "$OUT"
STAGES=${STAGES:-build tests bench baseline}
SHAPES=${SHAPES:-16x64x128,16x512x512,8x512x512}
export PYTHONUNBUFFERED=1
tar xJf .device/node.tar.xz -C /opt && export PATH=/opt/node/bin:$PATH
[ -d node_modules ] || { mkdir -p /tmp/nm && tar xJf .device/nf4/nm.tar.xz -C /tmp/nm && tar xJf .device-t5/zod.tar.xz -C /tmp/nm && ln -s /tmp/nm/node_modules node_modules; }
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; date -u +%Y-%m-%dT%H:%MZ; } | tee "$OUT/meta.txt"
lib=$(find /usr/local /usr/lib /opt \( -name 'libcublas.so.13' -o -name 'libcublas.so.12' \) 2>/dev/null | head -1)
[ -n "$lib" ] && export HUKUK_CUBLAS_DIR=$(dirname "$lib")
echo "cuBLAS: ${lib:-none}"
export HUKUK_CUDA_ARCHS=${HUKUK_CUDA_ARCHS:-90}
if [[ $STAGES == *build* ]]; then
  s=$SECONDS
  HUKUK_JOBS=16 node native/build.mjs >"$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
  echo "build: $((SECONDS - s)) s"
fi
if [[ $STAGES == *tests* ]]; then
  s=$SECONDS
  timeout 240 node node_modules/vitest/vitest.mjs run tests/native/cuda_t5.test.ts 2>&1 | tee "$OUT/tests.log" |
    grep -E "✓|✗|×|FAIL|Test Files|Tests |Error|expected|grads|logits|loss" | head -120
  echo "tests: $((SECONDS - s)) s"
fi
if [[ $STAGES == *bench* ]]; then
  s=$SECONDS
  python3 bench/gpu/make_model.py /tmp/t5flagship 2>&1 | tail -3
  echo "model: $((SECONDS - s)) s"
  s=$SECONDS
  timeout 300 node bench/gpu/train_bench.mjs --model /tmp/t5flagship --shapes "$SHAPES" --steps "${STEPS:-10}" \
    --json "$OUT/ours.jsonl" 2>&1
  echo "ours: $((SECONDS - s)) s"
  # experiments (same call, same card): TF32 instead of bf16 products; no CUDA graph
  HUKUK_T5_GEMM=tf32 timeout 120 node bench/gpu/train_bench.mjs --model /tmp/t5flagship --shapes 16x512x512 \
    --steps 5 --json "$OUT/variants.jsonl" --tag gemm_tf32 2>&1 | grep '"train"'
  HUKUK_T5_GRAPHS=0 timeout 120 node bench/gpu/train_bench.mjs --model /tmp/t5flagship --shapes 16x64x128 \
    --steps 10 --json "$OUT/variants.jsonl" --tag no_graphs 2>&1 | grep '"train"'

  rm -rf /tmp/t5flagship
fi
if [[ $STAGES == *baseline* ]]; then
  s=$SECONDS
  SHAPES=$SHAPES MODES=${MODES:-lora_bf16} timeout 300 python3 .device-t5/torch_baseline.py 2>&1 | grep -v Warning |
    tee "$OUT/baseline.jsonl"
  echo "baseline: $((SECONDS - s)) s"
fi
node bench/gpu/table.mjs "$OUT" | tee "$OUT/table.md"
