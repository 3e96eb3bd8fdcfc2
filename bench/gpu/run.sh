#!/usr/bin/env bash
# One call on the GPU machine for the CUDA T5 engine (issue 5): build (sm_90), our trainer-step
# benchmark on the flagship shape, our generation benchmark, torch_baseline.py (LoRA-bf16, the bar
# where bitsandbytes is missing) in the same call, then our variants (activation recomputation,
# fused attention off), and the side-by-side table (bench/gpu/table.mjs -> $OUT/table.md).
# Files in $OUT: meta.txt, ours.jsonl, gen.jsonl, baseline.jsonl, variants.jsonl, notes.jsonl
# (stages cut by their timeout), table.md (+ build.log, gen.log, tests.log).
# Carried from the dev machine: .device/node.tar.xz (../shared/tools/device-node.sh),
# .device/nf4/nm.tar.xz (vitest + addon headers), .device-t5/torch_baseline.py (a copy of
# ../shared/bench/torch_baseline.py).
#   STAGES="build bench gen baseline variants" SHAPES=16x64x128,16x512x512,8x512x512 bash bench/gpu/run.sh
# BASELINE_SHAPES (default SHAPES) limits the baseline's shapes when device time is short.
# Add "tests" to STAGES for tests/native/cuda_t5.test.ts (parity), e.g. in a call of its own.
#
# Time: the device allows 10 minutes a call. Every stage runs under `timeout` with its own cap,
# cut further so the whole script ends by BUDGET_S (default 530 s) with time left for the table;
# a stage with under 10 s left is skipped and says so in its output file. The order puts what
# the ratios need first (ours, then the baseline), then generation, the variants last.
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
# note_timeout STAGE RC SECONDS: a stage cut by `timeout` (rc 124) is named in notes.jsonl.
note_timeout() { [[ $2 == 124 ]] && echo "{\"kind\":\"note\",\"note\":\"$1 was stopped by its $3 s timeout: its later lines are missing\"}" >>"$OUT/notes.jsonl"; return 0; }

tar xJf .device/node.tar.xz -C /opt && export PATH=/opt/node/bin:$PATH
# zod (.device-t5/zod.tar.xz) only matters to the tests stage: the build and the benchmarks go on without it
[ -d node_modules ] || { mkdir -p /tmp/nm && tar xJf .device/nf4/nm.tar.xz -C /tmp/nm &&
  { [ ! -f .device-t5/zod.tar.xz ] || tar xJf .device-t5/zod.tar.xz -C /tmp/nm; } && ln -s /tmp/nm/node_modules node_modules; }
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; date -u +%Y-%m-%dT%H:%MZ; } | tee "$OUT/meta.txt"
lib=$(find /usr/local /usr/lib /opt \( -name 'libcublas.so.13' -o -name 'libcublas.so.12' \) 2>/dev/null | head -1)
[ -n "$lib" ] && export HUKUK_CUBLAS_DIR=$(dirname "$lib")
echo "cuBLAS: ${lib:-none}"
export HUKUK_CUDA_ARCHS=${HUKUK_CUDA_ARCHS:-90}

if [[ $STAGES == *build* ]]; then
  s=$SECONDS
  HUKUK_JOBS=16 timeout "$(stage_budget 300)" node native/build.mjs >"$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
  ran build $s
fi
if [[ $STAGES == *tests* ]]; then
  s=$SECONDS
  b=$(stage_budget 180)
  timeout "$b" node node_modules/vitest/vitest.mjs run tests/native/cuda_t5.test.ts 2>&1 | tee "$OUT/tests.log" |
    grep -E "✓|✗|×|FAIL|Test Files|Tests |Error|expected|grads|logits|loss" | head -120
  note_timeout tests "${PIPESTATUS[0]}" "$b"
  ran tests $s
fi
if [[ $STAGES == *bench* || $STAGES == *gen* || $STAGES == *variants* ]]; then
  s=$SECONDS
  b=$(stage_budget 90)
  ((b >= 10)) && { timeout "$b" python3 bench/gpu/make_model.py "$MODEL" 2>&1 | tail -3; note_timeout make_model "${PIPESTATUS[0]}" "$b"; }
  ran model $s
fi
if [[ $STAGES == *bench* ]]; then
  s=$SECONDS
  b=$(stage_budget 120)
  if ((b >= 10)); then
    timeout "$b" node bench/gpu/train_bench.mjs --model "$MODEL" --shapes "$SHAPES" --steps "${STEPS:-10}" \
      --json "$OUT/ours.jsonl" 2>&1
    note_timeout "train_bench (default)" $? "$b"
  else skip_note "$OUT/ours.jsonl" default bench; fi
  ran ours $s
fi
if [[ $STAGES == *baseline* ]]; then
  s=$SECONDS
  b=$(stage_budget 200)
  if ((b >= 10)); then
    SHAPES=${BASELINE_SHAPES:-$SHAPES} MODES=${MODES:-lora_bf16} timeout "$b" python3 .device-t5/torch_baseline.py 2>&1 | grep -v Warning |
      tee "$OUT/baseline.jsonl"
    note_timeout torch_baseline "${PIPESTATUS[0]}" "$b"
  else echo '{"note":"baseline skipped: no time left"}' >"$OUT/baseline.jsonl"; fi
  ran baseline $s
fi
if [[ $STAGES == *gen* ]]; then
  # GEN's benchmark: JSON lines {"kind":"generate",...}, batch 1 greedy 128 new tokens beside the
  # baseline's figure (table.mjs reads ms_per_token).
  s=$SECONDS
  b=$(stage_budget 100)
  if ((b >= 10)) && [ -f bench/gpu/gen_bench.mjs ]; then
    timeout "$b" node bench/gpu/gen_bench.mjs --model "$MODEL" 2>&1 | tee "$OUT/gen.log" | grep '^{' >"$OUT/gen.jsonl"
    note_timeout gen_bench "${PIPESTATUS[0]}" "$b"
  elif [ ! -f bench/gpu/gen_bench.mjs ]; then
    echo '{"kind":"generate","error":"bench/gpu/gen_bench.mjs is missing"}' >"$OUT/gen.jsonl"
  else echo "{\"kind\":\"generate\",\"error\":\"skipped: no time left in the ${BUDGET_S} s budget\"}" >"$OUT/gen.jsonl"; fi
  ran gen $s
fi
if [[ $STAGES == *variants* ]]; then
  # Activation recomputation and the unfused attention (HUKUK_T5_FLASH=0), each shape, one process
  # (train_bench.mjs --variants: one model load, every line tagged with its variant).
  s=$SECONDS
  b=$(stage_budget 150)
  if ((b >= 10)); then
    timeout "$b" node bench/gpu/train_bench.mjs --model "$MODEL" --shapes "$VARIANT_SHAPES" --steps "${VARIANT_STEPS:-5}" \
      --variants "${VARIANTS:-recompute,act_fp32,flash_off}" --json "$OUT/variants.jsonl" 2>&1 | grep '"train"'
    note_timeout "train_bench (variants)" "${PIPESTATUS[0]}" "$b"
  else skip_note "$OUT/variants.jsonl" "${VARIANTS:-recompute,act_fp32,flash_off}" variants; fi
  ran variants $s
fi
rm -rf "$MODEL"
node bench/gpu/table.mjs "$OUT" | tee "$OUT/table.md"
echo "total: $((SECONDS - start)) s"
