"""Training checkpoints: the resumable state of :func:`nsvd_cli.train.fit` as one torch file.

A checkpoint is a dict written with :func:`torch.save` through the one atomic writer
(:func:`nsvd_cli.files.atomic.atomic_write`: a crash mid-write leaves the previous file
intact) and read back with ``weights_only=True`` (no code runs from the file).  Its entries:
``format`` / ``format_version`` (:data:`CHECKPOINT_FORMAT`, :data:`CHECKPOINT_VERSION`),
``meta`` (what the caller passed, e.g. the resolved spec), the state dicts of the model, its
EMA, the optimiser and the schedule, the state of the sample generator, the iteration, the
history and the wall time; with several processes or a device-side sample stream also
``world_size``, ``sample_generators`` and ``sample_device``.

:mod:`nsvd_cli.train` uses this module and re-exports its public names; nothing here
imports the training loop.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .errors import ResultsFileError
from .files.atomic import atomic_write

__all__ = ["load_checkpoint", "CHECKPOINT_FORMAT", "CHECKPOINT_VERSION"]

#: ``format`` / ``format_version`` entries of every checkpoint (checked by :func:`load_checkpoint`).
CHECKPOINT_FORMAT = "nsvd-checkpoint"
CHECKPOINT_VERSION = 1
_CHECKPOINT_KEYS = ("model", "ema", "optimizer", "scheduler", "generator", "iteration", "history", "wall_time")


def _save_checkpoint(path: Path, state, optimizer, scheduler, generator, meta: dict | None,
                     extra: dict | None = None) -> None:
    """Write ``state`` (a :class:`~nsvd_cli.train.TrainState`) with the optimiser, schedule and
    generator states, ``meta`` and the ``extra`` entries to ``path``, atomically replaced."""
    atomic_write(path, lambda tmp: torch.save({
        **(extra or {}),
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "meta": meta or {},
        "model": state.model.state_dict(),
        "ema": state.ema.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "generator": generator.get_state(),
        "iteration": state.iteration,
        "history": state.history,
        "wall_time": state.wall_time,
    }, tmp), overwrite=True)


def _first_sentence(text: str, limit: int = 160) -> str:
    """The first sentence of an error message's first line, cut at a word (with "…") if still
    longer than ``limit`` (torch's messages run on: "… central directory. This is an internal …")."""
    line = (text.strip().splitlines() or [""])[0]
    line = line.split(". ")[0].rstrip(".")
    if len(line) <= limit:
        return line
    return line[:limit].rsplit(" ", 1)[0] + "…"


def load_checkpoint(path) -> dict:
    """Read a checkpoint written by :func:`nsvd_cli.train.fit` (a dict of states, ``meta`` as given to fit).

    Loaded with ``weights_only=True`` (no code runs from the file).

    Raises
    ------
    ResultsFileError
        One line naming the file: missing, truncated or not a checkpoint, a checkpoint of
        another nsvd version, or of a newer checkpoint format.
    """
    path = Path(path)
    if not path.is_file():
        raise ResultsFileError(f"{path}: no such checkpoint file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError, EOFError, UnpicklingError, ... for foreign bytes
        reason = _first_sentence(str(err)) or type(err).__name__
        raise ResultsFileError(f"{path}: not a readable nsvd checkpoint (truncated or another program's file: "
                               f"{reason})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ResultsFileError(f"{path}: not an nsvd checkpoint of this version (written by another program or an "
                               "older nsvd); start over with --overwrite")
    version = ckpt.get("format_version")
    if not isinstance(version, int) or version > CHECKPOINT_VERSION or version < 1:
        raise ResultsFileError(f"{path}: checkpoint format version {version!r} is not one this nsvd understands "
                               f"(<= {CHECKPOINT_VERSION}); upgrade nsvd or start over with --overwrite")
    missing = [k for k in _CHECKPOINT_KEYS if k not in ckpt]
    if missing:
        raise ResultsFileError(f"{path}: malformed nsvd checkpoint (missing {', '.join(missing)})")
    ckpt["history"].setdefault("rollbacks", [])
    return ckpt
