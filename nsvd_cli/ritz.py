"""Rayleigh–Ritz refinement on the span of the learned functions (numpy/SciPy only).

Given L learned functions ``ψ_i`` sampled on an evaluation rule ``Σ_n w_n f(x_n)``, the
Ritz pairs are the stationary points of the Rayleigh quotient on ``span{ψ_i}``: with

* ``H_ij = κ Σ_n w_n ∇ψ_i(x_n)·∇ψ_j(x_n) + Σ_n w_n V(x_n) ψ_i(x_n) ψ_j(x_n)`` (the quadratic
  form of ``H = −κ∇² + V``: no Laplacian, sound at a Coulomb cusp),
* ``S_ij = Σ_n w_n ψ_i(x_n) ψ_j(x_n)`` (the Gram matrix),

solve ``H c = ρ S c``. By the Courant–Fischer min–max principle the k-th Ritz value is an
upper bound of the k-th eigenvalue of H when the integrals are exact (a deterministic rule
whose error is negligible); it is never above the k-th sorted Rayleigh quotient of the
learned functions themselves, and it rotates optimally inside near-degenerate groups.

A near-singular ``S`` (two learned functions almost equal, or a mode of norm ~0) is
handled by dropping the directions of the diagonally normalised Gram matrix whose
eigenvalue is below ``rcond`` times the largest; their Ritz values are NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

__all__ = ["RitzResult", "ritz_matrices", "rayleigh_ritz", "ritz_from_samples", "residual_gram"]

#: Default relative threshold on the eigenvalues of the normalised Gram matrix.
RCOND = 1e-10


@dataclass
class RitzResult:
    """Ritz pairs of L functions.

    Attributes
    ----------
    energies : ndarray, shape (L,)
        Ritz values ``ρ_k`` of H, ascending; the last ``dropped`` entries are NaN.
    vectors : ndarray, shape (L, L)
        Coefficients ``C``: the k-th Ritz function is ``φ_k = Σ_i ψ_i C_ik``, unit-normalised on
        the rule (``Cᵀ S C = I`` on the kept columns); dropped columns are 0.
    dropped : int
        Number of near-null directions of the Gram matrix that were dropped.
    """

    energies: np.ndarray
    vectors: np.ndarray
    dropped: int

    def rotate(self, values: np.ndarray) -> np.ndarray:
        """The Ritz functions ``φ = ψ C`` from values ``ψ`` of shape (N, L) -> (N, L)."""
        return np.asarray(values) @ self.vectors


def ritz_matrices(values, gradients, potential_values, weights, kinetic: float, laplacians=None):
    """``H`` and ``S`` (both (L, L), symmetric) of sampled functions on a rule.

    Parameters
    ----------
    values : ndarray, shape (N, L)
    gradients : ndarray, shape (N, L, D)
    potential_values : ndarray, shape (N,)
    weights : ndarray, shape (N,)
    kinetic : float
        ``κ`` of ``H = −κ∇² + V``.
    laplacians : ndarray, shape (N, L), optional
        ``∇²ψ_j``: the kinetic part is then ``−κ<ψ_i|∇²ψ_j>`` (symmetrised), the local-energy
        form whose Monte Carlo variance vanishes at eigenfunctions (see
        :func:`nsvd_cli.evaluate.evaluate_functions`), instead of ``κ<∇ψ_i|∇ψ_j>``.
    """
    w = np.asarray(weights, np.float64)
    s = np.einsum("n,ni,nj->ij", w, values, values)
    if laplacians is None:
        kin = np.einsum("n,nid,njd->ij", w, gradients, gradients)
    else:
        kin = -np.einsum("n,ni,nj->ij", w, values, laplacians)
    h = kinetic * kin + np.einsum("n,n,ni,nj->ij", w, potential_values, values, values)
    return 0.5 * (h + h.T), 0.5 * (s + s.T)


def rayleigh_ritz(h: np.ndarray, s: np.ndarray, rcond: float = RCOND, include=None) -> RitzResult:
    """Solve the generalised symmetric eigenproblem ``H c = ρ S c``, dropping near-null ``S``.

    ``S`` is first scaled to unit diagonal (``S̃ = D^{-1/2} S D^{-1/2}``); eigenvectors of ``S̃``
    with eigenvalue ``< rcond · max`` are dropped, and ``H`` is projected on the rest
    (orthonormalised), where ``scipy.linalg.eigh`` gives the Ritz pairs.

    Parameters
    ----------
    h, s : ndarray, shape (L, L)
        Symmetric; ``s`` positive semi-definite.
    rcond : float
        Relative threshold on the eigenvalues of the normalised Gram matrix.
    include : ndarray of bool, shape (L,), optional
        Functions to use (default all); the others are left out of the span (e.g. modes whose
        eigenvalue of T is <= 0, which NestedLoRA drives to zero norm) and count as dropped.

    Returns
    -------
    RitzResult

    Raises
    ------
    ValueError
        Non-square or mismatched matrices, or non-finite entries.
    """
    h, s = np.asarray(h, np.float64), np.asarray(s, np.float64)
    L = len(s)
    if h.shape != (L, L) or s.shape != (L, L):
        raise ValueError(f"H and S must be square and of one shape, got {h.shape} and {s.shape}")
    if not (np.all(np.isfinite(h)) and np.all(np.isfinite(s))):
        raise ValueError("H and S must be finite")
    d = np.sqrt(np.maximum(np.diag(s), 0.0))
    alive = d > np.finfo(float).tiny * 1e10
    if include is not None:
        alive &= np.asarray(include, bool)
    inv_d = np.where(alive, 1.0 / np.where(alive, d, 1.0), 0.0)
    s_n = s * inv_d[:, None] * inv_d[None, :]
    h_n = h * inv_d[:, None] * inv_d[None, :]
    mu, u = scipy.linalg.eigh(s_n)
    keep = mu > rcond * max(float(mu.max()), np.finfo(float).tiny)
    if not keep.any():
        return RitzResult(energies=np.full(L, np.nan), vectors=np.zeros((L, L)), dropped=L)
    basis = u[:, keep] / np.sqrt(mu[keep])  # orthonormal in S̃
    rho, y = scipy.linalg.eigh(basis.T @ h_n @ basis)
    m = int(keep.sum())
    energies = np.full(L, np.nan)
    energies[:m] = rho
    vectors = np.zeros((L, L))
    vectors[:, :m] = inv_d[:, None] * (basis @ y)
    return RitzResult(energies=energies, vectors=vectors, dropped=L - m)


def ritz_from_samples(values, gradients, potential_values, weights, kinetic: float,
                      rcond: float = RCOND, include=None, laplacians=None) -> RitzResult:
    """Rayleigh–Ritz on sampled functions: :func:`ritz_matrices` then :func:`rayleigh_ritz`."""
    h, s = ritz_matrices(values, gradients, potential_values, weights, kinetic, laplacians)
    return rayleigh_ritz(h, s, rcond, include)


def residual_gram(values, h_values, weights, ritz: RitzResult) -> np.ndarray:
    """Gram matrix ``G = Rᵀ W R`` (L, L) of the Ritz residuals ``r_k = Hφ_k − ρ_k φ_k``.

    ``Hφ_k = Σ_i (Hψ_i) C_ik`` (H is linear), so only ``Hψ`` at the nodes is needed.
    ``sqrt(G_kk)`` is the residual norm ``σ_k`` of the k-th (unit) Ritz function; the largest
    eigenvalue of a diagonal block gives the 2-norm of a cluster's residual (cluster bounds).
    Rows/columns of dropped directions are NaN.

    Parameters
    ----------
    values, h_values : ndarray, shape (N, L)
        ``ψ_i`` and ``Hψ_i`` at the nodes.
    weights : ndarray, shape (N,)
    ritz : RitzResult
    """
    phi = ritz.rotate(values)
    rho = np.nan_to_num(ritz.energies)
    r = ritz.rotate(h_values) - phi * rho[None, :]
    g = np.einsum("n,nk,nj->kj", np.asarray(weights, np.float64), r, r)
    bad = ~np.isfinite(ritz.energies)
    g[bad, :] = np.nan
    g[:, bad] = np.nan
    return g
