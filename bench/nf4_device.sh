#!/usr/bin/env bash
# One call on the GPU machine for the NF4 work: build (sm_90 only, to be quick), run the NF4 tests
# (CPU goldens + CPU-vs-CUDA), then the GEMM micro-benchmark. Expects, carried from the dev
# machine: .device/node.tar.xz (../shared/tools/device-node.sh), .device/nf4/nm.tar.xz (vitest
# and the addon build headers) and .device/nf4/shared/fixtures/nf4/ (the goldens).
#   run: bash bench/nf4_device.sh   (writes logs and JSON under $OUT when set)
set -uo pipefail
OUT=${OUT:-/tmp/nf4out}; mkdir -p "$OUT"
tar xJf .device/node.tar.xz -C /opt && export PATH=/opt/node/bin:$PATH
[ -d node_modules ] || { mkdir -p /tmp/nm && tar xJf .device/nf4/nm.tar.xz -C /tmp/nm && ln -s /tmp/nm/node_modules node_modules; }
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
lib=$(find /usr/local /usr/lib /opt \( -name 'libcublas.so.13' -o -name 'libcublas.so.12' \) 2>/dev/null | head -1)
[ -n "$lib" ] && export HUKUK_CUBLAS_DIR=$(dirname "$lib")
echo "cuBLAS: ${lib:-none}"
export HUKUK_CUDA_ARCHS=${HUKUK_CUDA_ARCHS:-90}
# Others' half-done sources must not stop this run: fall back to the NF4-related modules alone.
node native/build.mjs >"$OUT/build.log" 2>&1 || { echo "full build failed (see build.log); building core/system/nf4/cuda only"; HUKUK_MODULES=core,system,nf4,cuda node native/build.mjs >>"$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }; }
tail -2 "$OUT/build.log"
export HUKUK_SHARED=$PWD/.device/nf4/shared
node node_modules/vitest/vitest.mjs run tests/native/nf4.test.ts tests/native/nf4_cuda.test.ts tests/native/system.test.ts 2>&1 | tee "$OUT/tests.log" | grep -E "✓|✗|×|FAIL|Test Files|Tests |Error|expected" | head -80
node bench/nf4_cuda.bench.mjs --reps 50 --json "$OUT/nf4_cuda_bench.json" 2>&1 | tee "$OUT/bench.txt"
