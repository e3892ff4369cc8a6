"""One atomic writer for every file nsvd produces: results, compare files, checkpoints, caches.

A file is written under a temporary name in its own folder, flushed to disk (``fsync``) and
renamed over the target with :func:`os.replace`, so a reader sees either the old file or
the whole new one, never half a file.  If the write raises, the temporary file is removed
and an existing target is left untouched.

Only regular files are replaced: an existing target that is a device, a FIFO, a socket or a
folder is refused (:func:`writable_target`); a symbolic link is followed, so the file it points
to is replaced (written beside it) and the link is kept.

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

from ..errors import ParameterError, ResultsExistError

__all__ = ["atomic_path", "atomic_write", "temporary_name", "writable_target", "check_derived_path"]

_ATTEMPTS = 100


def temporary_name(path: Path) -> Path:
    """A fresh hidden name next to ``path`` that ends with ``path``'s suffix.

    E.g. ``runs/.h.h5.3f9a0c1b.tmp.h5`` for ``runs/h.h5``: the same folder (so the rename is
    atomic) and the same suffix (``numpy.savez`` appends ``.npz`` to names without it).
    """
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp{path.suffix}")


def _kind(mode: int) -> str:
    """What a non-regular file is, in words (``os.stat`` mode)."""
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "not a regular file"  # pragma: no cover (doors, whiteouts)


def writable_target(path) -> Path:
    """The file a write to ``path`` replaces: ``path``, or the final target of a symbolic link.

    A link is followed (``-o link.h5 --overwrite`` replaces the file the link points to and
    keeps the link; a dangling link's target is created).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    Path
        ``path`` itself when it is no link, else its resolved target.

    Raises
    ------
    ParameterError
        One line naming the path: the target exists and is not a regular file (a folder, a
        character or block device, a FIFO, a socket), or the link does not resolve (a loop).
    """
    path = Path(path)
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        mode = os.lstat(target).st_mode
    except (FileNotFoundError, NotADirectoryError):  # nothing there (a file on the way: the folder fails later)
        return target
    except OSError as err:  # ELOOP, EACCES on a folder on the way, ...
        raise ParameterError(f"{path}: cannot be written ({err.strerror})") from None
    if stat.S_ISREG(mode):
        return target
    via = f" (the target of the link {path})" if target != path else ""
    raise ParameterError(f"{target}{via} exists and is {_kind(mode)}, not a regular file; nsvd writes only "
                         "regular files: give another file name")


def check_derived_path(path) -> None:
    """Refuse a file nsvd derives from an output name (``<output>.ckpt``, ``<output>.lock``)
    that exists and is not a regular file, a symbolic link included: it would be replaced or
    removed at the end of the run.

    Raises
    ------
    ParameterError
        One line naming the path and what it is.
    """
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except OSError:  # nothing there, or no folder to hold it (the output's folder check says so)
        return
    if not stat.S_ISREG(mode):
        raise ParameterError(f"{path} exists and is {_kind(mode)}, not a regular file; nsvd would replace or "
                             "remove it: move it, or give another -o")


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
        The target file; a symbolic link is followed (its target is written, the link kept).
    overwrite : bool, default False
        Replace an existing target.  False: raise before anything is written.

    Raises
    ------
    ResultsExistError
        If ``path`` exists and ``overwrite`` is False.
    ParameterError
        If the target exists and is not a regular file (:func:`writable_target`).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise ResultsExistError(path)
    path = writable_target(path)
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
    ParameterError
        If the target exists and is not a regular file (:func:`writable_target`).
    """
    path = Path(path)
    with atomic_path(path, overwrite=overwrite) as tmp:
        write(tmp)
    return path
