#!/usr/bin/env bash
# The correctness call on the GPU machine (issue 5), before the speed call (bench/gpu/run.sh):
#   1. build for sm_90 + every CUDA test file (parity with the goldens at fp32/bf16, bf16 activations,
#      recompute, fused attention, LoRA kernels, elementwise ops, NF4, GPU generation) via tools/device/test.sh;
#   2. torch's own bf16 gradient error on the fixtures (tools/bf16_grad_reference.py) -> bf16ref.jsonl;
#   3. the 300-step loss-curve parity vs transformers + peft (tools/loss_curve_parity.py; needs
#      .losscurve/batches.json carried: npx vite-node tools/loss_curve_batches.ts -- .losscurve/batches.json)
#      -> $OUT/lc/{peft,ours_fp32,ours_bf16,compare}.json + loss-curve-parity.png.
#   run(command: "bash bench/gpu/checks.sh", carry: [".device", ".device-t5", ".losscurve"], timeout_s: 330)
# Env: PEFT_JSON=bench/loss-curve/peft.json reuses the committed peft curve; LC=0 skips step 3;
# LC_COMPUTES="bf16" runs one of our curves; BF16REF=0 skips step 2 (torch's bf16 error, committed).
set -uo pipefail
OUT=${OUT:-/tmp/checks}; mkdir -p "$OUT/lc"
export PYTHONUNBUFFERED=1
# every GPU test file: tests/native/cuda_*.test.ts and nf4_cuda.test.ts (tests/train/optimizer_cuda too)
TAIL=${TAIL:-40} bash tools/device/test.sh $(ls tests/native/cuda_*.test.ts) tests/native/nf4_cuda.test.ts \
  tests/train/optimizer_cuda.test.ts
export PATH=/opt/node/bin:$PATH
lib=$(find /usr/local /usr/lib /opt \( -name 'libcublas.so.13' -o -name 'libcublas.so.12' \) 2>/dev/null | head -1)
[ -n "$lib" ] && export HUKUK_CUBLAS_DIR=$(dirname "$lib")
if [ "${BF16REF:-1}" != 0 ]; then
  s=$SECONDS
  timeout 60 python3 tools/bf16_grad_reference.py tests/fixtures/t5 2>/dev/null | grep '^{' >"$OUT/bf16ref.jsonl"
  echo "bf16 reference: $((SECONDS - s)) s, $(wc -l <"$OUT/bf16ref.jsonl") lines"
fi
if [ -f .losscurve/batches.json ] && [ "${LC:-1}" != 0 ]; then
  W=/tmp/lcwork; B=.losscurve/batches.json; mkdir -p "$W"
  s=$SECONDS
  python3 tools/loss_curve_parity.py prep "$W" "$B" 2>&1 | grep -v Warning | tail -2
  # PEFT_JSON=bench/loss-curve/peft.json reuses the committed reference curve (transformers + peft
  # on the same base, batches and initial adapter: deterministic, so it needs no re-run when only
  # our engine changed; saves ~150 s of device time)
  if [ -n "${PEFT_JSON:-}" ] && [ -f "$PEFT_JSON" ]; then cp "$PEFT_JSON" "$OUT/lc/peft.json"; echo "peft reference: $PEFT_JSON (reused)"
  else timeout 150 python3 tools/loss_curve_parity.py peft "$W" "$B" "$OUT/lc/peft.json" 2>&1 | grep -v Warning | tail -2; fi
  for c in ${LC_COMPUTES:-fp32 bf16}; do timeout 90 node bench/loss_curve_ours.mjs --work "$W" --batches "$B" --compute $c --out "$OUT/lc/ours_$c.json" 2>&1 | tail -2; done
  python3 tools/loss_curve_parity.py compare "$OUT/lc" 2>&1 | tail -30
  echo "loss curve: $((SECONDS - s)) s"
else
  echo "loss curve skipped: .losscurve/batches.json was not carried"
fi
