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
    python bench/dimension_targets.py --figure-from runs/targets/log.txt --figure docs/img/error-vs-dimension.png
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from _calibration import calibration_line

HERE = Path(__file__).resolve().parent
#: name -> (solve arguments, wall-time target s, mean %, max %)
DIMENSION = {"harmonic6d": 6, "harmonic10d": 10, "coupled_harmonic8d": 8, "quartic6d": 6}
TARGETS = {
    "harmonic6d": (["harmonic", "--dim", "6", "--modes", "7"], 600, 0.3, 0.6),
    "harmonic10d": (["harmonic", "--dim", "10", "--modes", "11"], 900, 0.5, 1.0),
    "coupled_harmonic8d": (["coupled_harmonic8d", "--modes", "9"], 900, 0.5, 1.0),
    "quartic6d": (["quartic6d", "--modes", "7"], 900, 0.5, 1.0),
}


def parse_log(text: str) -> list[tuple[str, float, float]]:
    """(name, mean %, max %) of each run in this script's output."""
    rows, summary = [], None
    for line in text.splitlines():
        if line.startswith("energies:"):
            summary = line
        elif ": wall " in line and summary is not None:
            mean = float(summary.split("mean rel. error ")[1].split(" %")[0])
            worst = float(summary.split(", max ")[1].split(" %")[0])
            rows.append((line.split(":")[0], mean, worst))
    return rows


def plot(rows, path) -> None:
    """Mean and max relative energy error (independent check) versus D, one marker per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.4))
    for name, mean, worst in rows:
        d = DIMENSION[name]
        ax.plot([d, d], [mean, worst], color="0.7", lw=1)
        ax.plot(d, mean, "o", label=f"{name} (mean)")
        ax.plot(d, worst, "v", color=ax.lines[-1].get_color())
    ax.set_yscale("log")
    ax.set_xlabel("dimension D")
    ax.set_ylabel("relative energy error % (o mean, v max)")
    ax.set_title("nsvd defaults, 2 CPU cores, 10^6-point re-check", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs/targets", help="folder for the results files")
    p.add_argument("--only", default=",".join(TARGETS), help="comma-separated subset")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--samples", type=int, default=1_000_000, help="points of the independent check")
    p.add_argument("--figure", help="write the error-versus-D figure here")
    p.add_argument("--figure-from", help="only draw the figure, from a saved output of this script")
    args = p.parse_args(argv)
    if args.figure_from:
        plot(parse_log(Path(args.figure_from).read_text()), args.figure)
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(calibration_line(args.threads), flush=True)
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
    if args.figure:
        plot([(r[0], r[3], r[5]) for r in rows], args.figure)
    print(f"\n{'run':<20} {'wall s':>7} {'(≤)':>5} {'mean %':>8} {'(≤)':>5} {'max %':>7} {'(≤)':>5}  met  gaps")
    for name, wall, limit, mean, mean_t, worst, max_t, gaps, ok in rows:
        print(f"{name:<20} {wall:>7.0f} {limit:>5} {mean:>8.4f} {mean_t:>5} {worst:>7.4f} {max_t:>5}  "
              f"{'yes' if ok else 'no ':<4} {gaps}")


if __name__ == "__main__":
    main()
