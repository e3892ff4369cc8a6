"""Classical baselines for the lowest eigenstates of ``H = -kappa * Laplacian + V``.

:mod:`nsvd_cli.baselines.grid`: finite differences on a tensor grid, solved with ARPACK
shift-invert (``eigsh``), :func:`torch.lobpcg` or dense ``eigh``.
"""

from .grid import (
    DEFAULT_TOL,
    DENSE_MAX_POINTS,
    METHODS,
    GridError,
    GridSolution,
    available_memory,
    check_memory,
    estimate_memory,
    grid_for_spec,
    grid_hamiltonian,
    require_converged,
    solve_grid,
)

__all__ = [
    "DEFAULT_TOL",
    "DENSE_MAX_POINTS",
    "METHODS",
    "GridError",
    "GridSolution",
    "available_memory",
    "check_memory",
    "estimate_memory",
    "grid_for_spec",
    "grid_hamiltonian",
    "require_converged",
    "solve_grid",
]
