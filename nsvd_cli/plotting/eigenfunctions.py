"""Figure ``eigenfunctions``: learned eigenfunctions above the reference ones (paper Fig. 3).

The learned functions are evaluated from the stored weights (no retraining), unit-normalised
(``Results.eigenfunctions``) and, within each degenerate subspace of the reference, rotated
onto the reference functions by orthogonal Procrustes on the plotting grid (uniform weights):
inside a multiplet any orthonormal basis is correct, so only the aligned functions can be
compared. Non-degenerate modes are only flipped in sign.

* D = 2: heatmaps, learned above reference, one symmetric colour scale per mode.
* D = 1: line plots, learned (solid) and reference (dashed).
* D >= 3: heatmaps of the 2D slice through the origin spanned by the axes ``slice_axes``
  (other coordinates 0). Alignment then uses the slice values.

Plotting window: ``extent`` (half-width, centred at the origin) if given; otherwise a window
inside the spec's evaluation box that holds, per axis, 99.5 % of the marginal density
``|psi_l|^2`` of every mode (hence >= 99 % of each mode's probability), from the reference
functions when the problem has a closed-form reference, else from the learned positive
modes; 5 % margin, rounded up to a round number. For harmonic2d (15 modes) this is
[-4, 4]^2; for hydrogen2d (box [-100, 100]^2, 16 modes) [-70, 70]^2: the n = 3 shell
reaches r ~ 60 and the inner shells are small there; ``--extent 20`` shows n <= 1.
"""

from __future__ import annotations

import math

import numpy as np

from .. import metrics
from ._style import DIVERGING, new_figure, quantum_string, styled, suptitle

__all__ = ["eigenfunctions_figure", "plot_window", "reference_of", "extent_warning"]

#: Mass that the automatic window keeps per axis (marginal), for every mode.
WINDOW_MASS = 0.995
#: An ``extent`` more than this many times the evaluation box's reach from the origin is warned about.
FAR_EXTENT = 2.0


def extent_warning(spec, extent) -> str | None:
    """One line when a plotting half-width ``extent`` reaches far beyond the evaluation box
    (more than :data:`FAR_EXTENT` times its largest ``|bound|``), else None.

    Outside the box the learned functions are extrapolations (docs/bounds.md, "Which
    functions"), and a window that wide draws the modes, concentrated in the box, as a few
    pixels or not at all (``--extent 1e9`` on the box [-5, 5]: a blank figure).
    """
    if extent is None:
        return None
    reach = max(abs(float(b)) for lo_hi in spec.evaluation.box for b in lo_hi)
    if not extent > FAR_EXTENT * reach:
        return None
    box = ", ".join(f"[{lo:g}, {hi:g}]" for lo, hi in dict.fromkeys(tuple(map(float, b)) for b in spec.evaluation.box))
    return (f"--extent {extent:g} reaches far beyond the evaluation box {box} of {spec.name}: the functions are "
            "extrapolations there (docs/bounds.md, 'Which functions') and the modes shrink to a few pixels or "
            "vanish; try --extent " + f"{reach:g}")


def reference_of(results):
    """The closed-form reference of a run's spec with eigenfunctions, or None.

    Never solves anything: a problem whose reference is a grid solution gets None (results
    files store reference energies, not reference eigenfunctions), and the figure then
    shows the learned functions only and says so.
    """
    if results.reference_energies is None:
        return None
    try:
        from ..problem import Problem

        ref = Problem.from_spec(results.spec).closed_form_reference
        if ref is None or len(ref.energies) != len(results.energies):
            return None
        ref.eigenfunctions(np.zeros((1, results.spec.dimension)))
        return ref
    except (NotImplementedError, AttributeError, ValueError):
        return None


def _no_reference_text(results, symbol: str) -> str:
    """Title words for a figure without reference functions, saying why they are missing."""
    learned = f"learned eigenfunctions {symbol}".rstrip()
    if results.reference_energies is not None:  # a grid reference: energies stored, functions not
        return f"{learned} only (the file stores the reference energies, not its eigenfunctions)"
    return f"{learned} (no reference known)"


def _nice_ceil(x: float) -> float:
    """Round up to 1, 1.2, 1.5, 2, 2.5, 3, 3.5, 4, 5, 6, 7, 8 times a power of ten."""
    if not np.isfinite(x) or x <= 0:
        return 1.0
    p = 10.0 ** math.floor(math.log10(x))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 3.5, 4, 5, 6, 7, 8, 10):
        if m * p >= x * (1 - 1e-12):
            return m * p
    return 10 * p  # pragma: no cover


def _slice_points(axes_values, axes, dimension):
    """Points (N, D) of the tensor grid of ``axes_values`` on ``axes``, other coordinates 0."""
    mesh = np.meshgrid(*axes_values, indexing="xy")
    pts = np.zeros((mesh[0].size, dimension))
    for a, m in zip(axes, mesh):
        pts[:, a] = m.ravel()
    return pts


def plot_window(spec, functions, axes, *, extent=None, points: int = 301):
    """The plotting window ``[(lo, hi), ...]`` on the plotted ``axes``.

    Parameters
    ----------
    spec : ProblemSpec
    functions : callable
        ``x (N, D) -> (N, L)`` values whose densities define the automatic window.
    axes : tuple of int
        The plotted axes (one for D = 1, two otherwise).
    extent : float, optional
        Half-width of a window centred at the origin (overrides the automatic choice).
    points : int
        Grid points per axis of the automatic search.

    Returns
    -------
    list of (float, float)
    """
    box = [tuple(map(float, spec.evaluation.box[a])) for a in axes]
    if extent is not None:
        if not extent > 0:
            raise ValueError(f"extent must be > 0, got {extent}")
        return [(-float(extent), float(extent)) for _ in axes]
    grids = [np.linspace(lo, hi, points) for lo, hi in box]
    vals = np.asarray(functions(_slice_points(grids, axes, spec.dimension)), np.float64)
    dens = (vals ** 2).reshape(*(len(g) for g in grids[::-1]), -1)  # (y, x, L) or (x, L)
    window = []
    for k, (lo, hi) in enumerate(box):
        centre, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
        # marginal along plotted axis k: sum over the other grid axis
        axis_in_array = len(grids) - 1 - k
        marg = dens.sum(axis=tuple(i for i in range(len(grids)) if i != axis_in_array))  # (P, L)
        total = marg.sum(axis=0)
        keep = total > 1e-12 * max(total.max(), 1e-300)
        if not keep.any():
            window.append((lo, hi))
            continue
        marg = marg[:, keep] / total[keep]
        dist = np.abs(grids[k] - centre)
        order = np.argsort(dist, kind="stable")
        cum = np.cumsum(marg[order], axis=0)
        idx = np.minimum(np.argmax(cum >= WINDOW_MASS, axis=0), len(order) - 1)
        h = _nice_ceil(float(dist[order][idx].max()) * 1.05)
        h = min(h, half)
        window.append((centre - h, centre + h))
    return window


def _align(learned, reference, groups):
    out = learned.copy()
    for g in groups:
        g = np.asarray(g)
        out[:, g] = learned[:, g] @ metrics.procrustes_rotation(learned[:, g], reference[:, g])
    return out


def _parse_axes(slice_axes, dimension):
    if dimension == 1:
        return (0,)
    axes = tuple(int(a) for a in (slice_axes if slice_axes is not None else (0, 1)))
    if len(axes) != 2 or axes[0] == axes[1] or not all(0 <= a < dimension for a in axes):
        raise ValueError(f"slice axes must be two different axes in 0..{dimension - 1}, got {slice_axes}")
    return axes


#: Characters of a panel title line (a 2.75-inch panel at 10 pt).
TITLE_CHARS = 34
#: A mode whose largest value on the slice is below this fraction of the largest of all modes
#: vanishes there (odd in an axis held at 0): drawn blank, on the common scale, and said so.
SLICE_ZERO = 1e-6


@styled
def eigenfunctions_figure(results, *, extent=None, slice_axes=None, points: int = 161, columns=None):
    """Learned vs reference eigenfunctions after Procrustes alignment.

    Parameters
    ----------
    results : Results
        A run read by :func:`nsvd_cli.load`.
    extent : float, optional
        Half-width of the plotting window, centred at the origin (default: automatic, see
        the module docstring).
    slice_axes : tuple of two int, optional
        For D >= 3, the axes of the slice through the origin (default (0, 1)).
    points : int
        Plotting grid points per axis.
    columns : int, optional
        Modes per row (default 5 or 4, whichever leaves fewer empty panels).

    Returns
    -------
    matplotlib.figure.Figure
    """
    spec = results.spec
    axes = _parse_axes(slice_axes, spec.dimension)
    n_modes = len(results.energies)
    window, grids, learned, reference, groups = _sample(results, axes, extent, points)
    if columns:
        ncols = max(1, min(int(columns), n_modes))
    else:  # 5 or 4 per row, whichever leaves fewer empty panels
        candidates = [c for c in (5, 4) if c <= n_modes] or [n_modes]
        ncols = min(candidates, key=lambda c: (math.ceil(n_modes / c) * c - n_modes, -c))
    mode_rows = math.ceil(n_modes / ncols)
    positive = np.asarray(results.metrics.get("positive", np.nan_to_num(results.norm_eigenvalues, nan=1.0) > 0),
                          bool)  # NaN norm estimate (NeuralEF, SpIN): every mode is learned

    # "(n_1, ..., n_6) = (1, 0, 0, 0, 0, 0)" is wider than a panel: beyond TITLE_CHARS the
    # panels show the numbers alone and the figure title names the labels once.
    labelled = [quantum_string(results.quantum_numbers, i, results.quantum_labels) for i in range(n_modes)]
    short = all(len(q) <= TITLE_CHARS - 6 for q in labelled)

    def header(i):
        q = labelled[i] if short else quantum_string(results.quantum_numbers, i, results.quantum_labels,
                                                     with_labels=False)
        flag = "  [λ ≤ 0]" if not positive[i] else ""
        return f"#{i + 1}  {q}{flag}".rstrip()

    header.legend = "" if short or not results.quantum_labels else \
        "; quantum numbers (" + ", ".join(results.quantum_labels) + ")"

    if spec.dimension == 1:
        return _line_figure(results, grids[0], learned, reference, ncols, mode_rows, header, window)
    return _image_figure(results, window, grids, axes, learned, reference, ncols, mode_rows, header)


def _sample(results, axes, extent, points):
    """(window, grids, learned, reference, groups): the plotting window and both sets of
    functions on the slice through it, learned ones Procrustes-aligned to the reference."""
    spec = results.spec
    ref = reference_of(results)
    if ref is not None:
        window_fn = ref.eigenfunctions
    else:
        keep = np.flatnonzero(np.nan_to_num(results.norm_eigenvalues, nan=1.0) > 0)  # NaN: NeuralEF, SpIN
        window_fn = (lambda x: results.eigenfunctions(x)[:, keep]) if keep.size else None
    window = plot_window(spec, window_fn, axes, extent=extent) if (window_fn is not None or extent is not None) else \
        [tuple(map(float, spec.evaluation.box[a])) for a in axes]
    grids = [np.linspace(lo, hi, points) for lo, hi in window]
    pts = _slice_points(grids, axes, spec.dimension)
    learned = np.asarray(results.eigenfunctions(pts), np.float64)
    reference = None
    if ref is not None:
        reference = np.asarray(ref.eigenfunctions(pts), np.float64)
        learned = _align(learned, reference, ref.groups)
    return window, grids, learned, reference, None if ref is None else ref.groups


def _image_figure(results, window, grids, axes, learned, reference, ncols, mode_rows, header):
    spec, n_modes, dim = results.spec, learned.shape[1], results.spec.dimension
    ref_e = results.reference_energies
    rows_per_mode = 2 if reference is not None else 1
    width, height = 2.75 * ncols + 0.3, (2.45 if reference is not None else 2.6) * rows_per_mode * mode_rows + 0.9
    fig = new_figure(width, height)
    axs = fig.subplots(rows_per_mode * mode_rows, ncols, squeeze=False, sharex=True, sharey=True)
    ext = (window[0][0], window[0][1], window[1][0], window[1][1])
    everything = [learned] + ([reference] if reference is not None else [])
    overall = max(float(np.nanmax(np.abs(a))) for a in everything) if learned.size else 1.0
    ratio = (ext[3] - ext[2]) / (ext[1] - ext[0])
    aspect = "equal" if 0.5 <= ratio <= 2 else "auto"
    shape = (len(grids[1]), len(grids[0]))
    for i in range(n_modes):
        r, c = divmod(i, ncols)
        top = axs[r * rows_per_mode, c]
        pair = [top] + ([axs[r * rows_per_mode + 1, c]] if reference is not None else [])
        images = [learned[:, i]] + ([reference[:, i]] if reference is not None else [])
        peaks = [float(np.max(np.abs(im))) for im in images]
        zero = [not p > SLICE_ZERO * overall for p in peaks]  # odd in an axis held at 0: rounding noise only
        drawn = [p for p, z in zip(peaks, zero) if not z and np.isfinite(p)]
        vmax = max(drawn) if drawn else overall  # a vanishing panel on the other's scale (or the common one)
        vmax = vmax if vmax > 0 and np.isfinite(vmax) else 1.0
        for ax, values in zip(pair, images):
            mappable = ax.imshow(values.reshape(shape), origin="lower", extent=ext, cmap=DIVERGING,
                                 vmin=-vmax, vmax=vmax, aspect=aspect, interpolation="bilinear")
        where = "on slice" if dim > 2 else "in window"  # D = 2: nothing is sliced, the window is all there is
        notes = [f" (≈0 {where})" if z else "" for z in zero]  # each panel on its own
        top.set_title(f"{header(i)}\nlearned  E = {results.energies[i]:.5g}{notes[0]}", fontsize=10)
        if reference is not None:
            pair[1].set_title(f"reference  E = {ref_e[i]:.5g}{notes[1]}", fontsize=10)
        cb = fig.colorbar(mappable, ax=pair, shrink=0.85, aspect=25 * len(pair), pad=0.02)
        cb.set_ticks([-vmax, 0, vmax])
        cb.ax.set_yticklabels([f"{-vmax:.2g}", "0", f"{vmax:.2g}"], fontsize=8)
    for k in range(n_modes, mode_rows * ncols):
        r, c = divmod(k, ncols)
        for j in range(rows_per_mode):
            axs[r * rows_per_mode + j, c].set_visible(False)
    for row in axs:
        for ax in row:
            ax.tick_params(labelsize=8)
    for c in range(ncols):
        last = (mode_rows - 1) * rows_per_mode + rows_per_mode - 1
        if (mode_rows - 1) * ncols + c >= n_modes:
            last -= rows_per_mode
        axs[last, c].set_xlabel(f"$x_{{{axes[0]}}}$")  # the spec's names (x0, x1, ...), as --slice counts
        axs[last, c].xaxis.set_tick_params(labelbottom=True)
    for r in range(axs.shape[0]):
        axs[r, 0].set_ylabel(f"$x_{{{axes[1]}}}$")
    what = "learned eigenfunctions ψ (top) vs reference (bottom), aligned by orthogonal Procrustes within " \
           "each degenerate subspace" if reference is not None else _no_reference_text(results, "ψ")
    where = ""
    if dim > 2:
        others = [f"$x_{{{a}}}$" for a in range(dim) if a not in axes]
        where = f"; slice {', '.join(others)} = 0"
    suptitle(fig, f"{spec.name}: {what}; unit-normalised, symmetric colour scale per mode; "
                  f"E = energy of H = −κ∇² + V (κ = {spec.kinetic:g}){where}{header.legend}", width)
    return fig


def _line_figure(results, x, learned, reference, ncols, mode_rows, header, window):
    spec = results.spec
    width, height = 3.0 * ncols + 0.3, 2.5 * mode_rows + 0.9
    fig = new_figure(width, height)
    axs = fig.subplots(mode_rows, ncols, squeeze=False, sharex=True)
    for i in range(learned.shape[1]):
        ax = axs[divmod(i, ncols)]
        ax.axhline(0, color="0.7", lw=0.6)
        ax.plot(x, learned[:, i], color="C0", lw=1.8, label="learned")
        if reference is not None:
            ax.plot(x, reference[:, i], color="k", lw=1.2, ls="--", label="reference")
        e = f"E = {results.energies[i]:.5g}"
        if results.reference_energies is not None:
            e += f" (ref. {results.reference_energies[i]:.5g})"
        ax.set_title(f"{header(i)}\n{e}", fontsize=10)
        ax.set_xlim(*window[0])
        ax.tick_params(labelsize=8)
    for k in range(learned.shape[1], mode_rows * ncols):
        axs[divmod(k, ncols)].set_visible(False)
    for c in range(ncols):
        last = mode_rows - 1 if (mode_rows - 1) * ncols + c < learned.shape[1] else mode_rows - 2
        axs[last, c].set_xlabel("x")
        axs[last, c].xaxis.set_tick_params(labelbottom=True)
    for ax in axs[:, 0]:
        ax.set_ylabel("ψ(x)")
    axs[0, 0].legend(loc="best", fontsize=8)
    what = "learned (solid) vs reference (dashed), aligned within degenerate subspaces" if reference is not None \
        else _no_reference_text(results, "")
    suptitle(fig, f"{spec.name}: {what}; unit-normalised; E = energy of H = −κ∇² + V (κ = {spec.kinetic:g})"
                  f"{header.legend}", width)
    return fig
