"""Solve a problem end to end: spec -> Problem -> (model, sampler) -> fit -> Evaluation -> file.

This is the composition root of the pipeline; it holds no numerics of its own.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import math
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from . import distributed as dist_
from .defaults import DERIVED, derive_defaults
from .distributed import SINGLE, DistContext
from .errors import CheckpointExistsError, DivergenceError, NsvdError, OutputWriteError, ResultsExistError, SpecError
from .evaluate import Evaluation, evaluate_model
from .files.results import write_results
from .models import build_model
from .problem import Problem
from .spec import ProblemSpec, spec_to_dict
from .train import Finished, Started, fit, load_checkpoint
from .verdict import Tolerances, judge

__all__ = ["solve", "SolveOutput", "default_output_path", "resolve_device", "checkpoint_path", "lock_path",
           "check_output", "RESUMABLE_FIELDS", "rank0_check", "PeerFailed", "command_history", "iterations_per_second"]

#: Spec fields a resumed run may change; every other field must equal the checkpoint's.
RESUMABLE_FIELDS = frozenset({"training.iterations", "training.eval_every", "training.checkpoint_every",
                              "training.device", "training.restarts"})


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


def lock_path(output: str | Path) -> Path:
    """The lock file that keeps two runs off one output (``<output>.lock``; removed at the end)."""
    output = Path(output)
    return output.with_name(output.name + ".lock")


def resolve_device(name: str, dist: DistContext = SINGLE) -> torch.device:
    """``auto`` -> cuda if available else cpu; ``cuda`` without a GPU raises SpecError. Under
    several processes ``auto`` / ``cuda`` mean ``cuda:LOCAL_RANK`` (one GPU a rank)."""
    if dist.active:
        name = dist_.rank_device(name, dist.local_rank)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SpecError("device", f"{name!r} requested but no CUDA device is available")
    return torch.device(name)


def solve(spec: ProblemSpec, output: str | Path | None = None, *, overwrite: bool = False, resume: bool = False,
          callback: Callable[[object], None] | None = None, run_info: dict | None = None,
          dist: DistContext = SINGLE) -> SolveOutput:
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
    dist : DistContext, default single process
        Data-parallel training (:mod:`nsvd_cli.distributed`, docs/scaling.md): every rank
        calls ``solve`` with the same spec; rank 0 alone checks and locks the output, reads
        the checkpoint (sent to the others), computes the reference, evaluates, calls
        ``callback`` and writes the results file.

    Returns
    -------
    SolveOutput
        On ranks other than 0: ``evaluation`` and ``reference`` are None.

    Raises
    ------
    ResultsExistError
        The output exists and ``overwrite`` is False (checked before training starts).
    CheckpointExistsError
        ``<output>.ckpt`` of an interrupted run exists and neither ``resume`` nor
        ``overwrite`` was given.
    SpecError
        Invalid device request; output is a folder, its folder is not writable or lacks
        space, another run holds the output's lock; a resumed checkpoint of another problem
        or other settings (names the field); settings refused by :meth:`Problem.check`.
    ResultsFileError
        ``--resume`` of a corrupt, foreign or newer-version checkpoint.
    GridError
        A grid reference that cannot be solved.
    DivergenceError
        Non-finite loss after the rollbacks of :func:`~nsvd_cli.train.fit`; a checkpoint is kept.
    OutputWriteError
        The results file could not be written after training (disk full, read-only folder):
        an existing file is intact, the checkpoint of the final state is kept.
    """
    from .methods import check_method_settings

    tr = spec.training  # settings the method cannot honour: refused before anything is printed
    check_method_settings(getattr(tr, "method", "nestedlora"), tr.nesting, spec.model.architecture)
    spec, derived = derive_defaults(spec)
    output = Path(output) if output is not None else default_output_path(spec)
    output = Path(dist_.broadcast_object(str(output), dist))  # rank 0's (the default has a time stamp)
    with rank0_check(dist, lambda: check_output(output, overwrite)), \
            (_output_lock(output) if dist.is_main else contextlib.nullcontext()):
        return _solve_locked(spec, output, overwrite, resume, callback, run_info, derived, dist)


def iterations_per_second(iterations: int, wall_time: float) -> float:
    """The training rate of a run: ``iterations / wall_time``, averaged over the whole run.

    ``iterations`` is the number of completed iterations and ``wall_time`` the seconds the
    training loop ran (:attr:`~nsvd_cli.train.TrainState.wall_time`: both summed over resumed
    runs; the periodic evaluations during training are included, the final one after the last
    iteration is not). This is the results file's ``run.iterations_per_second``, the summary
    line's ``it/s`` and the progress bar's final ``it/s`` (during training the bar shows the rate of
    the latest ``log_every`` iterations). NaN when ``wall_time`` is not positive.
    """
    return iterations / wall_time if wall_time > 0 else float("nan")


#: The ``run_info`` entries a checkpoint carries to the run that resumes it (:func:`command_history`).
_KEPT = ("command", "resumed_by")


def command_history(run_info: dict | None, checkpoint: dict | None) -> dict:
    """``run_info`` with the commands of a resumed run kept: the results file's ``run.command``
    (the command that started the run) and ``run.resumed_by`` (every resume, in order).

    Parameters
    ----------
    run_info : dict or None
        This run's extra information; ``command`` is its command line (``nsvd solve ...``).
    checkpoint : dict or None
        The checkpoint being resumed (:func:`~nsvd_cli.train.load_checkpoint`), None for a fresh
        run. Its ``meta["run_info"]`` holds the ``command`` and ``resumed_by`` of the runs before.

    Returns
    -------
    dict
        A copy of ``run_info``: unchanged for a fresh run; for a resumed one ``command`` is the
        first command and ``resumed_by`` the earlier resumes followed by this run's command.
        A checkpoint written before the commands were kept (no ``meta["run_info"]``) does not
        know the first command: ``command`` is then None. Nothing is added when neither this
        run nor the checkpoint records a command.
    """
    info = dict(run_info or {})
    if checkpoint is None:
        return info
    earlier = checkpoint.get("meta", {}).get("run_info") or {}
    if "command" not in info and "command" not in earlier:
        return info
    info["resumed_by"] = [*earlier.get("resumed_by", ()), info.get("command")]
    info["command"] = earlier.get("command")
    return info


class PeerFailed(NsvdError):
    """Another rank (rank 0) failed before training; it reports why."""


@contextlib.contextmanager
def rank0_check(dist: DistContext, check: Callable[[], object]):
    """Run ``check`` on rank 0 and tell every rank whether it passed (so that the others do
    not wait for a rank 0 that has stopped); yields ``check()``'s value (None elsewhere)."""
    value, failed = None, False
    try:
        if dist.is_main:
            value = check()
    except BaseException:
        failed = True
        if dist.active:
            dist_.broadcast_object(True, dist)
        raise
    if dist.active and not dist.is_main:
        failed = dist_.broadcast_object(None, dist)
    elif dist.active:
        dist_.broadcast_object(False, dist)
    if failed:
        raise PeerFailed("rank 0 stopped before training (it reports why)")
    yield value


def _rank0_setup(spec, output: Path, resume: bool, overwrite: bool, problem: Problem):
    """Checkpoint checks and reading, the problem's warnings (computes the reference): rank 0's part."""
    ckpt = checkpoint_path(output)
    if ckpt.exists() and not resume and not overwrite:
        raise CheckpointExistsError(ckpt)
    state0 = load_checkpoint(ckpt) if resume and ckpt.exists() else None
    if state0 is not None:
        check_resumable(state0, spec, ckpt)
    problem.check()  # refusals: settings that cannot give a meaningful result
    problem.check_spectrum()  # a shift below every reference level (computes the reference)
    for message in problem.warnings():  # computes the reference (once)
        warnings.warn(message, stacklevel=4)
    return state0


def _solve_locked(spec, output: Path, overwrite, resume, callback, run_info, derived,
                  dist: DistContext = SINGLE) -> SolveOutput:
    """:func:`solve` once the output is validated and locked (private)."""
    tr = spec.training
    device = resolve_device(tr.device, dist)
    dtype = torch.float64 if tr.dtype == "float64" else torch.float32
    ckpt = checkpoint_path(output)
    problem = Problem.from_spec(spec)
    with rank0_check(dist, lambda: _rank0_setup(spec, output, resume, overwrite, problem)) as state0:
        state0 = dist_.broadcast_object(state0, dist)  # the checkpoint may live on rank 0's machine only
    run_info = command_history(run_info, state0)
    generator = torch.Generator().manual_seed(tr.seed)
    model = build_model(spec.dimension, spec.modes, spec.model, generator, problem.sampling.log_density,
                        problem.envelope_precision if spec.model.envelope == "gaussian-normal-modes" else None)
    model = model.to(device, dtype)
    with rank0_check(dist, lambda: _check_free_space(output, model, spec)):
        pass
    judge = _Judge(problem, spec.training)

    def evaluate(m, iteration: int, refine: bool = True):
        try:
            return evaluate_model(m, problem, refine=refine)
        except np.linalg.LinAlgError:  # non-finite eigenfunction values: the model has diverged
            raise DivergenceError(iteration, str(ckpt) if ckpt.exists() else None) from None

    def periodic(m, iteration: int) -> dict:
        ev = judge(evaluate(m, iteration, refine=iteration >= tr.iterations), iteration)  # certify at the end only
        out = {"eigenvalues": ev.eigenvalues.tolist(), **ev.summary(), "converged": ev.verdict.n_converged}
        if tr.until == "converged" and judge.can_stop:
            out["stop"] = "converged"
        elif model.can_reinitialise:
            out["restart"] = judge.stuck_modes()
        return out

    if callback and dist.is_main:
        callback(Started(spec, str(device), str(output), state0["iteration"] if state0 else None, problem.reference,
                         derived, float(state0.get("wall_time", 0.0)) if state0 else 0.0))
    kept = {k: run_info[k] for k in _KEPT if k in run_info}  # the commands, for a later resume
    state = fit(model, problem.operator, problem.sampling, tr, generator=generator, device=device,
                callback=callback, evaluate=periodic, checkpoint=ckpt, resume=state0,
                checkpoint_meta={"spec": spec_to_dict(spec), "run_info": kept}, dist=dist)
    if not dist.is_main:
        return SolveOutput(path=output, evaluation=None, reference=None, wall_time=state.wall_time,
                           iterations_per_second=iterations_per_second(state.iteration, state.wall_time),
                           problem=problem,
                           iterations=state.iteration, stopped_by=state.stopped_by)
    evaluations = state.history["evaluations"]
    if judge.last is not None and evaluations and evaluations[-1]["iteration"] == state.iteration:
        evaluation = judge.last
        if not evaluation.refined:  # stopped early (--until converged): the final intervals in full
            evaluation.bounds, evaluation.refined = evaluate(state.ema.module, state.iteration).bounds, True
    else:
        evaluation = judge(evaluate(state.ema.module, state.iteration), state.iteration)
    if callback:
        callback(Finished(state.iteration, state.wall_time, state.stopped_by))
    ips = iterations_per_second(state.iteration, state.wall_time)
    run = {"device": str(device), "threads": torch.get_num_threads(), "processes": dist.world_size,
           "wall_time": state.wall_time,
           "iterations": state.iteration, "iterations_per_second": ips, "stopped_by": state.stopped_by,
           "restarts": state.history.get("restarts", []), "rollbacks": len(state.history.get("rollbacks", ())),
           "derived": {k: list(v) if isinstance(v, tuple) else v for k, v in derived.items()}, **(run_info or {})}
    try:
        path = write_results(output, spec=spec, evaluation=evaluation, model_state=state.ema.state_dict(),
                             history=state.history, run=run, reference=problem.reference, overwrite=overwrite)
    except OSError as err:  # disk full, folder made read-only, ...: the atomic writer left the old file intact
        raise OutputWriteError(output, err.strerror or str(err), ckpt if ckpt.exists() else None) from None
    ckpt.unlink(missing_ok=True)  # only now that the results are safely on disk
    return SolveOutput(path=path, evaluation=evaluation, reference=problem.reference, wall_time=state.wall_time,
                       iterations_per_second=ips, problem=problem, iterations=state.iteration,
                       stopped_by=state.stopped_by)


class _Judge:
    """Attaches the per-mode verdict (:func:`nsvd_cli.verdict.judge`) to each evaluation of a
    run, using the previous one for the drift; keeps the latest (reused if it is of the
    final model)."""

    #: a mode is dead when it overlaps an earlier mode and its two estimates disagree this much,
    STUCK = 0.3
    #: ... with its norm estimate λ_N below this fraction of a positive λ_R
    DEAD = 0.1

    def __init__(self, problem: Problem, training):
        self.problem, self.last, self.training = problem, None, training
        self.tolerances = Tolerances().with_agreement(training.tolerance)
        self.iteration, self.restarts = 0, 0
        self.stuck_since, self.checked = {}, -math.inf  # :meth:`_confirmed`'s streaks

    def stuck_modes(self) -> list[int]:
        """Modes (0-based) to re-initialise after the latest evaluation: dead at this
        evaluation and at every evaluation since one at least an EMA memory earlier
        (:meth:`_confirmed`), while restarts are left and at least 30 % of the iterations remain.

        Dead means: overlap ``|G_lk|`` with an earlier mode above :attr:`STUCK`, the two
        estimates of λ_l disagreeing by more than :attr:`STUCK`, and the norm collapsed while
        the Rayleigh quotient stays positive, ``λ_N < DEAD · λ_R``. A NestedLoRA mode whose norm
        has collapsed gets gradients proportional to that norm and does not come back
        (hydrogen2d, NestedLoRA seed 2: mode 16 fell to λ_N = 1e-4 at λ_R = 19 near iteration
        9500, overlap 0.85, and never grew back, although the learned span's 16th Ritz value was
        the level). A mode with ``λ_R ≤ 0`` (one that should vanish) is never restarted.

        Copies are not restarted: a mode that overlaps an earlier one with nearly its Rayleigh
        quotient is, mid-run, usually a member of a degenerate subspace not yet orthogonalised,
        and the Gram term of the objective separates it. Restarting copies was measured to harm:
        ``nsvd solve hydrogen2d --seed 2`` (defaults, evaluations every 2000) re-initialised 6
        modes of the 4- and 7-fold shells at iteration 4000 and 5 at 8000 and ended at a mean
        error of 105 % with 7/16 modes converged (Ritz energies 0.6 %), where the same run
        without restarts reached 0.86 % on modes 1–15 (Ritz 0.074 %); earlier, morse1d (600 iterations) and a 1D
        oscillator lost nearly converged modes to it. Nor is the dead test reliable mid-run: the
        same hydrogen2d run with dead-only restarts re-initialised 5 modes at 4000 and 4 at 8000
        (norms of the 7-fold shell not yet grown: λ_N < 0.1 λ_R) and stood at 62.6 % mean error
        at 12000. Hence ``training.restarts`` defaults to 0 (off): a run then trains exactly as
        the benchmarks measured it; a positive value opts in.

        Why confirmed: the evaluation is of the EMA weights, a weight average with memory
        ``1 / (1 − ema_decay)`` iterations (200 at 0.995; at iteration t the initial weights
        still weigh ``ema_decay^t``, 22 % at t = 300), so a mode that changed within that memory
        is evaluated as a blend of its old and new weights. A collapse that is real persists
        (the dead hydrogen2d mode never recovered): seen at 10000 and confirmed at 12000 of
        20000 iterations, it is still restarted (12000 ≤ 0.7 · 20000).
        """
        tr, v, ev = self.training, self.last.verdict, self.last
        lam = np.asarray(ev.eigenvalues, np.float64)
        with np.errstate(invalid="ignore"):  # NaN λ_N (LoRA, NeuralEF, SpIN): never dead
            dead = (lam > 0) & (np.asarray(ev.norm_eigenvalues, np.float64) < self.DEAD * lam)
        stuck = np.flatnonzero((v.overlap > self.STUCK) & (v.agreement > self.STUCK) & dead & ~v.vanishing)
        confirmed = self._confirmed(stuck.tolist())
        if not confirmed or self.restarts >= tr.restarts or self.iteration > 0.7 * tr.iterations:
            return []
        self.restarts += 1
        self.stuck_since = {m: t for m, t in self.stuck_since.items() if m not in confirmed}  # fresh weights
        return confirmed

    def _confirmed(self, stuck: list[int]) -> list[int]:
        """Of the modes ``stuck`` at this evaluation, those stuck at every evaluation since
        one at least ``max(1, 1 / (1 − ema_decay))`` iterations earlier (two evaluations at
        least; ``stuck_since`` keeps each streak's first iteration, and a skipped evaluation
        ends every streak)."""
        tr, now = self.training, self.iteration
        if now - self.checked > tr.eval_every:  # an evaluation went unchecked (or the first one)
            self.stuck_since = {}
        self.checked = now
        self.stuck_since = {m: self.stuck_since.get(m, now) for m in stuck}
        memory = 1.0 / (1.0 - tr.ema_decay) if tr.ema_decay < 1 else math.inf
        return [m for m, since in self.stuck_since.items() if since < now and now - since >= memory]

    def __call__(self, ev: Evaluation, iteration: int = 0) -> Evaluation:
        prev, self.iteration = self.last, iteration
        ref = ev.reference_eigenvalues  # with a reference, each mode is also judged against its level
        if ref is not None:
            from .verdict import reference_allowance

            try:
                ref_error = self.problem.reference_error  # cached: one coarser solve for a grid reference
            except NsvdError:
                ref_error = None
            allowance = reference_allowance(ref, self.problem.scale, ref_error, getattr(ev, "stderr", None))
        ev.verdict = judge(ev.eigenvalues, ev.norm_eigenvalues, ev.gram, scale=self.problem.scale,
                           previous_eigenvalues=None if prev is None else prev.eigenvalues,
                           residuals=ev.residuals, tolerances=self.tolerances,
                           bound=None if ref is None else ref > 0,
                           edge_mass=getattr(ev, "edge_mass", None), reference_eigenvalues=ref,
                           reference_allowance=None if ref is None else allowance,
                           reference_energies=None if ref is None else getattr(ev, "reference_energies", None))
        self.last = ev
        return ev

    @property
    def can_stop(self) -> bool:
        """Every mode passed, with the drift judged (at least two evaluations)."""
        v = self.last.verdict
        return v.all_converged and bool(np.all(np.isfinite(v.drift)))


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def check_resumable(checkpoint: dict, spec: ProblemSpec, path, what: str = "the checkpoint being resumed") -> None:
    """Refuse to resume a checkpoint of another problem or other settings (``what`` names it in
    the message: also a finished seed's results file that ``--seeds … --resume`` skips).

    Every field of the resolved spec stored in the checkpoint must equal ``spec``'s, except
    :data:`RESUMABLE_FIELDS`; the checkpoint's iteration must not exceed
    ``spec.training.iterations``.

    Raises
    ------
    SpecError
        Naming the first differing field (and both values), or ``training.iterations``.
    """
    stored = checkpoint.get("meta", {}).get("spec")
    if not isinstance(stored, dict):
        raise SpecError("resume", f"the checkpoint {path} does not record its problem; start over with --overwrite")
    old, new = _flatten(stored), _flatten(spec_to_dict(spec))
    show = lambda v: "(absent)" if v is None else repr(v)  # noqa: E731
    # a kind first, then settings before those usually derived from them (sampling.std before the
    # evaluation.std and model.fourier_scales that follow it: a trial was told only "evaluation.std")
    order = lambda k: (not k.endswith(".kind"), k in DERIVED or k.startswith("evaluation."), k)  # noqa: E731
    differ = [k for k in sorted(old.keys() | new.keys(), key=order)
              if k not in RESUMABLE_FIELDS and old.get(k) != new.get(k)]
    if differ:
        key, rest = differ[0], differ[1:]
        also = f"; also {', '.join(rest[:3])}{' …' if len(rest) > 3 else ''} (derived from it or changed too)" \
            if rest else ""
        raise SpecError(key, f"differs from {what} ({path}: {show(old.get(key))}, now "
                             f"{show(new.get(key))}){also}; resume with the same setting or start over with --overwrite")
    done = int(checkpoint["iteration"])
    if spec.training.iterations < done:
        raise SpecError("training.iterations", f"{spec.training.iterations} is below the iteration {done} of the "
                                               f"checkpoint {path}; give at least {done}")


@contextlib.contextmanager
def _output_lock(output: Path):
    """Hold ``<output>.lock`` (``filelock``) for the whole run; refuse at once if another
    run holds it."""
    import filelock

    path = lock_path(output)
    lock = filelock.FileLock(str(path), timeout=0, is_singleton=False)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise SpecError("output", f"{output} is being written by another nsvd run (it holds {path}); wait for it "
                                  "to finish or choose another -o") from None
    except OSError as err:
        raise SpecError("output", f"cannot create the lock file {path}: {err.strerror}") from None
    try:
        yield
    finally:
        lock.release()
        path.unlink(missing_ok=True)


def _check_free_space(output: Path, model, spec: ProblemSpec) -> None:
    """Refuse, before training, a folder without room for the checkpoint and the results
    (estimate: model, EMA and optimiser states in float64, the logged history, 1 MiB slack)."""
    params = sum(p.numel() for p in model.parameters())
    history = 8 * (spec.modes + 3) * (spec.training.iterations // 10 + 1)
    need = 8 * 6 * params + 2 * history + 2 ** 20
    try:
        free = shutil.disk_usage(output.parent).free
    except OSError:
        return
    if free < need:
        raise SpecError("output", f"only {free / 2**20:.1f} MiB free in {output.parent}; the checkpoint and results "
                                  f"need about {need / 2**20:.1f} MiB")


def check_output(output: Path, overwrite: bool, derived: bool = True) -> None:
    """Refuse, before the work (training, grid solves), an output that is a folder, exists
    (unless ``overwrite``), is not a regular file (a device, a FIFO, a socket; a symbolic link
    is judged by its target, which is what gets written), or lies in a folder that cannot be
    created or written; with ``derived`` also a checkpoint or lock path of ``output`` that is
    not a regular file (:func:`nsvd_cli.files.atomic.check_derived_path`)."""
    from .files.atomic import check_derived_path, writable_target

    output = Path(output)
    if output.is_dir():
        raise SpecError("output", f"{output} is a folder; give a file name, e.g. -o {output / 'run.h5'}")
    if output.exists() and not overwrite:
        raise ResultsExistError(output)
    for path in (checkpoint_path(output), lock_path(output)) if derived else ():
        check_derived_path(path)
    output = writable_target(output)  # the folder checked below is the one written to
    try:  # the folder must exist (or be creatable) and be writable
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SpecError("output", f"cannot create folder {output.parent}: {err.strerror}") from None
    try:
        with tempfile.TemporaryFile(dir=output.parent):
            pass
    except OSError as err:
        raise SpecError("output", f"cannot write in {output.parent}: {err.strerror}") from None
