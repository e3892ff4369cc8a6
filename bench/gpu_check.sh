#!/usr/bin/env bash
# GPU check (issue 11): the GPU tests, the defaults of harmonic2d to the end, the paper presets of
# hydrogen2d and harmonic2d and a `harmonic --dim 10` run on CUDA, printing it/s and errors beside
# a calibration figure (fp32 matmul TFLOP/s on the GPU); with 2+ GPUs also a 2-process NCCL run of
# harmonic2d at the same global batch. Put the printed table in bench/README.md.
#
#   bash bench/gpu_check.sh                 # full (paper presets: hours)
#   ITERS=300 bash bench/gpu_check.sh       # quick look: paper presets and dim 10 capped at ITERS
#   RUN_TIMEOUT=240 ...                     # each solve stopped (SIGTERM, checkpoint kept) after this
#   SUITE=1 ...                             # also the whole default suite with CUDA visible (pytest-xdist)
#
# Results files go to ${RESULTS:-/tmp/nsvd-gpu-check}, logs to ${LOGS:-$RESULTS}; a summary line per
# run is printed at the end.
set -uo pipefail
cd "$(dirname "$0")/.."
RESULTS=${RESULTS:-/tmp/nsvd-gpu-check}
LOGS=${LOGS:-$RESULTS}
mkdir -p "$RESULTS" "$LOGS"
python3 - <<'PY'
import time, torch, sys
if not torch.cuda.is_available():
    sys.exit("gpu_check: no CUDA device visible to torch")
for i in range(torch.cuda.device_count()):
    print(f"GPU {i}: {torch.cuda.get_device_name(i)}; torch {torch.__version__}")
torch.backends.cuda.matmul.allow_tf32 = False
a = torch.randn(8192, 8192, device="cuda")
for _ in range(3):
    a @ a
torch.cuda.synchronize(); t = time.perf_counter()
for _ in range(10):
    a @ a
torch.cuda.synchronize()
print(f"calibration: fp32 8192^3 matmul {10 * 2 * 8192**3 / (time.perf_counter() - t) / 1e12:.1f} TFLOP/s (no TF32)")
PY

echo "== GPU tests (pytest -m gpu; tests/test_gpu_path.py runs ordinary iterations under"
echo "   torch.cuda.set_sync_debug_mode('error'): any host synchronisation there fails)"
timeout "${TEST_TIMEOUT:-300}" python3 -m pytest -q -rs -p no:cacheprovider -m gpu tests 2>&1 | tee "$LOGS/gpu_tests.log"

iters=()
if [[ -n "${ITERS:-}" ]]; then iters=(--iters "$ITERS"); fi
run() {  # name, then nsvd solve arguments (the device and iteration cap added here)
  local name=$1; shift
  echo "== $name: nsvd solve $* --device cuda"
  local t0=$(date +%s.%N)
  timeout "${RUN_TIMEOUT:-36000}" python3 -m nsvd_cli solve "$@" --device cuda -o "$RESULTS/$name.h5" --overwrite \
    > "$LOGS/$name.log" 2>&1
  echo "$name: exit $?, command wall time $(python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')") s"
  grep -E "mean rel. error|verdict|stopped at|Error|error:" "$LOGS/$name.log" | cut -c1-400
}
run harmonic2d-defaults harmonic2d
run hydrogen2d-paper hydrogen2d --preset paper "${iters[@]}"
run harmonic2d-paper harmonic2d --preset paper "${iters[@]}"
run harmonic-dim10 harmonic --dim 10 "${iters[@]}"
ngpu=$(python3 -c "import torch; print(torch.cuda.device_count())")
if (( ngpu >= 2 )); then
  run harmonic2d-paper-nccl2 harmonic2d --preset paper --nproc 2 "${iters[@]}"
fi

echo "== summary (from the results files)"
python3 - "$RESULTS" <<'PY'
import sys, pathlib, nsvd_cli
print(f"{'run':<24} {'device':<7} {'N':>2} {'iters':>6} {'it/s':>8} {'train s':>8} {'mean rel. err E %':>18} {'converged':>10}")
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.h5")):
    try:
        r = nsvd_cli.load(f)
    except Exception as exc:  # a run stopped by RUN_TIMEOUT leaves only its checkpoint
        print(f"{f.stem:<24} not readable: {exc}")
        continue
    ev = r.history.get("evaluation", {})
    err = ev.get("mean_energy_relative_error", [float("nan")])[-1]
    conv = f"{int(r.converged.sum())}/{r.converged.size}"
    print(f"{f.stem:<24} {r.run['device']:<7} {r.run.get('processes', 1):>2} {r.run['iterations']:>6} "
          f"{r.run['iterations_per_second']:>8.2f} {r.run['wall_time']:>8.1f} {100 * err:>18.3f} {conv:>10}")
PY
if [[ -n "${SUITE:-}" ]]; then
  echo "== the default suite with CUDA visible (device 'auto' picks the GPU)"
  timeout "${SUITE_TIMEOUT:-600}" python3 -m pytest -q -x -p no:cacheprovider -n "${SUITE_WORKERS:-8}" 2>&1 | tee "$LOGS/suite.log" | tail -25
fi
