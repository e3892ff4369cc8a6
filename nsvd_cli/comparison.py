"""What a comparison holds (:class:`Comparison`, one :class:`MethodResult` per table column group).

Built by :func:`nsvd_cli.compare.compare` / :func:`nsvd_cli.compare.build_comparison`,
printed by :mod:`nsvd_cli.cli.compare`, stored by :func:`nsvd_cli.files.compare.write_comparison`.

Error measures (the table says which is shown)
----------------------------------------------
* energies: ``|E - E_ref| / max(|E_ref|, Delta)``, ``Delta`` the mean level spacing of the
  reference (:attr:`Comparison.error_floor`): the usual relative error wherever
  ``|E_ref| >= Delta``, and an error relative to the level spacing for levels near 0, whose
  plain relative error would blow up when a constant is added to the potential;
* grid residuals: relative to the energy scale ``max(|E|, Delta, eps ||H||)``
  (:mod:`nsvd_cli.baselines.eigen`), so the ``converged`` verdict does not depend on where
  the zero of energy lies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .files.compare import FORMAT, FORMAT_VERSION
from .files.hdf5 import encode_groups
from .spec import ProblemSpec

__all__ = ["Comparison", "MethodResult", "grid_box_notes", "reference_resolution_notes", "REFERENCE_DISAGREEMENT_FACTOR",
           "REFERENCE_DISAGREEMENT_RTOL"]

#: A converged grid baseline finer than a grid reference that differs from it by more than this many times
#: the reference's estimated error (and by more than :data:`REFERENCE_DISAGREEMENT_RTOL`) gets a note.
REFERENCE_DISAGREEMENT_FACTOR = 5.0
#: ... and by more than this floored relative error: an order-2 baseline carries its own h² error
#: (quartic1d, eigsh N=4000 order 2 against the N=2000 order-4 reference: 4e-6, its estimated error 1.1e-8), which a tiny
#: reference error estimate would otherwise turn into a note.
REFERENCE_DISAGREEMENT_RTOL = 1e-3


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
        Energies of ``H``, in the rows of the reference: a grid solution's levels matched
        to the reference modes by eigenvector overlap when the reference has quantum
        numbers (see ``assignment``), else ascending; NaN beyond the modes a results file has.
    relative_errors : ndarray, shape (L,)
        ``|E - E_ref| / max(|E_ref|, Delta)`` (:attr:`Comparison.error_floor` ``Delta``);
        NaN where not defined (missing mode, or for a results file a mode whose reference
        eigenvalue of its ``T`` is <= 0, which is not learned).
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
        Grid: every relative residual ``<= tol``.  Neural: the file's stored verdict passed
        every mode (files without a verdict: every counted energy is finite).
    note : str
        Why a row is marked, e.g. ``"not converged: max residual 3.2e-04 > tol 1e-06"``.
    residuals, tol, build_time, n_points_total, sigma
        Grid only: relative residuals ``(L,)`` (:mod:`nsvd_cli.baselines.eigen`: relative to
        the energy scale), the tolerance, seconds to build ``H``, ``N^D`` and the eigsh shift.
    assignment : ndarray of int, shape (L,), or None
        Grid only: ``assignment[j]`` is the grid level (ascending index) shown in reference
        row ``j``, matched by eigenvector overlap; None when not matched (ascending order).
    overlaps : ndarray, shape (L,), or None
        Grid only: weight ``sum_{k in group(j)} <psi_k, v>^2`` of the matched grid vector in
        the reference's degenerate subspace of row ``j`` (1: a clean match).
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
    training_method : str
        Neural only: ``training.method`` of the file's run (``nestedlora``, ``lora``, ``neuralef``,
        ``spin``; :mod:`nsvd_cli.methods`); "" for grid rows.
    seed : int or None
        Neural only: ``training.seed`` of the file's run.
    in_interval : ndarray, shape (L,), or None
        Neural only: 1.0 where the reference level of the row lies in the file's interval
        for that level (:mod:`nsvd_cli.bounds`, recomputed on its rule), 0.0 where it does
        not, NaN where the level has no bound.
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
    assignment: np.ndarray | None = None
    overlaps: np.ndarray | None = None
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
    in_interval: np.ndarray | None = None
    training_method: str = ""
    seed: int | None = None

    @property
    def run_label(self) -> str:
        """The label shown in tables: for a results file its name with the training method and
        seed, e.g. ``"h-seed1.h5 (lora, seed 1)"``; a grid row's label as it is."""
        if self.kind != "neural" or not self.training_method:
            return self.label
        return f"{self.label} ({self.training_method}" + ("" if self.seed is None else f", seed {self.seed}") + ")"

    @property
    def max_residual(self) -> float:
        """Largest relative residual of a grid solution (NaN for neural results)."""
        return float(np.max(self.residuals)) if self.residuals is not None else float("nan")

    def to_dict(self) -> dict:
        """JSON-ready dict (NaN as None; no eigenvectors or points): ``peak_memory`` None when
        not measured (neural), ``in_interval`` true / false / None (no bound), the intervals'
        ends ``interval_lower`` / ``interval_upper`` (None: no bound)."""
        out = {"label": self.label, "kind": self.kind, "method": self.method, "grid": self.grid,
               "wall_time": self.wall_time, "peak_memory": None if self.peak_memory < 0 else self.peak_memory,
               "iterations": self.iterations,
               "converged": self.converged, "mean_relative_error": self.mean_relative_error,
               "note": self.note, "energies": self.energies, "relative_errors": self.relative_errors}
        if self.kind == "grid":
            out.update(residuals=self.residuals, max_residual=self.max_residual, tol=self.tol,
                       build_time=self.build_time, points_total=self.n_points_total, sigma=self.sigma,
                       assignment=self.assignment, overlaps=self.overlaps)
        else:
            ev = self.evaluation
            out.update(path=str(self.path), training_method=self.training_method, seed=self.seed,
                       stored_discrepancy=self.stored_discrepancy,
                       metrics=ev.summary() if ev is not None else {},
                       relative_error=None if ev is None else ev.relative_errors,
                       energy_relative_error=None if ev is None else ev.energy_relative_errors,
                       gap_relative_error=None if ev is None else getattr(ev, "gap_relative_errors", None),
                       stderr=None if ev is None else getattr(ev, "stderr", None),
                       quadrature_angle_distances=None if ev is None else ev.angle_distances,
                       quadrature_subspace_distances=None if ev is None else ev.subspace_distances,
                       grid_comparison=self.grid_comparison, angle_distances=self.angle_distances,
                       subspace_distances=self.subspace_distances, orthogonality=self.orthogonality,
                       in_interval=None if self.in_interval is None else
                       [None if np.isnan(v) else bool(v) for v in self.in_interval],
                       ritz_energies=None if ev is None else getattr(ev, "ritz_energies", None),
                       interval_lower=_bound_side(ev, "lower"), interval_upper=_bound_side(ev, "upper"))
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
    reference_error : ndarray, shape (L,), or None
        Estimated absolute error of the reference energies: 0 for a closed form, the
        Richardson estimate of :func:`nsvd_cli.baselines.reference.grid_reference_error`
        for a grid reference (None: not estimated).
    error_floor : float
        ``Delta``, the mean level spacing of the reference, ``(E_{L-1} - E_0) / (L - 1)``:
        the floor of the relative-error denominator ``max(|E_ref|, Delta)``, so that a
        level at or near ``E = 0`` gets a meaningful error (issue 9, item 4).
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
    labels_matched : bool
        Every grid row was matched to the reference's quantum numbers by eigenvector
        overlap (trivially true without grid rows); False: the quantum numbers label the
        reference energies only.
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
    labels_matched: bool = True
    reference_error: np.ndarray | None = None
    error_floor: float = 0.0

    @property
    def n_modes(self) -> int:
        """Number ``L`` of modes in the table."""
        return len(self.reference_energies)

    def failures(self, threshold: float) -> list[MethodResult]:
        """Methods whose mean relative error (floored, see :attr:`error_floor`) exceeds
        ``threshold`` (or is not a number)."""
        return [m for m in self.methods if not (m.mean_relative_error <= threshold)]

    def to_dict(self) -> dict:
        """JSON-ready dict of the whole comparison (NaN as None)."""
        gid = encode_groups(self.groups, self.n_modes)
        return _jsonable({
            "format": FORMAT, "format_version": FORMAT_VERSION, "problem": self.spec.name,
            "box": [list(b) for b in self.box], "order": self.order, "tol": self.tol,
            "reference": {"name": self.reference_name, "kind": self.reference_kind,
                          "energies": self.reference_energies, "estimated_error": self.reference_error,
                          "error_floor": self.error_floor, "labels_matched": self.labels_matched, "quantum_numbers": self.quantum_numbers,
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


def _bound_side(ev, side: str):
    """(L,) one side of an evaluation's intervals (:mod:`nsvd_cli.bounds`), or None."""
    bounds = None if ev is None else getattr(ev, "bounds", None)
    return None if bounds is None else getattr(bounds, side)


def grid_box_notes(spec: ProblemSpec, reference, box) -> list[str]:
    """A warning when the grid box cuts off a reference state: more than the verdict's box-edge
    tolerance (:data:`nsvd_cli.evaluate.EDGE_MASS_MAX`, 1e-3) of its squared norm in the box's
    outer 5 % (:func:`nsvd_cli.quadrature.edge_mass`, faces on the problem's Dirichlet walls left
    out). The grid solvers put Dirichlet walls on the box's faces, so those levels are set by
    the box, not by V (``--box 1`` for ``x² + y²``: a lowest level of 5.2 instead of 2).

    The reference is evaluated on a Gauss–Legendre rule on ``box`` (at most ~15 000 nodes, D <= 3;
    no note for D > 3, whose grids do not fit in memory, or a reference without eigenfunctions).
    """
    from .evaluate import EDGE_MASS_MAX
    from .quadrature import EDGE_LAYER, edge_mass, gauss_legendre_box
    from .spec import walls

    D = len(box)
    if D > 3:
        return []
    rule = gauss_legendre_box(box, {1: 100, 2: 30, 3: 12}[D], panels=4 if D < 3 else 2)
    try:
        values = np.asarray(reference.eigenfunctions(rule.points), dtype=np.float64)
    except (NotImplementedError, AttributeError, ValueError):
        return []
    mass = edge_mass(rule, values, walls(spec))
    if mass is None:
        return []
    mass = np.where(np.asarray(getattr(reference, "continuum", np.zeros(len(mass), bool))), np.nan, mass)
    cut = np.flatnonzero(np.nan_to_num(mass) > EDGE_MASS_MAX)
    if not len(cut):
        return []
    k = int(cut[0])
    shown = " x ".join(f"[{lo:g}, {hi:g}]" for lo, hi in box)
    return [f"the grid box {shown} cuts off {len(cut)} of {len(mass)} reference states (more than "
            f"{100 * EDGE_MASS_MAX:g} % of the norm in its outer {100 * EDGE_LAYER:g} %; the lowest, state {k + 1}: "
            f"{100 * mass[k]:.2g} %): the grid's walls there raise those levels; enlarge --box"]


def reference_resolution_notes(spec: ProblemSpec, reference, reference_error, runs, box) -> list[str]:
    """A note when a converged grid baseline on a finer grid than a grid reference's own (same
    box: the problem's walls or evaluation box) differs from the reference by more than
    :data:`REFERENCE_DISAGREEMENT_FACTOR` times its estimated error ``reference_error`` (L,)
    and by more than :data:`REFERENCE_DISAGREEMENT_RTOL` (floored relative error, level by
    level, both ascending): the reference's Richardson estimate assumes a grid that resolves V,
    and one that does not (a bump narrower than its spacing) is off by far more than it says.

    ``runs``: :class:`nsvd_cli.compare.GridRun` (``grid``, ``label``, ``solution``). One note,
    for the finest such run; none for a closed-form reference."""
    from .metrics import floored_relative_errors, mean_level_spacing
    from .spec import walls

    if getattr(reference, "kind", "") != "grid" or not hasattr(reference, "n_points"):
        return []
    ref_box = tuple(tuple(float(v) for v in b) for b in (walls(spec) or spec.evaluation.box))
    if tuple(tuple(float(v) for v in b) for b in box) != ref_box:
        return []
    ref_E = np.asarray(reference.energies, np.float64)
    err = np.abs(np.asarray(reference_error, np.float64))
    floor = mean_level_spacing(ref_E)
    finer = [r for r in runs if r.solution.converged and r.grid > reference.n_points]
    for run in sorted(finer, key=lambda r: -r.grid):
        E = np.sort(np.asarray(run.solution.energies, np.float64))[:len(ref_E)]
        diff = np.abs(E - ref_E[:len(E)])
        rel = floored_relative_errors(E, ref_E[:len(E)], floor)
        bad = (diff > REFERENCE_DISAGREEMENT_FACTOR * err[:len(E)]) & (rel > REFERENCE_DISAGREEMENT_RTOL)
        if not bad.any():
            continue
        k = int(np.flatnonzero(bad)[np.argmax(rel[bad])])
        factor = diff[k] / err[k] if err[k] > 0 else math.inf
        shown = f"{factor:.0f}×" if math.isfinite(factor) else "infinitely many times"
        return [f"{run.label} (finer than the reference's N={reference.n_points}) differs from the {reference.name} "
                f"by {rel[k]:.2e} at level {k + 1} ({E[k]:.6g} against {ref_E[k]:.6g}), {shown} the reference's "
                f"estimated error {err[k]:.2g}: the reference may not resolve the problem: more reference_grid "
                "(its errors in this table are then the reference's, not the methods')"]
    return []
