"""Figure ``orthogonality``: the normalised Gram matrix of the learned functions (paper Fig. 3, right).

``C_ll' = ⟨ψ_l, ψ_l'⟩ / (‖ψ_l‖ ‖ψ_l'‖)`` on the spec's evaluation rule, as stored in the
results file. Left: C on a linear scale [−1, 1] (the identity for orthogonal functions);
right: ``|C − I|`` on a log scale, where small departures from orthogonality show.
Degenerate subspaces of the reference are outlined. The colour scale of ``|C − I|`` spans the
off-diagonal values drawn (rounding-level ones included). For LoRA and SpIN runs, whose
scored functions are orthonormal by construction
(:data:`nsvd_cli.methods.ORTHOGONAL_BY_CONSTRUCTION`: the Rayleigh–Ritz rotation, the Cholesky
factor), the title says so: their C says nothing about the training (as ``nsvd compare``'s ``*``).
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.patches import Rectangle

from ._style import DIVERGING, groups_from_ids, new_figure, styled, suptitle

__all__ = ["orthogonality_figure"]


def _outline(ax, groups, colour="k"):
    for g in groups:
        if len(g) > 1:
            ax.add_patch(Rectangle((g[0] - 0.5, g[0] - 0.5), len(g), len(g), fill=False, ec=colour, lw=1.0))


def _by_construction_note(results) -> str:
    """The caveat for methods whose scored functions are orthonormal by construction ("" else)."""
    from ..methods import ORTHOGONAL_BY_CONSTRUCTION

    method = getattr(getattr(results.spec, "training", None), "method", "nestedlora")
    if not ORTHOGONAL_BY_CONSTRUCTION.get(method, False):
        return ""
    how = {"lora": "the evaluation's Rayleigh–Ritz rotation", "spin": "the Cholesky factor"}.get(method,
                                                                                                  "construction")
    return (f". {method}: orthonormal by construction ({how}), so C says nothing about the training")


@styled
def orthogonality_figure(results):
    """Heatmaps of the learned normalised Gram matrix and of its departure from the identity.

    Parameters
    ----------
    results : Results

    Returns
    -------
    matplotlib.figure.Figure
        Left: C on [−1, 1]; right: the off-diagonal ``|C − I|`` on a log colour scale from its
        smallest to its largest non-zero value (exact zeros and the diagonal blank). The title
        carries the caveat of :data:`nsvd_cli.methods.ORTHOGONAL_BY_CONSTRUCTION` methods.
    """
    c = np.asarray(results.metrics["gram"], float)
    n = c.shape[0]
    groups = groups_from_ids(results.metrics["groups"]) if "groups" in results.metrics else []
    width, height = 11.5, 5.4
    fig = new_figure(width, height)
    ax1, ax2 = fig.subplots(1, 2)
    im1 = ax1.imshow(c, cmap=DIVERGING, vmin=-1, vmax=1, interpolation="nearest")
    fig.colorbar(im1, ax=ax1, shrink=0.85, label="C_ll'  (normalised overlap)")
    dev = np.abs(c - np.eye(n))
    off = ~np.eye(n, dtype=bool)
    positive = dev[off & (dev > 0) & np.isfinite(dev)]
    lo = float(positive.min()) if positive.size else 1e-6  # the colours span every drawn value
    hi = max(float(positive.max()) if positive.size else 1.0, lo * 10)
    shown = np.where(off & (dev > 0), dev, np.nan)  # the diagonal is 1 by construction: left blank
    im2 = ax2.imshow(shown, cmap="magma_r", norm=LogNorm(vmin=lo, vmax=hi), interpolation="nearest")
    fig.colorbar(im2, ax=ax2, shrink=0.85, label="|C − I|  (log scale)")
    if n <= 10:
        for i in range(n):
            for j in range(n):
                ax1.text(j, i, f"{c[i, j]:.2f}", ha="center", va="center", fontsize=7,
                         color="w" if abs(c[i, j]) > 0.6 else "k")
    step = 1 if n <= 20 else int(np.ceil(n / 20))
    for ax, colour in ((ax1, "k"), (ax2, "tab:cyan")):
        _outline(ax, groups, colour)
        ax.set_xticks(np.arange(0, n, step))
        ax.set_xticklabels([str(i + 1) for i in range(0, n, step)])
        ax.set_yticks(np.arange(0, n, step))
        ax.set_yticklabels([str(i + 1) for i in range(0, n, step)])
        ax.set_xlabel("mode l'")
        ax.set_ylabel("mode l")
        ax.spines[["top", "right"]].set_visible(True)
    s = results.metrics.get("summary", {})
    ax1.set_title("normalised Gram matrix C")
    ax2.set_title("departure from orthogonality |C − I|")
    extra = ""
    if "orthogonality" in s:
        extra = (f"; orthogonality (1/L²)Σ(C − I)² = {s['orthogonality']:.2e}, max off-diagonal |C| = "
                 f"{s.get('max_off_diagonal', float('nan')):.3f}" + (" (over modes with λ_ref > 0)"
                                                                      if "mean_relative_error" in s else ""))
    suptitle(fig, f"{results.spec.name}: overlaps of the {n} learned eigenfunctions on the evaluation rule"
                  f"{extra}; degenerate subspaces outlined{_by_construction_note(results)}", width)
    return fig
