"""Shared rich consoles and the error boundary of every command."""

from __future__ import annotations

import contextlib

import typer
from rich.console import Console

from ..errors import DivergenceError, NsvdError, SpecError

#: Width used when output goes to a file or pipe (logs): wide rather than wrapped at 80.
PIPE_WIDTH = 250

console = Console()
if not console.is_terminal:
    console = Console(width=PIPE_WIDTH)
stderr_console = Console(stderr=True)
if not stderr_console.is_terminal:
    stderr_console = Console(stderr=True, width=PIPE_WIDTH)

#: Spec fields set by CLI options, to name the option in error messages.
OPTION_OF_FIELD = {
    "modes": "--modes",
    "training.iterations": "--iters",
    "training.batch_size": "--batch-size",
    "training.nesting": "--nesting",
    "training.seed": "--seed",
    "training.device": "--device",
    "training.laplacian": "--laplacian",
    "training.learning_rate": "--lr",
    "training.optimizer": "--optimizer",
    "model.architecture": "--architecture",
    "device": "--device",
    "output": "-o/--output",
}


def fold(table):
    """Let every column of a rich Table wrap its cells instead of cutting them with '…'."""
    for column in table.columns:
        column.overflow = "fold"
    return table


def fail(message: str, code: int = 2) -> None:
    """Print one red error line on stderr and exit with ``code``."""
    stderr_console.print(f"[bold red]error:[/bold red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=code)


@contextlib.contextmanager
def error_boundary():
    """Map library errors to one-line messages and exit codes.

    SpecError and other NsvdError -> 2; DivergenceError -> 1; Ctrl-C -> 130.
    """
    try:
        yield
    except DivergenceError as err:
        fail(str(err), code=1)
    except SpecError as err:
        option = OPTION_OF_FIELD.get(err.field)
        fail(f"{option} ({err.field}): {err.message}" if option else str(err))
    except NsvdError as err:
        fail(str(err))
    except KeyboardInterrupt:
        stderr_console.print("[yellow]interrupted[/yellow]")
        raise typer.Exit(code=130) from None
