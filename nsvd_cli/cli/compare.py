"""``nsvd compare``: NeuralSVD results, analytic references and grid solvers in one table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from ..spec import choices
from ..spec.choices import choice_enum
from .console import console, error_boundary, fail, fold, stderr_console


Baseline = choice_enum("Baseline", choices.GridMethod)
Order = choice_enum("Order", choices.FdOrder)
Preconditioner = choice_enum("Preconditioner", choices.Preconditioner)


_GRID = "Grid baselines"
_OUT = "Output"


def compare_command(
    sources: Annotated[list[str], typer.Argument(
        help="Problem names / .toml specs and/or nsvd results files (.h5), all of one problem.",
        show_default=False)],
    baseline: Annotated[Optional[list[Baseline]], typer.Option(
        "--baseline", "-b", help="Grid solver to run (repeatable): eigsh (shift-invert ARPACK), lobpcg "
        "(torch.lobpcg, the paper's baseline) or dense (small grids).", rich_help_panel=_GRID)] = None,
    grid: Annotated[str, typer.Option(help="Grid points per axis, comma-separated, e.g. 200,400,800.",
                                      rich_help_panel=_GRID)] = "200",
    order: Annotated[Order, typer.Option(help="Finite-difference order.", rich_help_panel=_GRID)] = Order["2"],
    box: Annotated[Optional[str], typer.Option(
        help="Grid box on every axis: HALF_WIDTH or LO,HI (e.g. 50 or -50,50). Default: the problem's "
             "evaluation box.", rich_help_panel=_GRID)] = None,
    max_memory: Annotated[Optional[str], typer.Option(
        help="Refuse a grid whose matrix and solver would need more, e.g. 4GiB or 500MB. Default: the memory "
             "available now.", rich_help_panel=_GRID)] = None,
    tol: Annotated[Optional[float], typer.Option(
        help="Relative residual tolerance of the grid solvers (default 1e-6).", rich_help_panel=_GRID)] = None,
    max_iter: Annotated[Optional[int], typer.Option(
        help="lobpcg iterations (default 5000) / eigsh restarts (default scipy's).", rich_help_panel=_GRID)] = None,
    preconditioner: Annotated[Optional[Preconditioner], typer.Option(
        help="lobpcg preconditioner.", rich_help_panel=_GRID)] = None,
    seed: Annotated[int, typer.Option(help="Random start of the grid solvers.", rich_help_panel=_GRID)] = 0,
    output: Annotated[Optional[Path], typer.Option(
        "-o", "--output", help="Also write the comparison, with the grid eigenvectors, to this HDF5 file.",
        rich_help_panel=_OUT)] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --output file.", rich_help_panel=_OUT)] = False,
    json_output: Annotated[bool, typer.Option(
        "--json", help="Print the comparison as JSON on stdout (nothing else goes to stdout).",
        rich_help_panel=_OUT)] = False,
    fail_above: Annotated[Optional[float], typer.Option(
        help="Exit with status 1 if any method's mean relative energy error exceeds this (for scripts and CI).",
        rich_help_panel=_OUT)] = None,
):
    """Compare results files and classical grid solvers against the reference, mode by mode.

    Energies of H from every source and grid solver, with relative errors against the
    analytic reference (or, when the problem has none, against eigsh on the finest grid),
    and per method its wall time, memory, grid size or iterations and convergence.  For
    results files also the eigenfunction metrics, recomputed on the file's own quadrature
    rule and, when a grid was solved, against the grid eigenvectors.

    \b
    Examples:

    * nsvd compare hydrogen2d --baseline lobpcg --grid 400
    * nsvd compare runs/h2d.h5 --baseline lobpcg --baseline eigsh
    * nsvd compare runs/a.h5 runs/b.h5 runs/c.h5
    * nsvd compare hydrogen2d --baseline lobpcg --grid 200,400,800,1600 -o cmp.h5
    """
    from ..compare import compare, parse_box, write_comparison
    from ..errors import ComparisonError, ResultsExistError

    with error_boundary():
        if output is not None and output.exists() and not overwrite:
            raise ResultsExistError(output)
        if fail_above is not None and not fail_above >= 0:
            raise ComparisonError(f"--fail-above: must be >= 0, got {fail_above}")
        box_value = None
        if box is not None:
            parse_box(box, 1)  # syntax check before loading anything
            box_value = box
        with stderr_console.status("comparing", spinner="dots") as status:
            comp = compare(sources, [b.value for b in baseline or []], grid, order=int(order.value),
                           max_memory=max_memory, tol=tol, max_iter=max_iter,
                           preconditioner=preconditioner.value if preconditioner else None, box=box_value,
                           seed=seed, keep_eigenvectors=output is not None,
                           progress=lambda msg: status.update(msg))
        for note in comp.warnings:
            stderr_console.print(f"[yellow]warning:[/yellow] {note}", highlight=False, soft_wrap=True)
        if json_output:
            typer.echo(json.dumps(comp.to_dict()))
        else:
            print_comparison(comp)
        if output is not None:
            path = write_comparison(output, comp, overwrite=overwrite)
            (stderr_console if json_output else console).print(f"comparison written to [bold]{path}[/bold]")
        if fail_above is not None:
            bad = comp.failures(fail_above)
            if bad:
                fail(f"--fail-above {fail_above:g}: mean relative error above the threshold for "
                     + ", ".join(f"{m.label} ({m.mean_relative_error:.3g})" for m in bad), code=1)


def _num(v, fmt="{:.6g}") -> str:
    import math

    return "—" if v is None or not math.isfinite(v) else fmt.format(v)


def _bytes(b) -> str:
    return "—" if b is None or b < 0 else f"{b / 2**20:.1f} MiB"


def print_comparison(comp) -> None:
    """Print the per-mode table, the per-method summary and (for results files) the
    eigenfunction metrics of a :class:`~nsvd_cli.compare.Comparison`."""
    import numpy as np

    from ..metrics import nanmean

    spec = comp.spec
    out = console
    box = ", ".join(f"[{lo:g}, {hi:g}]" for lo, hi in comp.box)
    out.print(f"[bold]{spec.name}[/bold]: energies E of H = −{spec.kinetic:g}∇² + V; reference: "
                  f"[bold]{comp.reference_name}[/bold]; grid box {box}, order {comp.order}", highlight=False,
                  soft_wrap=True)
    caption = ["rel. err = |E − E_ref|/|E_ref|"]
    if any(m.kind == "grid" and not m.converged for m in comp.methods):
        caption.append("* not converged (residual above --tol): not a trustworthy value")
    if any(m.counted is not None and not m.counted[np.isfinite(m.energies)].all() for m in comp.methods):
        caption.append("λ≤0: a mode the file's T does not learn (not counted)")
    table = Table(caption_justify="left", caption=";  ".join(caption))
    table.add_column("#", justify="right")
    if comp.quantum_labels:
        table.add_column("(" + ", ".join(comp.quantum_labels) + ")")
    table.add_column("reference E", justify="right")
    for m in comp.methods:
        table.add_column(f"{m.label}\nE", justify="right")
        table.add_column("rel. err", justify="right")
    for i in range(comp.n_modes):
        row = [str(i + 1)]
        if comp.quantum_labels:
            row.append(", ".join(str(int(q)) for q in comp.quantum_numbers[i]))
        row.append(_num(comp.reference_energies[i]))
        for m in comp.methods:
            e = _num(m.energies[i])
            if m.kind == "grid" and not m.converged:
                e = f"[red]{e}*[/red]"
            rel = _num(m.relative_errors[i], "{:.2e}")
            if m.counted is not None and np.isfinite(m.energies[i]) and not m.counted[i]:
                rel = "λ≤0"
            row += [e, rel]
        table.add_row(*row)
    out.print(fold(table))

    summary = Table(title="methods", title_justify="left")
    for name in ("method", "grid", "iterations", "wall time", "peak memory", "mean rel. err", "converged"):
        summary.add_column(name, justify="left" if name in ("method", "converged") else "right")
    for m in comp.methods:
        if m.kind == "grid":
            size = f"N={m.grid} ({m.n_points_total:,} pts)"
            iters = "—" if m.method == "dense" else f"{m.iterations}"
            conv = "yes" if m.converged else f"[red]no[/red] (max residual {m.max_residual:.1e} > {m.tol:g})"
            method = m.label if m.method == m.label.split()[0] else f"{m.label} (ran {m.method})"
        else:
            size, iters = "—", f"{m.iterations} (training)" if m.iterations >= 0 else "—"
            conv, method = ("—" if m.converged else f"[red]no[/red] ({m.note})"), m.label
        summary.add_row(method, size, iters, _num(m.wall_time, "{:.2f} s"), _bytes(m.peak_memory),
                        _num(m.mean_relative_error, "{:.2e}"), conv)
    out.print(fold(summary))

    neural = [m for m in comp.methods if m.kind == "neural"]
    if neural:
        grid_label = next((m.grid_comparison for m in neural if m.grid_comparison), "")
        t = Table(title="eigenfunctions of the results files: on their own quadrature rule (the metrics solve "
                        "stored)" + (f" and against the {grid_label} eigenvectors" if grid_label else ""),
                  title_justify="left")
        t.add_column("results file")
        for name in ("rel. err λ", "angle", "subspace", "orthogonality"):
            t.add_column(name, justify="right")
        if grid_label:
            for name in ("angle (grid)", "subspace (grid)", "orthogonality (grid)"):
                t.add_column(name, justify="right")
        for m in neural:
            s = m.evaluation.summary()
            row = [m.label, _num(s.get("mean_relative_error"), "{:.2e}"), _num(s.get("mean_angle_distance"), "{:.2e}"),
                   _num(s.get("mean_subspace_distance"), "{:.2e}"), _num(s.get("orthogonality"), "{:.2e}")]
            if grid_label:
                if m.grid_comparison:
                    row += [_num(nanmean(m.angle_distances), "{:.2e}"),
                            _num(nanmean(m.subspace_distances), "{:.2e}"), _num(m.orthogonality, "{:.2e}")]
                else:
                    row += ["—"] * 3
            t.add_row(*row)
        out.print(fold(t))
