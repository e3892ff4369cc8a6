"""Accuracy measures of learned eigenpairs (paper App. E.1.3): arrays in, floats out.

Functions are sampled at N quadrature points with weights ``w`` (so that
``<a|b> = sum_n w_n a_n b_n``); every measure first maps the columns to Euclidean space by
the row scaling ``sqrt(w)``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "relative_errors",
    "signed_relative_errors",
    "gap_relative_errors",
    "mean_level_spacing",
    "floored_relative_errors",
    "procrustes_rotation",
    "angle_distances",
    "subspace_distance",
    "normalised_gram",
    "orthogonality",
    "max_off_diagonal",
    "degenerate_groups",
    "truncated_groups",
    "group_distances",
    "nanmean",
    "match_levels",
    "NEAR_ZERO",
]


def relative_errors(estimate, reference) -> np.ndarray:
    """Absolute relative errors ``|estimate - reference| / |reference|`` (elementwise)."""
    estimate, reference = np.asarray(estimate, float), np.asarray(reference, float)
    return np.abs(estimate - reference) / np.abs(reference)


def signed_relative_errors(estimate, reference) -> np.ndarray:
    """Signed relative errors ``(estimate - reference) / |reference|`` (elementwise)."""
    estimate, reference = np.asarray(estimate, float), np.asarray(reference, float)
    return (estimate - reference) / np.abs(reference)


#: Fraction of the mean level spacing Δ below which a reference energy (or gap) counts as near
#: zero: relative errors are then taken against ``NEAR_ZERO · Δ`` instead of itself.
NEAR_ZERO = 0.1


def gap_relative_errors(energies, reference_energies, *, signed: bool = False) -> np.ndarray:
    """Relative errors of the excitation energies ``E_l - E_0`` (gaps to mode 0).

    ``|(E_l - E_0) - (Eref_l - Eref_0)| / max(|Eref_l - Eref_0|, NEAR_ZERO · Δ)`` for ``l >= 1``
    (Δ the mean level spacing, :func:`mean_level_spacing`): a small error on a large total energy
    can hide a large error on the gaps, which are what spectroscopy measures. The floor keeps a
    tunnelling splitting far below the run's resolution from blowing the figure up (a trial's
    double well split by 1.0e-6 printed 68621 %). Mode 0 and modes degenerate with it
    (reference gap 0) get NaN.

    Parameters
    ----------
    energies, reference_energies : array_like, shape (L,)
        Energies of H, mode 0 the ground state.
    signed : bool
        Return ``(gap - gap_ref) / |gap_ref|`` instead of its absolute value.

    Returns
    -------
    ndarray, shape (L,)
    """
    e, r = np.asarray(energies, np.float64), np.asarray(reference_energies, np.float64)
    out = np.full(e.shape, np.nan)
    if e.size < 2:
        return out
    gap, ref_gap = e[1:] - e[0], r[1:] - r[0]
    ok = np.abs(ref_gap) > 1e-12 * np.maximum(np.abs(r[1:]), np.abs(r[0]))
    denom = np.maximum(np.abs(ref_gap), NEAR_ZERO * mean_level_spacing(np.sort(r)))
    out[1:][ok] = (gap[ok] - ref_gap[ok]) / denom[ok]
    return out if signed else np.abs(out)


def mean_level_spacing(reference_energies) -> float:
    """``Delta = (E_{L-1} - E_0) / (L - 1)`` of ascending reference energies, shape (L,); 0 for L < 2."""
    e = np.asarray(reference_energies, np.float64)
    return float(e[-1] - e[0]) / (len(e) - 1) if len(e) > 1 else 0.0


def floored_relative_errors(energies, reference_energies, floor: float | None = None) -> np.ndarray:
    """Energy errors ``|E - E_ref| / max(|E_ref|, Delta)`` (elementwise), as ``nsvd compare``.

    The usual relative error wherever ``|E_ref| >= Delta``; relative to the level spacing for
    levels near ``E = 0``, whose plain relative error would blow up when a constant is added
    to the potential (issue 9, item 4).

    Parameters
    ----------
    energies, reference_energies : array_like, shape (L,)
        Energies of H; the reference ascending.
    floor : float, optional
        ``Delta``; default :func:`mean_level_spacing` of ``reference_energies``.

    Returns
    -------
    ndarray, shape (L,)
    """
    e, r = np.asarray(energies, np.float64), np.asarray(reference_energies, np.float64)
    floor = mean_level_spacing(r) if floor is None else floor
    return np.abs(e - r) / np.maximum(np.abs(r), floor)


def _euclid(a, weights):
    a = np.asarray(a, dtype=np.float64)
    return a if weights is None else a * np.sqrt(np.asarray(weights, dtype=np.float64))[:, None]


def procrustes_rotation(a, b, weights=None) -> np.ndarray:
    """Orthogonal Omega (K, K) minimising ``||A Omega - B||_F`` (orthogonal Procrustes).

    With ``A^T B = U S V^T``, ``Omega = U V^T`` (App. E.1.3).

    Parameters
    ----------
    a, b : array_like, shape (N, K)
        Learned and reference functions of one degenerate subspace, sampled at N points.
    weights : array_like, shape (N,), optional
        Quadrature weights.
    """
    a, b = _euclid(a, weights), _euclid(b, weights)
    u, _, vt = np.linalg.svd(a.T @ b)
    return u @ vt


def angle_distances(learned, reference, groups, weights=None) -> np.ndarray:
    """Normalised angle distance ``(2/pi) arccos |<psi_l|psi_bar_l>|`` per mode, in [0, 1].

    Within each degenerate subspace the unit-normalised learned functions are first
    aligned to the reference ones by orthogonal Procrustes (App. E.1.3).

    Parameters
    ----------
    learned, reference : array_like, shape (N, L)
    groups : sequence of index arrays
        Degenerate subspaces (consecutive indices into 0..L-1).
    weights : array_like, shape (N,), optional

    Returns
    -------
    ndarray, shape (L,)
    """
    a, b = _euclid(learned, weights), _euclid(reference, weights)
    a = a / np.linalg.norm(a, axis=0)
    b = b / np.linalg.norm(b, axis=0)
    out = np.empty(a.shape[1])
    for g in groups:
        g = np.asarray(g)
        aligned = a[:, g] @ procrustes_rotation(a[:, g], b[:, g])
        aligned /= np.linalg.norm(aligned, axis=0)
        cos = np.abs(np.sum(aligned * b[:, g], axis=0))
        out[g] = 2 / np.pi * np.arccos(np.clip(cos, 0.0, 1.0))
    return out


def subspace_distance(learned, reference, weights=None) -> float:
    """Normalised subspace distance ``1 - tr(P Q) / K`` between column spans (App. E.1.3).

    Parameters
    ----------
    learned, reference : array_like, shape (N, K)
    weights : array_like, shape (N,), optional

    Returns
    -------
    float in [0, 1]; 0 when the spans coincide.
    """
    a, b = _euclid(learned, weights), _euclid(reference, weights)
    qa, _ = np.linalg.qr(a)
    qb, _ = np.linalg.qr(b)
    return float(1.0 - np.sum((qa.T @ qb) ** 2) / a.shape[1])


def normalised_gram(functions, weights=None) -> np.ndarray:
    """Gram matrix of the unit-normalised functions, ``C_ll' = <psi_l|psi_l'>/(|psi_l||psi_l'|)``.

    Parameters
    ----------
    functions : array_like, shape (N, L)
    weights : array_like, shape (N,), optional

    Returns
    -------
    ndarray, shape (L, L)
    """
    a = _euclid(functions, weights)
    g = a.T @ a
    d = np.sqrt(np.diag(g))
    return g / np.outer(d, d)


def orthogonality(gram) -> float:
    """``(1/L^2) sum_{l,l'} (C_ll' - delta_ll')^2`` of a normalised Gram matrix (App. E.1.3)."""
    c = np.asarray(gram, float)
    return float(np.sum((c - np.eye(c.shape[0])) ** 2) / c.shape[0] ** 2)


def max_off_diagonal(gram) -> float:
    """Largest ``|C_ll'|``, l != l', of a normalised Gram matrix (0 for orthogonal functions)."""
    c = np.abs(np.asarray(gram, float))
    if c.shape[0] < 2:
        return 0.0
    return float(np.max(c[~np.eye(c.shape[0], dtype=bool)]))


def degenerate_groups(energies, rtol: float = 1e-9, atol=0.0) -> list[np.ndarray]:
    """Degenerate subspaces of ascending energies: runs of relatively equal values.

    Two neighbours ``e_i``, ``e_{i+1}`` belong to one group when
    ``|e_{i+1} - e_i| <= max(rtol * max(|e_i|, |e_{i+1}|), atol_i)``.

    Parameters
    ----------
    energies : array_like, shape (L,)
        Ascending energies.
    rtol : float
        Relative tolerance of degeneracy.
    atol : float or array_like, shape (L − 1,)
        Absolute tolerance of each neighbouring pair (e.g. from the energies' estimated errors).

    Returns
    -------
    list of ndarray of int
        Consecutive index arrays covering ``0..L-1`` (empty list for L = 0).
    """
    e = np.asarray(energies, dtype=np.float64)
    if e.size == 0:
        return []
    tol = np.maximum(rtol * np.maximum(np.maximum(np.abs(e[1:]), np.abs(e[:-1])), 1e-300), atol)
    new = np.abs(np.diff(e)) > tol
    starts = np.concatenate([[0], np.flatnonzero(new) + 1, [len(e)]])
    return [np.arange(a, b) for a, b in zip(starts[:-1], starts[1:])]


def truncated_groups(energies, n_modes: int, rtol: float = 1e-9) -> tuple[list[np.ndarray], bool]:
    """Degenerate groups of the first ``n_modes`` of more than ``n_modes`` ascending energies.

    Returns
    -------
    groups : list of ndarray of int
        The groups restricted to indices ``< n_modes``.
    complete_last_group : bool
        False when ``n_modes`` cuts a multiplet (levels ``n_modes - 1`` and ``n_modes`` degenerate).
    """
    all_groups = degenerate_groups(energies, rtol)
    groups = [g[g < n_modes] for g in all_groups if g[0] < n_modes]
    complete = not any((n_modes - 1) in g and n_modes in g for g in all_groups)
    return groups, complete


def group_distances(learned, reference, groups, counted, complete_last_group: bool = True, weights=None):
    """Per-mode angle distances and per-group subspace distances within degenerate subspaces.

    Each group counts only when all its modes are ``counted`` and it is not a last group
    cut by ``L``; the others get NaN. Orthogonality is that of the counted modes.

    Parameters
    ----------
    learned, reference : array_like, shape (N, L)
        Learned and reference functions at N points.
    groups : sequence of index arrays
        Degenerate subspaces (consecutive indices into 0..L-1).
    counted : array_like of bool, shape (L,)
        Modes that enter the measures (e.g. positive reference eigenvalue of T).
    complete_last_group : bool
    weights : array_like, shape (N,), optional
        Quadrature weights.

    Returns
    -------
    angles : ndarray, shape (L,)
        :func:`angle_distances` after Procrustes alignment within each group.
    subspace : ndarray, shape (G,)
        :func:`subspace_distance` per group.
    orthogonality : float
        :func:`orthogonality` of the counted modes (NaN if none).
    """
    learned, reference = np.asarray(learned, np.float64), np.asarray(reference, np.float64)
    counted = np.asarray(counted, bool)
    angles = np.full(reference.shape[1], np.nan)
    subspace = np.full(len(groups), np.nan)
    for k, g in enumerate(groups):
        g = np.asarray(g)
        if not counted[g].all() or (k == len(groups) - 1 and not complete_last_group):
            continue
        angles[g] = angle_distances(learned[:, g], reference[:, g], [np.arange(len(g))], weights)
        subspace[k] = subspace_distance(learned[:, g], reference[:, g], weights)
    idx = np.flatnonzero(counted)
    orth = orthogonality(normalised_gram(learned[:, idx], weights)) if len(idx) else float("nan")
    return angles, subspace, orth


def nanmean(a) -> float:
    """Mean of the finite entries of ``a`` (NaN and inf skipped); NaN when there are none."""
    a = np.asarray(a, dtype=np.float64)
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else float("nan")


def _orthonormalise_by_group(functions: np.ndarray, groups, w: np.ndarray, rcond: float = 1e-10) -> np.ndarray:
    """Orthonormalise the columns (N, L) under ``<a|b> = sum w a b`` group by group, in the
    groups' order: each group first loses its components along the earlier groups (block
    Gram-Schmidt, twice for round-off), then is orthonormalised symmetrically (Löwdin,
    ``C (C^T W C)^{-1/2}``, the orthonormal set nearest to ``C``). The span of the first ``k``
    groups is kept for every ``k``. Directions with Gram eigenvalue below ``rcond`` times the
    largest (a level the points cannot represent) are dropped: those columns get less than
    unit norm, never more. ``w`` has shape (N, 1)."""
    Q = np.zeros_like(functions)
    done = np.zeros(functions.shape[1], dtype=bool)
    for g in sorted((np.asarray(g, dtype=int) for g in groups), key=lambda g: g.min()):
        C = functions[:, g].copy()
        for _ in range(2):
            P = Q[:, done]
            C -= P @ ((P * w).T @ C)
        lam, U = np.linalg.eigh((C * w).T @ C)
        keep = lam > rcond * max(float(lam.max()), 1e-300)
        inv_sqrt = np.where(keep, 1.0 / np.sqrt(np.where(keep, lam, 1.0)), 0.0)
        Q[:, g] = C @ ((U * inv_sqrt) @ U.T)
        done[g] = True
    return Q


def match_levels(reference_vectors: np.ndarray, vectors: np.ndarray, groups, weights) -> tuple[np.ndarray, np.ndarray]:
    """Match computed eigenvectors to reference modes by overlap within degenerate subspaces.

    The reference eigenfunctions, orthonormal on all space, need not be orthonormal on the
    grid's points: a box that cuts them (``--box 1`` for ``x² + y²``) leaves e.g. the
    ``n = 2`` Hermite functions with a large component along the ground state. They are
    therefore first orthonormalised on the grid, in ascending energy: each degenerate group
    loses its components along the lower groups, then is orthonormalised within itself
    (Löwdin). The weights below are then true subspace weights: each in [0, 1], and for every
    computed level their sum over the groups is at most 1 (Bessel's inequality).

    Parameters
    ----------
    reference_vectors : ndarray, shape (N, L)
        Reference eigenfunctions at the grid points, columns in ascending energy.
    vectors : ndarray, shape (N, L)
        Computed eigenvectors (ascending energies), same points.
    groups : sequence of index arrays
        Degenerate groups of the reference (covering ``0..L-1``).
    weights : ndarray, shape (N,)
        Quadrature weights (cell volume).

    Returns
    -------
    assignment : ndarray of int, shape (L,)
        ``assignment[j]``: the computed level shown in reference row ``j`` (a permutation
        maximising the summed weight in the rows' subspaces, then the overlap with the
        rows' own modes, e.g. ``l = 0`` against ``l = +-1`` within one shell).
    overlaps : ndarray, shape (L,)
        ``sum_{k in group(j)} <q_k, v_{assignment[j]}>^2 / ||v||^2`` in [0, 1], ``q_k`` the
        orthonormalised reference modes of row ``j``'s group: the weight of the level in
        that subspace (below 0.5 the row is shown with ``?`` by ``nsvd compare``).
    """
    from scipy.optimize import linear_sum_assignment

    w = np.asarray(weights, dtype=np.float64)[:, None]
    R = np.asarray(reference_vectors, dtype=np.float64)
    R = _orthonormalise_by_group(R / np.sqrt((R**2 * w).sum(0)), groups, w)
    V = vectors / np.sqrt((vectors**2 * w).sum(0))
    O2 = ((R * w).T @ V) ** 2  # (L_ref, L)
    group_of = np.empty(R.shape[1], dtype=int)
    for k, g in enumerate(groups):
        group_of[np.asarray(g)] = k
    in_group = np.stack([O2[np.asarray(g)].sum(0) for g in groups])  # (G, L)
    weight = np.clip(in_group[group_of], 0.0, 1.0)  # (L_ref, L): weight of level i in row j's subspace
    # first the subspace, then within it the mode (e.g. l = 0 against l = +-1 of one shell)
    rows, cols = linear_sum_assignment(-(2.0 * weight + O2))
    assignment = cols[np.argsort(rows)]
    return assignment, weight[np.arange(len(assignment)), assignment]
