"""Infinite box (Dirichlet walls) in any dimension."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._base import _groups
from .harmonic import _lowest_separable, _SeparableReference

__all__ = ['BoxReference', 'box_reference']


@dataclass(frozen=True, eq=False)
class BoxReference(_SeparableReference):
    """Infinite box (Dirichlet walls) ``H = -kappa Laplacian`` on ``box`` (see :func:`box_reference`)."""

    box: tuple[tuple[float, float], ...]
    kappa: float

    @property
    def dimension(self) -> int:
        return len(self.box)

    def _axis_tables(self, x):
        x = self._points(x)
        q = np.array(self.quantum_numbers, dtype=int)  # (L, D), n_i >= 1
        tables = []
        for d, (lo, hi) in enumerate(self.box):
            length = hi - lo
            u = (x[:, d:d + 1] - lo) / length  # (N, 1)
            inside = (u >= 0) & (u <= 1)
            k = math.pi * q[None, :, d]
            c = math.sqrt(2.0 / length)
            tables.append((np.where(inside, c * np.sin(k * u), 0.0),
                           np.where(inside, c * (k / length) * np.cos(k * u), 0.0)))
        return tables



def box_reference(box: Sequence[tuple[float, float]], n_modes: int, kappa: float = 1.0) -> BoxReference:
    """Lowest eigenpairs of ``-kappa Laplacian`` on a box with Dirichlet walls.

    ``psi_n(x) = prod_i sqrt(2/L_i) sin(n_i pi (x_i - lo_i) / L_i)`` (zero outside),
    ``E = kappa pi^2 sum_i (n_i / L_i)^2``, ``n_i >= 1``, ``L_i = hi_i - lo_i``.  Degenerate
    levels (e.g. ``(1, 2), (2, 1)`` in a square) come in descending lexicographic order.

    Returns
    -------
    BoxReference
        Quantum numbers ``(n_1, ..., n_D)``.
    """
    box = tuple((float(lo), float(hi)) for lo, hi in box)
    if not box or any(hi <= lo for lo, hi in box) or kappa <= 0 or n_modes < 1:
        raise ValueError("need a box of (lo, hi) with hi > lo, kappa > 0 and n_modes >= 1")
    lengths = [hi - lo for lo, hi in box]
    energy = lambda idx: kappa * math.pi**2 * sum((n / L) ** 2 for n, L in zip(idx, lengths))  # noqa: E731
    idx, complete = _lowest_separable(energy, (1,) * len(box), n_modes)
    energies = np.array([energy(i) for i in idx])
    return BoxReference(name="box (analytic)", energies=energies, quantum_numbers=tuple(idx),
                        quantum_labels=tuple(f"n_{d + 1}" for d in range(len(box))),
                        groups=tuple(_groups(energies)), complete_last_group=complete, box=box, kappa=float(kappa))
