"""Shared figure style and labels (private).

Figures are built with :class:`matplotlib.figure.Figure` and an explicit Agg canvas, never
through ``pyplot``: they render headless, and plotting does not change the backend of an
interactive session that imports :mod:`nsvd_cli.plotting`.
"""

from __future__ import annotations

import functools
import textwrap

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..metrics import degenerate_groups
from ..problem import Conventions
from ..files.hdf5 import decode_groups as groups_from_ids  # stored group ids -> index arrays

#: rcParams of every nsvd figure (readable at 100–150 dpi).
RC = {
    "font.size": 11,
    "axes.titlesize": 11,
    "axes.labelsize": 11,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.framealpha": 0.85,
    "figure.titlesize": 12,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.facecolor": "white",
}

#: Axis label of energies of H.
ENERGY_LABEL = "energy E of H  (H = −κ∇² + V)"

#: Colour map of signed functions and of signed matrices.
DIVERGING = "RdBu_r"


def eigenvalue_label(spec=None) -> str:
    """Axis label of eigenvalues of T, with the spec's scale and shift if known."""
    if spec is None:
        return "eigenvalue λ of T = s·(−H + c)"
    sign = "−" if spec.shift < 0 else "+"
    return f"eigenvalue λ of T = {spec.scale:g}·(−H {sign} {abs(spec.shift):g})"


def energy_axis(ax, spec):
    """A secondary y axis (right) showing energies E = c − λ/s for an eigenvalue axis."""
    conv = Conventions(float(spec.kinetic), float(spec.shift), float(spec.scale))
    sec = ax.secondary_yaxis("right", functions=(conv.energies_from_eigenvalues, conv.eigenvalues_from_energies))
    sec.set_ylabel(ENERGY_LABEL)
    return sec


def new_figure(width: float, height: float) -> Figure:
    """A constrained-layout figure (inches) attached to a headless Agg canvas."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def styled(func):
    """Build the figure under :data:`RC`."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(RC):
            fig = func(*args, **kwargs)
        return fig

    return wrapper


def suptitle(fig: Figure, text: str, width_in: float, fontsize: float = 12) -> None:
    """A figure title wrapped to the figure width."""
    chars = max(30, int(width_in * 72 / (0.55 * fontsize)))
    fig.suptitle("\n".join(textwrap.wrap(text, chars)), fontsize=fontsize)


def quantum_string(quantum_numbers, index: int, labels=(), *, with_labels: bool = True) -> str:
    """``"(n_1, n_2) = (1, 0)"`` (or ``"(1, 0)"``) for mode ``index``; ``""`` if unknown or
    if the problem has no quantum numbers (a grid reference: never ``"()"``)."""
    if quantum_numbers is None or index >= len(quantum_numbers):
        return ""
    numbers = np.atleast_1d(quantum_numbers[index])
    if numbers.size == 0:
        return ""
    values = "(" + ", ".join(str(int(v)) for v in numbers) + ")"
    if with_labels and labels:
        return "(" + ", ".join(labels) + ") = " + values
    return values


def groups_from_energies(energies, rtol: float = 1e-9) -> list:
    """Degenerate subspaces (consecutive index arrays) of ascending energies
    (:func:`nsvd_cli.metrics.degenerate_groups`)."""
    return degenerate_groups(energies, rtol)


def shade_groups(ax, groups, *, alpha: float = 0.07) -> None:
    """Shade the degenerate subspaces of two or more modes and draw thin separators at their edges.

    ``groups`` are consecutive index arrays (:func:`groups_from_energies`, :func:`groups_from_ids`).
    A group of one mode is a non-degenerate level: neither shaded nor separated (a 1D problem,
    whose levels are all simple, gets a plain axis). Two shaded subspaces in a row alternate
    between ``alpha`` and twice it, so that where one ends and the next begins stays visible.
    """
    shaded_last, strong = False, False
    for k, g in enumerate(groups):
        lo, hi = g[0] - 0.5, g[-1] + 0.5
        degenerate = len(g) > 1
        if degenerate:
            strong = not strong if shaded_last else False
            ax.axvspan(lo, hi, color="0.2", alpha=2 * alpha if strong else alpha, lw=0, zorder=0)
        if k > 0 and (degenerate or shaded_last):
            ax.axvline(lo, color="0.55", lw=0.7, ls=":", zorder=0.5)
        shaded_last = degenerate


#: Errors at or below this are exact (zero by construction, or at the rounding level): log
#: axes cannot show them, so they are marked explicitly (:func:`mark_exact`).
EXACT_LEVEL = 1e-13
EXACT_LABEL = "▼ exact (error 0 or ≤ 1e-13: by construction / rounding)"


def split_exact(values):
    """``(drawable, exact)``: the values with exact ones (finite, ``<= EXACT_LEVEL``) set to NaN, and
    the boolean mask of the exact ones."""
    v = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        exact = np.isfinite(v) & (v <= EXACT_LEVEL)
    return np.where(exact | ~(v > 0), np.nan, v), exact


def mark_exact(ax, x, colour, *, label: str | None = None) -> None:
    """Draw a ``▼`` at the bottom of a log axis at each ``x`` (data units) of an exact value."""
    from matplotlib.transforms import blended_transform_factory

    x = np.atleast_1d(np.asarray(x, dtype=float))
    if x.size == 0 and label is None:
        return
    tr = blended_transform_factory(ax.transData, ax.transAxes)
    ax.plot(x, np.full(x.size, 0.02), "v", transform=tr, color=colour, mec="k", mew=0.6, ms=8, ls="",
            clip_on=False, zorder=5, label=label)


def grid_family(m) -> str:
    """The grid solver of a compare file's grid record (``"eigsh"``, ...): one line in the resolution figure."""
    return m.method or m.label


def compare_colours(data) -> list:
    """One colour per record of a compare file (``data.methods`` order), shared by the
    resolution and errors figures so that a run has one colour in both.

    Grid solvers (sorted by name) take ``C0, C1, ...`` — one hue per solver, the resolution
    figure's lines — then the neural runs the next ones in table order. In the errors figure a
    solver's records at several grid sizes N are its hue lightened towards white for the
    coarser grids (the finest at full strength), so that bars of one solver stay one family.

    Returns
    -------
    list of RGB tuples, aligned with ``data.methods``.
    """
    from matplotlib.colors import to_rgb

    grid = [m for m in data.methods if m.kind == "grid"]
    families = sorted({grid_family(m) for m in grid})
    base = {f: np.array(to_rgb(f"C{k % 10}")) for k, f in enumerate(families)}
    colours, k_neural = [], len(families)
    for m in data.methods:
        if m.kind == "grid":
            sizes = sorted({g.grid for g in grid if grid_family(g) == grid_family(m)})
            rank = sizes.index(m.grid)
            t = 0.0 if len(sizes) < 2 else 0.6 * (1 - rank / (len(sizes) - 1))
            colours.append(tuple((1 - t) * base[grid_family(m)] + t))
        else:
            colours.append(to_rgb(f"C{k_neural % 10}"))
            k_neural += 1
    return colours


#: Hatching of the bars of a grid baseline that did not converge (residual above its tol).
NOT_CONVERGED_HATCH = "////"
