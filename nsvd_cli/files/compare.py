"""Compare files (HDF5) of ``nsvd compare -o``: :func:`write_comparison` and :func:`load_compare`.

Schema (``format = "nsvd-compare"``, ``format_version = 1``; see ``docs/compare.md``):

``/`` attrs
    ``format``, ``format_version``, ``created`` (ISO time), ``problem``, ``spec_json`` (the
    resolved spec), ``reference_name``, ``reference_kind`` (``"analytic"`` or ``"grid"``),
    ``order`` (finite-difference order), ``box_json`` (grid box, ``[[lo, hi], ...]``).
``/reference``
    datasets ``energies`` (L,), ``quantum_numbers`` (L, q) int, ``groups`` (L,) int (the
    degenerate-group id of each mode, :func:`nsvd_cli.files.hdf5.encode_groups`); attrs
    ``quantum_labels``, ``complete_last_group``.
``/methods/<i>`` (i = 0, 1, ... in table order)
    attrs ``label``, ``kind`` (``"grid"`` or ``"neural"``), ``method`` (``"eigsh"``,
    ``"lobpcg"``, ``"dense"``, ``"nsvd"``), ``grid`` (points per axis N, 0 for neural runs),
    ``wall_time`` (s), ``peak_memory`` (bytes, -1 if unknown), ``iterations``, ``converged``,
    ``mean_relative_error``, ``note``; datasets ``energies`` (L,), ``relative_errors`` (L,)
    (``|E − E_ref| / max(|E_ref|, Δ)`` of the energies of H, Δ = (E_ref[L-1] − E_ref[0])/(L − 1)
    the mean level spacing of ``/reference/energies``, 0 for L = 1; not stored).
    Grid methods: dataset ``residuals`` (L,), attrs ``tol``, ``n_points_total``,
    ``eigenvectors_omitted``; below :data:`EIGENVECTOR_LIMIT` bytes also ``eigenvectors``
    (N^D, L) and ``points`` (N^D, D).  Neural methods: attrs ``path``, ``training_method``
    (``nestedlora``, ``lora``, ``neuralef``, ``spin``) and ``seed`` of the file's run (files
    written since issue 14); when compared on a
    grid, attrs ``grid_comparison``, ``orthogonality`` and datasets ``angle_distances`` (L,),
    ``subspace_distances`` (G,).

Readers accept every format version up to :data:`FORMAT_VERSION` (the header check of
:func:`nsvd_cli.files.hdf5.open_nsvd_file`, shared with results files).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from ..errors import SpecError
from .atomic import atomic_path
from .hdf5 import (
    COMPARE_FORMAT,
    as_str,
    decode_groups,
    encode_groups,
    file_format,
    open_nsvd_file,
    record_name,
    records,
    write_header,
)

if TYPE_CHECKING:
    from ..compare import Comparison

__all__ = ["FORMAT", "FORMAT_VERSION", "EIGENVECTOR_LIMIT", "write_comparison", "load_compare", "CompareData",
           "CompareMethod", "file_format"]

FORMAT = COMPARE_FORMAT
FORMAT_VERSION = 1
#: Grid eigenvectors are kept (and written) only below this size, in bytes.
EIGENVECTOR_LIMIT = 200e6


# --------------------------------------------------------------------------------------
# writer
# --------------------------------------------------------------------------------------

def _f64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _write_reference(h: h5py.File, c) -> None:
    r = h.create_group("reference")
    r.create_dataset("energies", data=_f64(c.reference_energies))
    r.create_dataset("quantum_numbers", data=np.asarray(c.quantum_numbers, dtype=np.int64))
    r.create_dataset("groups", data=encode_groups(c.groups, c.n_modes))
    r.attrs["quantum_labels"] = np.array(list(c.quantum_labels), dtype=h5py.string_dtype())
    r.attrs["complete_last_group"] = bool(c.complete_last_group)


def _write_method(g: h5py.Group, m) -> None:
    """One ``/methods/<i>`` record from a :class:`nsvd_cli.compare.MethodResult`."""
    g.attrs.update(label=m.label, kind=m.kind, method=m.method, grid=int(m.grid), wall_time=float(m.wall_time),
                   peak_memory=int(m.peak_memory), iterations=int(m.iterations), converged=bool(m.converged),
                   mean_relative_error=float(m.mean_relative_error), note=m.note)
    g.create_dataset("energies", data=_f64(m.energies))
    g.create_dataset("relative_errors", data=_f64(m.relative_errors))
    if m.kind == "grid":
        g.create_dataset("residuals", data=_f64(m.residuals))
        g.attrs.update(tol=float(m.tol), n_points_total=int(m.n_points_total))
        keep = m.eigenvectors is not None and m.eigenvectors.nbytes < EIGENVECTOR_LIMIT
        if keep:
            g.create_dataset("eigenvectors", data=m.eigenvectors)
            g.create_dataset("points", data=m.points)
        g.attrs["eigenvectors_omitted"] = not keep
    else:
        g.attrs["path"] = str(m.path)
        g.attrs["training_method"] = m.training_method or "nestedlora"
        if m.seed is not None:
            g.attrs["seed"] = int(m.seed)
        if m.grid_comparison:
            g.attrs.update(orthogonality=float(m.orthogonality), grid_comparison=m.grid_comparison)
            g.create_dataset("angle_distances", data=_f64(m.angle_distances))
            g.create_dataset("subspace_distances", data=_f64(m.subspace_distances))


def write_comparison(path, comparison: Comparison, *, overwrite: bool = False) -> Path:
    """Write a comparison to HDF5 atomically (:func:`nsvd_cli.files.atomic.atomic_path`).

    Parameters
    ----------
    path : str or Path
        Output file (parent folders are created).
    comparison : Comparison
        From :func:`nsvd_cli.compare.compare` (with ``keep_eigenvectors=True`` to store
        grid eigenvectors).
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    Path

    Raises
    ------
    ResultsExistError
        If ``path`` exists and ``overwrite`` is False.
    """
    from ..spec import spec_to_dict

    path = Path(path)
    c = comparison
    with atomic_path(path, overwrite=overwrite) as tmp:
        with h5py.File(tmp, "w") as h:
            write_header(h, FORMAT, FORMAT_VERSION, problem=c.spec.name, spec_json=json.dumps(spec_to_dict(c.spec)),
                         reference_name=c.reference_name, reference_kind=c.reference_kind, order=int(c.order),
                         box_json=json.dumps([list(b) for b in c.box]))
            _write_reference(h, c)
            methods = h.create_group("methods")
            for i, m in enumerate(c.methods):
                _write_method(methods.create_group(record_name(i)), m)
    return path


# --------------------------------------------------------------------------------------
# reader
# --------------------------------------------------------------------------------------

@dataclass
class CompareMethod:
    """One method (grid baseline or neural run) of a compare file.

    Attributes
    ----------
    label : str
        Display name, e.g. ``"eigsh N=400"``.
    kind : str
        ``"grid"`` or ``"neural"``.
    method : str
        ``"eigsh"``, ``"lobpcg"``, ``"dense"`` or ``"nsvd"``.
    grid : int
        Grid points per axis N (0 for neural runs).
    wall_time : float
        Seconds.
    peak_memory : float
        Bytes, negative if unknown.
    iterations : int
    converged : bool
        Grid: every residual <= tol; neural: the run's verdict passed every mode.
    mean_relative_error : float
    energies, relative_errors : ndarray, shape (L,)
        Energies of H and ``|E − E_ref| / max(|E_ref|, Δ)`` (Δ the reference's mean level
        spacing, see the module docstring).
    note : str
    residuals : ndarray, shape (L,), or None
        Grid: relative residuals.
    tol : float or None
        Grid: the residual tolerance.
    n_points_total : int
        Grid: ``N^D``.
    eigenvectors, points : ndarray or None
        Grid, when stored and asked for: ``(N^D, L)`` and ``(N^D, D)``.
    path : str
        Neural: the results file.
    grid_comparison : str
        Neural: label of the grid solution the eigenfunctions were compared with.
    angle_distances : ndarray, shape (L,), or None
    subspace_distances : ndarray, shape (G,), or None
    orthogonality : float
    training_method : str
        Neural: ``training.method`` of the run ("" in files written before issue 14).
    seed : int or None
        Neural: ``training.seed`` of the run (None if not stored).
    """

    label: str
    kind: str
    method: str
    grid: int
    wall_time: float
    peak_memory: float
    iterations: int
    converged: bool
    mean_relative_error: float
    energies: np.ndarray
    relative_errors: np.ndarray
    note: str = ""
    residuals: np.ndarray | None = None
    tol: float | None = None
    n_points_total: int = 0
    eigenvectors: np.ndarray | None = field(default=None, repr=False)
    points: np.ndarray | None = field(default=None, repr=False)
    path: str = ""
    grid_comparison: str = ""
    angle_distances: np.ndarray | None = None
    subspace_distances: np.ndarray | None = None
    orthogonality: float = float("nan")
    training_method: str = ""
    seed: int | None = None

    @property
    def run_label(self) -> str:
        """``label`` with the training method and seed of a neural run, e.g. ``"h.h5 (lora, seed 1)"``."""
        if self.kind == "grid" or not self.training_method:
            return self.label
        return f"{self.label} ({self.training_method}" + ("" if self.seed is None else f", seed {self.seed}") + ")"


@dataclass
class CompareData:
    """A compare file read back.

    Attributes
    ----------
    path : Path
    problem : str
    spec : ProblemSpec or None
        The resolved spec, if ``spec_json`` parses with this nsvd.
    reference_name : str
    reference_energies : ndarray, shape (L,) or None
    quantum_numbers : ndarray, shape (L, q) or None
    quantum_labels : tuple of str
    methods : list of CompareMethod
        In table order.
    groups : ndarray of int, shape (L,) or None
        Degenerate-group id of each mode, if stored (:meth:`degenerate_groups` decodes it).
    reference_kind : str
        ``"analytic"``, ``"grid"`` or ``""`` if not stored.
    complete_last_group : bool
    box : tuple of (lo, hi)
        Grid box (empty if not stored).
    order : int
        Finite-difference order (0 if not stored).
    format_version : int
    """

    path: Path
    problem: str
    spec: object
    reference_name: str
    reference_energies: np.ndarray | None
    quantum_numbers: np.ndarray | None
    quantum_labels: tuple
    methods: list = field(default_factory=list)
    groups: np.ndarray | None = None
    reference_kind: str = ""
    complete_last_group: bool = True
    box: tuple = ()
    order: int = 0
    format_version: int = FORMAT_VERSION

    @property
    def grid_methods(self) -> list:
        """The grid baselines."""
        return [m for m in self.methods if m.kind == "grid"]

    @property
    def neural_methods(self) -> list:
        """The neural (NeuralSVD) runs."""
        return [m for m in self.methods if m.kind != "grid"]

    def degenerate_groups(self) -> list[np.ndarray] | None:
        """Index arrays of the reference's degenerate groups (None if not stored)."""
        return None if self.groups is None else decode_groups(self.groups)


def _dataset(g, key):
    return g[key][()] if g is not None and key in g else None


def _read_spec(h):
    """The stored spec, or None: a spec this version cannot parse does not stop the figures."""
    if "spec_json" not in h.attrs:
        return None
    from ..spec import parse_spec

    try:
        return parse_spec(json.loads(as_str(h.attrs["spec_json"])))
    except (SpecError, ValueError, TypeError, KeyError):
        return None


def _read_method(g, eigenvectors: bool) -> CompareMethod:
    a = g.attrs
    tol = a.get("tol")
    return CompareMethod(
        label=as_str(a.get("label", g.name.rsplit("/", 1)[-1])), kind=as_str(a.get("kind", "grid")),
        method=as_str(a.get("method", "")), grid=int(a.get("grid", 0)), wall_time=float(a.get("wall_time", np.nan)),
        peak_memory=float(a.get("peak_memory", -1)), iterations=int(a.get("iterations", 0)),
        converged=bool(a.get("converged", True)), mean_relative_error=float(a.get("mean_relative_error", np.nan)),
        energies=g["energies"][()] if "energies" in g else np.array([]),
        relative_errors=g["relative_errors"][()] if "relative_errors" in g else np.array([]),
        note=as_str(a.get("note", "")), residuals=_dataset(g, "residuals"),
        tol=None if tol is None else float(tol), n_points_total=int(a.get("n_points_total", 0)),
        eigenvectors=_dataset(g, "eigenvectors") if eigenvectors else None,
        points=_dataset(g, "points") if eigenvectors else None,
        path=as_str(a.get("path", "")), grid_comparison=as_str(a.get("grid_comparison", "")),
        angle_distances=_dataset(g, "angle_distances"), subspace_distances=_dataset(g, "subspace_distances"),
        orthogonality=float(a.get("orthogonality", np.nan)),
        training_method=as_str(a.get("training_method", "")), seed=int(a["seed"]) if "seed" in a else None,
    )


def load_compare(path, *, eigenvectors: bool = False) -> CompareData:
    """Read a compare file written by ``nsvd compare -o`` (:func:`write_comparison`).

    Parameters
    ----------
    path : str or Path
    eigenvectors : bool, default False
        Also read the grid eigenvectors and points (large); otherwise they are None.

    Raises
    ------
    ResultsFileError
        One line naming the file: missing, not HDF5, not an nsvd compare file, of a newer
        format version, or malformed.
    """
    path = Path(path)
    with open_nsvd_file(path, FORMAT, FORMAT_VERSION) as (h, version):
        ref = h.get("reference")
        labels = tuple(as_str(s) for s in ref.attrs.get("quantum_labels", ())) if ref is not None else ()
        box = tuple(tuple(b) for b in json.loads(as_str(h.attrs["box_json"]))) if "box_json" in h.attrs else ()
        return CompareData(
            path=path, problem=as_str(h.attrs.get("problem", "")), spec=_read_spec(h),
            reference_name=as_str(h.attrs.get("reference_name", "")),
            reference_energies=_dataset(ref, "energies"), quantum_numbers=_dataset(ref, "quantum_numbers"),
            quantum_labels=labels, methods=[_read_method(g, eigenvectors) for g in records(h.get("methods"))],
            groups=_dataset(ref, "groups"), reference_kind=as_str(h.attrs.get("reference_kind", "")),
            complete_last_group=bool(ref.attrs.get("complete_last_group", True)) if ref is not None else True,
            box=box, order=int(h.attrs.get("order", 0)), format_version=version)
