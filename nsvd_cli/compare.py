"""Neural results, references and classical grid solvers in one table: the comparison core.

:func:`compare` takes *sources* — problem names / spec files and NeuralSVD results files of
one problem — and grid *baselines* (:mod:`nsvd_cli.baselines`: ``eigsh``, ``lobpcg``,
``dense`` on one or more grid sizes), and returns a :class:`~nsvd_cli.comparison.Comparison`:
the energies of ``H`` of every method side by side with the reference, their errors, cost
and convergence, and for results files the eigenfunction metrics.  Its parameters are typed
values (lists of ints, tuples of floats, bytes); reading command-line strings and naming
flags is :mod:`nsvd_cli.cli.compare`'s job.  Errors are
:class:`~nsvd_cli.errors.ComparisonError` / :class:`~nsvd_cli.errors.GridError` carrying the
``parameter`` at fault.  The steps are separate functions: :func:`load_sources`,
:func:`check_conventions`, :func:`comparison_reference`, :func:`run_grids` (the only one that
solves) and :func:`build_comparison` (pure: loaded results and grid solutions in, a
comparison out).

Rules
-----
* **Reference**: the one every command uses for the problem
  (:func:`nsvd_cli.baselines.reference.reference_for` with ``required=True``): the closed
  form where there is one, else the cached order-4 eigsh grid reference of ``nsvd solve``
  (``N`` by dimension or ``reference_grid``), with its estimated error
  (:func:`~nsvd_cli.baselines.reference.grid_reference_error`) shown beside it.
* **Results files**: eigenvalues of ``T`` are converted to energies of ``H`` with the file's
  own ``shift`` and ``scale``; the metrics are recomputed with
  :func:`nsvd_cli.evaluate.evaluate_model` on the file's own evaluation rule — the code path
  ``nsvd solve`` used to store them.  Several files must share potential, dimension,
  kinetic coefficient, shift and scale (and a problem named with them its potential,
  dimension and kinetic coefficient), else :class:`~nsvd_cli.errors.ComparisonError`.
* **Errors**: relative to ``max(|E_ref|, Delta)`` (:mod:`nsvd_cli.comparison`).
* **Quantum numbers**: a grid solution's levels are put in the reference's rows by
  eigenvector overlap (:func:`match_levels`) when the reference has quantum numbers;
  when that cannot be done the table leaves the quantum numbers out.
* **Eigenfunctions against the grid**: each file's eigenfunctions are evaluated at the
  points of the finest converged grid solution (or of the grid reference) and compared
  with its eigenvectors: Procrustes alignment within the reference's degenerate groups,
  angle and subspace distances, orthogonality (:mod:`nsvd_cli.metrics`).
* **Honesty**: a grid solution that did not reach ``tol`` is kept with
  ``converged = False`` and its residual, and never used for the eigenfunction
  comparison.  Memory is estimated before each grid matrix is built; anything above
  ``max_memory`` raises :class:`~nsvd_cli.errors.GridError` before any solve starts.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from . import metrics
from .baselines.eigen import GridProgress, GridSolution, solve_grid
from .baselines.grid import DENSE_MAX_POINTS, METHODS, grid_for_spec
from .baselines.memory import check_memory
from .comparison import Comparison, MethodResult, grid_box_notes, reference_resolution_notes
from .errors import ComparisonError, GridError, SpecError
from .files.compare import EIGENVECTOR_LIMIT, FORMAT, FORMAT_VERSION, write_comparison
from .metrics import match_levels
from .spec import ProblemSpec, load_spec

__all__ = ["Comparison", "MethodResult", "Source", "GridRun", "compare", "load_sources", "check_conventions",
           "comparison_reference", "run_grids", "build_comparison", "match_levels", "write_comparison", "grid_box_notes",
           "FORMAT", "FORMAT_VERSION", "DEFAULT_GRID", "EIGENVECTOR_LIMIT"]

#: Grid points per axis of the baselines when none are given.
DEFAULT_GRID = (200,)
_RESULTS_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5")
_METHOD_RANK = {"eigsh": 2, "dense": 2, "lobpcg": 1}
#: Smallest overlap weight of a clean match of a grid level to a reference subspace.
MATCH_THRESHOLD = 0.5
#: Largest overlap of two unit-normalised reference functions on the grid's points above which
#: the comparison notes that the box distorts them (``--box 1`` for ``harmonic2d``: 0.97).
REFERENCE_SKEW_NOTE = 0.1
Progress = Callable[[str], None]


@dataclass(eq=False)
class Source:
    """A source of the comparison: ``text`` as given, its spec, and the loaded results file (or None)."""

    text: str
    spec: ProblemSpec
    results: object = None  # nsvd_cli.files.results.Results


@dataclass(eq=False)
class GridRun:
    """One grid solve of :func:`run_grids`: the solution (``L`` levels) and its grid.

    ``points`` (N^D, D) and ``spacing`` (D,) locate the eigenvectors; ``build_time`` is the
    seconds spent building ``H``; ``n_points_total`` its size.
    """

    label: str
    grid: int
    solution: GridSolution
    points: np.ndarray
    spacing: np.ndarray
    build_time: float
    n_points_total: int


# --------------------------------------------------------------------------------------
# sources
# --------------------------------------------------------------------------------------

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


def load_sources(sources: Sequence[str | Path], dimension: int | None = None) -> list[Source]:
    """Problems (names, ``.toml``) and results files (``.h5``), loaded; duplicates of a problem dropped.

    ``dimension`` moves the problems (not the results files) to that dimension (``--dim``,
    :func:`nsvd_cli.spec.load_spec`).

    Raises
    ------
    ComparisonError
        No sources, or one that is neither a results file nor a problem.
    ResultsFileError, SpecError
        An unreadable results file or invalid spec file.
    """
    from .files.results import load

    if not sources:
        raise ComparisonError("give at least one problem name, spec file or results file", parameter="sources")
    out, seen = [], set()
    for text in map(str, sources):
        if _is_results_path(text):
            res = load(text)
            out.append(Source(text, res.spec, res))
        elif text not in seen:
            try:
                out.append(Source(text, load_spec(text, dimension=dimension, family_only=True)))
            except SpecError as exc:
                if exc.field in ("problem", "spec"):
                    raise ComparisonError(f"{text}: neither a results file (.h5) nor a problem: {exc.message}",
                                          parameter="sources") from None
                raise
        seen.add(text)
    return out


def _describe_potential(p) -> str:
    fields = ", ".join(f"{k}={v}" for k, v in p.parameters().items() if v not in (None, ""))
    return f"{p.kind} ({fields})" if fields else p.kind


def check_conventions(sources: list[Source]) -> None:
    """Refuse sources whose problem conventions differ (see the module docstring).

    Raises
    ------
    ComparisonError
        Naming both sources and the differing convention.
    """
    physics = [("potential", lambda s: s.potential, _describe_potential), ("dimension", lambda s: s.dimension, str),
               ("kinetic", lambda s: s.kinetic, lambda v: f"{v:g}")]
    operator = [("shift", lambda s: s.shift, lambda v: f"{v:g}"), ("scale", lambda s: s.scale, lambda v: f"{v:g}")]
    files = [s for s in sources if s.results is not None]
    pairs = [(sources[0], s, physics) for s in sources[1:]] + [(files[0], s, operator) for s in files[1:]]
    for a, b, checks in pairs:
        for name, get, fmt in checks:
            if get(a.spec) != get(b.spec):
                what = "results files" if a.results is not None and b.results is not None else "sources"
                raise ComparisonError(
                    f"{b.text} has {name} {fmt(get(b.spec))} but {a.text} has {fmt(get(a.spec))}: refusing to compare "
                    f"{what} with different conventions (potential, dimension, kinetic" +
                    (", shift, scale)" if what == "results files" else ")"), parameter="sources")


def comparison_reference(spec: ProblemSpec, *, max_memory: float | None = None):
    """The problem's reference (the one ``solve`` uses) and its estimated absolute error, shape (L,).

    Raises
    ------
    ComparisonError
        The problem has no reference (no closed form, dimension above 3).
    GridError
        The grid reference cannot be solved (``parameter="reference_grid"``).
    """
    from .baselines.reference import grid_reference_error, grouped_within_error, reference_for

    reference = reference_for(spec, required=True, max_memory=max_memory)
    if reference is None:
        raise ComparisonError(f"{spec.name}: no reference (no closed form, and grid references need dimension "
                              f"<= 3, got {spec.dimension})", parameter="sources")
    if reference.kind == "grid":
        error = grid_reference_error(spec, reference, max_memory=max_memory)
        return grouped_within_error(reference, error), error
    return reference, np.zeros(reference.n_modes)


# --------------------------------------------------------------------------------------
# grid solutions
# --------------------------------------------------------------------------------------

def _precheck(spec: ProblemSpec, grids, baselines, L, order, max_memory) -> None:
    """Refuse, before any matrix is built, a (grid, method) that cannot run."""
    D = spec.dimension
    nnz_row = (2 if order == 2 else 4) * D + 1
    for N in grids:
        n = N**D
        for method in baselines:
            if method == "dense" and n > DENSE_MAX_POINTS:
                raise GridError(f"dense: grid N={N} ({n} points) exceeds the dense limit of {DENSE_MAX_POINTS}; "
                                "use eigsh or lobpcg, or a smaller grid", parameter="method")
            if method == "lobpcg" and n < 3 * L:
                raise GridError(f"lobpcg needs at least 3 x {L} = {3 * L} grid points for {L} modes, got {n} "
                                f"(N={N} per axis)", parameter="grid")
            check_memory(n, L, "dense" if method == "eigsh" and n < 3 * L else method, nnz_per_row=nnz_row,
                         dimension=D, max_memory=max_memory, n_points=N, include_matrix=True)


def _grid_progress(say: Progress, label: str) -> Callable[[GridProgress], None]:
    def report(p: GridProgress) -> None:
        residual = "" if not math.isfinite(p.residual) else f", max residual {p.residual:.1e}"
        what = "solves" if p.method == "eigsh" else "iteration"
        say(f"{label}: {p.stage or what + ' ' + str(p.iteration)}{residual}")  # the reporter adds elapsed times

    return report


def _solve_one(H, L, method, N, *, say, notes, **options) -> GridSolution:
    say(f"{method} N={N}: {L} levels of a {H.shape[0]}-point grid")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            sol = solve_grid(H, L, method, progress=_grid_progress(say, f"{method} N={N}"), **options)
        except ValueError as exc:  # e.g. more levels than grid points
            raise GridError(f"{method} N={N}: {exc}", parameter="grid") from None
    for w in caught:
        if issubclass(w.category, RuntimeWarning) and "dense" in str(w.message):
            notes.append(f"{method} N={N}: {w.message}")
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return sol


def run_grids(spec: ProblemSpec, baselines: Sequence[str], grids: Sequence[int], *, order: int = 2, box=None,
              max_memory: int | None = None, tol: float | None = None, max_iter: int | None = None,
              preconditioner: str | None = None, seed: int = 0, progress: Progress | None = None,
              notes: list | None = None) -> list[GridRun]:
    """Solve ``spec.modes`` levels with every baseline on every grid (the comparison's only solves).

    Parameters are those of :func:`compare` (already checked); ``notes`` collects what the
    user should know (eigsh falling back to dense).  Returns the runs in grid-size, then
    baseline order.

    Raises
    ------
    GridError
        A (grid, method) that cannot run (checked for all before the first solve), or a
        solver failure.
    """
    say = progress or (lambda msg: None)
    notes = [] if notes is None else notes
    L, D = spec.modes, spec.dimension
    if not baselines:  # nothing to solve: build no grid (a D >= 4 grid would not even fit in memory)
        return []
    _precheck(spec, grids, baselines, L, order, max_memory)
    runs = []
    for N in grids:
        say(f"building the grid Hamiltonian, N={N} ({N**D} points)")
        t0 = time.perf_counter()
        H, points, spacing = grid_for_spec(spec, N, order=order, box=box)
        build_time = time.perf_counter() - t0
        for method in baselines:
            sol = _solve_one(H, L, method, N, say=say, notes=notes, spacing=spacing, tol=tol, max_iter=max_iter,
                             preconditioner=preconditioner if method == "lobpcg" else None, seed=seed,
                             max_memory=max_memory)
            runs.append(GridRun(f"{method} N={N}", N, sol, points, spacing, build_time, H.shape[0]))
        del H
    return runs


# --------------------------------------------------------------------------------------
# the pure part: loaded results and grid solutions in, a comparison out
# --------------------------------------------------------------------------------------

def _grid_row(run: GridRun, ref_E, floor, keep_eigenvectors) -> MethodResult:
    sol = run.solution
    note = "" if sol.converged else (f"not converged: max residual {np.max(sol.residuals):.1e} > tol "
                                     f"{sol.tol:g} after {sol.iterations} iterations")
    rel = metrics.floored_relative_errors(sol.energies, ref_E, floor)
    row = MethodResult(label=run.label, kind="grid", method=sol.method, grid=run.grid, energies=sol.energies,
                       relative_errors=rel, mean_relative_error=metrics.nanmean(rel), wall_time=sol.wall_time,
                       peak_memory=int(sol.peak_memory), iterations=sol.iterations, converged=sol.converged, note=note,
                       residuals=sol.residuals, tol=sol.tol, build_time=run.build_time,
                       n_points_total=run.n_points_total, sigma=sol.sigma, spacing=run.spacing)
    if keep_eigenvectors and sol.eigenvectors.nbytes < EIGENVECTOR_LIMIT:
        row.eigenvectors, row.points = sol.eigenvectors, run.points
    return row


def _match_row(row: MethodResult, run: GridRun, reference, ref_E, floor, notes: list[str]) -> bool:
    """Put a grid row's levels in the reference's rows by overlap; False when it cannot be done.

    A note when the reference functions are far from orthonormal on the grid's points (a box
    that cuts them): :func:`match_levels` orthonormalises them first, but their labels then
    describe the box's levels only loosely, and rows holding less than half a level are flagged."""
    try:
        psi = np.asarray(reference.eigenfunctions(run.points), dtype=np.float64)
    except (NotImplementedError, AttributeError, ValueError):
        return False
    weights = np.full(len(run.points), float(np.prod(run.spacing)))
    assignment, overlaps = match_levels(psi, run.solution.eigenvectors, reference.groups, weights)
    skew = metrics.max_off_diagonal(metrics.normalised_gram(psi, weights))
    if skew > REFERENCE_SKEW_NOTE:
        notes.append(f"{run.label}: the reference functions are far from orthonormal on the grid box (largest "
                     f"overlap {skew:.2f}); the levels were matched to them after orthonormalising them on the grid, "
                     f"{int(np.sum(overlaps < MATCH_THRESHOLD))} of {len(overlaps)} rows (?) hold a level less than half inside "
                     f"their subspace: those labels are unreliable")
    row.assignment, row.overlaps = assignment, overlaps
    row.energies = run.solution.energies[assignment]
    row.residuals = run.solution.residuals[assignment]
    row.relative_errors = metrics.floored_relative_errors(row.energies, ref_E, floor)
    row.mean_relative_error = metrics.nanmean(row.relative_errors)
    if row.eigenvectors is not None:
        row.eigenvectors = row.eigenvectors[:, assignment]
    return True


def _comparison_grid(runs: list[GridRun], reference):
    """(label, vectors, points, spacing) of the grid to compare eigenfunctions with, or None."""
    best = None
    for run in runs:
        if run.solution.converged:
            key = (run.grid, _METHOD_RANK[run.solution.method])
            if best is None or key > best[0]:
                best = (key, (run.label, run.solution.eigenvectors, run.points, run.spacing))
    if best is not None:
        return best[1]
    if getattr(reference, "kind", "") == "grid" and hasattr(reference, "values"):
        axes = [a[1:-1] for a in reference.axes]
        points = np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")], axis=1)
        vectors = reference.values[(slice(1, -1),) * len(axes)].reshape(len(points), -1)
        spacing = np.array([a[1] - a[0] for a in axes])
        return reference.name, vectors, points, spacing
    return None


def _evaluate_on_grid(results, points: np.ndarray, chunk: int = 16384) -> np.ndarray:
    """A results file's unit-normalised eigenfunctions at grid points, in chunks."""
    out = np.empty((len(points), len(results.eigenvalues)))
    for a in range(0, len(points), chunk):
        out[a:a + chunk] = results.eigenfunctions(points[a:a + chunk])
    return out


def _neural_converged(results, counted_energies: np.ndarray) -> bool:
    """A results file's "converged": its stored verdict passed every mode (files without a
    verdict: every counted energy is finite), and never with a non-finite counted energy."""
    verdict = results.converged
    finite = bool(np.all(np.isfinite(counted_energies)))
    return finite and (verdict is None or bool(np.all(verdict)))


def _neural_row(source: Source, label: str, ref_E, floor, groups, complete, grid, say, notes,
                next_level_lower: float | None = None) -> MethodResult:
    from .evaluate import evaluate_model
    from .problem import Problem

    res, L = source.results, len(ref_E)
    say(f"{label}: evaluating the learned eigenfunctions on its quadrature rule")
    spec = res.spec
    if next_level_lower is not None:
        spec = spec.model_copy(update={"evaluation": spec.evaluation.model_copy(
            update={"next_level_lower": float(next_level_lower)})})
    file_problem = Problem.from_spec(spec)
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
    counted[:Lf] = file_problem.reference_eigenvalues(ref_E[:Lf]) > 0
    with np.errstate(invalid="ignore"):
        rel = np.where(counted, metrics.floored_relative_errors(energies, ref_E, floor), np.nan)
    row = MethodResult(label=label, kind="neural", method="nsvd", grid=0, energies=energies, relative_errors=rel,
                       mean_relative_error=metrics.nanmean(rel), wall_time=float(res.run.get("wall_time", float("nan"))),
                       peak_memory=-1, iterations=int(res.run.get("iterations", -1)),
                       converged=_neural_converged(res, energies[counted]), path=Path(source.text),
                       evaluation=ev, counted=counted, stored_discrepancy=discrepancy,
                       training_method=getattr(res.spec.training, "method", "nestedlora"),
                       seed=int(res.spec.training.seed))
    if not np.all(np.isfinite(energies[counted])):
        row.note = "non-finite energies"
    if ev.bounds is not None:
        notes += [f"{label}: {note}" for note in ev.bounds.notes]  # a next_level_lower assumed, or ignored
        row.in_interval = np.full(L, np.nan)
        row.in_interval[:Lf] = ev.bounds.contains(ref_E[:Lf])[:Lf]
    if grid is not None:
        g_label, vectors, points, spacing = grid
        say(f"{label}: evaluating the learned eigenfunctions on the {g_label} grid")
        values = np.zeros((len(points), L))
        values[:, :Lf] = _evaluate_on_grid(res, points)[:, :Lf]
        w = np.full(len(vectors), float(np.prod(spacing)))
        row.angle_distances, row.subspace_distances, row.orthogonality = metrics.group_distances(
            values, vectors[:, :L], groups, counted, complete, w)
        row.grid_comparison = g_label
    return row


def build_comparison(spec: ProblemSpec, reference, reference_error, files: Sequence[Source], runs: list[GridRun],
                     *, box, order: int, tol: float | None = None, keep_eigenvectors: bool = False,
                     progress: Progress | None = None, notes: list | None = None,
                     next_level_lower: float | None = None) -> Comparison:
    """The comparison of loaded results files and grid solutions against a reference (no solving).

    Parameters
    ----------
    spec : ProblemSpec
        The problem, ``modes = L``.
    reference : ReferenceSolution
        ``L`` reference levels (closed form or grid reference).
    reference_error : ndarray, shape (L,)
        Its estimated absolute error.
    files : sequence of Source
        Loaded results files (``source.results`` set).
    runs : list of GridRun
        Grid solutions of ``L`` levels (:func:`run_grids`).
    box, order, tol
        Recorded in the comparison.
    keep_eigenvectors : bool
        Keep grid eigenvectors below :data:`EIGENVECTOR_LIMIT` bytes (for the compare file).
    next_level_lower : float, optional
        As :func:`compare`.

    Returns
    -------
    Comparison
    """
    say = progress or (lambda msg: None)
    notes = [] if notes is None else notes
    ref_E = np.asarray(reference.energies, dtype=np.float64)
    L = len(ref_E)
    floor = metrics.mean_level_spacing(ref_E)
    groups = [np.asarray(g) for g in reference.groups]
    labels = tuple(reference.quantum_labels)
    grid_rows, matched = [], True
    for run in runs:
        row = _grid_row(run, ref_E, floor, keep_eigenvectors)
        if labels:
            matched = _match_row(row, run, reference, ref_E, floor, notes) and matched
        grid_rows.append(row)
    if not matched:
        notes.append("quantum numbers left out: the grid levels could not be matched to them by eigenvector overlap")
    grid = _comparison_grid(runs, reference) if files else None
    names = [Path(s.text).name for s in files]
    neural_rows = [_neural_row(s, name if names.count(name) == 1 else s.text, ref_E, floor, groups,
                               bool(reference.complete_last_group), grid, say, notes, next_level_lower)
                   for s, name in zip(files, names)]
    return Comparison(spec=spec, reference_name=reference.name, reference_kind=reference.kind,
                      reference_energies=ref_E, reference_error=np.asarray(reference_error, dtype=np.float64),
                      error_floor=float(floor), quantum_numbers=np.asarray(reference.quantum_numbers,
                                                                          dtype=np.int64).reshape(L, -1),
                      quantum_labels=labels, groups=groups, complete_last_group=bool(reference.complete_last_group),
                      methods=neural_rows + grid_rows, box=tuple(box), order=order, tol=tol, warnings=notes,
                      labels_matched=matched)


# --------------------------------------------------------------------------------------
# everything at once
# --------------------------------------------------------------------------------------

def _check_parameters(baselines, grids, order, tol, max_iter, preconditioner, max_memory) -> None:
    for b in baselines:
        if b not in METHODS:
            raise ComparisonError(f"unknown method {b!r}; expected one of {', '.join(METHODS)}", parameter="method")
    if not grids or any(not isinstance(n, (int, np.integer)) or n < 2 for n in grids):
        raise ComparisonError(f"need integers >= 2 (points per axis), got {list(grids)!r}", parameter="grid")
    if order not in (2, 4):
        raise ComparisonError(f"must be 2 or 4, got {order!r}", parameter="order")
    if tol is not None and not (float(tol) > 0 and math.isfinite(float(tol))):
        raise ComparisonError(f"must be > 0, got {tol!r}", parameter="tol")
    if max_iter is not None and int(max_iter) < 1:
        raise ComparisonError(f"must be >= 1, got {max_iter!r}", parameter="max_iter")
    if preconditioner not in (None, "jacobi"):
        raise ComparisonError(f"must be 'jacobi', got {preconditioner!r}", parameter="preconditioner")
    if preconditioner is not None and "lobpcg" not in baselines:
        raise ComparisonError("only lobpcg uses a preconditioner; add the lobpcg baseline", parameter="preconditioner")
    if max_memory is not None and not max_memory > 0:
        raise ComparisonError(f"must be > 0 bytes, got {max_memory!r}", parameter="max_memory")


def compare(sources: Sequence[str | Path], baselines: Sequence[str] = (), grids: Sequence[int] = DEFAULT_GRID, *,
            order: int = 2, max_memory: int | None = None, tol: float | None = None, max_iter: int | None = None,
            preconditioner: str | None = None, box: Sequence[tuple[float, float]] | None = None, seed: int = 0,
            keep_eigenvectors: bool = False, progress: Progress | None = None,
            dimension: int | None = None, next_level_lower: float | None = None) -> Comparison:
    """Compare NeuralSVD results files and grid solvers against the problem's reference.

    Parameters
    ----------
    sources : sequence of str or Path
        Problem names or ``.toml`` spec files and/or results files (``.h5``); at least one,
        all of one problem (module docstring).  The table has ``L`` = the largest ``modes``.
    baselines : sequence of {"eigsh", "lobpcg", "dense"}
        Grid methods to run on every grid size (in this order).
    grids : sequence of int
        Points per axis ``N`` (>= 2) of the baselines; solved in ascending order.
    order : {2, 4}
        Finite-difference order of the baselines.
    max_memory : int, optional
        Limit in bytes for each grid solve including its matrix; default: available memory.
    tol : float, optional
        Relative residual tolerance of the grid solvers (default
        :data:`nsvd_cli.baselines.grid.DEFAULT_TOL`).
    max_iter : int, optional
        lobpcg iterations / ARPACK restarts.
    preconditioner : {None, "jacobi"}
        lobpcg preconditioner.
    box : sequence of (lo, hi), length D or 1, optional
        Grid box of the baselines (one pair: the same on every axis); default the
        problem's evaluation box.
    seed : int
        Random start of the grid solvers.
    keep_eigenvectors : bool
        Keep every grid solution's eigenvectors below :data:`EIGENVECTOR_LIMIT` bytes.
    progress : callable, optional
        Called with a short status string before each expensive step and while grid
        solvers run (iteration, residual, elapsed seconds).
    dimension : int, optional
        Dimension D of the problems named (families such as ``harmonic``; ``--dim``).
    next_level_lower : float, optional
        Re-evaluate every results file with this ``evaluation.next_level_lower`` (a known lower
        bound of the level above the computed ones; docs/bounds.md); default: each file's own.

    Returns
    -------
    Comparison

    Raises
    ------
    ComparisonError
        No sources; different conventions; a source that is neither a problem nor a
        results file; an invalid parameter (``parameter`` names it).
    GridError
        A grid that cannot be solved: too little memory, lobpcg with fewer than ``3 L``
        points, dense above its limit, a Coulomb grid point on the singularity, eigsh
        without convergence.
    ResultsFileError, SpecError
        Unreadable results file, invalid spec file.
    """
    baselines = list(dict.fromkeys(str(b) for b in baselines))
    grids = sorted(set(grids)) if grids else []
    _check_parameters(baselines, grids, order, tol, max_iter, preconditioner, max_memory)
    srcs = load_sources(sources, dimension)
    check_conventions(srcs)
    L = max(s.spec.modes for s in srcs)
    spec = srcs[0].spec.model_copy(update={"modes": L})
    box = tuple((float(lo), float(hi)) for lo, hi in (spec.evaluation.box if box is None else box))
    if len(box) == 1:
        box = box * spec.dimension
    if len(box) != spec.dimension:
        raise ComparisonError(f"{len(box)} axes for a {spec.dimension}-dimensional problem", parameter="box")
    notes: list[str] = []
    runs = run_grids(spec, baselines, grids, order=order, box=box, max_memory=max_memory, tol=tol, max_iter=max_iter,
                     preconditioner=preconditioner, seed=seed, progress=progress, notes=notes)
    if progress:
        progress("the reference")
    reference, error = comparison_reference(spec, max_memory=max_memory)
    if runs:
        notes[:0] = grid_box_notes(spec, reference, box) + reference_resolution_notes(spec, reference, error, runs, box)
    notes[:0] = list(getattr(reference, "notes", ()))  # the reference's own caveats (e.g. a box that moves its levels)
    files = [s for s in srcs if s.results is not None]
    return build_comparison(spec, reference, error, files, runs, box=box, order=order, tol=tol,
                            keep_eigenvectors=keep_eigenvectors, progress=progress, notes=notes,
                            next_level_lower=next_level_lower)
