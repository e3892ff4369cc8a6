"""``nsvd compare``: NeuralSVD results, analytic references and grid solvers in one table."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from ..spec import choices
from ..spec.choices import choice_enum
from .console import console, error_boundary, fail, option_for, refuse_output_over_input, stderr_console
from .progress import progress_reporter
from .ritz_columns import EXTENSION_MARK, extension_levels
from .uncertainty import stderr_of, with_stderr


#: Help panels of the options.
_GRID, _OUT = "Grid baselines", "Output"
#: Choice enums of --baseline, --order and --preconditioner, from the spec's Literals.
Baseline, Order, Preconditioner = (choice_enum(name, literal) for name, literal in (
    ("Baseline", choices.GridMethod), ("Order", choices.FdOrder), ("Preconditioner", choices.Preconditioner)))


def compare_command(
    sources: Annotated[list[str], typer.Argument(
        help="Problem names / .toml specs and/or nsvd results files (.h5), all of one problem.",
        show_default=False)],
    dim: Annotated[Optional[int], typer.Option(
        "--dim", help="Dimension D of the problems named (families such as 'harmonic'), as for nsvd solve.",
        show_default=False)] = None,
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
    overwrite: Annotated[bool, typer.Option(
        help="Replace an existing --output file (a regular file; a symbolic link: the file it points to).",
        rich_help_panel=_OUT)] = False,
    json_output: Annotated[bool, typer.Option(
        "--json", help="Print the comparison as JSON on stdout (nothing else goes to stdout).",
        rich_help_panel=_OUT)] = False,
    fail_above: Annotated[Optional[float], typer.Option(
        help="Exit with status 1 if any method's mean relative energy error exceeds this (for scripts and CI).",
        rich_help_panel=_OUT)] = None,
    next_level_lower: Annotated[Optional[float], typer.Option(
        help="A known lower bound of the level above the computed ones (energy of H): every results file is "
             "re-evaluated with it as evaluation.next_level_lower, so that every level gets a second-order "
             "interval (docs/bounds.md). An assumption: a value above the true level makes the intervals wrong.",
        rich_help_panel=_OUT, show_default=False)] = None,
    threads: Annotated[Optional[int], typer.Option(
        help="Threads (torch, OpenMP, BLAS). Default: OMP_NUM_THREADS if set, else 1 (the grid solvers are "
             "memory-bound; spin-waiting pools on busy cores made them 10-20x slower; docs/scaling.md).",
        rich_help_panel=_GRID, show_default=False)] = None,
):
    """Compare results files and classical grid solvers against the reference, mode by mode.

    Energies of H from every source and grid solver, with relative errors against the
    reference nsvd solve uses: the analytic one, else the 1D grid solutions of a separable
    potential, else the order-4 eigsh grid reference on reference_grid points per axis
    (default 2000 / 160 / 36 in 1D / 2D / 3D), independent of --grid (a note says when a
    finer --grid baseline disagrees with it), and per method its wall time, memory, grid size or iterations and convergence.  For
    results files also the eigenfunction metrics, recomputed on the file's own quadrature
    rule and, when a grid was solved, against the grid eigenvectors.

    \b
    Examples:

    * nsvd compare hydrogen2d --baseline lobpcg --grid 400
    * nsvd compare runs/h2d.h5 --baseline lobpcg --baseline eigsh
    * nsvd compare runs/a.h5 runs/b.h5 runs/c.h5
    * nsvd compare hydrogen2d --baseline lobpcg --grid 200,400,800,1600 -o cmp.h5
    """
    from ..errors import ComparisonError
    from .parallel import apply_threads

    with error_boundary(), _naming_spec_file(sources if dim is None else []):
        apply_threads("compare", threads)  # before numpy, scipy and torch start their pools
        _check_sources_and_output(sources, output, overwrite)
        if fail_above is not None and not fail_above >= 0:
            raise ComparisonError(f"must be >= 0, got {fail_above}", parameter="fail_above")
        if next_level_lower is not None and not math.isfinite(next_level_lower):
            raise ComparisonError(f"must be finite, got {next_level_lower}", parameter="next_level_lower")
        options = dict(order=int(order.value), max_memory=parse_memory(max_memory), tol=tol, max_iter=max_iter,
                       preconditioner=preconditioner.value if preconditioner else None,
                       box=parse_box(box), seed=seed, keep_eigenvectors=output is not None, dimension=dim,
                       next_level_lower=next_level_lower)
        comp = _run(sources, [b.value for b in baseline or []], parse_grid(grid), options)
        _report(comp, output, overwrite, json_output, fail_above)


def _check_sources_and_output(sources, output, overwrite: bool) -> None:
    """Before any work: no source is a training checkpoint or an empty ``.h5`` (one line naming
    it, not a spec reader's), and ``-o`` is no input, no folder, device or FIFO, and lies in a
    writable folder (:func:`nsvd_cli.solve.check_output`, as ``nsvd solve`` checks its ``-o``)."""
    from ..files.hdf5 import check_problem_source

    for source in sources:
        check_problem_source(source)
    refuse_output_over_input(output, sources, "-o/--output", "the comparison")
    if output is not None:
        from ..solve import check_output

        check_output(output, overwrite, derived=False)


def _naming_spec_file(sources):
    """:func:`nsvd_cli.errors.naming_spec_file` for the one spec (not results file) among the
    sources, if there is exactly one; else nothing (also with ``--dim``: its refusals name the
    option's effect, as ``problems show`` does)."""
    import contextlib

    from ..errors import naming_spec_file

    specs = [s for s in sources if not str(s).endswith((".h5", ".hdf5"))]
    if len(specs) != 1:
        return contextlib.nullcontext()
    return naming_spec_file(specs[0], settable=lambda field: option_for(field) is not None)


def _run(sources, baselines, grids, options):
    """:func:`nsvd_cli.compare.compare` with progress: a spinner on a terminal, else plain lines."""
    from ..compare import compare

    with progress_reporter("compare") as say:
        return compare(sources, baselines, grids, progress=say, **options)


def _report(comp, output, overwrite, json_output, fail_above) -> None:
    from ..compare import write_comparison
    from ..errors import OutputWriteError

    for note in comp.warnings:
        stderr_console.print(f"[yellow]warning:[/yellow] {note}", highlight=False, soft_wrap=True)
    if json_output:
        typer.echo(json.dumps(comp.to_dict()))
    else:
        print_comparison(comp)
    if output is not None:
        try:
            path = write_comparison(output, comp, overwrite=overwrite)
        except OSError as err:  # disk full, folder made read-only since the check: an existing file is intact
            raise OutputWriteError(output, err.strerror or str(err)) from None
        (stderr_console if json_output else console).print(f"comparison written to [bold]{path}[/bold]")
    if fail_above is not None:
        bad = comp.failures(fail_above)
        if bad:
            fail(f"--fail-above {fail_above:g}: mean relative error above the threshold for "
                 + ", ".join(f"{m.run_label} ({m.mean_relative_error:.3g})" for m in bad), code=1)


# --------------------------------------------------------------------------------------
# option parsing: command-line strings to the typed parameters of nsvd_cli.compare
# --------------------------------------------------------------------------------------

_UNITS = {"": 1, "b": 1, "k": 2**10, "ki": 2**10, "kib": 2**10, "kb": 10**3, "m": 2**20, "mi": 2**20,
          "mib": 2**20, "mb": 10**6, "g": 2**30, "gi": 2**30, "gib": 2**30, "gb": 10**9, "t": 2**40,
          "ti": 2**40, "tib": 2**40, "tb": 10**12}


def parse_memory(text: str | None) -> int | None:
    """Bytes from a size such as ``"4GiB"``, ``"500MB"``, ``"2G"`` or ``"1e9"`` (``--max-memory``).

    ``K``, ``M``, ``G``, ``T`` alone or with ``iB`` are binary (``2^10``...), ``KB``, ``MB``,
    ``GB``, ``TB`` decimal; no unit means bytes.  ``None`` stays ``None`` (no limit given).

    Raises
    ------
    ComparisonError
        ``parameter="max_memory"`` for anything else or a non-positive size.
    """
    import math
    import re

    from ..errors import ComparisonError

    if text is None:
        return None
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
    if not m or m.group(2).lower() not in _UNITS:
        raise ComparisonError(f"cannot read {text!r}; give a size such as 4GiB, 500MB or 2e9", parameter="max_memory")
    value = float(m.group(1))
    if not value > 0 or not math.isfinite(value):
        raise ComparisonError(f"must be > 0, got {text!r}", parameter="max_memory")
    return int(value * _UNITS[m.group(2).lower()])


def parse_grid(text: str) -> list[int]:
    """Sorted, distinct points per axis from ``"200,400"`` (``--grid``).

    Raises
    ------
    ComparisonError
        ``parameter="grid"`` for non-integers or values below 2.
    """
    import re

    from ..errors import ComparisonError

    items = [v.strip() for v in str(text).split(",") if v.strip()]
    if not all(re.fullmatch(r"[+]?\d+", v) for v in items):
        raise ComparisonError(f"expected comma-separated integers (points per axis), got {text!r}", parameter="grid")
    values = [int(v) for v in items]
    if not values or min(values) < 2:
        raise ComparisonError(f"need integers >= 2 (points per axis), got {text!r}", parameter="grid")
    return sorted(set(values))


def parse_box(text: str | None) -> tuple[tuple[float, float]] | None:
    """One axis ``((lo, hi),)`` from ``"50"`` (``[-50, 50]``) or ``"-50,50"`` (``--box``; every axis).

    Raises
    ------
    ComparisonError
        ``parameter="box"`` when unreadable, empty, or a ``HALF_WIDTH`` that is not > 0.
    """
    import math

    from ..errors import ComparisonError

    if text is None:
        return None
    try:
        vals = [float(v) for v in str(text).split(",")]
    except ValueError:
        raise ComparisonError(f"expected HALF_WIDTH or LO,HI, got {text!r}", parameter="box") from None
    if len(vals) == 1:  # a half-width: -1 is no box [-1, 1] but a typo (or a lone LO)
        vals = [-vals[0], vals[0]]
    if len(vals) != 2 or not all(map(math.isfinite, vals)) or not vals[1] > vals[0]:
        raise ComparisonError(f"expected HALF_WIDTH > 0 or LO,HI with HI > LO, got {text!r}", parameter="box")
    return ((vals[0], vals[1]),)


# --------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------

def _num(v, fmt="{:.6g}") -> str:
    import math

    return "—" if v is None or not math.isfinite(v) else fmt.format(v)


def _bytes(b) -> str:
    return "—" if b is None or b < 0 else f"{b / 2**20:.1f} MiB"


def _reference_line(comp) -> str:
    """The reference and its estimated accuracy, e.g. ``"grid reference (eigsh, N=160): order 4,
    estimated error 2.1e-07 (relative, Richardson N vs N/2)"``."""
    import numpy as np

    if comp.reference_kind == "analytic":
        return f"[bold]{comp.reference_name}[/bold] (closed form: exact)"
    if comp.reference_error is None:
        return f"[bold]{comp.reference_name}[/bold] (accuracy not estimated)"
    rel = comp.reference_error / np.maximum(np.abs(comp.reference_energies), comp.error_floor or 1e-300)
    return (f"[bold]{comp.reference_name}[/bold] (order-4 grid, as in nsvd solve; estimated error "
            f"{_num(float(np.nanmax(rel)), '{:.1e}')} relative: the grid with half the points, and a larger box "
            "without walls)")


def _caption(comp) -> str:
    import numpy as np

    floor = f"{comp.error_floor:.3g}"
    caption = [f"rel. err = |E − E_ref| / max(|E_ref|, Δ), Δ = {floor} the mean level spacing"]
    if comp.quantum_labels and any(m.kind == "grid" for m in comp.methods):
        from ..compare import MATCH_THRESHOLD

        caption.append(f"grid levels placed in the rows by eigenvector overlap (? = overlap < {MATCH_THRESHOLD:g})")
    if any(m.kind == "grid" and not m.converged for m in comp.methods):
        caption.append("* not converged (residual above --tol): not a trustworthy value")
    if any(m.counted is not None and not m.counted[np.isfinite(m.energies)].all() for m in comp.methods):
        caption.append("λ≤0: a mode the file's T does not learn (not counted)")
    if any(m.in_interval is not None for m in comp.methods):
        caption.append("Ritz E: the results file's k-th lowest Ritz value (Rayleigh–Ritz on its learned functions "
                       "times monomials of the coordinates up to evaluation.ritz_degree, ascending), paired with the "
                       "k-th reference level; in interval: that reference level lies in the interval around it "
                       "(docs/bounds.md)")
        if any(m.evaluation is not None and extension_levels(m.evaluation).any() for m in comp.methods):
            caption.append(f"{EXTENSION_MARK}: a Ritz function mostly outside the learned span (it comes from the "
                           "monomials: the learned modes did not converge to that level)")
    return ";  ".join(caption)


def _cell(m, i) -> list[str]:
    import numpy as np

    e = _num(m.energies[i])
    se = stderr_of(m.evaluation, "energies", i) if m.evaluation is not None and i < len(m.evaluation.energies) \
        else None
    if se is not None and np.isfinite(m.energies[i]):
        e = f"{e} ± {se:.2g}"
    from ..compare import MATCH_THRESHOLD

    if m.overlaps is not None and m.overlaps[i] < MATCH_THRESHOLD:
        e = f"{e}?"
    if m.kind == "grid" and not m.converged:
        e = f"[red]{e}*[/red]"
    rel = _num(m.relative_errors[i], "{:.2e}")
    if m.counted is not None and np.isfinite(m.energies[i]) and not m.counted[i]:
        rel = "λ≤0"
    return [e, rel]


def _ritz_cell(m, i) -> str:
    """The k = i-th lowest Ritz energy of a results file (the one its row-i interval is around), or ``—``."""
    ritz = getattr(m.evaluation, "ritz_energies", None)
    if ritz is None or i >= len(ritz):
        return "—"
    extended = extension_levels(m.evaluation)
    return _num(float(ritz[i])) + (EXTENSION_MARK if i < len(extended) and extended[i] else "")


def _in_interval(v) -> str:
    """``yes`` / ``no`` (red) / ``no bound`` for one level of a results file (docs/bounds.md)."""
    import math

    if math.isnan(v):
        return "no bound"
    return "yes" if v else "[red]no[/red]"


def _method_cells(m, i) -> list[str]:
    """One method's cells in row i of the per-mode table."""
    cells = _cell(m, i)
    if m.in_interval is not None:
        cells += [_ritz_cell(m, i), _in_interval(m.in_interval[i])]
    return cells


def _method_headers(m) -> list[str]:
    return [f"{m.run_label}\nE", "rel. err"] + (["Ritz E", "in interval"] if m.in_interval is not None else [])


def _text_width(text: str) -> int:
    """Terminal cells of the widest line of a cell (markup stripped)."""
    from rich.text import Text

    return max((Text.from_markup(line).cell_len for line in text.split("\n")), default=0)


def _wrap_header(head: str, width: int) -> str:
    """A header broken at spaces into lines of at most ``width`` cells (or its longest word),
    so that a column that never wraps is no wider than its cells."""
    import textwrap

    return "\n".join(part for line in head.split("\n")
                     for part in (textwrap.wrap(line, max(width, 1), break_long_words=False) or [""]))


def _block(headers: list[str], rows: list[list[str]]) -> tuple[list[str], int]:
    """The wrapped headers of a block of columns and the terminal cells it needs: each column
    as wide as its widest cell (numbers never wrap) or its header's longest word, plus padding
    and border."""
    wrapped, total = [], 0
    for j, head in enumerate(headers):
        cells = max((_text_width(r[j]) for r in rows), default=0)
        words = [w for line in head.split("\n") for w in line.split()] or [""]
        width = max([cells] + [len(w) for w in words])
        wrapped.append(_wrap_header(head, width))
        total += width + 3
    return wrapped, total


def _show_labels(comp) -> bool:
    return bool(comp.quantum_labels) and comp.labels_matched


def _fixed_headers(comp) -> list[str]:
    """Headers of the columns every part of the per-mode table repeats: #, labels, reference E."""
    return ["#"] + (["(" + ", ".join(comp.quantum_labels) + ")"] if _show_labels(comp) else []) + ["reference E"]


def _fixed_rows(comp) -> list[list[str]]:
    return [[str(i + 1)] + ([", ".join(str(int(q)) for q in comp.quantum_numbers[i])] if _show_labels(comp) else [])
            + [_num(comp.reference_energies[i])] for i in range(comp.n_modes)]


def _method_groups(comp, width: int) -> list[list]:
    """The methods split into consecutive groups whose per-mode columns fit ``width`` next to
    the ``#``, label and reference columns (at least one method a group)."""
    fixed = _block(_fixed_headers(comp), _fixed_rows(comp))[1] + 2  # + the left border, and a margin
    groups, used = [[]], fixed
    for m in comp.methods:
        need = _block(_method_headers(m), [_method_cells(m, i) for i in range(comp.n_modes)])[1]
        if groups[-1] and used + need > width:
            groups.append([])
            used = fixed
        groups[-1].append(m)
        used += need
    return groups


def _mode_table(comp, methods=None, caption: bool = True) -> Table:
    """The per-mode table of ``methods`` (default all of ``comp.methods``). Numeric columns never
    wrap (a number split over two lines, ``1.00`` / ``022``, misreads): :func:`print_comparison`
    splits many sources over several tables instead."""
    methods = comp.methods if methods is None else methods
    table = Table(caption_justify="left", caption=_caption(comp) if caption and comp.methods else None)
    fixed, _ = _block(_fixed_headers(comp), _fixed_rows(comp))
    for head in fixed:
        table.add_column(head, justify="left" if head.startswith("(") else "right", no_wrap=True)
    for m in methods:
        headers, _ = _block(_method_headers(m), [_method_cells(m, i) for i in range(comp.n_modes)])
        for head in headers:
            table.add_column(head, justify="left" if head.startswith("in") else "right", no_wrap=True)
    for i, row in enumerate(_fixed_rows(comp)):
        for m in methods:
            row += _method_cells(m, i)
        table.add_row(*row)
    return table


def _mode_tables(comp, width: int) -> list[Table]:
    """The per-mode table, split by sources (:func:`_method_groups`) to fit ``width`` terminal
    cells without wrapping a number; the caption under the last."""
    groups = _method_groups(comp, width)
    return [_mode_table(comp, g, caption=k == len(groups) - 1) for k, g in enumerate(groups)]


def _no_wrap(table: Table, keep_wrapping=(0,)) -> Table:
    """Numeric columns of a table never wrap (every column but those in ``keep_wrapping``, which fold)."""
    for j, column in enumerate(table.columns):
        if j in keep_wrapping:
            column.overflow = "fold"
        else:
            column.no_wrap = True
    return table


def _verdict_cell(m) -> str:
    """The results file's own per-mode verdict, e.g. ``"3/5 modes (verdict)"`` (red when some mode
    failed), or ``"—"`` for a file without one; a table of grid solvers' "yes" must not read as if
    an unconverged run were fine."""
    from ..files.results import load

    try:
        converged = load(m.path).converged
    except Exception:  # noqa: BLE001 - the cell is informative only; the comparison already loaded the file
        converged = None
    if converged is None:
        return "—"
    n, total = sum(bool(c) for c in converged), len(converged)
    text = f"{n}/{total} modes (verdict)"
    return text if n == total else f"[red]{text}[/red]"


#: What the summary's "peak memory" column of a grid solve means (nsvd_cli.baselines.memory.PeakMemory).
PEAK_MEMORY_NOTE = ("peak memory: what the solve needed beyond what the process held before it (the rise of the "
                    "resident set after the heap's free pages were returned, or the traced NumPy/SciPy allocations, "
                    "whichever is larger; a solver's one-time initialisation excluded); below ~1 MiB it is at the "
                    "measurement's resolution")


def _summary_table(comp) -> Table:
    grid = any(m.kind == "grid" for m in comp.methods)
    summary = Table(title="methods", title_justify="left", caption_justify="left",
                    caption=PEAK_MEMORY_NOTE if grid else None)
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
            conv, method = (f"[red]no[/red] ({m.note})" if m.note else _verdict_cell(m)), m.run_label
        summary.add_row(method, size, iters, _num(m.wall_time, "{:.2f} s"), _bytes(m.peak_memory),
                        _num(m.mean_relative_error, "{:.2e}"), conv)
    return summary


def _eigenfunction_table(neural) -> Table:
    from ..metrics import nanmean

    grid_label = next((m.grid_comparison for m in neural if m.grid_comparison), "")
    t = Table(title="eigenfunctions of the results files: on their own quadrature rule (the metrics solve "
                    "stored)" + (f" and against the {grid_label} eigenvectors" if grid_label else ""),
              title_justify="left", caption_justify="left",
              caption="gap err: mean |ΔE − ΔE_ref|/max(ΔE_ref, Δ/10) of the excitation energies ΔE = E_l − E_1 (Δ the mean level spacing); "
                      "± one Monte Carlo standard error (Monte Carlo rules)")
    t.add_column("results file")
    for name in ("rel. err λ", "gap err", "angle", "subspace", "orthogonality"):
        t.add_column(name, justify="right")
    if grid_label:
        for name in ("angle (grid)", "subspace (grid)", "orthogonality (grid)"):
            t.add_column(name, justify="right")
    from ..methods import ORTHOGONAL_BY_CONSTRUCTION

    marked = False
    for m in neural:
        s = m.evaluation.summary()
        by_construction = ORTHOGONAL_BY_CONSTRUCTION.get(m.training_method, False)
        marked |= by_construction
        row = [m.run_label, _num(s.get("mean_relative_error"), "{:.2e}"),
               with_stderr(s.get("mean_gap_relative_error"), s.get("mean_gap_relative_error_stderr"), "{:.2e}"),
               _num(s.get("mean_angle_distance"), "{:.2e}"), _num(s.get("mean_subspace_distance"), "{:.2e}"),
               with_stderr(s.get("orthogonality"), s.get("orthogonality_stderr"), "{:.2e}") + ("*" if by_construction
                                                                                              else "")]
        if grid_label:
            if m.grid_comparison:
                row += [_num(nanmean(m.angle_distances), "{:.2e}"),
                        _num(nanmean(m.subspace_distances), "{:.2e}"), _num(m.orthogonality, "{:.2e}")]
            else:
                row += ["—"] * 3
        t.add_row(*row)
    if marked:
        t.caption += ("; *: orthonormal by construction (the evaluation's Rayleigh–Ritz rotation for lora, "
                      "Cholesky factor for spin): says nothing about the training")
    return t


def print_comparison(comp) -> None:
    """Print the per-mode table, the per-method summary and (for results files) the
    eigenfunction metrics of a :class:`~nsvd_cli.comparison.Comparison`."""
    spec = comp.spec
    grid = ""  # the grid box and order only where a grid baseline ran
    if any(m.kind == "grid" for m in comp.methods):
        grid = "; grid box " + ", ".join(f"[{lo:g}, {hi:g}]" for lo, hi in comp.box) + f", order {comp.order}"
    console.print(f"[bold]{spec.name}[/bold]: energies E of H = −{spec.kinetic:g}∇² + V; reference: "
                  f"{_reference_line(comp)}{grid}", highlight=False, soft_wrap=True)
    for table in _mode_tables(comp, console.width):
        console.print(table)
    if comp.methods:  # a problem alone: the reference only, no method to summarise
        console.print(_no_wrap(_summary_table(comp), keep_wrapping=(0, 1, 6)))  # method, grid size, converged fold
    neural = [m for m in comp.methods if m.kind == "neural"]
    if neural:
        console.print(_no_wrap(_eigenfunction_table(neural)))
