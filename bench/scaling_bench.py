#!/usr/bin/env python
"""Throughput of data-parallel training: 1 and 2 (or more) processes at the same global batch.

Runs ``nsvd solve PROBLEM --nproc N`` (torchrun on this machine; gloo on CPU, NCCL with one
GPU a rank when ``--device cuda``) for each N, at the same global ``--batch-size``, and prints
per N: iterations/s, training wall time, the whole command's wall time (process start-up,
rendezvous, reference and final evaluation included), the final mean relative energy error,
and the training time until the periodic evaluations first reached ``--target`` (estimated
as iterations × training time / iterations; "—" if never). A matmul calibration figure
(GFLOP/s of a fixed 1024² float32 matmul) is printed first, as the other bench scripts do.

On a 2-core CPU, 2 processes of 1 thread each can at best double the per-step compute;
gradient exchange (gloo all-gather of (B/N)×L outputs and all-reduce of the parameters)
and the rank-0 evaluation eat into it: see docs/scaling.md.

Examples::

    python bench/scaling_bench.py                                   # harmonic2d, N = 1, 2
    python bench/scaling_bench.py --iters 200                       # quick look
    python bench/scaling_bench.py --device cuda --nprocs 1,2,4      # GPUs, one a rank
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _calibration import calibration_line


def run_one(args, nproc: int, folder: Path) -> dict:
    """One ``nsvd solve`` with ``nproc`` processes; the numbers of its results file."""
    import nsvd_cli

    out = folder / f"{args.problem}-n{nproc}.h5"
    cmd = [sys.executable, "-m", "nsvd_cli", "solve", args.problem, "--iters", str(args.iters), "--batch-size",
           str(args.batch_size), "--seed", str(args.seed), "-o", str(out), "--overwrite", "-q",
           "--threads", str(args.threads), "--nproc", str(nproc), "--device", args.device]
    if args.modes:
        cmd += ["--modes", str(args.modes)]
    if args.preset:
        cmd += ["--preset", args.preset]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode:
        raise SystemExit(f"N = {nproc} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    res = nsvd_cli.load(out)
    run, ev = res.run, res.history.get("evaluation", {})
    errors, iters = ev.get("mean_energy_relative_error", []), ev.get("iteration", [])
    hit = next((i for i, e in zip(iters, errors) if e <= args.target), None)
    per_it = run["wall_time"] / max(run["iterations"], 1)
    return {"nproc": nproc, "ips": run["iterations_per_second"], "train_s": run["wall_time"], "wall_s": wall,
            "error": errors[-1] if errors else float("nan"),  # the last evaluation is of the final model
            "to_target_s": None if hit is None else hit * per_it}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--problem", default="harmonic2d")
    p.add_argument("--nprocs", default="1,2", help="process counts to compare, e.g. 1,2")
    p.add_argument("--iters", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=512, help="the GLOBAL batch (the same for every N)")
    p.add_argument("--modes", type=int, default=None)
    p.add_argument("--preset", default=None)
    p.add_argument("--target", type=float, default=0.01, help="mean relative energy error for 'time to target'")
    p.add_argument("--threads", type=int, default=1, help="threads per process")
    p.add_argument("--device", default="cpu", help="cpu or cuda (one GPU a rank)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    nprocs = [int(n) for n in args.nprocs.split(",")]

    print(calibration_line(args.threads), flush=True)
    print(f"{args.problem}: {args.iters} iterations, global batch {args.batch_size}, device {args.device}, "
          f"{args.threads} thread(s) a process, target {100 * args.target:g} %")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in nprocs:
            rows.append(run_one(args, n, Path(tmp)))
            r = rows[-1]
            target = "—" if r["to_target_s"] is None else f"{r['to_target_s']:.1f}"
            print(f"N = {n}: {r['ips']:7.2f} it/s | training {r['train_s']:7.1f} s | command {r['wall_s']:7.1f} s | "
                  f"final mean rel. error of E {100 * r['error']:.3f} % | time to target {target} s", flush=True)
    base = rows[0]["ips"]
    print("speed-up of it/s vs N = %d: " % rows[0]["nproc"]
          + ", ".join(f"N = {r['nproc']}: {r['ips'] / base:.2f}x" for r in rows))


if __name__ == "__main__":
    main()
