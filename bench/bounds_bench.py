#!/usr/bin/env python
"""Measure the Ritz energies and the intervals of docs/bounds.md on short runs.

For each problem: a short ``solve`` (defaults unless overridden), then per level the actual
error of the Ritz energy against the reference, the Weinstein and reported (Kato–Temple where
available) half-widths, their ratio to the actual error, and whether the reference level lies
in the interval; per problem the mean relative error of the Rayleigh quotients (per mode) and
of the Ritz energies (per level).

Examples::

    python bench/bounds_bench.py                                   # ~5 min on 1 thread
    python bench/bounds_bench.py --problems harmonic2d --iters 2000
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--problems", default=DEFAULT, help="name[:iters],... (no iters: the spec's default)")
    p.add_argument("--iters", type=int, default=None, help="iterations for every problem")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
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
