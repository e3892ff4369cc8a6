"""The Ritz and interval columns of the solve table and the lines about them (docs/bounds.md).

Which Ritz pair sits beside which learned mode (:func:`ritz_rows`), the interval cells, the
note under the table, the "intervals wider than the level spacing" note, and the Ritz
energies' mean relative error of the summary line.
"""

from __future__ import annotations

__all__ = ["ritz_rows", "ritz_mean_relative_error", "extension_levels", "extension_note", "EXTENSION_MARK", "interval_spacing_note", "interval_cell", "bounds_note",
           "upper_bound_note", "rule_error_below_digits", "RITZ_NOTE", "RITZ_DIGITS", "WIDE_INTERVALS_NOTE"]


def ritz_mean_relative_error(ev) -> float:
    """Mean of ``|ρ_k − E_k| / |E_k|`` over the counted levels: the k-th lowest Ritz energy
    ``ρ_k`` (ascending, ``Evaluation.ritz_energies``) against the k-th reference level ``E_k``.

    Counted: levels whose reference eigenvalue of T is > 0 (``Evaluation.positive``) and whose
    Ritz value is finite (dropped pairs are NaN). NaN without Ritz values, without a
    reference, or with no level counted. Often far below the mean error of the per-mode
    Rayleigh quotients: Rayleigh–Ritz rotates the learned span onto the levels (docs/bounds.md).
    """
    import numpy as np

    ritz, ref = getattr(ev, "ritz_energies", None), getattr(ev, "reference_energies", None)
    if ritz is None or ref is None:
        return float("nan")
    n = min(len(ritz), len(ref))
    ritz, ref = np.asarray(ritz, float)[:n], np.asarray(ref, float)[:n]
    positive = getattr(ev, "positive", None)
    keep = np.isfinite(ritz) & (np.ones(n, bool) if positive is None else np.asarray(positive, bool)[:n])
    if not keep.any():
        return float("nan")
    return float(np.mean(np.abs(ritz[keep] - ref[keep]) / np.abs(ref[keep])))


#: Learned-span weight of a Ritz function below which it is said to come from the monomials.
EXTENSION_WEIGHT = 0.5
#: Marks a Ritz value in the compare table whose Ritz function lies mostly outside the learned span.
EXTENSION_MARK = "†"


def extension_levels(ev):
    """(L,) bool: Ritz pairs (ascending, ``Evaluation.ritz_energies``) whose Ritz function lies
    mostly outside the span of the learned functions — it comes from the monomial extension of
    the Ritz basis (``evaluation.ritz_degree`` > 0), not from training.

    The weight of the unit Ritz function ``φ_k`` in the learned span is ``p_k = o_kᵀ G⁺ o_k``,
    ``o_lk = <ψ_l/|ψ_l|, φ_k>`` (``Evaluation.ritz_overlaps``) and G the learned functions'
    normalised Gram matrix (pseudo-inverse: collapsed modes are nearly parallel); True where
    ``p_k <`` :data:`EXTENSION_WEIGHT`. Found by a new-user trial: `harmonic --modes 4` after
    150 iterations had modes 2–4 collapsed on the ground state (40 % off) while x_i·ψ_1 gave
    Ritz values 5.003 "in interval" — right numbers, but not the training's. All False for
    the learned span itself (degree 0), without overlaps, or for dropped pairs (NaN).
    """
    import numpy as np

    rho = np.asarray(ev.ritz_energies if getattr(ev, "ritz_energies", None) is not None else [], float)
    out = np.zeros(len(rho), bool)
    overlaps, gram = getattr(ev, "ritz_overlaps", None), getattr(ev, "gram", None)
    if not getattr(ev, "ritz_degree", 0) or overlaps is None or gram is None or len(rho) == 0:
        return out
    o, g = np.asarray(overlaps, float), np.asarray(gram, float)
    live = np.all(np.isfinite(o), axis=1) & np.all(np.isfinite(g), axis=1)
    if not live.any():
        return out
    o, g = o[live], g[np.ix_(live, live)]
    weight = np.einsum("lk,lk->k", o, np.linalg.pinv(g, rcond=1e-10, hermitian=True) @ o)
    k = min(len(out), len(weight))
    out[:k] = np.isfinite(rho[:k]) & (weight[:k] < EXTENSION_WEIGHT)
    return out


def _level_list(levels) -> str:
    """``"level 3"`` / ``"levels 2–4"`` / ``"levels 2, 5"`` of 0-based indices."""
    n = [int(i) + 1 for i in levels]
    if len(n) == 1:
        return f"level {n[0]}"
    if n == list(range(n[0], n[-1] + 1)):
        return f"levels {n[0]}–{n[-1]}"
    return "levels " + ", ".join(map(str, n))


def extension_note(ev) -> str:
    """``""``, or which Ritz levels come from the monomial extension (:func:`extension_levels`):
    their Ritz values are upper bounds like any, but say nothing about what training learned."""
    import numpy as np

    levels = np.flatnonzero(extension_levels(ev))
    if not len(levels):
        return ""
    verb = "comes" if len(levels) == 1 else "come"
    return (f"Ritz {_level_list(levels)} {verb} from the monomial extension of the Ritz basis (their Ritz functions lie "
            "mostly outside the learned span): the learned modes did not converge to them, whatever their Ritz E")


RITZ_NOTE = ("Ritz E: Rayleigh–Ritz on the span of the learned functions (times monomials of the coordinates up "
             "to evaluation.ritz_degree), the lowest L values, each value (with its interval) in the "
             "row of the learned mode its Ritz vector overlaps most; (#k): the k-th lowest Ritz value, in another "
             "row because the learned order is broken; ?: overlap² < 0.5, no learned mode is close to that Ritz "
             "vector (functions nearly parallel or not converged)")


def ritz_rows(ev):
    """For each learned mode (table row) the index of the Ritz pair shown beside it, or -1.

    The Ritz values ``ρ_k`` are ascending while the learned modes need not be (a broken
    order, a mode converged to a higher level); printing ``ρ_k`` in row k would pair a level
    with the wrong function. Row ``l`` instead gets the Ritz vector that overlaps learned
    mode ``l`` most, one-to-one (Hungarian assignment maximising ``Σ |O_lk|²``), with
    ``O = G D^{1/2} C`` the overlaps ``<ψ_l/|ψ_l|, φ_k>`` (G the normalised Gram matrix, D the
    norms ``S_ll``, C the Ritz coefficients, ``φ_k = ψ C_k`` unit-normalised). In a converged,
    ordered run this is the identity.

    Returns
    -------
    (rows, overlap2) : ndarray of int, ndarray of float, both shape (L,)
        The Ritz index of each row (-1: none) and its squared overlap ``|O_lk|²`` with the
        row's mode (NaN where unmatched); below 0.5 the pairing is marked ``?`` in the table.
    """
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    C = np.asarray(ev.ritz_vectors, float)
    L = C.shape[1]
    out = np.full(L, -1)
    energies = np.asarray(ev.ritz_energies, float)
    kept = np.flatnonzero(np.isfinite(energies) & np.any(C != 0, axis=0))
    norms = np.sqrt(np.clip(np.asarray(ev.norm_eigenvalues, float), 0, None))
    if getattr(ev, "ritz_overlaps", None) is not None:  # also for an extended basis (C is (L·P, L))
        overlap = np.asarray(ev.ritz_overlaps, float)[:, kept]
    else:
        overlap = np.asarray(ev.gram, float) @ (norms[:, None] * C[:, kept])
    weight = np.full(L, np.nan)
    if not kept.size or not np.all(np.isfinite(overlap)):
        out[:len(kept)] = kept  # nothing to match on: the ascending order
        return out, weight
    rows, cols = linear_sum_assignment(-(overlap ** 2))
    out[rows], weight[rows] = kept[cols], overlap[rows, cols] ** 2
    return out, weight


#: Printed under the solve table when every interval is wider than the level spacing.
WIDE_INTERVALS_NOTE = ("note: intervals wider than the level spacing: the residuals are too large for the bounds to "
                       "tell levels apart; train longer")


def interval_spacing_note(bounds, ritz_energies) -> str:
    """:data:`WIDE_INTERVALS_NOTE` when every level with an interval (at least two) has one
    wider than the level spacing, else ``""``.

    ``bounds`` holds interval k around the k-th Ritz energy ``θ_k`` (``ritz_energies``, (L,),
    ascending, energies of H); the spacing is the mean ``(θ_max − θ_min)/(n − 1)`` over the n
    levels with an interval. Then no interval separates a level from its neighbours (e.g. all
    15 harmonic2d levels in one Kahan cluster after a short run): the bounds say nothing level
    by level.
    """
    import numpy as np

    theta = np.asarray(ritz_energies, float)
    ok = np.asarray(bounds.bounded, bool) & np.isfinite(theta)
    if ok.sum() < 2:
        return ""
    width = np.asarray(bounds.upper, float)[ok] - np.asarray(bounds.lower, float)[ok]
    spacing = (theta[ok].max() - theta[ok].min()) / (ok.sum() - 1)
    return WIDE_INTERVALS_NOTE if spacing > 0 and np.all(width > spacing) else ""


def interval_cell(bounds, i) -> str:
    """``[lo, hi]`` of level i (6 significant digits, more — up to 12 — until the two ends
    differ: a harmonic2d ground state's [1.9999987, 2.0000043] printed as [2, 2]), or
    ``no bound`` (the reason is in the note)."""
    if not bounds.bounded[i]:
        return "no bound"
    lo, hi = bounds.lower[i], bounds.upper[i]
    digits = next((d for d in range(6, 13) if f"{lo:.{d}g}" != f"{hi:.{d}g}"), 12)
    return f"[{lo:.{digits}g}, {hi:.{digits}g}]"


#: Significant digits of the Ritz column of the solve table (``{:.5g}``, nsvd_cli.cli.solve._fmt).
RITZ_DIGITS = 5


def rule_error_below_digits(ritz_energies, rule_error, digits: int = RITZ_DIGITS) -> bool | None:
    """Whether the rule's estimated integration error of every Ritz value is below the digits shown.

    ``ρ_k`` printed with ``digits`` significant digits resolves half a unit of its last digit,
    ``u_k = 0.5 · 10^(⌊log10 |ρ_k|⌋ − digits + 1)``; the check is ``rule_error_k < u_k`` for every
    level with a finite estimate (``LevelBounds.rule_error``: the Laplacian form against the
    quadratic form of ``<φ|Hφ>``, equal for exact integrals). E.g. ρ = 0.99886 (unit 5e-6) with a
    rule error 0.013: False.

    Returns
    -------
    bool or None
        None when there is no estimate (no residuals computed, or every level withdrawn).
    """
    import numpy as np

    if ritz_energies is None or rule_error is None:
        return None
    rho, err = np.asarray(ritz_energies, float), np.asarray(rule_error, float)
    n = min(len(rho), len(err))
    rho, err = rho[:n], err[:n]
    ok = np.isfinite(rho) & np.isfinite(err)
    if not ok.any():
        return None
    mag = np.maximum(np.abs(rho[ok]), np.finfo(float).tiny)
    unit = 0.5 * 10.0 ** (np.floor(np.log10(mag)) - digits + 1)
    return bool(np.all(err[ok] < unit))


def upper_bound_note(ritz_energies, bounds) -> str:
    """The clause on the Ritz values as upper bounds of the levels (deterministic rule, no cut).

    Min–max makes the k-th Ritz value an upper bound of level k for *exact* integrals; on the
    rule it is one only up to the rule's integration error. The clause says "upper bounds" only
    when that error's estimate is below the digits shown (:func:`rule_error_below_digits`; a
    1D oscillator on a 36-node rule put ρ₁ = 0.99886 below the level 1, rule error 0.013), says
    they are *not certified* when it is not, and keeps the caveat when there is no estimate. The
    estimate is the refined-rule one (``bounds.ritz_rule_error``: the Rayleigh quotient of each
    Ritz function on a finer rule) where it was computed, else the form gap (``rule_error``).
    """
    import numpy as np

    error = getattr(bounds, "ritz_rule_error", None)
    error = getattr(bounds, "rule_error", None) if error is None else error
    below = rule_error_below_digits(ritz_energies, error)
    if below is None:
        return "upper bounds of the levels by min–max (deterministic rule, up to its integration error)"
    if below:
        return ("upper bounds of the levels by min–max (deterministic rule; its estimated integration error is "
                "below the digits shown)")
    worst = float(np.nanmax(np.asarray(error, float)))
    return (f"not certified upper bounds of the levels: the rule's estimated integration error (up to {worst:.2g}) "
            "exceeds the digits shown (more evaluation.points or panels)")


def _kinds_by_level(kinds, cluster=None) -> str:
    """``"levels 1–4 Lehmann–Goerisch/min–max; levels 5–6 Kahan/min–max (cluster of 2)"``: the bound of
    each run of consecutive levels with an interval (lower/upper side), in level order; a
    cluster (``cluster`` index per level) is never merged with the next one."""
    runs = []
    for k, kind in enumerate(kinds):
        if kind.startswith("no bound"):
            continue
        same_cluster = cluster is None or "(cluster" not in kind or cluster[k] == cluster[k - 1]
        if runs and runs[-1][2] == kind and runs[-1][1] == k - 1 and same_cluster:
            runs[-1][1] = k
        else:
            runs.append([k, k, kind])
    if not runs:
        return ""
    return "; ".join((f"level {a + 1}" if a == b else f"levels {a + 1}–{b + 1}") + f" {kind}" for a, b, kind in runs)


def bounds_note(ev, bounds) -> str:
    """What the Ritz and interval columns mean (docs/bounds.md), and why levels have no bound."""
    parts = [RITZ_NOTE + (f" ({ev.ritz_dropped} direction(s) dropped)" if ev.ritz_dropped else "")]
    cut = any("cuts the function off" in k for k in bounds.kinds)
    if bounds.deterministic and not cut:
        parts.append(upper_bound_note(getattr(ev, "ritz_energies", None), bounds))
    elif cut:
        parts.append("not upper bounds of the levels: the evaluation box cuts learned functions off")
    kinds = _kinds_by_level(bounds.kinds, getattr(bounds, "cluster", None))
    if kinds:
        parts.append("interval around the k-th Ritz value: " + kinds +
                     ", widened by the rule's estimated integration error, assuming no level below the highest "
                     "learned one was missed (the verdict cannot see a level no mode found; a reference can) and "
                     "the states negligible beyond the evaluation box's open faces (docs/bounds.md)")
        verdict = getattr(ev, "verdict", None)
        if verdict is not None and not verdict.all_converged:
            parts.append("with modes not judged converged that assumption is not known to hold: a lower end may "
                         "lie above its level")
    parts += list(getattr(bounds, "notes", []))
    reasons = sorted({k for k in bounds.kinds if k.startswith("no bound")})
    parts += reasons
    return "; ".join(parts)
