"""Every file nsvd reads or writes, one module per format.

================  ==================================================================
module            contents
================  ==================================================================
``atomic``        :func:`atomic_path` / :func:`atomic_write`: the one atomic writer
                  (results and compare files, training checkpoints, grid-reference cache)
``hdf5``          what both HDF5 schemas share: header and its check
                  (:func:`~nsvd_cli.files.hdf5.open_nsvd_file`), group-id encoding,
                  :func:`~nsvd_cli.files.hdf5.file_format`
``results``       results files of ``nsvd solve``: :func:`write_results`, :func:`load`,
                  :class:`Results`
``compare``       compare files of ``nsvd compare -o``: :func:`write_comparison`,
                  :func:`load_compare`, :class:`CompareData`
================  ==================================================================

Each schema has its writer and reader side by side.  A file from another program, of the
other schema, of a newer format version, or damaged (truncated, any HDF5 read error, NaN or
inf in a results file's model weights or stored eigenvalues) raises a one-line
:class:`~nsvd_cli.errors.ResultsFileError` (the CLI: exit 2).  Importing this package imports
neither h5py nor torch; the names below load their module on first use.
"""

from __future__ import annotations

import importlib

from .atomic import atomic_path, atomic_write

__all__ = ["atomic_path", "atomic_write", "load", "Results", "write_results", "write_comparison", "load_compare",
           "CompareData", "CompareMethod", "file_format"]

_LAZY = {"load": "results", "Results": "results", "write_results": "results", "write_comparison": "compare",
         "load_compare": "compare", "CompareData": "compare", "CompareMethod": "compare", "file_format": "hdf5"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
