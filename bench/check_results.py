#!/usr/bin/env python
"""Re-check a results file independently of ``solve``'s own evaluation.

Reloads the stored eigenfunctions with :func:`nsvd_cli.load`, evaluates them on a *different*
quadrature (a finer rule than the spec's), takes gradients by reverse-mode autograd (solve
uses forward mode), and computes energies from the quadratic form
``(kinetic <grad psi|grad psi> + <psi|V psi>) / <psi|psi>``; prints them beside the stored
energies and the reference, the mean/max relative eigenvalue errors of T, and the largest
off-diagonal entry of the normalised Gram matrix.

Example::

    python bench/check_results.py runs/h2d.h5
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import nsvd_cli
from nsvd_cli.potentials import make_potential
from nsvd_cli.quadrature import gauss_legendre_box, polar_quadrature


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results")
    p.add_argument("--refine", type=int, default=2, help="factor on the spec's quadrature resolution")
    args = p.parse_args(argv)
    res = nsvd_cli.load(args.results)
    spec, ev = res.spec, res.spec.evaluation
    if ev.quadrature == "polar":
        radius = min(min(-lo, hi) for lo, hi in ev.box)
        q = polar_quadrature(radius, ev.points * args.refine, ev.panels, ev.angles * args.refine)
    else:
        q = gauss_legendre_box(ev.box, ev.points, ev.panels * args.refine)
    x = torch.as_tensor(q.points, dtype=torch.float64).requires_grad_(True)
    psi = res.model(x)
    grads = torch.stack([torch.autograd.grad(psi[:, l].sum(), x, retain_graph=True)[0]
                         for l in range(psi.shape[1])], dim=1)  # (N, L, D)
    w = torch.as_tensor(q.weights)
    v = make_potential(spec.potential)(x.detach())
    psi = psi.detach()
    norm = (w[:, None] * psi**2).sum(0)
    energies = ((spec.kinetic * (w[:, None, None] * grads**2).sum((0, 2)) + (w[:, None] * v[:, None] * psi**2).sum(0))
                / norm).numpy()
    eig = spec.scale * (spec.shift - energies)
    ref = res.reference_eigenvalues
    print(f"{args.results}: {spec.name}, {len(q.weights)} quadrature points ({ev.quadrature}, refined x{args.refine})")
    print(f"{'mode':>4} {'E (recheck)':>14} {'E (stored)':>14} {'E (reference)':>14} {'rel. err λ %':>12}")
    rel = np.abs(eig - ref) / np.abs(ref) if ref is not None else np.full(len(eig), np.nan)
    for l in range(len(eig)):
        ref_e = res.reference_energies[l] if ref is not None else float("nan")
        print(f"{l + 1:>4} {energies[l]:>14.7g} {res.energies[l]:>14.7g} {ref_e:>14.7g} {100 * rel[l]:>12.4f}")
    pos = ref > 0 if ref is not None else np.ones(len(eig), bool)
    c = (w[:, None] * psi).T @ psi
    c = (c / torch.sqrt(torch.outer(c.diag(), c.diag()))).numpy()[np.ix_(pos, pos)]
    off = np.abs(c[~np.eye(len(c), dtype=bool)]).max() if len(c) > 1 else 0.0
    print(f"mean rel. error {100 * np.mean(rel[pos]):.4f} %, max {100 * np.max(rel[pos]):.4f} %, "
          f"max normalised off-diagonal Gram {off:.4f}")


if __name__ == "__main__":
    main()
