#!/usr/bin/env python
"""Benchmark the cost of the Laplacian in dimension D: training iterations/s per backend.

For each D (default 2, 4, 8, 16) and Laplacian backend (``fd``: central differences,
2D + 1 points in one network call; ``exact``: nested ``torch.func.jvp`` per axis; ``vmap``:
the same, vectorised over the axes, the generic fallback of ``forward`` for modules that do
not propagate a jet; ``forward``: the forward Laplacian of :mod:`nsvd_cli.models`), times
full training steps of :func:`nsvd_cli.train.fit` — sample, ``(f, Tf)``, NestedLoRA loss,
backward, Adam, EMA — on ``harmonic --dim D`` with the default model (disjoint 3 x 64
softplus MLPs, 64 Fourier features, Gaussian envelope), ``modes = D + 1`` and batch 512,
float32. The backend :func:`nsvd_cli.defaults.laplacian_for_dimension` picks for a spec that
leaves ``training.laplacian`` out is marked ``*``.

The calibration figure of ``bench/_calibration.py`` comes first: the GFLOP/s of a fixed float32
1024 x 1024 matmul on the same threads, so that it/s from different machines can be compared (a
busy machine shows a low figure there too).

Indicative figures (a busy shared 2-core machine, calibration 29 GFLOP/s — the same matmul, best
rather than mean of the repeats, as this script measured it until 2026-11-30 — 5 iterations per
cell; ``fd / exact / vmap / forward`` it/s): D = 2: 20.8 / 3.4 / 6.7 / 21.3; D = 4: 7.4 / 2.0 /
2.8 / 8.7; D = 8: 2.2 / 0.63 / 0.81 / 3.3; D = 16: 0.43 / 0.15 / 0.15 / 1.24. The Laplacian
alone (no training step) at D = 16: fd 1.3-1.7 s, forward 0.45-0.6 s per batch.

Example::

    python bench/dimension_bench.py --threads 1                 # ~3 min
    python bench/dimension_bench.py --dims 2,4 --iters 10 --methods fd,forward
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

METHODS = ("fd", "exact", "vmap", "forward")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dims", default="2,4,8,16", help="comma-separated dimensions D (default 2,4,8,16)")
    p.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated backends ({', '.join(METHODS)})")
    p.add_argument("--iters", type=int, default=20, help="timed training iterations per cell (default 20)")
    p.add_argument("--warmup", type=int, default=2, help="untimed iterations first (default 2)")
    p.add_argument("--batch", type=int, default=512, help="batch size (default 512)")
    p.add_argument("--threads", type=int, default=1, help="threads for BLAS and torch (default 1)")
    args = p.parse_args(argv)
    try:
        args.dims = [int(v) for v in args.dims.split(",") if v.strip()]
    except ValueError:
        p.error(f"--dims: expected comma-separated integers, got {args.dims!r}")
    args.methods = [v.strip() for v in args.methods.split(",") if v.strip()]
    bad = [m for m in args.methods if m not in METHODS]
    if bad or not args.methods:
        p.error(f"--methods: unknown {bad}; expected some of {', '.join(METHODS)}")
    if not args.dims or min(args.dims) < 1 or args.iters < 1 or args.threads < 1:
        p.error("--dims, --iters and --threads must be positive")
    return args


def iterations_per_second(dim: int, method: str, args) -> float:
    """Training it/s of ``harmonic --dim dim`` with the Laplacian backend ``method``."""
    import torch

    from nsvd_cli.laplacian import laplacian_vmap
    from nsvd_cli.models import build_model
    from nsvd_cli.problem import Problem
    from nsvd_cli.spec import load_spec
    from nsvd_cli.train import fit

    spec = load_spec("harmonic", dimension=dim, overrides={
        "modes": dim + 1, "training.laplacian": "fd" if method == "vmap" else method,
        "training.batch_size": args.batch, "training.optimizer": "adam", "training.dtype": "float32",
        "model.architecture": "disjoint", "model.hidden": [64, 64, 64], "model.activation": "softplus",
        "model.fourier_features": 64, "model.envelope": "gaussian"})
    problem = Problem(spec)
    if method == "vmap":
        problem.hamiltonian.laplacian = laplacian_vmap
    generator = torch.Generator().manual_seed(0)
    model = build_model(dim, spec.modes, spec.model, generator, problem.sampling.log_density)
    times = []
    for n in (args.warmup, args.iters):
        training = spec.training.model_copy(update={"iterations": n, "eval_every": n, "checkpoint_every": n})
        t = time.perf_counter()
        if n:
            fit(model, problem.operator, problem.sampling, training, generator=generator)
        times.append(time.perf_counter() - t)
    return args.iters / times[-1]


def main(argv=None) -> int:
    args = parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before the pools start
        os.environ[var] = str(args.threads)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

    import torch

    from nsvd_cli.defaults import laplacian_for_dimension

    from _calibration import calibration_line

    print(f"{calibration_line(args.threads)}; torch {torch.__version__}", flush=True)  # sets the torch threads too
    print(f"training it/s (harmonic --dim D, modes D+1, disjoint 3x64, batch {args.batch}, float32, "
          f"{args.iters} iterations); * = default for D")
    header = f"{'D':>3} " + " ".join(f"{m:>10}" for m in args.methods)
    print(header)
    print("-" * len(header))
    for dim in args.dims:
        cells = []
        for method in args.methods:
            ips = iterations_per_second(dim, method, args)
            mark = "*" if method == laplacian_for_dimension(dim) else " "
            cells.append(f"{ips:9.2f}{mark}")
        print(f"{dim:>3} " + " ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
