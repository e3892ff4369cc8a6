"""Atomic creation of output files: never overwrite silently, never leave half a file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import ResultsExistError

__all__ = ["atomic_output"]


@contextlib.contextmanager
def atomic_output(path, *, overwrite: bool = False):
    """Yield a temporary path next to ``path``; rename it to ``path`` if the block succeeds.

    The temporary file lives in the same folder (so the rename is atomic) and is removed if
    the block raises. Parent folders are created.

    Raises
    ------
    ResultsExistError
        If ``path`` exists and ``overwrite`` is False (checked before anything is written).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise ResultsExistError(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
