"""``nsvd`` entry point: assembles the command modules."""

from __future__ import annotations

import typer

from .. import __version__
from .plot import plot_command
from .solve import solve_command
from .problems import problems_app
from .compare import compare_command

app = typer.Typer(
    name="nsvd",
    help="Lowest eigenstates of Schrödinger operators with NeuralSVD (nested low-rank approximation).\n\n"
         "Conventions: H = −kinetic·∇² + V (no 1/2), with ∇² the Laplacian; the learned operator is "
         "T = scale·(−H + shift).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode="markdown",  # docstring paragraphs re-flow instead of keeping hard line breaks
)
app.command("solve", no_args_is_help=True)(solve_command)
app.add_typer(problems_app, name="problems")
app.command("plot", no_args_is_help=True)(plot_command)
app.command("compare", no_args_is_help=True)(compare_command)


def _version(value: bool):
    if value:
        typer.echo(f"nsvd {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")):
    """nsvd command line."""


def main() -> None:
    """Console-script entry point.

    Command-line usage errors (unknown option, invalid choice, wrong type) are reported as
    one ``error:`` line with exit code 2, like every other bad input.
    """
    import sys

    from .console import stderr_console

    usage_error = type(typer.BadParameter("")).__mro__[1]  # Typer's (vendored Click's) UsageError
    try:
        code = app(standalone_mode=False)
    except usage_error as err:
        if type(err).__name__ == "NoArgsIsHelpError":  # help was shown for a bare command
            sys.exit(2)
        message = err.format_message().replace("Value error, ", "")
        stderr_console.print(f"[bold red]error:[/bold red] {message}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Abort:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
