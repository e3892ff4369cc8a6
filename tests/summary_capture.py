"""What ``nsvd solve`` prints for a result: :func:`nsvd_cli.cli.solve.print_summary` into recording consoles."""

from __future__ import annotations


def printed_summary(result) -> tuple[str, str]:
    """(stdout text, stderr text) of ``print_summary(result)``, 400 columns wide (no folding)."""
    from rich.console import Console

    from nsvd_cli.cli import solve as cli_solve

    out, err = Console(record=True, width=400), Console(record=True, width=400)
    old = cli_solve.console, cli_solve.stderr_console
    cli_solve.console, cli_solve.stderr_console = out, err
    try:
        cli_solve.print_summary(result)
    finally:
        cli_solve.console, cli_solve.stderr_console = old
    return out.export_text(), err.export_text()
