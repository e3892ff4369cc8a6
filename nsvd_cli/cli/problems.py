"""``nsvd problems``: list the built-in problems and show a resolved spec as TOML."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.table import Table
from typer.core import TyperGroup

from .console import console, error_boundary, fold, option_for

class _ProblemsGroup(TyperGroup):
    """``nsvd problems``: an unknown command that is a built-in problem or an existing file
    (``nsvd problems harmonic2d``) gets the hint ``nsvd problems show NAME`` (still exit 2)."""

    def resolve_command(self, ctx, args):
        try:
            return super().resolve_command(ctx, args)
        except type(typer.BadParameter("")).__mro__[1] as err:  # Typer's (vendored Click's) UsageError
            name = args[0] if args else ""
            if name and _is_problem(name):
                err.message = f"{err.message.rstrip('.')}; to print that problem's spec: nsvd problems show {name}"
            raise


def _is_problem(name: str) -> bool:
    """Whether ``name`` is a built-in problem or an existing file (a spec, presumably)."""
    from pathlib import Path

    from ..spec import builtin_problems

    return name in builtin_problems() or Path(name).is_file()


problems_app = typer.Typer(
    name="problems",
    help="Built-in problems: list them, or print one's fully resolved spec as TOML.",
    no_args_is_help=True,
    cls=_ProblemsGroup,
)


_THREADS = "Threads (for uniformity: listing and showing specs compute nothing heavy). Default: OMP_NUM_THREADS, else 1."


@problems_app.command("list")
def list_command(threads: Annotated[Optional[int], typer.Option(help=_THREADS, show_default=False)] = None):
    """Table of the built-in problems: name, dimension, potential, shift, scale, modes and the
    reference each is judged by (analytic closed form, eigsh grid, or none)."""
    from ..references import reference_kind
    from ..spec import builtin_problems, load_spec
    from .parallel import apply_threads

    with error_boundary():
        apply_threads("problems", threads)
        table = Table(title="built-in problems (nsvd solve NAME; nsvd problems show NAME)", title_justify="left",
                      caption="reference: yes = closed form; grid = eigsh finite-difference solution "
                              "(cached); 1D grids = sums of 1D grid solutions (separable V); no = Rayleigh-quotient estimates only", caption_justify="left")
        for col, just in (("name", "left"), ("D", "right"), ("potential", "left"), ("shift", "right"),
                          ("scale", "right"), ("modes", "right"), ("reference", "left")):
            table.add_column(col, justify=just)
        for name in builtin_problems():
            spec = load_spec(name)
            kind = {"analytic": "yes", "grid": "grid", "separable grid": "1D grids", "none": "no"}[reference_kind(spec)]
            table.add_row(name, str(spec.dimension), spec.potential.describe(), f"{spec.shift:g}", f"{spec.scale:g}",
                          str(spec.modes), kind)
        console.print(fold(table))


@problems_app.command("show", no_args_is_help=True)
def show_command(
    problem: Annotated[str, typer.Argument(help="Built-in problem name, a .toml spec file, or a results file (.h5) "
                                                "of nsvd solve (its stored spec).")],
    dim: Annotated[Optional[int], typer.Option("--dim", help="Resize to dimension D first (as nsvd solve --dim).")] = None,
    preset: Annotated[Optional[str], typer.Option(help="Apply the spec's preset table presets.NAME first.")] = None,
    threads: Annotated[Optional[int], typer.Option(help=_THREADS, show_default=False)] = None,
):
    """Print the fully resolved spec as TOML: every field with the value nsvd solve uses,
    the defaults derived from the problem included (marked "# derived").

    The output is itself a valid spec file (nsvd problems show NAME > mine.toml), with the
    chosen --preset already applied and no preset tables of its own; solving it solves the
    same problem with the same settings. The derived fields that follow another setting
    (iterations follow modes; eval_every and checkpoint_every, iterations; fd_step, the
    Laplacian) are written commented out with their value, so that solve derives them again
    and --modes, --iters or --laplacian move them as they would on the original.
    """
    from ..defaults import derive_defaults, rederived_fields
    from ..errors import naming_spec_file
    from ..spec import load_spec, spec_to_toml
    from .parallel import apply_threads

    with error_boundary():
        apply_threads("problems", threads)
        from ..files.hdf5 import check_problem_source

        check_problem_source(problem)  # a checkpoint, an empty .h5: not read as a TOML spec
        spec = load_spec(problem, preset=preset, dimension=dim, family_only=True)
        with naming_spec_file(problem, settable=lambda field: option_for(field) is not None):
            resolved, derived = derive_defaults(spec)  # what nsvd solve runs (nsvd_cli.solve.solve)
            again = rederived_fields(spec)
        header = _HEADER.format(problem=problem) if derived or again else ""
        typer.echo(spec_to_toml(resolved, derived, again, header), nl=False)


_HEADER = ("The spec nsvd solve uses for {problem}.\n"
           "Values marked \"# derived\" were derived from the problem (nsvd_cli/defaults.py). Commented-out\n"
           "fields follow another setting (their value now is shown): nsvd solve derives them again,\n"
           "so that --modes, --iters or --laplacian move them as they would on the original spec.\n")
