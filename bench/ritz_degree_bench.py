#!/usr/bin/env python
"""Re-evaluate stored results files with each ``evaluation.ritz_degree`` (no training).

For each file and degree: :func:`nsvd_cli.evaluate.evaluate_model` on the file's own rule
with ``evaluation.ritz_degree`` set, then the mean relative error of the Ritz energies (the
L lowest, against the reference levels) beside that of the Rayleigh quotients, how many
reference levels lie in their intervals, the interval width / actual error of each bounded
level (median, max), and the evaluation's wall time, below the calibration figure of
``bench/_calibration.py`` (float32 1024² matmul GFLOP/s on ``--threads``).

Example::

    OMP_NUM_THREADS=1 python bench/ritz_degree_bench.py results.h5 --degrees 0,1,2
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def evaluate(res, degree: int):
    from nsvd_cli.evaluate import evaluate_model
    from nsvd_cli.problem import Problem
    from nsvd_cli.spec import parse_spec, spec_to_dict

    data = spec_to_dict(res.spec)
    data["evaluation"]["ritz_degree"] = degree
    problem = Problem.from_spec(parse_spec(data))
    problem.reference_values  # noqa: B018 — build the cached reference outside the timing
    t0 = time.perf_counter()
    ev = evaluate_model(res.model, problem)
    return ev, time.perf_counter() - t0


def row(ev, wall: float) -> dict:
    ref, pos = np.asarray(ev.reference_energies), np.asarray(ev.positive)
    rel = lambda e: float(np.nanmean(np.abs(e[pos] - ref[pos]) / np.abs(ref[pos])))  # noqa: E731
    b = ev.bounds
    err = np.abs(ev.ritz_energies - ref)
    bounded = np.asarray(b.bounded) & pos
    inside = (b.lower <= ref) & (ref <= b.upper)
    ratio = (b.upper - b.lower) / np.maximum(err, 1e-300)
    return {"rayleigh": rel(ev.energies), "ritz": rel(ev.ritz_energies),
            "contained": f"{int(np.sum(inside & bounded))}/{int(np.sum(bounded))}",
            "ratio_median": float(np.median(ratio[bounded])) if bounded.any() else float("nan"),
            "ratio_max": float(np.max(ratio[bounded])) if bounded.any() else float("nan"),
            "ratios": ratio[bounded], "dropped": ev.ritz_dropped, "wall": wall}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="+")
    p.add_argument("--degrees", default="0,1,2")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--per-level", action="store_true", help="print every bounded level's width / error ratio")
    args = p.parse_args(argv)

    import nsvd_cli

    from _calibration import calibration_line

    print(calibration_line(args.threads), flush=True)  # sets the torch threads too
    print("| file | degree | Rayleigh mean rel. err | Ritz mean rel. err | contained | width/err median | "
          "width/err max | dropped | eval s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for path in args.files:
        res = nsvd_cli.load(path)
        for degree in (int(d) for d in args.degrees.split(",")):
            r = row(*evaluate(res, degree))
            print(f"| {res.spec.name} | {degree} | {r['rayleigh']:.3e} | {r['ritz']:.3e} | {r['contained']} | "
                  f"{r['ratio_median']:.3g} | {r['ratio_max']:.3g} | {r['dropped']} | {r['wall']:.1f} |", flush=True)
            if args.per_level:
                print("   width/err per bounded level:", np.array2string(r["ratios"], precision=2))


if __name__ == "__main__":
    main()
