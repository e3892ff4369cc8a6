"""The training loop: sample, apply T, NestedLoRA step; schedule, EMA, checkpoints.

Never prints and never writes files other than checkpoints: progress goes to a callback
as one dict per event.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .errors import DivergenceError
from .objective import nested_lora_loss
from .spec import TrainingSpec

__all__ = ["fit", "TrainState", "make_optimizer", "make_scheduler", "load_checkpoint"]


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
    """

    model: torch.nn.Module
    ema: torch.nn.Module
    iteration: int = 0
    history: dict = field(default_factory=lambda: {"iteration": [], "loss": [], "learning_rate": [],
                                                   "eigenvalues": [], "evaluations": []})
    wall_time: float = 0.0


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
    tmp = path.with_name(path.name + ".tmp")
    torch.save({
        "model": state.model.state_dict(),
        "ema": state.ema.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "generator": generator.get_state(),
        "iteration": state.iteration,
        "history": state.history,
        "wall_time": state.wall_time,
    }, tmp)
    os.replace(tmp, path)


def load_checkpoint(path) -> dict:
    """Read a checkpoint written by :func:`fit` (a dict of states)."""
    return torch.load(path, map_location="cpu", weights_only=False)


def fit(model: torch.nn.Module, operator, sampling, training: TrainingSpec, *,
        generator: torch.Generator, device: torch.device | str = "cpu",
        callback: Callable[[dict], None] | None = None,
        evaluate: Callable[[torch.nn.Module], dict] | None = None,
        checkpoint: str | Path | None = None, resume: dict | None = None,
        log_every: int = 10) -> TrainState:
    """Train ``model`` to the top eigenpairs of ``operator`` with NestedLoRA.

    Each iteration draws ``batch_size`` points from ``sampling`` (importance weight
    ``w_tr = p_tr``), computes ``(f, Tf)`` with ``operator.apply``, and takes one optimiser
    step on :func:`~nsvd_cli.objective.nested_lora_loss` (two half-batches; custom gradient).
    The EMA of the parameters (``training.ema_decay``, ``torch.optim.swa_utils``) is what
    evaluation uses.

    Parameters
    ----------
    model : torch.nn.Module
        (B, D) -> (B, L) eigenfunction model, already on ``device`` and in the training dtype.
    operator : ShiftedOperator
        Has ``apply(model, x, log_weight) -> (f, Tf)``.
    sampling
        Has ``sample(n, generator, dtype)`` and ``log_density(x)``.
    training : TrainingSpec
    generator : torch.Generator
        CPU generator for the samples (seeded by the caller).
    callback : callable, optional
        Receives event dicts: ``{"event": "step", "iteration", "loss", "learning_rate",
        "eigenvalues", "iterations_per_second"}`` every ``log_every`` iterations and
        ``{"event": "evaluation", "iteration", ...}`` after each evaluation.
    evaluate : callable, optional
        ``evaluate(ema_model) -> dict`` called every ``training.eval_every`` iterations.
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
    dtype = next(model.parameters()).dtype
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(training.ema_decay), use_buffers=True)
    optimizer = make_optimizer(model.parameters(), training)
    scheduler = make_scheduler(optimizer, training)
    state = TrainState(model=model, ema=ema)
    checkpoint = Path(checkpoint) if checkpoint else None
    good_checkpoint = None
    if resume is not None:
        model.load_state_dict(resume["model"])
        ema.load_state_dict(resume["ema"])
        optimizer.load_state_dict(resume["optimizer"])
        scheduler.load_state_dict(resume["scheduler"])
        generator.set_state(resume["generator"])
        state.iteration, state.history, state.wall_time = resume["iteration"], resume["history"], resume["wall_time"]

    def save():
        nonlocal good_checkpoint
        if checkpoint is not None:
            _save_checkpoint(checkpoint, state, optimizer, scheduler, generator)
            good_checkpoint = str(checkpoint)

    nesting, weights = training.nesting, training.joint_weights or None
    rq_num = rq_den = None
    t_last, it_last = time.perf_counter(), state.iteration
    t_start = time.perf_counter()
    wall0 = state.wall_time
    try:
        while state.iteration < training.iterations:
            x = sampling.sample(training.batch_size, generator, dtype=dtype).to(device)
            log_w = sampling.log_density(x)
            f, tf = operator.apply(model, x, log_w)
            gram = None
            if training.gram_batch:
                with torch.no_grad():
                    xg = sampling.sample(training.gram_batch, generator, dtype=dtype).to(device)
                    fg = model(xg) * torch.exp(-0.5 * sampling.log_density(xg))[:, None]
                    gram = fg.T @ fg / fg.shape[0]
            loss = nested_lora_loss(f, tf, nesting=nesting, weights=weights, gram=gram)
            if not torch.isfinite(loss):
                raise DivergenceError(state.iteration + 1, good_checkpoint)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            ema.update_parameters(model)
            state.iteration += 1
            state.wall_time = wall0 + time.perf_counter() - t_start

            with torch.no_grad():  # running batch Rayleigh quotients <f|Tf>/<f|f>
                num, den = (f * tf).mean(0).detach(), (f * f).mean(0).detach()
                if rq_num is None:
                    rq_num, rq_den = num, den
                else:
                    rq_num, rq_den = 0.9 * rq_num + 0.1 * num, 0.9 * rq_den + 0.1 * den
            if state.iteration % log_every == 0 or state.iteration == training.iterations:
                now = time.perf_counter()
                ips = (state.iteration - it_last) / max(now - t_last, 1e-9)
                t_last, it_last = now, state.iteration
                eig = (rq_num / rq_den.clamp_min(1e-30)).cpu().tolist()
                lr = optimizer.param_groups[0]["lr"]
                h = state.history
                h["iteration"].append(state.iteration)
                h["loss"].append(float(loss.detach()))
                h["learning_rate"].append(lr)
                h["eigenvalues"].append(eig)
                if callback:
                    callback({"event": "step", "iteration": state.iteration, "total": training.iterations,
                              "loss": float(loss.detach()), "learning_rate": lr, "eigenvalues": eig,
                              "iterations_per_second": ips})
            if evaluate is not None and (state.iteration % training.eval_every == 0
                                         or state.iteration == training.iterations):
                result = dict(evaluate(ema.module), iteration=state.iteration)
                state.history["evaluations"].append(result)
                if callback:
                    callback({"event": "evaluation", **result})
            if checkpoint is not None and state.iteration % training.checkpoint_every == 0:
                save()
    except KeyboardInterrupt:
        save()
        raise
    return state
