#!/usr/bin/env bash
# One call on the GPU machine for the 300-step training-parity run (bench/RESULTS.md, "Training
# parity: 300 steps"; tools/loss_curve_parity.py says exactly what is compared). Carried from the
# dev machine: .device (node.tar.xz from ../shared/tools/device-node.sh, nf4/nm.tar.xz with the
# addon headers) and .losscurve/batches.json (npx vite-node tools/loss_curve_batches.ts -- .losscurve/batches.json).
#   run: set -o pipefail; bash bench/loss_curve_device.sh 2>&1 | tee $OUT/log.txt
set -uo pipefail
OUT=${OUT:-/tmp/losscurve}; mkdir -p "$OUT"
WORK=/tmp/lcwork; mkdir -p "$WORK"
B=.losscurve/batches.json
export PYTHONUNBUFFERED=1
tar xJf .device/node.tar.xz -C /opt && export PATH=/opt/node/bin:$PATH
[ -d node_modules ] || { mkdir -p /tmp/nm && tar xJf .device/nf4/nm.tar.xz -C /tmp/nm && ln -s /tmp/nm/node_modules node_modules; }
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; date -u +%Y-%m-%dT%H:%MZ; } | tee "$OUT/meta.txt"
lib=$(find /usr/local /usr/lib /opt \( -name 'libcublas.so.13' -o -name 'libcublas.so.12' \) 2>/dev/null | head -1)
[ -n "$lib" ] && export HUKUK_CUBLAS_DIR=$(dirname "$lib")
export HUKUK_CUDA_ARCHS=${HUKUK_CUDA_ARCHS:-90}
s=$SECONDS
HUKUK_JOBS=16 node native/build.mjs >"$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
echo "build: $((SECONDS - s)) s"
python3 tools/loss_curve_parity.py prep "$WORK" "$B" 2>&1 | grep -v Warning || exit 1
s=$SECONDS
timeout 150 python3 tools/loss_curve_parity.py peft "$WORK" "$B" "$OUT/peft.json" 2>&1 | grep -v Warning
echo "peft: $((SECONDS - s)) s"
for c in fp32 bf16; do
  s=$SECONDS
  timeout 90 node bench/loss_curve_ours.mjs --work "$WORK" --batches "$B" --compute $c --out "$OUT/ours_$c.json" 2>&1
  echo "ours $c: $((SECONDS - s)) s"
done
python3 tools/loss_curve_parity.py compare "$OUT"
