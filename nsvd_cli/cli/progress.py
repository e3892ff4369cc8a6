"""Progress of long commands: a spinner on a terminal, periodic plain lines otherwise.

A newcomer who pipes a command into ``tee`` or a batch log must still see that it is alive
(issue 9, item 11).  :func:`progress_reporter` yields a ``say(message)`` callable: on a
terminal it updates a rich status spinner; when stderr is not a terminal it prints, every
:func:`interval` seconds (``$NSVD_PROGRESS_INTERVAL``, default 10) and only while the command
runs, one plain line ``<command>: <elapsed> s: <latest message>``.  Short commands print nothing.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time

from .console import stderr_console

__all__ = ["progress_reporter", "interval", "DEFAULT_INTERVAL"]

#: Seconds between plain progress lines when stderr is not a terminal.
DEFAULT_INTERVAL = 10.0


def interval() -> float:
    """Seconds between plain progress lines (``$NSVD_PROGRESS_INTERVAL``, else :data:`DEFAULT_INTERVAL`)."""
    try:
        value = float(os.environ.get("NSVD_PROGRESS_INTERVAL", DEFAULT_INTERVAL))
    except ValueError:
        return DEFAULT_INTERVAL
    return value if value > 0 else DEFAULT_INTERVAL


@contextlib.contextmanager
def _plain_lines(command: str, stream=None):
    latest = ["starting"]
    stop = threading.Event()
    start = time.perf_counter()
    stream = stream or sys.stderr
    period = interval()

    def tick():
        while not stop.wait(period):
            print(f"{command}: {time.perf_counter() - start:.0f} s: {latest[0]}", file=stream, flush=True)

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield lambda message: latest.__setitem__(0, str(message))
    finally:
        stop.set()
        thread.join()


@contextlib.contextmanager
def progress_reporter(command: str):
    """``with progress_reporter("compare") as say: ... say("eigsh N=400: ...")``."""
    if stderr_console.is_terminal:
        with stderr_console.status(command, spinner="dots") as status:
            yield lambda message: status.update(str(message))
    else:
        with _plain_lines(command) as say:
            yield say
