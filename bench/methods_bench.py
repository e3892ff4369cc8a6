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
changing what each run computes. Each worker runs an untimed 2-iteration warm-up solve before
its first calibration run of a method (a process's first solve pays one-off costs); a long
calibration run under 1.5× the short one's CPU time is an error (raise ``--calibrate``; about
100 is the least for harmonic2d), never stored, and a stored speed over 50× off NestedLoRA's
is refused (``--recalibrate``).

Printed per problem and method: mean ± std over seeds of the mean relative eigenvalue error
(the Rayleigh quotients of the learned functions, per mode), the mean relative error of the
Ritz energies (``/ritz``: Rayleigh–Ritz on the learned functions, per level), the mean angle distance, the mean subspace distance, the orthogonality and the iterations/s of
the calibration; and a figure per problem like the paper's Fig. 4 (per-mode errors, bars at the
mean over seeds with min–max whiskers, one colour per method) written to ``--figures``. Every
run's row is kept as JSON beside its results file, and every run checkpoints every 500
iterations: an interrupted bench resumes where it stopped (finished runs are skipped, a run
cut midway continues from its checkpoint, "resuming from checkpoint" is printed, so the full
comparison can be spread over several sittings), and ``--table`` prints the tables and figures
from the stored rows only. A stored row or checkpoint of another iteration count than this
invocation gives the run (another ``--iterations`` or calibration) is not used: one line says
so, the row is left out of the table, and ``--overwrite`` runs it again (deleting such a
checkpoint) — or use another ``--runs`` folder.

Stopping: one Ctrl-C (SIGINT) or SIGTERM cancels the runs not started, stops the running
solves (each writes its checkpoint; a second Ctrl-C is ignored meanwhile, workers still running
after 60 s are killed), leaves no process behind, prints what was kept and how to resume, and
exits with status 130. Resume by running the same command again without ``--overwrite``.
Started in the background (``&``, ``nohup``) a shell script's job ignores SIGINT, so stop it
with SIGTERM (``kill <pid>``).

Examples::

    python bench/methods_bench.py --jobs 2                          # the full comparison (hours)
    python bench/methods_bench.py --problems hydrogen2d --iterations 6000 --jobs 2
    python bench/methods_bench.py --problems harmonic2d --seeds 0 --iterations 40 --calibrate 100   # smoke test
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

MODES = {"hydrogen2d": 16, "harmonic2d": 15}
METHODS = ("nestedlora", "lora", "neuralef", "spin")
COLUMNS = (("mean_relative_error", "mean rel. err", 100, "%"), ("ritz_relative_error", "Ritz mean rel. err", 100, "%"),
           ("mean_angle_distance", "angle dist.", 1, ""),
           ("mean_subspace_distance", "subspace dist.", 1, ""), ("orthogonality", "orthogonality", 1, ""),
           ("iterations_per_second", "it/CPU s", 1, ""))


#: Checkpoint interval of every run: a bench stopped midway (Ctrl-C, a session's end) loses at
#: most this many iterations per run; started again, each run continues from its checkpoint.
CHECKPOINT_EVERY = 500

#: The long calibration run's CPU time must be at least this multiple of the short one's (it
#: has 4x the iterations): below, start-up and evaluation outweigh the iterations and the
#: difference of the two is noise.
MIN_CPU_RATIO = 1.5

#: A stored speed further than this factor from NestedLoRA's on the same problem is refused
#: (SpIN, the slowest, is ~5x slower per iteration).
MAX_SPEED_RATIO = 50.0

#: Iterations of the untimed warm-up solve a worker runs before its first calibration run of a
#: (problem, method): a process's first solve pays one-off costs (lazy imports, first calls).
WARMUP_ITERATIONS = 2

#: Seconds the running solves get, after Ctrl-C or SIGTERM, to write their checkpoint before
#: they are killed.
STOP_GRACE = 60.0

_STOP = False  # worker: a SIGINT / SIGTERM arrived; the running solve stops, no other one starts
_IN_TASK = False  # worker: a solve is running (a signal then raises KeyboardInterrupt in it)
_WARM: set = set()  # worker: the (problem, method) pairs already solved once in this process


def _worker_signal(signum, frame) -> None:
    """SIGINT / SIGTERM in a worker: the running solve gets one KeyboardInterrupt (the training
    loop then writes its checkpoint and re-raises); later signals are ignored, so a second
    Ctrl-C cannot cut the checkpoint short; runs picked up afterwards do not start."""
    global _STOP
    if _STOP:
        return
    _STOP = True
    if _IN_TASK:
        raise KeyboardInterrupt


def _worker_init(threads: int) -> None:
    """Size the thread pools of a worker process before torch starts them; install the
    worker's signal handlers (:func:`_worker_signal`)."""
    signal.signal(signal.SIGINT, _worker_signal)
    signal.signal(signal.SIGTERM, _worker_signal)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    torch.set_num_threads(threads)


def _spec(name: str, method: str, seed: int, iterations: int, modes: int):
    """The resolved spec of one run: only the method, seed and iteration count vary."""
    from nsvd_cli.spec import load_spec

    return load_spec(name, overrides={"modes": modes, "training.method": method, "training.seed": seed,
                                      "training.iterations": iterations, "training.eval_every": iterations,
                                      "training.checkpoint_every": min(iterations, CHECKPOINT_EVERY)})


def _solve_row(name: str, method: str, seed: int, iterations: int, modes: int, path: str) -> dict:
    """Run one solve (in a worker process) and return its summary row (JSON-able floats).

    Raises KeyboardInterrupt when the worker was told to stop (before or during the solve; an
    interrupted solve has written its checkpoint ``<path>.ckpt``)."""
    global _IN_TASK
    from nsvd_cli.solve import solve

    spec = _spec(name, method, seed, iterations, modes)
    _IN_TASK = True  # set before testing _STOP: a signal in between then raises
    try:
        if _STOP:
            raise KeyboardInterrupt("not started: the bench is stopping")
        t0, c0 = time.perf_counter(), time.process_time()
        out = solve(spec, path, overwrite=True, resume=True)  # an interrupted run continues from <path>.ckpt
        cpu = time.process_time() - c0
    finally:
        _IN_TASK = False
    row = {k: float(v) for k, v in out.evaluation.summary().items()} if out.evaluation is not None else {}
    row.update(training_iterations_per_second=float(out.iterations_per_second), wall=time.perf_counter() - t0,
               training_wall=float(out.wall_time), cpu=cpu, iterations=int(iterations), method=method, seed=int(seed),
               path=str(path))
    return row


def _calibration_row(name: str, method: str, iterations: int, modes: int, path: str) -> dict:
    """:func:`_solve_row` of a calibration run (seed 0), after an untimed
    ``WARMUP_ITERATIONS``-iteration solve of the same problem and method if this worker has
    not run one yet, so that one-off costs do not land in one of the two timed runs."""
    if (name, method) not in _WARM:
        warm = Path(path).with_name(f"warmup-{os.getpid()}-{Path(path).name}")
        _solve_row(name, method, 0, WARMUP_ITERATIONS, modes, str(warm))
        warm.unlink(missing_ok=True)
        _WARM.add((name, method))
    return _solve_row(name, method, 0, iterations, modes, path)


def _modes(name, args) -> int:
    return args.modes or MODES.get(name)


def calibration_speed(sizes: tuple[int, int], cpu: tuple[float, float]) -> float:
    """Iterations per CPU second from two runs of ``sizes = (short, long)`` iterations that
    took ``cpu = (a, b)`` CPU seconds: ``(long - short) / (b - a)`` (start-up and the final
    evaluation, the same in both, cancel).

    Raises
    ------
    ValueError
        ``b`` is not at least ``MIN_CPU_RATIO × a`` (or either is not a positive finite
        number): the difference is dominated by noise (e.g. a cold first run), and the
        calibration runs need more iterations (``--calibrate``).
    """
    (short, long), (a, b) = sizes, cpu
    if not (math.isfinite(a) and math.isfinite(b) and a > 0 and b >= MIN_CPU_RATIO * a):
        raise ValueError(f"the {long}-iteration run took {b:.3g} CPU s, not at least {MIN_CPU_RATIO:g}x the "
                         f"{short}-iteration run's {a:.3g} s: start-up and evaluation outweigh the iterations, "
                         f"the speed would be noise; raise --calibrate (not stored)")
    return (long - short) / (b - a)


def implausible_speeds(speed: dict) -> list[str]:
    """One message per stored ``"problem/method"`` speed (iterations per CPU second) that is
    not a positive finite number or is more than ``MAX_SPEED_RATIO`` times faster or slower
    than NestedLoRA's on the same problem (when that one is stored)."""
    messages = []
    for key, value in speed.items():
        ref = speed.get(key.split("/")[0] + "/nestedlora")
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            messages.append(f"{key}: {value!r} iterations per CPU second is not a positive number")
        elif isinstance(ref, (int, float)) and math.isfinite(ref) and ref > 0 \
                and not 1 / MAX_SPEED_RATIO <= value / ref <= MAX_SPEED_RATIO:
            messages.append(f"{key}: {value:.3g} iterations per CPU second is {value / ref:.3g}x "
                            f"NestedLoRA's {ref:.3g}")
    return messages


def _calibrate(pool, args, folder: Path) -> dict:
    """{"problem/method": iterations per CPU second} from the difference of a ``--calibrate``- and a
    ``--calibrate // 4``-iteration run submitted to the same pool as the runs (same threads and
    concurrency), each after a warm-up (:func:`_calibration_row`); stored in
    ``calibration.json`` and reused unless ``--recalibrate``. An implausible measured speed
    (:func:`calibration_speed`) or stored one (:func:`implausible_speeds`) exits with a message
    and is not stored."""
    path = folder / "calibration.json"
    stored = json.loads(path.read_text()) if path.exists() and not args.recalibrate else {}
    if bad := implausible_speeds(stored):
        raise SystemExit(f"{path}: implausible stored speeds ({'; '.join(bad)}); run with --recalibrate")
    wanted = {f"{n}/{m}": (n, m) for n in args.problem_list for m in ["nestedlora", *args.method_list]}
    sizes = (max(2, args.calibrate // 4), args.calibrate)
    for stale in [*folder.glob("cal-*.ckpt"), *folder.glob("warmup-*")]:  # left by a stop; a calibration run
        stale.unlink()  # never resumes (its CPU time would be short)
    futures = {key: [pool.submit(_calibration_row, n, m, k, _modes(n, args), str(folder / f"cal-{n}-{m}-{k}.h5"))
                     for k in sizes] for key, (n, m) in wanted.items() if key not in stored}
    errors = []
    for key, (short, long) in futures.items():
        a, b = short.result(), long.result()
        try:
            stored[key] = calibration_speed(sizes, (a["cpu"], b["cpu"]))
        except ValueError as e:
            errors.append(f"calibration {key}: {e}")
            continue
        print(f"calibration {key}: {stored[key]:.2f} iterations per CPU second", flush=True)
    path.write_text(json.dumps(stored, indent=1))
    if errors:
        raise SystemExit("\n".join(errors))
    if bad := implausible_speeds(stored):
        raise SystemExit(f"implausible speeds ({'; '.join(bad)}); raise --calibrate and run with --recalibrate")
    return stored
def _iterations(name, method, speed: dict, args) -> tuple[int, int]:
    """(iterations of this method, NestedLoRA iterations of the budget) at equal wall time."""
    from nsvd_cli.spec import load_spec

    budget = args.iterations or load_spec(name, overrides={"modes": _modes(name, args)}).training.iterations
    return max(2, round(budget * speed[f"{name}/{method}"] / speed[f"{name}/nestedlora"])), budget


def stale_row(row: dict, iterations: int | None) -> str | None:
    """Why a stored row does not count for a run this invocation gives ``iterations``
    iterations (None when the row counts, or when ``iterations`` is None: budget unknown)."""
    stored = row.get("iterations")
    if iterations is None or stored == iterations:
        return None
    return (f"stored {stored} iterations, this budget gives {iterations}; rerun with --overwrite or use another "
            f"--runs folder")


def _checkpoint_mismatch(ckpt: Path, spec) -> tuple[str | None, int | None]:
    """(why the checkpoint ``ckpt`` cannot be resumed into ``spec``, or None; its iteration).
    A checkpoint of another iteration count is refused here although :func:`solve` would
    resume it: its schedule and share of the budget belong to another comparison."""
    from nsvd_cli.errors import NsvdError
    from nsvd_cli.solve import check_resumable
    from nsvd_cli.train import load_checkpoint

    try:
        state = load_checkpoint(ckpt)
        stored = state.get("meta", {}).get("spec", {}).get("training", {}).get("iterations")
        if stored != spec.training.iterations:
            return f"its checkpoint is of a {stored}-iteration run, this budget gives {spec.training.iterations}", None
        check_resumable(state, spec, ckpt)
    except NsvdError as e:
        return f"its checkpoint cannot be resumed ({e})", None
    return None, int(state["iteration"])


def _prepare(stem: Path, spec, overwrite: bool) -> bool:
    """Whether to submit the run writing ``<stem>.h5``; prints why not, or that it resumes.

    Not run: a stored row (unless ``overwrite``; one of another iteration count is reported);
    a checkpoint that cannot be resumed into ``spec`` (with ``overwrite`` it is deleted and the
    run starts afresh). A resumable checkpoint is resumed (also with ``overwrite``)."""
    row_path, ckpt = Path(f"{stem}.json"), Path(f"{stem}.h5.ckpt")
    if row_path.exists() and not overwrite:
        if why := stale_row(json.loads(row_path.read_text()), spec.training.iterations):
            print(f"{stem.name}: {why}", flush=True)
        return False
    if ckpt.exists():
        why, done = _checkpoint_mismatch(ckpt, spec)
        if why is None:
            print(f"{stem.name}: resuming from checkpoint {ckpt.name} (iteration {done})", flush=True)
        elif overwrite:
            ckpt.unlink()
            print(f"{stem.name}: {why}; deleted it (--overwrite), starting afresh", flush=True)
        else:
            print(f"{stem.name}: {why}; rerun with --overwrite (deletes it) or use another --runs folder", flush=True)
            return False
    return True


def _store_row(stem: Path, future) -> None:
    """Done-callback of a run: write its row ``<stem>.json`` (atomically) if it finished."""
    if future.cancelled() or future.exception() is not None:
        return
    tmp = Path(f"{stem}.json.tmp")
    tmp.write_text(json.dumps(future.result(), indent=1))
    os.replace(tmp, f"{stem}.json")


def _run_all(pool, args, folder: Path, speed: dict) -> None:
    """Submit every (problem, method, seed) run to do (:func:`_prepare`); store each row as it ends."""
    futures = {}
    for name in args.problem_list:
        for method in args.method_list:
            iterations, budget = _iterations(name, method, speed, args)
            print(f"{name}: {method} gets {iterations} iterations (= {budget} NestedLoRA iterations, "
                  f"{budget / speed[f'{name}/nestedlora']:.0f} CPU s at the calibrated speed)", flush=True)
            for seed in args.seed_list:
                stem = folder / f"{name}-{method}-seed{seed}"
                if not _prepare(stem, _spec(name, method, seed, iterations, _modes(name, args)), args.overwrite):
                    continue
                futures[stem] = pool.submit(_solve_row, name, method, seed, iterations, _modes(name, args),
                                            f"{stem}.h5")
                futures[stem].add_done_callback(lambda f, stem=stem: _store_row(stem, f))
    for stem, future in futures.items():
        row = future.result()
        print(f"done {stem.name}: mean rel. err {100 * row.get('mean_relative_error', float('nan')):.4g} %, "
              f"{row['training_wall']:.0f} s of training", flush=True)


def _stop(pool) -> None:
    """After Ctrl-C or SIGTERM: cancel the runs not started, send SIGINT to every worker (its
    running solve writes its checkpoint and stops; it starts no other), wait up to
    ``STOP_GRACE`` s, kill what is left, and shut the pool down: no process is left behind.
    Further SIGINT / SIGTERM are ignored meanwhile, so that they cannot cut a checkpoint short."""
    old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        workers = multiprocessing.active_children()
        pool.shutdown(wait=False, cancel_futures=True)
        for worker in workers:
            try:
                os.kill(worker.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
        start = time.monotonic()
        deadline = start + STOP_GRACE
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        for worker in workers:
            if worker.is_alive():  # (its checkpoint, if it was solving, is written before it idles)
                print(f"worker {worker.pid} still alive {time.monotonic() - start:.0f} s after the stop: killed",
                      file=sys.stderr, flush=True)
                worker.kill()
                worker.join()
        pool.shutdown(wait=True)
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def _kept(args, folder: Path) -> str:
    """The line printed after a stop: the runs with a row, the checkpoints kept, how to resume."""
    from nsvd_cli.train import load_checkpoint

    stems = [folder / f"{n}-{m}-seed{s}" for n in args.problem_list for m in args.method_list for s in args.seed_list]
    rows = sum(Path(f"{stem}.json").exists() for stem in stems)
    ckpts = []
    for stem in stems:
        if Path(f"{stem}.h5.ckpt").exists():
            try:
                ckpts.append(f"{stem.name} at iteration {load_checkpoint(f'{stem}.h5.ckpt')['iteration']}")
            except Exception:  # noqa: BLE001 - a line to print, whatever the file holds
                ckpts.append(f"{stem.name} (unreadable)")
    return (f"stopped: {rows} of {len(stems)} runs have their row in {folder}, {len(ckpts)} checkpoint(s) kept"
            f"{' (' + ', '.join(ckpts) + ')' if ckpts else ''}; run the same command again without --overwrite "
            f"to resume (finished runs are skipped, the others continue from their checkpoints)")


def _rows(name, args, folder: Path, speed: dict, quiet: bool = False) -> dict:
    """{method: [row, ...per stored seed]} with the calibrated iterations per CPU second as
    ``iterations_per_second``; a row of another iteration count than this invocation gives
    the run (:func:`stale_row`) is left out, with a line unless ``quiet``."""
    runs = {}
    for method in args.method_list:
        known = f"{name}/{method}" in speed and f"{name}/nestedlora" in speed
        iterations = _iterations(name, method, speed, args)[0] if known else None
        for seed in args.seed_list:
            path = folder / f"{name}-{method}-seed{seed}.json"
            if path.exists():
                row = json.loads(path.read_text())
                if why := stale_row(row, iterations):
                    if not quiet:
                        print(f"{path.stem}: {why}; left out of the table", flush=True)
                    continue
                row["iterations_per_second"] = speed.get(f"{name}/{method}", float("nan"))
                row["ritz_relative_error"] = ritz_relative_error(row["path"]) if "path" in row else float("nan")
                runs.setdefault(method, []).append(row)
    return runs


def ritz_relative_error(path) -> float:
    """Mean relative error of a results file's Ritz energies (``/ritz/energies``, the learned
    functions rotated and extended by Rayleigh–Ritz, issue 13) against its reference energies,
    over the levels that have a finite Ritz energy; NaN when the file has none."""
    import h5py
    import numpy as np

    try:
        with h5py.File(path, "r") as h:
            ritz, ref = h["ritz/energies"][()], h["eigenvalues/reference_energies"][()]
    except (OSError, KeyError):
        return float("nan")
    ok = np.isfinite(ritz) & np.isfinite(ref)
    return float(np.mean(np.abs(ritz[ok] - ref[ok]) / np.abs(ref[ok]))) if ok.any() else float("nan")


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


def failed_modes(path, threshold: float = 0.1) -> list[int]:
    """Modes (1-based) of a results file whose Rayleigh-quotient energy is off its reference by
    more than ``threshold`` (relative): a copy of another mode, a dead or a misordered one."""
    import h5py
    import numpy as np

    with h5py.File(path, "r") as h:
        e, ref = h["eigenvalues/energies"][()], h["eigenvalues/reference_energies"][()]
    return [int(k) + 1 for k in np.flatnonzero(np.abs(e - ref) > threshold * np.abs(ref))]


def _per_seed(runs) -> str:
    """One line per method: each seed's mean relative error (Rayleigh / Ritz) and its failed
    modes, so that one failed seed is seen as such and not only through a mean ± std."""
    lines = []
    for method, rows in runs.items():
        cells = []
        for r in rows:
            bad = failed_modes(r["path"]) if "path" in r and Path(r["path"]).exists() else []
            cells.append(f"seed {r.get('seed', '?')}: {100 * r['mean_relative_error']:.3g} % / "
                         f"{100 * r['ritz_relative_error']:.3g} %" + (f" (modes {bad} > 10 % off)" if bad else ""))
        lines.append(f"- {method}: " + "; ".join(cells))
    return "per seed, mean rel. error of the Rayleigh quotients / of the Ritz energies:\n" + "\n".join(lines)


def _report(args, folder: Path, figures: Path, speed: dict) -> None:
    """Print each problem's table and write its figure, from the stored rows that count."""
    from nsvd_cli.files.results import load
    from nsvd_cli.plotting import errors_figure, save_figures

    for name in args.problem_list:
        runs = _rows(name, args, folder, speed, quiet=not args.table)
        if not runs:
            continue
        print(_table(name, runs), flush=True)
        print(_per_seed(runs), flush=True)
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
    p.add_argument("--calibrate", type=int, default=300,
                   help="iterations of each speed calibration run (harmonic2d needs about 100 or more)")
    p.add_argument("--recalibrate", action="store_true", help="measure the speeds again (else reuse calibration.json)")
    p.add_argument("--jobs", type=int, default=1, help="solves run at once, each in its own process")
    p.add_argument("--threads", type=int, default=None, help="threads per solve (default: cores / jobs)")
    p.add_argument("--overwrite", action="store_true",
                   help="run again the runs that have a stored row; delete checkpoints of another budget")
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

    from _calibration import calibration_line

    print(f"{calibration_line(threads)}; {args.jobs} job(s) at once, {threads} thread(s) each", flush=True)
    if args.table:
        path = folder / "calibration.json"
        speed = json.loads(path.read_text()) if path.exists() else {}
        for message in implausible_speeds(speed):
            print(f"{path}: implausible stored speed {message}; run with --recalibrate", flush=True)
        _report(args, folder, figures, speed)
        return
    old_term = signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops the bench as Ctrl-C does
    pool = ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn"), initializer=_worker_init,
                               initargs=(threads,))
    try:
        speed = _calibrate(pool, args, folder)
        _run_all(pool, args, folder, speed)
    except KeyboardInterrupt:
        _stop(pool)
        print(_kept(args, folder), flush=True)
        sys.exit(130)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        signal.signal(signal.SIGTERM, old_term)
    _report(args, folder, figures, speed)


if __name__ == "__main__":
    main()
