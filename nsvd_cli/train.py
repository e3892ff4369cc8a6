"""The training loop: sample, apply T, NestedLoRA step; schedule, EMA, checkpoints.

Never prints and never writes files other than checkpoints: progress goes to a callback
as one small typed event per occasion (:class:`Started`, :class:`Progress`,
:class:`Evaluated`, :class:`CheckpointSaved`, :class:`Finished`).

Host synchronisation (docs/scaling.md, "What runs where"): an ordinary iteration only
queues device work (sampling on the device, operator, objective, optimiser, EMA, and a
device-side record of the first non-finite loss). The host reads the device only on
*check* iterations, those that log, evaluate, checkpoint or snapshot, and the last: the
non-finite record (and, with several processes, the stop requests) is read there.
"""

from __future__ import annotations

import contextlib
import copy
import signal
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from . import distributed as dist_
from .checkpoint import (  # checkpoint file I/O; its names stay importable from here
    _CHECKPOINT_KEYS, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, _save_checkpoint, load_checkpoint,  # noqa: F401
)
from .distributed import SINGLE, DistContext, StopRequested, StopSignals
from .ema import DeviceEMA
from .errors import DivergenceError, SpecError
from .potentials import nonfinite_at
from .problem import nonfinite_inputs
from .methods import make_objective
from .objective import nested_lora_loss
from .spec import TrainingSpec

__all__ = ["fit", "TrainState", "make_optimizer", "make_scheduler", "load_checkpoint", "Event", "Started", "Progress",
           "Evaluated", "CheckpointSaved", "Finished", "CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "MAX_ROLLBACKS"]

#: Non-finite losses survived (roll back, halve the learning rate) before :class:`DivergenceError`.
MAX_ROLLBACKS = 3
#: In-memory snapshot (the state a rollback returns to) at most this many iterations apart.
SNAPSHOT_EVERY = 50


@dataclass(frozen=True)
class Started:
    """A run starts (sent by :func:`nsvd_cli.solve.solve` before training).

    ``resumed_from`` is the iteration of the checkpoint resumed from, or None; ``derived``
    the settings derived from the problem (:func:`nsvd_cli.defaults.derive_defaults`);
    ``earlier_wall_time`` the seconds of training before the resume (0 for a new run).
    """

    spec: object
    device: str
    output: str
    resumed_from: int | None
    reference: object
    derived: dict = field(default_factory=dict)
    earlier_wall_time: float = 0.0


@dataclass(frozen=True)
class Progress:
    """Every ``log_every`` iterations: the loss, learning rate and running batch Rayleigh
    quotients of T (``eigenvalues``, L floats)."""

    iteration: int
    total: int
    loss: float
    learning_rate: float
    eigenvalues: list
    iterations_per_second: float


@dataclass(frozen=True)
class Evaluated:
    """A periodic evaluation of the EMA model: ``summary`` is what ``evaluate`` returned."""

    iteration: int
    summary: dict


@dataclass(frozen=True)
class CheckpointSaved:
    """A resumable checkpoint was written at ``path``."""

    iteration: int
    path: str


@dataclass(frozen=True)
class Finished:
    """Training and the final evaluation are done (sent by :func:`nsvd_cli.solve.solve`);
    ``stopped_by`` as in :class:`TrainState`."""

    iteration: int
    wall_time: float
    stopped_by: str = "iterations"


Event = Started | Progress | Evaluated | CheckpointSaved | Finished


@dataclass
class TrainState:
    """What :func:`fit` returns (and what a checkpoint holds).

    Attributes
    ----------
    model, ema : torch.nn.Module
        The trained model and its exponential moving average (used for evaluation).
    iteration : int
        Number of completed iterations.
    history : dict of lists
        ``iteration``, ``loss``, ``learning_rate``, ``eigenvalues`` (batch Rayleigh
        quotients of T, one list of L per logged step), ``evaluations`` (whatever the
        ``evaluate`` callback returned, with its iteration) and ``rollbacks`` (one dict per
        non-finite loss survived: ``iteration`` where it appeared, ``restored_to``,
        ``learning_rate_factor`` after halving).
    wall_time : float
        Seconds spent in the loop (summed over resumed runs).
    stopped_by : str
        ``"iterations"`` (the budget ran out) or the ``"stop"`` value an evaluation returned
        (e.g. ``"converged"``: every mode passed the verdict).
    """

    model: torch.nn.Module
    ema: torch.nn.Module
    iteration: int = 0
    history: dict = field(default_factory=lambda: {"iteration": [], "loss": [], "learning_rate": [],
                                                   "eigenvalues": [], "evaluations": [], "rollbacks": []})
    wall_time: float = 0.0
    stopped_by: str = "iterations"


def make_optimizer(params, training: TrainingSpec) -> torch.optim.Optimizer:
    """RMSProp (as in the paper, App. E.1.1) or Adam with the spec's learning rate."""
    if training.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=training.learning_rate)
    return torch.optim.Adam(params, lr=training.learning_rate)


def make_scheduler(optimizer, training: TrainingSpec):
    """Linear warm-up then cosine decay to ``final_learning_rate`` (or constant)."""
    from torch.optim import lr_scheduler

    total = training.iterations
    if training.schedule == "constant":
        main = lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
    else:
        main = lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total - training.warmup, 1),
                                              eta_min=training.final_learning_rate)
    if training.warmup <= 0:
        return main
    warm = lr_scheduler.LinearLR(optimizer, start_factor=1e-3, total_iters=training.warmup)
    return lr_scheduler.SequentialLR(optimizer, [warm, main], milestones=[training.warmup])


def fit(model: torch.nn.Module, operator, sampling, training: TrainingSpec, *,
        generator: torch.Generator, device: torch.device | str = "cpu",
        callback: Callable[[Event], None] | None = None,
        evaluate: Callable[[torch.nn.Module], dict] | None = None,
        checkpoint: str | Path | None = None, resume: dict | None = None,
        log_every: int = 10, checkpoint_meta: dict | None = None, dist: DistContext = SINGLE) -> TrainState:
    """Train ``model`` to the top eigenpairs of ``operator`` with NestedLoRA.

    Each iteration draws ``batch_size`` points from ``sampling`` (importance weight
    ``w_tr = p_tr``), computes ``(f, Tf)`` with ``operator.apply`` (and, with
    ``training.gram_batch``, an independent Gram estimate with ``operator.gram``), and takes
    one optimiser step on the objective of ``training.method``
    (:func:`nsvd_cli.methods.make_objective`; NestedLoRA by default: two half-batches, custom
    gradient, nesting masks built once). The EMA of the parameters
    (``training.ema_decay``, ``torch.optim.swa_utils``) is what evaluation uses.

    Parameters
    ----------
    model : torch.nn.Module
        (B, D) -> (B, L) eigenfunction model, already on ``device`` and in the training dtype.
    operator : ShiftedOperator
        Has ``apply(model, x, log_weight) -> (f, Tf)`` and ``gram(model, x, log_weight)``.
    sampling
        Has ``sample(n, generator, dtype)`` and ``log_density(x)``.
    training : TrainingSpec
    generator : torch.Generator
        Seeded by the caller; kept for re-initialising modes. The samples are drawn on
        ``device``: from ``generator`` itself when it lives there (a single CPU process:
        the same stream as always), otherwise from a generator on the device seeded by
        :func:`~nsvd_cli.distributed.sample_generator` from ``training.seed`` and the rank.
    callback : callable, optional
        Receives :class:`Progress` every ``log_every`` iterations, :class:`Evaluated` after
        each evaluation and :class:`CheckpointSaved` after each checkpoint.
    evaluate : callable, optional
        ``evaluate(ema_model, iteration) -> dict`` called every ``training.eval_every``
        iterations; it must not move or change the model. A ``"stop"`` entry (a reason, e.g.
        ``"converged"``) ends training after that iteration (``TrainState.stopped_by``); a
        ``"restart"`` entry (mode indices) re-initialises those modes (:meth:`restart_modes`).
    checkpoint : path, optional
        Where to keep a resumable checkpoint (written every ``checkpoint_every`` iterations,
        at the end and on Ctrl-C; atomically replaced). It is left in place: the caller
        removes it once the results are safely written. A checkpoint that cannot be written
        (disk full, read-only folder) is a warning: the previous one stays intact.
    resume : dict, optional
        A checkpoint from :func:`load_checkpoint` to continue from.
    checkpoint_meta : dict, optional
        Stored as ``meta`` in every checkpoint (e.g. the resolved spec, so that a resume can
        prove it belongs to the same problem).
    dist : DistContext, default single process
        Data-parallel training (:mod:`nsvd_cli.distributed`, docs/scaling.md): global batches,
        exact global-batch gradient, rank 0 alone evaluates, emits and writes; a signal on any
        rank stops all after the same iteration (:class:`~nsvd_cli.distributed.StopRequested`).

    A non-finite loss rolls back to the last good in-memory state (at most
    ``SNAPSHOT_EVERY`` iterations old), halves the learning rate and continues; each
    rollback is recorded in ``history["rollbacks"]`` (with the first non-finite iteration)
    and warned about (``UserWarning``). The host reads the device only on check iterations
    (module docstring), so a non-finite loss is acted on at the next one. When V itself is
    not finite on the batch of that loss, no rollback: DivergenceError at once, naming a point.

    Returns
    -------
    TrainState

    Raises
    ------
    DivergenceError
        If the loss is non-finite again after ``MAX_ROLLBACKS`` rollbacks, or at the first
        non-finite loss when V itself is not finite on that iteration's batch (no rollback: a
        smaller learning rate cannot fix V; the message names a point); carries the last good
        checkpoint path.
    KeyboardInterrupt
        :class:`~nsvd_cli.distributed.StopRequested` after SIGINT / SIGTERM, at the end of the
        step it arrived in, once the checkpoint has been written (a second signal in one
        process: a plain KeyboardInterrupt at once, checkpoint written too).
    SpecError
        ``training.batch_size`` / ``gram_batch`` not divisible by the number of processes, or
        ``training.method = "spin"`` with more than one.
    """
    loop = _Loop(model, operator, sampling, training, generator, device, callback, evaluate, checkpoint, log_every,
                 dist)
    loop.meta = checkpoint_meta
    if resume is not None:
        loop.restore(resume)
    loop.snapshot()
    _run(loop, training.iterations, dist)
    return loop.state


def _run(loop, iterations: int, dist: DistContext) -> None:
    """The iterations of :func:`fit`: checkpoint on interruption and at the end. Signals only
    set the stop flag (:class:`~nsvd_cli.distributed.StopSignals`), read between two steps, so
    that the checkpoint holds the state after a whole step (model, optimiser, EMA and sample
    generator together: the resumed run repeats the uninterrupted one exactly; a Ctrl-C in the
    middle of a step, which had already drawn its samples, made it diverge). With several
    processes the flag is shared at the next check iteration; in one process a second signal
    stops at once (``KeyboardInterrupt``, checkpoint of the state at that moment)."""
    held = StopSignals.current() if dist.active else None  # e.g. the CLI's, active since set-up
    with contextlib.nullcontext(held) if held else StopSignals(force_second=not dist.active) as signals:
        loop.signals = signals
        try:
            while (loop.state.iteration < iterations and loop.state.stopped_by == "iterations"
                   and loop.stop_signum is None):
                loop.step()
                if not dist.active and signals is not None and signals.signum is not None:
                    loop.stop_signum = signals.signum
        except KeyboardInterrupt:
            loop.discard_unchecked()
            loop.save(collective=False)
            raise
        if loop.saved_at != loop.state.iteration:
            loop.save()  # the final state: a results file that cannot be written can be resumed at once
    if loop.stop_signum is not None:
        raise StopRequested(loop.stop_signum)


class _Loop:
    """State and one iteration of :func:`fit` (private)."""

    def __init__(self, model, operator, sampling, training, generator, device, callback, evaluate, checkpoint,
                 log_every, dist=SINGLE):
        self.model, self.operator, self.sampling, self.tr = model, operator, sampling, training
        self.generator, self.device, self.callback, self.evaluate = generator, device, callback, evaluate
        self.log_every = log_every
        self.dtype = next(model.parameters()).dtype
        self.ema = DeviceEMA(model, training.ema_decay)
        self.optimizer = make_optimizer(model.parameters(), training)
        self.scheduler = make_scheduler(self.optimizer, training)
        self.state = TrainState(model=model, ema=self.ema)
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.good_checkpoint = None
        self.meta, self.saved_at, self.good, self.lr_factor = None, None, None, 1.0
        # training.method: the one place it is dispatched on (NestedLoRA through this module's
        # nested_lora_loss, looked up at each step: the tests' fault-injection seam)
        self.objective = make_objective(training, model, nested=lambda f, tf, **kw: nested_lora_loss(f, tf, **kw))
        self.rq_num = self.rq_den = None
        # device-side record of the first non-finite loss since the last check (0: none) and its value
        self.first_bad = torch.zeros((), dtype=torch.long, device=device)
        self.bad_loss = torch.zeros((), dtype=self.dtype, device=device)
        self.bad_x = None  # the (local) batch of that first non-finite loss: V is checked there
        self.t_start = self.t_last = time.perf_counter()
        self.it_last, self.wall0 = 0, 0.0
        self._init_dist(dist)

    def _init_dist(self, dist: DistContext) -> None:
        """Per-rank shares of the global batches and the sample stream: the shared generator
        in a single process on its device (as before), otherwise a generator on the training
        device derived from the seed and the rank (:attr:`own_stream`)."""
        self.dist, self.signals, self.stop_signum = dist, None, None
        self.local_batch = dist.local_share(self.tr.batch_size, "training.batch_size")
        self.local_gram = dist.local_share(self.tr.gram_batch, "training.gram_batch") if self.tr.gram_batch else 0
        if dist.active and getattr(self.tr, "method", "nestedlora") == "spin":
            raise SpecError("training.method", "spin cannot train with more than one process (its moving "
                                               "average of the Jacobian term is per process); use nestedlora, "
                                               "lora or neuralef, or one process")
        self.sample_device = torch.device(self.device)
        self.own_stream = dist.active or self.generator.device.type != self.sample_device.type
        self.sample_gen = self._derived_stream(0) if self.own_stream else self.generator

    def _derived_stream(self, iteration: int) -> torch.Generator:
        return dist_.sample_generator(self.tr.seed, self.dist.rank, iteration, device=self.sample_device)

    def restore(self, resume: dict) -> None:
        self.model.load_state_dict(resume["model"])
        self.ema.load_state_dict(resume["ema"])
        self.optimizer.load_state_dict(resume["optimizer"])
        self.scheduler.load_state_dict(resume["scheduler"])
        self.generator.set_state(resume["generator"])
        s = self.state
        if self.own_stream:  # same N and device kind: continue every rank's stream; otherwise re-derive them
            states = resume.get("sample_generators")
            if (states and resume.get("world_size", 1) == self.dist.world_size
                    and resume.get("sample_device", "cpu") == self.sample_device.type):
                self.sample_gen.set_state(states[self.dist.rank])
            else:
                self.sample_gen = self._derived_stream(resume["iteration"])
        s.iteration, s.history, s.wall_time = resume["iteration"], resume["history"], resume["wall_time"]
        self.it_last, self.wall0 = s.iteration, s.wall_time
        self.saved_at, self.good_checkpoint = s.iteration, str(self.checkpoint) if self.checkpoint else None
        rollbacks = s.history.setdefault("rollbacks", [])
        self.lr_factor = rollbacks[-1]["learning_rate_factor"] if rollbacks else 1.0

    def save(self, collective: bool = True) -> None:
        """Write the checkpoint (rank 0; with every rank's sample stream when ``collective``)."""
        if self.checkpoint is None:
            return
        extra = {}
        if self.own_stream:
            states = (dist_.all_gather_object(self.sample_gen.get_state(), self.dist)
                      if collective or not self.dist.active else None)
            extra = {"world_size": self.dist.world_size, "sample_generators": states,
                     "sample_device": self.sample_device.type}
        if not self.dist.is_main:
            self.saved_at = self.state.iteration
            return
        try:
            _save_checkpoint(self.checkpoint, self.state, self.optimizer, self.scheduler, self.generator, self.meta,
                             extra)
        except OSError as err:  # disk full, folder made read-only: keep training, keep the old checkpoint
            kept = f"; the checkpoint of iteration {self.saved_at} is kept" if self.saved_at is not None else ""
            warnings.warn(f"cannot write the checkpoint {self.checkpoint}: {err.strerror or err}{kept}", stacklevel=2)
            return
        self.good_checkpoint, self.saved_at = str(self.checkpoint), self.state.iteration
        self._emit(CheckpointSaved(self.state.iteration, self.good_checkpoint))

    def snapshot(self) -> None:
        """Keep the current (good) state in memory: what a non-finite loss rolls back to."""
        s = self.state
        self.good = copy.deepcopy({
            "model": self.model.state_dict(), "ema": self.ema.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "iteration": s.iteration, "lr_factor": self.lr_factor,
            "rayleigh": (self.rq_num, self.rq_den), "lengths": {k: len(v) for k, v in s.history.items()}})

    def _restore_snapshot(self) -> None:
        """Model, EMA, optimiser, schedule, running Rayleigh quotients, history and iteration
        back to the last snapshot (the learning-rate factor is the caller's business)."""
        s, good = self.state, self.good
        self.model.load_state_dict(good["model"])
        self.ema.load_state_dict(good["ema"])
        self.optimizer.load_state_dict(good["optimizer"])
        self.scheduler.load_state_dict(good["scheduler"])
        self.rq_num, self.rq_den = good["rayleigh"]
        for key, n in good["lengths"].items():
            if key != "rollbacks":
                del s.history[key][n:]
        s.iteration = good["iteration"]
        self.first_bad.zero_()

    def discard_unchecked(self) -> None:
        """Before an interrupted run's checkpoint: if a non-finite loss happened since the last
        check, return to the last snapshot (a checkpoint never holds non-finite weights)."""
        if int(self.first_bad):
            self.lr_factor = self.good["lr_factor"]
            self._restore_snapshot()

    def rollback(self, iteration: int, loss: float) -> None:
        """Return to the last snapshot and halve the learning rate after a non-finite loss
        first seen at ``iteration``; DivergenceError after :data:`MAX_ROLLBACKS` rollbacks, or
        at once when V is not finite on that iteration's batch (:meth:`_potential_not_finite`)."""
        s, good = self.state, self.good
        done = s.history.setdefault("rollbacks", [])
        cause = self._potential_not_finite(iteration)
        if cause is not None:  # a learning rate cannot fix V: say so at once
            self._restore_snapshot()
            raise DivergenceError(iteration, self.good_checkpoint, cause)
        if len(done) >= MAX_ROLLBACKS:
            self._restore_snapshot()  # the last good weights, to tell which input of the loss is not finite
            cause = nonfinite_inputs(self.operator, self.sampling, self.model)
            raise DivergenceError(iteration, self.good_checkpoint, cause)
        self._restore_snapshot()
        factor = self.lr_factor = 0.5 * self.lr_factor
        _scale_learning_rate(self.optimizer, self.scheduler, factor / good["lr_factor"])
        record = {"iteration": iteration, "restored_to": good["iteration"], "learning_rate_factor": factor,
                  "loss": float(loss)}
        done.append(record)
        warnings.warn(f"non-finite loss at iteration {record['iteration']}: rolled back to iteration "
                      f"{record['restored_to']} with the learning rate times {factor:g} "
                      f"(rollback {len(done)} of at most {MAX_ROLLBACKS})", stacklevel=2)

    def _potential_not_finite(self, iteration: int) -> str | None:
        """Where V is not finite on the batch of the first non-finite loss (:attr:`bad_x`), as
        a clause for :class:`DivergenceError` (:func:`nsvd_cli.potentials.nonfinite_at`), or
        None (V finite there: the step diverged). With several processes all ranks agree."""
        potential = getattr(getattr(self.operator, "hamiltonian", None), "potential", None)
        cause = nonfinite_at(potential, self.bad_x, f"training samples of iteration {iteration}") \
            if potential is not None and self.bad_x is not None else None
        if self.dist.active:
            flag = torch.tensor([float(cause is not None)], dtype=torch.float64, device=self.device)
            if dist_.all_reduce_max(flag, self.dist)[0] and cause is None:
                cause = f"the potential V is not finite at a training sample of another process (iteration {iteration})"
        return cause

    def _emit(self, event) -> None:
        if self.callback and self.dist.is_main:
            self.callback(event)

    def _batch(self, n: int):
        x = self.sampling.sample(n, self.sample_gen, dtype=self.dtype).to(self.device)
        return x, self.sampling.log_density(x)

    def _loss_and_gradient(self):
        """``(f, Tf, loss)`` on the (global) batch with the parameters' gradient in ``.grad``
        (summed over ranks). No host synchronisation: a non-finite loss is only recorded on
        the device (:attr:`first_bad`, :attr:`bad_loss`), for :meth:`_check`."""
        tr, ctx = self.tr, self.dist
        x, log_p = self._batch(self.local_batch)
        f, tf = dist_.gather_batch(*self.operator.apply(self.model, x, log_p), ctx)
        gram = None
        if tr.gram_batch:
            gram = dist_.all_reduce_mean(self.operator.gram(self.model, *self._batch(self.local_gram)), ctx)
        loss = self.objective(f, tf, gram=gram)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        dist_.all_reduce_gradients(self.model.parameters(), ctx)
        with torch.no_grad():
            new = (self.first_bad == 0) & ~torch.isfinite(loss)
            self.first_bad = torch.where(new, self.state.iteration + 1, self.first_bad)
            self.bad_loss = torch.where(new, loss.detach().to(self.bad_loss.dtype), self.bad_loss)
            self.bad_x = x if self.bad_x is None or self.bad_x.shape != x.shape else torch.where(new, x, self.bad_x)
        return f, tf, loss

    def _is_check(self, iteration: int) -> bool:
        """Whether ``iteration`` logs, evaluates, checkpoints or snapshots (or is the last):
        the iterations on which the host reads the device."""
        tr = self.tr
        return (iteration % self.log_every == 0 or iteration == tr.iterations
                or (self.evaluate is not None and iteration % tr.eval_every == 0)
                or (self.checkpoint is not None and iteration % tr.checkpoint_every == 0)
                or iteration % min(SNAPSHOT_EVERY, tr.checkpoint_every) == 0)

    def _check(self) -> bool:
        """Read the device-side flags (one host synchronisation; with several processes one
        small all-reduce of the stop requests and the first non-finite iteration). A stop
        request sets :attr:`stop_signum`; a non-finite loss since the last check rolls back.
        Returns False after a rollback."""
        if self.dist.active:
            signum = self.signals.signum if self.signals is not None else None
            flags = torch.stack([torch.tensor(float(signum == signal.SIGTERM), dtype=torch.float64, device=self.device),
                                 torch.tensor(float(signum == signal.SIGINT), dtype=torch.float64, device=self.device),
                                 self.first_bad.to(torch.float64)])
            term, intr, first = dist_.all_reduce_max(flags, self.dist)
            if term or intr:
                self.stop_signum = signal.SIGTERM if term else signal.SIGINT
            first = int(first)
        else:
            first = int(self.first_bad)
        if first:
            self.rollback(first, float(self.bad_loss))
            return False
        return True

    def _evaluate(self, iteration: int) -> dict:
        """The ``evaluate`` callback on rank 0, its result on every rank."""
        if self.dist.is_main:
            try:
                result = dict(self.evaluate(self.ema.module, iteration), iteration=iteration)
            except BaseException:
                dist_.broadcast_object(None, self.dist)  # release the other ranks
                raise
        else:
            result = None
        result = dist_.broadcast_object(result, self.dist)
        if result is None:
            raise RuntimeError("the evaluation on rank 0 failed (its error is reported there)")
        return result

    def step(self) -> None:
        """One optimiser step, then logging, evaluation and checkpoint when due."""
        state, tr = self.state, self.tr
        f, tf, loss = self._loss_and_gradient()
        self.optimizer.step()
        self.scheduler.step()
        self.ema.update_parameters(self.model)
        state.iteration += 1
        state.wall_time = self.wall0 + time.perf_counter() - self.t_start
        self._track_rayleigh(f, tf)
        if not self._is_check(state.iteration) or not self._check():
            return
        last = state.iteration == tr.iterations
        if state.iteration % self.log_every == 0 or last:
            self._log(float(loss.detach()))
        if self.evaluate is not None and (state.iteration % tr.eval_every == 0 or last):
            result = self._evaluate(state.iteration)
            state.stopped_by = result.pop("stop", None) or state.stopped_by
            restart = sorted(int(m) for m in result.pop("restart", ()))
            self.restart_modes(restart)  # recorded in history["restarts"]
            state.history["evaluations"].append(result)
            # the event also names the modes re-initialised after this evaluation (0-based)
            self._emit(Evaluated(state.iteration, {**result, "restarted": restart} if restart else result))
        if self.checkpoint is not None and state.iteration % tr.checkpoint_every == 0:
            self.save()
        if state.iteration % min(SNAPSHOT_EVERY, tr.checkpoint_every) == 0:
            self.snapshot()

    @torch.no_grad()
    def restart_modes(self, modes) -> None:
        """Re-initialise stuck modes: fresh weights in the model and its EMA, optimiser state of
        their parameter slices cleared. With sequential nesting the earlier modes do not see
        the later ones (App. C.5), so the modes that passed are not disturbed."""
        modes = sorted(int(m) for m in modes)
        if not modes:
            return
        self.model.reinitialise_modes(modes, self.generator)
        for p, q in zip(self.model.parameters(), self.ema.module.parameters()):
            if p.shape[:1] == (self.model.n_modes,):  # a per-mode parameter (stacked on axis 0)
                q[modes] = p[modes]
                for value in self.optimizer.state.get(p, {}).values():
                    if torch.is_tensor(value) and value.shape == p.shape:
                        value[modes] = 0.0
        self.state.history.setdefault("restarts", []).append([self.state.iteration, *modes])

    @torch.no_grad()
    def _track_rayleigh(self, f, tf) -> None:
        """Running (EMA 0.9) batch Rayleigh quotients ``<f|Tf> / <f|f>``."""
        num, den = (f * tf).mean(0).detach(), (f * f).mean(0).detach()
        if self.rq_num is None:
            self.rq_num, self.rq_den = num, den
        else:
            self.rq_num, self.rq_den = 0.9 * self.rq_num + 0.1 * num, 0.9 * self.rq_den + 0.1 * den

    def _log(self, loss: float) -> None:
        state, now = self.state, time.perf_counter()
        ips = (state.iteration - self.it_last) / max(now - self.t_last, 1e-9)
        self.t_last, self.it_last = now, state.iteration
        eig = (self.rq_num / self.rq_den.clamp_min(1e-30)).cpu().tolist()
        lr = self.optimizer.param_groups[0]["lr"]
        h = state.history
        h["iteration"].append(state.iteration)
        h["loss"].append(loss)
        h["learning_rate"].append(lr)
        h["eigenvalues"].append(eig)
        self._emit(Progress(state.iteration, self.tr.iterations, loss, lr, eig, ips))


def _scale_learning_rate(optimizer, scheduler, factor: float) -> None:
    """Multiply the learning rate of the restored optimiser and schedule by ``factor``
    (param groups' ``lr`` and ``initial_lr``, every scheduler's base rates and floor)."""
    for group in optimizer.param_groups:
        group["lr"] *= factor
        if "initial_lr" in group:
            group["initial_lr"] *= factor
    for sched in (scheduler, *getattr(scheduler, "_schedulers", ())):
        if hasattr(sched, "base_lrs"):
            sched.base_lrs = [b * factor for b in sched.base_lrs]
        if hasattr(sched, "eta_min"):
            sched.eta_min *= factor
        if hasattr(sched, "_last_lr"):
            sched._last_lr = [v * factor for v in sched._last_lr]
