"""Data-parallel training with ``torch.distributed`` (launched by ``torchrun``).

One process a rank; every rank holds the full model and draws its own share of the
global batch. The NestedLoRA objective is quadratic in the batch Gram matrix, so the
mean of per-rank objectives is *not* the objective of the global batch and its gradient
is biased. Here the gradient is exact instead (:func:`gather_batch`): every rank
all-gathers the ``(B/N, L)`` outputs ``f`` and ``Tf`` of the other ranks without gradient,
puts its own slice (with its gradient) back in place and evaluates the objective on the
global batch; ``backward`` then gives each rank the exact derivative of the global
objective with respect to *its* points, and the sum of the parameter gradients over ranks
(:func:`all_reduce_gradients`) is the single-process gradient on the union of the points.

Global batch layout (what "the union of the points" means): rank r splits its local batch
of ``b = B/N`` points into halves ``A_r`` (first ``b/2``) and ``B_r``; the global batch is
``[A_0, ..., A_{N-1}, B_0, ..., B_{N-1}]``, so the two half-batches of the objective (App.
D.2 of the paper) are the unions of the local halves.

Backends: gloo on CPU, NCCL on CUDA (one GPU a rank, ``cuda:LOCAL_RANK``). Environment
read: ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR``,
``MASTER_PORT`` (set by torchrun). See docs/scaling.md.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["DistContext", "SINGLE", "from_env", "init", "shutdown", "derive_seed", "sample_generator",
           "gather_batch", "all_reduce_mean", "all_reduce_gradients", "all_reduce_max", "broadcast_object", "all_gather_object",
           "StopSignals", "StopRequested", "launched_by_torchrun", "rank_device"]


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: ``rank`` in ``0..world_size-1``, ``local_rank`` on its
    machine, the backend (None in a single process) and the device it trains on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def active(self) -> bool:
        """More than one process (collectives are needed)."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that evaluates, prints and writes files."""
        return self.rank == 0

    def local_share(self, n: int, field: str = "training.batch_size") -> int:
        """This rank's share ``n / world_size`` of a global count.

        Raises
        ------
        SpecError
            ``n`` is not divisible by ``world_size`` (naming ``field``), or, for the
            training batch, the share is odd (each rank splits it into two halves).
        """
        from .errors import SpecError

        if n % self.world_size:
            raise SpecError(field, f"{n} is the global batch and must be divisible by the number of processes "
                                   f"{self.world_size}; give e.g. {self.world_size * max(2, n // self.world_size)}")
        share = n // self.world_size
        if field == "training.batch_size" and share % 2:
            raise SpecError(field, f"{n} / {self.world_size} processes = {share} points a rank, which must be even "
                                   f"(two half-batches a rank); give a multiple of {2 * self.world_size}")
        return share


#: The context of a plain single-process run.
SINGLE = DistContext()


def launched_by_torchrun() -> bool:
    """True when ``WORLD_SIZE`` (set by torchrun) says there is more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init(rank: int, world_size: int, *, init_method: str = "env://", device: str | torch.device = "cpu",
         timeout_s: float = 1800.0) -> DistContext:
    """Join the process group (gloo for a CPU device, NCCL for CUDA).

    Parameters
    ----------
    rank, world_size : int
    init_method : str
        ``env://`` (torchrun's variables) or e.g. ``file:///tmp/x`` (tests).
    device : str or torch.device
        The training device of this rank; a CUDA device selects NCCL and becomes current.

    Returns
    -------
    DistContext
        :data:`SINGLE` when ``world_size`` is 1 (no process group is created).
    """
    import datetime

    if world_size <= 1:
        return SINGLE
    device = torch.device("cuda" if str(device).startswith("cuda") else "cpu") if isinstance(device, str) else device
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend, init_method=init_method, rank=rank, world_size=world_size,
                                             timeout=datetime.timedelta(seconds=timeout_s))
    local = int(os.environ.get("LOCAL_RANK", rank))
    return DistContext(rank=rank, world_size=world_size, local_rank=local, backend=backend)


def from_env(device: str | torch.device = "cpu") -> DistContext:
    """:func:`init` from torchrun's ``RANK`` / ``WORLD_SIZE`` (a single process without them)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return init(int(os.environ.get("RANK", "0")), world, device=device)


def shutdown() -> None:
    """Leave the process group (if one was joined)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def rank_device(name: str, ctx_local_rank: int, local_world_size: int | None = None) -> str:
    """The device string of a rank: ``cuda`` -> ``cuda:LOCAL_RANK``; ``auto`` -> the same when
    this machine has a GPU for each of its ``local_world_size`` processes (default: torchrun's
    ``LOCAL_WORLD_SIZE``), else ``cpu`` for every rank (gloo; never some ranks on GPUs and
    some on the CPU)."""
    if local_world_size is None:
        local_world_size = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if name == "cuda" and torch.cuda.is_available():
        return f"cuda:{ctx_local_rank}"
    if name == "auto":
        return f"cuda:{ctx_local_rank}" if torch.cuda.device_count() >= local_world_size else "cpu"
    return name


def derive_seed(seed: int, rank: int, iteration: int = 0) -> int:
    """An independent 32-bit seed (what torch's CPU generator keeps) for the sample stream of
    ``rank`` from ``iteration`` on.

    ``numpy.random.SeedSequence([seed, rank, iteration])``: distinct (seed, rank, iteration)
    give statistically independent streams. A resume with another number of processes
    re-derives every rank's stream with the checkpoint's iteration (docs/scaling.md).
    """
    return int(np.random.SeedSequence([int(seed), int(rank), int(iteration)]).generate_state(1, np.uint32)[0])


def sample_generator(seed: int, rank: int, iteration: int = 0, device: str | torch.device = "cpu") -> torch.Generator:
    """A generator on ``device`` (the training device: samples are drawn where they are
    used) seeded with :func:`derive_seed`. CPU (Mersenne Twister) and CUDA (Philox)
    generators give different streams for the same seed; each is reproducible."""
    return torch.Generator(device=device).manual_seed(derive_seed(seed, rank, iteration))


def _halves(x: torch.Tensor):
    h = x.shape[0] // 2
    return x[:h], x[h:]


def gather_batch(f: torch.Tensor, tf: torch.Tensor, ctx: DistContext):
    """The global batch, with this rank's slice differentiable.

    Parameters
    ----------
    f : torch.Tensor, shape (b, L)
        This rank's outputs (with autograd graph), ``b = B / N`` even.
    tf : torch.Tensor, shape (b, L)
        Its operator values (constant).
    ctx : DistContext

    Returns
    -------
    f_global, tf_global : torch.Tensor, shape (B, L)
        Rows ``[A_0, ..., A_{N-1}, B_0, ..., B_{N-1}]`` (module docstring); only this rank's
        rows carry a gradient, the others are detached copies.
    """
    if not ctx.active:
        return f, tf
    both = torch.cat([f.detach(), tf.detach()], dim=1).contiguous()
    parts = [torch.empty_like(both) for _ in range(ctx.world_size)]
    torch.distributed.all_gather(parts, both)
    n = f.shape[1]
    fs = [p[:, :n] for p in parts]
    fs[ctx.rank] = f
    tfs = [p[:, n:] for p in parts]
    first = [_halves(x)[0] for x in fs] + [_halves(x)[1] for x in fs]
    return torch.cat(first), torch.cat([_halves(x)[0] for x in tfs] + [_halves(x)[1] for x in tfs])


def all_reduce_mean(t: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Mean over ranks of a tensor of equal shape on every rank (e.g. an (L, L) Gram matrix
    from equal-size local batches: the Gram matrix of their union)."""
    if not ctx.active:
        return t
    t = t.detach().clone()
    torch.distributed.all_reduce(t)
    return t / ctx.world_size


def all_reduce_gradients(params, ctx: DistContext, flags: list[float] | None = None) -> list[float]:
    """Sum the parameters' ``.grad`` over ranks (in place), optionally with a few flags.

    Each rank's gradient is the derivative of the global objective through its own points
    (:func:`gather_batch`), so the sum is the full gradient. ``flags``, if given, ride
    along and come back summed over ranks (a host list: reading it synchronises with the
    device). Without flags (what the training loop does every step) nothing is copied
    between host and device: the collective is queued on the device stream.
    """
    params = [p for p in params if p.requires_grad]
    if not ctx.active:
        return list(flags or ())
    dev = params[0].device
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    extra = [torch.tensor(flags, dtype=grads[0].dtype, device=dev)] if flags else []
    flat = torch.cat([g.reshape(-1) for g in grads] + extra)
    torch.distributed.all_reduce(flat)
    offset = 0
    for p, g in zip(params, grads):
        k = g.numel()
        p.grad = flat[offset:offset + k].view_as(p).clone()
        offset += k
    return flat[offset:].tolist() if flags else []


def all_reduce_max(t: torch.Tensor, ctx: DistContext) -> list[float]:
    """Element-wise maximum over ranks of a small 1-D tensor (e.g. the training loop's
    flags: stop requested, first non-finite iteration), returned as a host list.

    This is a host synchronisation: the training loop calls it only on its logging,
    evaluation, checkpoint and snapshot iterations (docs/scaling.md).
    """
    if ctx.active:
        t = t.detach().clone()
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return t.tolist()


def broadcast_object(obj, ctx: DistContext, src: int = 0):
    """``obj`` of rank ``src`` on every rank (pickled; small objects such as an evaluation summary)."""
    if not ctx.active:
        return obj
    box = [obj if ctx.rank == src else None]
    torch.distributed.broadcast_object_list(box, src=src)
    return box[0]


def all_gather_object(obj, ctx: DistContext) -> list:
    """Every rank's ``obj``, in rank order."""
    if not ctx.active:
        return [obj]
    out = [None] * ctx.world_size
    torch.distributed.all_gather_object(out, obj)
    return out


class StopRequested(KeyboardInterrupt):
    """Every rank stopped together after a signal (``signum``: SIGINT or SIGTERM); the
    checkpoint was written first."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class StopSignals:
    """While active, SIGINT and SIGTERM only set :attr:`signum`: the training loop shares the
    flag with the other ranks at the next step and all stop at the same iteration (a rank
    interrupted inside a collective would leave the others waiting). Restores the previous
    handlers on exit; does nothing outside the main thread. :meth:`current` is the innermost
    active one (the CLI holds one for a whole distributed run, so that a signal during set-up
    does not break a collective either: training then stops after its first step).
    ``force_second``: a second signal raises KeyboardInterrupt at once (one process, where no
    collective can be broken)."""

    _active: list = []

    def __init__(self, force_second: bool = False):
        self.signum, self.previous, self.force_second = None, {}, force_second

    @classmethod
    def current(cls) -> "StopSignals | None":
        """The innermost active instance, or None."""
        return cls._active[-1] if cls._active else None

    def __enter__(self):
        StopSignals._active.append(self)
        def handler(signum, frame):
            if self.signum is not None and self.force_second:
                raise KeyboardInterrupt  # a second signal (one process): stop now
            self.signum = self.signum or signum
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                if signal.getsignal(sig) is signal.SIG_IGN:
                    continue  # ignored on purpose (a background job of a shell script): stays ignored
                self.previous[sig] = signal.signal(sig, handler)
            except ValueError:  # not the main thread
                pass
        return self

    def __exit__(self, *exc):
        StopSignals._active.remove(self)
        for sig, old in self.previous.items():
            signal.signal(sig, old)
        return False
