"""Grid references: the eigsh grid solution of a problem used as its reference, cached on disk.

A problem without a closed form (:mod:`nsvd_cli.references`) and with ``D <= 3`` gets its
reference from the finite-difference grid solver (:mod:`nsvd_cli.baselines.grid`): eigsh on
a uniform grid, eigenfunctions interpolated. The solve is cached under :func:`cache_dir`.
Separable potentials get sums of 1D grid solutions instead, in any dimension
(:mod:`nsvd_cli.baselines.separable`, ``reference_kind == "separable grid"``).
Only ``solve`` and ``compare`` build grid references; ``nsvd plot`` never does (it draws
what the files hold).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import GridError, SpecError
from ..files.atomic import atomic_write
from ..metrics import degenerate_groups, truncated_groups
from ..references import ReferenceSolution, analytic_reference, reference_kind
from ..spec import ProblemSpec, spec_to_dict, walls
from .eigen import solve_grid
from .grid import grid_axes, grid_for_spec

__all__ = ["GridReference", "grid_reference", "grid_reference_error", "reference_for", "cache_dir",
           "default_grid_points", "DEFAULT_GRID_POINTS", "GRID_ORDER", "GRID_RTOL", "grouped_within_error"]

#: Relative tolerance under which grid-reference energies count as degenerate.
GRID_RTOL = 1e-8

#: Grid points per axis of a grid reference by dimension (order-4 stencil).
DEFAULT_GRID_POINTS = {1: 2000, 2: 160, 3: 36}
#: Stencil order of grid references.
GRID_ORDER = 4
_CACHE_VERSION = 1


def default_grid_points(dimension: int) -> int:
    """Points per axis of an automatic grid reference (:data:`DEFAULT_GRID_POINTS`)."""
    return DEFAULT_GRID_POINTS[dimension]


def cache_dir() -> Path:
    """Where grid references are cached: ``$NSVD_CACHE_DIR``, else ``~/.cache/nsvd``."""
    env = os.environ.get("NSVD_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "nsvd"


@dataclass(frozen=True, eq=False)
class GridReference(ReferenceSolution):
    """A finite-difference grid solution used as a reference (:func:`grid_reference`).

    Eigenfunctions at arbitrary points are interpolated from the grid eigenvectors
    (:class:`scipy.interpolate.RegularGridInterpolator`: cubic in 1D, linear otherwise) on
    the grid extended by the walls, where they vanish; outside the box they are 0.
    Gradients are ``np.gradient`` of the grid values (second order, non-uniform at the
    walls) interpolated the same way.
    """

    axes: tuple[np.ndarray, ...]
    values: np.ndarray  # (n_1, ..., n_D, L) on the axes including walls
    n_points: int
    residuals: np.ndarray = field(default=None)

    @property
    def dimension(self) -> int:
        return len(self.axes)

    def _interp(self, data, x):
        from scipy.interpolate import RegularGridInterpolator

        x = self._points(x)
        method = "cubic" if self.dimension == 1 else "linear"
        f = RegularGridInterpolator(self.axes, data, method=method, bounds_error=False, fill_value=0.0)
        return f(x)

    def eigenfunctions(self, x):
        return self._interp(self.values, x)

    def gradients(self, x):
        grads = np.gradient(self.values, *self.axes, axis=tuple(range(self.dimension)), edge_order=2)
        if self.dimension == 1:
            grads = [grads]
        return np.stack([self._interp(g, x) for g in grads], axis=-1)


def _grid_key(spec: ProblemSpec, n_points: int, n_levels: int, box) -> str:
    payload = {"v": _CACHE_VERSION, "potential": spec_to_dict(spec)["potential"], "kinetic": spec.kinetic,
               "dimension": spec.dimension, "box": [list(b) for b in box], "n": n_points, "order": GRID_ORDER,
               "levels": n_levels}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _grid_points(spec: ProblemSpec, n_points: int | None) -> int:
    n = int(n_points or spec.reference_grid or default_grid_points(spec.dimension))
    return n + n % 2


#: A grid reference solve estimated to take longer than this (s) is announced before it starts.
ANNOUNCE_SECONDS = 10.0


def _announce_slow_solve(dimension: int, n: int) -> None:
    """A UserWarning (shown by ``nsvd solve`` as it happens) before a grid reference solve
    estimated (:func:`nsvd_cli.baselines.timing.estimate_eigsh_seconds`) to run longer than
    :data:`ANNOUNCE_SECONDS`, so that minutes of silence are explained."""
    import warnings

    from .timing import estimate_eigsh_seconds, format_seconds

    t = estimate_eigsh_seconds(n**dimension, dimension)
    if t > ANNOUNCE_SECONDS:
        warnings.warn(f"computing the grid reference: eigsh on N = {n} per axis ({n**dimension} points), "
                      f"estimated ~{format_seconds(t)} on one core; cached for later runs", UserWarning, stacklevel=3)


def _solve_levels(spec: ProblemSpec, n: int, levels: int, box, *, cache: bool, max_memory: float | None):
    """``(energies, eigenvectors, residuals)`` of the order-4 eigsh grid solve, from the cache if there."""
    key = _grid_key(spec, n, levels, box)
    path = cache_dir() / f"grid-{key[:32]}.npz"
    use_cache = cache and spec.potential.kind != "python"
    if use_cache and path.exists():
        try:
            with np.load(path) as f:
                return f["energies"], f["eigenvectors"], f["residuals"]
        except (OSError, KeyError, ValueError):
            pass
    _announce_slow_solve(spec.dimension, n)
    try:
        H, _, spacing = grid_for_spec(spec, n, order=GRID_ORDER, box=box)
        sol = solve_grid(H, levels, "eigsh", spacing=spacing, max_memory=max_memory)
    except SpecError:  # a bad spec field (e.g. a potential that cannot be imported) names itself
        raise
    except (ValueError, GridError) as exc:  # e.g. a non-finite potential value on the grid, too few points
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GridError(f"grid reference (N={n}): {msg}; change reference_grid or evaluation.box, "
                        "or set reference = \"none\"", parameter="reference_grid") from None
    E, V, res = sol.energies, sol.eigenvectors, sol.residuals
    del H
    if use_cache:
        try:
            atomic_write(path, lambda tmp: np.savez(tmp, energies=E, eigenvectors=V, residuals=res), overwrite=True)
        except OSError:
            pass
    return E, V, res


def grid_reference(spec: ProblemSpec, n_points: int | None = None, *, cache: bool = True,
                   max_memory: float | None = None) -> GridReference:
    """Reference eigenpairs from the eigsh grid solver (:mod:`nsvd_cli.baselines.eigen`).

    The Hamiltonian is discretised with the order-4 stencil on the problem's walls (box
    potential or box envelope) or else its evaluation box (Dirichlet walls there), with
    ``n_points`` per axis (default ``spec.reference_grid`` or :data:`DEFAULT_GRID_POINTS`;
    made even, so that no point lies on a singularity at the origin of a symmetric box).
    ``L + 1`` levels are solved to tell whether ``L`` cuts a multiplet (energies within
    :data:`GRID_RTOL` count as degenerate).  Results are cached in :func:`cache_dir` under a
    sha256 of the potential, kinetic coefficient, box, grid size and stencil
    (``python`` callables are never cached: their code may change).  Its accuracy:
    :func:`grid_reference_error`.

    Raises
    ------
    GridError
        ``parameter="reference_grid"``: too little memory, a non-finite potential on the
        grid, or eigsh did not converge.
    ValueError
        ``D > 3``.
    """
    D, L = spec.dimension, spec.modes
    if D > 3:
        raise ValueError(f"grid references need dimension <= 3, got {D}")
    n = _grid_points(spec, n_points)
    box = walls(spec) or spec.evaluation.box
    E, V, res = _solve_levels(spec, n, L + 1, box, cache=cache, max_memory=max_memory)
    cell_centred = spec.potential.kind == "coulomb"
    axes, _ = grid_axes(box, n, cell_centred)
    shape = [len(a) for a in axes]
    vals = np.asarray(V[:, :L]).reshape(*shape, L)
    vals = np.pad(vals, [(1, 1)] * D + [(0, 0)])  # the walls, where psi = 0
    full_axes = tuple(np.concatenate([[lo], a, [hi]]) for a, (lo, hi) in zip(axes, box))
    groups, complete = truncated_groups(E, L, GRID_RTOL)
    return GridReference(name=f"grid reference (eigsh, N={n})",
                         energies=np.asarray(E[:L], dtype=np.float64),
                         quantum_numbers=tuple(() for _ in range(L)), quantum_labels=(), groups=tuple(groups),
                         complete_last_group=complete, kind="grid", axes=full_axes, values=vals, n_points=n,
                         residuals=np.asarray(res[:L]))


def grid_reference_error(spec: ProblemSpec, reference: GridReference, *, cache: bool = True,
                         max_memory: float | None = None) -> np.ndarray:
    """Estimated absolute error of each level of a grid reference, shape (L,).

    A separable reference (:class:`~nsvd_cli.baselines.separable.SeparableGridReference`)
    carries its own estimate (sums of 1D Richardson estimates), returned as is.

    Richardson estimate from solves on the grids with half and a quarter of the points per
    axis (made even): ``|E_N - E_{N/2}| / ((h_{N/2} / h_N)^p - 1)`` with ``p`` the order the
    three grids show, at most the stencil's 4 (:func:`observed_order`: walls and singular
    potentials converge slower, and the order-4 estimate claimed 1.2 % for a level 25 % off).
    The coarse solves are cached like the reference.

    Raises
    ------
    GridError
        As :func:`grid_reference` for the coarse grid.
    """
    if hasattr(reference, "energy_errors"):
        return np.asarray(reference.energy_errors, dtype=np.float64)
    n = reference.n_points
    coarse = max(4, (n // 2) + (n // 2) % 2)
    box = walls(spec) or spec.evaluation.box
    L = reference.n_modes
    E_coarse = _solve_levels(spec, coarse, L + 1, box, cache=cache, max_memory=max_memory)[0][:L]
    cells = 0 if spec.potential.kind == "coulomb" else 1  # h = width / N (cell-centred) or / (N + 1)
    ratio = (n + cells) / (coarse + cells)
    order = np.full(L, float(GRID_ORDER))
    coarser = max(4, (coarse // 2) + (coarse // 2) % 2)
    if coarser >= COARSEST_FOR_ORDER:  # the order the three grids show, where it is below the stencil's
        E_coarser = _solve_levels(spec, coarser, L + 1, box, cache=cache, max_memory=max_memory)[0][:L]
        order = observed_order(reference.energies, E_coarse, E_coarser, ratio, (coarse + cells) / (coarser + cells))
    return np.abs(reference.energies - E_coarse) / (ratio**order - 1.0)


#: Fewest points per axis of the coarsest of the three grids for :func:`observed_order` (below
#: it the grids are pre-asymptotic: harmonic2d on N = 24, 12, 6 showed p ≈ 1 for the ground
#: level, whose order-4 estimate is right within 1.5×).
COARSEST_FOR_ORDER = 20

#: Lowest convergence order :func:`observed_order` reports (a grid that has not started to
#: converge: the error estimate is then ~3× the last difference).
MIN_OBSERVED_ORDER = 0.5


def observed_order(fine, coarse, coarser, ratio: float, ratio_coarse: float) -> np.ndarray:
    """Convergence order per level from three grids, capped at :data:`GRID_ORDER`.

    With errors ``~ h^p`` the differences of successive grids shrink by ``ratio^p``:
    ``p = log(|E_c − E_cc| / |E_f − E_c|) / log(ratio_coarse)`` (``ratio`` = h_c / h_f, used when
    the two ratios differ only by the rounding of N to even). Levels whose fine difference is
    at rounding level (``1e-9`` relative) keep :data:`GRID_ORDER`; a level that does not
    converge (differences not shrinking) gets :data:`MIN_OBSERVED_ORDER`. A trial's ``−1/r`` in
    2D on a Cartesian grid: ground level −0.463, −0.617, −0.752 at N = 40, 80, 160 (exact −1),
    p ≈ 0.19, floored to 0.5 — the order-4 estimate had claimed 1.2 %, this one 44 % (true 25 %).
    """
    f, c, cc = (np.asarray(a, np.float64) for a in (fine, coarse, coarser))
    d1, d2 = np.abs(f - c), np.abs(c - cc)
    tiny = 1e-9 * np.maximum(np.abs(f), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.log(d2 / d1) / np.log(ratio_coarse)
    p = np.clip(np.where(np.isnan(p), GRID_ORDER, p), MIN_OBSERVED_ORDER, GRID_ORDER)  # −inf: not converging
    return np.where(d1 <= tiny, float(GRID_ORDER), p)


def grouped_within_error(reference: GridReference, errors) -> GridReference:
    """The reference with neighbouring levels closer than their estimated errors merged into one
    degenerate group (a grid splits exactly degenerate levels by its discretisation error:
    x² + 4y² on its box put the pair at 7 at 6.9999830 and 6.9999923, 1.3·10⁻⁶ apart, with
    errors ~10⁻⁵, and the angle metrics then compared single functions inside a 2D subspace).

    Two neighbours share a group when ``|E_{i+1} − E_i| ≤ 2 (err_i + err_{i+1})`` or within
    :data:`GRID_RTOL`; ``errors`` (L,) from :func:`grid_reference_error`."""
    import dataclasses

    err = np.nan_to_num(np.abs(np.asarray(errors, np.float64)))
    if len(reference.energies) < 2:
        return reference
    groups = degenerate_groups(reference.energies, GRID_RTOL, atol=2.0 * (err[1:] + err[:-1]))
    return dataclasses.replace(reference, groups=tuple(groups))


def reference_for(spec: ProblemSpec, *, required: bool = False,
                  max_memory: float | None = None) -> ReferenceSolution | None:
    """The reference of a problem spec, following ``spec.reference`` (:func:`reference_kind`).

    The closed form (:func:`nsvd_cli.references.analytic_reference`) where one exists, the
    sum of 1D grid solutions of a separable potential
    (:func:`nsvd_cli.baselines.separable.separable_reference`, any D), a grid reference (:func:`grid_reference`, may run eigsh) where :func:`reference_kind` says
    ``"grid"``, else ``None`` (eigenvalues are Rayleigh-quotient estimates only) — unless
    ``required`` (``nsvd compare``, which always needs one): then the same grid reference
    for ``D <= 3``.  Every command thus judges a problem against one reference.
    :attr:`nsvd_cli.problem.Problem.reference` is the usual way to get it (computed once).

    Raises
    ------
    GridError
        A grid reference needs more memory than available, or did not converge.
    """
    kind = reference_kind(spec)
    if kind == "analytic":
        return analytic_reference(spec)
    if kind == "separable grid":
        from .separable import separable_reference

        return separable_reference(spec)
    if kind == "grid" or (required and spec.dimension <= 3):
        return grid_reference(spec, max_memory=max_memory)
    return None
