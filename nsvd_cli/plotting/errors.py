"""Figure ``errors``: per-mode accuracy, grouped by degenerate subspace (paper Fig. 4 style).

Top: relative error of each eigenvalue of T, ``|λ − λ_ref| / λ_ref`` (log scale); bottom:
angle distance ``(2/π)·arccos|⟨ψ_l, ψ_ref,l⟩|`` after Procrustes alignment within each
degenerate subspace (log scale). Degenerate subspaces (two or more modes) are shaded; a
non-degenerate level (every level of a 1D problem) is not. Several runs
give grouped bars, one colour per run, labelled with the run's method (``training.method``);
runs that differ only in the seed (``NAME-seedN`` files of ``nsvd solve --seeds``, same method)
are pooled into one bar per mode at the mean over seeds, with whiskers from the smallest to the
largest seed's value. Each run's errors are of the functions its method claims (the stored
metrics, :func:`nsvd_cli.evaluate.evaluate_model`): a ``lora`` run's are of the Ritz functions
of its learned span, ordered by Ritz energy (a LoRA file written before ``/rotation`` was
stored is re-evaluated so). Modes whose reference eigenvalue of T is <= 0 have no
error (their learned norm should vanish) and are marked ``λ≤0``. From a compare file the
bars are the methods' stored per-mode relative errors of the energies, floored at the mean level
spacing Δ of the reference: ``|E − E_ref| / max(|E_ref|, Δ)`` (``nsvd compare`` works with
energies of H; docs/compare.md, *Error measures*).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import re
import warnings

import numpy as np
from matplotlib.transforms import blended_transform_factory

from ._style import EXACT_LABEL, NOT_CONVERGED_HATCH, compare_colours, mark_exact, split_exact
from ._style import groups_from_energies, groups_from_ids, new_figure, quantum_string, shade_groups, styled, \
    suptitle

__all__ = ["errors_figure", "run_labels"]


@dataclass
class _Series:
    label: str
    relative: np.ndarray
    angle: np.ndarray | None
    relative_range: np.ndarray | None = None  # (2, L): smallest and largest value over seeds
    angle_range: np.ndarray | None = None
    colour: object = None  # None: the k-th of the colour cycle
    hatch: str | None = None  # a grid baseline that did not converge


_SEED = re.compile(r"-seed\d+$")


def _method_of(run) -> str:
    return getattr(getattr(run.spec, "training", None), "method", "nestedlora")


def _pooled(values: list) -> tuple:
    """Mean over seeds (nan-aware) and the (2, L) min/max range of per-mode arrays."""
    n = max(v.size for v in values)
    stack = np.array([np.pad(v.astype(float), (0, n - v.size), constant_values=np.nan) for v in values])
    with warnings.catch_warnings():  # a mode without any finite value (λ ≤ 0) stays nan
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(stack, 0), np.array([np.nanmin(stack, 0), np.nanmax(stack, 0)])


def _pool_seeds(runs, names, explicit: bool) -> list:
    """Group runs by label (the file stem without ``-seedN``, prefixed by the method when any run
    is not NestedLoRA): [(label, [runs], [their names])].  A group of one run keeps its whole stem (its seed
    stays in the legend: ``lora: m_lora-seed0``); a pooled group's label names its seeds
    (:func:`_series_of`)."""
    groups: dict = {}
    tagged = any(_method_of(r) != "nestedlora" for r in runs)  # NeuralSVD runs alone keep their plain stems
    for r, name in zip(runs, names):
        prefix = "" if explicit or not tagged else f"{_method_of(r)}: "
        key = name if explicit else prefix + _SEED.sub("", name)
        groups.setdefault(key, []).append((r, prefix + name))
    return [(key, [r for r, _ in members], [n for _, n in members]) if len(members) > 1
            else (members[0][1], [members[0][0]], [members[0][1]]) for key, members in groups.items()]


def _seeds_text(members, names) -> str:
    """``"2 seeds: 0, 1"``: the seeds of pooled runs, from their names' ``-seedN`` (the files of
    ``nsvd solve --seeds``), else from ``training.seed``."""
    seeds = []
    for r, name in zip(members, names):
        found = _SEED.search(name)
        seeds.append(found.group(0).removeprefix("-seed") if found
                     else getattr(getattr(r.spec, "training", None), "seed", "?"))
    return f"{len(members)} seeds: " + ", ".join(map(str, seeds))


def run_labels(paths) -> list:
    """Short distinct labels for result files: the file stems, with parent folders if needed."""
    paths = [Path(p) for p in paths]
    labels = [p.stem for p in paths]
    if len(set(labels)) < len(labels):
        labels = [f"{p.parent.name}/{p.stem}" if p.parent.name else p.stem for p in paths]
    if len(set(labels)) < len(labels):
        labels = [str(p) for p in paths]
    return labels


def _as_series(runs, labels):
    from ..files.compare import CompareData

    if isinstance(runs, CompareData):
        d = runs

        def unconverged(m):  # as the table's "?*" and the resolution figure's open markers
            return m.kind == "grid" and not m.converged

        if d.reference_energies is None or not any(m.relative_errors.size for m in d.methods):
            raise ValueError(f"{d.path}: the compare file has no per-mode relative errors")
        series = [_Series(m.run_label + (" (not converged)" if unconverged(m) else ""),
                          np.asarray(m.relative_errors, float), None, colour=colour,
                          hatch=NOT_CONVERGED_HATCH if unconverged(m) else None)
                  for m, colour in zip(d.methods, compare_colours(d)) if m.relative_errors.size]
        groups = groups_from_ids(d.groups) if d.groups is not None else groups_from_energies(d.reference_energies)
        title = f"{d.problem}: per-mode relative energy error of each method (reference: {d.reference_name or 'stored'})"
        if any(unconverged(m) for m in d.methods):
            title += "; hatched: grid baseline not converged (residual above its tol), not a trustworthy value"
        return series, groups, d.quantum_numbers, d.quantum_labels, title, False
    runs = [runs] if not isinstance(runs, (list, tuple)) else list(runs)
    if not runs:
        raise ValueError("no runs to plot")
    names = list(labels) if labels is not None else run_labels([r.path for r in runs])
    shifts = list(dict.fromkeys(float(r.spec.shift) for r in runs))
    of_energies = len(shifts) > 1  # errors of λ = s·(c − E) depend on the shift c: compare energies
    series, groups, qn, ql = [], None, None, ()
    for name, members, member_names in _pool_seeds(runs, names, labels is not None):
        for r in members:
            if "relative_error" not in r.metrics:
                raise ValueError(f"{r.path}: no reference, so no errors to plot")
        series.append(_series_of(name, members, member_names, of_energies=of_energies))
        r, m = members[0], members[0].metrics
        if groups is None:
            if "groups" in m:
                groups = groups_from_ids(m["groups"])
            elif r.reference_energies is not None:
                groups = groups_from_energies(r.reference_energies)
            qn, ql = r.quantum_numbers, r.quantum_labels
    spec = runs[0].spec
    title = (f"{spec.name}: per-mode relative eigenvalue error and angle distance"
             if len(runs) == 1 else f"{spec.name}: per-mode errors of {len(runs)} runs")
    if any(len(g) > 1 for g in groups or ()):  # only degenerate subspaces are shaded (none in 1D)
        title += ", shaded by degenerate subspace"
    if any(s.relative_range is not None for s in series):
        title += "; bars: mean over seeds, whiskers: min–max"
    if of_energies:
        title += (f"; the runs' shifts differ ({', '.join(f'{c:g}' for c in shifts)}): relative errors of the "
                  "energies E of H, since those of the eigenvalues λ of T depend on the shift")
    return series, groups or [], qn, ql, title, not of_energies


def _scored_metrics(run) -> dict:
    """A run's per-mode metrics, of the functions its method claims: the stored ones, except for
    a LoRA / NeuralEF / SpIN file written before ``/rotation`` was stored (its metrics are of the
    raw outputs: for LoRA an arbitrary rotation of the eigenfunctions), which is re-evaluated
    (:func:`nsvd_cli.evaluate.evaluate_model`: the Ritz functions, ordered by Ritz energy)."""
    if _method_of(run) == "nestedlora" or getattr(run, "rotation", None) is not None or run.path is None:
        return run.metrics
    from ..evaluate import evaluate_model
    from ..problem import Problem

    ev = evaluate_model(run.model, Problem.from_spec(run.spec))
    if ev.relative_errors is None:
        return run.metrics
    return {**run.metrics, "relative_error": ev.relative_errors, "angle_distance": ev.angle_distances,
            "summary": ev.summary(), "energies": ev.energies}


def energy_errors(run, metrics) -> np.ndarray:
    """Per-mode energy errors ``|E − E_ref| / max(|E_ref|, Δ)`` of a run (as ``nsvd compare``;
    Δ the reference's mean level spacing), shape (L,): independent of the shift c and scale s
    of T. NaN where the eigenvalue error is undefined (``λ_ref <= 0``: not learnable)."""
    from ..metrics import floored_relative_errors

    energies = np.asarray(metrics.get("energies", run.energies), float)
    out = floored_relative_errors(energies, np.asarray(run.reference_energies, float)[:energies.size])
    return np.where(np.isfinite(np.asarray(metrics["relative_error"], float)[:out.size]), out, np.nan)


def _series_of(name: str, members: list, member_names: list, *, of_energies: bool = False) -> _Series:
    """One bar series: a single run, or the mean and min–max range over several seeds; of the
    eigenvalues of T, or (``of_energies``) of the energies of H (:func:`energy_errors`)."""
    metrics = [_scored_metrics(r) for r in members]
    if of_energies:
        rel = [energy_errors(r, m) for r, m in zip(members, metrics)]
        mres = [float(np.nanmean(v)) if np.isfinite(v).any() else None for v in rel]
    else:
        rel = [np.asarray(m["relative_error"], float) for m in metrics]
        mres = [m.get("summary", {}).get("mean_relative_error") for m in metrics]
    ang = [np.asarray(m["angle_distance"], float) for m in metrics if "angle_distance" in m]
    mres = [v for v in mres if v is not None and np.isfinite(v)]
    if len(members) == 1:
        label = f"{name} (mean {100 * mres[0]:.3g} %)" if mres else name
        return _Series(label, rel[0], ang[0] if ang else None)
    rel_mean, rel_range = _pooled(rel)
    ang_mean, ang_range = _pooled(ang) if ang else (None, None)
    label = f"{name} ({_seeds_text(members, member_names)}" + (f"; mean {100 * np.mean(mres):.3g} ± {100 * np.std(mres):.2g} %)"
                                               if mres else ")")
    return _Series(label, rel_mean, ang_mean, rel_range, ang_range)


def _bars(ax, series, values_of, n_modes, *, mark_missing, ranges_of=lambda s: None):
    n = len(series)
    width = 0.8 / n
    x = np.arange(n_modes)
    any_exact = False
    for k, s in enumerate(series):
        v = values_of(s)
        if v is None:
            continue
        v = np.full(n_modes, np.nan) if v.size == 0 else np.pad(v.astype(float), (0, n_modes - v.size),
                                                               constant_values=np.nan)
        v, exact = split_exact(v)
        pos = x + (k - (n - 1) / 2) * width
        colour = s.colour if s.colour is not None else f"C{k % 10}"
        ax.bar(pos, v, width=width * 0.95, color=colour, label=s.label, zorder=2, hatch=s.hatch,
               edgecolor="0.25" if s.hatch else None, linewidth=0.5 if s.hatch else None)
        spread = ranges_of(s)
        if spread is not None:
            lo, hi = (np.pad(row, (0, n_modes - row.size), constant_values=np.nan) for row in spread)
            ok = np.isfinite(v) & np.isfinite(lo) & np.isfinite(hi)
            ax.errorbar(pos[ok], v[ok], yerr=[v[ok] - lo[ok], hi[ok] - v[ok]], fmt="none", ecolor="k",
                        elinewidth=0.8, capsize=2, zorder=3)
        if exact.any():
            mark_exact(ax, pos[exact], colour)
            any_exact = True
    ax.set_yscale("log", nonpositive="clip")  # bars start at 0: clip, not mask
    if any_exact:  # one legend entry for the markers of every series
        ax.plot([], [], "v", color="0.5", mec="k", mew=0.6, ls="", label=EXACT_LABEL)
    ax.grid(axis="y", which="major", color="0.85", lw=0.6, zorder=0)
    if mark_missing is not None:
        tr = blended_transform_factory(ax.transData, ax.transAxes)
        for i in np.flatnonzero(mark_missing):
            ax.text(i, 0.03, "λ≤0", transform=tr, rotation=90, ha="center", va="bottom", fontsize=8, color="0.4")


@styled
def errors_figure(runs, *, labels=None):
    """Per-mode relative eigenvalue error and angle distance, grouped by degenerate subspace.

    Parameters
    ----------
    runs : Results, sequence of Results, or CompareData
        One or several runs (bars side by side, one colour per run and method; the seeds of one
        run pooled into mean and min–max whiskers), or a compare file
        (one colour per method; relative errors only).
    labels : sequence of str, optional
        Legend labels of the runs (default: file stems).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If a run has no reference (so no errors).
    """
    series, groups, qn, ql, title, of_eigenvalues = _as_series(runs, labels)
    n_modes = max(max(s.relative.size for s in series), 1)
    has_angle = any(s.angle is not None and np.isfinite(s.angle).any() for s in series)
    width = max(7.0, 0.32 * n_modes * max(1.0, 0.55 * len(series)) + 2.5)
    height = 6.4 if has_angle else 4.2
    fig = new_figure(width, height)
    axs = fig.subplots(2 if has_angle else 1, 1, sharex=True, squeeze=False)[:, 0]
    missing = np.all([np.pad(~np.isfinite(s.relative), (0, n_modes - s.relative.size), constant_values=True)
                      for s in series], axis=0)
    _bars(axs[0], series, lambda s: s.relative, n_modes, mark_missing=missing, ranges_of=lambda s: s.relative_range)
    if of_eigenvalues:
        axs[0].set_ylabel("relative error of λ\n|λ − λ_ref| / λ_ref")
    else:
        axs[0].set_ylabel("relative error of E\n|E − E_ref| / max(|E_ref|, Δ)")
    if has_angle:
        _bars(axs[1], series, lambda s: s.angle, n_modes, mark_missing=None, ranges_of=lambda s: s.angle_range)
        axs[1].set_ylabel("angle distance\n(2/π)·arccos|⟨ψ, ψ_ref⟩|")
    for ax in axs:
        shade_groups(ax, groups)
        ax.set_xlim(-0.6, n_modes - 0.4)
    if qn is not None and not ql:  # a grid reference: quantum numbers are empty tuples, ticks are indices
        qn = None
    ticks = [f"{i + 1}" + (f"  {quantum_string(qn, i, with_labels=False)}".rstrip() if qn is not None else "")
             for i in range(n_modes)]
    axs[-1].set_xticks(np.arange(n_modes))
    axs[-1].set_xticklabels(ticks, rotation=60 if qn is not None else 0, ha="right" if qn is not None else "center",
                            rotation_mode="anchor", fontsize=8)
    axs[-1].set_xlabel("mode  (index" + (f", ({', '.join(ql)})" if ql else "") + ")")
    handles, names = axs[0].get_legend_handles_labels()
    _legend_within(fig, handles, names, ncols=min(len(series), 4))
    suptitle(fig, title, width)
    return fig


def _legend_within(fig, handles, names, *, ncols):
    """A figure legend below the axes with at most ``ncols`` columns, fewer when the row of long
    labels ("nestedlora: run (mean 1.82 %)", ...) would be wider than the figure (then it would be
    clipped on both sides in the saved file)."""
    for n in range(max(ncols, 1), 0, -1):
        legend = fig.legend(handles, names, loc="outside lower center", fontsize=9, ncols=n, frameon=False)
        if n == 1 or legend.get_window_extent(fig.canvas.get_renderer()).width <= 0.98 * fig.bbox.width:
            return legend
        legend.remove()
