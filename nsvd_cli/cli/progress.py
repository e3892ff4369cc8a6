"""Progress of long commands: a spinner on a terminal, periodic plain lines otherwise.

A newcomer who pipes a command into ``tee`` or a batch log must still see that it is alive
(issue 9, item 11).  :func:`progress_reporter` yields a ``say(message)`` callable: on a
terminal it updates a rich status spinner; when stderr is not a terminal it prints, every
:func:`interval` seconds (``$NSVD_PROGRESS_INTERVAL``, default 10) and only while the command
runs, one plain line ``<command>: <elapsed> s: <latest message> (<s> s on this step)``.  Short
commands print nothing.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time

from .console import stderr_console

__all__ = ["progress_reporter", "interval", "DEFAULT_INTERVAL", "eigenvalue_field", "final_rate"]

#: Seconds between plain progress lines when stderr is not a terminal.
DEFAULT_INTERVAL = 10.0


def interval() -> float:
    """Seconds between plain progress lines (``$NSVD_PROGRESS_INTERVAL``, else :data:`DEFAULT_INTERVAL`)."""
    try:
        value = float(os.environ.get("NSVD_PROGRESS_INTERVAL", DEFAULT_INTERVAL))
    except ValueError:
        return DEFAULT_INTERVAL
    return value if value > 0 else DEFAULT_INTERVAL


def eigenvalue_field(method: str, eigenvalues, shown: int = 4) -> str:
    """The progress bar's λ field: the batch Rayleigh quotients of T, at most ``shown`` of them.

    NestedLoRA, NeuralEF and SpIN learn ordered modes: their quotients are shown in mode order
    (descending when learned). LoRA's outputs are an arbitrary rotation of the top subspace
    (eq. 3; the order comes from Rayleigh–Ritz at evaluation), so their quotients are shown
    sorted, descending, like the others' (``8.495, 6.797, 7.961, 10.39`` -> ``rotated: 10.39,
    8.495, 7.961, 6.797``), behind ``rotated:`` because they are the diagonal of a rotated
    matrix, not eigenvalue estimates (a re-test read them as such: 8.959, 6.185, 6.006, 3.777
    for the levels 9, 7, 5, 3).

    Parameters
    ----------
    method : str
        ``training.method``.
    eigenvalues : sequence of float, length L

    Returns
    -------
    str
        E.g. ``"10.39, 8.495, 7.961, 6.797 …"`` (``…``: more than ``shown`` modes; LoRA's
        behind ``"rotated: "``).
    """
    values = [float(v) for v in eigenvalues]
    prefix = ""
    if method == "lora":
        values, prefix = sorted(values, reverse=True), "rotated: "
    return prefix + ", ".join(f"{v:.4g}" for v in values[:shown]) + (" …" if len(values) > shown else "")


def final_rate(finished) -> str:
    """The ``nsvd solve`` progress bar's final it/s field, e.g. ``"11.3"``.

    During training the bar shows :class:`~nsvd_cli.train.Progress`'s rate: the iterations
    since the previous logged iteration over the seconds since then (``log_every``
    iterations, with an evaluation that fell in the window). The summary line and the results file give
    the whole run's average, :func:`nsvd_cli.solve.iterations_per_second`; the two differed at the
    end (a trial: 10.3 on the bar, 11.3 in the summary). The bar's last figure is therefore
    replaced by the whole run's average, formatted as the summary formats it.

    Parameters
    ----------
    finished : :class:`~nsvd_cli.train.Finished`
        Its ``iteration`` and ``wall_time`` (both summed over resumed runs).
    """
    from ..solve import iterations_per_second

    return f"{iterations_per_second(finished.iteration, finished.wall_time):.1f}"


class _Latest:
    """The latest message and when it was first said (a repeated message keeps its start)."""

    def __init__(self):
        self.start = self.since = time.perf_counter()
        self.message = "starting"

    def __call__(self, message) -> None:
        message = str(message)
        if message != self.message:
            self.message, self.since = message, time.perf_counter()

    def line(self) -> str:
        """``<message> (<s> s on this step)``; the step time only from 1 s on."""
        step = time.perf_counter() - self.since
        return self.message + (f" ({step:.0f} s on this step)" if step >= 1 else "")


@contextlib.contextmanager
def _ticking(show, period: float):
    """Call ``show()`` every ``period`` seconds in a daemon thread while the block runs."""
    stop = threading.Event()

    def tick():
        while not stop.wait(period):
            show()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@contextlib.contextmanager
def _plain_lines(command: str, stream=None):
    latest = _Latest()
    stream = stream or sys.stderr

    def show():
        print(f"{command}: {time.perf_counter() - latest.start:.0f} s: {latest.line()}", file=stream, flush=True)

    with _ticking(show, interval()):
        yield latest


@contextlib.contextmanager
def progress_reporter(command: str):
    """``with progress_reporter("compare") as say: ... say("eigsh N=400: ...")``.

    A step that runs long (a sparse LU factorisation of a large grid) keeps its message;
    both forms show how long the current message has stood (``(38 s on this step)``)."""
    if stderr_console.is_terminal:
        latest = _Latest()
        with stderr_console.status(command, spinner="dots") as status:
            def say(message):
                latest(message)
                status.update(latest.line())

            with _ticking(lambda: status.update(latest.line()), 1.0):
                yield say
    else:
        with _plain_lines(command) as say:
            yield say
