#!/usr/bin/env python
"""Benchmark the paper's comparison (Sec. 4.1, Fig. 4): NestedLoRA, LoRA, NeuralEF and SpIN at equal wall time.

Each problem (hydrogen2d with 16 modes, harmonic2d with 15) is solved by each method with the
same model, sampler, operator, evaluation and seeds; only ``training.method`` differs.

Equal wall time, robust to a busy machine: the budget is ``--iterations`` NestedLoRA
iterations (default: the problem's default iterations). A calibration phase measures every
method's training iterations/s under the same conditions as the runs (same threads, same
number of concurrent jobs) as CPU seconds per iteration, from the difference of two short runs
(``--calibrate`` and a quarter of it: start-up and the final evaluation cancel), which a busy
machine hardly changes, unlike wall time; a method then gets ``budget × its it/s ÷
NestedLoRA's it/s`` iterations, i.e. the time NestedLoRA needs for the budget. The iteration
counts (not the clock) are what the runs are given, so a run slowed by another job on the
machine is not cut short, and ``--jobs 2`` runs two solves at once (one thread each) without
changing what each run computes.

Printed per problem and method: mean ± std over seeds of the mean relative eigenvalue error,
the mean angle distance, the mean subspace distance, the orthogonality and the iterations/s of
the calibration; and a figure per problem like the paper's Fig. 4 (per-mode errors, bars at the
mean over seeds with min–max whiskers, one colour per method) written to ``--figures``. Every
run's row is kept as JSON beside its results file, and every run checkpoints every 500
iterations: an interrupted bench resumes where it stopped (finished runs are skipped, a run
cut midway continues from its checkpoint, so the full comparison can be spread over several
sittings), and ``--table`` prints the tables and figures from the stored rows only.

Examples::

    python bench/methods_bench.py --jobs 2                          # the full comparison (hours)
    python bench/methods_bench.py --problems hydrogen2d --iterations 6000 --jobs 2
    python bench/methods_bench.py --problems harmonic2d --seeds 0 --iterations 40 --calibrate 20   # smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

MODES = {"hydrogen2d": 16, "harmonic2d": 15}
METHODS = ("nestedlora", "lora", "neuralef", "spin")
COLUMNS = (("mean_relative_error", "mean rel. err", 100, "%"), ("mean_angle_distance", "angle dist.", 1, ""),
           ("mean_subspace_distance", "subspace dist.", 1, ""), ("orthogonality", "orthogonality", 1, ""),
           ("iterations_per_second", "it/CPU s", 1, ""))


#: Checkpoint interval of every run: a bench stopped midway (Ctrl-C, a session's end) loses at
#: most this many iterations per run; started again, each run continues from its checkpoint.
CHECKPOINT_EVERY = 500


def _worker_init(threads: int) -> None:
    """Size the thread pools of a worker process before torch starts them."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    torch.set_num_threads(threads)


def _solve_row(name: str, method: str, seed: int, iterations: int, modes: int, path: str) -> dict:
    """Run one solve (in a worker process) and return its summary row (JSON-able floats)."""
    from nsvd_cli.solve import solve
    from nsvd_cli.spec import load_spec

    spec = load_spec(name, overrides={"modes": modes, "training.method": method, "training.seed": seed,
                                      "training.iterations": iterations, "training.eval_every": iterations,
                                      "training.checkpoint_every": min(iterations, CHECKPOINT_EVERY)})
    t0, c0 = time.perf_counter(), time.process_time()
    out = solve(spec, path, overwrite=True, resume=True)  # an interrupted run continues from <path>.ckpt
    cpu = time.process_time() - c0
    row = {k: float(v) for k, v in out.evaluation.summary().items()} if out.evaluation is not None else {}
    row.update(training_iterations_per_second=float(out.iterations_per_second), wall=time.perf_counter() - t0,
               training_wall=float(out.wall_time), cpu=cpu, iterations=int(iterations), method=method, seed=int(seed),
               path=str(path))
    return row


def _modes(name, args) -> int:
    return args.modes or MODES.get(name)


def _calibrate(pool, args, folder: Path) -> dict:
    """{"problem/method": iterations per CPU second} from the difference of a ``--calibrate``- and a
    ``--calibrate // 4``-iteration run submitted to the same pool as the runs (same threads and
    concurrency); stored in ``calibration.json`` and reused unless ``--recalibrate``."""
    path = folder / "calibration.json"
    stored = json.loads(path.read_text()) if path.exists() and not args.recalibrate else {}
    wanted = {f"{n}/{m}": (n, m) for n in args.problem_list for m in ["nestedlora", *args.method_list]}
    sizes = (max(2, args.calibrate // 4), args.calibrate)
    futures = {key: [pool.submit(_solve_row, n, m, 0, k, _modes(n, args), str(folder / f"cal-{n}-{m}-{k}.h5"))
                     for k in sizes] for key, (n, m) in wanted.items() if key not in stored}
    for key, (short, long) in futures.items():
        a, b = short.result(), long.result()
        stored[key] = (sizes[1] - sizes[0]) / max(b["cpu"] - a["cpu"], 1e-9)
        print(f"calibration {key}: {stored[key]:.2f} iterations per CPU second", flush=True)
    path.write_text(json.dumps(stored, indent=1))
    return stored


def _iterations(name, method, speed: dict, args) -> tuple[int, int]:
    """(iterations of this method, NestedLoRA iterations of the budget) at equal wall time."""
    from nsvd_cli.spec import load_spec

    budget = args.iterations or load_spec(name, overrides={"modes": _modes(name, args)}).training.iterations
    return max(2, round(budget * speed[f"{name}/{method}"] / speed[f"{name}/nestedlora"])), budget


def _run_all(pool, args, folder: Path, speed: dict) -> None:
    """Submit every (problem, method, seed) run without a stored row; store each row as it ends."""
    futures = {}
    for name in args.problem_list:
        for method in args.method_list:
            iterations, budget = _iterations(name, method, speed, args)
            print(f"{name}: {method} gets {iterations} iterations (= {budget} NestedLoRA iterations, "
                  f"{budget / speed[f'{name}/nestedlora']:.0f} CPU s at the calibrated speed)", flush=True)
            for seed in args.seed_list:
                stem = folder / f"{name}-{method}-seed{seed}"
                if Path(f"{stem}.json").exists() and not args.overwrite:
                    continue
                futures[stem] = pool.submit(_solve_row, name, method, seed, iterations, _modes(name, args),
                                            f"{stem}.h5")
    for stem, future in futures.items():
        row = future.result()
        Path(f"{stem}.json").write_text(json.dumps(row, indent=1))
        print(f"done {stem.name}: mean rel. err {100 * row.get('mean_relative_error', float('nan')):.4g} %, "
              f"{row['training_wall']:.0f} s of training", flush=True)


def _rows(name, args, folder: Path, speed: dict) -> dict:
    """{method: [row, ...per stored seed]} with the calibrated iterations per CPU second as
    ``iterations_per_second``."""
    runs = {}
    for method in args.method_list:
        for seed in args.seed_list:
            path = folder / f"{name}-{method}-seed{seed}.json"
            if path.exists():
                row = json.loads(path.read_text())
                row["iterations_per_second"] = speed.get(f"{name}/{method}", float("nan"))
                runs.setdefault(method, []).append(row)
    return runs


def _table(name, runs) -> str:
    import numpy as np

    lines = [f"| {name} | iterations | " + " | ".join(c[1] for c in COLUMNS) + " |",
             "|---" * (len(COLUMNS) + 2) + "|"]
    for method, rows in runs.items():
        cells = []
        for key, _, factor, unit in COLUMNS:
            v = np.array([r.get(key, np.nan) for r in rows], float) * factor
            cells.append(f"{np.nanmean(v):.3g} ± {np.nanstd(v):.2g}{unit}")
        lines.append(f"| {method} ({len(rows)} seeds) | {rows[0]['iterations']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _report(args, folder: Path, figures: Path, speed: dict) -> None:
    from nsvd_cli.files.results import load
    from nsvd_cli.plotting import errors_figure, save_figures

    for name in args.problem_list:
        runs = _rows(name, args, folder, speed)
        if not runs:
            continue
        print(_table(name, runs), flush=True)
        pairs = [(method, row["path"]) for method, rows in runs.items() for row in rows]
        fig = errors_figure([load(path) for _, path in pairs], labels=[m for m, _ in pairs])  # seeds pooled
        print("figure:", *save_figures({"errors": fig}, figures, f"methods-{name}"), flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--problems", default="hydrogen2d,harmonic2d")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--modes", type=int, default=None, help="override the modes (default 16 / 15)")
    p.add_argument("--iterations", type=int, default=None,
                   help="the budget in NestedLoRA iterations (default: the problem's default iterations)")
    p.add_argument("--calibrate", type=int, default=300, help="iterations of each speed calibration run")
    p.add_argument("--recalibrate", action="store_true", help="measure the speeds again (else reuse calibration.json)")
    p.add_argument("--jobs", type=int, default=1, help="solves run at once, each in its own process")
    p.add_argument("--threads", type=int, default=None, help="threads per solve (default: cores / jobs)")
    p.add_argument("--overwrite", action="store_true", help="run again the runs that have a stored row")
    p.add_argument("--table", action="store_true", help="only print the tables and figures from the stored rows")
    p.add_argument("--runs", default="bench/methods_runs", help="folder for the results files and rows")
    p.add_argument("--figures", default="bench/figures", help="folder for the Fig. 4-like figures")
    args = p.parse_args(argv)
    args.problem_list = args.problems.split(",")
    args.seed_list = [int(s) for s in args.seeds.split(",")]
    args.method_list = args.methods.split(",")
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    folder, figures = Path(args.runs), Path(args.figures)
    folder.mkdir(parents=True, exist_ok=True)

    from _calibration import matmul_gflops

    print(f"calibration: {matmul_gflops(threads):.0f} GFLOP/s (float32 1024² matmul, {threads} threads); "
          f"{args.jobs} job(s) at once, {threads} thread(s) each", flush=True)
    if args.table:
        path = folder / "calibration.json"
        _report(args, folder, figures, json.loads(path.read_text()) if path.exists() else {})
        return
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn"), initializer=_worker_init,
                             initargs=(threads,)) as pool:
        speed = _calibrate(pool, args, folder)
        _run_all(pool, args, folder, speed)
    _report(args, folder, figures, speed)


if __name__ == "__main__":
    main()
