"""Read ``nsvd compare`` output files (HDF5) for plotting, and tell them from results files.

Schema (``format = "nsvd-compare"``, ``format_version = 1``):

``/`` attrs
    ``format``, ``format_version``, ``problem``, ``spec_json``, ``reference_name``.
``/reference``
    datasets ``energies`` (L,), ``quantum_numbers`` (L, q), optionally ``groups`` (L,) (group
    index of each mode); attr ``quantum_labels``.
``/methods/<k>`` (k = 0, 1, ...)
    attrs ``label``, ``kind`` (``"grid"`` or ``"neural"``), ``method`` (``"eigsh"``,
    ``"lobpcg"``, ``"dense"``, ``"nsvd"``), ``grid`` (points per axis N, 0 for neural runs),
    ``wall_time`` (s), ``peak_memory`` (bytes, -1 if unknown), ``iterations``, ``converged``,
    ``mean_relative_error``; datasets ``energies`` (L,), ``relative_errors`` (L,)
    (``|E − E_ref| / |E_ref|`` of the energies of H).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..errors import ResultsFileError

__all__ = ["CompareData", "CompareMethod", "load_compare", "file_format", "COMPARE_FORMAT",
           "COMPARE_FORMAT_VERSION"]

COMPARE_FORMAT = "nsvd-compare"
COMPARE_FORMAT_VERSION = 1


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
    mean_relative_error : float
    energies, relative_errors : ndarray, shape (L,)
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


@dataclass
class CompareData:
    """Contents of a compare file needed for figures.

    Attributes
    ----------
    path : Path
    problem : str
    spec : ProblemSpec or None
        The resolved spec, if ``spec_json`` parses.
    reference_name : str
    reference_energies : ndarray, shape (L,) or None
    quantum_numbers : ndarray, shape (L, q) or None
    quantum_labels : tuple of str
    methods : list of CompareMethod
    groups : ndarray of int, shape (L,) or None
        Degenerate-subspace index of each mode, if stored.
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

    @property
    def grid_methods(self) -> list:
        """The grid baselines."""
        return [m for m in self.methods if m.kind == "grid"]

    @property
    def neural_methods(self) -> list:
        """The neural (NeuralSVD) runs."""
        return [m for m in self.methods if m.kind != "grid"]


def _str(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def file_format(path) -> str:
    """The ``format`` attribute of an nsvd HDF5 file: ``"nsvd-results"`` or ``"nsvd-compare"``.

    Raises
    ------
    ResultsFileError
        If the file is missing, not HDF5, or neither an nsvd results nor compare file.
    """
    path = Path(path)
    if not path.exists():
        raise ResultsFileError(f"{path}: no such file")
    try:
        with h5py.File(path, "r") as h:
            fmt = _str(h.attrs.get("format", ""))
    except OSError:
        raise ResultsFileError(f"{path}: not an HDF5 file (expected an nsvd results or compare file)") from None
    if fmt not in ("nsvd-results", COMPARE_FORMAT):
        raise ResultsFileError(f"{path}: not an nsvd results or compare file")
    return fmt


def load_compare(path) -> CompareData:
    """Read a compare file written by ``nsvd compare -o``.

    Raises
    ------
    ResultsFileError
        If the file is missing, unreadable, not a compare file, or of a newer format.
    """
    path = Path(path)
    if file_format(path) != COMPARE_FORMAT:
        raise ResultsFileError(f"{path}: not an nsvd compare file")
    try:
        with h5py.File(path, "r") as h:
            version = int(h.attrs.get("format_version", 0))
            if version > COMPARE_FORMAT_VERSION:
                raise ResultsFileError(f"{path}: compare format version {version} is newer than this nsvd "
                                       f"understands ({COMPARE_FORMAT_VERSION}); upgrade nsvd")
            spec = None
            if "spec_json" in h.attrs:
                try:
                    from ..spec import parse_spec

                    spec = parse_spec(json.loads(_str(h.attrs["spec_json"])))
                except Exception:  # a spec this version cannot parse: figures do without it
                    spec = None
            ref = h.get("reference")
            ref_e = ref["energies"][()] if ref is not None and "energies" in ref else None
            qn = ref["quantum_numbers"][()] if ref is not None and "quantum_numbers" in ref else None
            gid = ref["groups"][()] if ref is not None and "groups" in ref else None
            labels = tuple(_str(s) for s in ref.attrs.get("quantum_labels", ())) if ref is not None else ()
            methods = []
            group = h.get("methods")
            keys = sorted(group.keys(), key=lambda k: (0, int(k)) if k.isdigit() else (1, k)) if group else []
            for k in keys:
                g, a = group[k], group[k].attrs
                methods.append(CompareMethod(
                    label=_str(a.get("label", k)), kind=_str(a.get("kind", "grid")), method=_str(a.get("method", "")),
                    grid=int(a.get("grid", 0)), wall_time=float(a.get("wall_time", np.nan)),
                    peak_memory=float(a.get("peak_memory", -1)), iterations=int(a.get("iterations", 0)),
                    converged=bool(a.get("converged", True)),
                    mean_relative_error=float(a.get("mean_relative_error", np.nan)),
                    energies=g["energies"][()] if "energies" in g else np.array([]),
                    relative_errors=g["relative_errors"][()] if "relative_errors" in g else np.array([]),
                ))
            return CompareData(path=path, problem=_str(h.attrs.get("problem", "")), spec=spec,
                               reference_name=_str(h.attrs.get("reference_name", "")), reference_energies=ref_e,
                               quantum_numbers=qn, quantum_labels=labels, methods=methods,
                               groups=gid)
    except (KeyError, ValueError, TypeError) as err:
        raise ResultsFileError(f"{path}: malformed nsvd compare file ({err})") from None
