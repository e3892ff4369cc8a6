"""2D hydrogen atom ``V = -charge/|x|`` (Yang et al., Phys. Rev. A 43, 1186 (1991))."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import hyp1f1

from ._base import ReferenceSolution

__all__ = ['Hydrogen2DReference', 'hydrogen2d_reference']


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
