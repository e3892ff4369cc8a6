"""A-posteriori intervals for the levels of H from Ritz pairs and their residuals (numpy only).

For a unit function φ with Rayleigh quotient ``E = <φ|Hφ>`` and residual
``σ = ||(H − E)φ||`` (see docs/bounds.md for sources and assumptions):

* **Weinstein** (1934): ``[E − σ, E + σ]`` contains an eigenvalue of H. For a cluster of m
  Ritz pairs ``(θ_j, φ_j)`` with residual matrix R, the cluster version (Kahan 1967) puts m
  eigenvalues within ``||R||₂`` of the θ_j.
* **Kato–Temple** (Temple 1928, Kato 1949): if ``(α, β) ∋ E`` holds exactly one eigenvalue λ,
  ``E − σ²/(β − E) ≤ λ ≤ E + σ²/(E − α)``. For a cluster separated by δ from every other
  eigenvalue, ``|λ_j − θ_j| ≤ ||R||₂²/δ``.
* **Lehmann** (Lehmann 1949/50, Maehly 1952; Goerisch's formulation): given ``ρ ≤ λ_{n+1}``,
  the negative eigenvalues ``μ_1 ≤ μ_2 ≤ …`` of ``A x = μ B x`` with ``A = <v|(H − ρ)v>`` and
  ``B = <(H − ρ)v|(H − ρ)v>`` over trial functions ``v`` give ``λ_{n+1−k} ≥ ρ + 1/μ_k``
  (:func:`lehmann_lower_bounds`). With ρ the lower bound of the highest cluster, every lower
  level gets a bound whose gap is ``ρ − λ`` instead of the distance to the next level.

Here ``(α, β)`` come from the neighbouring Ritz values' Weinstein intervals. That is
rigorous only under the **assumption** that the learned span found every level up to the
highest one (no level was missed between or below them): the lowest cluster then has no
eigenvalue below it (``α = −∞``, its upper bound is the Ritz value itself, min–max), and the
highest cluster has no known β (its lower side stays Weinstein unless the caller gives a
lower bound of the next level). Intervals are computed only on a deterministic rule and
where ``Hψ`` was computed (not for a Coulomb cusp, not for D ≥ 4): elsewhere the level gets
"no bound" and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["LevelBounds", "level_bounds", "no_bounds", "withdraw", "clusters", "lehmann_lower_bounds"]

#: Relative outward widening of every reported interval (floating-point rounding).
ROUNDING = 1e-12


@dataclass
class LevelBounds:
    """Intervals for L levels (arrays of shape (L,), energies of H; NaN where no bound).

    Attributes
    ----------
    lower, upper : ndarray
        The reported interval: the tighter of Weinstein and Kato–Temple on each side.
    weinstein_lower, weinstein_upper : ndarray
        ``θ ∓ r`` (r = σ, or the cluster's ``||R||₂``).
    kato_temple_lower, kato_temple_upper : ndarray
        The quadratic bounds (NaN on a side with no separating neighbour).
    cluster : ndarray of int
        Cluster index of each level (−1: no bound).
    kinds : list of str
        Per level, which bound gives the interval, or ``"no bound: <reason>"``.
    deterministic : bool
        Whether the integrals came from a deterministic rule.
    lehmann_lower : ndarray or None
        Lehmann lower bounds (NaN where none), when trial functions were given.
    lehmann_shift : float
        The ρ they used (NaN: none; the Lehmann–Goerisch bounds use the same ρ).
    rule_error : ndarray or None
        With trial functions: the estimated integration error of each Ritz value,
        ``|<φ|Hφ>/<φ|φ> − θ|`` (the Laplacian form against the quadratic form, equal for exact
        integrals); the residual-based sides are widened by it.
    goerisch_lower : ndarray or None
        Lehmann–Goerisch lower bounds (:mod:`nsvd_cli.goerisch`; NaN where none), when computed.
    notes : list of str
        What the table should say about the bounds as a whole (a ``next_level_lower`` used
        as an assumption, or ignored and why).
    ritz_rule_error : ndarray or None
        With a refined rule: ``|R_k − θ_k|``, the Rayleigh quotient of each Ritz function there
        against its Ritz value; it widens the min–max and Lehmann–Goerisch sides (``rule_error``
        the residual-based ones).
    """

    lower: np.ndarray
    upper: np.ndarray
    weinstein_lower: np.ndarray
    weinstein_upper: np.ndarray
    kato_temple_lower: np.ndarray
    kato_temple_upper: np.ndarray
    cluster: np.ndarray
    kinds: list = field(default_factory=list)
    deterministic: bool = True
    theta: np.ndarray | None = field(default=None, repr=False)
    lehmann_lower: np.ndarray | None = None
    lehmann_shift: float = float("nan")
    rule_error: np.ndarray | None = None
    goerisch_lower: np.ndarray | None = None
    ritz_rule_error: np.ndarray | None = None
    notes: list = field(default_factory=list)

    @property
    def bounded(self) -> np.ndarray:
        """(L,) bool: the level has an interval."""
        return np.isfinite(self.lower) & np.isfinite(self.upper)

    def contains(self, levels) -> np.ndarray:
        """(L,) float: 1.0 where ``levels[k]`` lies in interval k, 0.0 where not, NaN where no bound."""
        lv = np.asarray(levels, np.float64)
        with np.errstate(invalid="ignore"):
            inside = ((self.lower <= lv) & (lv <= self.upper)).astype(float)
        return np.where(self.bounded & np.isfinite(lv), inside, np.nan)

    def arrays(self) -> dict[str, np.ndarray]:
        """The per-level datasets of a results file (name -> (L,) array)."""
        return {"lower": self.lower, "upper": self.upper, "weinstein_lower": self.weinstein_lower,
                "weinstein_upper": self.weinstein_upper, "kato_temple_lower": self.kato_temple_lower,
                "kato_temple_upper": self.kato_temple_upper, "cluster": self.cluster,
                **({} if self.lehmann_lower is None else {"lehmann_lower": self.lehmann_lower}),
                **({} if self.goerisch_lower is None else {"goerisch_lower": self.goerisch_lower}),
                **({} if self.ritz_rule_error is None else {"ritz_rule_error": self.ritz_rule_error}),
                **({} if self.rule_error is None else {"rule_error": self.rule_error})}


def no_bounds(L: int, reason: str, deterministic: bool = True) -> LevelBounds:
    """L levels without a bound, each with ``"no bound: <reason>"``."""
    nan = np.full(L, np.nan)
    return LevelBounds(nan, nan.copy(), nan.copy(), nan.copy(), nan.copy(), nan.copy(), np.full(L, -1),
                       [f"no bound: {reason}"] * L, deterministic)


def withdraw(bounds: LevelBounds, levels, reason: str) -> LevelBounds:
    """Take back the intervals of ``levels`` (indices) and of the other members of their
    clusters (a cluster's bounds are joint), in place: NaN bounds, cluster −1, kind
    ``"no bound: <reason>"``. Returns ``bounds``.

    Used for levels whose Ritz function the evaluation rule's domain cuts off
    (:func:`nsvd_cli.quadrature.edge_mass`): their integrals miss the tail, so their Ritz
    value need not be an upper bound nor their residual that of H on R^D. The neighbours keep
    theirs: a cut-off tail lowers a Ritz value (the missing tail carries energy above it), which
    only narrows the separating intervals ``(α, β)`` of the other levels."""
    levels = {int(k) for k in levels}
    hit = {int(c) for c in bounds.cluster[list(levels)] if c >= 0} if levels else set()
    levels |= {int(k) for k in np.flatnonzero(np.isin(bounds.cluster, list(hit)))}
    for k in sorted(levels):
        for arr in (bounds.lower, bounds.upper, bounds.weinstein_lower, bounds.weinstein_upper,
                    bounds.kato_temple_lower, bounds.kato_temple_upper, bounds.lehmann_lower, bounds.rule_error,
                    bounds.goerisch_lower, bounds.ritz_rule_error):
            if arr is not None:
                arr[k] = np.nan
        bounds.cluster[k] = -1
        bounds.kinds[k] = f"no bound: {reason}"
    return bounds


def _cluster_radius(members, rgram) -> float:
    """``||R_C||₂``: sqrt of the largest eigenvalue of the cluster's block of the residual Gram."""
    block = rgram[np.ix_(members, members)]
    return float(np.sqrt(max(np.linalg.eigvalsh(0.5 * (block + block.T))[-1], 0.0)))


def clusters(theta: np.ndarray, rgram: np.ndarray) -> list[list[int]]:
    """Group ascending Ritz values whose Weinstein (Kahan) intervals overlap.

    Starting from single levels (radius σ_k), adjacent clusters whose intervals
    ``[min θ − r, max θ + r]`` touch are merged and the radius recomputed (``||R_C||₂`` grows
    with the cluster) until all clusters are separated.

    Parameters
    ----------
    theta : ndarray, shape (M,)
        Ascending, finite.
    rgram : ndarray, shape (M, M)
        Residual Gram matrix of the M Ritz functions.

    Returns
    -------
    list of lists of int
        Consecutive index groups covering ``0..M-1``.
    """
    groups = [[k] for k in range(len(theta))]
    while True:
        r = [_cluster_radius(g, rgram) for g in groups]
        for c in range(len(groups) - 1):
            if theta[groups[c][-1]] + r[c] >= theta[groups[c + 1][0]] - r[c + 1]:
                groups[c:c + 2] = [groups[c] + groups[c + 1]]
                break
        else:
            return groups


def _as_gram(residuals) -> np.ndarray:
    """A residual Gram matrix from (L, L) as is, or from σ (L,) as the conservative
    ``σ σᵀ`` (its top eigenvalue ``Σσ²`` bounds the cluster's ``||R||₂²``)."""
    r = np.asarray(residuals, np.float64)
    return np.outer(r, r) if r.ndim == 1 else r


def level_bounds(energies, residuals, *, deterministic: bool = True, unavailable: str | None = None,
                 next_level_lower: float | None = None, trial=None, goerisch=None,
                 cutoff_upper=None) -> LevelBounds:
    """Weinstein and Kato–Temple intervals of L levels from ascending Ritz pairs.

    Parameters
    ----------
    energies : ndarray, shape (L,)
        Ritz values (or Rayleigh quotients of orthonormal functions), ascending; NaN entries
        (dropped directions) get no bound.
    residuals : ndarray, shape (L, L) or (L,)
        Residual Gram matrix ``Rᵀ W R`` (:func:`nsvd_cli.ritz.residual_gram`), or residual
        norms σ (clusters then use ``sqrt(Σσ²)``, an upper bound of ``||R||₂``).
    deterministic : bool
        False (a Monte Carlo rule): every level gets "no bound".
    unavailable : str, optional
        Why residuals could not be computed (every level gets "no bound: <reason>").
    next_level_lower : float, optional
        A known lower bound of the first level above the learned ones (the β of the highest
        cluster); without it the highest cluster's lower side is Weinstein's.
    trial : tuple (values (N, M), h_values (N, M), weights (N,)), optional
        Trial functions ``v`` and ``Hv`` on the rule (e.g. the Ritz functions) for Lehmann lower
        bounds (:func:`lehmann_lower_bounds`), with ρ = ``next_level_lower`` (all levels) or else
        the lower bound of the highest cluster (the levels below it). The reported lower side
        is the tighter of Lehmann and the others.
    goerisch : nsvd_cli.goerisch.GoerischData, optional
        The Ritz functions for Lehmann–Goerisch lower bounds (same ρ as Lehmann; needs
        ``trial``). With its refined rule, the min–max and Lehmann–Goerisch sides are widened by
        the refined-rule estimate of each Ritz value's integration error
        (``ritz_rule_error``) instead of the form gap.
    cutoff_upper : ndarray, shape (L,), optional
        Ritz values of the trial functions times a cutoff that vanishes on the rule's open
        faces (:mod:`nsvd_cli.cutoff`): upper bounds of the levels on R^D, where the Ritz values
        of the box-restricted form are not (the tail outside the box is missing). The min–max
        side is then ``max(θ_k, cutoff_upper_k)``; NaN: no min–max side for that level.

    With ``trial`` and no level missing below the highest bounded one, the upper side of every
    level is at most its Ritz value (min–max: the k-th Ritz value bounds the k-th level from
    above whatever was missed), widened by the rule error.

    Returns
    -------
    LevelBounds
    """
    theta = np.asarray(energies, np.float64)
    L = len(theta)
    if unavailable:
        return no_bounds(L, unavailable, deterministic)
    if not deterministic:
        return no_bounds(L, "Monte Carlo evaluation rule (the integrals are estimates)", False)
    g = _as_gram(residuals)
    sigma = np.sqrt(np.abs(np.diag(g)))
    ok = np.flatnonzero(np.isfinite(theta) & np.isfinite(sigma))
    out = no_bounds(L, "the Ritz direction was dropped or its residual is not finite")
    if len(ok) == 0:
        return out
    if np.any(np.diff(theta[ok]) < 0):
        raise ValueError("energies must be ascending")
    next_level_lower = _checked_next_level(out, next_level_lower, theta[ok].max())
    groups = [[int(ok[i]) for i in grp] for grp in clusters(theta[ok], g[np.ix_(ok, ok)])]
    radius = [_cluster_radius(grp, g) for grp in groups]
    w_lo = [theta[grp[0]] - r for grp, r in zip(groups, radius)]
    w_hi = [theta[grp[-1]] + r for grp, r in zip(groups, radius)]
    contiguous = ok[-1] - ok[0] + 1 == len(ok) and ok[0] == 0  # no unbounded level below or between
    for c, (grp, r) in enumerate(zip(groups, radius)):
        alpha = -np.inf if c == 0 else w_hi[c - 1]
        beta = w_lo[c + 1] if c + 1 < len(groups) else (next_level_lower if next_level_lower is not None else np.nan)
        if not contiguous and c == 0:
            alpha = np.nan  # a level below the first bounded one has no interval: nothing known below
        _bound_cluster(out, grp, theta, r, alpha, beta)
        out.cluster[grp] = c
    # outward rounding: the bounds are computed in floating point (the rule's own error is larger)
    pad = ROUNDING * (np.abs(theta) + np.nan_to_num(out.weinstein_upper - out.weinstein_lower))
    out.lower = np.fmax(out.weinstein_lower, out.kato_temple_lower) - pad
    out.upper = np.fmin(out.weinstein_upper, out.kato_temple_upper) + pad
    out.theta = theta
    if trial is not None:
        # The bounds are exact statements about the rule's integrals; the rule's own error in
        # each Ritz value is estimated by the two forms of <φ|Hφ> and widens both sides (a 3D
        # rule put extended-basis Ritz values 2.4e-4 below the level, with a form gap of 3.9e-3).
        out.rule_error = _form_gap(trial, theta)
        out.lower, out.upper = out.lower - out.rule_error, out.upper + out.rule_error
        if contiguous:
            quadratic = out.rule_error
            if goerisch is not None and goerisch.refined is not None:
                quadratic = np.zeros(L)
                quadratic[:len(ok)] = goerisch.rule_error(theta[ok])
                out.ritz_rule_error = quadratic
            _apply_min_max(out, ok, quadratic, pad, cutoff_upper)
            _apply_lehmann(out, groups, trial, next_level_lower, pad, goerisch, quadratic)
    return out


def _side(kind: str, upper: bool) -> str:
    """The lower or upper side's name in a ``kinds`` entry ``"lower/upper (cluster of m)"``
    (one name: both sides)."""
    lo, _, hi = kind.partition(" (")[0].partition("/")
    return (hi or lo) if upper else lo


def _checked_next_level(out: LevelBounds, value, top: float):
    """``next_level_lower`` if it lies above the highest Ritz value (a lower bound of the next
    level below it says nothing about the learned levels, and as β or ρ it would invert their
    intervals), else None; either way a note for the table (in ``out.notes``)."""
    if value is None:
        return None
    if not value > top:
        out.notes.append(f"next_level_lower = {value:.6g} (evaluation.next_level_lower, or compare's "
                         f"--next-level-lower) ignored: it must lie above the highest Ritz "
                         f"value ({top:.6g}) to bound the level above the learned ones")
        return None
    out.notes.append(f"assuming next_level_lower = {value:.6g} (evaluation.next_level_lower, or compare's "
                     "--next-level-lower) is a lower bound of the level above the learned ones (a wrong value makes "
                     "the intervals wrong)")
    return float(value)


def _rename(kind: str, lower: str | None = None, upper: str | None = None) -> str:
    """A ``kinds`` entry with one or both sides renamed."""
    _, sep, rest = kind.partition(" (")
    lo, hi = lower or _side(kind, False), upper or _side(kind, True)
    return (lo if lo == hi else f"{lo}/{hi}") + sep + rest


def _apply_min_max(out: LevelBounds, ok, error, pad, cutoff_upper=None) -> None:
    """Upper side ``θ_k + error_k`` (Courant–Fischer: the k-th Ritz value is at least the k-th
    level), or ``max(θ_k, cutoff_upper_k) + error_k`` (the Ritz values of the cut-off functions,
    upper bounds on R^D), where it is tighter than the residual bounds (in place; ``ok``: the
    bounded levels, contiguous from the first)."""
    top = out.theta
    if cutoff_upper is not None:
        cut = np.asarray(cutoff_upper, np.float64)[:len(top)]
        top = np.where(np.isnan(cut), np.inf, np.fmax(top, cut))  # NaN: no upper bound on R^D known
    up = top[ok] + error[ok] + pad[ok]
    # the lowest cluster's upper side is min–max already, widened by the form gap: use this
    # error instead (it estimates the quadratic form's, which min–max rests on)
    already = np.array([_side(out.kinds[k], upper=True) == "min–max" for k in ok], bool)
    better = np.isfinite(up) & (already | (up < out.upper[ok]))
    out.upper[ok[better]] = up[better]
    for k in ok[better]:
        out.kinds[k] = _rename(out.kinds[k], upper="min–max")


def _form_gap(trial, theta) -> np.ndarray:
    """(L,) ``|<φ_k|Hφ_k>/<φ_k|φ_k> − θ_k|`` for the trial (Ritz) functions: the Laplacian form
    on the rule against the Ritz value (the quadratic form); 0 where it cannot be formed (the
    level has no bound then anyway)."""
    v, hv, w = (np.asarray(a, np.float64) for a in trial)
    gap = np.zeros(len(theta))
    n = min(len(theta), v.shape[1])
    with np.errstate(all="ignore"):
        g = np.abs(np.einsum("n,nk,nk->k", w, v[:, :n], hv[:, :n])
                   / np.einsum("n,nk,nk->k", w, v[:, :n], v[:, :n]) - theta[:n])
    gap[:n] = np.where(np.isfinite(g), g, 0.0)
    return gap


def lehmann_lower_bounds(values, h_values, weights, shift: float, below: int, rcond: float = 1e-12) -> np.ndarray:
    """Lehmann(–Maehly) lower bounds of the lowest ``below`` levels from trial functions.

    With ``ρ = shift ≤ λ_{n+1}`` (n = ``below``; ``λ_1 ≤ λ_2 ≤ …`` the eigenvalues of H below
    its essential spectrum), ``A = <v_i|(H − ρ)v_j>``, ``B = <(H − ρ)v_i|(H − ρ)v_j>`` and the
    eigenvalues ``μ_1 ≤ μ_2 ≤ …`` of ``A x = μ B x``: every ``μ_k < 0`` gives
    ``λ_{n+1−k} ≥ ρ + 1/μ_k``. (Min–max for the bounded operator ``(H − ρ)⁻¹`` on the span of
    ``(H − ρ)v_i``, whose Ritz quotient is ``A/B``; at most n of the μ are negative.) Exact
    eigenfunctions give the levels; one trial function gives Temple's bound with β = ρ.
    Near-null directions of B (relative ``rcond``) are left out, which keeps the bounds valid
    (a smaller trial space).

    Parameters
    ----------
    values, h_values : ndarray, shape (N, M)
        ``v_i`` and ``Hv_i`` on the rule (any M ≥ 1 functions in the domain of H; zero columns
        are ignored).
    weights : ndarray, shape (N,)
    shift : float
        ρ, a lower bound of level n + 1 that is not below level n (the bounds are about the
        levels under ρ).
    below : int
        n.

    Returns
    -------
    ndarray, shape (n,)
        Lower bounds of levels 1..n (ascending index), NaN where the trial space gives none.

    Raises
    ------
    ValueError
        Mismatched shapes or a non-finite ρ.
    """
    v, hv = np.asarray(values, np.float64), np.asarray(h_values, np.float64)
    if v.shape != hv.shape or v.ndim != 2 or not np.isfinite(shift):
        raise ValueError(f"values and h_values must be (N, M) of one shape and ρ finite, got {v.shape}, "
                         f"{hv.shape}, ρ = {shift}")
    w = np.asarray(weights, np.float64)
    r = hv - shift * v
    a = np.einsum("n,ni,nj->ij", w, v, r)
    b = np.einsum("n,ni,nj->ij", w, r, r)
    a, b = 0.5 * (a + a.T), 0.5 * (b + b.T)
    d = np.sqrt(np.maximum(np.diag(b), 0.0))
    # a trial function with (H − ρ)v at rounding level (an eigenfunction at ρ) adds nothing but
    # noise, which the scaling would amplify: leave it out (a smaller trial space stays valid)
    live = np.flatnonzero(d > max(np.finfo(float).tiny * 1e10, 1e-6 * d.max(initial=0.0)))
    out = np.full(int(below), np.nan)
    if len(live) == 0 or below < 1:
        return out
    a, b = a[np.ix_(live, live)] / np.outer(d[live], d[live]), b[np.ix_(live, live)] / np.outer(d[live], d[live])
    nu, u = np.linalg.eigh(b)
    q = u[:, nu > rcond * nu.max()] / np.sqrt(nu[nu > rcond * nu.max()])
    mu = np.linalg.eigvalsh(q.T @ a @ q)
    for k, m in enumerate(mu[mu < 0][:below]):
        out[below - 1 - k] = shift + 1.0 / m
    return out


def _apply_lehmann(out: LevelBounds, groups, trial, next_level_lower, pad, goerisch=None, quadratic=None) -> None:
    """Lehmann and Lehmann–Goerisch lower bounds (in place): ρ = ``next_level_lower`` for every
    level, else the reported lower bound of the highest cluster for the levels below it.
    ``quadratic`` (L,): the integration error that widens the Lehmann–Goerisch bounds."""
    values, h_values, weights = trial
    if next_level_lower is not None:
        shift, below = float(next_level_lower), groups[-1][-1] + 1
    elif len(groups) > 1:
        shift, below = float(out.lower[groups[-1][0]]), groups[-1][0]
    else:
        return
    if not np.isfinite(shift):
        return
    out.lehmann_shift = shift
    out.lehmann_lower = np.full(len(out.lower), np.nan)
    with np.errstate(all="ignore"):
        out.lehmann_lower[:below] = lehmann_lower_bounds(values, h_values, weights, shift, below)
    # The Lehmann matrices use <v|Hv> (the Laplacian form) and the Ritz values the quadratic form:
    # equal for exact integrals, so their difference on the rule (out.rule_error) measures its
    # integration error, which is subtracted; a bound still above the Ritz value is not used.
    out.lehmann_lower = out.lehmann_lower - out.rule_error
    _raise_lower(out, out.lehmann_lower, pad, "Lehmann")
    if goerisch is None:
        return
    out.goerisch_lower = np.full(len(out.lower), np.nan)
    with np.errstate(all="ignore"):
        out.goerisch_lower[:below] = goerisch.lower_bounds(out.theta, shift, below) - quadratic[:below]
    _raise_lower(out, out.goerisch_lower, pad, "Lehmann–Goerisch")


def _raise_lower(out: LevelBounds, candidate, pad, name: str) -> None:
    """Use ``candidate`` (L,) as the lower side where it is tighter and not above the Ritz value
    (a bound above it means the rule is too coarse for a second-order bound there)."""
    better = np.isfinite(candidate) & (candidate - pad > out.lower) & (candidate <= out.theta)
    out.lower[better] = candidate[better] - pad[better]
    for k in np.flatnonzero(better):
        out.kinds[k] = _rename(out.kinds[k], lower=name)


def _bound_cluster(out: LevelBounds, grp: list[int], theta, r: float, alpha: float, beta: float) -> None:
    """Fill the Weinstein and Kato–Temple entries of one cluster (in place).

    A single level uses the one-sided Kato–Temple bounds with ``(α, β)``; a cluster of m > 1
    uses ``||R||₂²/δ`` on both sides, which needs the separation δ on both sides (the lowest
    cluster, α = −∞, gets min–max on the upper side: its Ritz values bound the lowest m levels
    from above). ``kinds`` names the bound of each side, e.g. ``"Kato–Temple/min–max"``
    (lower/upper; one name when both sides agree).
    """
    th = theta[grp]
    out.weinstein_lower[grp], out.weinstein_upper[grp] = th - r, th + r
    m = len(grp)
    with np.errstate(divide="ignore", invalid="ignore"):
        d_lo = th.min() - alpha  # inf for the lowest cluster, NaN if unknown
        d_hi = beta - th.max()
        d_hi = d_hi if d_hi > 0 else np.nan  # a β not above the cluster separates nothing
        if m == 1:
            kt_up = th + r**2 / d_lo if np.isfinite(alpha) else (th if alpha == -np.inf else np.nan)
            kt_lo = th - r**2 / d_hi if np.isfinite(beta) else np.nan
        else:
            delta = np.nan if np.isnan(d_lo) or np.isnan(d_hi) else min(d_lo, d_hi)  # both sides needed
            kt_lo = th - r**2 / delta if np.isfinite(delta) else np.nan
            kt_up = th if alpha == -np.inf else (th + r**2 / delta if np.isfinite(delta) else np.nan)
    kt_lo, kt_up = np.broadcast_to(kt_lo, th.shape), np.broadcast_to(kt_up, th.shape)
    out.kato_temple_lower[grp], out.kato_temple_upper[grp] = kt_lo, kt_up
    linear = "Weinstein" if m == 1 else "Kahan"
    lo_kind = "Kato–Temple" if np.all(np.isfinite(kt_lo)) else linear
    hi_kind = "min–max" if alpha == -np.inf else ("Kato–Temple" if np.all(np.isfinite(kt_up)) else linear)
    kind = lo_kind if lo_kind == hi_kind else f"{lo_kind}/{hi_kind}"
    for k in grp:
        out.kinds[k] = kind if m == 1 else f"{kind} (cluster of {m})"
