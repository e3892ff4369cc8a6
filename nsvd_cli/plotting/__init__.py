"""Figures from nsvd results files and compare files (``nsvd plot``).

One module per figure kind; each exposes a function ``data -> matplotlib.figure.Figure``:

================  ==========================  ==================================================
name              input                       shows
================  ==========================  ==================================================
eigenfunctions    Results                     learned vs reference eigenfunctions (Procrustes-aligned)
errors            Results, [Results], Compare per-mode relative error and angle distance
orthogonality     Results                     normalised Gram matrix of the learned functions
spectrum          Results                     Rayleigh-quotient and norm eigenvalue estimates
training          Results                     loss and eigenvalue estimates vs iteration
resolution        CompareData                 grid baselines' error and time vs grid size
================  ==========================  ==================================================

Figures are drawn on headless Agg canvases (no ``pyplot``, no change of the session's
backend). Importing :mod:`nsvd_cli` does not import this package.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from ..files.atomic import atomic_path
from ..files.compare import CompareData, load_compare
from .eigenfunctions import eigenfunctions_figure
from .errors import errors_figure
from .orthogonality import orthogonality_figure
from .resolution import resolution_figure
from .spectrum import spectrum_figure
from .training import training_figure

__all__ = ["FIGURES", "FIGURE_KINDS", "FigureKind", "save_figures", "is_figure_file", "load_input", "applies", "eigenfunctions_figure",
           "errors_figure", "orthogonality_figure", "spectrum_figure", "training_figure", "resolution_figure",
           "CompareData", "load_compare"]


@dataclass(frozen=True)
class FigureKind:
    """A figure kind: its function, what it reads, and a one-line description."""

    name: str
    function: Callable
    source: str  # "results" or "compare" (errors reads both)
    description: str


FIGURE_KINDS = {k.name: k for k in (
    FigureKind("eigenfunctions", eigenfunctions_figure, "results",
               "learned eigenfunctions above the reference, Procrustes-aligned per degenerate subspace"),
    FigureKind("errors", errors_figure, "results",
               "per-mode relative eigenvalue error and angle distance by degenerate subspace; runs side by side"),
    FigureKind("orthogonality", orthogonality_figure, "results", "normalised Gram matrix of the learned functions"),
    FigureKind("spectrum", spectrum_figure, "results",
               "Rayleigh-quotient and norm eigenvalue estimates vs the reference (incl. λ ≤ 0 modes)"),
    FigureKind("training", training_figure, "results", "loss and eigenvalue estimates vs iteration"),
    FigureKind("resolution", resolution_figure, "compare",
               "grid baselines' mean relative error and wall time vs grid size, neural runs as lines"),
)}

#: Figure name -> function building it.
FIGURES: dict[str, Callable] = {name: kind.function for name, kind in FIGURE_KINDS.items()}


def load_input(path):
    """Read a results file (-> Results) or a compare file (-> CompareData).

    Raises
    ------
    ResultsFileError
        If the file is missing or neither kind of nsvd file.
    """
    from ..files.hdf5 import COMPARE_FORMAT, file_format
    from ..files.results import load

    return load_compare(path) if file_format(path) == COMPARE_FORMAT else load(path)


def applies(name: str, data) -> bool:
    """Whether figure ``name`` can be drawn from ``data`` (Results or CompareData)."""
    if isinstance(data, CompareData):
        if name == "resolution":
            return any(m.grid > 0 for m in data.grid_methods)
        if name == "errors":
            return data.reference_energies is not None and any(m.relative_errors.size for m in data.methods)
        return False
    if name == "resolution":
        return False
    if name == "errors":
        return "relative_error" in data.metrics
    if name == "training":
        return len(data.history.get("iteration", ())) > 0
    return True


#: Leading bytes of a figure file of each format (SVG: see :func:`is_figure_file`).
MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF"}


def is_figure_file(path, fmt: str) -> bool:
    """Whether the existing file ``path`` may be replaced by a figure of format ``fmt``: it is a
    figure of that format by its leading bytes (PNG signature ``\\x89PNG\\r\\n\\x1a\\n``, PDF
    ``%PDF``; SVG: text starting, after whitespace, with ``<svg``, or with ``<?xml`` /
    ``<!DOCTYPE svg`` and an ``<svg`` element in its first 4 kB), or it is empty. False for a
    folder, an unreadable file, or anything else (a results file named ``x-spectrum.png``)."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    if not head:
        return True
    if fmt in MAGIC:
        return head.startswith(MAGIC[fmt])
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"<svg"):
        return True
    return text.startswith((b"<?xml", b"<!DOCTYPE svg")) and b"<svg" in text


def save_figures(figures: Mapping, folder, stem: str, *, fmt: str = "png", dpi: int = 120) -> list:
    """Write figures as ``<folder>/<stem>-<name>.<fmt>`` (replacing existing figures), each
    atomically (:func:`nsvd_cli.files.atomic.atomic_path`: a failed write leaves the old figure).

    Parameters
    ----------
    figures : mapping of str to Figure
        Figure name -> figure.
    folder : str or Path
        Output folder (created).
    stem : str
        File name prefix, e.g. the results file's stem.
    fmt : {"png", "pdf", "svg"}
    dpi : int
        Resolution of raster output (PNG; also raster parts of PDF/SVG). PNG files are
        written as opaque RGB.

    Returns
    -------
    list of Path
        The files written, in the order of ``figures``.

    Raises
    ------
    FileExistsError
        If an output path exists and is not a figure of format ``fmt`` (:func:`is_figure_file`),
        checked for every figure before any is written.
    OSError
        If a figure cannot be written (read-only folder, disk full); that figure's file is as before.
    """
    folder = Path(folder)
    paths = {name: folder / f"{stem}-{name}.{fmt}" for name in figures}
    for path in paths.values():
        if path.exists() and not is_figure_file(path, fmt):
            raise FileExistsError(f"{path} exists and is not a {fmt.upper()} figure; only figures are replaced")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fig in figures.items():
        path = paths[name]
        with atomic_path(path, overwrite=True) as tmp:  # a failed write leaves the old figure intact
            if fmt == "png":
                _save_png_rgb(fig, tmp, dpi)
            else:
                fig.savefig(tmp, format=fmt, dpi=dpi)
        written.append(path)
    return written


def _save_png_rgb(fig, path, dpi) -> None:
    """PNG without the (always opaque) alpha channel, optimised: ~15-25 % smaller files."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    buf.seek(0)
    with Image.open(buf) as im:
        im.convert("RGB").save(path, format="PNG", optimize=True)
