#!/usr/bin/env python
"""Re-check a results file independently of ``solve``'s own evaluation.

Reloads the stored eigenfunctions with :func:`nsvd_cli.load`, evaluates them on a *different*
rule than the spec's and takes gradients by reverse-mode autograd (solve uses forward mode or
finite differences); energies come from the quadratic form
``(kinetic <grad psi|grad psi> + <psi|V psi>) / <psi|psi>`` (``H = -kinetic ∇² + V``, no 1/2).
It prints them beside the stored energies and the reference, the relative errors of the
energies, of the excitation energies ``E_l - E_0`` (gaps) and of the eigenvalues of ``T``,
and the largest off-diagonal entry of the normalised Gram matrix.

The rule: for a tensor or polar spec rule, the same rule refined ``--refine`` times; for a
Monte Carlo spec rule (D >= 4), a *fresh* importance-weighted Gaussian sample of ``--samples``
points (default 10^6, seed ``--seed``, std ``--std``, else the spec's evaluation std, else
the sampling std), evaluated in chunks; Monte Carlo figures carry standard errors from batch means over
the chunks (32 blocks).

It measures no time, so it prints no calibration figure (the other bench scripts print the
one of ``bench/_calibration.py`` beside their timings).

Example::

    python bench/check_results.py runs/h2d.h5
    python bench/check_results.py runs/harmonic6d.h5 --samples 1000000
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch

import nsvd_cli
from nsvd_cli.potentials import make_potential
from nsvd_cli.quadrature import gauss_legendre_box, polar_quadrature

BLOCKS = 32


def _moments(res, potential, x: np.ndarray, w: np.ndarray):
    """Weighted sums over one chunk: S (L, L), kinetic (L,), potential (L,)."""
    xt = torch.as_tensor(x, dtype=torch.float64).requires_grad_(True)
    psi = res.model(xt)
    grads = torch.stack([torch.autograd.grad(psi[:, l].sum(), xt, retain_graph=l + 1 < psi.shape[1])[0]
                         for l in range(psi.shape[1])], dim=1)  # (N, L, D)
    wt = torch.as_tensor(w)
    psi = psi.detach()
    v = potential(xt.detach())
    gram = (wt[:, None] * psi).T @ psi
    kin = (wt[:, None, None] * grads ** 2).sum((0, 2))
    pot = (wt[:, None] * v[:, None] * psi ** 2).sum(0)
    return gram.numpy(), kin.numpy(), pot.numpy()


def _figures(spec, gram, kin, pot):
    """Energies (L,), normalised Gram (L, L) from summed moments."""
    norm = np.diag(gram)
    energies = (spec.kinetic * kin + pot) / norm
    return energies, gram / np.sqrt(np.outer(norm, norm))


def _tensor_rule(ev, refine):
    if ev.quadrature == "polar":
        radius = min(min(-lo, hi) for lo, hi in ev.box)
        q = polar_quadrature(radius, ev.points * refine, ev.panels, ev.angles * refine)
    else:
        q = gauss_legendre_box(ev.box, ev.points, ev.panels * refine)
    return q.points, q.weights


def _gaussian_blocks(dim, std, samples, seed, blocks=BLOCKS):
    """``blocks`` independent chunks of an importance-weighted N(0, std² I) sample (weights 1/(n p))."""
    rng = np.random.default_rng(seed)
    n = int(math.ceil(samples / blocks))
    for _ in range(blocks):
        x = std * rng.standard_normal((n, dim))
        log_p = -0.5 * (x * x).sum(1) / std ** 2 - dim * math.log(std * math.sqrt(2 * math.pi))
        yield x, np.exp(-log_p) / n


def _relative(a, b):
    return np.abs(a - b) / np.abs(b)


def _report(args, res, spec, energies, gram, stderr):
    ref_e = res.reference_energies
    n = len(energies)
    rel = _relative(energies, ref_e) if ref_e is not None else np.full(n, np.nan)
    gaps = energies[1:] - energies[0]
    rel_gap = _relative(gaps, ref_e[1:] - ref_e[0]) if ref_e is not None else np.full(n - 1, np.nan)
    eig = spec.scale * (spec.shift - energies)
    rel_t = _relative(eig, res.reference_eigenvalues) if ref_e is not None else np.full(n, np.nan)
    print(f"{'mode':>4} {'E (recheck)':>14} {'± s.e.':>9} {'E (stored)':>14} {'E (reference)':>14} "
          f"{'rel. err E %':>12} {'gap err %':>10} {'rel. err λ %':>12}")
    for l in range(n):
        r = ref_e[l] if ref_e is not None else float("nan")
        se = f"{stderr[l]:>9.2g}" if stderr is not None else f"{'':>9}"
        gap = f"{100 * rel_gap[l - 1]:>10.4f}" if l else f"{'':>10}"
        print(f"{l + 1:>4} {energies[l]:>14.7g} {se} {res.energies[l]:>14.7g} {r:>14.7g} "
              f"{100 * rel[l]:>12.4f} {gap} {100 * rel_t[l]:>12.4f}")
    off = np.abs(gram[~np.eye(n, dtype=bool)]).max() if n > 1 else 0.0
    line = (f"energies: mean rel. error {100 * np.mean(rel):.4f} %, max {100 * np.max(rel):.4f} %; "
            f"gaps: mean {100 * np.mean(rel_gap):.4f} %, max {100 * np.max(rel_gap):.4f} %; "
            f"T eigenvalues: mean {100 * np.mean(rel_t):.4f} %, max {100 * np.max(rel_t):.4f} %; "
            f"max normalised off-diagonal Gram {off:.4f}")
    if stderr is not None and ref_e is not None:
        line += f"; mean s.e. of rel. energy {100 * np.mean(stderr / np.abs(ref_e)):.4f} %"
    print(line)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results")
    p.add_argument("--refine", type=int, default=2, help="factor on the spec's tensor/polar rule resolution")
    p.add_argument("--samples", type=int, default=1_000_000, help="Monte Carlo points (Monte Carlo specs)")
    p.add_argument("--seed", type=int, default=20261130, help="seed of the fresh Monte Carlo sample")
    p.add_argument("--std", type=float, default=None, help="std of the Gaussian importance sample "
                   "(default: the spec's evaluation std, else its sampling std)")
    args = p.parse_args(argv)
    res = nsvd_cli.load(args.results)
    spec, ev = res.spec, res.spec.evaluation
    potential = make_potential(spec.potential, spec.dimension)
    if ev.quadrature == "monte-carlo":
        std = args.std or (ev.std if ev.std > 0 else float(spec.sampling.std))
        blocks = [_moments(res, potential, x, w)
                  for x, w in _gaussian_blocks(spec.dimension, std, args.samples, args.seed)]
        total = [sum(b[i] for b in blocks) / len(blocks) for i in range(3)]
        energies, gram = _figures(spec, *total)
        per_block = np.array([_figures(spec, *b)[0] for b in blocks])
        stderr = per_block.std(0, ddof=1) / math.sqrt(len(blocks))
        print(f"{args.results}: {spec.name}, D = {spec.dimension}, fresh Monte Carlo sample of "
              f"{args.samples} points, N(0, {std}² I), seed {args.seed}")
    else:
        x, w = _tensor_rule(ev, args.refine)
        energies, gram = _figures(spec, *_moments(res, potential, x, w))
        stderr = None
        print(f"{args.results}: {spec.name}, {len(w)} quadrature points ({ev.quadrature}, refined x{args.refine})")
    _report(args, res, spec, energies, gram, stderr)


if __name__ == "__main__":
    main()
