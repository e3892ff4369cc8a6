"""Potentials V(x) of the Hamiltonian H = -kinetic * Laplacian + V.

Every potential maps a tensor of points ``x`` of shape (B, D) to values of shape (B,),
in the dtype and on the device of ``x``. Units follow the spec's convention (no factor
1/2 on the Laplacian unless put in ``kinetic``).
"""

from __future__ import annotations

from typing import Callable

import torch

from .spec import PotentialSpec

__all__ = ["harmonic", "coulomb", "make_potential", "POTENTIALS", "Potential"]

Potential = Callable[[torch.Tensor], torch.Tensor]

#: Smallest radius used by the Coulomb potential when ``softening == 0``: samples at
#: (or within this of) the nucleus get V = -charge / COULOMB_MIN_RADIUS instead of -inf.
COULOMB_MIN_RADIUS = 1e-6


def harmonic(omega) -> Potential:
    """Harmonic well ``V(x) = sum_i omega_i^2 x_i^2``.

    With ``H = -kappa * Laplacian + V`` the 1D levels are ``omega * sqrt(kappa) * (2n + 1)``;
    for kappa = omega = 1 in 2D, ``E = 2 (n_x + n_y + 1)`` (paper App. E.1.2).

    Parameters
    ----------
    omega : sequence of float, length D
        Angular frequencies per axis.
    """
    w2 = torch.tensor([float(w) ** 2 for w in omega], dtype=torch.float64)

    def potential(x: torch.Tensor) -> torch.Tensor:
        return (x * x) @ w2.to(dtype=x.dtype, device=x.device)

    return potential


def coulomb(charge: float = 1.0, softening: float = 0.0) -> Potential:
    """Attractive Coulomb potential ``V(x) = -charge / sqrt(|x|^2 + softening^2)``.

    With ``softening == 0`` the radius is clamped below at ``COULOMB_MIN_RADIUS`` so that a
    sample at the nucleus gives a large finite value, never inf or NaN. In 2D with kappa = 1
    the levels are ``-charge^2 / (2n + 1)^2`` (Yang et al. 1991; paper App. E.1.1).
    """

    def potential(x: torch.Tensor) -> torch.Tensor:
        r2 = (x * x).sum(-1)
        if softening > 0:
            r = torch.sqrt(r2 + softening**2)
        else:
            r = torch.sqrt(r2).clamp_min(COULOMB_MIN_RADIUS)
        return -charge / r

    return potential


POTENTIALS: dict[str, Callable[[PotentialSpec], Potential]] = {
    "harmonic": lambda p: harmonic(p.omega),
    "coulomb": lambda p: coulomb(p.charge, p.softening),
}


def make_potential(spec: PotentialSpec) -> Potential:
    """Build the potential function described by a :class:`~nsvd_cli.spec.PotentialSpec`."""
    return POTENTIALS[spec.kind](spec)
