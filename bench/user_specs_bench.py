#!/usr/bin/env python
"""User-style specs solved with defaults: error per mode against a grid reference, verdicts, time.

Each spec in ``bench/user_specs/`` holds only the required fields (name, dimension,
potential, shift, modes, sampling, evaluation box); everything else is derived from the
problem (``nsvd_cli.defaults``). For every spec this runs ``solve`` with defaults (optionally
``--until converged``), then compares the learned energies with an independent eigsh grid
reference (order-4 finite differences on the evaluation box, finer than solve's own
reference: N = 4000 / 300 points per axis for D = 1 / 2; the spherical well3d from its radial
equations, whose 1D grids are far finer than a 3D grid), and prints per mode the
relative energy error, the verdict and whether a mode judged converged is off by more than
1 % (which would be a bug of the verdict). A matmul calibration figure is printed first.

Examples::

    python bench/user_specs_bench.py                       # all five specs (~15 min on 2 cores)
    python bench/user_specs_bench.py --specs anharmonic1d --until converged
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from _calibration import calibration_line

HERE = Path(__file__).resolve().parent
FINE_GRID = {1: 4000, 2: 300, 3: 44}


def radial_levels(v, n_levels: int, l_max: int = 4, radius: float = 30.0, n: int = 6000) -> np.ndarray:
    """Lowest levels of ``-∇² + v(r)`` in 3D from the radial equations
    ``-u'' + (l(l+1)/r² + v) u = E u`` (second-order finite differences, u(0) = u(R) = 0),
    each level of angular momentum l counted 2l + 1 times."""
    from scipy.linalg import eigh_tridiagonal

    r = np.linspace(radius / n, radius, n)
    h = r[1] - r[0]
    levels = []
    for l in range(l_max + 1):
        e = eigh_tridiagonal(2 / h**2 + v(r) + l * (l + 1) / r**2, -np.ones(n - 1) / h**2,
                             select="i", select_range=(0, n_levels))[0]
        levels += [x for x in e for _ in range(2 * l + 1)]
    return np.sort(levels)[:n_levels]


#: Independent references where a symmetry gives a better one than a 3D grid (whose sparse LU
#: fill-in makes fine grids slow): well3d is spherically symmetric.
SPECIAL = {"well3d": lambda spec: radial_levels(lambda r: -8 * np.exp(-r**2 / 4), spec.modes)}


def fine_reference(spec) -> np.ndarray:
    """Energies of the lowest ``spec.modes`` levels: a symmetry-reduced solution (:data:`SPECIAL`)
    or a fine order-4 eigsh grid."""
    from nsvd_cli.baselines.reference import grid_reference

    if spec.name in SPECIAL:
        return SPECIAL[spec.name](spec)
    return np.asarray(grid_reference(spec, FINE_GRID[spec.dimension], cache=True).energies)[:spec.modes]


def run(name: str, until: str | None, folder: Path) -> dict:
    from nsvd_cli.solve import solve
    from nsvd_cli.spec import load_spec

    overrides = {"training.until": until} if until else None
    spec = load_spec(HERE / "user_specs" / f"{name}.toml", overrides=overrides)
    t0 = time.perf_counter()
    out = solve(spec, folder / f"{name}.h5", overwrite=True)
    wall = time.perf_counter() - t0
    ev, verdict = out.evaluation, out.evaluation.verdict
    ref = fine_reference(out.problem.spec)
    err = np.abs(ev.energies - ref) / np.abs(ref)
    return {"name": name, "modes": spec.modes, "iters": out.iterations, "stopped": out.stopped_by, "wall": wall,
            "err": err, "converged": verdict.converged, "reasons": verdict.reasons}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--specs", default=",".join(sorted(f.stem for f in (HERE / "user_specs").glob("*.toml"))))
    p.add_argument("--until", choices=("iterations", "converged"), default=None)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(calibration_line(), flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.specs.split(","):
            r = run(name, args.until, Path(tmp))
            rows.append(r)
            bad = r["converged"] & (r["err"] > 0.01)
            print(f"\n{name}: {r['iters']} iterations ({r['stopped']}), {r['wall']:.0f} s, "
                  f"{r['converged'].sum()}/{r['modes']} converged, max error {100 * r['err'].max():.3f} %"
                  + (f", VERDICT WRONG on modes {list(np.flatnonzero(bad) + 1)}" if bad.any() else ""))
            for l in range(r["modes"]):
                print(f"  mode {l + 1:2d}: energy error {100 * r['err'][l]:8.4f} %  "
                      f"{'converged' if r['converged'][l] else 'NOT converged: ' + r['reasons'][l]}")
    print("\n| spec | modes | iterations | time s | converged | max err % (all) | max err % (converged) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        conv = r["err"][r["converged"]]
        print(f"| {r['name']} | {r['modes']} | {r['iters']} ({r['stopped']}) | {r['wall']:.0f} | "
              f"{r['converged'].sum()}/{r['modes']} | {100 * r['err'].max():.3f} | "
              f"{100 * conv.max() if conv.size else float('nan'):.3f} |")


if __name__ == "__main__":
    main()
