#!/usr/bin/env bash
# Device-side A/B of the fused attention's experiments in the training step (run after
# tools/device/test.sh has built the addon, e.g. as its POST): the flagship model (random weights,
# bench/gpu/make_model.py), bench/gpu/train_bench.mjs at STEP_SHAPES, one process per setting:
#   default                                   (today's defaults: the backward at 3 blocks per SM)
#   exp    HUKUK_FLASH_FWD_IDX64=1 HUKUK_FLASH_BWD_DOT16=1   (the experiments, see ops/flash_attention.cu)
#   default again, then the experiments again, as long as END_AT (epoch seconds) allows.
# Results: one JSON line per shape and setting into $OUT/ab.jsonl (and a short form on stdout).
# (The per-kernel A/B is the micro-benchmark of tests/native/cuda_flash_attention.test.ts; the kernels'
# older switches HUKUK_FLASH_HASH_REF / HUKUK_FLASH_FWD_SYNC can be timed per call with
# bench/gpu/flash_attention_prof.mjs.)
set -u
export HUKUK_ENGINE_TEST_HOOKS=1 PATH=/opt/node/bin:$PATH
OUT=${OUT:-/tmp/devtest}; mkdir -p "$OUT"
END_AT=${END_AT:-$(( $(date +%s) + 100 ))}
left() { echo $(( END_AT - $(date +%s) )); }
lib=$(find /usr/local /usr/lib /opt \( -name 'libcublas.so.13' -o -name 'libcublas.so.12' \) 2>/dev/null | head -1)
[ -n "$lib" ] && export HUKUK_CUBLAS_DIR=$(dirname "$lib")
M=/tmp/t5flagship
# MODEL_DONE: a file whose presence says a make_model.py started earlier (in the background, during
# the build) has written $M; else the model is made here
if [ -n "${MODEL_DONE:-}" ]; then
  while [ ! -f "$MODEL_DONE" ] && (( $(left) > 20 )); do sleep 1; done
else
  timeout 40 python3 bench/gpu/make_model.py $M 2>&1 | tail -1
fi
SH=${STEP_SHAPES:-16x512x512,8x512x512,16x64x128}
ab() {
  local tag=$1; shift
  if (( $(left) < ${NEED:-25} )); then echo "step $tag: skipped, $(left) s left"; return; fi
  env "$@" timeout $(( $(left) - 2 )) node bench/gpu/train_bench.mjs --model $M --shapes $SH --steps ${STEPS:-10} \
    --tag $tag --json "$OUT/ab.jsonl" 2>&1 | grep '"train"' | sed -E 's/"(kind|recompute|flash|bs|src|tgt|weights_gib|device_used_gib|tflop_per_step|achieved_tflops|floor_ms|x_floor|loss_at_step)":[^,]*,?//g' | cut -c1-200
}
ab default HUKUK_X=1
ab exp HUKUK_FLASH_FWD_IDX64=1 HUKUK_FLASH_BWD_DOT16=1
ab default2 HUKUK_X=1
ab exp2 HUKUK_FLASH_FWD_IDX64=1 HUKUK_FLASH_BWD_DOT16=1
echo "flash_prof.sh done, $(left) s left"
