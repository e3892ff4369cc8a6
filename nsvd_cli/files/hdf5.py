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
           "open_nsvd_file", "READ_ERRORS", "checkpoint_message",
           "check_problem_source", "encode_groups", "decode_groups", "record_name", "records"]

RESULTS_FORMAT = "nsvd-results"
COMPARE_FORMAT = "nsvd-compare"
#: ``format`` attribute -> what the file is called in messages.
KNOWN_FORMATS = {RESULTS_FORMAT: "results", COMPARE_FORMAT: "compare"}

#: What h5py (and the JSON / attribute decoding of a reader) raises on a file it cannot read:
#: OSError (truncated, not HDF5), RuntimeError (a damaged B-tree or heap: "wrong B-tree
#: signature"), KeyError (a missing or undecodable object), ValueError, TypeError.
READ_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError)

#: The 8-byte signature that starts an HDF5 file (at offset 0, 512, 1024, ...).
_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _reason(err: BaseException) -> str:
    """The first line of an exception's message, without KeyError's quotes (its type if empty)."""
    text = (err.args[0] if isinstance(err, KeyError) and err.args else str(err)) or type(err).__name__
    return str(text).splitlines()[0] if str(text).strip() else type(err).__name__


def _has_signature(path: Path) -> bool:
    """True if the file carries the HDF5 signature at one of the offsets HDF5 allows."""
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 16)
    except OSError:
        return False
    return any(data[o:o + 8] == _SIGNATURE for o in (0, 512, 1024, 2048, 4096, 8192, 16384, 32768))


#: What starts a training checkpoint (:mod:`nsvd_cli.checkpoint`): ``torch.save`` writes a ZIP
#: archive whose first member, ``<name>/data.pkl``, is stored uncompressed and holds the
#: ``format`` entry ``"nsvd-checkpoint"`` near its start (before the states).
_ZIP_MAGIC, _CHECKPOINT_MARK = b"PK\x03\x04", b"nsvd-checkpoint"
#: A ZIP archive's end-of-central-directory signature (the last record of a whole archive).
_ZIP_END = b"PK\x05\x06"


def checkpoint_message(path) -> str | None:
    """The one-line message for a training checkpoint given where a results file (or a spec)
    was expected, or None when ``path`` is no checkpoint.

    A checkpoint (``<output>.ckpt``, written by :func:`nsvd_cli.train.fit`) is recognised by its
    leading bytes: a ZIP archive (``torch.save``) with ``data.pkl`` and the mark
    ``nsvd-checkpoint`` in its first 64 KiB (a truncated checkpoint too).  Reads no more than
    that and imports no torch.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
            f.seek(max(0, path.stat().st_size - (1 << 16)))
            tail = f.read()
    except OSError:
        return None
    if not (head.startswith(_ZIP_MAGIC) and b"data.pkl" in head and _CHECKPOINT_MARK in head):
        return None
    if _ZIP_END not in tail:  # no end-of-central-directory record: cut short while being written or copied
        return (f"{path} is a truncated training checkpoint (not a results file): the interrupted run cannot be "
                "resumed from it; run it again")
    output = path.with_name(path.name[:-len(".ckpt")]) if path.name.endswith(".ckpt") else None
    target = f" -o {output}" if output is not None else ""
    return (f"{path} is a training checkpoint, not a results file: finish the run with "
            f"`nsvd solve ...{target} --resume` (the same problem and options as the interrupted run)")


def check_problem_source(source) -> None:
    """Refuse, with one line, a problem source (``nsvd solve``, ``compare``, ``problems show``)
    that is an existing file of a kind no spec reader takes: a training checkpoint
    (:func:`checkpoint_message`), or a ``.h5`` / ``.hdf5`` file without the HDF5 signature (an
    empty file would otherwise be read as an empty TOML spec: "name: missing").

    Raises
    ------
    ResultsFileError
        The message naming the file.
    """
    path = Path(source)
    if not path.is_file():
        return
    note = checkpoint_message(path)
    if note is not None:
        raise ResultsFileError(note)
    if path.suffix.lower() in (".h5", ".hdf5") and not _has_signature(path):
        what = "an empty file" if path.stat().st_size == 0 else "not an HDF5 file"
        raise ResultsFileError(f"{path}: not an nsvd results file ({what}); give a results file of nsvd solve, "
                               "a spec (.toml) or a built-in problem")


def _unopenable(path: Path, expected: str, err: BaseException) -> str:
    """The message for a file h5py cannot open: a training checkpoint, damaged / truncated HDF5,
    or not HDF5 at all."""
    note = checkpoint_message(path)
    if note is not None:
        return note
    if _has_signature(path):
        return (f"{path}: damaged or truncated HDF5 file, h5py cannot open it ({_reason(err)}); "
                f"expected {expected}")
    return f"{path}: not an HDF5 file (expected {expected})"


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
        h = h5py.File(path, "r")
    except READ_ERRORS as err:
        raise ResultsFileError(_unopenable(path, "an nsvd results or compare file", err)) from None
    try:
        with h:
            fmt = as_str(h.attrs.get("format", ""))
    except READ_ERRORS as err:
        raise ResultsFileError(f"{path}: damaged or truncated HDF5 file, its header is unreadable "
                               f"({_reason(err)})") from None
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

    Yields ``(h5py.File, format_version)``.  Any of :data:`READ_ERRORS` the reading block
    raises (a missing dataset, a bad attribute, a truncated file, a damaged B-tree or heap:
    h5py's ``RuntimeError``) becomes a one-line :class:`ResultsFileError` naming the file and
    saying it is damaged or malformed.  The block must read everything it needs (``[()]``)
    before it ends: later reads are outside this boundary.

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
    what = KNOWN_FORMATS[fmt]
    if path.is_dir():
        raise ResultsFileError(f"{path}: is a directory, not an nsvd {what} file")
    try:
        h = h5py.File(path, "r")
    except READ_ERRORS as err:
        raise ResultsFileError(_unopenable(path, f"an nsvd {what} file", err)) from None
    with h:
        try:
            found_version = _check_header(h, path, fmt, version)
        except ResultsFileError:
            raise
        except READ_ERRORS as err:  # attributes unreadable: truncated or damaged
            raise ResultsFileError(f"{path}: damaged or truncated nsvd {what} file, its header is unreadable "
                                   f"({_reason(err)})") from None
        try:
            yield h, found_version
        except ResultsFileError:
            raise
        except READ_ERRORS as err:  # a missing dataset, a bad attribute, a damaged B-tree, truncated data
            raise ResultsFileError(f"{path}: damaged or malformed nsvd {what} file, unreadable "
                                   f"({_reason(err)})") from None


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
