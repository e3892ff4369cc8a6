"""Closed-form eigenpairs of the benchmark Hamiltonians (numpy and scipy.special only).

Conventions follow :mod:`nsvd_cli.spec`: ``H = -kappa * Laplacian + V`` with energies
listed in ascending order.  Every reference gives the first ``L`` energies, quantum numbers,
the degenerate subspaces (``groups``) and real, L2-normalised eigenfunctions together with
their exact gradients (for the quadratic form ``kappa <grad psi, grad psi> + <psi, V psi>``).

Closed forms (``kind = "analytic"``):

* the harmonic oscillator ``V = sum_i omega_i^2 x_i^2`` in any dimension (J. J. Ryu et al.,
  ICML 2024, App. E.1.2), anisotropic included;
* the 2D hydrogen atom ``V = -charge / |x|`` (Yang et al., Phys. Rev. A 43, 1186 (1991));
* the 3D hydrogen atom (real solid harmonics times Laguerre radial functions);
* the infinite box (Dirichlet walls) in any dimension;
* the Morse and Pöschl–Teller wells in 1D (bound states; modes beyond the last bound state
  are continuum placeholders at the threshold energy with zero eigenfunctions).

Every other problem with ``D <= 3`` gets a finite-difference grid reference (``kind =
"grid"``, :func:`grid_reference`: eigsh on a uniform grid, cached on disk, eigenfunctions
interpolated); for ``D >= 4`` without a closed form there is none, and eigenvalues are
Rayleigh-quotient estimates only (:data:`NO_REFERENCE`).
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from scipy.special import eval_genlaguerre, eval_jacobi, hyp1f1, roots_jacobi

from .errors import SpecError
from .spec import ProblemSpec, spec_to_dict, walls

__all__ = [
    "ReferenceSolution",
    "HarmonicReference",
    "Hydrogen2DReference",
    "harmonic_reference",
    "hydrogen2d_reference",
    "reference_for",
    "analytic_reference",
    "grid_reference",
    "reference_kind",
    "hermite_functions",
    "BoxReference",
    "Hydrogen3DReference",
    "MorseReference",
    "PoschlTellerReference",
    "GridReference",
    "box_reference",
    "hydrogen3d_reference",
    "morse_reference",
    "poschl_teller_reference",
    "cache_dir",
    "default_grid_points",
    "ENERGY_RTOL",
    "GRID_RTOL",
    "NO_REFERENCE",
]

#: Relative tolerance under which two energies count as degenerate.
ENERGY_RTOL = 1e-9
#: Relative tolerance under which grid-reference energies count as degenerate.
GRID_RTOL = 1e-8
#: What tables say when a problem has no reference.
NO_REFERENCE = "no reference: Rayleigh-quotient estimates only"


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
    kind : {"analytic", "grid"}
        Closed form or finite-difference grid solution (keyword only).
    notes : tuple of str
        Caveats shown as warnings by ``nsvd solve`` (e.g. modes beyond the bound states).
    """

    name: str
    energies: np.ndarray
    quantum_numbers: tuple[tuple[int, ...], ...]
    quantum_labels: tuple[str, ...]
    groups: tuple[np.ndarray, ...]
    complete_last_group: bool
    kind: str = field(default="analytic", kw_only=True)
    notes: tuple[str, ...] = field(default=(), kw_only=True)

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


# --------------------------------------------------------------------------------------
# infinite box
# --------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------
# 3D hydrogen
# --------------------------------------------------------------------------------------

def _poly_mul(p: dict, q: dict) -> dict:
    out: dict = {}
    for ea, ca in p.items():
        for eb, cb in q.items():
            e = (ea[0] + eb[0], ea[1] + eb[1], ea[2] + eb[2])
            out[e] = out.get(e, 0.0) + ca * cb
    return {e: c for e, c in out.items() if c != 0}


def _solid_harmonic(l: int, m: int) -> dict:
    """Real regular solid harmonic ``r^l Y_lm`` as a polynomial {(a, b, c): coef} in x, y, z,
    unnormalised: ``Pi_l^|m|(z, r^2) * A_|m|(x, y)`` (m >= 0, cos type) or ``* B_|m|`` (m < 0,
    sin type), with ``Pi_l^m = sum_k (-1)^k C(l,k) C(2l-2k,l) (l-2k)!/(l-2k-m)! r^{2k} z^{l-2k-m}``,
    ``A_m + i B_m = (x + i y)^m`` (e.g. Wikipedia "Solid harmonics", real form)."""
    k_m = abs(m)
    r2 = {(2, 0, 0): 1.0, (0, 2, 0): 1.0, (0, 0, 2): 1.0}
    pi_lm: dict = {}
    for k in range((l - k_m) // 2 + 1):
        c = (-1) ** k * math.comb(l, k) * math.comb(2 * l - 2 * k, l) * math.factorial(l - 2 * k) \
            / math.factorial(l - 2 * k - k_m)
        term = {(0, 0, l - 2 * k - k_m): c}
        for _ in range(k):
            term = _poly_mul(term, r2)
        for e, v in term.items():
            pi_lm[e] = pi_lm.get(e, 0.0) + v
    ab: dict = {}
    for p in range(k_m + 1):
        phase = (k_m - p) % 4
        c = {0: (1, 0), 1: (0, 1), 2: (-1, 0), 3: (0, -1)}[phase][0 if m >= 0 else 1]
        if c:
            ab[(p, k_m - p, 0)] = ab.get((p, k_m - p, 0), 0.0) + c * math.comb(k_m, p)
    return _poly_mul({e: v for e, v in pi_lm.items() if v != 0}, ab)


def _sphere_monomial_integral(a: int, b: int, c: int) -> float:
    """``int_{S^2} x^a y^b z^c dOmega``."""
    if a % 2 or b % 2 or c % 2:
        return 0.0
    return 2.0 * math.exp(math.lgamma((a + 1) / 2) + math.lgamma((b + 1) / 2) + math.lgamma((c + 1) / 2)
                          - math.lgamma((a + b + c + 3) / 2))


def _normalised_solid_harmonic(l: int, m: int) -> dict:
    p = _solid_harmonic(l, m)
    norm2 = sum(ca * cb * _sphere_monomial_integral(ea[0] + eb[0], ea[1] + eb[1], ea[2] + eb[2])
                for ea, ca in p.items() for eb, cb in p.items())
    s = 1.0 / math.sqrt(norm2)
    return {e: c * s for e, c in p.items()}


def _poly_eval(p: dict, x: np.ndarray) -> np.ndarray:
    out = np.zeros(len(x))
    for (a, b, c), coef in p.items():
        out += coef * x[:, 0] ** a * x[:, 1] ** b * x[:, 2] ** c
    return out


def _poly_grad(p: dict) -> list[dict]:
    out = [{}, {}, {}]
    for e, c in p.items():
        for d in range(3):
            if e[d]:
                e2 = list(e)
                e2[d] -= 1
                out[d][tuple(e2)] = out[d].get(tuple(e2), 0.0) + c * e[d]
    return out


@dataclass(frozen=True, eq=False)
class Hydrogen3DReference(ReferenceSolution):
    """3D hydrogen ``H = -kappa Laplacian - charge / |x|`` (see :func:`hydrogen3d_reference`)."""

    charge: float
    kappa: float

    @property
    def dimension(self) -> int:
        return 3

    def _radial(self, r, n, l):
        """f(r) = R_nl(r) / r^l and f'(r)."""
        a0 = 2.0 * self.kappa / self.charge  # Bohr radius
        beta = 2.0 / (n * a0)
        rho = beta * r
        logc = 0.5 * (3 * math.log(beta) + math.lgamma(n - l) - math.log(2 * n) - math.lgamma(n + l + 1)) \
            + l * math.log(beta)
        e = np.exp(logc - 0.5 * rho)
        k = n - l - 1
        lag = eval_genlaguerre(k, 2 * l + 1, rho)
        dlag = -eval_genlaguerre(k - 1, 2 * l + 2, rho) if k >= 1 else np.zeros_like(rho)
        return e * lag, beta * e * (dlag - 0.5 * lag)

    def _tables(self, x, grad):
        x = self._points(x)
        r = np.sqrt((x * x).sum(1))
        out = np.empty((len(x), self.n_modes) + ((3,) if grad else ()))
        with np.errstate(invalid="ignore", divide="ignore"):
            unit = np.where(r[:, None] > 0, x / r[:, None], 0.0)
        cache = {}
        for j, (n, l, m) in enumerate(self.quantum_numbers):
            if (n, l) not in cache:
                cache[(n, l)] = self._radial(r, n, l)
            f, df = cache[(n, l)]
            Y = _normalised_solid_harmonic(l, m)
            S = _poly_eval(Y, x)
            if not grad:
                out[:, j] = f * S
            else:
                dS = [_poly_eval(g, x) for g in _poly_grad(Y)]
                for d in range(3):
                    out[:, j, d] = df * unit[:, d] * S + f * dS[d]
        return out

    def eigenfunctions(self, x):
        return self._tables(x, False)

    def gradients(self, x):
        return self._tables(x, True)


def _m_order(l: int) -> list[int]:
    return [0] + [v for k in range(1, l + 1) for v in (k, -k)]


def hydrogen3d_reference(n_modes: int, charge: float = 1.0, kappa: float = 1.0) -> Hydrogen3DReference:
    """Lowest eigenpairs of the 3D hydrogen atom ``H = -kappa Laplacian - charge / |x|``.

    ``E_n = -charge^2 / (4 kappa n^2)``, ``n >= 1`` (``-1/(4 n^2)`` for charge = kappa = 1:
    with kappa = 1/2 these are the atomic-unit levels ``-1/(2 n^2)``), multiplicity ``n^2``.
    ``psi_nlm = R_nl(r) Y_lm``, Bohr radius ``a = 2 kappa / charge``, ``rho = 2 r / (n a)``,
    ``R_nl = sqrt((2/(n a))^3 (n-l-1)! / (2n (n+l)!)) rho^l exp(-rho/2) L_{n-l-1}^{2l+1}(rho)``
    (generalised Laguerre, scipy.special), ``Y_lm`` real spherical harmonics (``m > 0``: cos
    type, ``m < 0``: sin type), computed as exactly normalised real solid harmonics
    ``r^l Y_lm`` (polynomials in x, y, z) so that values and gradients need no angles.

    Modes are ordered by ``n``, then ``l = 0..n-1``, then ``m = 0, 1, -1, 2, -2, ...``.
    At the nucleus the ``l = 0`` gradients (cusp) are returned as 0.

    Returns
    -------
    Hydrogen3DReference
        Quantum numbers ``(n, l, m)``.

    References
    ----------
    Textbook hydrogen (e.g. Griffiths & Schroeter, sec. 4.2) in the units ``H = -kappa
    Laplacian - Z/r``.
    """
    if charge <= 0 or kappa <= 0 or n_modes < 1:
        raise ValueError("need charge > 0, kappa > 0 and n_modes >= 1")
    qn, n = [], 1
    while len(qn) < n_modes:
        qn += [(n, l, m) for l in range(n) for m in _m_order(l)]
        n += 1
    complete = len(qn) == n_modes
    qn = qn[:n_modes]
    energies = np.array([-(charge**2) / (4.0 * kappa * n**2) for n, _, _ in qn])
    return Hydrogen3DReference(name="hydrogen3d (analytic)", energies=energies, quantum_numbers=tuple(qn),
                               quantum_labels=("n", "l", "m"), groups=tuple(_groups(energies)),
                               complete_last_group=complete, charge=float(charge), kappa=float(kappa))


# --------------------------------------------------------------------------------------
# 1D wells with finitely many bound states: Morse, Pöschl–Teller
# --------------------------------------------------------------------------------------

def _bound_count(nu_minus: float) -> int:
    """Number of integers n >= 0 with n < nu_minus."""
    # ceil(3.5) = 4 -> n = 0..3; ceil(3) = 3 -> n = 0..2 (n = nu_minus is the threshold, not bound);
    # the tolerance keeps a rounding error from counting that threshold state
    return max(0, math.ceil(nu_minus - 1e-9))


def _padded(n_modes, n_bound, energy, threshold, what):
    """Energies and quantum numbers of bound states, padded with continuum placeholders."""
    nb = min(n_modes, n_bound)
    energies = [energy(n) for n in range(nb)] + [threshold] * (n_modes - nb)
    qn = [(n,) for n in range(nb)] + [(-1,)] * (n_modes - nb)
    notes = ()
    if n_modes > n_bound:
        notes = (f"{what} has only {n_bound} bound state(s); modes {n_bound + 1}..{n_modes} are continuum "
                 f"placeholders (reference energy {threshold:g}, the threshold, quantum number -1)",)
    groups = [np.array([i]) for i in range(nb)]
    if n_modes > nb:
        groups.append(np.arange(nb, n_modes))
    return np.array(energies, dtype=np.float64), tuple(qn), tuple(groups), notes


@dataclass(frozen=True, eq=False)
class MorseReference(ReferenceSolution):
    """Morse oscillator ``H = -kappa d^2/dx^2 + depth (1 - exp(-a (x - center)))^2``."""

    depth: float
    a: float
    center: float
    kappa: float

    @property
    def dimension(self) -> int:
        return 1

    @property
    def lam(self) -> float:
        return math.sqrt(self.depth / self.kappa) / self.a

    def _tables(self, x, grad):
        x = self._points(x)[:, 0]
        out = np.zeros((len(x), self.n_modes))
        t = -self.a * (x - self.center)
        logz = math.log(2 * self.lam) + t  # z = 2 lam exp(-a (x - center))
        z = np.exp(logz)
        for j, (n,) in enumerate(self.quantum_numbers):
            if n < 0:
                continue
            s = self.lam - n - 0.5
            logN = 0.5 * (math.log(self.a) + math.lgamma(n + 1) + math.log(2 * s) - math.lgamma(n + 2 * s + 1))
            base = np.exp(logN + s * logz - 0.5 * z)  # N z^s e^{-z/2}
            L = eval_genlaguerre(n, 2 * s, z)
            if not grad:
                out[:, j] = base * L
            else:
                dL = -eval_genlaguerre(n - 1, 2 * s + 1, z) if n >= 1 else 0.0
                out[:, j] = -self.a * base * (s * L - 0.5 * z * L + z * dL)
        return out

    def eigenfunctions(self, x):
        return self._tables(x, False)

    def gradients(self, x):
        return self._tables(x, True)[:, :, None]


def morse_reference(n_modes: int, depth: float, a: float = 1.0, center: float = 0.0,
                    kappa: float = 1.0) -> MorseReference:
    """Bound states of ``H = -kappa d^2/dx^2 + depth (1 - exp(-a (x - center)))^2``.

    With ``lam = sqrt(depth / kappa) / a``: ``E_n = depth - kappa a^2 (lam - n - 1/2)^2`` for
    ``0 <= n < lam - 1/2``; ``psi_n = N_n z^s exp(-z/2) L_n^{(2s)}(z)``, ``z = 2 lam
    exp(-a (x - center))``, ``s = lam - n - 1/2``, ``N_n = sqrt(a n! 2s / Gamma(n + 2s + 1))``
    (generalised Laguerre).  Depth 16, a = 1: 3.75, 9.75, 13.75, 15.75.  Modes beyond the
    bound states are placeholders at the threshold ``depth`` (quantum number -1, zero
    eigenfunction; see ``notes``).

    References
    ----------
    P. M. Morse, Phys. Rev. 34, 57 (1929); J. P. Dahl and M. Springborg, J. Chem. Phys. 88,
    4535 (1988).
    """
    if depth <= 0 or a <= 0 or kappa <= 0 or n_modes < 1:
        raise ValueError("need depth > 0, a > 0, kappa > 0 and n_modes >= 1")
    lam = math.sqrt(depth / kappa) / a
    nb = _bound_count(lam - 0.5)
    energies, qn, groups, notes = _padded(n_modes, nb, lambda n: depth - kappa * a * a * (lam - n - 0.5) ** 2,
                                          float(depth), "this Morse potential")
    return MorseReference(name="morse (analytic)", energies=energies, quantum_numbers=qn, quantum_labels=("n",),
                          groups=groups, complete_last_group=True, notes=notes, depth=float(depth), a=float(a),
                          center=float(center), kappa=float(kappa))


@dataclass(frozen=True, eq=False)
class PoschlTellerReference(ReferenceSolution):
    """Pöschl–Teller well ``H = -kappa d^2/dx^2 - lam (lam + 1) sech(x)^2``."""

    lam: float
    kappa: float

    @property
    def dimension(self) -> int:
        return 1

    @property
    def nu(self) -> float:
        return 0.5 * (math.sqrt(1.0 + 4.0 * self.lam * (self.lam + 1.0) / self.kappa) - 1.0)

    def _tables(self, x, grad):
        x = self._points(x)[:, 0]
        out = np.zeros((len(x), self.n_modes))
        xi = np.tanh(x)
        ax = np.abs(x)
        log_sech = math.log(2.0) - ax - np.log1p(np.exp(-2.0 * ax))
        for j, (n,) in enumerate(self.quantum_numbers):
            if n < 0:
                continue
            s = self.nu - n
            nodes, weights = roots_jacobi(n + 1, s - 1.0, s - 1.0)
            norm = 1.0 / math.sqrt(float(np.sum(weights * eval_jacobi(n, s, s, nodes) ** 2)))
            base = norm * np.exp(s * log_sech)  # N sech^s
            P = eval_jacobi(n, s, s, xi)
            if not grad:
                out[:, j] = base * P
            else:
                dP = 0.5 * (n + 2 * s + 1) * eval_jacobi(n - 1, s + 1, s + 1, xi) if n >= 1 else 0.0
                out[:, j] = base * (-s * xi * P + (1.0 - xi * xi) * dP)
        return out

    def eigenfunctions(self, x):
        return self._tables(x, False)

    def gradients(self, x):
        return self._tables(x, True)[:, :, None]


def poschl_teller_reference(n_modes: int, lam: float, kappa: float = 1.0) -> PoschlTellerReference:
    """Bound states of ``H = -kappa d^2/dx^2 - lam (lam + 1) sech(x)^2``.

    With ``nu (nu + 1) = lam (lam + 1) / kappa`` (``nu = lam`` for kappa = 1):
    ``E_n = -kappa (nu - n)^2`` for ``0 <= n < nu``, ``psi_n = N_n sech(x)^s
    P_n^{(s, s)}(tanh x)``, ``s = nu - n`` (Jacobi polynomial; equivalently the associated
    Legendre function ``P_nu^s(tanh x)``), ``N_n`` from Gauss–Jacobi quadrature of
    ``int (1 - t^2)^{s-1} P_n^{(s,s)}(t)^2 dt`` (exact).  lam = 3: -9, -4, -1.  Modes beyond
    the bound states are placeholders at the threshold 0 (quantum number -1).

    References
    ----------
    G. Pöschl and E. Teller, Z. Phys. 83, 143 (1933); S. Flügge, Practical Quantum
    Mechanics, problem 39.
    """
    if lam <= 0 or kappa <= 0 or n_modes < 1:
        raise ValueError("need lam > 0, kappa > 0 and n_modes >= 1")
    nu = 0.5 * (math.sqrt(1.0 + 4.0 * lam * (lam + 1.0) / kappa) - 1.0)
    nb = _bound_count(nu)
    energies, qn, groups, notes = _padded(n_modes, nb, lambda n: -kappa * (nu - n) ** 2, 0.0,
                                          "this Pöschl–Teller well")
    return PoschlTellerReference(name="poschl_teller (analytic)", energies=energies, quantum_numbers=qn,
                                 quantum_labels=("n",), groups=groups, complete_last_group=True, notes=notes,
                                 lam=float(lam), kappa=float(kappa))


# --------------------------------------------------------------------------------------
# grid references (eigsh), cached
# --------------------------------------------------------------------------------------

#: Grid points per axis of a grid reference by dimension (order-4 stencil).
DEFAULT_GRID_POINTS = {1: 2000, 2: 160, 3: 36}
#: Stencil order of grid references.
GRID_ORDER = 4
_CACHE_VERSION = 1


def default_grid_points(dimension: int) -> int:
    """Points per axis of an automatic grid reference (:data:`DEFAULT_GRID_POINTS`)."""
    return DEFAULT_GRID_POINTS[dimension]


def cache_dir() -> Path:
    """Where grid references are cached: ``$NSVD_CACHE_DIR``, else ``~/.cache/nsvd``."""
    env = os.environ.get("NSVD_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "nsvd"


@dataclass(frozen=True, eq=False)
class GridReference(ReferenceSolution):
    """A finite-difference grid solution used as a reference (:func:`grid_reference`).

    Eigenfunctions at arbitrary points are interpolated from the grid eigenvectors
    (:class:`scipy.interpolate.RegularGridInterpolator`: cubic in 1D, linear otherwise) on
    the grid extended by the walls, where they vanish; outside the box they are 0.
    Gradients are ``np.gradient`` of the grid values (second order, non-uniform at the
    walls) interpolated the same way.
    """

    axes: tuple[np.ndarray, ...]
    values: np.ndarray  # (n_1, ..., n_D, L) on the axes including walls
    n_points: int
    residuals: np.ndarray = field(default=None)

    @property
    def dimension(self) -> int:
        return len(self.axes)

    def _interp(self, data, x):
        from scipy.interpolate import RegularGridInterpolator

        x = self._points(x)
        method = "cubic" if self.dimension == 1 else "linear"
        f = RegularGridInterpolator(self.axes, data, method=method, bounds_error=False, fill_value=0.0)
        return f(x)

    def eigenfunctions(self, x):
        return self._interp(self.values, x)

    def gradients(self, x):
        grads = np.gradient(self.values, *self.axes, axis=tuple(range(self.dimension)), edge_order=2)
        if self.dimension == 1:
            grads = [grads]
        return np.stack([self._interp(g, x) for g in grads], axis=-1)


def _grid_key(spec: ProblemSpec, n_points: int, n_levels: int, box) -> str:
    payload = {"v": _CACHE_VERSION, "potential": spec_to_dict(spec)["potential"], "kinetic": spec.kinetic,
               "dimension": spec.dimension, "box": [list(b) for b in box], "n": n_points, "order": GRID_ORDER,
               "levels": n_levels}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def grid_reference(spec: ProblemSpec, n_points: int | None = None, *, cache: bool = True,
                   max_memory: float | None = None) -> GridReference:
    """Reference eigenpairs from the eigsh grid solver (:mod:`nsvd_cli.baselines.grid`).

    The Hamiltonian is discretised with the order-4 stencil on the problem's walls (box
    potential or box envelope) or else its evaluation box (Dirichlet walls there), with
    ``n_points`` per axis (default ``spec.reference_grid`` or :data:`DEFAULT_GRID_POINTS`;
    made even, so that no point lies on a singularity at the origin of a symmetric box).
    ``L + 1`` levels are solved to tell whether ``L`` cuts a multiplet (energies within
    :data:`GRID_RTOL` count as degenerate).  Results are cached in :func:`cache_dir` under a
    sha256 of the potential, kinetic coefficient, box, grid size and stencil
    (``python`` callables are never cached: their code may change).

    Raises
    ------
    GridError
        Too little memory, or eigsh did not converge.
    ValueError
        ``D > 3``.
    """
    from .baselines.grid import GridError, grid_for_spec, solve_grid

    D, L = spec.dimension, spec.modes
    if D > 3:
        raise ValueError(f"grid references need dimension <= 3, got {D}")
    n = int(n_points or spec.reference_grid or default_grid_points(D))
    n += n % 2
    box = walls(spec) or spec.evaluation.box
    levels = L + 1
    key = _grid_key(spec, n, levels, box)
    path = cache_dir() / f"grid-{key[:32]}.npz"
    use_cache = cache and spec.potential.kind != "python"
    E = V = res = None
    if use_cache and path.exists():
        try:
            with np.load(path) as f:
                E, V, res = f["energies"], f["eigenvectors"], f["residuals"]
        except (OSError, KeyError, ValueError):
            E = None
    if E is None:
        try:
            H, _, spacing = grid_for_spec(spec, n, order=GRID_ORDER, box=box)
            sol = solve_grid(H, levels, "eigsh", spacing=spacing, max_memory=max_memory)
        except SpecError:  # a bad spec field (e.g. a potential that cannot be imported) names itself
            raise
        except ValueError as exc:  # e.g. a non-finite potential value on the grid, too few points
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise GridError(f"grid reference (N={n}): {msg}; change reference_grid or evaluation.box, "
                            "or set reference = \"none\"") from None
        E, V, res = sol.energies, sol.eigenvectors, sol.residuals
        del H
        if use_cache:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
                np.savez(tmp, energies=E, eigenvectors=V, residuals=res)
                os.replace(tmp, path)
            except OSError:
                pass
    from .baselines.grid import grid_axes

    cell_centred = spec.potential.kind == "coulomb"
    axes, _ = grid_axes(box, n, cell_centred)
    shape = [len(a) for a in axes]
    vals = np.asarray(V[:, :L]).reshape(*shape, L)
    vals = np.pad(vals, [(1, 1)] * D + [(0, 0)])  # the walls, where psi = 0
    full_axes = tuple(np.concatenate([[lo], a, [hi]]) for a, (lo, hi) in zip(axes, box))
    all_groups = _groups(E, GRID_RTOL)
    groups = tuple(g[g < L] for g in all_groups if g[0] < L)
    complete = not any((L - 1) in g and L in g for g in all_groups)
    return GridReference(name=f"grid reference (eigsh, N={n})", energies=np.asarray(E[:L], dtype=np.float64),
                         quantum_numbers=tuple(() for _ in range(L)), quantum_labels=(), groups=groups,
                         complete_last_group=complete, kind="grid", axes=full_axes, values=vals, n_points=n,
                         residuals=np.asarray(res[:L]))


# --------------------------------------------------------------------------------------
# dispatch
# --------------------------------------------------------------------------------------

def analytic_reference(spec: ProblemSpec) -> ReferenceSolution | None:
    """The closed-form reference of a problem, or ``None`` if it has none.

    harmonic (any D) -> :func:`harmonic_reference`; unsoftened coulomb in 2D / 3D ->
    :func:`hydrogen2d_reference` / :func:`hydrogen3d_reference`; box ->
    :func:`box_reference`; morse, poschl_teller -> :func:`morse_reference`,
    :func:`poschl_teller_reference`.  A ``box`` envelope on another potential adds walls,
    which no closed form here includes (-> ``None``).
    """
    pot = spec.potential
    if pot.kind == "box":
        return box_reference(pot.box, spec.modes, spec.kinetic)
    if walls(spec) is not None:
        return None
    if pot.kind == "harmonic":
        return harmonic_reference(pot.omega, spec.modes, spec.kinetic)
    if pot.kind == "coulomb" and pot.softening == 0 and spec.dimension == 2:
        return hydrogen2d_reference(spec.modes, pot.charge, spec.kinetic)
    if pot.kind == "coulomb" and pot.softening == 0 and spec.dimension == 3:
        return hydrogen3d_reference(spec.modes, pot.charge, spec.kinetic)
    if pot.kind == "morse":
        return morse_reference(spec.modes, pot.depth, pot.a, pot.center, spec.kinetic)
    if pot.kind == "poschl_teller":
        return poschl_teller_reference(spec.modes, pot.lam, spec.kinetic)
    return None


def _has_closed_form(spec: ProblemSpec) -> bool:
    pot = spec.potential
    if pot.kind == "box":
        return True
    if walls(spec) is not None:
        return False
    if pot.kind == "coulomb":
        return pot.softening == 0 and spec.dimension in (2, 3)
    return pot.kind in ("harmonic", "morse", "poschl_teller")


def reference_kind(spec: ProblemSpec) -> str:
    """``"analytic"``, ``"grid"`` or ``"none"``: what :func:`reference_for` will return
    (computes nothing)."""
    if spec.reference == "none":
        return "none"
    if spec.reference == "grid":
        return "grid"
    if _has_closed_form(spec):
        return "analytic"
    if spec.reference == "auto" and spec.dimension <= 3 and spec.potential.kind != "coulomb":
        return "grid"
    return "none"


def reference_for(spec: ProblemSpec) -> ReferenceSolution | None:
    """The reference of a problem spec, following ``spec.reference``.

    * ``"auto"`` (default): the closed form (:func:`analytic_reference`) where one exists,
      else the eigsh grid solution (:func:`grid_reference`) for ``D <= 3``, else ``None``.
      Exception: a Coulomb potential without closed form (softened, or D not 2 or 3) gets
      no automatic grid reference — its states spread over length scales growing like
      ``n^2`` that one uniform grid on the evaluation box does not resolve; ask for one
      with ``reference = "grid"`` and a suitable ``reference_grid``;
    * ``"analytic"``: the closed form or ``None``; ``"grid"``: always the grid solution;
    * ``"none"``: ``None``.

    ``None`` means eigenvalues are Rayleigh-quotient estimates only (:data:`NO_REFERENCE`).

    Raises
    ------
    GridError
        A grid reference needs more memory than available, or did not converge.
    """
    kind = reference_kind(spec)
    if kind == "analytic":
        return analytic_reference(spec)
    if kind == "grid":
        return grid_reference(spec)
    return None
