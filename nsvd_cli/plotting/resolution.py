"""Figure ``resolution`` (from a compare file): grid baselines vs grid size (paper Fig. 6 style).

Left: each grid baseline's stored mean relative energy error (floored: the mean of
``|E − E_ref| / max(|E_ref|, Δ)``, Δ the reference's mean level spacing) vs grid points per
axis N; right: its wall time (log–log). The neural runs in the same file (NestedLoRA, LoRA,
NeuralEF, SpIN), which have no grid, are horizontal lines labelled with file, method and seed.
Colours are those of the errors figure of the same file (:func:`._style.compare_colours`).
Runs that did not converge are drawn with open markers; exact errors (0, or at the rounding
level ``<= 1e-13``), which a log axis cannot show, as ``▼`` at the bottom of the axis.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

from ._style import EXACT_LABEL, compare_colours, grid_family, mark_exact, new_figure, split_exact, styled, suptitle

__all__ = ["resolution_figure"]

_MARKERS = {"eigsh": "o", "lobpcg": "s", "dense": "D"}


@styled
def resolution_figure(data):
    """Mean relative error and wall time of the grid baselines vs grid size.

    Parameters
    ----------
    data : CompareData
        A compare file read by :func:`nsvd_cli.files.compare.load_compare`.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the file has no grid baselines.
    """
    grid = [m for m in data.grid_methods if m.grid > 0]
    if not grid:
        raise ValueError(f"{data.path}: no grid baselines in the compare file (resolution needs grid baselines)")
    by_method = defaultdict(list)
    for m in grid:
        by_method[grid_family(m)].append(m)
    colours = compare_colours(data)
    colour_of = {id(m): c for m, c in zip(data.methods, colours)}
    width, height = 12.0, 5.0
    fig = new_figure(width, height)
    ax_err, ax_time = fig.subplots(1, 2, sharex=True)
    all_n = sorted({m.grid for m in grid})
    any_exact = False
    for name, ms in sorted(by_method.items()):
        ms = sorted(ms, key=lambda m: m.grid)
        n = np.array([m.grid for m in ms], float)
        colour, marker = colour_of[id(ms[-1])], _MARKERS.get(name, "o")  # the finest grid's: full strength
        for ax, vals in ((ax_err, [m.mean_relative_error for m in ms]), (ax_time, [m.wall_time for m in ms])):
            v, exact = split_exact(vals)
            ax.plot(n, v, "-" + marker, color=colour, lw=1.3, ms=7, label=name)
            if exact.any():
                mark_exact(ax, n[exact], colour)
                any_exact = True
            conv = np.array([m.converged for m in ms], bool)
            if (~conv).any():
                ax.plot(n[~conv], v[~conv], marker, mfc="white", mec=colour, mew=1.5, ms=7, ls="")
    any_exact |= _neural_lines(ax_err, ax_time, data.neural_methods, colour_of)
    for ax in (ax_err, ax_time):
        ax.set_xscale("log")
        ax.set_yscale("log", nonpositive="mask")
        ax.xaxis.set_major_locator(FixedLocator(all_n))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("grid points per axis N")
        ax.grid(which="major", color="0.88", lw=0.6)
    if any(not m.converged for m in grid):
        ax_err.plot([], [], "o", mfc="white", mec="0.3", ls="", label="not converged")
    if any_exact:
        ax_err.plot([], [], "v", color="0.5", mec="k", mew=0.6, ls="", label=EXACT_LABEL)
    ax_err.set_ylabel("mean relative error of E")
    ax_err.set_title("accuracy vs resolution")
    ax_time.set_ylabel("wall time (s)")
    ax_time.set_title("cost vs resolution")
    ax_err.legend(loc="best", fontsize=8)
    ax_time.legend(loc="best", fontsize=8)
    ref = f" (reference: {data.reference_name})" if data.reference_name else ""
    lines = ""  # only when there are some, named by their training methods
    if data.neural_methods:
        # training_method "": a file written before issue 14, when every neural run was NestedLoRA
        methods = list(dict.fromkeys(m.training_method or "nestedlora" for m in data.neural_methods))
        lines = f"; neural runs ({', '.join(methods)}) as horizontal lines"
    suptitle(fig, f"{data.problem}: grid baselines vs grid size N{ref}{lines}", width)
    return fig


def _neural_lines(ax_err, ax_time, neural, colour_of) -> bool:
    """Each neural run's mean relative error and wall time as horizontal lines, labelled with its
    file, method and seed (``run_label``); whether an exact error was marked."""
    styles = ["--", "-.", ":", (0, (5, 1, 1, 1))]
    any_exact = False
    for k, m in enumerate(neural):
        ls = styles[k % len(styles)]
        colour, label = colour_of[id(m)], m.run_label  # "h.h5 (lora, seed 0)"
        if split_exact([m.mean_relative_error])[1][0]:
            mark_exact(ax_err, [], colour, label=f"{label}: exact")
            any_exact = True
        elif np.isfinite(m.mean_relative_error) and m.mean_relative_error > 0:
            ax_err.axhline(m.mean_relative_error, color=colour, ls=ls, lw=1.5, label=label)
        if np.isfinite(m.wall_time) and m.wall_time > 0:
            ax_time.axhline(m.wall_time, color=colour, ls=ls, lw=1.5, label=label)
    return any_exact
