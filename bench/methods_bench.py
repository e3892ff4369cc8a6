#!/usr/bin/env python
"""Benchmark the paper's comparison (Sec. 4.1, Fig. 4): NestedLoRA, LoRA, NeuralEF and SpIN at equal wall time.

Each problem (hydrogen2d with 16 modes, harmonic2d with 15) is solved by each method with the
same model, sampler, operator, evaluation and seeds; only ``training.method`` differs. Equal
wall time: the budget is ``--budget`` seconds of training per run, or by default the wall time
of NestedLoRA with the problem's default iterations (measured on the first seed); each method's
iterations are its measured iterations/s (a short calibration run, ``--calibrate``
iterations) times the budget. Printed per problem and method: mean ± std over seeds of the mean
relative eigenvalue error, mean angle distance, mean subspace distance, orthogonality and
iterations/s; and a figure per problem like the paper's Fig. 4 (per-mode errors, bars at the
mean over seeds with min–max whiskers, one colour per method) written to ``--figures``.

Examples::

    python bench/methods_bench.py                                   # the full comparison (hours)
    python bench/methods_bench.py --problems harmonic2d --seeds 0 --budget 20   # a smoke test
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

MODES = {"hydrogen2d": 16, "harmonic2d": 15}
METHODS = ("nestedlora", "lora", "neuralef", "spin")
COLUMNS = (("mean_relative_error", "mean rel. err", 100, "%"), ("mean_angle_distance", "angle dist.", 1, ""),
           ("mean_subspace_distance", "subspace dist.", 1, ""), ("orthogonality", "orthogonality", 1, ""),
           ("iterations_per_second", "it/s", 1, ""))


def _spec(name, method, seed, iterations, args):
    from nsvd_cli.spec import load_spec

    return load_spec(name, overrides={"modes": args.modes or MODES.get(name), "training.method": method,
                                      "training.seed": seed, "training.iterations": iterations,
                                      "training.eval_every": iterations, "training.checkpoint_every": iterations})


def _ips(name, method, args, folder: Path) -> float:
    """Training iterations/s of a method, from a short run (evaluation excluded as far as possible)."""
    from nsvd_cli.solve import solve

    out = solve(_spec(name, method, 0, args.calibrate, args), folder / f"cal-{name}-{method}.h5", overwrite=True)
    return out.iterations_per_second


def _budget(name, args, folder: Path) -> float:
    """Seconds of training per run: --budget, or NestedLoRA's wall time with the default iterations."""
    if args.budget:
        return args.budget
    from nsvd_cli.solve import solve
    from nsvd_cli.spec import load_spec

    default = load_spec(name, overrides={"modes": args.modes or MODES.get(name)}).training.iterations
    out = solve(_spec(name, "nestedlora", args.seed_list[0], default, args), folder / f"budget-{name}.h5",
                overwrite=True)
    return out.wall_time


def _run(name, args, folder: Path) -> dict:
    """{method: [(summary + it/s, results path), ...per seed]} at equal wall time."""
    from nsvd_cli.solve import solve

    budget = _budget(name, args, folder)
    runs = {}
    for method in args.method_list:
        iterations = max(2, int(budget * _ips(name, method, args, folder)))
        print(f"{name}: {method}, {iterations} iterations for {budget:.0f} s", flush=True)
        for seed in args.seed_list:
            path = folder / f"{name}-{method}-seed{seed}.h5"
            t0 = time.perf_counter()
            out = solve(_spec(name, method, seed, iterations, args), path, overwrite=True)
            row = dict(out.evaluation.summary(), iterations_per_second=out.iterations_per_second,
                       wall=time.perf_counter() - t0)
            runs.setdefault(method, []).append((row, path))
    return runs


def _table(name, runs) -> str:
    import numpy as np

    lines = [f"| {name} | " + " | ".join(c[1] for c in COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for method, rows in runs.items():
        cells = []
        for key, _, factor, unit in COLUMNS:
            v = np.array([r[key] for r, _ in rows], float) * factor
            cells.append(f"{np.nanmean(v):.3g} ± {np.nanstd(v):.2g}{unit}")
        lines.append(f"| {method} ({len(rows)} seeds) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--problems", default="hydrogen2d,harmonic2d")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--modes", type=int, default=None, help="override the modes (default 16 / 15)")
    p.add_argument("--budget", type=float, default=None, help="training seconds per run (default: NestedLoRA's "
                                                              "wall time with the default iterations)")
    p.add_argument("--calibrate", type=int, default=20, help="iterations of the speed calibration runs")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--runs", default="bench/methods_runs", help="folder for the results files")
    p.add_argument("--figures", default="bench/figures", help="folder for the Fig. 4-like figures")
    args = p.parse_args(argv)
    args.seed_list = [int(s) for s in args.seeds.split(",")]
    args.method_list = args.methods.split(",")

    import torch

    from nsvd_cli.files.results import load
    from nsvd_cli.plotting import errors_figure, save_figures

    if args.threads:
        torch.set_num_threads(args.threads)
    folder, figures = Path(args.runs), Path(args.figures)
    folder.mkdir(parents=True, exist_ok=True)
    for name in args.problems.split(","):
        runs = _run(name, args, folder)
        print(_table(name, runs), flush=True)
        pairs = [(method, path) for method, rows in runs.items() for _, path in rows]
        fig = errors_figure([load(path) for _, path in pairs], labels=[m for m, _ in pairs])  # seeds pooled
        print("figure:", *save_figures({"errors": fig}, figures, f"methods-{name}"), flush=True)


if __name__ == "__main__":
    main()
