"""Finite-difference grid baselines for ``H = -kappa * Laplacian + V`` (scipy.sparse, torch).

The Hamiltonian is discretised on a uniform tensor grid over a box with Dirichlet walls
(``psi = 0`` on the box boundary) and its lowest eigenpairs are computed with

* ``"eigsh"``: ARPACK Lanczos in shift-invert mode (sparse LU of ``H - sigma I``),
* ``"lobpcg"``: :func:`torch.lobpcg` on a sparse tensor (the paper's grid baseline,
  J. J. Ryu et al., ICML 2024, App. A.3 and Fig. 6, for the 2D hydrogen atom),
* ``"dense"``: :func:`scipy.linalg.eigh` of the dense matrix (small grids only).

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

import math
import os
import resource
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, ArpackNoConvergence, eigsh, splu

from ..errors import NsvdError
from ..spec.choices import GridMethod, choices

__all__ = [
    "GridError",
    "GridSolution",
    "METHODS",
    "DEFAULT_TOL",
    "DENSE_MAX_POINTS",
    "second_difference",
    "grid_axes",
    "grid_hamiltonian",
    "grid_for_spec",
    "gershgorin_bounds",
    "estimate_memory",
    "available_memory",
    "check_memory",
    "solve_grid",
    "require_converged",
]

METHODS = choices(GridMethod)  # the Literal the CLI builds --baseline from
#: Default relative residual tolerance ``||H v - E v|| / (|E| ||v||)`` for ``converged``.
DEFAULT_TOL = 1e-6
#: Largest number of grid points ``method="dense"`` accepts.
DENSE_MAX_POINTS = 4000
#: Default iteration cap of lobpcg.
LOBPCG_MAX_ITER = 5000
_GIB = 2.0**30
_STENCILS = {
    2: np.array([1.0, -2.0, 1.0]),
    4: np.array([-1.0 / 12, 4.0 / 3, -5.0 / 2, 4.0 / 3, -1.0 / 12]),
}


class GridError(NsvdError):
    """A grid baseline cannot (or did not) deliver a trustworthy answer.

    Raised for too little memory, too few grid points for the method, a grid point on a
    singularity and failed convergence.  The message is one line naming the CLI option
    (``--grid``, ``--max-memory``, ``--max-iter``, ``--tol``, ``--method``...) and its value.
    """


# --------------------------------------------------------------------------------------
# discretisation
# --------------------------------------------------------------------------------------

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
        If a grid point lies on the Coulomb singularity (odd ``N`` on a symmetric box).
    """
    from ..potentials import COULOMB_MIN_RADIUS, make_potential

    box = spec.evaluation.box if box is None else box
    coulomb = spec.potential.kind == "coulomb"
    H, points, spacing = grid_hamiltonian(make_potential(spec.potential, spec.dimension), box, n_points, spec.kinetic,
                                          order, cell_centred=coulomb)
    if coulomb and spec.potential.softening == 0:
        rmin = float(np.sqrt((points * points).sum(1).min()))
        if rmin < 0.01 * float(spacing.min()) or rmin <= COULOMB_MIN_RADIUS:
            raise GridError(f"--grid: N={n_points} puts a grid point at distance {rmin:.2g} from the Coulomb "
                            f"singularity at the origin; use an even number of points per axis")
    return H, points, spacing


# --------------------------------------------------------------------------------------
# memory
# --------------------------------------------------------------------------------------

def _lu_fill(n_total: int, nnz_per_row: int, dimension: int) -> float:
    """Estimated nonzeros of the sparse LU factors of ``H - sigma I`` (see estimate_memory)."""
    if dimension <= 1:
        return float(n_total * nnz_per_row)
    lg = math.log2(max(n_total, 2))
    if dimension == 2:
        return 0.25 * n_total * lg * lg * max(1.0, nnz_per_row / 5)
    return 0.7 * n_total ** (5.0 / 3.0) * max(1.0, nnz_per_row / 7)


def _lobpcg_block(n_modes: int) -> int:
    return n_modes + max(2, n_modes // 4)


def estimate_memory(n_total: int, n_modes: int, method: str, nnz_per_row: int = 5, *, dimension: int = 2,
                    include_matrix: bool = True) -> int:
    """Rough upper estimate (bytes) of the memory a grid solve needs.

    Counts the CSR matrix (12 bytes per nonzero, ``include_matrix``; built through
    temporaries of about twice that), the ``L`` eigenvectors (``8 N L``) and the
    method's workspace:

    * ``eigsh``: the CSC copy of ``H - sigma I``, ARPACK's Lanczos basis
      (``ncv = max(2L + 1, 20)`` vectors) and the sparse LU factors (16 bytes per nonzero).
      Fill-in grows faster than ``N``: nested dissection gives ``O(N log N)`` nonzeros in
      2D and ``O(N^{4/3})`` in 3D; SuperLU's minimum-degree ordering used here measured
      ``~0.21-0.23 N log2(N)^2`` in 2D (``N <= 4e4``, 5-point stencil) and ``~0.5-0.7
      N^{5/3}`` in 3D (7-point), so the estimate uses ``0.25 N log2(N)^2`` (2D),
      ``0.7 N^{5/3}`` (D >= 3) and the band, ``N * nnz_per_row``, in 1D.
    * ``lobpcg``: the torch COO copy (24 bytes per nonzero) and about ten dense blocks of
      ``N x (L + max(2, L // 4))`` (search basis ``[X, P, W]`` and temporaries).
    * ``dense``: the dense matrix and ``eigh`` workspace, ``~3 * 8 N^2``.

    Parameters
    ----------
    n_total : int
        Number of grid points ``N`` (matrix size).
    n_modes : int
        Number ``L`` of eigenpairs.
    method : {"eigsh", "lobpcg", "dense"}
    nnz_per_row : int
        Stencil size: ``2 D + 1`` (order 2) or ``4 D + 1`` (order 4).
    dimension : int
        Spatial dimension ``D`` (fill-in model of the LU factors).
    include_matrix : bool
        Whether to count building and storing ``H`` itself.

    Returns
    -------
    int
        Bytes.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    n, L = int(n_total), int(n_modes)
    nnz = n * nnz_per_row
    total = 8.0 * n * L
    if include_matrix:
        total += 3 * (12.0 * nnz + 4.0 * n) + 8.0 * n * (dimension + 1)
    if method == "eigsh":
        total += 12.0 * nnz + 8.0 * n * max(2 * L + 1, 20) + 16.0 * _lu_fill(n, nnz_per_row, dimension)
    elif method == "lobpcg":
        total += 24.0 * nnz + 10 * 8.0 * n * _lobpcg_block(L)
    else:
        total += 3 * 8.0 * n * n
    return int(total)


def available_memory() -> int | None:
    """Memory available to new allocations (bytes): ``MemAvailable`` of /proc/meminfo, else
    psutil's ``virtual_memory().available``, else ``None`` (unknown: no limit)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 - psutil missing or unsupported platform
        return None


def check_memory(n_total: int, n_modes: int, method: str, *, nnz_per_row: int = 5, dimension: int = 2,
                 max_memory: float | None = None, n_points=None, include_matrix: bool = True) -> int:
    """Refuse a grid solve whose estimated memory exceeds a limit.

    Parameters
    ----------
    n_total, n_modes, method, nnz_per_row, dimension, include_matrix
        As for :func:`estimate_memory`.
    max_memory : float, optional
        Limit in bytes; default :func:`available_memory` (no check if unknown).
    n_points : int, optional
        Points per axis, only for the message.

    Returns
    -------
    int
        The estimate (bytes).

    Raises
    ------
    GridError
        ``"--max-memory: grid N=... needs ~X GiB ..., above the limit Y GiB"``.
    """
    need = estimate_memory(n_total, n_modes, method, nnz_per_row, dimension=dimension,
                           include_matrix=include_matrix)
    limit = available_memory() if max_memory is None else float(max_memory)
    if limit is not None and need > limit:
        what = f"N={n_points} ({n_total} points)" if n_points is not None else f"of {n_total} points"
        src = " (available memory)" if max_memory is None else ""
        raise GridError(f"--max-memory: grid {what} needs ~{need / _GIB:.3g} GiB for {method} with "
                        f"{n_modes} modes, above the limit {limit / _GIB:.3g} GiB{src}")
    return need


# --------------------------------------------------------------------------------------
# solvers
# --------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class GridSolution:
    """Lowest eigenpairs of a grid Hamiltonian.

    Attributes
    ----------
    energies : ndarray, shape (L,)
        Ascending eigenvalues of ``H``.
    eigenvectors : ndarray, shape (N_total, L)
        Column ``l`` for ``energies[l]``, normalised as a function on the grid,
        ``sum(v**2) * prod(spacing) = 1`` (``sum(v**2) = 1`` without spacing), with the
        sign making its largest-magnitude entry positive.
    residuals : ndarray, shape (L,)
        Relative residuals ``||H v - E v|| / (|E| ||v||)`` (Euclidean norms).
    converged : bool
        The method reported success and every residual is ``<= tol``.
    iterations : int
        lobpcg: iterations; eigsh: shift-invert solves (ARPACK operator applications);
        dense: 0.
    method : str
        ``"eigsh"``, ``"lobpcg"`` or ``"dense"`` (what actually ran).
    wall_time : float
        Seconds spent in the solve (including the LU factorisation / tensor conversion).
    peak_memory : int
        Peak resident memory of the process during the solve minus the resident memory at
        its start (bytes): what the solver needed on top of ``H``.  Measured as the rise of
        the process's peak RSS (``getrusage`` ``ru_maxrss``) when the solve set a new peak,
        else as the maximum of RSS samples taken every 5 ms.
    tol : float
        Residual tolerance used for ``converged``.
    max_iter : int or None
        Iteration cap used (lobpcg: the effective one; eigsh: as given, None = scipy's).
    sigma : float or None
        eigsh: the shift used.
    """

    energies: np.ndarray
    eigenvectors: np.ndarray
    residuals: np.ndarray
    converged: bool
    iterations: int
    method: str
    wall_time: float
    peak_memory: int
    tol: float
    max_iter: int | None = None
    sigma: float | None = None


def _rss() -> int | None:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _maxrss() -> int:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(r) if sys.platform == "darwin" else int(r) * 1024


class _PeakMemory:
    """Context manager measuring the peak RSS rise during a block (see GridSolution)."""

    def __enter__(self):
        self.start = _rss() or 0
        self.max_before = _maxrss()
        self.sampled = self.start
        self._stop = threading.Event()
        self._thread = None
        if _rss() is not None:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.005):
            self.sampled = max(self.sampled, _rss() or 0)

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sampled = max(self.sampled, _rss() or 0)
        after = _maxrss()
        peak = after if after > self.max_before else self.sampled
        self.peak = max(int(peak - self.start), 0)
        return False


def gershgorin_bounds(H) -> tuple[float, float]:
    """Gershgorin bounds ``(min_i H_ii - r_i, max_i H_ii + r_i)``, ``r_i = sum_{j != i} |H_ij|``,
    on the spectrum of a symmetric sparse matrix (for order 2 the lower one is ``min V``)."""
    d = H.diagonal()
    r = np.asarray(abs(H).sum(axis=1)).ravel() - np.abs(d)
    return float(np.min(d - r)), float(np.max(d + r))


def _relative_residuals(H, E, V) -> np.ndarray:
    R = H @ V - V * E
    return np.linalg.norm(R, axis=0) / (np.linalg.norm(V, axis=0) * np.maximum(np.abs(E), np.finfo(float).tiny))


def _finish(H, E, V, spacing):
    order = np.argsort(E, kind="stable")
    E, V = np.asarray(E, dtype=np.float64)[order], np.array(V, dtype=np.float64)[:, order]
    res = _relative_residuals(H, E, V)
    cell = float(np.prod(spacing)) if spacing is not None else 1.0
    V /= np.sqrt((V * V).sum(axis=0) * cell)
    idx = np.argmax(np.abs(V), axis=0)
    V *= np.sign(V[idx, np.arange(V.shape[1])])
    return E, V, res


def _grid_label(n_total, spacing):
    """Points per axis of a cubic grid (for messages), or None if unknown / not cubic."""
    if spacing is None:
        return None
    n = round(n_total ** (1.0 / len(spacing)))
    return n if n ** len(spacing) == n_total else None


def solve_grid(H, n_modes: int, method: str = "eigsh", *, spacing=None, tol: float | None = None,
               max_iter: int | None = None, sigma: float | None = None, preconditioner: str | None = None,
               seed: int = 0, max_memory: float | None = None) -> GridSolution:
    """Lowest ``n_modes`` eigenpairs of a symmetric grid Hamiltonian.

    Parameters
    ----------
    H : scipy sparse array, shape (N_total, N_total)
        Symmetric matrix, e.g. from :func:`grid_hamiltonian`.
    n_modes : int
        Number ``L`` of lowest eigenpairs.
    method : {"eigsh", "lobpcg", "dense"}
        * ``"eigsh"``: :func:`scipy.sparse.linalg.eigsh` with ``which="LM"`` in
          shift-invert mode around ``sigma`` (ARPACK to machine precision, ``tol=0``).  The
          factorisation of ``H - sigma I`` is SuperLU in symmetric mode (minimum degree on
          ``A + A^T``, no pivoting) when ``sigma`` is below the Gershgorin lower bound
          (then ``H - sigma I`` is positive definite), else SuperLU's default.  Falls back
          to ``"dense"`` with a :class:`RuntimeWarning` when ``N_total < 3 L``.
        * ``"lobpcg"``: :func:`torch.lobpcg` (float64, sparse COO tensor,
          ``largest=False``) from a seeded random block of ``L + max(2, L // 4)`` vectors
          (capped at ``N_total // 3``).  Stopping uses the relative residual below, checked
          every iteration (torch's own criterion, relative to a norm estimate of ``H``, is
          disabled).  Used as the grid baseline of the paper (App. A.3, Fig. 6).
        * ``"dense"``: :func:`scipy.linalg.eigh` of ``H.toarray()`` (``N_total <=``
          :data:`DENSE_MAX_POINTS`).
    spacing : array_like, shape (D,), optional
        Grid spacing, for normalising the eigenvectors as functions; also gives the
        points per axis in messages.
    tol : float, optional
        Relative residual tolerance ``||H v - E v|| / (|E| ||v||)`` (default
        :data:`DEFAULT_TOL`); lobpcg stops when all ``L`` residuals are below it, and
        ``converged`` requires it for every method.  A residual ``r`` bounds the energy
        error by ``r |E|`` (and by about ``(r E)^2 / gap``).
    max_iter : int, optional
        lobpcg iterations (default :data:`LOBPCG_MAX_ITER`); ARPACK restarts for eigsh
        (default scipy's ``10 N_total``).
    sigma : float, optional
        eigsh shift; must lie below the lowest eigenvalue (the ``L`` levels nearest
        ``sigma`` are returned).  Default, always below the spectrum: a first shift ``s1``
        at the Gershgorin lower bound minus a small margin gives the lowest level ``E0``
        (``k = 1``), then ``sigma = E0 - 0.01 (E0 - s1)`` (closer shifts separate the
        shift-inverted levels better: about half the solves on the 2D hydrogen grid, for a
        second factorisation).
    preconditioner : {None, "jacobi"}
        lobpcg only.  ``"jacobi"``: ``diag(H - s I)^{-1}`` with ``s`` below the Gershgorin
        bound (symmetric positive definite, as LOBPCG requires).  torch applies a
        preconditioner (``iK``) only in its ``"basic"`` LOBPCG variant, which is used then;
        the default ``"ortho"`` variant ignores ``iK``.  On uniform grids the diagonal is
        nearly constant, so this does not pay: the ``"basic"`` variant needs several times
        more iterations than ``"ortho"`` without it.
    seed : int
        Seed of the random start (lobpcg block, ARPACK ``v0``).
    max_memory : float, optional
        Limit (bytes) for :func:`check_memory` of the solver workspace (``H`` excluded);
        default: available memory.

    Returns
    -------
    GridSolution

    Notes
    -----
    ARPACK and LOBPCG make many small BLAS calls; on a machine whose cores are busy,
    multi-threaded OpenBLAS / OpenMP spin-waiting can slow them down 10x or more, and one
    thread (``OPENBLAS_NUM_THREADS=1``, :func:`torch.set_num_threads`) is then faster.

    Raises
    ------
    ValueError
        Bad ``method``, ``n_modes``, ``tol``, ``preconditioner`` or a non-square ``H``.
    GridError
        Too little memory; lobpcg with ``N_total < 3 L``; ``method="dense"`` on more than
        :data:`DENSE_MAX_POINTS` points; eigsh without convergence or with ``sigma`` above
        a level found; lobpcg breakdown.  lobpcg running out of iterations is *not* an
        error here: it returns ``converged=False`` (see :func:`require_converged`).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if H.ndim != 2 or H.shape[0] != H.shape[1]:
        raise ValueError(f"H must be square, got shape {H.shape}")
    n = H.shape[0]
    L = int(n_modes)
    if L < 1 or L > n:
        raise ValueError(f"n_modes must be between 1 and the matrix size {n}, got {n_modes}")
    tol = DEFAULT_TOL if tol is None else float(tol)
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol!r}")
    if preconditioner not in (None, "jacobi"):
        raise ValueError(f"preconditioner must be None or 'jacobi', got {preconditioner!r}")
    if preconditioner is not None and method != "lobpcg":
        raise ValueError(f"preconditioner is only available for method 'lobpcg', not {method!r}")
    if max_iter is not None and int(max_iter) < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter!r}")
    H = sp.csr_array(H, dtype=np.float64)
    spacing = None if spacing is None else np.asarray(spacing, dtype=np.float64)
    N = _grid_label(n, spacing)
    if method == "eigsh" and n < 3 * L:
        warnings.warn(f"grid of {n} points is too small for eigsh with {L} modes (needs 3 x {L}); "
                      "using the dense solver", RuntimeWarning, stacklevel=2)
        method = "dense"
    if method == "lobpcg" and n < 3 * L:
        raise GridError(f"--grid: lobpcg needs at least 3 x {L} = {3 * L} grid points for {L} modes, "
                        f"got {n}" + (f" (N={N} per axis)" if N is not None else ""))
    if method == "dense" and n > DENSE_MAX_POINTS:
        raise GridError(f"--method dense: grid of {n} points exceeds the dense limit of "
                        f"{DENSE_MAX_POINTS}; use eigsh or lobpcg")
    nnz_row = max(1, math.ceil(H.nnz / n))
    check_memory(n, L, method, nnz_per_row=nnz_row, dimension=len(spacing) if spacing is not None else 2,
                 max_memory=max_memory, n_points=N, include_matrix=False)

    with _PeakMemory() as mem:
        t0 = time.perf_counter()
        if method == "dense":
            E, V = scipy.linalg.eigh(H.toarray(), subset_by_index=[0, L - 1])
            ok, iters, used_sigma = True, 0, None
        elif method == "eigsh":
            E, V, ok, iters, used_sigma = _eigsh(H, L, max_iter, sigma, seed)
        else:
            E, V, ok, iters = _lobpcg(H, L, tol, LOBPCG_MAX_ITER if max_iter is None else int(max_iter),
                                      preconditioner, seed)
            used_sigma = None
        E, V, res = _finish(H, E, V, spacing)
        wall = time.perf_counter() - t0
    if method == "lobpcg" and max_iter is None:
        max_iter = LOBPCG_MAX_ITER
    if used_sigma is not None and sigma is not None and E[0] < used_sigma:
        raise GridError(f"--sigma: shift {sigma:g} lies above the level {E[0]:.6g}, so the levels found need "
                        f"not be the lowest; leave --sigma unset or lower it")
    return GridSolution(energies=E, eigenvectors=V, residuals=res, converged=bool(ok and np.all(res <= tol)),
                        iterations=int(iters), method=method, wall_time=wall, peak_memory=mem.peak, tol=tol,
                        max_iter=max_iter, sigma=used_sigma)


def _shift_invert(H, sigma, positive_definite):
    n = H.shape[0]
    A = (H - sigma * sp.eye_array(n, format="csr")).tocsc()
    if positive_definite:  # symmetric minimum-degree ordering, no pivoting
        return splu(A, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options=dict(SymmetricMode=True))
    return splu(A)


def _arpack(H, k, sigma, lu, max_iter, v0, count, ncv=None):
    def solve(b):
        count[0] += 1
        return lu.solve(np.asarray(b, dtype=np.float64))

    n = H.shape[0]
    op = LinearOperator((n, n), matvec=solve, dtype=np.float64)
    return eigsh(H, k=k, sigma=sigma, which="LM", OPinv=op, tol=0, maxiter=max_iter, v0=v0, ncv=ncv)


def _eigsh(H, L, max_iter, sigma, seed):
    """Shift-invert ARPACK.  Default shift, in two stages: ``s1`` = Gershgorin lower bound
    minus a margin (below the spectrum), the lowest level ``E0`` from the ``k = 1`` problem
    around ``s1``, then ``sigma = E0 - 0.01 (E0 - s1)``: still below the spectrum but much
    closer, which spreads the shift-inverted levels ``1 / (E - sigma)`` apart (about half
    the solves on the 2D hydrogen grid, for one more factorisation)."""
    n = H.shape[0]
    lower, upper = gershgorin_bounds(H)
    v0 = np.random.default_rng(seed).standard_normal(n)
    count = [0]
    if sigma is None:
        s1 = lower - 1e-3 * max(abs(lower), 1e-6 * (upper - lower))
        lu = _shift_invert(H, s1, True)
        try:
            e0 = float(_arpack(H, 1, s1, lu, max_iter, v0, count)[0][0])
            sigma = e0 - 0.01 * (e0 - s1)
            del lu
            lu = _shift_invert(H, sigma, True)
        except ArpackNoConvergence:
            sigma = s1
    else:
        sigma = float(sigma)
        lu = _shift_invert(H, sigma, sigma < lower)
    try:
        E, V = _arpack(H, L, sigma, lu, max_iter, v0, count)
    except ArpackNoConvergence as exc:
        got = len(exc.eigenvalues)
        raise GridError(f"--max-iter: eigsh did not converge within {max_iter or 10 * n} restarts "
                        f"({got} of {L} levels converged); raise --max-iter") from None
    return E, V, True, count[0], sigma


def _lobpcg(H, L, tol, max_iter, preconditioner, seed):
    import torch

    n = H.shape[0]
    nb = max(L, min(_lobpcg_block(L), n // 3))
    coo = H.tocoo()
    idx = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    A = torch.sparse_coo_tensor(idx, torch.from_numpy(coo.data.astype(np.float64)), (n, n),
                                check_invariants=False).coalesce()
    iK = None
    if preconditioner == "jacobi":
        lower, upper = gershgorin_bounds(H)
        s = lower - 1e-3 * max(abs(lower), upper - lower)
        d = torch.from_numpy(1.0 / (H.diagonal() - s))
        ar = torch.arange(n)
        iK = torch.sparse_coo_tensor(torch.stack([ar, ar]), d, (n, n), check_invariants=False).coalesce()
    gen = torch.Generator().manual_seed(int(seed))
    X0 = torch.randn(n, nb, generator=gen, dtype=torch.float64)
    state = {"it": 0}

    def tracker(w):
        E, X, R = w.E[:L], w.X[:, :L], w.R[:, :L]
        res = R.norm(dim=0) / (X.norm(dim=0) * E.abs().clamp_min(torch.finfo(torch.float64).tiny))
        state["it"] = int(w.ivars["istep"])
        if w.ivars["istep"] > 1 and bool((res <= tol).all()):
            w.bvars["force_stop"] = True

    eps = float(np.finfo(np.float64).eps) ** 0.5
    try:
        E, X = torch.lobpcg(A, k=L, X=X0, niter=max_iter, tol=0.0, largest=False, iK=iK,
                            method="basic" if iK is not None else "ortho", tracker=tracker,
                            ortho_fparams=None if iK is not None else
                            {"ortho_tol": eps, "ortho_tol_drop": eps, "ortho_tol_replace": eps})
    except (RuntimeError, ValueError) as exc:  # torch.linalg.LinAlgError is a RuntimeError
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        what = " --preconditioner jacobi" if iK is not None else ""
        raise GridError(f"--method lobpcg{what}: broke down after {state['it']} iterations "
                        f"({msg}); use --method eigsh") from None
    return E.numpy(), X.numpy(), True, state["it"]


def require_converged(solution: GridSolution) -> GridSolution:
    """Return ``solution`` if it converged, else raise a one-line :class:`GridError`.

    Raises
    ------
    GridError
        E.g. ``"--max-iter: lobpcg did not converge in 5000 iterations: largest relative
        residual 3.2e-04 above --tol 1e-06"``.
    """
    if solution.converged:
        return solution
    worst = float(np.max(solution.residuals))
    level = int(np.argmax(solution.residuals))
    if solution.method == "lobpcg":
        raise GridError(f"--max-iter: lobpcg did not converge in {solution.iterations} iterations: largest "
                        f"relative residual {worst:.2e} (level {level}) above --tol {solution.tol:g}; "
                        "raise --max-iter or --tol, or use --method eigsh")
    raise GridError(f"--tol: {solution.method} reached a relative residual of {worst:.2e} (level {level}), "
                    f"above --tol {solution.tol:g}; raise --tol")
