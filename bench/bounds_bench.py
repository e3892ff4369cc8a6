#!/usr/bin/env python
"""Measure the Ritz energies and the intervals of docs/bounds.md on short runs.

For each problem: a short ``solve`` (defaults unless overridden), then per level the actual
error of the Ritz energy against the reference, the Weinstein and reported (Kato–Temple where
available) half-widths, their ratio to the actual error, and whether the reference level lies
in the interval; per problem the mean relative error of the Rayleigh quotients (per mode) and
of the Ritz energies (per level).

``--file`` measures stored results files instead (no training): the learned-span Ritz
pairs and, with ``--degree``, Rayleigh–Ritz on the learned functions times monomials of the
coordinates (:func:`nsvd_cli.ritz.polynomial_basis`), each with its Kato–Temple and Lehmann
lower bounds (half-width / actual error per level).

``--file ... --reported`` re-evaluates stored results files with the tool's own evaluation
(:func:`nsvd_cli.evaluate.evaluate_model`, so the reported intervals: Lehmann–Goerisch / Kahan
lower sides, min–max upper sides) and prints per level the Ritz error against the reference, the
interval, whether it contains the reference level, width / error and lower side / error, the two
integration-error estimates (``q``: refined-rule ``|R_k − θ_k|``; ``f``: Laplacian form against
quadratic form) and the bound kinds; then one summary line per file (issue-13 target: width /
error ≤ 10). ``--next-level-lower X`` sets ``evaluation.next_level_lower`` (a known lower bound of
level modes + 1) before evaluating. Every mode first prints the calibration figure of
``bench/_calibration.py`` (float32 1024² matmul GFLOP/s on ``--threads``); figures quoted before
2026-11-30 used a float64 512² matmul instead (about half as many GFLOP/s) and are not comparable.

Examples::

    python bench/bounds_bench.py                                   # ~5 min on 1 thread
    python bench/bounds_bench.py --problems harmonic2d --iters 2000
    python bench/bounds_bench.py --file results.h5 --degree 2      # seconds
    python bench/bounds_bench.py --file a.h5 --file b.h5 --reported --next-level-lower 12   # ~15 s a file
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

DEFAULT = "harmonic2d:2000,morse1d,quartic1d,poschl_teller1d"


def run(name: str, iters: int | None, seed: int):
    from nsvd_cli.solve import solve
    from nsvd_cli.spec import load_spec

    overrides = {"training.seed": seed}
    if iters:
        overrides["training.iterations"] = iters
    spec = load_spec(name, overrides=overrides)
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        result = solve(spec, Path(d) / "r.h5")
        return result.evaluation, time.perf_counter() - t0, spec.training.iterations


def report(name, ev, wall, iters) -> dict:
    b, ref, rho = ev.bounds, ev.reference_energies, ev.ritz_energies
    pos = ev.positive
    print(f"\n{name}: {iters} iterations, {wall:.0f} s, Ritz dropped {ev.ritz_dropped}")
    print(f"{'#':>3} {'E_ref':>10} {'Ritz err':>9} {'Weinstein':>9} {'reported':>9} {'ratio':>7} in  bound")
    ratios, inside = [], []
    for k in range(len(ref)):
        err = abs(rho[k] - ref[k])
        w = 0.5 * (b.weinstein_upper[k] - b.weinstein_lower[k])
        half = max(b.upper[k] - rho[k], rho[k] - b.lower[k])
        c = b.contains(ref)[k]
        flag = "—" if np.isnan(c) else ("yes" if c else "NO")
        if not np.isnan(c) and pos[k]:
            ratios.append(half / max(err, 1e-300))
            inside.append(bool(c))
        print(f"{k + 1:3d} {ref[k]:10.5g} {err:9.2e} {w:9.2e} {half:9.2e} {half / max(err, 1e-300):7.1e} "
              f"{flag:3s} {b.kinds[k]}")
    rel = lambda e: float(np.mean(np.abs(e[pos] - ref[pos]) / np.maximum(np.abs(ref[pos]), 1e-300)))
    out = {"rayleigh": rel(ev.energies), "ritz": rel(rho), "contained": f"{sum(inside)}/{len(inside)}",
           "median ratio": float(np.median(ratios)) if ratios else float("nan"),
           "max ratio": float(np.max(ratios)) if ratios else float("nan")}
    print(f"mean rel. error: Rayleigh {out['rayleigh']:.2e}, Ritz {out['ritz']:.2e}; contained "
          f"{out['contained']}; reported half-width / actual error: median {out['median ratio']:.1e}, "
          f"max {out['max ratio']:.1e}")
    return out


def file_arrays(path):
    """Values, gradients and ``Hψ`` of a results file's model on its own evaluation rule."""
    import nsvd_cli
    from nsvd_cli.evaluate import model_values_and_gradients
    from nsvd_cli.problem import Problem

    res = nsvd_cli.load(path)
    problem = Problem.from_spec(res.spec)
    x = problem.quadrature.points
    v, g, lap = model_values_and_gradients(res.model, x, laplacians=True)
    hv = -problem.kinetic * lap + problem.potential_values[:, None] * v
    return res, problem, v, g, hv


def certify(problem, v, g, hv, include, degree: int, extension_rcond: float):
    """Ritz pairs on the (extended) span, their bounds without and with Lehmann: (energies, b_kt, b_lehmann)."""
    from nsvd_cli.bounds import level_bounds
    from nsvd_cli.ritz import extended_rayleigh_ritz, polynomial_basis, residual_gram, ritz_matrices

    L, w, k = v.shape[1], problem.quadrature.weights, problem.kinetic
    vv, gg, hh = polynomial_basis(problem.quadrature.points, v, g, hv, degree=degree, kinetic=k, weights=w)
    h, s = ritz_matrices(vv, gg, problem.potential_values, w, k)
    ritz = extended_rayleigh_ritz(h, s, L, extension_rcond=extension_rcond, include=np.tile(include, len(s) // L))
    ritz.energies, ritz.vectors = ritz.energies[:L], ritz.vectors[:, :L]  # the lowest L Ritz pairs
    rgram = residual_gram(vv, hh, w, ritz)
    trial = (ritz.rotate(vv), ritz.rotate(hh), w)
    return (ritz.energies, level_bounds(ritz.energies, rgram),
            level_bounds(ritz.energies, rgram, trial=trial), ritz.dropped)


def report_file(path, degrees, extension_rcond: float) -> None:
    res, problem, v, g, hv = file_arrays(path)
    ref, ray = res.reference_energies, res.energies
    print(f"\n{path}: {res.spec.name}, κ = {problem.kinetic}, {len(problem.quadrature.weights)} nodes; "
          f"Rayleigh mean rel. error {np.mean(np.abs(ray - ref) / np.abs(ref)):.3e}")
    for degree in degrees:
        e, b0, b1 = certify(problem, v, g, hv, res.eigenvalues > 0, degree, extension_rcond)[:3]
        err = np.abs(e - ref)
        print(f"degree {degree}: Ritz mean rel. error {np.mean(err / np.abs(ref)):.3e}, "
              f"min(Ritz − E_ref) {np.min(e - ref):.1e}; Lehmann ρ = {b1.lehmann_shift:.6g}")
        print(f"{'#':>3} {'E_ref':>7} {'Ritz err':>9} {'KT lo/err':>9} {'Leh lo/err':>10} {'width/err':>9} "
              f"{'in':>3}  bound")
        for i in range(len(ref)):
            r0, r1 = (e[i] - b0.lower[i]) / err[i], (e[i] - b1.lower[i]) / err[i]
            width = (b1.upper[i] - b1.lower[i]) / err[i]
            inside = b1.contains(ref)[i]
            print(f"{i + 1:3d} {ref[i]:7.4g} {err[i]:9.2e} {r0:9.1f} {r1:10.1f} {width:9.1f} "
                  f"{'—' if np.isnan(inside) else ('yes' if inside else 'NO'):>3}  {b1.kinds[i]}")


#: Width / error at or below which a level meets the issue-13 target.
WIDTH_TARGET = 10.0


def reported_evaluation(path, next_level_lower: float | None):
    """The tool's own evaluation of a results file's model (intervals as ``nsvd`` reports them):
    ``(results, problem, evaluation, seconds)``; ``next_level_lower`` overrides the spec's."""
    import nsvd_cli
    from nsvd_cli.evaluate import evaluate_model
    from nsvd_cli.problem import Problem

    res = nsvd_cli.load(path)
    spec = res.spec
    if next_level_lower is not None:
        evaluation = spec.evaluation.model_copy(update={"next_level_lower": float(next_level_lower)})
        spec = spec.model_copy(update={"evaluation": evaluation})
    problem = Problem.from_spec(spec)
    t0 = time.perf_counter()
    ev = evaluate_model(res.model, problem)
    return res, problem, ev, time.perf_counter() - t0


def reported_rows(ev, exact) -> list[dict]:
    """Per level (ascending): Ritz error, interval, containment, width / error, lower side / error,
    the two rule-error estimates and the bound kind (NaN where there is no interval or reference)."""
    b, theta = ev.bounds, ev.ritz_energies
    q = b.ritz_rule_error if b.ritz_rule_error is not None else np.full(len(theta), np.nan)
    f = b.rule_error if b.rule_error is not None else np.full(len(theta), np.nan)
    inside = b.contains(exact)
    rows = []
    for k in range(len(theta)):
        err = abs(theta[k] - exact[k])
        with np.errstate(divide="ignore", invalid="ignore"):
            width, low = (b.upper[k] - b.lower[k]) / err, (theta[k] - b.lower[k]) / err
        rows.append({"exact": exact[k], "err": err, "lower": b.lower[k], "upper": b.upper[k],
                     "inside": inside[k], "width": width, "low": low, "q": q[k], "f": f[k], "kind": b.kinds[k]})
    return rows


def report_reported(path, next_level_lower: float | None) -> dict:
    """Print the per-level table of a results file's reported intervals; return its summary."""
    res, problem, ev, wall = reported_evaluation(path, next_level_lower)
    L = len(ev.ritz_energies)
    ref = ev.reference_energies
    exact = np.sort(np.asarray(ref, np.float64))[:L] if ref is not None else np.full(L, np.nan)
    if len(exact) < L:
        exact = np.concatenate([exact, np.full(L - len(exact), np.nan)])
    nll = problem.spec.evaluation.next_level_lower
    print(f"\n{path}: {res.spec.name}, {L} levels, evaluate {wall:.1f} s, next_level_lower "
          f"{'—' if nll is None else f'{nll:g}'}, Lehmann ρ = {ev.bounds.lehmann_shift:.6g}"
          f"{'' if ref is not None else ' (no reference)'}")
    print(f"{'#':>3} {'E_ref':>9} {'Ritz err':>9} {'lower':>11} {'upper':>11} {'in':>3} {'width/err':>9} "
          f"{'lo/err':>8} {'q':>8} {'f':>8}  bound")
    rows = reported_rows(ev, exact)
    for k, r in enumerate(rows):
        flag = "—" if np.isnan(r["inside"]) else ("yes" if r["inside"] else "NO")
        print(f"{k + 1:3d} {r['exact']:9.5g} {r['err']:9.2e} {r['lower']:11.6f} {r['upper']:11.6f} {flag:>3} "
              f"{r['width']:9.1f} {r['low']:8.1f} {r['q']:8.1e} {r['f']:8.1e}  {r['kind']}")
    return reported_summary(rows)


def reported_summary(rows) -> dict:
    """Levels with an interval, how many contain their reference level, and width / error over
    them (max, median, count ≤ :data:`WIDTH_TARGET`; levels with zero error or no reference left out)."""
    bounded = [r for r in rows if np.isfinite(r["lower"]) and np.isfinite(r["upper"])]
    ratios = np.array([r["width"] for r in bounded if np.isfinite(r["width"])])
    return {"levels": len(rows), "bounded": len(bounded),
            "contained": sum(1 for r in bounded if r["inside"] == 1.0),
            "max": float(ratios.max()) if len(ratios) else float("nan"),
            "median": float(np.median(ratios)) if len(ratios) else float("nan"),
            "target": int(np.sum(ratios <= WIDTH_TARGET)), "ratios": len(ratios)}


def summary_line(path, s: dict) -> str:
    """One line of a file's :func:`reported_summary`."""
    return (f"{path}: {s['bounded']}/{s['levels']} levels with an interval, {s['contained']}/{s['bounded']} "
            f"contain the reference; width/error max {s['max']:.1f}, median {s['median']:.1f}; "
            f"{s['target']}/{s['ratios']} with width/error ≤ {WIDTH_TARGET:g}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--problems", default=DEFAULT, help="name[:iters],... (no iters: the spec's default)")
    p.add_argument("--iters", type=int, default=None, help="iterations for every problem")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--file", action="append", default=[], help="a stored results file to measure (repeatable)")
    p.add_argument("--degree", default="0", help="with --file: monomial degrees of the Ritz basis, e.g. 0,1,2")
    p.add_argument("--extension-rcond", type=float, default=None, help="with --file (default: the library's)")
    p.add_argument("--reported", action="store_true",
                   help="with --file: the intervals nsvd reports (evaluate_model), per level and summarised")
    p.add_argument("--next-level-lower", type=float, default=None,
                   help="with --reported: evaluation.next_level_lower (a known lower bound of level modes + 1)")
    args = p.parse_args(argv)

    if args.reported and not args.file:
        p.error("--reported needs --file")
    from _calibration import calibration_line

    print(calibration_line(args.threads), flush=True)  # sets the torch threads too
    if args.reported:
        summaries = {path: report_reported(path, args.next_level_lower) for path in args.file}
        print()
        for path, s in summaries.items():
            print(summary_line(path, s))
        return
    if args.file:
        from nsvd_cli.ritz import EXTENSION_RCOND

        for path in args.file:
            report_file(path, [int(d) for d in args.degree.split(",")], args.extension_rcond or EXTENSION_RCOND)
        return
    rows = {}
    for item in args.problems.split(","):
        name, _, it = item.partition(":")
        ev, wall, iters = run(name, args.iters or (int(it) if it else None), args.seed)
        rows[name] = report(name, ev, wall, iters)
    print("\n| problem | Rayleigh mean rel. err | Ritz mean rel. err | contained | half-width / error (median, max) |")
    print("|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['rayleigh']:.2e} | {r['ritz']:.2e} | {r['contained']} | "
              f"{r['median ratio']:.1e}, {r['max ratio']:.1e} |")


if __name__ == "__main__":
    main()
