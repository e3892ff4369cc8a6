"""Neural results, analytic references and classical grid solvers in one table (``nsvd compare``).

:func:`compare` takes *sources* — problem names / spec files and NeuralSVD results files of
one problem — and grid *baselines* (:mod:`nsvd_cli.baselines.grid`: ``eigsh``, ``lobpcg``,
``dense`` on one or more grid sizes), and returns a :class:`Comparison`: the energies of
``H`` of every method side by side with the reference, their relative errors, cost and
convergence, and for results files the eigenfunction metrics.  No printing here; the CLI
(:mod:`nsvd_cli.cli.compare`) renders it, :func:`write_comparison` stores it.

Rules
-----
* **Reference**: the closed form of :func:`nsvd_cli.references.analytic_reference` when the
  problem has one; otherwise the eigsh solution on the finest requested grid (named
  ``"grid reference (eigsh, N=...)"``).  Grid references are solved for ``L + 1`` levels to
  tell whether the ``L`` modes cut the last degenerate multiplet.
* **Results files**: eigenvalues of ``T`` are converted to energies of ``H`` with the file's
  own ``shift`` and ``scale`` (``E = shift - lambda / scale``); the eigenvalue and
  eigenfunction metrics are recomputed with :func:`nsvd_cli.evaluate.evaluate_model` on the
  file's own evaluation rule — the code path ``nsvd solve`` used to store them, so they agree
  with the file.  Several files must share potential, dimension, kinetic coefficient, shift
  and scale (and a problem named with them its potential, dimension and kinetic
  coefficient), else :class:`~nsvd_cli.errors.ComparisonError`.
* **Eigenfunctions against the grid**: when grid solutions were computed, each file's
  eigenfunctions are evaluated at the grid points of the finest converged one (eigsh or
  dense preferred over lobpcg at equal size) and compared with its eigenvectors (weights
  ``prod(spacing)``): Procrustes alignment within the reference's degenerate groups, angle
  distances, subspace distances and orthogonality (:mod:`nsvd_cli.metrics`).
* **Honesty**: a grid solution that did not reach ``tol`` (lobpcg out of iterations) is
  kept in the table with ``converged = False`` and its residual, and is never used as the
  reference or for the eigenfunction comparison.  Memory is estimated before each grid
  matrix is built; anything above ``max_memory`` raises
  :class:`~nsvd_cli.baselines.grid.GridError` before any solve starts.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from . import metrics
from .baselines.grid import (
    DENSE_MAX_POINTS,
    METHODS,
    GridError,
    GridSolution,
    check_memory,
    grid_for_spec,
    solve_grid,
)
from .errors import ComparisonError, SpecError
from .files.compare import EIGENVECTOR_LIMIT, FORMAT, FORMAT_VERSION, write_comparison
from .files.hdf5 import encode_groups
from .spec import ProblemSpec, load_spec

__all__ = [
    "Comparison",
    "MethodResult",
    "compare",
    "write_comparison",
    "parse_memory",
    "parse_grid",
    "parse_box",
    "FORMAT",
    "FORMAT_VERSION",
    "DEFAULT_GRID",
    "EIGENVECTOR_LIMIT",
]

#: Grid points per axis when none are given.
DEFAULT_GRID = (200,)
#: Relative tolerance under which grid-reference energies count as degenerate.
GROUP_RTOL = 1e-8
_RESULTS_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5")
_METHOD_RANK = {"eigsh": 2, "dense": 2, "lobpcg": 1}


# --------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------

@dataclass(eq=False)
class MethodResult:
    """One column group of the comparison table: a grid solve or a NeuralSVD results file.

    Attributes
    ----------
    label : str
        ``"eigsh N=400"`` (requested method and points per axis) or the results file name.
    kind : {"grid", "neural"}
    method : {"eigsh", "lobpcg", "dense", "nsvd"}
        What actually ran (eigsh falls back to dense on grids with fewer than 3 L points).
    grid : int
        Points per axis ``N`` (0 for neural results).
    energies : ndarray, shape (L,)
        Energies of ``H``, ascending mode order; NaN beyond the modes a results file has.
    relative_errors : ndarray, shape (L,)
        ``|E - E_ref| / |E_ref|``; NaN where not defined (missing mode, or for a results file
        a mode whose reference eigenvalue of its ``T`` is <= 0, which is not learned).
    mean_relative_error : float
        Mean of the defined ``relative_errors``.
    wall_time : float
        Seconds: the grid solve (``GridSolution.wall_time``) or the training run.
    peak_memory : int
        Bytes the grid solve needed on top of ``H`` (-1: unknown, neural).
    iterations : int
        lobpcg iterations / eigsh shift-invert solves / 0 for dense / training iterations.
        (An eigsh row that is also the grid reference was solved for ``L + 1`` levels.)
    converged : bool
        Grid: every relative residual ``<= tol``.  Neural: every counted energy is finite.
    note : str
        Why a row is marked, e.g. ``"not converged: max residual 3.2e-04 > tol 1e-06"``.
    residuals, tol, build_time, n_points_total, sigma
        Grid only: relative residuals ``(L,)``, the tolerance, seconds to build ``H``, ``N^D``
        and the eigsh shift.
    eigenvectors, points, spacing
        Grid only, when kept: ``(N^D, L)`` eigenvectors normalised as functions, the
        ``(N^D, D)`` grid points and the spacing ``(D,)``.
    path : Path or None
        Neural only: the results file.
    evaluation : Evaluation or None
        Neural only: the evaluation recomputed on the file's quadrature rule (the metrics
        ``nsvd solve`` stored).
    counted : ndarray of bool or None
        Neural only: modes whose reference eigenvalue of the file's ``T`` is > 0.
    stored_discrepancy : float
        Neural only: ``max |lambda_recomputed - lambda_stored| / max |lambda_stored|``.
    grid_comparison : str
        Neural only: label of the grid solution the eigenfunctions were compared with ("" if
        none).
    angle_distances : ndarray, shape (L,), or None
        Neural only: against the grid eigenvectors, after Procrustes alignment within the
        reference degenerate groups (NaN for modes not counted).
    subspace_distances : ndarray, shape (G,), or None
        Neural only: per reference degenerate group, against the grid eigenvectors.
    orthogonality : float
        Neural only: of the counted learned functions on the grid (NaN without a grid).
    """

    label: str
    kind: str
    method: str
    grid: int
    energies: np.ndarray
    relative_errors: np.ndarray
    mean_relative_error: float
    wall_time: float
    peak_memory: int
    iterations: int
    converged: bool
    note: str = ""
    residuals: np.ndarray | None = None
    tol: float | None = None
    build_time: float | None = None
    n_points_total: int = 0
    sigma: float | None = None
    eigenvectors: np.ndarray | None = field(default=None, repr=False)
    points: np.ndarray | None = field(default=None, repr=False)
    spacing: np.ndarray | None = None
    path: Path | None = None
    evaluation: object = field(default=None, repr=False)
    counted: np.ndarray | None = None
    stored_discrepancy: float = float("nan")
    grid_comparison: str = ""
    angle_distances: np.ndarray | None = None
    subspace_distances: np.ndarray | None = None
    orthogonality: float = float("nan")

    @property
    def max_residual(self) -> float:
        """Largest relative residual of a grid solution (NaN for neural results)."""
        return float(np.max(self.residuals)) if self.residuals is not None else float("nan")

    def to_dict(self) -> dict:
        """JSON-ready dict (NaN as None; no eigenvectors or points)."""
        out = {"label": self.label, "kind": self.kind, "method": self.method, "grid": self.grid,
               "wall_time": self.wall_time, "peak_memory": self.peak_memory, "iterations": self.iterations,
               "converged": self.converged, "mean_relative_error": self.mean_relative_error,
               "note": self.note, "energies": self.energies, "relative_errors": self.relative_errors}
        if self.kind == "grid":
            out.update(residuals=self.residuals, max_residual=self.max_residual, tol=self.tol,
                       build_time=self.build_time, points_total=self.n_points_total, sigma=self.sigma)
        else:
            ev = self.evaluation
            out.update(path=str(self.path), stored_discrepancy=self.stored_discrepancy,
                       metrics=ev.summary() if ev is not None else {},
                       relative_error=None if ev is None else ev.relative_errors,
                       energy_relative_error=None if ev is None else ev.energy_relative_errors,
                       quadrature_angle_distances=None if ev is None else ev.angle_distances,
                       quadrature_subspace_distances=None if ev is None else ev.subspace_distances,
                       grid_comparison=self.grid_comparison, angle_distances=self.angle_distances,
                       subspace_distances=self.subspace_distances, orthogonality=self.orthogonality)
        return _jsonable(out)


@dataclass(eq=False)
class Comparison:
    """Everything ``nsvd compare`` shows and writes.

    Attributes
    ----------
    spec : ProblemSpec
        The problem (of the first source), with ``modes`` set to ``L``.
    reference_name : str
        E.g. ``"hydrogen2d (analytic)"`` or ``"grid reference (eigsh, N=400)"``.
    reference_kind : {"analytic", "grid"}
    reference_energies : ndarray, shape (L,)
    quantum_numbers : ndarray of int, shape (L, q)
        ``q = 0`` for a grid reference.
    quantum_labels : tuple of str
    groups : list of ndarray of int
        Degenerate groups of the reference (consecutive indices covering ``0..L-1``).
    complete_last_group : bool
        False when ``L`` cuts the last degenerate multiplet.
    methods : list of MethodResult
        Table order: results files (in the order given), then grid solutions by grid size
        and baseline order.
    box : tuple of (lo, hi)
        Grid box.
    order : int
        Finite-difference order.
    tol : float or None
        Residual tolerance given (None: the grid module's default).
    warnings : list of str
        Things the user should know (eigsh fell back to dense, stored and recomputed
        eigenvalues differ, ...).
    """

    spec: ProblemSpec
    reference_name: str
    reference_kind: str
    reference_energies: np.ndarray
    quantum_numbers: np.ndarray
    quantum_labels: tuple
    groups: list
    complete_last_group: bool
    methods: list
    box: tuple
    order: int
    tol: float | None
    warnings: list = field(default_factory=list)

    @property
    def n_modes(self) -> int:
        """Number ``L`` of modes in the table."""
        return len(self.reference_energies)

    def failures(self, threshold: float) -> list[MethodResult]:
        """Methods whose mean relative error exceeds ``threshold`` (or is not a number)."""
        return [m for m in self.methods if not (m.mean_relative_error <= threshold)]

    def to_dict(self) -> dict:
        """JSON-ready dict of the whole comparison (NaN as None)."""
        gid = encode_groups(self.groups, self.n_modes)
        return _jsonable({
            "format": FORMAT, "format_version": FORMAT_VERSION, "problem": self.spec.name,
            "box": [list(b) for b in self.box], "order": self.order, "tol": self.tol,
            "reference": {"name": self.reference_name, "kind": self.reference_kind,
                          "energies": self.reference_energies, "quantum_numbers": self.quantum_numbers,
                          "quantum_labels": list(self.quantum_labels), "groups": gid,
                          "complete_last_group": self.complete_last_group},
            "methods": [m.to_dict() for m in self.methods],
            "warnings": list(self.warnings),
        })


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj


# --------------------------------------------------------------------------------------
# option parsing (shared by the CLI and scripts)
# --------------------------------------------------------------------------------------

_UNITS = {"": 1, "b": 1, "k": 2**10, "ki": 2**10, "kib": 2**10, "kb": 10**3, "m": 2**20, "mi": 2**20,
          "mib": 2**20, "mb": 10**6, "g": 2**30, "gi": 2**30, "gib": 2**30, "gb": 10**9, "t": 2**40,
          "ti": 2**40, "tib": 2**40, "tb": 10**12}


def parse_memory(text: str | float | int | None) -> int | None:
    """Bytes from a size such as ``"4GiB"``, ``"500MB"``, ``"2G"`` or ``"1e9"``.

    ``K``, ``M``, ``G``, ``T`` alone or with ``iB`` are binary (``2^10``...), ``KB``, ``MB``,
    ``GB``, ``TB`` decimal; no unit means bytes.  ``None`` stays ``None`` (no limit given).

    Raises
    ------
    ComparisonError
        ``"--max-memory: ..."`` for anything else or a non-positive size.
    """
    if text is None:
        return None
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value, unit = float(text), ""
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
        if not m or m.group(2).lower() not in _UNITS:
            raise ComparisonError(f"--max-memory: cannot read {text!r}; give a size such as 4GiB, 500MB or 2e9")
        value, unit = float(m.group(1)), m.group(2).lower()
    if not value > 0 or not math.isfinite(value):
        raise ComparisonError(f"--max-memory: must be > 0, got {text!r}")
    return int(value * _UNITS[unit])


def parse_grid(text: str | Sequence[int] | None) -> list[int]:
    """Sorted, distinct points per axis from ``"200,400"`` (or a sequence of ints).

    Raises
    ------
    ComparisonError
        ``"--grid: ..."`` for non-integers or values below 2.
    """
    if text is None:
        return list(DEFAULT_GRID)
    items = [v.strip() for v in text.split(",")] if isinstance(text, str) else list(text)
    try:
        values = [int(v) for v in items if v != ""]
        if any(isinstance(v, str) and not re.fullmatch(r"[+]?\d+", v) for v in items if v != ""):
            raise ValueError
    except (TypeError, ValueError):
        raise ComparisonError(f"--grid: expected comma-separated integers (points per axis), got {text!r}") from None
    if not values or min(values) < 2:
        raise ComparisonError(f"--grid: need integers >= 2 (points per axis), got {text!r}")
    return sorted(set(values))


def parse_box(text: str | None, dimension: int) -> tuple[tuple[float, float], ...] | None:
    """Grid box from ``"50"`` (``[-50, 50]`` on every axis) or ``"-50,50"`` / ``"0,10"``.

    Raises
    ------
    ComparisonError
        ``"--box: ..."`` when unreadable or empty.
    """
    if text is None:
        return None
    try:
        vals = [float(v) for v in str(text).split(",")]
    except ValueError:
        raise ComparisonError(f"--box: expected HALF_WIDTH or LO,HI, got {text!r}") from None
    if len(vals) == 1:
        vals = [-abs(vals[0]), abs(vals[0])]
    if len(vals) != 2 or not all(map(math.isfinite, vals)) or not vals[1] > vals[0]:
        raise ComparisonError(f"--box: expected HALF_WIDTH > 0 or LO,HI with HI > LO, got {text!r}")
    return ((vals[0], vals[1]),) * int(dimension)


# --------------------------------------------------------------------------------------
# sources
# --------------------------------------------------------------------------------------

@dataclass(eq=False)
class _Source:
    text: str
    spec: ProblemSpec
    results: object = None  # nsvd_cli.results.Results


def _is_results_path(text: str) -> bool:
    p = Path(text)
    if p.suffix.lower() in _RESULTS_SUFFIXES:
        return True
    if p.suffix.lower() == ".toml" or not p.is_file():
        return False
    import h5py

    try:
        return bool(h5py.is_hdf5(p))
    except OSError:
        return False


def _load_sources(sources: Sequence[str]) -> list[_Source]:
    from .files.results import load

    out, seen = [], set()
    for text in sources:
        text = str(text)
        if _is_results_path(text):
            res = load(text)
            out.append(_Source(text, res.spec, res))
        elif text not in seen:
            try:
                out.append(_Source(text, load_spec(text)))
            except SpecError as exc:
                if exc.field in ("problem", "spec"):
                    raise ComparisonError(f"{text}: neither a results file (.h5) nor a problem: {exc.message}") from None
                raise
        seen.add(text)
    return out


def _describe_potential(p) -> str:
    fields = ", ".join(f"{k}={v}" for k, v in p.parameters().items() if v not in (None, ""))
    return f"{p.kind} ({fields})" if fields else p.kind


def _check_conventions(sources: list[_Source]) -> None:
    """Refuse sources whose problem conventions differ (see module docstring)."""
    physics = [("potential", lambda s: s.potential, _describe_potential), ("dimension", lambda s: s.dimension, str),
               ("kinetic", lambda s: s.kinetic, lambda v: f"{v:g}")]
    operator = [("shift", lambda s: s.shift, lambda v: f"{v:g}"), ("scale", lambda s: s.scale, lambda v: f"{v:g}")]
    first = sources[0]
    files = [s for s in sources if s.results is not None]
    pairs = [(first, s, physics) for s in sources[1:]]
    if files:
        pairs += [(files[0], s, operator) for s in files[1:]]
    for a, b, checks in pairs:
        for name, get, fmt in checks:
            if get(a.spec) != get(b.spec):
                what = "results files" if a.results is not None and b.results is not None else "sources"
                raise ComparisonError(
                    f"{b.text} has {name} {fmt(get(b.spec))} but {a.text} has {fmt(get(a.spec))}: refusing to compare "
                    f"{what} with different conventions (potential, dimension, kinetic" +
                    (", shift, scale)" if what == "results files" else ")"))


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------

def _rel_errors(energies, ref) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return metrics.relative_errors(energies, ref)


def _truncate(sol: GridSolution, L: int) -> GridSolution:
    return dataclasses.replace(sol, energies=sol.energies[:L], eigenvectors=sol.eigenvectors[:, :L],
                               residuals=sol.residuals[:L], converged=bool(sol.converged or
                                                                           np.all(sol.residuals[:L] <= sol.tol)))


def _precheck(spec: ProblemSpec, grids, plan, L, order, max_memory) -> None:
    """Refuse, before any matrix is built, a (grid, method) that cannot run."""
    D = spec.dimension
    nnz_row = (2 if order == 2 else 4) * D + 1
    for N in grids:
        n = N**D
        for method, modes in plan(N):
            if method == "dense" and n > DENSE_MAX_POINTS:
                raise GridError(f"--baseline dense: grid N={N} ({n} points) exceeds the dense limit of "
                                f"{DENSE_MAX_POINTS}; use eigsh or lobpcg, or a smaller --grid")
            if method == "lobpcg" and n < 3 * modes:
                raise GridError(f"--grid: lobpcg needs at least 3 x {modes} = {3 * modes} grid points for {modes} "
                                f"modes, got {n} (N={N} per axis)")
            check_memory(n, modes, "dense" if method == "eigsh" and n < 3 * modes else method,
                         nnz_per_row=nnz_row, dimension=D, max_memory=max_memory, n_points=N, include_matrix=True)


def _evaluate_on_grid(results, points: np.ndarray, chunk: int = 16384) -> np.ndarray:
    """A results file's unit-normalised eigenfunctions at grid points, in chunks."""
    out = np.empty((len(points), len(results.eigenvalues)))
    for a in range(0, len(points), chunk):
        out[a:a + chunk] = results.eigenfunctions(points[a:a + chunk])
    return out


# --------------------------------------------------------------------------------------
# the comparison
# --------------------------------------------------------------------------------------

def compare(sources: Sequence[str], baselines: Sequence[str] = (), grids: Sequence[int] | str | None = None, *,
            order: int = 2, max_memory: float | str | None = None, tol: float | None = None,
            max_iter: int | None = None, preconditioner: str | None = None, box=None, seed: int = 0,
            keep_eigenvectors: bool = False, progress: Callable[[str], None] | None = None) -> Comparison:
    """Compare NeuralSVD results files and grid solvers against a reference, for one problem.

    Parameters
    ----------
    sources : sequence of str
        Problem names or ``.toml`` spec files and/or results files (``.h5``); at least one.
        All must describe the same problem (see the module docstring).  The table has
        ``L`` = the largest ``modes`` among them.
    baselines : sequence of {"eigsh", "lobpcg", "dense"}
        Grid methods to run on every grid size (in this order).
    grids : sequence of int or str, optional
        Points per axis ``N`` (``"200,400"`` accepted); default :data:`DEFAULT_GRID`.  Used
        by the baselines, and without an analytic reference for the eigsh reference (on the
        finest).
    order : {2, 4}
        Finite-difference order.
    max_memory : float or str, optional
        Limit in bytes (or ``"4GiB"``) for each grid solve including its matrix; default:
        the memory available now.
    tol : float, optional
        Relative residual tolerance of the grid solvers (default
        :data:`nsvd_cli.baselines.grid.DEFAULT_TOL`).
    max_iter : int, optional
        lobpcg iterations / ARPACK restarts.
    preconditioner : {None, "jacobi"}
        lobpcg preconditioner.
    box : sequence of (lo, hi) or str, optional
        Grid box (or ``"50"`` / ``"-50,50"`` for every axis, see :func:`parse_box`); default
        the problem's evaluation box.
    seed : int
        Random start of the grid solvers.
    keep_eigenvectors : bool
        Keep every grid solution's eigenvectors and points below
        :data:`EIGENVECTOR_LIMIT` bytes (for :func:`write_comparison`).
    progress : callable, optional
        Called with a short status string before each expensive step.

    Returns
    -------
    Comparison

    Raises
    ------
    ComparisonError
        No sources; different conventions; a source that is neither a problem nor a
        results file; invalid option values.
    GridError
        A grid that cannot be solved: too little memory, lobpcg with fewer than ``3 L``
        points, dense above its limit, a Coulomb grid point on the singularity, eigsh
        without convergence.
    ResultsFileError, SpecError
        Unreadable results file, invalid spec file.
    """
    from .evaluate import evaluate_model
    from .problem import Problem

    say = progress or (lambda msg: None)
    if not sources:
        raise ComparisonError("give at least one problem name, spec file or results file")
    baselines = list(dict.fromkeys(str(b) for b in baselines))
    for b in baselines:
        if b not in METHODS:
            raise ComparisonError(f"--baseline: unknown method {b!r}; expected one of {', '.join(METHODS)}")
    if order not in (2, 4):
        raise ComparisonError(f"--order: must be 2 or 4, got {order!r}")
    if tol is not None and not (float(tol) > 0 and math.isfinite(float(tol))):
        raise ComparisonError(f"--tol: must be > 0, got {tol!r}")
    if max_iter is not None and int(max_iter) < 1:
        raise ComparisonError(f"--max-iter: must be >= 1, got {max_iter!r}")
    if preconditioner not in (None, "jacobi"):
        raise ComparisonError(f"--preconditioner: must be 'jacobi', got {preconditioner!r}")
    if preconditioner is not None and "lobpcg" not in baselines:
        raise ComparisonError("--preconditioner: only lobpcg uses it; add --baseline lobpcg")
    grids = parse_grid(grids)
    max_memory = parse_memory(max_memory)

    srcs = _load_sources(sources)
    _check_conventions(srcs)
    L = max(s.spec.modes for s in srcs)
    spec = srcs[0].spec.model_copy(update={"modes": L})
    D = spec.dimension
    if isinstance(box, str):
        box = parse_box(box, D)
    box = tuple((float(lo), float(hi)) for lo, hi in (spec.evaluation.box if box is None else box))
    if len(box) != D:
        raise ComparisonError(f"--box: {len(box)} axes for a {D}-dimensional problem")
    # closed form if there is one; otherwise this comparison's own finest eigsh grid
    reference = Problem.from_spec(spec).closed_form_reference
    files = [s for s in srcs if s.results is not None]
    notes: list[str] = []

    # ---- grid solutions -------------------------------------------------------------
    finest = grids[-1]
    need_grid_ref = reference is None
    run_grids = grids if baselines else ([finest] if need_grid_ref else [])

    def plan(N):
        todo = [(m, L) for m in baselines]
        if need_grid_ref and N == finest:
            if "eigsh" in baselines:
                todo = [(m, L + 1 if m == "eigsh" else L) for m, _ in todo]
            else:
                todo.append(("eigsh", L + 1))
        return todo

    _precheck(spec, run_grids, plan, L, order, max_memory)
    grid_rows: list[MethodResult] = []
    ref_sol = None
    best = None  # (key, row) candidate for the eigenfunction comparison
    for N in run_grids:
        say(f"building the grid Hamiltonian, N={N} ({N**D} points)")
        t0 = time.perf_counter()
        H, points, spacing = grid_for_spec(spec, N, order=order, box=box)
        build_time = time.perf_counter() - t0
        for method, modes in plan(N):
            say(f"{method} N={N}: {modes} levels of a {H.shape[0]}-point grid")
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    sol = solve_grid(H, modes, method, spacing=spacing, tol=tol, max_iter=max_iter,
                                     preconditioner=preconditioner if method == "lobpcg" else None, seed=seed,
                                     max_memory=max_memory)
                except GridError as exc:
                    raise GridError(str(exc).replace("--method", "--baseline")) from None
                except ValueError as exc:  # e.g. more levels than grid points
                    raise GridError(f"--grid: {method} N={N}: {exc}") from None
            for w in caught:
                if issubclass(w.category, RuntimeWarning) and "dense" in str(w.message):
                    notes.append(f"{method} N={N}: {w.message}")
                else:
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            is_ref = need_grid_ref and N == finest and method == "eigsh"
            if is_ref:
                ref_sol = sol
                sol = _truncate(sol, L)
            if files and sol.converged:  # candidate grid for the eigenfunction comparison
                key = (is_ref, N, _METHOD_RANK[sol.method])
                if best is None or key > best[0]:
                    best = (key, {"label": f"{method} N={N}", "vectors": sol.eigenvectors, "points": points,
                                  "spacing": spacing})
            if is_ref and "eigsh" not in baselines:
                continue
            note = "" if sol.converged else (f"not converged: max residual {np.max(sol.residuals):.1e} > tol "
                                             f"{sol.tol:g} after {sol.iterations} iterations")
            row = MethodResult(label=f"{method} N={N}", kind="grid", method=sol.method, grid=N,
                               energies=sol.energies, relative_errors=np.full(L, np.nan),
                               mean_relative_error=float("nan"), wall_time=sol.wall_time,
                               peak_memory=int(sol.peak_memory), iterations=sol.iterations, converged=sol.converged,
                               note=note, residuals=sol.residuals, tol=sol.tol, build_time=build_time,
                               n_points_total=H.shape[0], sigma=sol.sigma, spacing=spacing)
            if keep_eigenvectors and sol.eigenvectors.nbytes < EIGENVECTOR_LIMIT:
                row.eigenvectors, row.points = sol.eigenvectors, points
            grid_rows.append(row)
        del H

    # ---- reference --------------------------------------------------------------------
    if reference is not None:
        ref_name, ref_kind = reference.name, "analytic"
        ref_E = np.asarray(reference.energies, dtype=np.float64)
        qn = np.asarray(reference.quantum_numbers, dtype=np.int64).reshape(L, -1)
        labels = tuple(reference.quantum_labels)
        groups = [np.asarray(g) for g in reference.groups]
        complete = bool(reference.complete_last_group)
    else:
        ref_name, ref_kind = f"grid reference (eigsh, N={finest})", "grid"
        # L + 1 levels: is the L-th multiplet cut?
        groups, complete = metrics.truncated_groups(ref_sol.energies, L, GROUP_RTOL)
        ref_E = np.asarray(ref_sol.energies[:L], dtype=np.float64)
        qn = np.zeros((L, 0), dtype=np.int64)
        labels = ()
    for row in grid_rows:
        row.relative_errors = _rel_errors(row.energies, ref_E)
        row.mean_relative_error = metrics.nanmean(row.relative_errors)

    # ---- results files ------------------------------------------------------------------
    neural_rows = []
    names = [Path(s.text).name for s in files]
    for s, name in zip(files, names):
        res, fs = s.results, s.results.spec
        label = name if names.count(name) == 1 else s.text
        say(f"{label}: evaluating the learned eigenfunctions on its quadrature rule")
        file_problem = Problem.from_spec(fs)
        ev = evaluate_model(res.model, file_problem)
        stored = np.asarray(res.eigenvalues, dtype=np.float64)
        discrepancy = float(np.max(np.abs(ev.eigenvalues - stored)) / max(np.max(np.abs(stored)), 1e-300))
        if discrepancy > 1e-6:
            notes.append(f"{label}: eigenvalues recomputed on its quadrature differ from the stored ones by "
                         f"{discrepancy:.1e} (relative); written by another nsvd version?")
        Lf = min(len(stored), L)
        energies = np.full(L, np.nan)
        energies[:Lf] = file_problem.energies_from_eigenvalues(stored)[:Lf]  # the file's own shift and scale
        counted = np.zeros(L, dtype=bool)
        counted[:Lf] = file_problem.eigenvalues_from_energies(ref_E[:Lf]) > 0
        rel = np.where(counted, _rel_errors(energies, ref_E), np.nan)
        row = MethodResult(label=label, kind="neural", method="nsvd", grid=0, energies=energies,
                           relative_errors=rel, mean_relative_error=metrics.nanmean(rel),
                           wall_time=float(res.run.get("wall_time", float("nan"))), peak_memory=-1,
                           iterations=int(res.run.get("iterations", -1)),
                           converged=bool(np.all(np.isfinite(energies[counted]))), path=Path(s.text),
                           evaluation=ev, counted=counted, stored_discrepancy=discrepancy)
        if not row.converged:
            row.note = "non-finite energies"
        if best is not None:
            g = best[1]
            say(f"{label}: evaluating the learned eigenfunctions on the {g['label']} grid")
            values = np.zeros((len(g["points"]), L))
            values[:, :Lf] = _evaluate_on_grid(res, g["points"])[:, :Lf]
            w = np.full(len(g["vectors"]), float(np.prod(g["spacing"])))
            row.angle_distances, row.subspace_distances, row.orthogonality = metrics.group_distances(
                values, g["vectors"], groups, counted, complete, w)
            row.grid_comparison = g["label"]
        neural_rows.append(row)

    return Comparison(spec=spec, reference_name=ref_name, reference_kind=ref_kind, reference_energies=ref_E,
                      quantum_numbers=qn, quantum_labels=labels, groups=groups, complete_last_group=complete,
                      methods=neural_rows + grid_rows, box=box, order=order, tol=tol, warnings=notes)
