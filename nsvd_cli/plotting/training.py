"""Figure ``training``: loss and eigenvalue estimates vs iteration (log x).

Top: the NestedLoRA loss (``−loss`` on a log scale when the loss is negative throughout,
otherwise a symmetric-log scale) with the learning rate on the right axis. Middle: each
mode's eigenvalue estimate of T — running batch Rayleigh quotients (lines) and the periodic
quadrature evaluations (dots) — with the reference eigenvalues as dashed lines of the same
colour; the right axis gives energies of H. Bottom (if periodic evaluations with a reference
were recorded): mean and max relative error and mean subspace distance.
"""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import BoundaryNorm
from matplotlib.lines import Line2D

from ._style import eigenvalue_label, energy_axis, new_figure, styled, suptitle
from ._style import mark_exact, split_exact

__all__ = ["training_figure"]


def _ylim(ref, history_eigs):
    if ref is not None and np.isfinite(ref).all():
        lo, hi = float(np.min(ref)), float(np.max(ref))
    else:
        tail = history_eigs[len(history_eigs) // 2:]
        tail = tail[np.isfinite(tail)]
        if tail.size == 0:
            return None
        lo, hi = np.percentile(tail, [1, 99])
    span = max(hi - lo, 1e-3 * max(abs(hi), abs(lo), 1.0))
    return lo - 0.25 * span, hi + 0.25 * span


@styled
def training_figure(results):
    """Loss and per-mode eigenvalue estimates over training.

    Parameters
    ----------
    results : Results

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the results file has no training history.
    """
    spec, h = results.spec, results.history
    it = np.asarray(h.get("iteration", []), float)
    if it.size == 0:
        raise ValueError(f"{results.path}: no training history")
    ev = h.get("evaluation", {})
    has_err = "mean_relative_error" in ev and np.asarray(ev["iteration"]).size > 0
    width = 9.5
    fig = new_figure(width, 10.0 if has_err else 7.6)
    axs = fig.subplots(3 if has_err else 2, 1, sharex=True, height_ratios=[1, 2, 1] if has_err else [1, 2])
    keep = it > 0
    _loss_panel(axs[0], h, it, keep, getattr(spec.training, "method", "nestedlora"))
    n = _eigenvalue_panel(fig, axs[1], results, it, keep)
    if has_err:
        _error_panel(axs[2], ev)
    for a in axs:
        a.set_xscale("log")
    axs[-1].set_xlabel("iteration")
    suptitle(fig, f"{spec.name}: training history ({int(it.max())} iterations, {n} modes)", width)
    return fig


METHOD_NAMES = {"nestedlora": "NestedLoRA", "lora": "LoRA (unnested)", "neuralef": "NeuralEF", "spin": "SpIN"}


def _loss_panel(ax, h, it, keep, method: str = "nestedlora") -> None:
    """The training objective of ``method`` (``training.method``; log of −loss when negative, else
    symlog) and the learning rate."""
    loss = np.asarray(h["loss"], float)[keep]
    if np.all(loss < 0):
        ax.plot(it[keep], -loss, color="k", lw=1.2)
        ax.set_yscale("log")
        ax.set_ylabel("−loss")
    else:
        ax.plot(it[keep], loss, color="k", lw=1.2)
        ax.set_yscale("symlog", linthresh=max(1e-3, float(np.nanmedian(np.abs(loss))) * 1e-2))
        ax.set_ylabel("loss (symlog)")
    ax.set_title(f"{METHOD_NAMES.get(method, method)} objective", fontsize=10)
    if "learning_rate" in h and len(h["learning_rate"]) == len(it):
        lr_ax = ax.twinx()
        lr_ax.plot(it[keep], np.asarray(h["learning_rate"], float)[keep], color="tab:green", lw=1, alpha=0.8)
        lr_ax.set_ylabel("learning rate", color="tab:green")
        lr_ax.tick_params(axis="y", colors="tab:green", labelsize=8)
        lr_ax.spines["right"].set_visible(True)


def _eigenvalue_panel(fig, ax, results, it, keep) -> int:
    """Per-mode eigenvalue estimates (running mean, evaluations, reference); returns the mode count."""
    spec, h = results.spec, results.history
    ev = h.get("evaluation", {})
    eigs = np.asarray(h.get("eigenvalues", np.empty((0, 0))), float)
    n = eigs.shape[1] if eigs.ndim == 2 and eigs.size else len(results.eigenvalues)
    cmap = colormaps["viridis"]
    colours = [cmap(k / max(n - 1, 1) * 0.9) for k in range(n)]
    ref = results.reference_eigenvalues
    if eigs.size:
        for k in range(n):
            ax.plot(it[keep], eigs[keep, k], color=colours[k], lw=1.0, alpha=0.9)
    if "eigenvalues" in ev and np.asarray(ev["eigenvalues"]).size:
        e_it, e_val = np.asarray(ev["iteration"], float), np.asarray(ev["eigenvalues"], float)
        for k in range(min(n, e_val.shape[1])):
            ax.plot(e_it, e_val[:, k], "o", color=colours[k], ms=4, mec="k", mew=0.4, zorder=3)
    if ref is not None:
        for k in range(min(n, len(ref))):
            ax.axhline(ref[k], color=colours[k], ls="--", lw=0.9, alpha=0.9)
    lim = _ylim(ref, eigs if eigs.size else np.asarray(results.eigenvalues)[None])
    if lim:
        ax.set_ylim(*lim)
    ax.set_ylabel(eigenvalue_label(spec))
    energy_axis(ax, spec)
    handles = [Line2D([], [], color="0.3", lw=1.2, label="batch Rayleigh quotient (running mean)"),
               Line2D([], [], color="0.3", marker="o", ls="", ms=4, mec="k", mew=0.4,
                      label="evaluation (quadrature)")]
    if ref is not None:
        handles.append(Line2D([], [], color="0.3", ls="--", lw=0.9, label="reference"))
    ax.legend(handles=handles, loc="lower right", fontsize=8)
    bounds = np.arange(n + 1) + 0.5
    sm = ScalarMappable(norm=BoundaryNorm(bounds, n), cmap=colormaps["viridis"].resampled(n) if n > 1 else cmap)
    cb = fig.colorbar(sm, ax=ax, pad=0.01, aspect=30)
    cb.set_label("mode l")
    step = max(1, int(np.ceil(n / 12)))
    cb.set_ticks(np.arange(1, n + 1, step))
    ax.set_title("eigenvalue estimates per mode", fontsize=10)
    return n


def _error_panel(ax, ev) -> None:
    """Errors at the evaluations (log scale; exact zeros marked at the bottom)."""
    e_it = np.asarray(ev["iteration"], float)
    for key, style, name in (("mean_relative_error", "o-", "mean relative error"),
                             ("max_relative_error", "s--", "max relative error"),
                             ("mean_subspace_distance", "^:", "mean subspace distance")):
        if key in ev:
            v, exact = split_exact(ev[key])
            line = ax.plot(e_it, v, style, ms=4, label=name)[0]
            if exact.any():
                mark_exact(ax, e_it[exact], line.get_color(), label=f"{name}: exact")
    ax.set_yscale("log", nonpositive="mask")
    ax.set_ylabel("error at evaluations")
    ax.legend(loc="best", fontsize=8)
    ax.grid(axis="y", color="0.88", lw=0.6)
