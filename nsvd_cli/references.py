"""Closed-form eigenpairs of the benchmark Hamiltonians (numpy and scipy.special only).

Conventions follow :mod:`nsvd_cli.spec`: ``H = -kappa * Laplacian + V`` with energies
listed in ascending order.  Every reference gives the first ``L`` energies, quantum numbers,
the degenerate subspaces (``groups``) and real, L2-normalised eigenfunctions together with
their exact gradients (for the quadratic form ``kappa <grad psi, grad psi> + <psi, V psi>``).

Two families are covered (J. J. Ryu et al., ICML 2024, App. E.1.1/E.1.2):

* the harmonic oscillator ``V = sum_i omega_i^2 x_i^2`` in any dimension, and
* the 2D hydrogen atom ``V = -charge / |x|`` (Yang et al., Phys. Rev. A 43, 1186 (1991)).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.special import hyp1f1

from .spec import ProblemSpec

__all__ = [
    "ReferenceSolution",
    "HarmonicReference",
    "Hydrogen2DReference",
    "harmonic_reference",
    "hydrogen2d_reference",
    "reference_for",
    "hermite_functions",
    "ENERGY_RTOL",
]

#: Relative tolerance under which two energies count as degenerate.
ENERGY_RTOL = 1e-9


@dataclass(frozen=True, eq=False)
class ReferenceSolution:
    """The lowest ``L`` eigenpairs of a Hamiltonian, known in closed form.

    Attributes
    ----------
    name : str
        Human-readable name, e.g. ``"harmonic (analytic)"``.
    energies : ndarray, shape (L,)
        Ascending energies of ``H`` (float64).
    quantum_numbers : tuple of tuple of int
        One tuple per mode, e.g. ``(n_1, ..., n_D)`` or ``(n, l)``.
    quantum_labels : tuple of str
        Names of the quantum numbers, e.g. ``("n_1", "n_2")`` or ``("n", "l")``.
    groups : tuple of ndarray of int
        Degenerate subspaces: consecutive index arrays into ``0..L-1`` covering them all.
    complete_last_group : bool
        ``False`` when the ``L`` modes cut through the last degenerate multiplet (its
        remaining members have index >= L), so that only the span of the earlier groups
        is well defined.
    """

    name: str
    energies: np.ndarray
    quantum_numbers: tuple[tuple[int, ...], ...]
    quantum_labels: tuple[str, ...]
    groups: tuple[np.ndarray, ...]
    complete_last_group: bool

    @property
    def n_modes(self) -> int:
        """Number of modes ``L``."""
        return len(self.energies)

    @property
    def dimension(self) -> int:
        """Spatial dimension ``D``."""
        raise NotImplementedError

    def _points(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dimension:
            raise ValueError(f"expected points of shape (N, {self.dimension}), got {x.shape}")
        return x

    def eigenfunctions(self, x: np.ndarray) -> np.ndarray:
        """Eigenfunctions at points ``x``.

        Parameters
        ----------
        x : array_like, shape (N, D)

        Returns
        -------
        ndarray, shape (N, L)
            Real, L2(R^D)-normalised eigenfunctions, column ``l`` for ``energies[l]``.
        """
        raise NotImplementedError

    def gradients(self, x: np.ndarray) -> np.ndarray:
        """Exact gradients of the eigenfunctions.

        Parameters
        ----------
        x : array_like, shape (N, D)

        Returns
        -------
        ndarray, shape (N, L, D)
            ``out[i, l, d] = d psi_l / d x_d`` at ``x[i]``.
        """
        raise NotImplementedError


def _groups(energies: np.ndarray, rtol: float = ENERGY_RTOL) -> list[np.ndarray]:
    """Split ascending energies into runs of (relatively) equal values."""
    e = np.asarray(energies, dtype=np.float64)
    new = np.abs(np.diff(e)) > rtol * np.maximum(np.maximum(np.abs(e[1:]), np.abs(e[:-1])), 1e-300)
    starts = np.concatenate([[0], np.flatnonzero(new) + 1, [len(e)]])
    return [np.arange(a, b) for a, b in zip(starts[:-1], starts[1:])]


# --------------------------------------------------------------------------------------
# harmonic oscillator
# --------------------------------------------------------------------------------------

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
    start = (0,) * len(w)
    heap, seen, found = [(energy(start), start)], {start}, []
    while heap:
        e, idx = heap[0]
        if len(found) >= n_modes and e - found[n_modes - 1][0] > ENERGY_RTOL * max(abs(e), 1e-300):
            break
        heapq.heappop(heap)
        found.append((e, idx))
        for d in range(len(w)):
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
class HarmonicReference(ReferenceSolution):
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


# --------------------------------------------------------------------------------------
# 2D hydrogen
# --------------------------------------------------------------------------------------

def _hydrogen_radial(r: np.ndarray, n: int, m: int):
    """Unit-scale (charge = kappa = 1) radial part R_{n,|l|=m}: returns (R, dR/dr, R/r).

    ``R/r`` is only used for ``m >= 1`` (it multiplies the angular derivative) and is
    returned as 0 for ``m = 0``.
    """
    beta = 1.0 / (n + 0.5)
    logc = math.log(beta) - math.lgamma(2 * m + 1) + 0.5 * (
        math.lgamma(n + m + 1) - math.log(2 * n + 1) - math.lgamma(n - m + 1))
    c, a, b = math.exp(logc), float(m - n), float(2 * m + 1)
    z = beta * r
    e = np.exp(-0.5 * z)
    M = hyp1f1(a, b, z)
    dM = (a / b) * hyp1f1(a + 1, b + 1, z) if n > m else np.zeros_like(z)
    zm = z ** m
    R = c * zm * e * M
    dR = c * beta * e * zm * (dM - 0.5 * M)
    if m >= 1:
        zm1 = z ** (m - 1)
        dR += c * beta * e * m * zm1 * M
        R_over_r = c * beta * zm1 * e * M
    else:
        R_over_r = np.zeros_like(z)
    return R, dR, R_over_r


def _hydrogen_angular(theta: np.ndarray, l: int):
    """Real angular part A_l(theta) and dA/dtheta (see :func:`hydrogen2d_reference`)."""
    if l == 0:
        return np.full_like(theta, 1.0 / math.sqrt(2 * math.pi)), np.zeros_like(theta)
    k, s = abs(l), 1.0 / math.sqrt(math.pi)
    if l > 0:
        return s * np.cos(k * theta), -s * k * np.sin(k * theta)
    return s * np.sin(k * theta), s * k * np.cos(k * theta)


@dataclass(frozen=True, eq=False)
class Hydrogen2DReference(ReferenceSolution):
    """2D hydrogen ``H = -kappa Laplacian - charge / |x|`` (see :func:`hydrogen2d_reference`)."""

    charge: float
    kappa: float

    @property
    def dimension(self) -> int:
        return 2

    def _polar(self, x):
        x = self._points(x)
        s = self.charge / self.kappa  # psi(x) = s * psi_1(s x), psi_1 for charge = kappa = 1
        return s * np.hypot(x[:, 0], x[:, 1]), np.arctan2(x[:, 1], x[:, 0]), s

    def eigenfunctions(self, x):
        r, theta, s = self._polar(x)
        out = np.empty((len(r), self.n_modes))
        cache = {}
        for j, (n, l) in enumerate(self.quantum_numbers):
            if (n, abs(l)) not in cache:
                cache[(n, abs(l))] = _hydrogen_radial(r, n, abs(l))[0]
            out[:, j] = s * cache[(n, abs(l))] * _hydrogen_angular(theta, l)[0]
        return out

    def gradients(self, x):
        r, theta, s = self._polar(x)
        ct, st = np.cos(theta), np.sin(theta)
        out = np.empty((len(r), self.n_modes, 2))
        cache = {}
        for j, (n, l) in enumerate(self.quantum_numbers):
            if (n, abs(l)) not in cache:
                cache[(n, abs(l))] = _hydrogen_radial(r, n, abs(l))
            _, dR, R_r = cache[(n, abs(l))]
            A, dA = _hydrogen_angular(theta, l)
            gr, gt = dR * A, R_r * dA  # components along r-hat and theta-hat (unit scale)
            if l == 0:
                gr = np.where(r == 0, 0.0, gr)  # cusp: no gradient direction at the nucleus
            out[:, j, 0] = s * s * (gr * ct - gt * st)
            out[:, j, 1] = s * s * (gr * st + gt * ct)
        return out


def _hydrogen_l_order(n: int) -> list[int]:
    return [0] + [v for k in range(1, n + 1) for v in (k, -k)]


def hydrogen2d_reference(n_modes: int, charge: float = 1.0, kappa: float = 1.0) -> Hydrogen2DReference:
    """Lowest eigenpairs of the 2D hydrogen atom ``H = -kappa Laplacian - charge / |x|``.

    For ``charge = kappa = 1`` (App. E.1.1, eq. 21): ``E_n = -1/(2n+1)^2``, ``n >= 0``,
    ``l = -n..n`` (multiplicity ``2n+1``), ``psi_{n,l} = R_{n,|l|}(r) A_l(theta)`` with
    ``beta_n = 1/(n + 1/2)`` and

    ``R_{n,m}(r) = beta_n / (2m)! * sqrt((n+m)! / ((2n+1) (n-m)!)) * (beta_n r)^m
    * exp(-beta_n r / 2) * 1F1(-n+m, 2m+1, beta_n r)``,

    ``A_l = cos(l theta)/sqrt(pi)`` for ``l > 0``, ``1/sqrt(2 pi)`` for ``l = 0`` and
    ``sin(|l| theta)/sqrt(pi)`` for ``l < 0``.  The paper's normalisation constant was
    checked numerically (``int_0^inf R^2 r dr = 1`` for all ``n <= 4``) and is used as is.

    General ``charge = Z`` and ``kappa``: with ``x = (kappa/Z) y``,
    ``H = (Z^2/kappa) (-Laplacian_y - 1/|y|)``, hence ``E = -(Z^2/kappa)/(2n+1)^2`` and
    ``psi(x) = (Z/kappa) psi_unit((Z/kappa) x)``.

    Modes are ordered by ``n``; within a shell ``l = 0, 1, -1, 2, -2, ...``.
    Gradients are exact (polar coordinates).  At the nucleus ``r = 0`` (where
    ``theta = arctan2(0, 0) = 0``) the ``l = 0`` states have a cusp and their gradient is
    returned as 0; for ``|l| >= 1`` the formula gives the true (finite) gradient.

    Parameters
    ----------
    n_modes : int
        Number ``L`` of modes.
    charge : float
        Nuclear charge ``Z > 0``.
    kappa : float
        Kinetic coefficient.

    Returns
    -------
    Hydrogen2DReference
        Quantum numbers ``(n, l)``, labels ``("n", "l")``.

    References
    ----------
    J. J. Ryu et al., ICML 2024, App. E.1.1; X. L. Yang et al., Phys. Rev. A 43, 1186 (1991).
    """
    if charge <= 0 or kappa <= 0 or n_modes < 1:
        raise ValueError("need charge > 0, kappa > 0 and n_modes >= 1")
    qn, n = [], 0
    while len(qn) < n_modes:
        qn += [(n, l) for l in _hydrogen_l_order(n)]
        n += 1
    complete = len(qn) == n_modes
    qn = qn[:n_modes]
    energies = np.array([-(charge ** 2 / kappa) / (2 * n + 1) ** 2 for n, _ in qn])
    groups, start = [], 0
    for k in range(qn[-1][0] + 1):
        stop = min(start + 2 * k + 1, n_modes)
        groups.append(np.arange(start, stop))
        start = stop
    return Hydrogen2DReference(
        name="hydrogen2d (analytic)",
        energies=energies,
        quantum_numbers=tuple(qn),
        quantum_labels=("n", "l"),
        groups=tuple(groups),
        complete_last_group=complete,
        charge=float(charge),
        kappa=float(kappa),
    )


def reference_for(spec: ProblemSpec) -> ReferenceSolution | None:
    """Closed-form reference for a problem spec, or ``None`` if there is none.

    ``harmonic`` potentials give :func:`harmonic_reference`; an unsoftened ``coulomb``
    potential in 2D gives :func:`hydrogen2d_reference`; ``spec.reference == "none"`` and
    every other case give ``None``.
    """
    if spec.reference == "none":
        return None
    pot = spec.potential
    if pot.kind == "harmonic":
        return harmonic_reference(pot.omega, spec.modes, spec.kinetic)
    if pot.kind == "coulomb" and spec.dimension == 2 and pot.softening == 0:
        return hydrogen2d_reference(spec.modes, pot.charge, spec.kinetic)
    return None
