#!/usr/bin/env bash
# One call on the GPU machine for the CUDA T5 engine (issue 5): build (sm_90), our trainer-step
# benchmark on the flagship shape, our generation benchmark, torch_baseline.py (LoRA-bf16, the bar
# where bitsandbytes is missing) in the same call, then our variants (activation recomputation,
# fused attention off), and the side-by-side table (bench/gpu/table.mjs -> $OUT/table.md).
# Carried from the dev machine: .device/node.tar.xz (../shared/tools/device-node.sh),
# .device/nf4/nm.tar.xz (vitest + addon headers), .device-t5/torch_baseline.py (a copy of
# ../shared/bench/torch_baseline.py).
#   STAGES="build bench gen baseline variants" SHAPES=16x64x128,16x512x512,8x512x512 bash bench/gpu/run.sh
# Add "tests" to STAGES for tests/native/cuda_t5.test.ts (parity), e.g. in a call of its own.
#
# Time: the device allows 10 minutes a call. Every stage runs under `timeout` with its own cap,
# cut further so the whole script ends by BUDGET_S (default 530 s) with time left for the table;
# a stage with under 10 s left is skipped and says so in its output file. The order puts what
# the ratios need first (ours, then the baseline), the variants last.
set -uo pipefail
OUT=${OUT:-/tmp/t5gpu}; mkdir -p "$OUT"
STAGES=${STAGES:-build bench gen baseline variants}
SHAPES=${SHAPES:-16x64x128,16x512x512,8x512x512}
VARIANT_SHAPES=${VARIANT_SHAPES:-$SHAPES}
BUDGET_S=${BUDGET_S:-530}
MODEL=/tmp/t5flagship
export PYTHONUNBUFFERED=1
start=$SECONDS

# Seconds a stage may take: its cap, or what is left of the budget minus 10 s for the table.
stage_budget() {
  local cap=$1 left=$((BUDGET_S - (SECONDS - start) - 10))
  ((left < cap)) && cap=$left
  echo "$cap"
}
# skip_note FILE TAG STAGE: one JSON line saying the stage did not run (table.mjs shows it).
skip_note() { echo "{\"kind\":\"train\",\"tag\":\"$2\",\"shape\":\"all\",\"error\":\"skipped: $3 had no time left in the ${BUDGET_S} s budget\"}" >>"$1"; }
ran() { echo "$1: $((SECONDS - $2)) s (total $((SECONDS - start)) s)"; }

tar xJf .device/node.tar.xz -C /opt && export PATH=/opt/node/bin:$PATH
[ -d node_modules ] || { mkdir -p /tmp/nm && tar xJf .device/nf4/nm.tar.xz -C /tmp/nm && tar xJf .device-t5/zod.tar.xz -C /tmp/nm && ln -s /tmp/nm/node_modules node_modules; }
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; date -u +%Y-%m-%dT%H:%MZ; } | tee "$OUT/meta.txt"
lib=$(find /usr/local /usr/lib /opt \( -name 'libcublas.so.13' -o -name 'libcublas.so.12' \) 2>/dev/null | head -1)
[ -n "$lib" ] && export HUKUK_CUBLAS_DIR=$(dirname "$lib")
echo "cuBLAS: ${lib:-none}"
export HUKUK_CUDA_ARCHS=${HUKUK_CUDA_ARCHS:-90}

if [[ $STAGES == *build* ]]; then
  s=$SECONDS
  HUKUK_JOBS=16 timeout "$(stage_budget 240)" node native/build.mjs >"$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
  ran build $s
fi
if [[ $STAGES == *tests* ]]; then
  s=$SECONDS
  timeout "$(stage_budget 180)" node node_modules/vitest/vitest.mjs run tests/native/cuda_t5.test.ts 2>&1 | tee "$OUT/tests.log" |
    grep -E "✓|✗|×|FAIL|Test Files|Tests |Error|expected|grads|logits|loss" | head -120
  ran tests $s
fi
if [[ $STAGES == *bench* || $STAGES == *gen* || $STAGES == *variants* ]]; then
  s=$SECONDS
  b=$(stage_budget 90)
  ((b >= 10)) && timeout "$b" python3 bench/gpu/make_model.py "$MODEL" 2>&1 | tail -3
  ran model $s
fi
if [[ $STAGES == *bench* ]]; then
  s=$SECONDS
  b=$(stage_budget 120)
  if ((b >= 10)); then
    timeout "$b" node bench/gpu/train_bench.mjs --model "$MODEL" --shapes "$SHAPES" --steps "${STEPS:-10}" \
      --json "$OUT/ours.jsonl" 2>&1
  else skip_note "$OUT/ours.jsonl" default bench; fi
  ran ours $s
fi
if [[ $STAGES == *gen* ]]; then
  # GEN's benchmark: JSON lines {"kind":"generate",...}, batch 1 greedy 128 new tokens beside the
  # baseline's figure (table.mjs reads ms_per_token).
  s=$SECONDS
  b=$(stage_budget 75)
  if ((b >= 10)) && [ -f bench/gpu/gen_bench.mjs ]; then
    timeout "$b" node bench/gpu/gen_bench.mjs --model "$MODEL" 2>&1 | tee "$OUT/gen.log" | grep '^{' >"$OUT/gen.jsonl"
  elif [ ! -f bench/gpu/gen_bench.mjs ]; then
    echo '{"kind":"generate","error":"bench/gpu/gen_bench.mjs is missing"}' >"$OUT/gen.jsonl"
  else echo "{\"kind\":\"generate\",\"error\":\"skipped: no time left in the ${BUDGET_S} s budget\"}" >"$OUT/gen.jsonl"; fi
  ran gen $s
fi
if [[ $STAGES == *baseline* ]]; then
  s=$SECONDS
  b=$(stage_budget 200)
  if ((b >= 10)); then
    SHAPES=$SHAPES MODES=${MODES:-lora_bf16} timeout "$b" python3 .device-t5/torch_baseline.py 2>&1 | grep -v Warning |
      tee "$OUT/baseline.jsonl"
  else echo '{"note":"baseline skipped: no time left"}' >"$OUT/baseline.jsonl"; fi
  ran baseline $s
fi
if [[ $STAGES == *variants* ]]; then
  # Activation recomputation: train_bench.mjs's --recompute where it has the flag; otherwise the
  # env var HUKUK_T5_RECOMPUTE=1 (read by a train_bench.mjs that predates the flag, if at all:
  # the line's tag says which way it was asked, and a build without it measures the default).
  s=$SECONDS
  b=$(stage_budget 90)
  if ((b >= 10)); then
    if grep -qE "recompute['\"]?\s*:\s*\{\s*type" bench/gpu/train_bench.mjs; then
      timeout "$b" node bench/gpu/train_bench.mjs --model "$MODEL" --shapes "$VARIANT_SHAPES" --steps "${VARIANT_STEPS:-5}" \
        --recompute --json "$OUT/variants.jsonl" --tag recompute 2>&1 | grep '"train"'
    else
      HUKUK_T5_RECOMPUTE=1 timeout "$b" node bench/gpu/train_bench.mjs --model "$MODEL" --shapes "$VARIANT_SHAPES" \
        --steps "${VARIANT_STEPS:-5}" --json "$OUT/variants.jsonl" --tag recompute_env 2>&1 | grep '"train"'
    fi
  else skip_note "$OUT/variants.jsonl" recompute variants; fi
  ran recompute $s
  # Fused (flash-style) attention off: the unfused path, same shapes.
  s=$SECONDS
  b=$(stage_budget 90)
  if ((b >= 10)); then
    HUKUK_T5_FLASH=0 timeout "$b" node bench/gpu/train_bench.mjs --model "$MODEL" --shapes "$VARIANT_SHAPES" \
      --steps "${VARIANT_STEPS:-5}" --json "$OUT/variants.jsonl" --tag flash_off 2>&1 | grep '"train"'
  else skip_note "$OUT/variants.jsonl" flash_off variants; fi
  ran flash_off $s
fi
rm -rf "$MODEL"
node bench/gpu/table.mjs "$OUT" | tee "$OUT/table.md"
echo "total: $((SECONDS - start)) s"
