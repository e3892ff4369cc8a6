#!/usr/bin/env bash
# GPU check (issue 11): the GPU tests, then the paper presets of hydrogen2d and harmonic2d and
# a `harmonic --dim 10` run on CUDA, printing it/s and errors; with 2+ GPUs also a 2-process
# NCCL run of harmonic2d at the same global batch. Put the printed table in bench/README.md.
#
#   bash bench/gpu_check.sh               # full (paper presets: tens of minutes)
#   ITERS=500 bash bench/gpu_check.sh     # quick look (every run capped at ITERS iterations)
#
# Output files go to ${OUT:-/tmp/nsvd-gpu-check}; a summary line per run is printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/nsvd-gpu-check}
mkdir -p "$OUT"
python - <<'PY'
import torch, sys
if not torch.cuda.is_available():
    sys.exit("gpu_check: no CUDA device visible to torch")
for i in range(torch.cuda.device_count()):
    print(f"GPU {i}: {torch.cuda.get_device_name(i)}")
PY

echo "== GPU tests (pytest -m gpu; tests/test_gpu_path.py runs ordinary iterations under"
echo "   torch.cuda.set_sync_debug_mode('error'): any host synchronisation there fails)"
python -m pytest -q -rs -p no:cacheprovider -m gpu tests

iters=()
if [[ -n "${ITERS:-}" ]]; then iters=(--iters "$ITERS"); fi
run() {  # name, then nsvd solve arguments
  local name=$1; shift
  echo "== $name: nsvd solve $*"
  local t0=$(date +%s.%N)
  python -m nsvd_cli solve "$@" "${iters[@]}" --device cuda -o "$OUT/$name.h5" --overwrite -q \
    | grep -E "mean rel. error|verdict|stopped at" || true
  local t1=$(date +%s.%N)
  echo "$name: command wall time $(python -c "print(f'{$t1 - $t0:.1f}')") s"
}
run hydrogen2d-paper hydrogen2d --preset paper
run harmonic2d-paper harmonic2d --preset paper
run harmonic-dim10 harmonic --dim 10
ngpu=$(python -c "import torch; print(torch.cuda.device_count())")
if (( ngpu >= 2 )); then
  run harmonic2d-paper-nccl2 harmonic2d --preset paper --nproc 2
fi

echo "== summary (from the results files)"
python - "$OUT" <<'PY'
import sys, pathlib, nsvd_cli
print(f"{'run':<26} {'device':<8} {'N':>2} {'it/s':>8} {'train s':>8} {'mean rel. err E %':>18}")
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.h5")):
    r = nsvd_cli.load(f)
    ev = r.history.get("evaluation", {})
    err = ev.get("mean_energy_relative_error", [float("nan")])[-1]
    print(f"{f.stem:<26} {r.run['device']:<8} {r.run.get('processes', 1):>2} {r.run['iterations_per_second']:>8.2f} "
          f"{r.run['wall_time']:>8.1f} {100 * err:>18.3f}")
PY
