"""Solve a problem end to end: spec -> operator + sampling + model -> fit -> evaluate -> file.

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

from .errors import CheckpointExistsError, ResultsExistError, SpecError
from .evaluate import Evaluation, evaluate_model
from .models import build_model
from .operators import Hamiltonian, ShiftedOperator
from .potentials import make_potential
from .quadrature import make_quadrature
from .references import reference_for
from .results import write_results
from .sampling import make_sampling
from .spec import ProblemSpec
from .train import fit, load_checkpoint

__all__ = ["solve", "SolveOutput", "default_output_path", "resolve_device", "checkpoint_path"]


@dataclass
class SolveOutput:
    """What :func:`solve` returns: the written file, the final evaluation and the reference."""

    path: Path
    evaluation: Evaluation
    reference: object
    wall_time: float
    iterations_per_second: float


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


def _continuum_threshold(spec: ProblemSpec) -> float | None:
    """Energy where the continuous spectrum of H starts, for the potentials that have one."""
    pot = spec.potential
    if pot.kind == "morse":
        return pot.depth
    if pot.kind in ("poschl_teller", "coulomb"):
        return 0.0
    return None


def _warn_spec(spec: ProblemSpec, reference) -> None:
    threshold = _continuum_threshold(spec)
    if threshold is not None and spec.shift > threshold:
        warnings.warn(f"the shift {spec.shift:g} lies above the continuum threshold {threshold:g} of the potential: "
                      "T then has a continuous spectrum of positive eigenvalues, which the modes cannot resolve; "
                      f"use shift <= {threshold:g}", stacklevel=3)
    if reference is None:
        return
    for note in getattr(reference, "notes", ()):
        warnings.warn(note, stacklevel=3)
    if not reference.complete_last_group:
        warnings.warn(f"--modes {spec.modes} cuts the last degenerate multiplet of the reference; the learned "
                      "subspace of that multiplet is ill-defined", stacklevel=3)
    n_pos = int(np.sum(spec.scale * (spec.shift - reference.energies) > 0))
    if n_pos < spec.modes:
        warnings.warn(f"the shift {spec.shift} leaves only {n_pos} positive eigenvalues of T among the {spec.modes} "
                      "modes; the extra modes converge to zero (App. C.6)", stacklevel=3)


def solve(spec: ProblemSpec, output: str | Path | None = None, *, overwrite: bool = False, resume: bool = False,
          callback: Callable[[dict], None] | None = None, run_info: dict | None = None) -> SolveOutput:
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
        Progress events from :func:`nsvd_cli.train.fit`, plus ``{"event": "start", ...}``
        and ``{"event": "final_evaluation"}``.
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
        Invalid device request.
    DivergenceError
        Non-finite loss; a checkpoint is kept.
    """
    output = Path(output) if output is not None else default_output_path(spec)
    if output.exists() and not overwrite:
        raise ResultsExistError(output)
    try:  # before training, not after: the folder must exist (or be creatable) and be writable
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SpecError("output", f"cannot create folder {output.parent}: {err.strerror}") from None
    try:
        with tempfile.TemporaryFile(dir=output.parent):
            pass
    except OSError as err:
        raise SpecError("output", f"cannot write in {output.parent}: {err.strerror}") from None
    tr = spec.training
    device = resolve_device(tr.device)
    dtype = torch.float64 if tr.dtype == "float64" else torch.float32

    reference = reference_for(spec)
    _warn_spec(spec, reference)
    potential = make_potential(spec.potential, spec.dimension)
    sampling = make_sampling(spec.dimension, spec.sampling)
    generator = torch.Generator().manual_seed(tr.seed)
    model = build_model(spec.dimension, spec.modes, spec.model, generator, sampling.log_density).to(device, dtype)
    operator = ShiftedOperator(Hamiltonian(potential, spec.kinetic, tr.laplacian, tr.fd_step), spec.shift, spec.scale)
    quadrature = make_quadrature(spec.evaluation)
    ref_values = reference.eigenfunctions(quadrature.points) if reference is not None else None

    def evaluate(m) -> Evaluation:
        return evaluate_model(m.cpu() if device.type != "cpu" else m, quadrature, potential, kinetic=spec.kinetic,
                              shift=spec.shift, scale=spec.scale, reference=reference, reference_values=ref_values)

    last = {}  # the latest periodic Evaluation, reused if it is of the final model

    def periodic(m) -> dict:
        last["evaluation"] = ev = evaluate(m)
        return {"eigenvalues": ev.eigenvalues.tolist(), **ev.summary()}

    ckpt = checkpoint_path(output)
    if ckpt.exists() and not resume and not overwrite:
        raise CheckpointExistsError(ckpt)
    state0 = load_checkpoint(ckpt) if resume and ckpt.exists() else None
    if callback:
        callback({"event": "start", "spec": spec, "device": str(device), "output": str(output),
                  "resumed_from": state0["iteration"] if state0 else None, "reference": reference})
    state = fit(model, operator, sampling, tr, generator=generator, device=device, callback=callback,
                evaluate=periodic, checkpoint=ckpt, resume=state0)
    evaluations = state.history["evaluations"]
    if "evaluation" in last and evaluations and evaluations[-1]["iteration"] == state.iteration:
        evaluation = last["evaluation"]
    else:
        evaluation = evaluate(state.ema.module)
    if callback:
        callback({"event": "final_evaluation"})
    ips = state.iteration / state.wall_time if state.wall_time > 0 else float("nan")
    run = {"device": str(device), "threads": torch.get_num_threads(), "wall_time": state.wall_time,
           "iterations": state.iteration, "iterations_per_second": ips, **(run_info or {})}
    path = write_results(output, spec=spec, evaluation=evaluation, model_state=state.ema.state_dict(),
                         history=state.history, run=run, reference=reference, overwrite=overwrite)
    ckpt.unlink(missing_ok=True)  # only now that the results are safely on disk
    return SolveOutput(path=path, evaluation=evaluation, reference=reference, wall_time=state.wall_time,
                       iterations_per_second=ips)
