#!/usr/bin/env python
"""Benchmark the problem library: ``nsvd solve`` with each problem's defaults.

Runs quartic1d (grid reference), morse1d, hydrogen3d and the harmonic family with D = 3
and prints, per problem, the mean and max relative error of the eigenvalues of T against
the reference (closed form or eigsh grid), the mean angle distance, the reference used and
the wall time (training, and total including the reference and evaluations). The
calibration figure of ``bench/_calibration.py`` (float32 1024² matmul GFLOP/s on the same
threads) comes first, to read the timings against.

Examples::

    python bench/problems_bench.py                      # defaults, full runs (~10 min on 2 cores)
    python bench/problems_bench.py --iters 50           # smoke test of the script
    python bench/problems_bench.py --problems morse1d,quartic1d --threads 1
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

#: (label, problem, --dim)
DEFAULT_CASES = "quartic1d,morse1d,hydrogen3d,harmonic:3"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--problems", default=DEFAULT_CASES,
                   help="comma-separated problems; NAME:D runs a family in dimension D (default: %(default)s)")
    p.add_argument("--iters", type=int, default=None, help="override training iterations (default: the spec's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = p.parse_args(argv)

    import torch

    from nsvd_cli.solve import solve
    from nsvd_cli.spec import load_spec

    from _calibration import calibration_line

    if args.threads:
        torch.set_num_threads(args.threads)
    print(calibration_line(), flush=True)
    rows = []
    for case in args.problems.split(","):
        name, _, dim = case.partition(":")
        overrides = {"training.iterations": args.iters, "training.seed": args.seed}
        if args.iters:
            overrides["training.eval_every"] = args.iters  # evaluate once, at the end
        spec = load_spec(name, overrides=overrides, dimension=int(dim) if dim else None)
        label = f"{name} D={spec.dimension}" if dim else name
        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            out = solve(spec, Path(tmp) / "bench.h5")
            total = time.perf_counter() - t0
        s = out.evaluation.summary()
        ref = out.reference.name if out.reference is not None else "none"
        rows.append((label, spec.modes, spec.training.iterations, s, out.wall_time, total, ref))
        print(f"{label}: {spec.modes} modes, {spec.training.iterations} iterations, reference {ref}, "
              f"torch threads {torch.get_num_threads()}", flush=True)
        if "mean_relative_error" in s:
            print(f"  mean / max rel. error   {100 * s['mean_relative_error']:.4f} % / "
                  f"{100 * s['max_relative_error']:.4f} %")
            print(f"  mean angle distance     {s['mean_angle_distance']:.2e}")
        print(f"  wall time               {out.wall_time:.1f} s training, {total:.1f} s total", flush=True)

    print()
    print(f"{'problem':<16} {'modes':>5} {'iters':>6} {'mean err %':>11} {'max err %':>10} {'train s':>8} "
          f"{'total s':>8}  reference")
    for label, modes, iters, s, wall, total, ref in rows:
        mean = f"{100 * s['mean_relative_error']:.4f}" if "mean_relative_error" in s else "—"
        mx = f"{100 * s['max_relative_error']:.4f}" if "max_relative_error" in s else "—"
        print(f"{label:<16} {modes:>5} {iters:>6} {mean:>11} {mx:>10} {wall:>8.1f} {total:>8.1f}  {ref}")


if __name__ == "__main__":
    main()
