"""What the two nsvd HDF5 schemas share: the header, its check, and the group-id encoding.

Header
    Root attributes ``format`` (``"nsvd-results"`` or ``"nsvd-compare"``) and
    ``format_version`` (a positive integer, raised when a layout changes).  A reader
    accepts its own format at any version up to the one it knows.
Group ids
    Degenerate subspaces are stored as one integer per mode, the index of its group
    (``ids[g] = k`` for the k-th group ``g``); groups are consecutive index ranges.
Numbered groups
    Lists of records (the methods of a compare file) are HDF5 groups named ``"0"``,
    ``"1"``, ... in list order.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np

from ..errors import ResultsFileError

__all__ = ["RESULTS_FORMAT", "COMPARE_FORMAT", "KNOWN_FORMATS", "as_str", "write_header", "file_format",
           "open_nsvd_file", "encode_groups", "decode_groups", "record_name", "records"]

RESULTS_FORMAT = "nsvd-results"
COMPARE_FORMAT = "nsvd-compare"
#: ``format`` attribute -> what the file is called in messages.
KNOWN_FORMATS = {RESULTS_FORMAT: "results", COMPARE_FORMAT: "compare"}


def as_str(value) -> str:
    """An HDF5 string attribute as ``str`` (h5py returns ``bytes`` for some writers)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def write_header(h: h5py.File, fmt: str, version: int, **attrs) -> None:
    """Set the root attributes ``format``, ``format_version``, ``created`` and ``attrs``."""
    h.attrs.update(format=fmt, format_version=int(version),
                   created=_dt.datetime.now().isoformat(timespec="seconds"), **attrs)


def file_format(path) -> str:
    """The ``format`` of an nsvd HDF5 file: ``"nsvd-results"`` or ``"nsvd-compare"``.

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
            fmt = as_str(h.attrs.get("format", ""))
    except (OSError, ValueError):
        raise ResultsFileError(f"{path}: not an HDF5 file (expected an nsvd results or compare file)") from None
    if fmt not in KNOWN_FORMATS:
        raise ResultsFileError(f"{path}: not an nsvd results or compare file")
    return fmt


def _check_header(h: h5py.File, path: Path, fmt: str, version: int) -> int:
    """The file's format version, after checking its format; see :func:`open_nsvd_file`."""
    what = KNOWN_FORMATS[fmt]
    found = as_str(h.attrs.get("format", ""))
    if found != fmt:
        other = f" (it is an nsvd {KNOWN_FORMATS[found]} file)" if found in KNOWN_FORMATS else ""
        raise ResultsFileError(f"{path}: not an nsvd {what} file{other}")
    try:
        found_version = int(h.attrs["format_version"])
    except (KeyError, TypeError, ValueError):
        raise ResultsFileError(f"{path}: malformed nsvd {what} file (no integer format_version)") from None
    if found_version > version:
        raise ResultsFileError(f"{path}: {what} format version {found_version} is newer than this nsvd "
                               f"understands ({version}); upgrade nsvd")
    if found_version < 1:
        raise ResultsFileError(f"{path}: malformed nsvd {what} file (format_version {found_version})")
    return found_version


@contextlib.contextmanager
def open_nsvd_file(path, fmt: str, version: int) -> Iterator[tuple[h5py.File, int]]:
    """Open an nsvd HDF5 file for reading after the one header check of every reader.

    Yields ``(h5py.File, format_version)``.  Any ``KeyError``, ``ValueError``, ``TypeError``
    or ``OSError`` the reading block raises (a missing dataset, a bad attribute, a truncated
    file) becomes a one-line :class:`ResultsFileError` naming the file.

    Parameters
    ----------
    path : str or Path
    fmt : {"nsvd-results", "nsvd-compare"}
        The expected ``format`` attribute.
    version : int
        The newest ``format_version`` the caller can read.

    Raises
    ------
    ResultsFileError
        If the file is missing, not HDF5, of another format (another program's file, or the
        other nsvd schema), of a newer format version, or malformed.
    """
    path = Path(path)
    if not path.exists():
        raise ResultsFileError(f"{path}: no such file")
    try:
        h = h5py.File(path, "r")
    except (OSError, ValueError):
        raise ResultsFileError(f"{path}: not an HDF5 file (expected an nsvd {KNOWN_FORMATS[fmt]} file)") from None
    with h:
        try:
            found_version = _check_header(h, path, fmt, version)
        except OSError:  # attributes unreadable: truncated or damaged
            raise ResultsFileError(f"{path}: damaged nsvd {KNOWN_FORMATS[fmt]} file (truncated?)") from None
        try:
            yield h, found_version
        except ResultsFileError:
            raise
        except (KeyError, ValueError, TypeError, OSError) as err:  # OSError: truncated data
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ResultsFileError(f"{path}: malformed nsvd {KNOWN_FORMATS[fmt]} file ({reason})") from None


def encode_groups(groups, n_modes: int) -> np.ndarray:
    """Degenerate groups -> group id of each mode.

    Parameters
    ----------
    groups : sequence of int arrays
        Index arrays of the groups, together covering ``0 .. n_modes - 1``.
    n_modes : int

    Returns
    -------
    ndarray of int64, shape (n_modes,)
        ``ids[g] = k`` for the k-th group ``g``.

    Raises
    ------
    ValueError
        If the groups do not cover every mode.
    """
    ids = np.full(int(n_modes), -1, dtype=np.int64)
    for k, g in enumerate(groups):
        ids[np.asarray(g, dtype=np.int64)] = k
    if (ids < 0).any():
        raise ValueError(f"degenerate groups do not cover modes {np.flatnonzero(ids < 0).tolist()}")
    return ids


def decode_groups(ids) -> list[np.ndarray]:
    """Group id of each mode -> index arrays of runs of equal ids (consecutive modes).

    ``decode_groups([0, 1, 1, 2]) == [array([0]), array([1, 2]), array([3])]``; the inverse
    of :func:`encode_groups` for consecutive groups.
    """
    g = np.asarray(ids)
    if g.size == 0:
        return []
    starts = np.concatenate([[0], np.flatnonzero(np.diff(g) != 0) + 1, [len(g)]])
    return [np.arange(a, b) for a, b in zip(starts[:-1], starts[1:])]


def record_name(index: int) -> str:
    """The HDF5 group name of record ``index`` of a list (``"0"``, ``"1"``, ...)."""
    return str(int(index))


def records(group: h5py.Group | None) -> list[h5py.Group]:
    """The records of a list group in list order (numeric names first, by value)."""
    if group is None:
        return []
    keys = sorted(group.keys(), key=lambda k: (0, int(k), "") if k.isdigit() else (1, 0, k))
    return [group[k] for k in keys]
