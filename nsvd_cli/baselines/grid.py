"""Finite-difference discretisation of ``H = -kappa * Laplacian + V`` on a tensor grid (scipy.sparse).

The Hamiltonian is discretised on a uniform tensor grid over a box with Dirichlet walls
(``psi = 0`` on the box boundary); its lowest eigenpairs are computed by
:mod:`nsvd_cli.baselines.eigen` (eigsh, lobpcg, dense), whose memory
:mod:`nsvd_cli.baselines.memory` estimates.

Grid conventions
----------------
Points are ordered like ``np.meshgrid(*axes, indexing="ij")`` flattened in C order: axis 0
varies slowest, so that ``psi.reshape(n_1, ..., n_D)[i_1, ..., i_D]`` is the value at
``(x_1[i_1], ..., x_D[i_D])``.  On an axis ``[lo, hi]`` with ``N`` points:

* vertex grid (default): the ``N`` interior points ``x_i = lo + (i + 1) h``,
  ``h = (hi - lo) / (N + 1)``; the walls ``lo``, ``hi`` are the (excluded) grid points
  ``i = -1`` and ``i = N``, where ``psi = 0``.
* cell-centred grid: the ``N`` cell centres ``x_i = lo + (i + 1/2) h``, ``h = (hi - lo) / N``;
  the walls lie half a cell beyond the first and last centre.  For a box symmetric about
  0 and even ``N`` no point lands on 0 (used for the Coulomb singularity).

Dirichlet walls are imposed with antisymmetric ghost points: a stencil entry that falls
outside the grid at index ``j`` uses ``psi_j = -psi_{m(j)}``, where ``m(j)`` is the mirror
image of ``j`` in the nearest wall (``m(j) = -2 - j`` / ``2N - j`` on the vertex grid, where
the wall points themselves are 0, and ``m(j) = -1 - j`` / ``2N - 1 - j`` on the cell-centred
grid).  This keeps ``H`` symmetric, is the exact odd extension for the sine modes of the
empty box (so the discrete eigenvalues of ``V = 0`` are known in closed form for both
orders), and for order 2 on the cell-centred grid is the usual ``psi_{-1} = -psi_0``
(linear interpolation to 0 at the wall).  Second differences:

* order 2: ``[1, -2, 1] / h^2``;
* order 4: ``[-1/12, 4/3, -5/2, 4/3, -1/12] / h^2``; next to a wall the ghost rule above
  changes the first/last rows, e.g. vertex grid row 0 is ``[-29/12, 4/3, -1/12] / h^2``.
  The wall rows are only second-order accurate in general; the error they make is
  negligible when ``psi`` is small at the walls (bound states in a large enough box).
"""

from __future__ import annotations


from __future__ import annotations

import math
from typing import Callable

import numpy as np
import scipy.sparse as sp

from ..errors import GridError
from ..spec.choices import GridMethod, choices

__all__ = [
    "GridError",
    "METHODS",
    "DEFAULT_TOL",
    "DENSE_MAX_POINTS",
    "LOBPCG_MAX_ITER",
    "second_difference",
    "grid_axes",
    "grid_hamiltonian",
    "grid_for_spec",
]

METHODS = choices(GridMethod)  # the eigensolvers of nsvd_cli.baselines.eigen
#: Default relative residual tolerance of the eigensolvers (:func:`nsvd_cli.baselines.eigen.solve_grid`).
DEFAULT_TOL = 1e-6
#: Largest number of grid points ``method="dense"`` accepts.
DENSE_MAX_POINTS = 4000
#: Default iteration cap of lobpcg.
LOBPCG_MAX_ITER = 5000
_STENCILS = {
    2: np.array([1.0, -2.0, 1.0]),
    4: np.array([-1.0 / 12, 4.0 / 3, -5.0 / 2, 4.0 / 3, -1.0 / 12]),
}



def second_difference(n: int, h: float, order: int = 2, cell_centred: bool = False) -> sp.csr_array:
    """1D second-difference matrix ``d^2/dx^2`` with Dirichlet walls (see module docstring).

    Parameters
    ----------
    n : int
        Number of grid points (``>= 2``).
    h : float
        Grid spacing.
    order : {2, 4}
        Accuracy order of the interior stencil.
    cell_centred : bool
        Ghost-point rule of the cell-centred (True) or vertex (False) grid.

    Returns
    -------
    scipy.sparse.csr_array, shape (n, n)
        Symmetric, negative definite.
    """
    if order not in _STENCILS:
        raise ValueError(f"order must be 2 or 4, got {order!r}")
    if n < 2:
        raise ValueError(f"need at least 2 grid points per axis, got {n}")
    coef = _STENCILS[order]
    half = len(coef) // 2
    rows, cols, vals = [], [], []
    for i in range(n):
        for c, o in zip(coef, range(-half, half + 1)):
            j = i + o
            if j < 0:
                j = (-1 - j) if cell_centred else (-2 - j)
            elif j >= n:
                j = (2 * n - 1 - j) if cell_centred else (2 * n - j)
            else:
                rows.append(i), cols.append(j), vals.append(c)
                continue
            if 0 <= j < n:  # mirror image inside: antisymmetric ghost; else the wall (psi = 0)
                rows.append(i), cols.append(j), vals.append(-c)
    return sp.csr_array((np.array(vals) / h**2, (rows, cols)), shape=(n, n))


def grid_axes(box, n_points, cell_centred: bool = False) -> tuple[list[np.ndarray], np.ndarray]:
    """Coordinates of the grid points along each axis, and the spacings.

    Parameters
    ----------
    box : sequence of (lo, hi), length D
    n_points : int or sequence of int (length D)
        Points per axis.
    cell_centred : bool
        Cell centres (``h = L/N``) instead of interior vertices (``h = L/(N+1)``).

    Returns
    -------
    axes : list of ndarray
        ``axes[d]`` has shape ``(n_d,)``.
    spacing : ndarray, shape (D,)
    """
    box = [(float(lo), float(hi)) for lo, hi in box]
    if not box or any(hi <= lo for lo, hi in box):
        raise ValueError(f"box must be a non-empty list of (lo, hi) with hi > lo, got {box!r}")
    ns = [int(n_points)] * len(box) if np.ndim(n_points) == 0 else [int(n) for n in n_points]
    if len(ns) != len(box):
        raise ValueError(f"n_points has {len(ns)} entries for a {len(box)}-dimensional box")
    if min(ns) < 2:
        raise ValueError(f"need at least 2 grid points per axis, got {min(ns)}")
    axes, spacing = [], []
    for (lo, hi), n in zip(box, ns):
        h = (hi - lo) / (n if cell_centred else n + 1)
        axes.append(lo + (np.arange(n) + (0.5 if cell_centred else 1.0)) * h)
        spacing.append(h)
    return axes, np.array(spacing)


def _potential_values(potential, points: np.ndarray, chunk: int = 1 << 20) -> np.ndarray:
    import torch

    out = np.empty(len(points))
    for a in range(0, len(points), chunk):
        v = potential(torch.from_numpy(points[a:a + chunk]))
        v = v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)
        out[a:a + chunk] = np.broadcast_to(np.asarray(v, dtype=np.float64).reshape(-1), (len(points[a:a + chunk]),))
    if not np.all(np.isfinite(out)):
        raise ValueError("the potential is not finite at every grid point")
    return out


def grid_hamiltonian(potential: Callable | None, box, n_points, kappa: float = 1.0, order: int = 2,
                     cell_centred: bool = False) -> tuple[sp.csr_array, np.ndarray, np.ndarray]:
    """Finite-difference matrix of ``H = -kappa * Laplacian + V`` on a uniform tensor grid.

    ``H = -kappa * sum_d I x ... x D2_d x ... x I + diag(V(points))`` (Kronecker sum of the
    1D second differences of :func:`second_difference`), Dirichlet walls on the box
    boundary; grid and wall conventions in the module docstring.

    Parameters
    ----------
    potential : callable or None
        Torch function ``V: (B, D) -> (B,)`` as returned by
        :func:`nsvd_cli.potentials.make_potential`; it is called on float64 tensors of
        points.  ``None`` means ``V = 0``.
    box : sequence of (lo, hi), length D
        The box; its boundary carries the Dirichlet walls.
    n_points : int or sequence of int
        Grid points ``N`` per axis (``>= 2``); ``N_total = prod N``.
    kappa : float
        Kinetic coefficient (no factor 1/2 unless put here).
    order : {2, 4}
        Accuracy order of the second differences.
    cell_centred : bool
        Cell-centred instead of vertex grid.

    Returns
    -------
    H : scipy.sparse.csr_array, shape (N_total, N_total)
        Symmetric, float64.
    points : ndarray, shape (N_total, D)
        Grid points in ``np.meshgrid(..., indexing="ij")`` order (axis 0 slowest).
    spacing : ndarray, shape (D,)
        Grid spacing ``h`` per axis; ``prod(spacing)`` is the cell volume.

    Raises
    ------
    ValueError
        Bad box, ``n_points``, ``order`` or ``kappa``, or a non-finite potential value.
    """
    if not kappa > 0:
        raise ValueError(f"kappa must be > 0, got {kappa!r}")
    axes, spacing = grid_axes(box, n_points, cell_centred)
    sizes = [len(a) for a in axes]
    n_total = math.prod(sizes)
    lap = sp.csr_array((n_total, n_total))
    for d, (n, h) in enumerate(zip(sizes, spacing)):
        term = second_difference(n, h, order, cell_centred)
        left, right = math.prod(sizes[:d]), math.prod(sizes[d + 1:])
        if left > 1:
            term = sp.kron(sp.eye_array(left), term, format="csr")
        if right > 1:
            term = sp.kron(term, sp.eye_array(right), format="csr")
        lap = lap + term
    points = np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")], axis=1)
    v = np.zeros(n_total) if potential is None else _potential_values(potential, points)
    H = (-float(kappa)) * lap + sp.diags_array(v, format="csr")
    H = sp.csr_array(H)
    H.sum_duplicates()
    H.sort_indices()
    return H, points, spacing


def grid_for_spec(spec, n_points, order: int = 2, box=None) -> tuple[sp.csr_array, np.ndarray, np.ndarray]:
    """:func:`grid_hamiltonian` for a :class:`~nsvd_cli.spec.ProblemSpec`.

    Uses ``spec.potential``, ``spec.kinetic`` and (unless ``box`` is given) the evaluation
    box ``spec.evaluation.box``; Coulomb potentials get a cell-centred grid.

    Raises
    ------
    GridError
        ``parameter="grid"``: a grid point lies on the Coulomb singularity (odd ``N`` on a
        symmetric box).
    """
    from ..potentials import COULOMB_MIN_RADIUS, make_potential

    box = spec.evaluation.box if box is None else box
    coulomb = spec.potential.kind == "coulomb"
    H, points, spacing = grid_hamiltonian(make_potential(spec.potential, spec.dimension), box, n_points, spec.kinetic,
                                          order, cell_centred=coulomb)
    if coulomb and spec.potential.softening == 0:
        rmin = float(np.sqrt((points * points).sum(1).min()))
        if rmin < 0.01 * float(spacing.min()) or rmin <= COULOMB_MIN_RADIUS:
            raise GridError(f"N={n_points} puts a grid point at distance {rmin:.2g} from the Coulomb "
                            f"singularity at the origin; use an even number of points per axis", parameter="grid")
    return H, points, spacing




#: Names that lived here before the split into grid / eigen / memory, still importable from
#: this module (loaded lazily: eigen and memory import this module).
_MOVED = {"GridSolution": "eigen", "GridProgress": "eigen", "solve_grid": "eigen", "require_converged": "eigen",
          "gershgorin_bounds": "eigen", "estimate_memory": "memory", "available_memory": "memory",
          "check_memory": "memory"}


def __getattr__(name):
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(f"{__package__}.{_MOVED[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
