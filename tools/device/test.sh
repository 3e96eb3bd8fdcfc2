#!/usr/bin/env bash
# One call on the GPU machine: build the addon for sm_90 and run the given vitest files there.
#   run(command: "bash tools/device/test.sh tests/native/cuda_x.test.ts [more files]",
#       carry: [".device", ".device-t5"], timeout_s: 240)
# Extra env: BUILD=0 skips the build; POST="cmd" runs a command after the tests (e.g. a bench).
# .device/node.tar.xz comes from ../shared/tools/device-node.sh; .device/nf4/nm.tar.xz holds vitest
# and the addon headers; .device-t5/zod.tar.xz adds zod (both made on the dev machine, git-ignored).
set -uo pipefail
OUT=${OUT:-/tmp/devtest}; mkdir -p "$OUT"
tar xJf .device/node.tar.xz -C /opt && export PATH=/opt/node/bin:$PATH
[ -d node_modules ] || { mkdir -p /tmp/nm && tar xJf .device/nf4/nm.tar.xz -C /tmp/nm && tar xJf .device-t5/zod.tar.xz -C /tmp/nm && ln -s /tmp/nm/node_modules node_modules; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; date -u +%Y-%m-%dT%H:%MZ
lib=$(find /usr/local /usr/lib /opt \( -name 'libcublas.so.13' -o -name 'libcublas.so.12' \) 2>/dev/null | head -1)
[ -n "$lib" ] && export HUKUK_CUBLAS_DIR=$(dirname "$lib")
export HUKUK_CUDA_ARCHS=${HUKUK_CUDA_ARCHS:-90}
# ../shared is not on the device: the NF4 goldens travel in .device/nf4/shared (tests/native/nf4_helpers.ts)
[ -d .device/nf4/shared ] && export HUKUK_SHARED=${HUKUK_SHARED:-$PWD/.device/nf4/shared}
if [ "${BUILD:-1}" != 0 ]; then
  s=$SECONDS
  HUKUK_JOBS=16 node native/build.mjs >"$OUT/build.log" 2>&1 || { grep -E "error|Error" "$OUT/build.log" | head -40; tail -20 "$OUT/build.log"; exit 1; }
  echo "build: $((SECONDS - s)) s"
fi
if [ $# -gt 0 ]; then
  s=$SECONDS
  timeout ${TEST_TIMEOUT:-200} node node_modules/vitest/vitest.mjs run "$@" 2>&1 | tee "$OUT/tests.log" | grep -vE "^\s*$" | tail -${TAIL:-80}
  echo "tests: $((SECONDS - s)) s"
fi
if [ -n "${POST:-}" ]; then bash -c "$POST"; fi
