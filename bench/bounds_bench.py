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

Examples::

    python bench/bounds_bench.py                                   # ~5 min on 1 thread
    python bench/bounds_bench.py --problems harmonic2d --iters 2000
    python bench/bounds_bench.py --file results.h5 --degree 2      # seconds
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--problems", default=DEFAULT, help="name[:iters],... (no iters: the spec's default)")
    p.add_argument("--iters", type=int, default=None, help="iterations for every problem")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--file", action="append", default=[], help="a stored results file to measure (repeatable)")
    p.add_argument("--degree", default="0", help="with --file: monomial degrees of the Ritz basis, e.g. 0,1,2")
    p.add_argument("--extension-rcond", type=float, default=None, help="with --file (default: the library's)")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
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
