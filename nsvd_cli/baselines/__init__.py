"""Classical baselines for the lowest eigenstates of ``H = -kappa * Laplacian + V``.

* :mod:`nsvd_cli.baselines.grid`: finite-difference discretisation on a tensor grid;
* :mod:`nsvd_cli.baselines.eigen`: its eigensolvers, ARPACK shift-invert (``eigsh``),
  :func:`torch.lobpcg` or dense ``eigh``, with residuals and progress reports;
* :mod:`nsvd_cli.baselines.memory`: memory estimates and limits of grid solves;
* :mod:`nsvd_cli.baselines.reference`: the cached order-4 grid reference of a problem.
"""

from ..errors import GridError
from .eigen import GridProgress, GridSolution, energy_scale, gershgorin_bounds, require_converged, solve_grid
from .grid import DEFAULT_TOL, DENSE_MAX_POINTS, METHODS, grid_for_spec, grid_hamiltonian
from .memory import available_memory, check_memory, estimate_memory

__all__ = [
    "DEFAULT_TOL",
    "DENSE_MAX_POINTS",
    "METHODS",
    "GridError",
    "GridProgress",
    "GridSolution",
    "available_memory",
    "check_memory",
    "energy_scale",
    "estimate_memory",
    "gershgorin_bounds",
    "grid_for_spec",
    "grid_hamiltonian",
    "require_converged",
    "solve_grid",
]
