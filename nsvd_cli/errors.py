"""Exception hierarchy of nsvd.

Library code raises these; only :mod:`nsvd_cli.cli` turns them into one-line
messages and exit codes.
"""

from __future__ import annotations

import contextlib

__all__ = [
    "naming_spec_file",
    "NsvdError",
    "ParameterError",
    "SpecError",
    "ResultsExistError",
    "ResultsFileError",
    "CheckpointExistsError",
    "DivergenceError",
    "ComparisonError",
    "GridError",
    "OutputWriteError",
]


class NsvdError(Exception):
    """Base class of every error nsvd raises on purpose.

    Attributes
    ----------
    parameter : str or None
        The library parameter or spec field the error is about (e.g. ``"grid"``,
        ``"max_memory"``), for the CLI to name the flag that sets it
        (:data:`nsvd_cli.cli.console.OPTION_OF_FIELD`); None when no single one is.
    """

    parameter: str | None = None


class ParameterError(NsvdError):
    """Base of errors about one parameter: ``Error(message, parameter=None)``.

    ``str(err)`` is the message alone (no flag names); :attr:`parameter` says which
    parameter to change.
    """

    def __init__(self, message: str, parameter: str | None = None):
        self.message = message
        self.parameter = parameter
        super().__init__(message)


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
    """The output file exists and ``overwrite`` was not requested.

    Attributes
    ----------
    path : path-like
        The existing file.  The CLI adds how to replace it or choose another name.
    """

    def __init__(self, path):
        self.path = path
        super().__init__(f"output file {path} exists (overwrite not requested)")


class CheckpointExistsError(NsvdError):
    """An interrupted run's checkpoint exists for this output; neither resume nor overwrite
    was requested, so starting afresh would destroy it.

    Attributes
    ----------
    path : path-like
        The checkpoint.  The CLI adds how to resume it or start over.
    """

    def __init__(self, path):
        self.path = path
        super().__init__(f"checkpoint of an interrupted run exists: {path} (neither resume nor overwrite requested)")


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
    cause : str or None
        Which input of the loss was not finite (e.g. the potential at training samples),
        when it could be told (:func:`nsvd_cli.problem.nonfinite_inputs`).
    """

    def __init__(self, iteration: int, checkpoint=None, cause: str | None = None):
        self.iteration = iteration
        self.checkpoint = checkpoint
        self.cause = cause  # which input of the loss was not finite, when known
        where = f"; last good checkpoint: {checkpoint}" if checkpoint else ""
        why = f": {cause}" if cause else ""
        super().__init__(f"training diverged (non-finite loss) at iteration {iteration}{why}{where}")


class ComparisonError(ParameterError):
    """A comparison (:func:`nsvd_cli.compare.compare`) cannot put its sources in one table.

    Raised when results files (or a problem spec and a results file) describe different
    problem conventions (potential, dimension, kinetic coefficient, and for results files
    shift and scale), when a source is neither a problem nor a results file, or when a
    parameter (``grid``, ``max_memory``, ``tol``, ...) is invalid; :attr:`parameter` names
    it.  The message is one line naming the sources or the value.
    """


class GridError(ParameterError):
    """A grid baseline (:mod:`nsvd_cli.baselines`) cannot (or did not) deliver a trustworthy answer.

    Raised for too little memory, too few grid points for the method, a grid point on a
    singularity and failed convergence.  The message is one line with the value;
    :attr:`parameter` names the parameter to change (``"grid"``, ``"max_memory"``,
    ``"max_iter"``, ``"tol"``, ``"method"``, ``"sigma"``, ``"reference_grid"``...).
    """


class OutputWriteError(NsvdError):
    """The results file could not be written after training (disk full, read-only folder).

    An existing file at ``path`` is intact (atomic writer); ``checkpoint`` is the kept
    checkpoint of the final state, from which ``--resume`` writes the results at once.
    """

    def __init__(self, path, reason: str, checkpoint=None):
        self.path, self.reason, self.checkpoint = path, reason, checkpoint
        kept = f"; the checkpoint {checkpoint} of the final state is kept" if checkpoint else ""
        super().__init__(f"cannot write {path}: {reason}{kept}")


@contextlib.contextmanager
def naming_spec_file(source, settable=None):
    """Name the spec file in a :class:`SpecError` raised after the spec was loaded.

    ``load_spec`` names the file in errors of values it validates (``SpecFileError``,
    ``"mine.toml: modes: ..."``); some values are checked only when the problem is built —
    a Python-function potential is imported and probed then, V is evaluated on the rule's
    nodes — and their errors would otherwise name no file. Inside the block, a SpecError
    about a field that no command-line option sets (``settable(field)`` false) is re-raised
    as ``SpecFileError(field, message, source)``; one that names its file already, or whose
    field an option sets (the CLI names the option), passes unchanged.

    Parameters
    ----------
    source : str or path-like
        The spec file (or built-in name) as the user gave it.
    settable : callable, optional
        ``settable(field) -> bool``: whether a command-line option sets the field (default:
        none does).

    Raises
    ------
    SpecFileError
        (a :class:`SpecError`) in place of the SpecError described above.
    """
    try:
        yield
    except SpecError as err:
        if getattr(err, "source", None) or (settable is not None and settable(err.field)):
            raise
        from .spec.loading import SpecFileError

        raise SpecFileError(err.field, err.message, str(source)) from None
