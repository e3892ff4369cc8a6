"""Solve a problem end to end: spec -> Problem -> (model, sampler) -> fit -> Evaluation -> file.

This is the composition root of the pipeline; it holds no numerics of its own.
"""

from __future__ import annotations

import datetime as _dt
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .defaults import derive_defaults
from .errors import CheckpointExistsError, ResultsExistError, SpecError
from .evaluate import Evaluation, evaluate_model
from .files.results import write_results
from .models import build_model
from .problem import Problem
from .spec import ProblemSpec
from .train import Finished, Started, fit, load_checkpoint
from .verdict import Tolerances, judge

__all__ = ["solve", "SolveOutput", "default_output_path", "resolve_device", "checkpoint_path"]


@dataclass
class SolveOutput:
    """What :func:`solve` returns: the written file, the final evaluation (with its per-mode
    ``verdict``), the reference, the :class:`~nsvd_cli.problem.Problem` solved (its spec with
    the derived defaults filled in), the iterations run and what stopped training
    (``"iterations"`` or ``"converged"``)."""

    path: Path
    evaluation: Evaluation
    reference: object
    wall_time: float
    iterations_per_second: float
    problem: Problem | None = None
    iterations: int = 0
    stopped_by: str = "iterations"


def default_output_path(spec: ProblemSpec, folder: str | Path = "runs") -> Path:
    """``runs/<problem>-<YYYYmmdd-HHMMSS>.h5``."""
    return Path(folder) / f"{spec.name}-{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}.h5"


def checkpoint_path(output: str | Path) -> Path:
    """Where the resumable checkpoint of a run writing ``output`` lives (``<output>.ckpt``)."""
    output = Path(output)
    return output.with_name(output.name + ".ckpt")


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda if available else cpu; ``cuda`` without a GPU raises SpecError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SpecError("device", f"{name!r} requested but no CUDA device is available")
    return torch.device(name)


def solve(spec: ProblemSpec, output: str | Path | None = None, *, overwrite: bool = False, resume: bool = False,
          callback: Callable[[object], None] | None = None, run_info: dict | None = None) -> SolveOutput:
    """Learn the lowest ``spec.modes`` eigenpairs of a problem and write a results file.

    Parameters
    ----------
    spec : ProblemSpec
        Resolved problem spec (physics, model, training, evaluation).
    output : path, optional
        Results file; default :func:`default_output_path`. Never silently overwritten.
    overwrite : bool
        Replace an existing output file.
    resume : bool
        Continue from ``<output>.ckpt`` if it exists (left by an interrupted run).
    callback : callable, optional
        Progress events (:mod:`nsvd_cli.train`): :class:`~nsvd_cli.train.Started`, then those
        of :func:`~nsvd_cli.train.fit`, then :class:`~nsvd_cli.train.Finished` after the final
        evaluation.
    run_info : dict, optional
        Extra JSON-serialisable information to store (e.g. the command line).

    Returns
    -------
    SolveOutput

    Raises
    ------
    ResultsExistError
        The output exists and ``overwrite`` is False (checked before training starts).
    CheckpointExistsError
        ``<output>.ckpt`` of an interrupted run exists and neither ``resume`` nor
        ``overwrite`` was given.
    SpecError
        Invalid device request; output folder not writable.
    GridError
        A grid reference that cannot be solved.
    DivergenceError
        Non-finite loss; a checkpoint is kept.
    """
    spec, derived = derive_defaults(spec)
    output = Path(output) if output is not None else default_output_path(spec)
    _check_output(output, overwrite)
    tr = spec.training
    device = resolve_device(tr.device)
    dtype = torch.float64 if tr.dtype == "float64" else torch.float32
    problem = Problem.from_spec(spec)
    for message in problem.warnings():  # computes the reference (once)
        warnings.warn(message, stacklevel=2)
    generator = torch.Generator().manual_seed(tr.seed)
    model = build_model(spec.dimension, spec.modes, spec.model, generator, problem.sampling.log_density)
    model = model.to(device, dtype)
    judge = _Judge(problem, spec.training)

    def periodic(m, iteration: int) -> dict:
        ev = judge(evaluate_model(m, problem), iteration)
        out = {"eigenvalues": ev.eigenvalues.tolist(), **ev.summary(), "converged": ev.verdict.n_converged}
        if tr.until == "converged" and judge.can_stop:
            out["stop"] = "converged"
        elif model.can_reinitialise:
            out["restart"] = judge.stuck_modes()
        return out

    ckpt = checkpoint_path(output)
    if ckpt.exists() and not resume and not overwrite:
        raise CheckpointExistsError(ckpt)
    state0 = load_checkpoint(ckpt) if resume and ckpt.exists() else None
    if callback:
        callback(Started(spec, str(device), str(output), state0["iteration"] if state0 else None, problem.reference,
                         derived))
    state = fit(model, problem.operator, problem.sampling, tr, generator=generator, device=device,
                callback=callback, evaluate=periodic, checkpoint=ckpt, resume=state0)
    evaluations = state.history["evaluations"]
    if judge.last is not None and evaluations and evaluations[-1]["iteration"] == state.iteration:
        evaluation = judge.last
    else:
        evaluation = judge(evaluate_model(state.ema.module, problem), state.iteration)
    if callback:
        callback(Finished(state.iteration, state.wall_time, state.stopped_by))
    ips = state.iteration / state.wall_time if state.wall_time > 0 else float("nan")
    run = {"device": str(device), "threads": torch.get_num_threads(), "wall_time": state.wall_time,
           "iterations": state.iteration, "iterations_per_second": ips, "stopped_by": state.stopped_by,
           "restarts": state.history.get("restarts", []),
           "derived": {k: list(v) if isinstance(v, tuple) else v for k, v in derived.items()}, **(run_info or {})}
    path = write_results(output, spec=spec, evaluation=evaluation, model_state=state.ema.state_dict(),
                         history=state.history, run=run, reference=problem.reference, overwrite=overwrite)
    ckpt.unlink(missing_ok=True)  # only now that the results are safely on disk
    return SolveOutput(path=path, evaluation=evaluation, reference=problem.reference, wall_time=state.wall_time,
                       iterations_per_second=ips, problem=problem, iterations=state.iteration,
                       stopped_by=state.stopped_by)


class _Judge:
    """Attaches the per-mode verdict (:func:`nsvd_cli.verdict.judge`) to each evaluation of a
    run, using the previous one for the drift; keeps the latest (reused if it is of the
    final model)."""

    #: a mode is stuck when it overlaps an earlier mode and its two estimates disagree this much
    STUCK = 0.3

    def __init__(self, problem: Problem, training):
        self.problem, self.last, self.training = problem, None, training
        self.tolerances = Tolerances().with_agreement(training.tolerance)
        self.iteration, self.restarts = 0, 0

    def stuck_modes(self) -> list[int]:
        """Modes (0-based) to re-initialise after the latest evaluation: collapsed onto an
        earlier mode, while restarts are left and at least 30 % of the iterations remain."""
        tr, v = self.training, self.last.verdict
        if self.restarts >= tr.restarts or self.iteration > 0.7 * tr.iterations:
            return []
        stuck = np.flatnonzero((v.overlap > self.STUCK) & (v.agreement > self.STUCK) & ~v.vanishing)
        self.restarts += len(stuck) > 0
        return stuck.tolist()

    def __call__(self, ev: Evaluation, iteration: int = 0) -> Evaluation:
        prev, self.iteration = self.last, iteration
        ev.verdict = judge(ev.eigenvalues, ev.norm_eigenvalues, ev.gram, scale=self.problem.scale,
                           previous_eigenvalues=None if prev is None else prev.eigenvalues,
                           residuals=ev.residuals, tolerances=self.tolerances)
        self.last = ev
        return ev

    @property
    def can_stop(self) -> bool:
        """Every mode passed, with the drift judged (at least two evaluations)."""
        v = self.last.verdict
        return v.all_converged and bool(np.all(np.isfinite(v.drift)))


def _check_output(output: Path, overwrite: bool) -> None:
    """Refuse, before training, an existing output (unless ``overwrite``) or an unwritable folder."""
    if output.exists() and not overwrite:
        raise ResultsExistError(output)
    try:  # the folder must exist (or be creatable) and be writable
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SpecError("output", f"cannot create folder {output.parent}: {err.strerror}") from None
    try:
        with tempfile.TemporaryFile(dir=output.parent):
            pass
    except OSError as err:
        raise SpecError("output", f"cannot write in {output.parent}: {err.strerror}") from None
