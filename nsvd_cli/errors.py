"""Exception hierarchy of nsvd.

Library code raises these; only :mod:`nsvd_cli.cli` turns them into one-line
messages and exit codes.
"""

from __future__ import annotations

__all__ = [
    "NsvdError",
    "SpecError",
    "ResultsExistError",
    "ResultsFileError",
    "CheckpointExistsError",
    "DivergenceError",
    "ComparisonError",
    "OutputWriteError",
]


class NsvdError(Exception):
    """Base class of every error nsvd raises on purpose."""


class SpecError(NsvdError, ValueError):
    """A problem-spec field (or the CLI option overriding it) is missing or invalid.

    Parameters
    ----------
    field : str
        Dotted name of the offending field, e.g. ``"sampling.std"``.
    message : str
        What is wrong with it, including the bad value.
    """

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class ResultsExistError(NsvdError, FileExistsError):
    """The output file exists and ``overwrite`` was not requested."""

    def __init__(self, path):
        self.path = path
        super().__init__(f"output file {path} exists; pass --overwrite to replace it or -o to choose another name")


class CheckpointExistsError(NsvdError):
    """An interrupted run's checkpoint exists for this output; neither resume nor overwrite
    was requested, so starting afresh would destroy it."""

    def __init__(self, path):
        self.path = path
        super().__init__(f"checkpoint of an interrupted run exists: {path}; pass --resume to continue it "
                         "or --overwrite to start over")


class ResultsFileError(NsvdError):
    """A file is missing, unreadable, or not an nsvd results file."""


class DivergenceError(NsvdError):
    """Training produced a non-finite loss.

    Attributes
    ----------
    iteration : int
        Iteration at which the non-finite value appeared.
    checkpoint : str or None
        Path of the last good checkpoint, if one was written.
    """

    def __init__(self, iteration: int, checkpoint=None):
        self.iteration = iteration
        self.checkpoint = checkpoint
        where = f"; last good checkpoint: {checkpoint}" if checkpoint else ""
        super().__init__(f"training diverged (non-finite loss) at iteration {iteration}{where}")


class ComparisonError(NsvdError):
    """``nsvd compare`` cannot put its sources in one table.

    Raised when results files (or a problem spec and a results file) describe different
    problem conventions (potential, dimension, kinetic coefficient, and for results files
    shift and scale), when a source is neither a problem nor a results file, or when an
    option of the command (``--grid``, ``--max-memory``, ``--tol``, ...) is invalid.  The
    message is one line naming the sources or the option.
    """


class OutputWriteError(NsvdError):
    """The results file could not be written after training (disk full, read-only folder).

    An existing file at ``path`` is intact (atomic writer); ``checkpoint`` is the kept
    checkpoint of the final state, from which ``--resume`` writes the results at once.
    """

    def __init__(self, path, reason: str, checkpoint=None):
        self.path, self.reason, self.checkpoint = path, reason, checkpoint
        kept = f"; the checkpoint {checkpoint} is kept: free space or fix the folder, then rerun with --resume" \
            if checkpoint else ""
        super().__init__(f"cannot write {path}: {reason}{kept}")
