"""How the CLI shows Monte Carlo standard errors: ``value ± stderr`` cells, the note under
the solve table and the warning when the sample count does not resolve the errors
(:mod:`nsvd_cli.montecarlo`)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["with_stderr", "monte_carlo_note", "unresolved_warning", "stderr_of", "sparse_samples_warning",
           "percent_range", "mode_list", "percent", "missed_intervals", "missed_level_note", "MISSED_MARK",
           "reference_off_warning", "dead_modes", "dead_mode_warning", "DEAD_AT_END"]


def mode_list(modes) -> str:
    """``mode 4`` or ``modes 2, 5`` (1-based numbers given)."""
    modes = list(modes)
    return ("mode " if len(modes) == 1 else "modes ") + ", ".join(str(m) for m in modes)


def percent(x: float) -> str:
    """A percentage without exponent: 3 significant digits from 1 up (``64.3``, ``100``, ``1234``),
    2 below (``0.17``, ``0.0012``)."""
    if x >= 1:
        return f"{x:.3g}" if x < 1000 else f"{x:.0f}"
    return f"{x:.2g}"


def percent_range(lo: float, hi: float) -> str:
    """``0.17–0.19 %`` / ``64.3–100 %``: both ends in the same fixed-point style (never ``1e+02``)."""
    return f"{percent(lo)}–{percent(hi)} %"


def stderr_of(ev, key: str, i=None):
    """The standard error of figure ``key`` (mode ``i``) of an evaluation, or None (deterministic rule)."""
    se = getattr(ev, "stderr", None)
    if se is None or se.get(key) is None:
        return None
    return float(se[key] if i is None else se[key][i])


def with_stderr(value, stderr=None, spec="{:.5g}", factor: float = 1.0) -> str:
    """``value ± stderr`` (stderr to 2 significant digits), ``value`` alone without one, ``—`` for NaN/None.

    ``spec`` is a format string or a function of the scaled value (e.g. :func:`percent`)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    text = spec(factor * value) if callable(spec) else spec.format(factor * value)
    if stderr is None or not math.isfinite(stderr):
        return text
    return f"{text} ± {factor * stderr:.2g}"


def monte_carlo_note(ev, evaluation_spec) -> str | None:
    """The line under the solve table for a Monte Carlo rule: sample count, jackknife blocks,
    effective sample sizes and, for Gaussian importance sampling, the matched std."""
    if getattr(ev, "stderr", None) is None:
        return None
    n = evaluation_spec.samples
    ess = np.asarray(ev.effective_samples, float)
    ess = ess[np.isfinite(ess)]
    parts = [f"Monte Carlo rule, {n} samples: ± one standard error (delete-one-block jackknife, "
             f"{ev.mc_blocks} blocks)"]
    if ess.size:
        parts.append(f"effective samples per mode {ess.min():.0f}–{ess.max():.0f} "
                     f"({percent_range(100 * ess.min() / n, 100 * ess.max() / n)})")
    std = getattr(evaluation_spec, "std", 0.0)
    matched = getattr(ev, "matched_std", None)
    if std > 0 and matched is not None and math.isfinite(matched):
        parts.append(f"importance N(0, {std:g}²); evaluation.std ≈ {matched:.2g} would suit these modes best")
    return "; ".join(parts)


def unresolved_warning(ev) -> str | None:
    """One line naming the modes whose energy error is not resolved by the Monte Carlo rule, or None."""
    modes = ev.unresolved_modes() if hasattr(ev, "unresolved_modes") else []
    if not modes:
        return None
    shown = mode_list(i + 1 for i in modes)
    return (f"Monte Carlo standard errors are comparable to the errors of {shown} (not below a third of "
            f"max(error, 1e-4)): those errors are noise; raise evaluation.samples")


def sparse_samples_warning(ev, evaluation_spec) -> str | None:
    """One line when the Monte Carlo rule wastes its points, or None.

    When the smallest Kish effective sample fraction over the modes
    (:func:`nsvd_cli.montecarlo.kish_effective_samples`) is below
    :data:`nsvd_cli.montecarlo.ESS_WARN_FRACTION` — typically uniform points
    (``evaluation.std = 0``) in a box much larger than the states, whose volume grows as
    side^D — every figure rests on a few dozen points: the line says so and names the
    importance std that suits the learned modes (``Evaluation.matched_std``)."""
    from ..montecarlo import ESS_WARN_FRACTION

    ess = getattr(ev, "effective_samples", None)
    if getattr(ev, "stderr", None) is None or ess is None:
        return None
    ess = np.asarray(ess, float)
    if not np.any(np.isfinite(ess)):
        return None
    n = evaluation_spec.samples
    worst = int(np.nanargmin(ess))
    fraction = ess[worst] / n
    if fraction >= ESS_WARN_FRACTION:
        return None
    std = getattr(evaluation_spec, "std", 0.0)
    where = ("uniform points in a box much larger than the modes" if std <= 0
             else f"importance N(0, {std:g}²) does not match the modes")
    matched = getattr(ev, "matched_std", None)
    fix = (f"set evaluation.std = {matched:.2g} to sample where the modes live"
           if matched is not None and math.isfinite(matched) else "match evaluation.box or evaluation.std to the modes")
    return (f"only {percent(100 * fraction)} % of the {n} Monte Carlo points are effective for mode {worst + 1} "
            f"(Kish ESS {ess[worst]:.0f}: {where}), so error bars are large; {fix}")


#: Appended to an interval cell of the solve table whose reference level lies outside it.
MISSED_MARK = "misses ref."


def missed_intervals(ev):
    """(L,) bool: the intervals of ``ev.bounds`` (Ritz level k) that do not contain the k-th
    reference level (:func:`nsvd_cli.verdict.missed_levels`, the containment test of
    ``nsvd compare``), or None without a reference or intervals."""
    from ..verdict import missed_levels

    bounds, ref = getattr(ev, "bounds", None), getattr(ev, "reference_energies", None)
    if bounds is None or ref is None:
        return None
    return missed_levels(bounds, ref, getattr(ev, "positive", None))


def missed_level_note(ev, missed, reference_error=None) -> str | None:
    """The line under the solve table when intervals miss their reference level, or None.

    A reference level below its interval means the learned span skipped a level (every
    interval above it is then about the wrong level); one above means the rule's error
    exceeded its estimate. Either way the intervals' assumption — no level below the highest
    learned one was missed (docs/bounds.md) — does not hold, and they are no bounds. Misses
    by no more than the reference's own estimated error (``reference_error``, absolute, (L,))
    judge nothing: the reference may be the one off (a trial's narrow 3D well: a 36-point grid
    reference 0.5 % below the true level, estimated error 6.8 %, was read as a skipped level)."""
    if missed is None or not np.any(missed):
        return None
    ref = np.asarray(ev.reference_energies, float)
    levels = np.flatnonzero(missed)
    if reference_error is not None:
        err = np.asarray(reference_error, float)
        b = ev.bounds
        dist = {k: max(b.lower[k] - ref[k], ref[k] - b.upper[k]) for k in levels if k < len(err)}
        within = [k for k, d in dist.items() if d <= err[k]]
        if within and len(within) == len(levels):
            names = ", ".join(str(k + 1) for k in within)
            return (f"the intervals marked '{MISSED_MARK}' (level(s) {names}) miss their reference level by less than "
                    "the reference's own estimated error: the reference cannot judge them (it may be the one off; "
                    "a finer reference_grid)")
        levels = np.array([k for k in levels if k not in within], int)  # only misses beyond the reference's error
    below = [k for k in levels if ref[k] < ev.bounds.lower[k]]
    marked = f"'{MISSED_MARK}' ({'levels' if len(levels) > 1 else 'level'} {', '.join(str(k + 1) for k in levels)})"
    if below:
        k = below[0]
        return (f"the learned modes skipped a level: reference level {k + 1} (E = {ref[k]:.6g}) lies below interval "
                f"{k + 1}, so the intervals from there up are about other levels; the intervals assume that no level "
                f"below the highest learned one was missed, so those marked {marked} are not bounds "
                "(nsvd compare: in interval)")
    return (f"the intervals marked {marked} do not contain their reference level, which lies above them: the "
            "evaluation rule's error exceeds its estimate, so they are not bounds (nsvd compare: in interval)")


def reference_off_warning(verdict, skip=()) -> str | None:
    """The warning line when modes fail the verdict's reference check, or None.

    Modes nearer another reference level than their own (``verdict.nearer_other_level``,
    :func:`nsvd_cli.verdict.nearer_other_levels`) settled on another state, which training
    rarely leaves: the advice is to check the sampling. Modes nearest their own level are not
    yet converged to it: the advice is to train longer. A verdict without that field (None)
    gets the first advice for every such mode. Modes in ``skip`` (dead ones, :func:`dead_modes`,
    which have their own warning) are left out."""
    off = [l for l, r in enumerate(verdict.reasons) if "reference:" in r and l not in set(skip)]
    if not off:
        return None
    other = getattr(verdict, "nearer_other_level", None)
    settled = [l for l in off if other is None or other[l]]
    on_way = [l for l in off if l not in settled]
    settled_names, on_way_names = (", ".join(f"#{l + 1}" for l in ls) for ls in (settled, on_way))
    parts = []
    if settled:
        parts.append(f"{settled_names} off the reference level and nearer another level: in a close group of levels "
                     "a mode not yet converged (train longer: --iters, --until converged); a mode that settled on "
                     "another state rarely leaves it (with several wells, check that the sampling covers every "
                     "well: docs/problems.md, sampling scale)")
    if on_way:
        parts.append(f"{on_way_names} off the reference level but nearer it than any other: not yet converged "
                     "to it; train longer (--iters, --until converged)")
    return "; ".join(parts)


#: A mode whose norm estimate ended below this fraction of its (positive) Rayleigh quotient is
#: dead: at the optimum the two are equal, and a collapsed NestedLoRA mode gets gradients
#: proportional to its norm (``nsvd_cli.solve._Judge.stuck_modes``). Measured: a user box
#: [0, 1] × [0, 2] ended with mode 4 at 4e-7 (and was right after a restart, 4/4 modes at
#: 0.003 %); transient collapses that recovered mid-run reached 6e-5 (the same run's mode 3 at
#: iteration 680) — at the end of a run, with the learning rate decayed, none recovers.
DEAD_AT_END = 1e-3


def dead_modes(evaluation) -> list[int]:
    """Modes (0-based) that ended dead: norm estimate below :data:`DEAD_AT_END` times a
    positive Rayleigh quotient, not judged converged. Methods without a norm estimate (NaN): none."""
    lam = np.asarray(evaluation.eigenvalues, float)
    norm = np.asarray(getattr(evaluation, "norm_eigenvalues", np.full_like(lam, np.nan)), float)
    verdict = getattr(evaluation, "verdict", None)
    converged = np.zeros(lam.shape, bool) if verdict is None else np.asarray(verdict.converged, bool)
    with np.errstate(invalid="ignore"):
        return np.flatnonzero((lam > 0) & (norm < DEAD_AT_END * lam) & ~converged).tolist()


def nothing_learned_warning(evaluation, shift: float) -> str | None:
    """A warning when no mode found a level below the shift (every Rayleigh λ of T ≤ 0, so
    every energy lies above ``shift``), or None. Training longer does not help: either the shift
    lies below the lowest level, or the training samples miss the region where V is low (a
    trial: a double well at x0 = ±3 sampled with std 0.7 gave E 39.8 and 57.8 for the shift
    12, with only "train longer" advised)."""
    lam = np.asarray(evaluation.eigenvalues, float)
    if not len(lam) or not np.all(np.isfinite(lam)) or np.any(lam > 0):
        return None
    return (f"no mode found a level below the shift {shift:g} (every λ ≤ 0): the shift lies below the lowest "
            "level, or the training samples miss the region where V is low — raise the shift or widen the "
            "sampling (docs/problems.md, choosing the shift and the sampling scale); training longer will not help")


def dead_mode_warning(evaluation, restarts: int) -> str | None:
    """The warning line for the :func:`dead_modes`, or None. With ``training.restarts = 0`` it
    advises the opt-in restarts; with restarts it says they were spent."""
    dead = dead_modes(evaluation)
    if not dead:
        return None
    lam = np.asarray(evaluation.eigenvalues, float)
    norm = np.asarray(evaluation.norm_eigenvalues, float)
    names = ", ".join(f"#{l + 1} (norm λ {norm[l]:.1e} against Rayleigh λ {lam[l]:.3g})" for l in dead)
    advice = ("rerun with restarts = 2 in [training] (a mode that stays dead is re-initialised; opt-in, "
              "docs/problems.md)" if restarts == 0 else
              f"re-initialising (training.restarts = {restarts}) did not revive it by the end; train longer")
    return (f"{names}: the norm collapsed — a dead mode gets no gradient to come back and holds no "
            f"eigenfunction; {advice}")
