"""Morse and Pöschl–Teller wells in 1D (bound states; modes beyond the last bound state are
continuum placeholders at the threshold energy with zero eigenfunctions)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import eval_genlaguerre, eval_jacobi, roots_jacobi

from ._base import ReferenceSolution

__all__ = ['MorseReference', 'PoschlTellerReference', 'morse_reference', 'poschl_teller_reference']


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
        states = "1 bound state" if n_bound == 1 else f"{n_bound} bound states"
        extra = (f"mode {n_modes} is a continuum placeholder" if n_modes == n_bound + 1 else
                 f"modes {n_bound + 1}..{n_modes} are continuum placeholders")
        notes = (f"{what} has only {states}; {extra} (reference energy {threshold:g}, the threshold, "
                 f"quantum number -1)",)
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
