#!/usr/bin/env python
"""Issue #10's accuracy targets in D = 6 ... 10: run the default solves, then re-check them.

Each run is ``nsvd solve <problem> [--dim D] --modes L`` with the problem's defaults (wall
time measured around the whole command: reference, training, evaluations, file), followed by
the independent check of ``bench/check_results.py``: the eigenfunctions reloaded with
``nsvd_cli.load``, their energies from the quadratic form ``(κ<∇ψ|∇ψ> + <ψ|Vψ>)/<ψ|ψ>`` on a
*fresh* importance-weighted Monte Carlo sample of 10^6 points (reverse-mode gradients), and
compared with the exact levels. A calibration figure (float32 matmul GFLOP/s) comes first.

Example::

    python bench/dimension_targets.py --out runs/targets           # ~35 min on 2 cores
    python bench/dimension_targets.py --only harmonic6d
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: name -> (solve arguments, wall-time target s, mean %, max %)
TARGETS = {
    "harmonic6d": (["harmonic", "--dim", "6", "--modes", "7"], 600, 0.3, 0.6),
    "harmonic10d": (["harmonic", "--dim", "10", "--modes", "11"], 900, 0.5, 1.0),
    "coupled_harmonic8d": (["coupled_harmonic8d", "--modes", "9"], 900, 0.5, 1.0),
    "quartic6d": (["quartic6d", "--modes", "7"], 900, 0.5, 1.0),
}


def calibration(threads: int) -> float:
    import torch

    torch.set_num_threads(threads)
    a = torch.randn(1024, 1024)
    a @ a
    t, n = time.perf_counter(), 20
    for _ in range(n):
        a @ a
    return 2 * 1024**3 * n / (time.perf_counter() - t) / 1e9


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs/targets", help="folder for the results files")
    p.add_argument("--only", default=",".join(TARGETS), help="comma-separated subset")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--samples", type=int, default=1_000_000, help="points of the independent check")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"calibration: float32 1024^3 matmul {calibration(args.threads):.1f} GFLOP/s on {args.threads} thread(s)",
          flush=True)
    rows = []
    for name in args.only.split(","):
        solve_args, limit, mean_t, max_t = TARGETS[name]
        path = out / f"{name}.h5"
        cmd = ["nsvd", "solve", *solve_args, "--output", str(path), "--overwrite", "--quiet",
               "--threads", str(args.threads)]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        wall = time.perf_counter() - t0
        check = subprocess.run([sys.executable, str(HERE / "check_results.py"), str(path), "--samples",
                                str(args.samples)], check=True, capture_output=True, text=True).stdout
        print(check, flush=True)
        summary = [line for line in check.splitlines() if line.startswith("energies:")][0]
        mean = float(summary.split("mean rel. error ")[1].split(" %")[0])
        worst = float(summary.split(", max ")[1].split(" %")[0])
        ok = wall <= limit and mean <= mean_t and worst <= max_t
        rows.append((name, wall, limit, mean, mean_t, worst, max_t, summary.split("; ")[1], ok))
        print(f"{name}: wall {wall:.0f} s", flush=True)
    print(f"\n{'run':<20} {'wall s':>7} {'(≤)':>5} {'mean %':>8} {'(≤)':>5} {'max %':>7} {'(≤)':>5}  met  gaps")
    for name, wall, limit, mean, mean_t, worst, max_t, gaps, ok in rows:
        print(f"{name:<20} {wall:>7.0f} {limit:>5} {mean:>8.4f} {mean_t:>5} {worst:>7.4f} {max_t:>5}  "
              f"{'yes' if ok else 'no ':<4} {gaps}")


if __name__ == "__main__":
    main()
