"""``nsvd plot``: figures from results files (``nsvd solve``) and compare files (``nsvd compare -o``)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from .console import error_boundary, fail, stderr_console


class FigureName(str, Enum):
    eigenfunctions = "eigenfunctions"
    errors = "errors"
    orthogonality = "orthogonality"
    spectrum = "spectrum"
    training = "training"
    resolution = "resolution"


class Format(str, Enum):
    png = "png"
    pdf = "pdf"
    svg = "svg"


_WHY_NOT = {
    "resolution": "needs a compare file with grid baselines (nsvd compare ... --grid ... -o cmp.h5)",
    "errors": "needs a reference (the problem has none) or a compare file with per-mode errors",
    "training": "the results file has no training history",
}


def _parse_slice(text: Optional[str]):
    if text is None:
        return None
    parts = text.replace(" ", "").split(",")
    try:
        axes = tuple(int(p) for p in parts)
    except ValueError:
        axes = ()
    if len(axes) != 2 or axes[0] == axes[1] or min(axes) < 0:
        fail(f"--slice: expected two different axis indices 'i,j' (0-based), got {text!r}")
    return axes


#: Suffixes of image files: ``-o`` names a folder, so ``-o plots/x.png`` is refused (it would
#: otherwise create a folder named ``x.png``).
IMAGE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".eps", ".ps", ".tif", ".tiff", ".gif", ".webp")


def _check_output_dir(output_dir: Optional[Path]) -> None:
    """Refuse, before any work, an ``-o`` that cannot be the figures' folder: an existing file
    (or a path under one), or a name with an image file's suffix unless that folder exists."""
    if output_dir is None or output_dir.is_dir():
        return
    blocking = next((p for p in (output_dir, *output_dir.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        fail(f"-o/--output-dir: {blocking} is a file, but -o names the folder the figures go to (each is named "
             f"STEM-KIND.FORMAT); give a folder, e.g. -o {blocking.parent / 'plots'}")
    if output_dir.suffix.lower() not in IMAGE_SUFFIXES:
        return
    fail(f"-o/--output-dir: {output_dir} looks like an image file, but -o names the folder the figures go to "
         f"(each is named STEM-KIND.FORMAT); give a folder, e.g. -o {output_dir.parent}, and --format "
         f"{output_dir.suffix.lower().lstrip('.')} for the format")


def _check_slice(axes, text: Optional[str], inputs, names) -> None:
    """``--slice`` axes must lie below the dimension of every results file drawn as eigenfunctions."""
    from ..plotting import CompareData

    if axes is None or "eigenfunctions" not in names:
        return
    for p, d in inputs:
        dim = None if isinstance(d, CompareData) else d.spec.dimension
        if dim is not None and dim > 1 and max(axes) >= dim:
            fail(f"--slice: expected two different axis indices 'i,j' (0-based) below D = {dim} of {p}, got {text!r}")


def distinct_stems(paths, folders=None) -> list[str]:
    """Figure-name stems of input files, distinct where two would share an output folder.

    A file keeps its stem (``runs/h.h5`` -> ``h``) unless another input with the same stem
    writes to the same folder (``folders[k]``; default: all one folder); those get their
    parent folder's name in front (``d1/r.h5``, ``d2/r.h5`` -> ``d1_r``, ``d2_r``) and, if that
    is still not enough, their position among the inputs (``d_r_1``, ``d_r_2``)."""
    paths = [Path(p) for p in paths]
    folders = [Path(f).resolve() for f in folders] if folders is not None else [Path(".")] * len(paths)

    def clashing(stems):
        seen = {}
        for k, key in enumerate(zip(folders, stems)):
            seen.setdefault(key, []).append(k)
        return {k for ks in seen.values() if len(ks) > 1 for k in ks}

    stems = [p.stem for p in paths]
    for rename in (lambda k, st: f"{paths[k].resolve().parent.name}_{st}".lstrip("_"),
                   lambda k, st: f"{st}_{k + 1}"):
        clash = clashing(stems)
        stems = [rename(k, st) if k in clash else st for k, st in enumerate(stems)]
    return stems


def _combined_stem(paths) -> str:
    stems = distinct_stems(paths)
    if len(stems) <= 3:
        return "_vs_".join(stems)
    return f"{stems[0]}_and_{len(stems) - 1}_more"


def _check_same_problem(runs) -> None:
    """Results files drawn side by side must be of one problem (same modes, same reference)."""
    first = runs[0][1].spec
    for p, d in runs[1:]:
        if (d.spec.potential, d.spec.dimension, d.spec.kinetic) != (first.potential, first.dimension, first.kinetic):
            fail(f"--what errors: {p} is a different problem ({d.spec.name}) from {runs[0][0]} "
                 f"({first.name}); plot them separately")


def plot_command(
    files: Annotated[List[Path], typer.Argument(
        help="Results files (from nsvd solve) and/or compare files (from nsvd compare -o).", show_default=False)],
    what: Annotated[Optional[List[FigureName]], typer.Option(
        "--what", "-w", help="Figure kind; repeat for several. Default: every kind that applies to the inputs.",
        show_default=False)] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="File format.")] = Format.png,
    output_dir: Annotated[Optional[Path], typer.Option(
        "-o", "--output-dir", help="Folder for the figures (created). Default: next to each input file. A name with "
        "an image suffix (-o plots/x.png) is refused unless that folder exists: figures are named STEM-KIND.FORMAT "
        "in the folder.",
        show_default=False)] = None,
    dpi: Annotated[int, typer.Option(min=20, max=1200, help="Resolution (dots per inch) of PNG output.")] = 120,
    extent: Annotated[Optional[float], typer.Option(
        help="eigenfunctions: half-width of the plotting window, centred at the origin. "
        "Default: a window in the evaluation box holding >= 99 % of every mode's density.",
        show_default=False)] = None,
    slice_axes: Annotated[Optional[str], typer.Option(
        "--slice", help="eigenfunctions, D >= 3: the two axes 'i,j' (0-based) of the slice through the origin.",
        show_default=False)] = None,
    threads: Annotated[Optional[int], typer.Option(
        help="Threads (torch, OpenMP, BLAS). Default: OMP_NUM_THREADS if set, else the free cores (cores minus "
             "load).", show_default=False)] = None,
):
    """Draw figures of results and compare files; print the files written.

    Figures go to FOLDER/STEM-KIND.FORMAT, e.g. runs/h2d-eigenfunctions.png;
    several results files with --what errors give one figure with the runs side by side,
    STEM1_vs_STEM2-errors.FORMAT (runs of different shifts: energy errors of H). Figures
    are derived outputs: existing figure files of the same name are replaced; an existing
    file that is not a figure of the format, or a file given twice, is refused.

    Kinds: eigenfunctions (learned vs reference, Procrustes-aligned), errors (per-mode
    relative error and angle distance), orthogonality (Gram matrix), spectrum (Rayleigh and
    norm eigenvalue estimates), training (loss and eigenvalues vs iteration), resolution
    (compare files: grid baselines vs grid size).
    """
    with error_boundary():
        from .parallel import apply_threads

        apply_threads("plot", threads)  # before numpy, scipy and torch start their pools
        axes = _parse_slice(slice_axes)
        _check_output_dir(output_dir)
        if extent is not None and not extent > 0:
            fail(f"--extent: must be > 0, got {extent}")
        from ..plotting import FIGURE_KINDS, CompareData, applies, load_input, save_figures

        _check_distinct_inputs(files)
        inputs = [(Path(p), load_input(p)) for p in files]
        requested = list(dict.fromkeys(w.value for w in what)) if what else None
        names = requested or list(FIGURE_KINDS)
        _check_slice(axes, slice_axes, inputs, names)
        runs = [(p, d) for p, d in inputs if not isinstance(d, CompareData) and applies("errors", d)]
        combine = len(runs) > 1 and "errors" in names
        if combine:
            _check_same_problem(runs)
        options = {"eigenfunctions": {"extent": extent, "slice_axes": axes}}

        jobs, notes = _plan(inputs, names, bool(requested), runs if combine else None, output_dir, options)
        _check_outputs(jobs, [p for p, _ in inputs], fmt.value)
        for name in requested or []:
            if not any(j[2] == name for j in jobs):
                fail(f"--what {name}: {_why_not(name, inputs[0][1])}")
        if not jobs:
            fail("nothing to plot for the given files")
        for note in notes:
            stderr_console.print(f"[yellow]note:[/yellow] {note}", highlight=False)
        _warn_far_extent(jobs, inputs, extent)
        for folder, stem, name, build, source in jobs:
            try:
                fig = build()
            except ValueError as err:
                fail(f"{name} ({source}): {err}")
            try:
                written = save_figures({name: fig}, folder, stem, fmt=fmt.value, dpi=dpi)
            except OSError as err:  # disk full, folder made read-only meanwhile: the old figure is intact
                fail(f"cannot write {Path(folder) / f'{stem}-{name}.{fmt.value}'}: {err.strerror or err}", code=1)
            for path in written:
                typer.echo(str(path))


def _plan(inputs, names, requested: bool, combined_runs, output_dir, options) -> tuple[list, list]:
    """The figures to draw, ``[(folder, stem, kind, builder, source file)]``, and the notes on
    requested kinds skipped for an input.  ``combined_runs``: the results files drawn side by
    side in one errors figure (None: each file its own)."""
    from ..plotting import FIGURES, CompareData, applies

    jobs, notes = [], []
    folders = [output_dir if output_dir is not None else p.parent for p, _ in inputs]
    for (p, d), folder, stem in zip(inputs, folders, distinct_stems([p for p, _ in inputs], folders)):
        for name in names:
            if name == "errors" and combined_runs and not isinstance(d, CompareData):
                continue
            if applies(name, d):
                kw = options.get(name, {})
                jobs.append((folder, stem, name, lambda f=FIGURES[name], d=d, kw=kw: f(d, **kw), p))
            elif requested:
                notes.append(f"{name} skipped for {p}: {_why_not(name, d)}")
    if combined_runs:
        folder = output_dir if output_dir is not None else combined_runs[0][0].parent
        paths = [p for p, _ in combined_runs]
        jobs.append((folder, _combined_stem(paths), "errors",  # labels: stems, method, seeds pooled
                     lambda: FIGURES["errors"]([d for _, d in combined_runs]), paths[0]))
    return jobs, notes


def _check_outputs(jobs, inputs, fmt: str) -> None:
    """Every check of the figure paths before drawing: not over an input, only figures
    replaced, folders writable and no path twice."""
    _check_not_over_inputs(jobs, inputs, fmt)
    _check_replaceable(jobs, fmt)
    _check_writable(jobs, fmt)


def _check_not_over_inputs(jobs, inputs, fmt: str) -> None:
    """Refuse, before drawing, a figure whose file would replace one of the input files (an
    HDF5 file named like a figure, e.g. ``h-spectrum.png`` next to ``h.h5``)."""
    from .console import refuse_output_over_input

    for folder, stem, name, _, _ in jobs:
        refuse_output_over_input(Path(folder) / f"{stem}-{name}.{fmt}", inputs, "-o/--output-dir",
                                 f"the {name} figure", "give -o another folder, or rename that input")


def _check_distinct_inputs(files) -> None:
    """Refuse a file given twice (the same path, or one file under two names: a link, ``./a.h5``
    and ``a.h5``): side by side it would pass for two runs (fake seed statistics with zero
    spread). Two files with equal contents under different names stay two series."""
    from .console import same_file

    for k, b in enumerate(files):
        for a in files[:k]:
            if same_file(a, b):
                same = "" if str(a) == str(b) else f" (as {a} and {b})"
                fail(f"{b}: the same file is given twice{same}; give each results file once")


def _check_replaceable(jobs, fmt: str) -> None:
    """Refuse, before drawing, an existing output path that is not a figure of format ``fmt``
    (e.g. a results file named ``q-spectrum.png``): only figures are replaced."""
    from ..plotting import is_figure_file

    for folder, stem, name, _, _ in jobs:
        path = Path(folder) / f"{stem}-{name}.{fmt}"
        if path.exists() and not is_figure_file(path, fmt):
            what = "a folder" if path.is_dir() else f"not a {fmt.upper()} figure"
            fail(f"{path} exists and is {what}; plot replaces only figures: move it, or give -o another folder")


def _check_writable(jobs, fmt: str) -> None:
    """Refuse, before drawing, figures whose folder cannot be created or written (read-only
    file system, no permission), or two figures of one call at the same path; the folder check
    is :func:`nsvd_cli.solve.check_output`, the one ``nsvd solve`` and ``nsvd compare`` use."""
    from ..errors import NsvdError
    from ..solve import check_output

    paths = [Path(folder) / f"{stem}-{name}.{fmt}" for folder, stem, name, _, _ in jobs]
    twice = next((p for k, p in enumerate(paths) if p in paths[:k]), None)
    if twice is not None:
        fail(f"two figures of this call would both be written to {twice}; plot the inputs separately or give -o")
    checked = set()
    for path in paths:
        if path.parent in checked:
            continue
        checked.add(path.parent)
        try:
            check_output(path, overwrite=True, derived=False)
        except NsvdError as err:
            fail(f"-o/--output-dir: {getattr(err, 'message', err)}")


def _warn_far_extent(jobs, inputs, extent) -> None:
    """One warning line per problem drawn as eigenfunctions when ``--extent`` reaches far
    beyond its evaluation box (:func:`nsvd_cli.plotting.eigenfunctions.extent_warning`)."""
    from ..plotting.eigenfunctions import extent_warning

    drawn = {source for _, _, name, _, source in jobs if name == "eigenfunctions"}
    said = set()
    for p, d in inputs:
        line = extent_warning(d.spec, extent) if p in drawn else None
        if line and line not in said:
            said.add(line)
            stderr_console.print(f"[yellow]warning:[/yellow] {line}", highlight=False, soft_wrap=True)


def _why_not(name: str, data) -> str:
    from ..plotting import CompareData

    if isinstance(data, CompareData) and name not in ("resolution", "errors"):
        return "needs a results file (nsvd solve); this is a compare file"
    return _WHY_NOT.get(name, "does not apply")
