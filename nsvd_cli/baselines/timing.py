"""Wall time of an ``eigsh`` grid solve, estimated before building anything.

Shift-invert ``eigsh`` (:mod:`nsvd_cli.baselines.eigen`) spends its time in two places: the
sparse LU factorisation of ``H - sigma I`` (twice: once for the lowest level, once closer to
it) and about a hundred ARPACK solves with the factors. For a ``d``-dimensional grid of
``n = N^d`` points, nested-dissection theory (George 1973; Lipton, Rose & Tarjan 1979) gives
separators of ``n^((d-1)/d)`` points and factorisation work ``O(n^(3(d-1)/d))``: ``n^1.5``
in 2D, ``n^2`` in 3D, ``n^2.5`` in 6D — so a 6D grid of only 7 points per axis (117 649
points, a few GiB) takes hours although it fits in memory. The model is

    t(n, d) = a n + c_d n^(3 (d - 1) / d)        (1D: t = a n, a banded LU)

with ``a`` (the solves) and ``c_d`` (the factorisation) fitted to ``eigsh`` on the harmonic
oscillator grids (order 2, 7 levels, one thread, the 2-core development machine of this
project, ``OMP_NUM_THREADS=1``, ``solve_grid(H, 7, "eigsh")`` on ``grid_hamiltonian(|x|^2, [-5, 5]^d, N)``):

* 2D, N = 100, 200, 400 (n = 1e4 ... 1.6e5): measured 0.47, 2.7, 13.7 s; model 0.44, 2.3, 13.7 s
* 3D, N = 16, 24, 32: measured 0.70, 4.2, 27.1 s; model 0.53, 5.1, 27.1 s
* 4D, N = 6, 8, 10: measured 0.14, 1.3, 8.6 s; model 0.12, 1.2, 8.6 s
* 5D, N = 5, 6: measured 1.2, 11.3 s; model 1.3, 11.3 s
* 6D, N = 3, 4, 5 (n = 729, 4096, 15625): measured 0.11, 4.1, 121 s; model 0.03, 4.3, 121 s
  (N = 7, 117 649 points: ~5 h)

Other machines differ by a constant factor (cores, memory bandwidth); the exponent — what
makes the difference between a minute and a day — does not. lobpcg and dense are not
modelled (their time depends on convergence, or they are capped by size already).
"""

from __future__ import annotations

import math

__all__ = ["estimate_eigsh_seconds", "format_seconds", "SOLVE_SECONDS_PER_POINT", "C_FACTOR", "TIME_BUDGET"]

#: ``a``: seconds per grid point of the ~100 ARPACK shift-invert solves (fitted).
SOLVE_SECONDS_PER_POINT = 3e-5
#: ``c_d``: seconds per ``n^(3(d-1)/d)`` of the LU factorisations, by dimension (fitted;
#: D > 6 taken as 6D's).
C_FACTOR = {2: 1.39e-7, 3: 2.43e-8, 4: 8.3e-9, 5: 5.1e-9, 6: 3.94e-9}
#: Seconds of an eigsh solve that a suggested grid must stay within (``nsvd compare`` hints).
TIME_BUDGET = 60.0


def factorisation_exponent(dimension: int) -> float:
    """``3 (d - 1) / d`` (nested dissection), 1 in 1D."""
    return 1.0 if dimension <= 1 else 3.0 * (dimension - 1) / dimension


def estimate_eigsh_seconds(n_total: int, dimension: int) -> float:
    """Estimated wall time (s) of a shift-invert eigsh solve of an ``n_total``-point grid (module docstring).

    Parameters
    ----------
    n_total : int
        Grid points ``n = N^d`` (matrix size).
    dimension : int
        ``d`` >= 1.

    Returns
    -------
    float
        ``a n + c_d n^(3(d-1)/d)`` seconds on one thread of the reference machine.
    """
    n = float(n_total)
    t = SOLVE_SECONDS_PER_POINT * n
    if dimension >= 2:
        t += C_FACTOR[min(dimension, 6)] * n ** factorisation_exponent(dimension)
    return t


def format_seconds(t: float) -> str:
    """``40 s``, ``12 min``, ``5.2 h``, ``3.1 days``, ``2e+04 years`` (2 significant digits)."""
    if not math.isfinite(t):
        return "forever"
    for unit, size in (("years", 3.15e7), ("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if t >= 2 * size:
            return f"{t / size:.2g} {unit}"
    return f"{t:.2g} s"
