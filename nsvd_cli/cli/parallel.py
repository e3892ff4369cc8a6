"""Threads and processes of a command: ``--threads N`` and ``nsvd solve --nproc N`` (docs/scaling.md).

Thread pools (torch's intra-op pool, OpenMP, OpenBLAS / MKL) that spin-wait make a solver
on busy cores 5-20x slower than with one thread; the pools are sized from environment
variables when the libraries start, so :func:`apply_threads` sets them before the command
imports numpy, scipy or torch, then sets torch's pool (and, when ``threadpoolctl`` is
installed, the pools of libraries already loaded).
"""

from __future__ import annotations

import os
import signal
import sys

__all__ = ["THREAD_VARIABLES", "THREADS_PER_CORE", "max_threads", "free_cores", "default_threads", "choose_threads", "apply_threads", "launch_torchrun"]

#: The environment variables that size the native thread pools.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                    "NUMEXPR_NUM_THREADS")

_threadpool_limit = None  # the threadpoolctl limiter, kept alive for the command


def free_cores() -> int:
    """Cores this process may use that are not busy: the affinity count minus the rounded
    1-minute load average, at least 1, at most the affinity count."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    try:
        load = round(os.getloadavg()[0])
    except OSError:
        load = 0
    return max(1, min(cores, cores - load))


#: ``--threads`` above this many per core (:func:`max_threads`) is refused.
THREADS_PER_CORE = 4


def max_threads() -> int:
    """The most ``--threads`` accepted: :data:`THREADS_PER_CORE` times ``os.cpu_count()``
    (oversubscription beyond gains nothing; thousands of OpenMP threads hang or crash)."""
    return THREADS_PER_CORE * (os.cpu_count() or 1)


def default_threads(command: str, processes: int = 1) -> int:
    """The thread count a command uses without ``--threads`` or ``OMP_NUM_THREADS``.

    ``compare`` and ``problems``: 1 (ARPACK / LOBPCG on the grid are memory-bound; with
    spin-waiting pools on busy cores they ran 10-20x slower). ``solve`` and ``plot``: the
    free cores (:func:`free_cores`), divided among ``processes`` ranks, at least 1.
    """
    if command in ("compare", "problems"):
        return 1
    return max(1, free_cores() // max(1, processes))


def choose_threads(command: str, explicit: int | None, processes: int = 1) -> tuple[int, str]:
    """``(threads, why)``: ``--threads`` if given, else ``OMP_NUM_THREADS`` if set, else
    :func:`default_threads`.

    Raises
    ------
    ParameterError
        ``explicit`` below 1 or above :func:`max_threads` (names ``--threads``).
    """
    from ..errors import ParameterError

    if explicit is not None:
        if explicit < 1:
            raise ParameterError(f"--threads: must be >= 1, got {explicit}", parameter="threads")
        most = max_threads()
        if explicit > most:  # a trial: 100000 segfaulted in the OpenMP runtime, 5000 hung
            raise ParameterError(f"--threads: must be <= {most} ({THREADS_PER_CORE} per core of the {os.cpu_count()} "
                                 f"here), got {explicit}", parameter="threads")
        return explicit, "--threads"
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) >= 1:
        return int(env), "OMP_NUM_THREADS"
    return default_threads(command, processes), "default"


def apply_threads(command: str, explicit: int | None = None, processes: int = 1) -> int:
    """Size every thread pool of this process for ``command`` (:func:`choose_threads`).

    Sets :data:`THREAD_VARIABLES` (read by OpenMP, OpenBLAS and MKL when they start),
    ``torch.set_num_threads`` (imports torch unless ``command`` is ``problems``), and, if
    ``threadpoolctl`` is installed, limits the pools of BLAS libraries already loaded
    (without it, a pool started before this call keeps its size: call this first).

    Returns
    -------
    int
        The thread count set.
    """
    global _threadpool_limit
    n, _ = choose_threads(command, explicit, processes)
    for var in THREAD_VARIABLES:
        os.environ[var] = str(n)
    if command != "problems" or "torch" in sys.modules:
        import torch

        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        pass
    else:
        _threadpool_limit = threadpool_limits(n)
    return n


def _strip_nproc(args: list[str]) -> list[str]:
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            out.append(a)
    return out


def torchrun_argv(nproc: int, threads: int, argv: list[str] | None = None) -> list[str]:
    """torchrun's arguments for ``nsvd solve ... --nproc N``: the same command line (from
    ``solve`` on) without ``--nproc``, with ``--threads`` per rank.

    Raises
    ------
    ParameterError
        The command line does not contain ``solve`` (e.g. called from a library).
    """
    from ..errors import ParameterError

    argv = list(sys.argv if argv is None else argv)
    if "solve" not in argv:
        raise ParameterError("cannot find the solve command on the command line to relaunch it", parameter="nproc")
    args = _strip_nproc(argv[argv.index("solve"):])
    if not any(a == "--threads" or a.startswith("--threads=") for a in args):
        args += ["--threads", str(threads)]
    return ["--standalone", "--nnodes", "1", "--nproc-per-node", str(nproc), "-m", "nsvd_cli", *args]


def _quiet_launcher_logs() -> None:
    """Silence torchrun's own log lines in this (launcher) process unless ``LOGLEVEL`` is set:
    a rank's one-line error was followed by ``W… Sending process … closing signal SIGTERM`` and
    ``E… failed (exitcode: 2) local_rank: 1``, and Ctrl-C by three ``Received 2 death signal``
    lines (a new-user trial). The exit code carries the failure; the ranks print their own
    errors. ``LOGLEVEL=INFO nsvd solve … --nproc 2`` shows them again."""
    import logging

    if "LOGLEVEL" in os.environ:
        return
    os.environ["LOGLEVEL"] = "CRITICAL"  # loggers made later (torch.distributed.elastic.utils.logging)
    for name in list(logging.Logger.manager.loggerDict):
        if name.startswith("torch.distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


def launch_torchrun(nproc: int, threads: int, argv: list[str] | None = None) -> int:
    """Run ``torchrun --standalone --nproc-per-node N -m nsvd_cli solve ...`` in this process
    (torch.distributed.run) and return the exit code: 0, the first failed rank's code
    (e.g. 143 after SIGTERM, 130 after Ctrl-C) or 128 + the signal this launcher received.

    SIGTERM / SIGINT to this process reach every rank (torchrun forwards them); the ranks
    stop together and keep the checkpoint.
    """
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    args = parse_args(torchrun_argv(nproc, threads, argv))
    _quiet_launcher_logs()
    import shlex

    os.environ["NSVD_COMMAND"] = shlex.join(["nsvd", *(sys.argv[1:] if argv is None else argv[1:])])
    try:
        run(args)
    except ChildFailedError as err:
        codes = [f.exitcode for f in err.failures.values()]
        return next((c for c in codes if c in (130, 143)), codes[0] if codes else 1)
    except SignalException as err:
        return 128 + int(getattr(err, "sigval", signal.SIGTERM))
    return 0
