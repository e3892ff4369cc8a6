"""How the CLI shows Monte Carlo standard errors: ``value ± stderr`` cells, the note under
the solve table and the warning when the sample count does not resolve the errors
(:mod:`nsvd_cli.montecarlo`)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["with_stderr", "monte_carlo_note", "unresolved_warning", "stderr_of"]


def stderr_of(ev, key: str, i=None):
    """The standard error of figure ``key`` (mode ``i``) of an evaluation, or None (deterministic rule)."""
    se = getattr(ev, "stderr", None)
    if se is None or se.get(key) is None:
        return None
    return float(se[key] if i is None else se[key][i])


def with_stderr(value, stderr=None, spec: str = "{:.5g}", factor: float = 1.0) -> str:
    """``value ± stderr`` (stderr to 2 significant digits), ``value`` alone without one, ``—`` for NaN/None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    text = spec.format(factor * value)
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
        parts.append(f"effective samples per mode {ess.min():.3g}–{ess.max():.3g} ({100 * ess.min() / n:.2g}–"
                     f"{100 * ess.max() / n:.2g} %)")
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
    shown = ", ".join(str(i + 1) for i in modes)
    return (f"Monte Carlo standard errors are comparable to the errors of modes {shown} (not below a third of "
            f"max(error, 1e-4)): those errors are noise; raise evaluation.samples")
