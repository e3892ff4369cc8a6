"""Memory of grid solves: estimate before building, refuse above a limit, measure the peak.

:func:`estimate_memory` models what a grid Hamiltonian and each eigensolver of
:mod:`nsvd_cli.baselines.eigen` need; :func:`check_memory` refuses (``GridError`` with
``parameter="max_memory"``) before anything is allocated; :class:`PeakMemory` measures the
rise of the resident memory during a solve.
"""

from __future__ import annotations

import math
import os
import resource
import sys
import threading
import tracemalloc

from ..errors import GridError
from .grid import METHODS

__all__ = ["estimate_memory", "available_memory", "check_memory", "largest_grid", "format_bytes", "PeakMemory",
           "lobpcg_block", "release_free_memory"]

_GIB = 2.0**30


def _lu_fill(n_total: int, nnz_per_row: int, dimension: int) -> float:
    """Estimated nonzeros of the sparse LU factors of ``H - sigma I`` (see estimate_memory)."""
    if dimension <= 1:
        return float(n_total * nnz_per_row)
    lg = math.log2(max(n_total, 2))
    if dimension == 2:
        return 0.25 * n_total * lg * lg * max(1.0, nnz_per_row / 5)
    return 0.7 * n_total ** (5.0 / 3.0) * max(1.0, nnz_per_row / 7)


def lobpcg_block(n_modes: int) -> int:
    return n_modes + max(2, n_modes // 4)


def estimate_memory(n_total: int, n_modes: int, method: str, nnz_per_row: int = 5, *, dimension: int = 2,
                    include_matrix: bool = True) -> int:
    """Rough upper estimate (bytes) of the memory a grid solve needs.

    Counts the CSR matrix (12 bytes per nonzero, ``include_matrix``; built through
    temporaries of about twice that), the ``L`` eigenvectors (``8 N L``) and the
    method's workspace:

    * ``eigsh``: the CSC copy of ``H - sigma I``, ARPACK's Lanczos basis
      (``ncv = max(2L + 1, 20)`` vectors) and the sparse LU factors (16 bytes per nonzero).
      Fill-in grows faster than ``N``: nested dissection gives ``O(N log N)`` nonzeros in
      2D and ``O(N^{4/3})`` in 3D; SuperLU's minimum-degree ordering used here measured
      ``~0.21-0.23 N log2(N)^2`` in 2D (``N <= 4e4``, 5-point stencil) and ``~0.5-0.7
      N^{5/3}`` in 3D (7-point), so the estimate uses ``0.25 N log2(N)^2`` (2D),
      ``0.7 N^{5/3}`` (D >= 3) and the band, ``N * nnz_per_row``, in 1D.
    * ``lobpcg``: the torch COO copy (24 bytes per nonzero) and about ten dense blocks of
      ``N x (L + max(2, L // 4))`` (search basis ``[X, P, W]`` and temporaries).
    * ``dense``: the dense matrix and ``eigh`` workspace, ``~3 * 8 N^2``.

    Parameters
    ----------
    n_total : int
        Number of grid points ``N`` (matrix size).
    n_modes : int
        Number ``L`` of eigenpairs.
    method : {"eigsh", "lobpcg", "dense"}
    nnz_per_row : int
        Stencil size: ``2 D + 1`` (order 2) or ``4 D + 1`` (order 4).
    dimension : int
        Spatial dimension ``D`` (fill-in model of the LU factors).
    include_matrix : bool
        Whether to count building and storing ``H`` itself.

    Returns
    -------
    int
        Bytes.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    n, L = int(n_total), int(n_modes)
    nnz = n * nnz_per_row
    total = 8.0 * n * L
    if include_matrix:
        total += 3 * (12.0 * nnz + 4.0 * n) + 8.0 * n * (dimension + 1)
    if method == "eigsh":
        total += 12.0 * nnz + 8.0 * n * max(2 * L + 1, 20) + 16.0 * _lu_fill(n, nnz_per_row, dimension)
    elif method == "lobpcg":
        total += 24.0 * nnz + 10 * 8.0 * n * lobpcg_block(L)
    else:
        total += 3 * 8.0 * n * n
    return int(total)


def available_memory() -> int | None:
    """Memory available to new allocations (bytes): ``MemAvailable`` of /proc/meminfo, else
    psutil's ``virtual_memory().available``, else ``None`` (unknown: no limit)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 - psutil missing or unsupported platform
        return None


def check_memory(n_total: int, n_modes: int, method: str, *, nnz_per_row: int = 5, dimension: int = 2,
                 max_memory: float | None = None, n_points=None, include_matrix: bool = True) -> int:
    """Refuse a grid solve whose estimated memory exceeds a limit.

    Parameters
    ----------
    n_total, n_modes, method, nnz_per_row, dimension, include_matrix
        As for :func:`estimate_memory`.
    max_memory : float, optional
        Limit in bytes; default :func:`available_memory` (no check if unknown).
    n_points : int, optional
        Points per axis, only for the message.

    Returns
    -------
    int
        The estimate (bytes).

    Raises
    ------
    GridError
        ``parameter="max_memory"``: ``"grid N=... needs ~X GiB ..., above the limit Y GiB"``.
    """
    need = estimate_memory(n_total, n_modes, method, nnz_per_row, dimension=dimension,
                           include_matrix=include_matrix)
    limit = available_memory() if max_memory is None else float(max_memory)
    if limit is not None and need > limit:
        what = f"N={n_points} ({n_total} points)" if n_points is not None else f"of {n_total} points"
        if n_points is not None and dimension >= 4:
            what = f"N={n_points} in D = {dimension} ({n_points}^{dimension} = {n_total:.3g} points)"
        src = " (available memory)" if max_memory is None else ""
        hint = ""
        if n_points is not None:
            hint = _fitting_grids(dimension, n_modes, method, limit, nnz_per_row, n_points)
        raise GridError(f"grid {what} needs ~{format_bytes(need)} for {method} with {n_modes} modes, above the "
                        f"limit {format_bytes(limit)}{src}{hint}", parameter="max_memory")
    return need


def _fitting_grids(dimension, n_modes, method, limit, nnz_per_row, n_points) -> str:
    """The hint of a memory refusal: the largest N that fits memory and, for eigsh, the time
    budget :data:`nsvd_cli.baselines.timing.TIME_BUDGET` (estimated), both named."""
    from .timing import TIME_BUDGET, estimate_eigsh_seconds, factorisation_exponent, format_seconds

    memory_fit = largest_grid(dimension, n_modes, method, limit, nnz_per_row=nnz_per_row, upto=n_points)
    tail = "; without --baseline, results files are compared with the reference alone" if dimension >= 4 else ""
    if not memory_fit:
        return "; no grid fits" + tail
    if method != "eigsh":
        return f"; N <= {memory_fit} per axis fits" + tail
    fit = largest_grid(dimension, n_modes, method, limit, nnz_per_row=nnz_per_row, upto=n_points,
                       seconds=TIME_BUDGET)
    if fit == memory_fit:
        return (f"; N <= {fit} per axis fits (memory, and eigsh ~{format_seconds(estimate_eigsh_seconds(fit**dimension, dimension))} "
                f"estimated)" + tail)
    slow = format_seconds(estimate_eigsh_seconds(memory_fit**dimension, dimension))
    p = factorisation_exponent(dimension)
    if not fit:
        return (f"; N <= {memory_fit} per axis fits memory, but eigsh would take ~{slow} there (sparse LU ~ "
                f"n^{p:.3g} in D = {dimension}, estimated) and no grid solves within {TIME_BUDGET:g} s" + tail)
    return (f"; N <= {fit} per axis fits memory and ~{TIME_BUDGET:g} s of eigsh (N <= {memory_fit} fits memory alone, "
            f"but eigsh would take ~{slow} there: sparse LU ~ n^{p:.3g} in D = {dimension}, estimated)" + tail)


def format_bytes(n: float) -> str:
    """``23 GiB``, ``0.00012 GiB``; ``1.8e+09 PiB`` from 1 PiB up (3 significant digits)."""
    return f"{n / 2.0**50:.3g} PiB" if n >= 2.0**50 else f"{n / _GIB:.3g} GiB"


def largest_grid(dimension: int, n_modes: int, method: str, limit: float, *, nnz_per_row: int = 5,
                 upto: int | None = None, seconds: float | None = None) -> int:
    """Largest points per axis ``N`` whose grid solve (matrix included) fits ``limit`` bytes
    and, with ``seconds``, whose estimated ``eigsh`` wall time
    (:func:`nsvd_cli.baselines.timing.estimate_eigsh_seconds`) is within ``seconds``.

    Parameters
    ----------
    dimension, n_modes, method, nnz_per_row
        As for :func:`estimate_memory` (``N**dimension`` points).
    limit : float
        Bytes.
    upto : int, optional
        Search ``N <= upto`` only.
    seconds : float, optional
        Time budget of one solve; only ``eigsh`` is modelled (other methods: memory only).

    Returns
    -------
    int
        The largest fitting ``N >= 2``, or 0 when not even ``N = 2`` fits.
    """
    from .timing import estimate_eigsh_seconds

    def fits(n):
        if seconds is not None and method == "eigsh" and estimate_eigsh_seconds(n**dimension, dimension) > seconds:
            return False
        return estimate_memory(n**dimension, n_modes, method, nnz_per_row, dimension=dimension) <= limit

    cap = upto if upto is not None else 2**40
    if cap < 2 or not fits(2):
        return 0
    lo, hi = 2, 4
    while hi <= cap and fits(hi):
        lo, hi = hi, 2 * hi
    if hi > cap:
        if fits(cap):
            return cap
        hi = cap
    while hi - lo > 1:  # fits(lo), not fits(hi)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def _rss() -> int | None:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def release_free_memory() -> bool:
    """Return the C heap's free pages to the operating system (glibc ``malloc_trim(0)``).

    Memory an earlier solve freed stays in the process's heap; a later allocation reuses it
    without raising the resident set, so a solve measured by its rise would read ~0 (the
    peak-memory column of ``nsvd compare`` was not monotone in N: lobpcg 7.4 MiB at N = 100,
    0.1 MiB at N = 400 after the eigsh solve of N = 400 had freed its LU factors). After the
    trim, a reuse raises the resident set again. Returns whether the trim ran (False off glibc)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim(0)
        return True
    except (OSError, AttributeError):
        return False


def _maxrss() -> int:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(r) if sys.platform == "darwin" else int(r) * 1024


class PeakMemory:
    """Context manager measuring the peak memory of a block (see GridSolution).

    ``peak`` (bytes) is the larger of two figures: the rise of the process's resident set
    (``/proc/self/statm`` sampled every 5 ms, and ``ru_maxrss`` when the block set a new
    maximum), and the peak of the memory traced by :mod:`tracemalloc` during the block (NumPy
    and SciPy arrays: the sparse matrix, ARPACK's work arrays, the eigenvectors). The resident
    set alone misses a solve that reuses memory an earlier solve freed but the allocator kept
    (a second grid solve in one ``nsvd compare`` read 0 bytes); the trace alone misses memory
    allocated outside Python's allocators (torch tensors for ``lobpcg``). So that such memory
    raises the resident set, the heap's free pages are first returned to the operating system
    (:func:`release_free_memory`, glibc). What ``peak`` means: the memory the block needed
    beyond what the process held before it; one-time costs of a library's first call
    (torch's initialisation before the first lobpcg) are not a solve's and are paid before
    the measurement (:func:`nsvd_cli.baselines.eigen.solve_grid`).
    """

    def __enter__(self):
        release_free_memory()
        self.start = _rss() or 0
        self.max_before = _maxrss()
        self.sampled = self.start
        self._stop = threading.Event()
        self._thread = None
        self._own_trace = not tracemalloc.is_tracing()
        if self._own_trace:
            tracemalloc.start()
        tracemalloc.reset_peak()
        self._traced_start = tracemalloc.get_traced_memory()[0]
        if _rss() is not None:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.005):
            self.sampled = max(self.sampled, _rss() or 0)

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        traced = tracemalloc.get_traced_memory()[1] - self._traced_start
        if self._own_trace:
            tracemalloc.stop()
        self.sampled = max(self.sampled, _rss() or 0)
        after = _maxrss()
        peak = after if after > self.max_before else self.sampled
        self.peak = max(int(peak - self.start), int(traced), 0)
        return False


