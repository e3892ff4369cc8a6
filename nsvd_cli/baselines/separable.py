"""Separable references: sums of 1D grid solutions, exact to the 1D grid's accuracy in any D.

For ``V(x) = sum_i v_i(x_i)`` (and walls, if any, a box) ``H = -kappa Laplacian + V`` is a sum
of commuting 1D operators ``h_i = -kappa d^2/dx_i^2 + v_i(x_i)``; with ``h_i u_{i,n} = e_{i,n}
u_{i,n}`` its eigenpairs are

    E = sum_i e_{i, n_i},    psi(x) = prod_i u_{i, n_i}(x_i),

over index tuples ``(n_1, ..., n_D)``; a level's multiplicity is the number of tuples giving
it. Each ``h_i`` is solved on a fine order-4 finite-difference grid (2000 points by default,
ARPACK shift-invert below ``min v``: milliseconds), on the axis' wall interval
or else its row of ``evaluation.box`` (Dirichlet walls there, as the full grid reference);
axes with the same ``v_i`` and interval share one solve. The lowest ``L`` tuples are found by
best-first search (:func:`nsvd_cli.references.harmonic._lowest_separable`). Eigenfunctions
are products of cubic splines of the 1D eigenvectors (0 outside the interval), gradients
the products with one spline derivative, so angle and subspace distances work in any D.
The error of each level is the sum of the 1D Richardson estimates (a second solve with
half the points, order 4), :attr:`SeparableGridReference.energy_errors`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..metrics import degenerate_groups
from ..references.harmonic import _lowest_separable, _SeparableReference
from ..spec import ProblemSpec, walls
from .grid import grid_hamiltonian

__all__ = ["SeparableGridReference", "separable_reference", "axis_potentials", "solve_axis", "AXIS_ORDER"]

#: Stencil order of the 1D solves.
AXIS_ORDER = 4
#: Relative tolerance under which summed grid levels count as degenerate.
SEPARABLE_RTOL = 1e-8
_BEYOND = 1e300


def axis_potentials(spec: ProblemSpec) -> list[tuple[str, object]]:
    """Per axis, a key identifying the 1D problem and its 1D potential (torch, ``(B, 1) -> (B,)``
    or None for ``v = 0``).

    Raises
    ------
    ValueError
        The potential kind is not separable (:func:`nsvd_cli.references.is_separable`).
    """
    from .. import potentials as P

    pot, dim = spec.potential, spec.dimension
    if pot.kind == "harmonic":
        return [(f"harmonic {w!r}", P.harmonic([w])) for w in pot.omega]
    if pot.kind == "quartic":
        return [(f"quartic {pot.quadratic!r} {pot.quartic!r}", P.quartic(pot.quadratic, pot.quartic))] * dim
    if pot.kind == "double_well":
        return [(f"double_well {pot.a!r} {pot.b!r}", P.double_well(pot.a, pot.b))] * dim
    if pot.kind == "box":
        return [("box", None)] * dim
    if pot.kind == "separable":
        return [(f"separable {t}", P.separable([t])) for t in pot.axis_expressions(dim)]
    raise ValueError(f"potential kind {pot.kind!r} is not a sum of 1D potentials")


def solve_axis(potential, interval, n_points: int, n_levels: int, kappa: float = 1.0):
    """Lowest levels of ``-kappa d^2/dx^2 + v(x)`` on ``interval`` with Dirichlet walls.

    Order-4 vertex grid (:func:`nsvd_cli.baselines.grid.grid_hamiltonian`), ARPACK
    shift-invert below ``min v`` (milliseconds for thousands of points). Eigenvectors are L2-normalised as functions (``h sum u^2 = 1``) with their
    largest-magnitude value positive.

    Returns
    -------
    energies : ndarray, shape (K,)
        ``K = min(n_levels, n_points - 2)`` ascending levels.
    axis : ndarray, shape (n_points + 2,)
        Grid points including the two walls.
    values : ndarray, shape (n_points + 2, K)
        Eigenvectors on ``axis`` (0 at the walls).
    """
    from scipy.sparse.linalg import eigsh

    from .grid import _potential_values

    H, points, spacing = grid_hamiltonian(potential, [interval], n_points, kappa, order=AXIS_ORDER)
    v_min = 0.0 if potential is None else float(_potential_values(potential, points).min())
    k_max = min(n_levels, n_points - 2)
    # shift-invert just below the spectrum (every level exceeds min V): the lowest k_max levels
    sigma = v_min - 1.0 - 1e-6 * abs(v_min)
    e, u = eigsh(H.tocsc(), k=k_max, sigma=sigma, which="LM", tol=1e-14)
    order = np.argsort(e)
    e, u = e[order], u[:, order]
    u = u / np.sqrt(spacing[0] * np.sum(u * u, axis=0))
    peak = u[np.argmax(np.abs(u), axis=0), np.arange(k_max)]
    u = u * np.where(peak < 0, -1.0, 1.0)
    lo, hi = interval
    axis = np.concatenate([[lo], points[:, 0], [hi]])
    return e, axis, np.pad(u, [(1, 1), (0, 0)])


@dataclass(frozen=True, eq=False)
class SeparableGridReference(_SeparableReference):
    """Sums of 1D grid solutions (see the module docstring and :func:`separable_reference`).

    ``quantum_numbers`` are the 1D level indices ``(n_1, ..., n_D)`` (0 = lowest);
    ``axes[d]`` and ``values[d]`` the 1D grid (walls included) and eigenvectors of axis d;
    ``energy_errors`` the estimated absolute error of each level, shape (L,).
    """

    axes: tuple[np.ndarray, ...]
    values: tuple[np.ndarray, ...]
    n_points: int
    energy_errors: np.ndarray

    @property
    def dimension(self) -> int:
        return len(self.axes)

    @functools.cached_property
    def _splines(self):
        from scipy.interpolate import CubicSpline

        made: dict[int, object] = {}
        out = []
        for axis, vals in zip(self.axes, self.values):
            key = id(vals)
            if key not in made:
                made[key] = CubicSpline(axis, vals, axis=0, extrapolate=False)
            out.append(made[key])
        return out

    def _axis_tables(self, x):
        x = self._points(x)
        q = np.array(self.quantum_numbers, dtype=int)  # (L, D)
        tables = []
        for d, spline in enumerate(self._splines):
            h = np.nan_to_num(spline(x[:, d]), nan=0.0)
            dh = np.nan_to_num(spline(x[:, d], 1), nan=0.0)
            tables.append((h[:, q[:, d]], dh[:, q[:, d]]))
        return tables


def separable_reference(spec: ProblemSpec, n_points: int | None = None) -> SeparableGridReference:
    """The reference of a separable problem from 1D grid solutions (module docstring).

    ``n_points`` per 1D grid: default ``spec.reference_grid`` or 2000 (made even). Each
    axis is solved for ``L + 1`` levels (enough for the ``L`` lowest tuples and for telling
    whether ``L`` cuts a multiplet), and again with half the points for the error estimate.

    Raises
    ------
    ValueError
        The potential is not separable.
    """
    from .reference import default_grid_points

    D, L, kappa = spec.dimension, spec.modes, spec.kinetic
    n = int(n_points or spec.reference_grid or default_grid_points(1))
    n += n % 2
    coarse = max(8, n // 2 + (n // 2) % 2)
    box = walls(spec) or spec.evaluation.box
    solved: dict[tuple, tuple] = {}
    for d, (key, v) in enumerate(axis_potentials(spec)):
        k = (key, tuple(box[d]))
        if k not in solved:
            e, axis, vals = solve_axis(v, box[d], n, L + 1, kappa)
            e_coarse = solve_axis(v, box[d], coarse, L + 1, kappa)[0][: len(e)]
            ratio = (n + 1) / (coarse + 1)  # h = width / (N + 1) on the vertex grid
            solved[k] = (e, axis, vals, np.abs(e - e_coarse) / (ratio**AXIS_ORDER - 1.0))
    per_axis = [solved[(key, tuple(box[d]))] for d, (key, _) in enumerate(axis_potentials(spec))]

    def energy(idx):  # beyond the solved 1D levels: a huge finite value (the search stops before it)
        return sum(float(a[0][i]) if i < len(a[0]) else _BEYOND for a, i in zip(per_axis, idx))

    idx, _ = _lowest_separable(energy, (0,) * D, L + 1)
    all_e = np.array([energy(i) for i in idx])
    groups = [g[g < L] for g in degenerate_groups(all_e, SEPARABLE_RTOL) if g[0] < L]
    complete = len(all_e) <= L or not any((L - 1) in g and L in g for g in degenerate_groups(all_e, SEPARABLE_RTOL))
    errors = np.array([sum(float(a[3][j]) for a, j in zip(per_axis, i)) for i in idx[:L]])
    return SeparableGridReference(
        name=f"separable grid reference (1D order-{AXIS_ORDER} grids, N={n})", energies=all_e[:L],
        quantum_numbers=tuple(idx[:L]), quantum_labels=tuple(f"n_{d + 1}" for d in range(D)), groups=tuple(groups),
        complete_last_group=complete, kind="grid", axes=tuple(a[1] for a in per_axis),
        values=tuple(a[2] for a in per_axis), n_points=n, energy_errors=errors)
