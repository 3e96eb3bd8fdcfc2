#!/usr/bin/env bash
# Device-side (bash bench/gpu/flash_prof.sh after tools/device/test.sh builds): A/B timings of the fused attention (old = the reference
# hash, the synchronous forward K/V loads and the [H,T,T] bias table; new = the defaults + the
# Toeplitz bias), an ncu profile of the new forward + backward, then (time allowing) the training
# step with HUKUK_FLASH_V2 off/on. END_AT: the script's deadline in epoch seconds.
export HUKUK_ENGINE_TEST_HOOKS=1
OUT=${OUT:-/tmp/devtest}
END_AT=${END_AT:-$(( $(date +%s) + 100 ))}
left() { echo $(( END_AT - $(date +%s) )); }
SHAPES="16,12,512,512,enc 16,12,512,512,dec 16,12,512,512,cross 16,12,64,64,enc 16,12,128,128,dec 16,12,128,64,cross"
P=bench/gpu/flash_attention_prof.mjs
for round in 1 2; do
  (( $(left) > 25 )) || break
  HUKUK_FLASH_HASH_REF=1 HUKUK_FLASH_FWD_SYNC=1 timeout 40 node $P 0 20 $SHAPES
  timeout 40 node $P 1 20 $SHAPES
  (( round == 1 )) || break
  # the pieces alone at 512 (encoder): table bias with the new kernels; the old hash alone; the old fwd loads alone
  (( $(left) > 40 )) && { timeout 20 node $P 0 20 16,12,512,512,enc; HUKUK_FLASH_HASH_REF=1 timeout 20 node $P 1 20 16,12,512,512,enc; HUKUK_FLASH_FWD_SYNC=1 timeout 20 node $P 1 20 16,12,512,512,enc; }
done
NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
if (( $(left) > 30 )); then
  timeout $(( $(left) - 5 )) $NCU --section WarpStateStats --section SchedulerStats --section ComputeWorkloadAnalysis \
    --section Occupancy --section LaunchStats --section MemoryWorkloadAnalysis --section SpeedOfLight \
    --metrics smsp__average_warps_issue_stalled_long_scoreboard_per_issue_active.ratio,smsp__average_warps_issue_stalled_short_scoreboard_per_issue_active.ratio,smsp__average_warps_issue_stalled_mio_throttle_per_issue_active.ratio,smsp__average_warps_issue_stalled_math_pipe_throttle_per_issue_active.ratio,smsp__average_warps_issue_stalled_wait_per_issue_active.ratio,smsp__average_warps_issue_stalled_barrier_per_issue_active.ratio,smsp__average_warps_issue_stalled_not_selected_per_issue_active.ratio,smsp__average_warps_issue_stalled_selected_per_issue_active.ratio,smsp__average_warps_issue_stalled_lg_throttle_per_issue_active.ratio,smsp__average_warps_issue_stalled_dispatch_stall_per_issue_active.ratio,smsp__average_warps_issue_stalled_no_instruction_per_issue_active.ratio,smsp__average_warps_issue_stalled_tex_throttle_per_issue_active.ratio,smsp__average_warps_issue_stalled_branch_resolving_per_issue_active.ratio,smsp__average_warps_issue_stalled_drain_per_issue_active.ratio,smsp__average_warps_issue_stalled_imc_miss_per_issue_active.ratio,smsp__average_warps_issue_stalled_misc_per_issue_active.ratio,sm__pipe_alu_cycles_active.avg.pct_of_peak_sustained_active,sm__pipe_fma_cycles_active.avg.pct_of_peak_sustained_active,sm__pipe_fmaheavy_cycles_active.avg.pct_of_peak_sustained_active,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,sm__pipe_shared_cycles_active.avg.pct_of_peak_sustained_active,sm__inst_executed_pipe_lsu.avg.pct_of_peak_sustained_active,sm__inst_executed_pipe_alu.sum,sm__inst_executed_pipe_fma.sum,sm__inst_executed_pipe_fmaheavy.sum,sm__inst_executed.sum,l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum,lts__t_sectors_op_red.sum \
    -k regex:"flash_(fwd|bwd)_kernel" --launch-count 2 node $P 1 0 16,12,512,512,enc > "$OUT/ncu.txt" 2>&1
  echo "ncu rc=$?"
  grep -E "flash_|Duration|Registers Per|Achieved Occupancy|Theoretical Occupancy|Block Limit|Issue Slots Busy|No Eligible|Executed Ipc A|Compute \(SM\) Thr|Memory Thr|L2 Hit|Warp Cycles Per Issued|stalled|pipe_|inst_executed|bank_conflicts|lts__t_sectors" "$OUT/ncu.txt" | head -120
fi
# the training step (flagship model, random weights): old kernels + table vs new + Toeplitz (HUKUK_FLASH_V2=1)
if (( $(left) > 80 )); then
  timeout 40 python3 bench/gpu/make_model.py /tmp/m 2>&1 | tail -1
  for v in 0 1; do
    (( $(left) > 20 )) || break
    if [ $v = 0 ]; then E="HUKUK_FLASH_V2=0 HUKUK_FLASH_HASH_REF=1 HUKUK_FLASH_FWD_SYNC=1"; else E="HUKUK_FLASH_V2=1"; fi
    env $E timeout $(( $(left) - 3 )) node bench/gpu/train_bench.mjs --model /tmp/m --shapes ${STEP_SHAPES:-16x512x512,16x64x128} --steps 4 --warm 2 2>&1 \
      | grep -o '"shape":"[^"]*"\|"ms_per_step":[0-9.]*\|"loss":[0-9.e-]*' | paste - - - | sed "s/^/step $E | /"
  done
fi
echo "prof script done, $(left) s left"
