"""Compatibility module: results files now live in :mod:`nsvd_cli.files.results`."""

from .files.results import FORMAT, FORMAT_VERSION, Results, library_versions, load, write_results

__all__ = ["Results", "write_results", "load", "FORMAT", "FORMAT_VERSION", "library_versions"]
