"""Rayleigh–Ritz refinement on the span of the learned functions (numpy/SciPy only).

Given L learned functions ``ψ_i`` sampled on an evaluation rule ``Σ_n w_n f(x_n)``, the
Ritz pairs are the stationary points of the Rayleigh quotient on ``span{ψ_i}``: with

* ``H_ij = κ Σ_n w_n ∇ψ_i(x_n)·∇ψ_j(x_n) + Σ_n w_n V(x_n) ψ_i(x_n) ψ_j(x_n)`` (the quadratic
  form of ``H = −κ∇² + V``: no Laplacian, sound at a Coulomb cusp),
* ``S_ij = Σ_n w_n ψ_i(x_n) ψ_j(x_n)`` (the Gram matrix),

solve ``H c = ρ S c``. By the Courant–Fischer min–max principle the k-th Ritz value is an
upper bound of the k-th eigenvalue of H when the integrals are exact (a deterministic rule
whose error is negligible); the lowest Ritz value is at most the lowest Rayleigh quotient,
and for orthonormal learned functions the sum of the k lowest Ritz values is at most the sum of
the k lowest Rayleigh quotients (Ky Fan) — a single Ritz value can exceed its sorted Rayleigh
quotient (``[[1, b], [b, 1]]``: quotients 1, 1; Ritz values 1 ± b) — and it rotates
optimally inside near-degenerate groups. :func:`ritz_on_polynomial_basis` extends the basis
by the learned functions times monomials of the coordinates (``evaluation.ritz_degree``).

A near-singular ``S`` (two learned functions almost equal, or a mode of norm ~0) is
handled by dropping the directions of the diagonally normalised Gram matrix whose
eigenvalue is below ``rcond`` times the largest; their Ritz values are NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

__all__ = ["RitzResult", "ritz_matrices", "rayleigh_ritz", "ritz_from_samples", "residual_gram",
           "polynomial_basis", "extended_rayleigh_ritz", "monomial_frame", "monomial_values", "monomial_count",
           "polynomial_values", "ritz_on_polynomial_basis", "MAX_DEGREE"]

#: Default relative threshold on the eigenvalues of the normalised Gram matrix.
RCOND = 1e-10
#: Default relative threshold for the directions a polynomial extension adds (see
#: :func:`extended_rayleigh_ritz`): below it, an added direction is mostly integration error.
EXTENSION_RCOND = 1e-3
#: Highest monomial degree of the extended Ritz basis (``evaluation.ritz_degree``).
MAX_DEGREE = 3


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
    degree : int
        0: the basis is the L learned functions. > 0 (:func:`ritz_on_polynomial_basis`): the
        basis is the learned functions times the P monomials of degree <= ``degree`` in
        ``y = (x − centre)/scale`` (:func:`polynomial_values`), ``vectors`` is (L·P, L).
    centre, scale : ndarray, shape (D,), or None
        The monomial frame (``degree > 0`` only).
    """

    energies: np.ndarray
    vectors: np.ndarray
    dropped: int
    degree: int = 0
    centre: np.ndarray | None = None
    scale: np.ndarray | None = None

    def rotate(self, values: np.ndarray) -> np.ndarray:
        """The Ritz functions ``φ = ψ C`` from basis values ``ψ`` of shape (N, M) -> (N, L)
        (M = L, or L·P for an extended basis: :func:`polynomial_values`)."""
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
    values = np.asarray(values, np.float64)
    wv = w[:, None] * values
    s = wv.T @ values
    if laplacians is None:
        g = np.asarray(gradients, np.float64)
        kin = np.tensordot(w[:, None, None] * g, g, axes=([0, 2], [0, 2]))
    else:
        kin = -wv.T @ np.asarray(laplacians, np.float64)
    h = kinetic * kin + (wv * np.asarray(potential_values, np.float64)[:, None]).T @ values
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


def _monomials(dimension: int, degree: int) -> list[tuple[int, ...]]:
    """Index tuples of the monomials of degree 1..degree, graded then lexicographic
    (``y_0, y_1, y_0², y_0 y_1, y_1²`` for D = 2, degree 2): the product of ``y_i`` over the tuple."""
    out, last = [], [()]
    for _ in range(degree):
        last = [t + (i,) for t in last for i in range(t[-1] if t else 0, dimension)]
        out += last
    return out


def monomial_count(dimension: int, degree: int) -> int:
    """``P = C(D + degree, degree)``: the monomials of total degree <= ``degree`` in D variables (with 1)."""
    return 1 + len(_monomials(dimension, degree))


def monomial_frame(points, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """Centre ``c`` and scale ``s`` (both (D,)) of the monomials: the weighted mean and spread of
    the rule's points (uniform weights by default); ``s`` is floored at the smallest normal float."""
    x = np.asarray(points, np.float64)
    n = len(x)
    w = np.full(n, 1.0 / n) if weights is None else np.asarray(weights, np.float64) / np.sum(weights)
    c = w @ x
    return c, np.sqrt(np.maximum(w @ (x - c) ** 2, np.finfo(float).tiny))


def monomial_values(points, degree: int, centre, scale) -> np.ndarray:
    """Values (N, P) of the monomials of ``y = (x − centre)/scale``, column 0 = 1, then the
    order of :func:`polynomial_basis`'s blocks. ``points`` (N, D); ``centre``, ``scale`` (D,)."""
    y = (np.asarray(points, np.float64) - np.asarray(centre, np.float64)) / np.asarray(scale, np.float64)
    cols = [np.ones(len(y))] + [np.prod(y[:, list(m)], axis=1) for m in _monomials(y.shape[1], degree)]
    return np.stack(cols, 1)


def polynomial_values(points, values, degree: int, centre, scale) -> np.ndarray:
    """The extended basis ``{f_p ψ_l}`` (N, L·P) from the learned values (N, L): block p (columns
    ``p·L … p·L + L − 1``) is monomial p (:func:`monomial_values`) times all L functions."""
    v = np.asarray(values, np.float64)
    f = monomial_values(points, degree, centre, scale)
    return (f[:, :, None] * v[:, None, :]).reshape(len(v), -1)


def polynomial_basis(points, values, gradients, h_values=None, *, degree: int = 1, kinetic: float = 1.0,
                     weights=None, centre=None, scale=None):
    """The learned functions times monomials of the coordinates: ``{ψ_l} ∪ {y_i ψ_l} ∪ {y_i y_j ψ_l} …``.

    ``y = (x − c)/s`` with ``c`` and ``s`` the weighted mean and spread of the rule's points
    (:func:`monomial_frame`; the span does not depend on them, they only keep the Gram matrix
    well scaled). Derivatives come by the product rule from ``ψ`` and ``∇ψ`` (no further
    network passes): ``∇(fψ) = ψ∇f + f∇ψ`` and ``H(fψ) = f Hψ − 2κ ∇f·∇ψ − κ ψ ∇²f``.

    Parameters
    ----------
    points : ndarray, shape (N, D)
    values : ndarray, shape (N, L)
    gradients : ndarray, shape (N, L, D)
    h_values : ndarray, shape (N, L), optional
        ``Hψ`` at the points; the extended ``H(fψ)`` is returned only with it.
    degree : int
        Highest total degree of the monomials (0: the learned functions alone).
    kinetic : float
        ``κ`` of ``H = −κ∇² + V``.
    weights : ndarray, shape (N,), optional
        The rule's weights (for ``c`` and ``s``; default uniform).
    centre, scale : ndarray, shape (D,), optional
        A given frame instead (e.g. the one stored in a results file).

    Returns
    -------
    values (N, L·P), gradients (N, L·P, D), h_values (N, L·P) or None
        Block p (columns ``p·L … p·L + L − 1``) is monomial p times all L functions; block 0 is
        the learned functions, in order. ``P = C(D + degree, degree)`` (:func:`monomial_count`).
    """
    x = np.asarray(points, np.float64)
    v, g = np.asarray(values, np.float64), np.asarray(gradients, np.float64)
    n, dim = x.shape
    if centre is None or scale is None:
        centre, scale = monomial_frame(x, weights)
    c, s = np.asarray(centre, np.float64), np.asarray(scale, np.float64)
    y = (x - c) / s
    vals, grads, hs = [v], [g], None if h_values is None else [np.asarray(h_values, np.float64)]
    for mono in _monomials(dim, degree):
        f = np.prod(y[:, list(mono)], axis=1)
        df = np.zeros((n, dim))  # ∇f
        lap_f = 0.0
        for a, i in enumerate(mono):
            rest = mono[:a] + mono[a + 1:]
            df[:, i] += np.prod(y[:, list(rest)], axis=1) / s[i]
            for b, j in enumerate(rest):  # ∂_j ∂_i f, summed over i = j gives ∇²f
                if j == i:
                    others = rest[:b] + rest[b + 1:]
                    lap_f = lap_f + np.prod(y[:, list(others)], axis=1) / s[i] ** 2
        vals.append(f[:, None] * v)
        grads.append(f[:, None, None] * g + v[:, :, None] * df[:, None, :])
        if hs is not None:
            hs.append(f[:, None] * hs[0] - 2.0 * kinetic * np.einsum("nd,nld->nl", df, g)
                      - kinetic * np.asarray(lap_f)[..., None] * v)
    out_h = None if hs is None else np.concatenate(hs, 1)
    return np.concatenate(vals, 1), np.concatenate(grads, 1), out_h


def _s_orthonormal(s: np.ndarray, columns: np.ndarray, rcond: float, relative_to_max: bool) -> np.ndarray:
    """Coefficients Q (M, k), ``Qᵀ S Q = I``, spanning the kept part of the given columns.

    ``columns`` (M, c) are coefficient vectors; their Gram matrix is scaled to unit diagonal by
    ``d`` (the norms of the columns themselves when ``relative_to_max``, else the caller has
    already scaled) and directions with eigenvalue below ``rcond`` (times the largest when
    ``relative_to_max``) are dropped.
    """
    g = columns.T @ s @ columns
    g = 0.5 * (g + g.T)
    if relative_to_max:
        d = np.sqrt(np.maximum(np.diag(g), np.finfo(float).tiny))
        columns, g = columns / d, g / np.outer(d, d)
    if len(g) == 0:
        return np.zeros((len(s), 0))
    mu, u = scipy.linalg.eigh(g)
    keep = mu > rcond * (max(float(mu.max()), np.finfo(float).tiny) if relative_to_max else 1.0)
    return columns @ (u[:, keep] / np.sqrt(mu[keep]))


def extended_rayleigh_ritz(h: np.ndarray, s: np.ndarray, learned: int, *, rcond: float = RCOND,
                           extension_rcond: float = EXTENSION_RCOND, include=None) -> RitzResult:
    """Rayleigh–Ritz on the learned functions plus extra functions (e.g. :func:`polynomial_basis`).

    The first ``learned`` columns span the learned space (kept as in :func:`rayleigh_ritz`); each
    extra function is S-orthogonalised against that span, and only directions whose remaining
    norm is at least ``extension_rcond`` of the extra functions' own (unit-scaled) norm are added.
    The Ritz space therefore always contains the learned span, so every Ritz value is at most the
    one of :func:`rayleigh_ritz` (min–max), and a near-dependent extra direction — in which the
    rule's integration error is amplified by ~1/``extension_rcond`` — is never used.

    Parameters
    ----------
    h, s : ndarray, shape (M, M)
        Matrices of the M functions (:func:`ritz_matrices`), learned ones first.
    learned : int
        Number L of learned functions (the first columns).
    rcond, extension_rcond : float
        Thresholds for the learned span (relative to its largest eigenvalue) and for the added
        directions (relative to their unit norm before orthogonalisation).
    include : ndarray of bool, shape (M,), optional
        Functions to use (default all).

    Returns
    -------
    RitzResult
        ``energies`` (M,) ascending with NaN for the ``dropped`` directions; ``vectors`` (M, M)
        (column k: the coefficients of Ritz function k over the M functions).

    Raises
    ------
    ValueError
        Mismatched shapes, ``learned`` out of range, or non-finite entries.
    """
    h, s = np.asarray(h, np.float64), np.asarray(s, np.float64)
    m = len(s)
    if h.shape != (m, m) or s.shape != (m, m) or not 0 < learned <= m:
        raise ValueError(f"H and S must be square and of one shape with 0 < learned <= M, got {h.shape}, "
                         f"{s.shape}, learned={learned}")
    if not (np.all(np.isfinite(h)) and np.all(np.isfinite(s))):
        raise ValueError("H and S must be finite")
    alive = np.sqrt(np.maximum(np.diag(s), 0.0)) > np.finfo(float).tiny * 1e10
    if include is not None:
        alive &= np.asarray(include, bool)
    eye = np.eye(m)
    q1 = _s_orthonormal(s, eye[:, np.flatnonzero(alive[:learned])], rcond, True)
    extra = eye[:, learned + np.flatnonzero(alive[learned:])]
    extra = extra / np.sqrt(np.diag(s)[learned + np.flatnonzero(alive[learned:])])  # unit norm
    extra = extra - q1 @ (q1.T @ s @ extra)  # S-orthogonal to the learned span
    extra = extra - q1 @ (q1.T @ s @ extra)  # (twice is enough: Kahan–Parlett)
    q = np.concatenate([q1, _s_orthonormal(s, extra, extension_rcond, False)], 1)
    energies, vectors = np.full(m, np.nan), np.zeros((m, m))
    if q.shape[1]:
        rho, y = scipy.linalg.eigh(0.5 * (q.T @ h @ q + (q.T @ h @ q).T))
        energies[:len(rho)], vectors[:, :len(rho)] = rho, q @ y
    return RitzResult(energies=energies, vectors=vectors, dropped=m - q.shape[1])


def ritz_on_polynomial_basis(points, values, gradients, potential_values, weights, kinetic: float, *,
                             degree: int, include=None, laplacians=None, rcond: float = RCOND,
                             extension_rcond: float = EXTENSION_RCOND) -> RitzResult:
    """Rayleigh–Ritz on the learned functions times monomials of degree <= ``degree``; the lowest pairs.

    ``degree = 0`` is :func:`ritz_from_samples` (the learned span). Otherwise the basis is
    :func:`polynomial_basis` in the frame :func:`monomial_frame` of the rule, solved by
    :func:`extended_rayleigh_ritz` (the learned span is kept; added directions above
    ``extension_rcond``), and as many of the lowest Ritz pairs are returned as the learned span
    has directions (``m = L − dropped`` of the learned span alone): by min–max each is at most
    the corresponding learned-span Ritz value, and still an upper bound of its level when the
    integrals are exact.

    Parameters
    ----------
    points : ndarray, shape (N, D)
    values, gradients, potential_values, weights, kinetic, laplacians
        As :func:`ritz_matrices` (``laplacians``: the local-energy form; ``∇²(fψ)`` then comes by the
        product rule).
    degree : int
        0 … :data:`MAX_DEGREE`.
    include : ndarray of bool, shape (L,), optional
        Learned functions to use; a left-out one takes its monomial multiples with it.

    Returns
    -------
    RitzResult
        ``energies`` (L,) ascending (NaN: the ``dropped`` last ones), ``vectors`` (L·P, L) over the
        columns of :func:`polynomial_values`, ``degree``, ``centre``, ``scale``.

    Raises
    ------
    ValueError
        ``degree`` outside 0 … :data:`MAX_DEGREE`, or non-finite matrices.
    """
    if not 0 <= int(degree) <= MAX_DEGREE:
        raise ValueError(f"degree must be in 0..{MAX_DEGREE}, got {degree}")
    if degree == 0:
        return ritz_from_samples(values, gradients, potential_values, weights, kinetic, rcond, include, laplacians)
    values, potential_values = np.asarray(values, np.float64), np.asarray(potential_values, np.float64)
    L = values.shape[1]
    c, s = monomial_frame(points, weights)
    h_values = None if laplacians is None else -kinetic * np.asarray(laplacians) + potential_values[:, None] * values
    vv, gg, hh = polynomial_basis(points, values, gradients, h_values, degree=degree, kinetic=kinetic,
                                  centre=c, scale=s)
    lap = None if hh is None else (potential_values[:, None] * vv - hh) / kinetic
    h, sm = ritz_matrices(vv, gg, potential_values, weights, kinetic, lap)
    kept = L - rayleigh_ritz(h[:L, :L], sm[:L, :L], rcond, include).dropped
    p = len(sm) // L
    ext = extended_rayleigh_ritz(h, sm, L, rcond=rcond, extension_rcond=extension_rcond,
                                 include=None if include is None else np.tile(np.asarray(include, bool), p))
    kept = min(kept, int(np.isfinite(ext.energies).sum()))
    energies, vectors = np.full(L, np.nan), np.zeros((L * p, L))
    energies[:kept], vectors[:, :kept] = ext.energies[:kept], ext.vectors[:, :kept]
    return RitzResult(energies, vectors, L - kept, int(degree), c, s)
