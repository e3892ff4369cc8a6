"""Does the training distribution cover every well a wanted state can live in? (a check before training)

NestedLoRA sees the operator only through samples of p_tr (App. D.3): where p_tr is ~0 the
loss sees almost nothing and a state localised there is not learned. The learned modes then
converge to the *other* states, each passes its convergence check, and their energies are
matched with the wrong reference levels — nothing fails. A new-user trial found it:
``V = x² − 26 exp(−(x−5)²/1.28)``, shift 6, Gaussian sampling of std 1.2 on [−5, 8]. The levels
are 0.99964, 1.73199 (a state in the side well at x ≈ 5), 2.99629, 4.97754; the sampling
density at x = 5 is 1.7e-4 of its peak; the network never learned the side-well state, all
three modes were judged converged and their intervals labelled with the wrong levels.

What is judged: the **wells** of V below the shift. An eigenstate of ``H = −κ∇² + V`` with
energy E lives in the classically allowed region {V < E}, and only ``E < shift`` gives a
positive eigenvalue of ``T = s (shift − H)``; the lowest states collect at the bottoms of the
wells. So every local minimum of V (on a fine grid over ``evaluation.box``) with
``V < shift`` is a place a wanted state can be localised, and the sampling density there,
relative to its maximum over the whole allowed region {V < shift}, is the coverage. The
allowed region itself is not judged point by point: for a Coulomb potential ``V = −Z/r`` with
shift 0 it is all of space, far beyond where the wanted states live (``hydrogen2d --preset
paper``, std 16: the density at the box corner is 1e-17 of its peak, yet nothing is missing),
while its only well is at the nucleus, where the density peaks.

A local minimum counts as a well only if it is the lowest V within the width
``σ_i = (2κ/k_i)^(1/4)`` of the harmonic ground state its own curvature ``k_i`` would hold
(per axis; the deepest minimum always counts): a ripple on a slope (``x² + 0.5 sin 20x``, 29
minima out to |x| = 4.4 where the density is 5.7e-5 of its peak) holds no state of its own —
its ground state would spill down the slope — while the trial's side well (σ = 0.47, V rising
on both sides within it) does. This is cheaper and less biased than comparing ``V_m`` plus the
harmonic zero-point energy with the shift (tried first): that overestimates the zero-point
energy of wells that widen upwards (Gaussian, Coulomb), dropped a soft Coulomb centre on the
grid and kept the trial's side well by a margin of 3.6 only (V_m + E_zp = 2.4, shift 6).

The coverage is measured on a uniform grid of about :data:`GRID_NODES` nodes over the
evaluation box (the box, not the rule's nodes: a Monte Carlo rule has no neighbours and a
polar rule no tensor structure), interior nodes whose V is at most that of their 2·D axis
neighbours being the local minima (a flat floor, e.g. a box potential, makes every node one;
uniform sampling then gives ratio 1). Wells narrower than the grid spacing can be missed.
Problems of dimension above :data:`MAX_DIMENSION` are not judged (a grid of 10⁵ nodes has
fewer than 10 per axis there). Cost: one evaluation of V and of log p_tr on the grid, 1–40 ms
(2D: ~15 ms).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Coverage", "well_coverage", "coverage_warning", "COVERAGE_MIN", "GRID_NODES", "MAX_DIMENSION",
           "CANDIDATES"]

#: Warn when p_tr at the bottom of a well below the shift is less than this fraction of its
#: maximum over {V < shift}. Measured: every built-in problem and preset (D <= 4), the docs' and
#: bench/user_specs' specs are at ratio 1 except bench's doublewell1d (0.61, wells at ±1.5
#: under std 1.5); the trial's side well is at 3.9e-4 (its bottom x = 4.75; 1.7e-4 at x = 5).
#: 1e-2 sits near their geometric mean, a factor 60 from the one and 25 from the other.
COVERAGE_MIN = 1e-2
#: Nodes of the grid over the evaluation box (``round(GRID_NODES ** (1 / D))`` per axis, at most 4001).
GRID_NODES = 100_000
#: Problems of higher dimension are not judged.
MAX_DIMENSION = 4
#: Local minima tested for holding a state of their own, worst covered first; past these the
#: deepest one is taken (a fine ripple has thousands of minima).
CANDIDATES = 256


@dataclass(frozen=True)
class Coverage:
    """What :func:`well_coverage` measured.

    ``point``: the worst-covered well bottom, shape (D,); ``potential``: V there;
    ``ratio``: ``p_tr(point) / max_{V < shift} p_tr`` (0 outside a uniform sampling box);
    ``wells``: how many grid nodes are local minima of V below the shift (before the test
    that a minimum holds a state of its own).
    """

    point: np.ndarray
    potential: float
    ratio: float
    wells: int


def _grid(box, nodes: int = GRID_NODES) -> tuple[np.ndarray, tuple[int, ...]]:
    """A uniform tensor grid over ``box`` (D, 2), endpoints included: points (N, D), shape per axis."""
    d = len(box)
    n = int(min(4001, max(3, round(nodes ** (1.0 / d)))))
    axes = [np.linspace(lo, hi, n) for lo, hi in box]
    grids = np.meshgrid(*axes, indexing="ij")
    return np.stack([g.ravel() for g in grids], axis=1), (n,) * d


def _well_bottoms(v: np.ndarray) -> np.ndarray:
    """Mask (shape of ``v``) of interior nodes whose value is at most that of each axis
    neighbour; NaN nowhere (a NaN node or neighbour is not a bottom)."""
    interior = tuple(slice(1, -1) for _ in v.shape)
    core = v[interior]
    mask = ~np.isnan(core)
    for axis in range(v.ndim):
        for step in (-1, 1):
            idx = list(interior)
            idx[axis] = slice(1 + step, v.shape[axis] - 1 + step)
            with np.errstate(invalid="ignore"):
                mask &= core <= v[tuple(idx)]
    out = np.zeros(v.shape, bool)
    out[interior] = mask
    return out


def _ground_widths(v: np.ndarray, node: tuple[int, ...], spacing: np.ndarray, kinetic: float) -> np.ndarray:
    """Per axis, the width ``σ_i = (2κ / k_i)^(1/4)`` of the ground state ``exp(−x²/(2σ²))`` of
    ``−κ∇² + k_i x²/2`` (κ = 1, V = x²: σ = 1), ``k_i`` the second difference of V at ``node``
    (an interior node); +inf where ``k_i <= 0`` or is not finite (a flat floor). Shape (D,)."""
    out = np.full(v.ndim, np.inf)
    for axis in range(v.ndim):
        lo, hi = list(node), list(node)
        lo[axis] -= 1
        hi[axis] += 1
        with np.errstate(invalid="ignore", over="ignore"):
            k = (v[tuple(lo)] + v[tuple(hi)] - 2.0 * v[node]) / spacing[axis] ** 2
        if np.isfinite(k) and k > 0:
            out[axis] = (2.0 * kinetic / k) ** 0.25
    return out


def _holds_a_state(v: np.ndarray, node: tuple[int, ...], spacing: np.ndarray, kinetic: float) -> bool:
    """Whether the well bottom ``node`` is the lowest V within its own ground-state widths
    (:func:`_ground_widths`, at least one node) on every axis: a ripple on a slope is not (its
    harmonic ground state would spill over lower ground), a true well is."""
    reach = np.ceil(np.minimum(_ground_widths(v, node, spacing, kinetic) / spacing, 1e9)).astype(int)
    window = tuple(slice(max(0, i - r), i + r + 1) for i, r in zip(node, np.maximum(reach, 1)))
    with np.errstate(invalid="ignore"):
        return bool(np.nanmin(v[window]) >= v[node])


def well_coverage(problem) -> Coverage | None:
    """The sampling density at the worst-covered well of V below the shift (module docstring).

    Parameters
    ----------
    problem : nsvd_cli.problem.Problem
        Uses ``spec.evaluation.box``, ``shift``, ``potential`` (V: (B, D) -> (B,)) and
        ``sampling.log_density`` ((B, D) -> (B,)).

    Returns
    -------
    Coverage or None
        None when the dimension exceeds :data:`MAX_DIMENSION` or no interior grid node is a
        well bottom below the shift.
    """
    import torch

    if problem.dimension > MAX_DIMENSION:
        return None
    x, shape = _grid(problem.spec.evaluation.box)
    xt = torch.as_tensor(x, dtype=torch.float64)
    with torch.no_grad():
        v = problem.potential(xt).numpy().astype(np.float64)
        logp = problem.sampling.log_density(xt).numpy().astype(np.float64)
    with np.errstate(invalid="ignore"):
        allowed = v < problem.shift  # NaN is not allowed; -inf (a Coulomb node) is
    grid = v.reshape(shape)
    spacing = np.array([(hi - lo) / (n - 1) for (lo, hi), n in zip(problem.spec.evaluation.box, shape)])
    idx = np.flatnonzero(_well_bottoms(grid).ravel() & allowed)
    if not len(idx):
        return None
    idx = idx[np.argsort(logp[idx], kind="stable")]  # worst covered first
    lowest = float(np.min(v[idx]))  # the deepest well bottom always holds the ground state
    k = next((i for i in idx[:CANDIDATES] if v[i] <= lowest
              or _holds_a_state(grid, np.unravel_index(i, shape), spacing, problem.kinetic)), idx[np.argmin(v[idx])])
    peak = float(np.max(logp[allowed]))
    ratio = float(np.exp(logp[k] - peak)) if np.isfinite(logp[k]) else 0.0  # p = 0 there (outside a box)
    return Coverage(x[k], float(v[k]), ratio, len(idx))


def coverage_warning(problem) -> str | None:
    """One sentence with the fix when the training distribution barely reaches a well of V below
    the shift (:func:`well_coverage`: density ratio below :data:`COVERAGE_MIN`); None otherwise
    or when not judged."""
    cov = well_coverage(problem)
    if cov is None or cov.ratio >= COVERAGE_MIN:
        return None
    at = ", ".join(f"{c:.3g}" for c in cov.point)
    ratio = "0 (outside the sampling box)" if cov.ratio == 0 else f"{cov.ratio:.1e} of its maximum over V < shift"
    return (f"the training sampling barely reaches the well of V at x = ({at}) (V = {cov.potential:.4g} below the "
            f"shift {problem.shift:g}; the sampling density there is {ratio}): a state localised in that well is "
            "likely never learned, and the learned modes then converge to other states and are matched with the "
            "wrong reference levels; widen the sampling over that well (a larger sampling.std, a mixture, or uniform "
            "on a box around the wells; docs/problems.md, Sampling scale)")
