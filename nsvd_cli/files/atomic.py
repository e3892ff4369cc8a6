"""One atomic writer for every file nsvd produces: results, compare files, checkpoints, caches.

A file is written under a temporary name in its own folder, flushed to disk (``fsync``) and
renamed over the target with :func:`os.replace`, so a reader sees either the old file or
the whole new one, never half a file.  If the write raises, the temporary file is removed
and an existing target is left untouched.

The replacement keeps the permissions a plain ``open(path, "w")`` would give: a new file
gets ``0o666 & ~umask``, a replaced file keeps its mode (the temporary file is not made
with :func:`tempfile.mkstemp`, whose ``0o600`` would otherwise leak through the rename).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path
from typing import Callable, Iterator

from ..errors import ResultsExistError

__all__ = ["atomic_path", "atomic_write", "temporary_name"]

_ATTEMPTS = 100


def temporary_name(path: Path) -> Path:
    """A fresh hidden name next to ``path`` that ends with ``path``'s suffix.

    E.g. ``runs/.h.h5.3f9a0c1b.tmp.h5`` for ``runs/h.h5``: the same folder (so the rename is
    atomic) and the same suffix (``numpy.savez`` appends ``.npz`` to names without it).
    """
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp{path.suffix}")


def _create_temporary(path: Path) -> Path:
    """Create an empty temporary file next to ``path`` with plain-write permissions."""
    for _ in range(_ATTEMPTS):
        tmp = temporary_name(path)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the kernel applies the umask
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"no free temporary name next to {path}")  # pragma: no cover


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Persist the rename (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` if the block succeeds.

    The block writes the file (any library: ``h5py.File(tmp, "w")``, ``torch.save(obj, tmp)``,
    ``numpy.savez(tmp, ...)``); the temporary file exists (empty) when the block starts and
    has ``path``'s suffix.  On success it is fsynced, given the mode of the file it replaces
    (or ``0o666 & ~umask`` for a new file) and renamed onto ``path``; parent folders are
    created first.  If the block raises, the temporary file is removed, ``path`` is left as
    it was, and the exception propagates.

    Parameters
    ----------
    path : str or Path
        The target file.
    overwrite : bool, default False
        Replace an existing target.  False: raise before anything is written.

    Raises
    ------
    ResultsExistError
        If ``path`` exists and ``overwrite`` is False.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise ResultsExistError(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_temporary(path)
    try:
        yield tmp
        _fsync_file(tmp)
        try:
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))  # a replaced file keeps its mode
        except FileNotFoundError:
            pass
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    _fsync_folder(path.parent)


def atomic_write(path, write: Callable[[Path], object], *, overwrite: bool = False) -> Path:
    """Write ``path`` atomically by calling ``write(temporary_path)``.

    Same rules as :func:`atomic_path`, as a call: e.g.
    ``atomic_write(ckpt, lambda tmp: torch.save(state, tmp), overwrite=True)``.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ResultsExistError
        If ``path`` exists and ``overwrite`` is False.
    """
    path = Path(path)
    with atomic_path(path, overwrite=overwrite) as tmp:
        write(tmp)
    return path
