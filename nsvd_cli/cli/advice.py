"""CLI wording of library errors: the flag a parameter is set by, and what to type next.

Library errors (:mod:`nsvd_cli.errors`) carry data (a ``parameter`` / spec ``field``, a
``path``) and never name flags; :func:`one_line` turns one into the line the CLI prints,
mapping parameters to flags through the one table
:data:`nsvd_cli.cli.console.OPTION_OF_FIELD`.
"""

from __future__ import annotations

from ..errors import CheckpointExistsError, NsvdError, OutputWriteError, ResultsExistError

__all__ = ["one_line"]


def _advice(err: NsvdError) -> str:
    if isinstance(err, ResultsExistError):
        return "pass --overwrite to replace it or -o to choose another name"
    if isinstance(err, CheckpointExistsError):
        return "pass --resume to continue it or --overwrite to start over"
    if isinstance(err, OutputWriteError) and err.checkpoint:
        return "free space or fix the folder, then rerun the same command with --resume"
    return ""


def one_line(err: NsvdError) -> str:
    """``"--flag: message; advice"`` for a library error (flag and advice where known)."""
    from .console import option_for

    field = getattr(err, "field", None) or getattr(err, "parameter", None)
    option = option_for(field)
    text = str(err)
    advice = _advice(err)
    if advice:
        text = f"{text}; {advice}"
    return f"{option}: {text}" if option and not text.startswith(option) else text
