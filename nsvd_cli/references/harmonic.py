"""Harmonic oscillator ``V = sum_i omega_i^2 x_i^2`` in any dimension, and separable enumeration
(shared with the infinite box)."""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ._base import ENERGY_RTOL, ReferenceSolution, _groups

__all__ = ['HarmonicReference', 'harmonic_reference', 'hermite_functions']


def hermite_functions(xi: np.ndarray, n_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised Hermite functions ``h_n(xi)`` and derivatives, ``n = 0..n_max``.

    ``h_n(xi) = pi^{-1/4} (2^n n!)^{-1/2} H_n(xi) exp(-xi^2/2)`` (physicists' ``H_n``) is
    computed by the stable three-term recurrence
    ``h_{n+1} = sqrt(2/(n+1)) xi h_n - sqrt(n/(n+1)) h_{n-1}`` (no factorials), and
    ``h_n' = sqrt(n/2) h_{n-1} - sqrt((n+1)/2) h_{n+1}``.

    Parameters
    ----------
    xi : ndarray, shape (N,)
    n_max : int

    Returns
    -------
    h, dh : ndarray, shape (N, n_max + 1)
        Values and derivatives with respect to ``xi``; ``int h_m h_n dxi = delta_mn``.
    """
    xi = np.asarray(xi, dtype=np.float64)
    h = np.empty(xi.shape + (n_max + 2,))
    h[..., 0] = math.pi ** -0.25 * np.exp(-0.5 * xi * xi)
    h[..., 1] = math.sqrt(2.0) * xi * h[..., 0]
    for n in range(1, n_max + 1):
        h[..., n + 1] = math.sqrt(2.0 / (n + 1)) * xi * h[..., n] - math.sqrt(n / (n + 1)) * h[..., n - 1]
    n = np.arange(n_max + 1)
    dh = -np.sqrt((n + 1) / 2.0) * h[..., 1:]
    dh[..., 1:] += np.sqrt(n[1:] / 2.0) * h[..., : n_max]
    return h[..., : n_max + 1], dh


def _lowest_multi_indices(omega: Sequence[float], n_modes: int) -> tuple[list[tuple[int, ...]], bool]:
    """Multi-indices of the ``n_modes`` lowest levels ``sum_i omega_i (2 n_i + 1)``.

    Best-first search over the index lattice; returns the indices in the documented order
    and whether the last degenerate multiplet is complete.
    """
    w = [float(v) for v in omega]
    energy = lambda idx: sum(wi * (2 * ni + 1) for wi, ni in zip(w, idx))  # noqa: E731
    return _lowest_separable(energy, (0,) * len(w), n_modes)


def _lowest_separable(energy: Callable, start: tuple[int, ...], n_modes: int) -> tuple[list[tuple[int, ...]], bool]:
    """Best-first search for the ``n_modes`` lowest ``energy(idx)`` over multi-indices
    ``idx >= start`` (``energy`` increasing in every index); ties in descending
    lexicographic order; also returns whether the last degenerate multiplet is complete."""
    heap, seen, found = [(energy(start), start)], {start}, []
    while heap:
        e, idx = heap[0]
        if len(found) >= n_modes and e - found[n_modes - 1][0] > ENERGY_RTOL * max(abs(e), 1e-300):
            break
        heapq.heappop(heap)
        found.append((e, idx))
        for d in range(len(start)):
            nxt = idx[:d] + (idx[d] + 1,) + idx[d + 1:]
            if nxt not in seen:
                seen.add(nxt)
                heapq.heappush(heap, (energy(nxt), nxt))
    energies = np.array([e for e, _ in found])
    ordered = []
    for g in _groups(energies):
        ordered += sorted((found[i][1] for i in g), key=lambda idx: tuple(-n for n in idx))
    return ordered[:n_modes], len(ordered) == n_modes


@dataclass(frozen=True, eq=False)
class _SeparableReference(ReferenceSolution):
    """Eigenfunctions that are products of one-dimensional factors, psi = prod_d h_{n_d}(x_d).

    Subclasses provide ``_axis_tables(x)``: per axis, the factor values and their
    derivatives at the points, each of shape (N, L).
    """

    def _axis_tables(self, x):
        raise NotImplementedError

    def eigenfunctions(self, x):
        tables = self._axis_tables(x)
        out = tables[0][0].copy()
        for h, _ in tables[1:]:
            out *= h
        return out

    def gradients(self, x):
        tables = self._axis_tables(x)
        out = np.empty(tables[0][0].shape + (self.dimension,))
        for d in range(self.dimension):
            g = tables[d][1].copy()
            for j, (h, _) in enumerate(tables):
                if j != d:
                    g *= h
            out[..., d] = g
        return out


@dataclass(frozen=True, eq=False)
class HarmonicReference(_SeparableReference):
    """Harmonic oscillator ``H = -kappa Laplacian + sum_i omega_i^2 x_i^2`` (see
    :func:`harmonic_reference`)."""

    omega: tuple[float, ...]
    kappa: float

    @property
    def dimension(self) -> int:
        return len(self.omega)

    def _axis_tables(self, x):
        x = self._points(x)
        q = np.array(self.quantum_numbers, dtype=int)  # (L, D)
        b = np.asarray(self.omega) / math.sqrt(self.kappa)
        tables = []
        for d in range(self.dimension):
            h, dh = hermite_functions(math.sqrt(b[d]) * x[:, d], int(q[:, d].max()))
            s = b[d] ** 0.25  # h_n(sqrt(b) x) * b^{1/4} is normalised in x
            tables.append((s * h[:, q[:, d]], s * math.sqrt(b[d]) * dh[:, q[:, d]]))
        return tables



def harmonic_reference(omega: Sequence[float], n_modes: int, kappa: float = 1.0) -> HarmonicReference:
    """Lowest eigenpairs of ``H = -kappa Laplacian + sum_i omega_i^2 x_i^2`` (App. E.1.2).

    Separable: ``psi_n(x) = prod_i phi_{n_i}(x_i)`` with, for ``b = omega / sqrt(kappa)``,
    ``phi_n(x) = (b/pi)^{1/4} (2^n n!)^{-1/2} exp(-b x^2/2) H_n(sqrt(b) x)`` and energy
    ``E = sum_i omega_i sqrt(kappa) (2 n_i + 1)``.  In 2D with ``kappa = omega = 1``,
    ``E = 2 (n_x + n_y + 1)`` with multiplicity ``n_x + n_y + 1``.

    Modes are sorted by energy; within a degenerate level (relative tolerance
    :data:`ENERGY_RTOL`) multi-indices come in descending lexicographic order, e.g.
    ``(1, 0), (0, 1)`` then ``(2, 0), (1, 1), (0, 2)``.

    Parameters
    ----------
    omega : sequence of float, length D
        Angular frequency per axis.
    n_modes : int
        Number ``L`` of modes.
    kappa : float
        Kinetic coefficient.

    Returns
    -------
    HarmonicReference
        Quantum numbers ``(n_1, ..., n_D)``, labels ``("n_1", ..., "n_D")``.

    References
    ----------
    J. J. Ryu et al., ICML 2024, App. E.1.2.
    """
    omega = tuple(float(w) for w in omega)
    if not omega or min(omega) <= 0 or kappa <= 0 or n_modes < 1:
        raise ValueError("need omega > 0 (one per axis), kappa > 0 and n_modes >= 1")
    idx, complete = _lowest_multi_indices(omega, n_modes)
    energies = np.array([math.sqrt(kappa) * sum(w * (2 * n + 1) for w, n in zip(omega, i)) for i in idx])
    return HarmonicReference(
        name="harmonic (analytic)",
        energies=energies,
        quantum_numbers=tuple(idx),
        quantum_labels=tuple(f"n_{d + 1}" for d in range(len(omega))),
        groups=tuple(_groups(energies)),
        complete_last_group=complete,
        omega=omega,
        kappa=float(kappa),
    )
