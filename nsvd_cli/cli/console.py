"""Shared rich consoles and the error boundary of every command.

Importing this module (every command does) makes matplotlib use the non-interactive Agg
backend in the CLI process, whatever ``MPLBACKEND`` the caller's shell carries (e.g. a
notebook's ``module://matplotlib_inline.backend_inline``): the CLI only writes files.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import typer
from rich.console import Console

from ..errors import DivergenceError, NsvdError, OutputWriteError, SpecError

os.environ["MPLBACKEND"] = "Agg"  # before any command imports matplotlib

#: Width used when output goes to a file or pipe (logs): wide rather than wrapped at 80.
PIPE_WIDTH = 250

console = Console()
if not console.is_terminal:
    console = Console(width=PIPE_WIDTH)
stderr_console = Console(stderr=True)
if not stderr_console.is_terminal:
    stderr_console = Console(stderr=True, width=PIPE_WIDTH)

#: The one table from spec fields and library parameter names to the CLI flags that set
#: them.  Library errors name the field or parameter (``SpecError.field``, or a ``field`` /
#: ``parameter`` attribute of another NsvdError); :func:`error_boundary` adds the flag.
OPTION_OF_FIELD = {
    # nsvd solve (spec overrides)
    "modes": "--modes",
    "dimension": "--dim",
    "training.iterations": "--iters",
    "training.batch_size": "--batch-size",
    "training.nesting": "--nesting",
    "training.method": "--method",
    "training.until": "--until",
    "training.tolerance": "--tolerance",
    "training.seed": "--seed",
    "training.device": "--device",
    "training.laplacian": "--laplacian",
    "training.learning_rate": "--lr",
    "training.optimizer": "--optimizer",
    "model.architecture": "--architecture",
    "preset": "--preset",
    "device": "--device",
    "output": "-o/--output",
    "resume": "--resume",
    "overwrite": "--overwrite",
    # nsvd compare (grid baselines)
    "method": "--baseline",
    "grid": "--grid",
    "order": "--order",
    "box": "--box",
    "max_memory": "--max-memory",
    "tol": "--tol",
    "max_iter": "--max-iter",
    "preconditioner": "--preconditioner",
    "fail_above": "--fail-above",
    "next_level_lower": "--next-level-lower",
}


def option_for(field: str | None) -> str | None:
    """The CLI flag that sets a spec field or library parameter, or None."""
    return OPTION_OF_FIELD.get(field) if field else None


def fold(table):
    """Let every column of a rich Table wrap its cells instead of cutting them with '…'."""
    for column in table.columns:
        column.overflow = "fold"
    return table


def fail(message: str, code: int = 2) -> None:
    """Print one red error line on stderr and exit with ``code``."""
    from rich.markup import escape  # messages quote spec syntax such as [low, high]: not markup

    stderr_console.print(f"[bold red]error:[/bold red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=code)


@contextlib.contextmanager
def error_boundary():
    """Map library errors to one-line messages and exit codes.

    SpecError and other NsvdError -> 2; DivergenceError and OutputWriteError (a failure at
    write time: disk full, read-only folder) -> 1; Ctrl-C -> 130.
    """
    try:
        yield
    except (DivergenceError, OutputWriteError) as err:
        from .advice import one_line

        fail(one_line(err), code=1)
    except SpecError as err:
        option = None if getattr(err, "source", None) else option_for(err.field)  # a spec file's value
        fail(f"{option} ({err.field}): {err.message}" if option else str(err))
    except NsvdError as err:
        from .advice import one_line

        fail(one_line(err))
    except MemoryError:
        fail("out of memory: lower the sizes (modes, batch_size, model.hidden, evaluation points)", code=1)
    except RuntimeError as err:  # torch's allocation failures; anything else is a bug: let it show
        if "allocate" not in str(err):
            raise
        fail(f"out of memory ({str(err).splitlines()[0]}): lower the sizes (modes, batch_size, model.hidden, "
             "evaluation points)", code=1)
    except KeyboardInterrupt:
        stderr_console.print("[yellow]interrupted[/yellow]")
        raise typer.Exit(code=130) from None


def same_file(a, b) -> bool:
    """Whether paths ``a`` and ``b`` name one file: :func:`os.path.samefile` when both exist
    (hard links, symlinks, ``./x`` against ``x``), else equal :meth:`pathlib.Path.resolve`."""
    import os

    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except OSError:
        return False


def refuse_output_over_input(output, inputs, option: str, what: str,
                             fix: str = "--overwrite does not allow that; give another file") -> None:
    """Exit 2 with one line naming ``option`` when ``output`` is one of the ``inputs`` (existing
    files only; a problem name is no file): writing ``what`` there would destroy that input,
    a results file's trained network included, so even ``--overwrite`` does not allow it."""
    if output is None:
        return
    for source in inputs:
        if Path(source).is_file() and same_file(output, source):
            fail(f"{option}: {output} is the input {source}; writing {what} there would destroy it ({fix})")
