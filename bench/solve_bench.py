#!/usr/bin/env python
"""Benchmark ``nsvd solve``: wall time, iterations/s and accuracy on the paper's problems.

Runs each problem with its built-in defaults (or ``--preset paper``: 3x128 softplus MLPs,
K = 1024 / 256 Fourier features, batch 512, RMSProp 1e-4, the paper's mode counts 36 / 55)
and prints iterations/s, wall time and the metrics of the final evaluation. Reference
implementation on a 2-core CPU (issue #2): 0.93 it/s on hydrogen2d (36 modes, batch 512),
1.17 it/s on the oscillator (55 modes, batch 512) — printed as ratios. The calibration figure
of ``bench/_calibration.py`` (float32 1024² matmul GFLOP/s on the same threads) comes first.

Examples::

    python bench/solve_bench.py                           # defaults, full runs (~20 min)
    python bench/solve_bench.py --preset paper --iters 200   # speed at the paper's settings
    python bench/solve_bench.py --problems harmonic2d --iters 1000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

REFERENCE_IPS = {"hydrogen2d": 0.93, "harmonic2d": 1.17}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--problems", default="harmonic2d,hydrogen2d")
    p.add_argument("--preset", default=None, help="spec preset, e.g. 'paper'")
    p.add_argument("--iters", type=int, default=None, help="override training iterations")
    p.add_argument("--modes", type=int, default=None, help="override the number of modes")
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
    for name in args.problems.split(","):
        overrides = {"training.iterations": args.iters, "modes": args.modes, "training.seed": args.seed}
        if args.iters:
            overrides["training.eval_every"] = args.iters  # evaluate once, at the end
        spec = load_spec(name, preset=args.preset, overrides=overrides)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            out = solve(spec, Path(tmp) / "bench.h5")
            total = time.perf_counter() - t0
        s = out.evaluation.summary()
        rows.append((name, spec.modes, spec.training.iterations, out.iterations_per_second, out.wall_time, total, s))
        print(f"{name}: {spec.modes} modes, {spec.training.iterations} iterations, batch {spec.training.batch_size}, "
              f"preset {args.preset or 'default'}, torch threads {torch.get_num_threads()}", flush=True)
        ref = REFERENCE_IPS.get(name)
        # the reference figures are for the paper's settings; other settings are not comparable
        ratio = (f" ({out.iterations_per_second / ref:.1f}x the reference code's {ref} it/s at the same settings)"
                 if ref and args.preset == "paper" else "")
        print(f"  iterations/s        {out.iterations_per_second:.2f}{ratio}")
        print(f"  training wall time  {out.wall_time:.1f} s;  total incl. setup/evaluation/writing {total:.1f} s")
        for key in ("mean_relative_error", "max_relative_error", "mean_energy_relative_error"):
            if key in s:
                print(f"  {key:<27}{100 * s[key]:.4f} %")
        for key in ("mean_angle_distance", "mean_subspace_distance", "orthogonality", "max_off_diagonal"):
            if key in s:
                print(f"  {key:<27}{s[key]:.3e}")
    return rows


if __name__ == "__main__":
    main()
