#!/usr/bin/env python
"""Benchmark the finite-difference grid baselines against the analytic references.

For each problem (default ``hydrogen2d`` and ``harmonic2d``), grid size ``N`` (points per
axis, ``--grid``) and method (``eigsh``, ``lobpcg``), builds ``H = -kappa Laplacian + V`` on
the spec's evaluation box (cell-centred for Coulomb, see :mod:`nsvd_cli.baselines.grid`),
solves for the spec's ``modes`` lowest levels and prints wall time, peak memory (rise of the
process's resident memory during the solve), iterations and the mean relative energy error
``mean_l |E_l - E_l^ref| / |E_l^ref|``.  Refusals (memory, grid too small) and failed
convergence are printed as rows, not raised. The calibration figure of
``bench/_calibration.py`` (float32 1024² matmul GFLOP/s on the same threads) comes first.

Example::

    python bench/compare_bench.py --grid 100,200,400 --threads 1

lobpcg is unpreconditioned and slow on fine grids (paper App. A.3, Fig. 6); ``--max-iter``
caps it (rows then show ``converged = no``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grid", default="100,200,400,800",
                   help="comma-separated points per axis (default: 100,200,400,800)")
    p.add_argument("--problems", default="hydrogen2d,harmonic2d", help="comma-separated problem names or spec files")
    p.add_argument("--methods", default="eigsh,lobpcg", help="comma-separated methods (eigsh, lobpcg, dense)")
    p.add_argument("--order", type=int, default=2, choices=(2, 4), help="finite-difference order (default 2)")
    p.add_argument("--tol", type=float, default=None, help="relative residual tolerance (default 1e-6)")
    p.add_argument("--max-iter", type=int, default=None, help="lobpcg iteration cap (default 5000)")
    p.add_argument("--max-memory", type=float, default=None, help="memory limit in GiB (default: available)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for BLAS and torch (default: library defaults); 1 is most reproducible "
                        "on a busy machine")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        args.grid = [int(v) for v in args.grid.split(",") if v.strip()]
    except ValueError:
        p.error(f"--grid: expected comma-separated integers, got {args.grid!r}")
    if not args.grid or min(args.grid) < 2:
        p.error(f"--grid: need integers >= 2, got {args.grid}")
    args.problems = [v.strip() for v in args.problems.split(",") if v.strip()]
    args.methods = [v.strip() for v in args.methods.split(",") if v.strip()]
    if args.threads is not None and args.threads < 1:
        p.error(f"--threads: must be >= 1, got {args.threads}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads is not None:  # before numpy/scipy/torch start their thread pools
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

    import numpy as np
    import torch

    from nsvd_cli.baselines import METHODS, GridError, grid_for_spec, solve_grid
    from nsvd_cli.errors import NsvdError
    from nsvd_cli.baselines.reference import reference_for
    from nsvd_cli.spec import load_spec

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    for m in args.methods:
        if m not in METHODS:
            print(f"--methods: unknown method {m!r}; expected one of {', '.join(METHODS)}", file=sys.stderr)
            return 2
    max_memory = None if args.max_memory is None else args.max_memory * 2.0**30
    from _calibration import calibration_line

    print(calibration_line(), flush=True)

    header = f"{'problem':<12} {'N':>5} {'method':<7} {'time/s':>9} {'peak/MiB':>9} {'iters':>6} " \
             f"{'conv':>4} {'mean rel err':>12} {'max resid':>9}"
    print(header)
    print("-" * len(header))
    for name in args.problems:
        try:
            spec = load_spec(name)
        except NsvdError as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            return 2
        ref = reference_for(spec)
        for n in args.grid:
            try:
                H, _, spacing = grid_for_spec(spec, n, order=args.order)
            except (GridError, ValueError) as exc:
                print(f"{spec.name:<12} {n:>5} {'-':<7} refused: {exc}")
                continue
            for method in args.methods:
                try:
                    sol = solve_grid(H, spec.modes, method, spacing=spacing, tol=args.tol, max_iter=args.max_iter,
                                     seed=args.seed, max_memory=max_memory)
                except GridError as exc:
                    print(f"{spec.name:<12} {n:>5} {method:<7} refused: {exc}")
                    continue
                if ref is not None:
                    rel = np.abs(sol.energies - ref.energies) / np.abs(ref.energies)
                    err = f"{rel.mean():12.3e}"
                else:
                    err = f"{'n/a':>12}"
                print(f"{spec.name:<12} {n:>5} {sol.method:<7} {sol.wall_time:9.2f} "
                      f"{sol.peak_memory / 2**20:9.1f} {sol.iterations:6d} {'yes' if sol.converged else 'no':>4} "
                      f"{err} {sol.residuals.max():9.1e}", flush=True)
            del H
    return 0


if __name__ == "__main__":
    sys.exit(main())
