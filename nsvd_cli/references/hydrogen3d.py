"""3D hydrogen atom: real solid harmonics times Laguerre radial functions."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import eval_genlaguerre

from ._base import ReferenceSolution, _groups

__all__ = ['Hydrogen3DReference', 'hydrogen3d_reference']


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
