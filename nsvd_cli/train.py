"""The training loop: sample, apply T, NestedLoRA step; schedule, EMA, checkpoints.

Never prints and never writes files other than checkpoints: progress goes to a callback
as one small typed event per occasion (:class:`Started`, :class:`Progress`,
:class:`Evaluated`, :class:`CheckpointSaved`, :class:`Finished`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .errors import DivergenceError
from .files.atomic import atomic_write
from .objective import nested_lora_loss, nesting_masks
from .spec import TrainingSpec

__all__ = ["fit", "TrainState", "make_optimizer", "make_scheduler", "load_checkpoint", "Event", "Started", "Progress",
           "Evaluated", "CheckpointSaved", "Finished"]


@dataclass(frozen=True)
class Started:
    """A run starts (sent by :func:`nsvd_cli.solve.solve` before training).

    ``resumed_from`` is the iteration of the checkpoint resumed from, or None; ``derived``
    the settings derived from the problem (:func:`nsvd_cli.defaults.derive_defaults`).
    """

    spec: object
    device: str
    output: str
    resumed_from: int | None
    reference: object
    derived: dict = field(default_factory=dict)


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
        quotients of T, one list of L per logged step) and ``evaluations`` (whatever the
        ``evaluate`` callback returned, with its iteration).
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
                                                   "eigenvalues": [], "evaluations": []})
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


def _save_checkpoint(path: Path, state: TrainState, optimizer, scheduler, generator) -> None:
    atomic_write(path, lambda tmp: torch.save({
        "model": state.model.state_dict(),
        "ema": state.ema.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "generator": generator.get_state(),
        "iteration": state.iteration,
        "history": state.history,
        "wall_time": state.wall_time,
    }, tmp), overwrite=True)


def load_checkpoint(path) -> dict:
    """Read a checkpoint written by :func:`fit` (a dict of states)."""
    return torch.load(path, map_location="cpu", weights_only=False)


def fit(model: torch.nn.Module, operator, sampling, training: TrainingSpec, *,
        generator: torch.Generator, device: torch.device | str = "cpu",
        callback: Callable[[Event], None] | None = None,
        evaluate: Callable[[torch.nn.Module], dict] | None = None,
        checkpoint: str | Path | None = None, resume: dict | None = None,
        log_every: int = 10) -> TrainState:
    """Train ``model`` to the top eigenpairs of ``operator`` with NestedLoRA.

    Each iteration draws ``batch_size`` points from ``sampling`` (importance weight
    ``w_tr = p_tr``), computes ``(f, Tf)`` with ``operator.apply`` (and, with
    ``training.gram_batch``, an independent Gram estimate with ``operator.gram``), and takes
    one optimiser step on :func:`~nsvd_cli.objective.nested_lora_loss` (two half-batches;
    custom gradient; nesting masks built once). The EMA of the parameters
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
        CPU generator for the samples (seeded by the caller).
    callback : callable, optional
        Receives :class:`Progress` every ``log_every`` iterations, :class:`Evaluated` after
        each evaluation and :class:`CheckpointSaved` after each checkpoint.
    evaluate : callable, optional
        ``evaluate(ema_model, iteration) -> dict`` called every ``training.eval_every``
        iterations; it must not move or change the model. A ``"stop"`` entry (a reason, e.g.
        ``"converged"``) ends training after that iteration (``TrainState.stopped_by``); a
        ``"restart"`` entry (mode indices) re-initialises those modes (:meth:`restart_modes`).
    checkpoint : path, optional
        Where to keep a resumable checkpoint (written every ``checkpoint_every`` iterations
        and on Ctrl-C; atomically replaced). It is left in place: the caller removes it once
        the results are safely written.
    resume : dict, optional
        A checkpoint from :func:`load_checkpoint` to continue from.

    Returns
    -------
    TrainState

    Raises
    ------
    DivergenceError
        If the loss becomes non-finite; carries the last good checkpoint path.
    KeyboardInterrupt
        Re-raised after the checkpoint has been written.
    """
    loop = _Loop(model, operator, sampling, training, generator, device, callback, evaluate, checkpoint, log_every)
    if resume is not None:
        loop.restore(resume)
    try:
        while loop.state.iteration < training.iterations and loop.state.stopped_by == "iterations":
            loop.step()
    except KeyboardInterrupt:
        loop.save()
        raise
    return loop.state


class _Loop:
    """State and one iteration of :func:`fit` (private)."""

    def __init__(self, model, operator, sampling, training, generator, device, callback, evaluate, checkpoint,
                 log_every):
        self.model, self.operator, self.sampling, self.tr = model, operator, sampling, training
        self.generator, self.device, self.callback, self.evaluate = generator, device, callback, evaluate
        self.log_every = log_every
        self.dtype = next(model.parameters()).dtype
        self.ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(training.ema_decay), use_buffers=True)
        self.optimizer = make_optimizer(model.parameters(), training)
        self.scheduler = make_scheduler(self.optimizer, training)
        self.state = TrainState(model=model, ema=self.ema)
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.good_checkpoint = None
        self.masks = None  # nesting masks: built once, at the first step (L from the model's output)
        self.rq_num = self.rq_den = None
        self.t_start = self.t_last = time.perf_counter()
        self.it_last, self.wall0 = 0, 0.0

    def restore(self, resume: dict) -> None:
        self.model.load_state_dict(resume["model"])
        self.ema.load_state_dict(resume["ema"])
        self.optimizer.load_state_dict(resume["optimizer"])
        self.scheduler.load_state_dict(resume["scheduler"])
        self.generator.set_state(resume["generator"])
        s = self.state
        s.iteration, s.history, s.wall_time = resume["iteration"], resume["history"], resume["wall_time"]
        self.it_last, self.wall0 = s.iteration, s.wall_time

    def save(self) -> None:
        if self.checkpoint is None:
            return
        _save_checkpoint(self.checkpoint, self.state, self.optimizer, self.scheduler, self.generator)
        self.good_checkpoint = str(self.checkpoint)
        self._emit(CheckpointSaved(self.state.iteration, self.good_checkpoint))

    def _emit(self, event) -> None:
        if self.callback:
            self.callback(event)

    def _batch(self, n: int):
        x = self.sampling.sample(n, self.generator, dtype=self.dtype).to(self.device)
        return x, self.sampling.log_density(x)

    def step(self) -> None:
        """One optimiser step, then logging, evaluation and checkpoint when due."""
        state, tr = self.state, self.tr
        f, tf = self.operator.apply(self.model, *self._batch(tr.batch_size))
        gram = self.operator.gram(self.model, *self._batch(tr.gram_batch)) if tr.gram_batch else None
        if self.masks is None:
            self.masks = nesting_masks(f.shape[1], tr.nesting, tr.joint_weights or None, dtype=f.dtype,
                                       device=f.device)
        loss = nested_lora_loss(f, tf, gram=gram, masks=self.masks)
        if not torch.isfinite(loss):
            raise DivergenceError(state.iteration + 1, self.good_checkpoint)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        self.ema.update_parameters(self.model)
        state.iteration += 1
        state.wall_time = self.wall0 + time.perf_counter() - self.t_start
        self._track_rayleigh(f, tf)
        last = state.iteration == tr.iterations
        if state.iteration % self.log_every == 0 or last:
            self._log(float(loss.detach()))
        if self.evaluate is not None and (state.iteration % tr.eval_every == 0 or last):
            result = dict(self.evaluate(self.ema.module, state.iteration), iteration=state.iteration)
            state.stopped_by = result.pop("stop", None) or state.stopped_by
            self.restart_modes(result.pop("restart", ()))
            state.history["evaluations"].append(result)
            self._emit(Evaluated(state.iteration, result))
        if self.checkpoint is not None and state.iteration % tr.checkpoint_every == 0:
            self.save()

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
