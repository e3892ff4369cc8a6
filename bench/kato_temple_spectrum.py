#!/usr/bin/env python
"""Where the residual of a learned harmonic2d function lives, and what a Krylov basis would gain.

Projects the learned functions of a stored harmonic2d results file (``H = -∇² + |x|²``,
κ = 1, ω = 1: levels ``2(n_1 + n_2 + 1)``) onto the exact eigenfunctions, products of
Hermite functions with ``n_1 + n_2 <= --nmax``, by a composite Gauss–Legendre rule on
``[-9, 9]²``. In that basis ``H`` is diagonal, so for any span the Ritz values, the
residuals ``σ² = ‖Hφ‖² − ρ²`` and the Kato–Temple half-width ``σ²/(β − ρ)`` with the *exact*
next level ``β`` follow without a rule or a gap estimate: the best a bound built from ``σ``
can do for these functions (docs/bounds.md, "Why Kato–Temple stays 10–40× the error").

Printed per span — the learned span ``{ψ}``, the block-Krylov spans ``{ψ, Hψ}`` and
``{ψ, Hψ, H²ψ}`` (Rayleigh–Ritz on them would need third and fourth derivatives of the
network) — the error of each Ritz value, its ``σ²`` and the ratio half-width / error, and for
the learned functions the energies below which 50 % and 90 % of ``σ²`` lie. ``σ²`` grows
with ``--nmax`` while the captured norm is already 1 − 10⁻⁷: the residual has a tail at
energies far above the levels (run with 80 and 160 to see it). It measures no time, so it
prints no calibration figure (the run time below is indicative only).

Example::

    OMP_NUM_THREADS=1 python bench/kato_temple_spectrum.py results.h5 --nmax 160 --nodes 150   # ~3 min
"""

from __future__ import annotations

import argparse

import numpy as np
import scipy.linalg as sla

HALF_WIDTH = 9.0
PANELS = 4
LEVELS_SHOWN = 10  # levels 1-10 have an exact next level inside the 15 modes' shells


def hermite_functions(x: np.ndarray, nmax: int) -> np.ndarray:
    """Normalised Hermite functions ``h_n(x) e^{-x²/2}``, shape ``(nmax + 1, len(x))``, by the
    stable three-term recurrence (eigenfunctions of ``-d²/dx² + x²``, eigenvalue ``2n + 1``)."""
    out = np.zeros((nmax + 1, x.size))
    out[0] = np.pi**-0.25 * np.exp(-x * x / 2)
    if nmax:
        out[1] = np.sqrt(2.0) * x * out[0]
    for n in range(1, nmax):
        out[n + 1] = np.sqrt(2.0 / (n + 1)) * x * out[n] - np.sqrt(n / (n + 1)) * out[n - 1]
    return out


def project(path: str, nmax: int, nodes: int):
    """Coefficients of the normalised learned functions in the exact eigenbasis.

    Returns ``(C, lam, captured)``: ``C`` of shape ``(L, M)`` over the ``M`` product states with
    ``n_1 + n_2 <= nmax``, their energies ``lam`` (M,), and the captured norm fraction (L,)."""
    import torch

    import nsvd_cli

    results = nsvd_cli.load(path)
    pot = results.spec.potential
    if results.spec.dimension != 2 or pot.kind != "harmonic" or tuple(pot.omega) != (1.0, 1.0) \
            or results.spec.kinetic != 1.0:
        raise SystemExit(f"{path}: needs a 2D harmonic problem with omega = 1 and kinetic = 1 (harmonic2d)")
    xg, wg = np.polynomial.legendre.leggauss(nodes)
    edges = np.linspace(-HALF_WIDTH, HALF_WIDTH, PANELS + 1)
    x = np.concatenate([(b - a) / 2 * xg + (a + b) / 2 for a, b in zip(edges[:-1], edges[1:])])
    w = np.concatenate([(b - a) / 2 * wg for a, b in zip(edges[:-1], edges[1:])])
    grid = np.stack(np.meshgrid(x, x, indexing="ij"), -1).reshape(-1, 2)
    with torch.no_grad():
        values = np.concatenate([np.asarray(results.eigenfunctions(torch.tensor(grid[i:i + 20000],
                                                                                dtype=torch.float32)), np.float64)
                                 for i in range(0, len(grid), 20000)])
    values = values.reshape(x.size, x.size, -1) * (w[:, None] * w[None, :])[:, :, None]
    h = hermite_functions(x, nmax)
    coeff = np.einsum("mj,njl->lnm", h, np.einsum("ni,ijl->njl", h, values, optimize=True), optimize=True)
    norm2 = np.einsum("ijl,ijl->l", values, values.reshape(values.shape) / (w[:, None] * w[None, :])[:, :, None])
    n = np.arange(nmax + 1)
    keep = (n[:, None] + n[None, :]) <= nmax
    lam = (2.0 * (n[:, None] + n[None, :] + 1))[keep]
    coeff = coeff[:, keep] / np.sqrt(norm2)[:, None]
    return coeff, lam, (coeff**2).sum(1)


def ritz_kato_temple(basis: np.ndarray, lam: np.ndarray, count: int):
    """Rayleigh–Ritz on the rows of ``basis`` (coefficients in the eigenbasis of energies ``lam``):
    the ``count`` lowest Ritz values, their errors, ``σ²`` and Kato–Temple half-width / error."""
    s = basis @ basis.T
    values, vectors = sla.eigh((basis * lam) @ basis.T, s)
    values, vectors = values[:count], vectors[:, :count]
    sigma2 = np.einsum("il,ij,jl->l", vectors, (basis * lam**2) @ basis.T, vectors) - values**2
    exact = np.sort(lam)[:count]
    err = values - exact
    levels = np.unique(exact)
    nxt = np.array([levels[levels > e + 1e-9][0] if (levels > e + 1e-9).any() else np.nan for e in exact])
    return err, sigma2, sigma2 / (nxt - values) / err


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file")
    ap.add_argument("--nmax", type=int, default=160, help="largest n_1 + n_2 of the eigenbasis")
    ap.add_argument("--nodes", type=int, default=150, help="Gauss–Legendre nodes per panel (4 panels per axis)")
    args = ap.parse_args(argv)
    coeff, lam, captured = project(args.file, args.nmax, args.nodes)
    count = coeff.shape[0]
    print(f"{args.file}: {count} modes, eigenbasis n1 + n2 <= {args.nmax} ({lam.size} states); "
          f"captured norm 1 - {1 - captured.min():.1e} (worst mode)")
    spans = {"{psi}": coeff, "{psi, H psi}": np.concatenate([coeff, coeff * lam]),
             "{psi, H psi, H^2 psi}": np.concatenate([coeff, coeff * lam, coeff * lam**2])}
    print(f"levels 1-{LEVELS_SHOWN} (exact next level as the gap):")
    print(f"{'span':24s} {'Ritz error (min..max)':>22s} {'sigma^2 (min..max)':>20s} {'KT half-width / error':>24s}")
    for name, basis in spans.items():
        err, sigma2, ratio = (a[:LEVELS_SHOWN] for a in ritz_kato_temple(basis, lam, count))
        print(f"{name:24s} {err.min():10.2e} .. {err.max():8.2e} {sigma2.min():9.2e} .. {sigma2.max():7.2e} "
              f"{ratio.min():10.1f} .. {ratio.max():5.1f} (median {np.median(ratio):.1f})")
    energies = (coeff**2 * lam).sum(1)
    shells = np.unique(lam)
    print("learned functions: energy below which 50 % / 90 % of sigma^2 lies")
    for mode in range(count):
        res = coeff[mode]**2 * (lam - energies[mode])**2
        cum = np.cumsum([res[lam == e].sum() for e in shells]) / res.sum()
        print(f"  mode {mode + 1:2d}: E = {energies[mode]:.5f}: {shells[np.searchsorted(cum, 0.5)]:.0f} / "
              f"{shells[np.searchsorted(cum, 0.9)]:.0f}")


if __name__ == "__main__":
    main()
