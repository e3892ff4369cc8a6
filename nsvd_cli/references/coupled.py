"""Coupled harmonic oscillator ``V = x^T A x`` (A symmetric positive definite) in any dimension.

Normal modes: with ``A = Q diag(a) Q^T`` (``Q`` orthogonal, columns the normal modes) the
normal coordinates ``y = Q^T x`` turn ``H = -kappa Laplacian + x^T A x`` into a sum of
uncoupled 1D oscillators ``-kappa d^2/dy_k^2 + a_k y_k^2`` (the Laplacian is invariant under
rotations). Each is the harmonic oscillator of :mod:`nsvd_cli.references.harmonic` with
``omega_k = sqrt(a_k)``, so

    E_n = sum_k sqrt(kappa a_k) (2 n_k + 1),
    psi_n(x) = prod_k phi_{n_k}(y_k),   grad_x psi = Q grad_y psi,

with ``phi_n`` the normalised Hermite functions of ``b_k = sqrt(a_k / kappa)``.  For
``A = diag(omega^2)`` this is :func:`~nsvd_cli.references.harmonic_reference` with
``omega`` exactly (the potential ``harmonic`` has ``V = sum omega_i^2 x_i^2``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .harmonic import HarmonicReference, harmonic_reference

__all__ = ["CoupledHarmonicReference", "coupled_harmonic_reference", "normal_modes", "chain_normal_modes"]


def chain_normal_modes(dim: int, coupling: float) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form normal modes of the chain matrix ``A = I + g (S + S^T)`` (S the shift).

    ``a_k = 1 + 2 g cos(k pi / (D + 1))`` and ``Q_jk = sqrt(2 / (D + 1)) sin(j k pi / (D + 1))``
    (j, k = 1..D; the discrete sine transform diagonalises a tridiagonal Toeplitz matrix),
    returned with ``a`` ascending.

    Returns
    -------
    a : ndarray, shape (D,)
    Q : ndarray, shape (D, D)
        Orthogonal, column k the normal mode of ``a[k]``.
    """
    k = np.arange(1, dim + 1)
    a = 1.0 + 2.0 * coupling * np.cos(k * math.pi / (dim + 1))
    q = math.sqrt(2.0 / (dim + 1)) * np.sin(np.outer(k, k) * math.pi / (dim + 1))
    order = np.argsort(a, kind="stable")
    return a[order], _fix_signs(q[:, order])


def _fix_signs(q: np.ndarray) -> np.ndarray:
    """Columns with their largest-magnitude entry positive (a deterministic orientation)."""
    idx = np.argmax(np.abs(q) - 1e-12 * np.arange(len(q))[:, None], axis=0)  # ties: the first
    return q * np.where(q[idx, np.arange(q.shape[1])] < 0, -1.0, 1.0)


def normal_modes(matrix) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues ``a`` (ascending) and orthogonal eigenvectors ``Q`` of a symmetric matrix.

    Raises
    ------
    ValueError
        ``matrix`` is not square, or not positive definite.
    """
    a_mat = np.asarray(matrix, dtype=np.float64)
    if a_mat.ndim != 2 or a_mat.shape[0] != a_mat.shape[1]:
        raise ValueError(f"expected a square matrix, got shape {a_mat.shape}")
    a, q = np.linalg.eigh(0.5 * (a_mat + a_mat.T))
    if a[0] <= 0:
        raise ValueError(f"matrix must be positive definite, smallest eigenvalue {a[0]:.3g}")
    return a, _fix_signs(q)


@dataclass(frozen=True, eq=False)
class CoupledHarmonicReference(HarmonicReference):
    """``H = -kappa Laplacian + x^T A x`` (see :func:`coupled_harmonic_reference`).

    ``omega`` holds ``sqrt(a_k)`` of the normal modes and ``quantum_numbers`` the occupation
    ``n_k`` of each normal mode (columns of ``normal_modes``, ascending ``a_k``).
    """

    matrix: np.ndarray
    normal_modes: np.ndarray

    def _axis_tables(self, x):
        return super()._axis_tables(self._points(x) @ self.normal_modes)

    def gradients(self, x):
        g = super().gradients(x)  # (N, L, D) with respect to the normal coordinates y
        return g @ self.normal_modes.T


def coupled_harmonic_reference(matrix, n_modes: int, kappa: float = 1.0, *,
                               modes: tuple[np.ndarray, np.ndarray] | None = None) -> CoupledHarmonicReference:
    """Lowest eigenpairs of ``H = -kappa Laplacian + x^T A x`` from the normal modes of ``A``.

    ``E = sum_k sqrt(kappa a_k) (2 n_k + 1)``, multiplicities by counting equal sums
    (degenerate within :data:`~nsvd_cli.references.ENERGY_RTOL`); eigenfunctions are Hermite
    products in the normal coordinates ``y = Q^T x``, gradients rotated back.  Modes are
    ordered as :func:`~nsvd_cli.references.harmonic_reference` orders them for
    ``omega = sqrt(a)``.

    Parameters
    ----------
    matrix : array_like, shape (D, D)
        ``A``, symmetric positive definite.
    n_modes : int
        Number ``L`` of modes.
    kappa : float
        Kinetic coefficient.
    modes : (a, Q), optional
        The normal modes when known in closed form (:func:`chain_normal_modes`); else
        :func:`normal_modes` (``numpy.linalg.eigh``).

    Raises
    ------
    ValueError
        ``A`` not square or not positive definite; ``kappa <= 0``; ``n_modes < 1``.
    """
    a_mat = np.asarray(matrix, dtype=np.float64)
    a, q = normal_modes(a_mat) if modes is None else (np.asarray(modes[0], float), np.asarray(modes[1], float))
    base = harmonic_reference(np.sqrt(a), n_modes, kappa)
    return CoupledHarmonicReference(
        name="coupled_harmonic (analytic, normal modes)", energies=base.energies,
        quantum_numbers=base.quantum_numbers, quantum_labels=tuple(f"m_{k + 1}" for k in range(len(a))),
        groups=base.groups, complete_last_group=base.complete_last_group, omega=base.omega, kappa=base.kappa,
        matrix=a_mat, normal_modes=q)


def reference_for_spec(pot, dim: int, n_modes: int, kappa: float) -> CoupledHarmonicReference:
    """The reference of a ``coupled_harmonic`` potential spec in dimension ``dim``."""
    modes = chain_normal_modes(dim, pot.coupling) if pot.form == "chain" else None
    return coupled_harmonic_reference(pot.matrix_for(dim), n_modes, kappa, modes=modes)
