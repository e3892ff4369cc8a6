"""Eigensolvers of grid Hamiltonians: ARPACK shift-invert, torch LOBPCG, dense ``eigh``.

:func:`solve_grid` computes the lowest eigenpairs of a symmetric grid matrix from
:mod:`nsvd_cli.baselines.grid` with

* ``"eigsh"``: ARPACK Lanczos in shift-invert mode (sparse LU of ``H - sigma I``),
* ``"lobpcg"``: :func:`torch.lobpcg` on a sparse tensor (the paper's grid baseline,
  J. J. Ryu et al., ICML 2024, App. A.3 and Fig. 6, for the 2D hydrogen atom),
* ``"dense"``: :func:`scipy.linalg.eigh` of the dense matrix (small grids only),

and reports residuals, iterations, wall time and peak memory (:class:`GridSolution`).

Residual measure
----------------
Every method is judged by the same relative residual
``r_l = ||H v_l - E_l v_l|| / (s_l ||v_l||)`` with the *energy scale*
``s_l = max(|E_l|, Delta, eps ||H||)``: ``Delta`` is the mean level spacing of the ``L``
computed levels (``(E_{L-1} - E_0) / (L - 1)``, 0 for one level) and ``||H||`` the
Gershgorin bound.  ``r_l`` bounds the energy error by ``r_l s_l``.  The floor ``Delta``
keeps a level at or near ``E = 0`` from being judged by a vanishing denominator, so that
adding a constant to the potential cannot turn a converged solve into a failed one
(issue 9, item 4).

Methods
-------
* ``"eigsh"``: :func:`scipy.sparse.linalg.eigsh` with ``which="LM"`` in
  shift-invert mode around ``sigma`` (ARPACK to machine precision, ``tol=0``).  The
  factorisation of ``H - sigma I`` is SuperLU in symmetric mode (minimum degree on
  ``A + A^T``, no pivoting) when ``sigma`` is below the Gershgorin lower bound
  (then ``H - sigma I`` is positive definite), else SuperLU's default.  Falls back
  to ``"dense"`` with a :class:`RuntimeWarning` when ``N_total < 3 L``.
* ``"lobpcg"``: :func:`torch.lobpcg` (float64, sparse COO tensor,
  ``largest=False``) from a seeded random block of ``L + max(2, L // 4)`` vectors
  (capped at ``N_total // 3``).  Stopping uses the relative residual below, checked
  every iteration (torch's own criterion, relative to a norm estimate of ``H``, is
  disabled).  Used as the grid baseline of the paper (App. A.3, Fig. 6).
* ``"dense"``: :func:`scipy.linalg.eigh` of ``H.toarray()`` (``N_total <=``
  :data:`DENSE_MAX_POINTS`).

lobpcg preconditioner ``"jacobi"``: ``diag(H - s I)^{-1}`` with ``s`` below the Gershgorin
bound (symmetric positive definite, as LOBPCG requires).  torch applies a
preconditioner (``iK``) only in its ``"basic"`` LOBPCG variant, which is used then;
the default ``"ortho"`` variant ignores ``iK``.  On uniform grids the diagonal is
nearly constant, so this does not pay: the ``"basic"`` variant needs several times
more iterations than ``"ortho"`` without it.

ARPACK and LOBPCG make many small BLAS calls; on a machine whose cores are busy,
multi-threaded OpenBLAS / OpenMP spin-waiting can slow them down 10x or more, and one
thread (``OPENBLAS_NUM_THREADS=1``, :func:`torch.set_num_threads`) is then faster.
"""

from __future__ import annotations

import functools
import math
import time
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh, splu

from ..errors import GridError
from .grid import DEFAULT_TOL, DENSE_MAX_POINTS, LOBPCG_MAX_ITER, METHODS
from .memory import PeakMemory, check_memory, lobpcg_block

__all__ = ["GridSolution", "GridProgress", "solve_grid", "require_converged", "gershgorin_bounds",
           "energy_scale", "relative_residuals"]


@dataclass(frozen=True, eq=False)
class GridSolution:
    """Lowest eigenpairs of a grid Hamiltonian.

    Attributes
    ----------
    energies : ndarray, shape (L,)
        Ascending eigenvalues of ``H``.
    eigenvectors : ndarray, shape (N_total, L)
        Column ``l`` for ``energies[l]``, normalised as a function on the grid,
        ``sum(v**2) * prod(spacing) = 1`` (``sum(v**2) = 1`` without spacing), with the
        sign making its largest-magnitude entry positive.
    residuals : ndarray, shape (L,)
        Relative residuals ``||H v - E v|| / (s ||v||)`` (Euclidean norms; ``s`` the
        energy scale of :func:`energy_scale`, see the module docstring).
    converged : bool
        The method reported success and every residual is ``<= tol``.
    iterations : int
        lobpcg: iterations; eigsh: shift-invert solves (ARPACK operator applications);
        dense: 0.
    method : str
        ``"eigsh"``, ``"lobpcg"`` or ``"dense"`` (what actually ran).
    wall_time : float
        Seconds spent in the solve (including the LU factorisation / tensor conversion).
    peak_memory : int
        Peak resident memory of the process during the solve minus the resident memory at
        its start (bytes): what the solver needed on top of ``H``.  Measured as the rise of
        the process's peak RSS (``getrusage`` ``ru_maxrss``) when the solve set a new peak,
        else as the maximum of RSS samples taken every 5 ms.
    tol : float
        Residual tolerance used for ``converged``.
    max_iter : int or None
        Iteration cap used (lobpcg: the effective one; eigsh: as given, None = scipy's).
    sigma : float or None
        eigsh: the shift used.
    """

    energies: np.ndarray
    eigenvectors: np.ndarray
    residuals: np.ndarray
    converged: bool
    iterations: int
    method: str
    wall_time: float
    peak_memory: int
    tol: float
    max_iter: int | None = None
    sigma: float | None = None



def gershgorin_bounds(H) -> tuple[float, float]:
    """Gershgorin bounds ``(min_i H_ii - r_i, max_i H_ii + r_i)``, ``r_i = sum_{j != i} |H_ij|``,
    on the spectrum of a symmetric sparse matrix (for order 2 the lower one is ``min V``)."""
    d = H.diagonal()
    r = np.asarray(abs(H).sum(axis=1)).ravel() - np.abs(d)
    return float(np.min(d - r)), float(np.max(d + r))


def energy_scale(energies, norm: float = 0.0) -> np.ndarray:
    """Per-level energy scale ``s_l = max(|E_l|, Delta, eps * norm)`` (see the module docstring).

    Parameters
    ----------
    energies : array_like, shape (L,)
        Ascending levels.
    norm : float
        A bound on ``||H||`` (e.g. the larger magnitude of :func:`gershgorin_bounds`).

    Returns
    -------
    ndarray, shape (L,)
        Positive scales: with ``Delta = (E_{L-1} - E_0) / (L - 1)`` the mean level spacing
        (0 for ``L = 1``), never below ``eps * norm`` nor the smallest normal float.
    """
    E = np.asarray(energies, dtype=np.float64)
    spacing = float(E.max() - E.min()) / (len(E) - 1) if len(E) > 1 else 0.0
    floor = max(spacing, np.finfo(float).eps * float(norm), np.finfo(float).tiny)
    return np.maximum(np.abs(E), floor)


def relative_residuals(H, energies, vectors, norm: float | None = None) -> np.ndarray:
    """``||H v_l - E_l v_l|| / (s_l ||v_l||)`` with ``s_l`` = :func:`energy_scale`, shape (L,)."""
    E = np.asarray(energies, dtype=np.float64)
    if norm is None:
        norm = max(map(abs, gershgorin_bounds(H)))
    R = H @ vectors - vectors * E
    return np.linalg.norm(R, axis=0) / (np.linalg.norm(vectors, axis=0) * energy_scale(E, norm))


def _finish(H, E, V, spacing):
    order = np.argsort(E, kind="stable")
    E, V = np.asarray(E, dtype=np.float64)[order], np.array(V, dtype=np.float64)[:, order]
    res = relative_residuals(H, E, V)
    cell = float(np.prod(spacing)) if spacing is not None else 1.0
    V /= np.sqrt((V * V).sum(axis=0) * cell)
    idx = np.argmax(np.abs(V), axis=0)
    V *= np.sign(V[idx, np.arange(V.shape[1])])
    return E, V, res


def _grid_label(n_total, spacing):
    """Points per axis of a cubic grid (for messages), or None if unknown / not cubic."""
    if spacing is None:
        return None
    n = round(n_total ** (1.0 / len(spacing)))
    return n if n ** len(spacing) == n_total else None


@dataclass(frozen=True)
class GridProgress:
    """One progress report of a running grid solve (passed to ``solve_grid(progress=...)``).

    Attributes
    ----------
    method : str
        ``"eigsh"``, ``"lobpcg"`` or ``"dense"``.
    iteration : int
        lobpcg iterations / eigsh shift-invert solves so far (0 at the start).
    residual : float
        Largest relative residual of the ``L`` wanted levels (lobpcg), NaN where the method
        does not expose one while running (eigsh, dense).
    elapsed : float
        Seconds since the solve started.
    stage : str
        What the solver is doing now, with the grid size and, for eigsh, the estimated
        total time (:func:`nsvd_cli.baselines.timing.estimate_eigsh_seconds`), e.g.
        ``"sparse LU factorisation of H − σI (117649 points; eigsh ~5.2 h estimated)"``;
        "" where nothing more than ``iteration`` is known.
    """

    method: str
    iteration: int
    residual: float
    elapsed: float
    stage: str = ""


def _check_arguments(n, L, method, tol, preconditioner, max_iter):
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if L < 1 or L > n:
        raise ValueError(f"n_modes must be between 1 and the matrix size {n}, got {L}")
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol!r}")
    if preconditioner not in (None, "jacobi"):
        raise ValueError(f"preconditioner must be None or 'jacobi', got {preconditioner!r}")
    if preconditioner is not None and method != "lobpcg":
        raise ValueError(f"preconditioner is only available for method 'lobpcg', not {method!r}")
    if max_iter is not None and int(max_iter) < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter!r}")


def _admit(n, L, method, N) -> str:
    """The method that will run on ``n`` points, or GridError when none can."""
    if method == "eigsh" and n < 3 * L:
        warnings.warn(f"grid of {n} points is too small for eigsh with {L} modes (needs 3 x {L}); "
                      "using the dense solver", RuntimeWarning, stacklevel=3)
        return "dense"
    if method == "lobpcg" and n < 3 * L:
        raise GridError(f"lobpcg needs at least 3 x {L} = {3 * L} grid points for {L} modes, "
                        f"got {n}" + (f" (N={N} per axis)" if N is not None else ""), parameter="grid")
    if method == "dense" and n > DENSE_MAX_POINTS:
        raise GridError(f"dense: grid of {n} points exceeds the dense limit of {DENSE_MAX_POINTS}; "
                        "use eigsh or lobpcg, or a smaller grid", parameter="method")
    return method


def solve_grid(H, n_modes: int, method: str = "eigsh", *, spacing=None, tol: float | None = None,
               max_iter: int | None = None, sigma: float | None = None, preconditioner: str | None = None,
               seed: int = 0, max_memory: float | None = None,
               progress: Callable[[GridProgress], None] | None = None) -> GridSolution:
    """Lowest ``n_modes`` eigenpairs of a symmetric grid Hamiltonian.

    Parameters
    ----------
    H : scipy sparse array, shape (N_total, N_total)
        Symmetric matrix, e.g. from :func:`grid_hamiltonian`.
    n_modes : int
        Number ``L`` of lowest eigenpairs.
    method : {"eigsh", "lobpcg", "dense"}
        See "Methods" in the module docstring.
    spacing : array_like, shape (D,), optional
        Grid spacing, to normalise the eigenvectors as functions (and name ``N`` in messages).
    tol : float, optional
        Relative residual tolerance (module docstring; default :data:`DEFAULT_TOL`): lobpcg
        stops when all ``L`` residuals are below it, ``converged`` requires it of every method.
    max_iter : int, optional
        lobpcg iterations (default :data:`LOBPCG_MAX_ITER`); eigsh: ARPACK restarts (scipy's ``10 N_total``).
    sigma : float, optional
        eigsh shift; must lie below the lowest eigenvalue (the ``L`` levels nearest
        ``sigma`` are returned); default: just below the lowest level (``_eigsh``).
    preconditioner : {None, "jacobi"}
        lobpcg only (module docstring).
    seed : int
        Seed of the random start (lobpcg block, ARPACK ``v0``).
    max_memory : float, optional
        Limit (bytes) of the solver workspace, ``H`` excluded (default: available memory).
    progress : callable, optional
        Called with a :class:`GridProgress` at the start, every lobpcg iteration and
        every 50 eigsh shift-invert solves.

    Returns
    -------
    GridSolution

    Raises
    ------
    ValueError
        Bad ``method``, ``n_modes``, ``tol``, ``preconditioner`` or a non-square ``H``.
    GridError
        Too little memory; lobpcg with ``N_total < 3 L``; dense above :data:`DENSE_MAX_POINTS`
        points; eigsh without convergence or with ``sigma`` above a level found; lobpcg
        breakdown (out of iterations: ``converged=False``, :func:`require_converged`).
    """
    n, L = H.shape[0], int(n_modes)
    if H.ndim != 2 or H.shape[0] != H.shape[1]:
        raise ValueError(f"H must be square, got shape {H.shape}")
    tol = DEFAULT_TOL if tol is None else float(tol)
    _check_arguments(n, L, method, tol, preconditioner, max_iter)
    H, spacing = sp.csr_array(H, dtype=np.float64), None if spacing is None else np.asarray(spacing, float)
    N = _grid_label(n, spacing)
    method = _admit(n, L, method, N)
    check_memory(n, L, method, nnz_per_row=max(1, math.ceil(H.nnz / n)),
                 dimension=len(spacing) if spacing is not None else 2, max_memory=max_memory, n_points=N,
                 include_matrix=False)
    _warm_up(method)  # a library's one-time initialisation is no solve's memory (PeakMemory)
    report = _reporter(method, progress, t0 := time.perf_counter())
    with PeakMemory() as mem:
        if method == "dense":
            report(0, stage=f"dense eigh of a {n}-point matrix")
            E, V = scipy.linalg.eigh(H.toarray(), subset_by_index=[0, L - 1])
            ok, iters, used_sigma = True, 0, None
        elif method == "eigsh":
            E, V, ok, iters, used_sigma = _eigsh(H, L, max_iter, sigma, seed, report,
                                                 _size_note(n, None if spacing is None else len(spacing)))
        else:
            max_iter = LOBPCG_MAX_ITER if max_iter is None else int(max_iter)
            E, V, ok, iters = _lobpcg(H, L, tol, max_iter, preconditioner, seed, report)
            used_sigma = None
        E, V, res = _finish(H, E, V, spacing)
        wall = time.perf_counter() - t0
    if used_sigma is not None and sigma is not None and E[0] < used_sigma:
        raise GridError(f"shift {sigma:g} lies above the level {E[0]:.6g}, so the levels found need "
                        f"not be the lowest; leave the shift unset or lower it", parameter="sigma")
    return GridSolution(energies=E, eigenvectors=V, residuals=res, converged=bool(ok and np.all(res <= tol)),
                        iterations=int(iters), method=method, wall_time=wall, peak_memory=mem.peak, tol=tol,
                        max_iter=max_iter, sigma=used_sigma)


def _reporter(method, progress, t0):
    """``report(iteration, residual)`` calling ``progress`` with a :class:`GridProgress`."""
    if progress is None:
        return lambda iteration, residual=float("nan"), stage="": None

    def report(iteration, residual=float("nan"), stage=""):
        progress(GridProgress(method, int(iteration), float(residual), time.perf_counter() - t0, stage))

    report(0)
    return report


def _size_note(n: int, dimension: int | None) -> str:
    """``117649 points; eigsh ~5.2 h estimated`` (the estimate only with a known dimension)."""
    if dimension is None:
        return f"{n} points"
    from .timing import estimate_eigsh_seconds, format_seconds

    return f"{n} points; eigsh ~{format_seconds(estimate_eigsh_seconds(n, dimension))} estimated"


def _shift_invert(H, sigma, positive_definite):
    n = H.shape[0]
    A = (H - sigma * sp.eye_array(n, format="csr")).tocsc()
    if positive_definite:  # symmetric minimum-degree ordering, no pivoting
        return splu(A, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options=dict(SymmetricMode=True))
    return splu(A)


def _arpack(H, k, sigma, lu, max_iter, v0, count, report, ncv=None, size=""):
    def solve(b):
        count[0] += 1
        if count[0] % 50 == 0:
            report(count[0], stage=f"ARPACK shift-invert solves for {k} level(s) ({size})")
        return lu.solve(np.asarray(b, dtype=np.float64))

    n = H.shape[0]
    op = LinearOperator((n, n), matvec=solve, dtype=np.float64)
    return eigsh(H, k=k, sigma=sigma, which="LM", OPinv=op, tol=0, maxiter=max_iter, v0=v0, ncv=ncv)


def _eigsh(H, L, max_iter, sigma, seed, report, size=""):
    """Shift-invert ARPACK.  Default shift, in two stages: ``s1`` = Gershgorin lower bound
    minus a margin (below the spectrum), the lowest level ``E0`` from the ``k = 1`` problem
    around ``s1``, then ``sigma = E0 - 0.01 (E0 - s1)``: still below the spectrum but much
    closer, which spreads the shift-inverted levels ``1 / (E - sigma)`` apart (about half
    the solves on the 2D hydrogen grid, for one more factorisation)."""
    n = H.shape[0]
    lower, upper = gershgorin_bounds(H)
    v0 = np.random.default_rng(seed).standard_normal(n)
    count = [0]
    factorising = f"sparse LU factorisation of H − σI ({size})"
    if sigma is None:
        s1 = lower - 1e-3 * max(abs(lower), 1e-6 * (upper - lower))
        report(0, stage=factorising)
        lu = _shift_invert(H, s1, True)
        try:
            e0 = float(_arpack(H, 1, s1, lu, max_iter, v0, count, report, size=size)[0][0])
            sigma = e0 - 0.01 * (e0 - s1)
            del lu
            report(count[0], stage="second " + factorising + ", closer to the lowest level")
            lu = _shift_invert(H, sigma, True)
        except ArpackNoConvergence:
            sigma = s1
    else:
        sigma = float(sigma)
        report(0, stage=factorising)
        lu = _shift_invert(H, sigma, sigma < lower)
    report(count[0], stage=f"ARPACK shift-invert solves for {L} levels ({size})")
    try:
        E, V = _arpack(H, L, sigma, lu, max_iter, v0, count, report, size=size)
    except ArpackNoConvergence as exc:
        got = len(exc.eigenvalues)
        raise GridError(f"eigsh did not converge within {max_iter or 10 * n} restarts "
                        f"({got} of {L} levels converged); raise the restart cap", parameter="max_iter") from None
    return E, V, True, count[0], sigma


@functools.cache
def _warm_up(method: str) -> None:
    """One small solve of ``method`` (a 60-point second difference), once per process: the first
    call of a solver imports modules and initialises kernels and workspaces (torch's sparse
    product and lobpcg; SciPy's ARPACK and SuperLU), which a grid solve's peak memory would
    otherwise include (measured, 1D oscillator, N = 100 then 400: lobpcg 10.8 then 0.5 MiB,
    eigsh 1.7 then 0.2 MiB)."""
    import scipy.sparse as sparse

    n, quiet = 60, (lambda *a, **k: None)
    H = sparse.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1], format="csr")
    if method == "lobpcg":
        _lobpcg(H, 2, 1e-6, 20, None, 0, quiet)
        _lobpcg(H, 2, 1e-6, 20, "jacobi", 0, quiet)
    elif method == "eigsh":
        _eigsh(H, 2, None, None, 0, quiet)
    else:
        scipy.linalg.eigh(H.toarray(), subset_by_index=[0, 1])


def _lobpcg(H, L, tol, max_iter, preconditioner, seed, report):
    import torch

    n = H.shape[0]
    nb = max(L, min(lobpcg_block(L), n // 3))
    coo = H.tocoo()
    idx = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    A = torch.sparse_coo_tensor(idx, torch.from_numpy(coo.data.astype(np.float64)), (n, n),
                                check_invariants=False).coalesce()
    iK = None
    if preconditioner == "jacobi":
        lower, upper = gershgorin_bounds(H)
        s = lower - 1e-3 * max(abs(lower), upper - lower)
        d = torch.from_numpy(1.0 / (H.diagonal() - s))
        ar = torch.arange(n)
        iK = torch.sparse_coo_tensor(torch.stack([ar, ar]), d, (n, n), check_invariants=False).coalesce()
    gen = torch.Generator().manual_seed(int(seed))
    X0 = torch.randn(n, nb, generator=gen, dtype=torch.float64)
    state = {"it": 0}
    norm = max(map(abs, gershgorin_bounds(H)))

    def tracker(w):
        E, X, R = w.E[:L], w.X[:, :L], w.R[:, :L]
        scale = torch.from_numpy(energy_scale(E.detach().numpy(), norm))
        res = R.norm(dim=0) / (X.norm(dim=0) * scale)
        state["it"] = int(w.ivars["istep"])
        report(state["it"], float(res.max()))
        if w.ivars["istep"] > 1 and bool((res <= tol).all()):
            w.bvars["force_stop"] = True

    eps = float(np.finfo(np.float64).eps) ** 0.5
    try:
        E, X = torch.lobpcg(A, k=L, X=X0, niter=max_iter, tol=0.0, largest=False, iK=iK,
                            method="basic" if iK is not None else "ortho", tracker=tracker,
                            ortho_fparams=None if iK is not None else
                            {"ortho_tol": eps, "ortho_tol_drop": eps, "ortho_tol_replace": eps})
    except (RuntimeError, ValueError) as exc:  # torch.linalg.LinAlgError is a RuntimeError
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        what = " (jacobi preconditioner)" if iK is not None else ""
        raise GridError(f"lobpcg{what} broke down after {state['it']} iterations ({msg}); use eigsh",
                        parameter="method") from None
    return E.numpy(), X.numpy(), True, state["it"]


def require_converged(solution: GridSolution) -> GridSolution:
    """Return ``solution`` if it converged, else raise a one-line :class:`GridError`.

    Raises
    ------
    GridError
        ``parameter="max_iter"`` (lobpcg out of iterations), e.g. ``"lobpcg did not
        converge in 5000 iterations: largest relative residual 3.2e-04 (level 3) above the
        tolerance 1e-06; ..."``, else ``parameter="tol"``.
    """
    if solution.converged:
        return solution
    worst = float(np.max(solution.residuals))
    level = int(np.argmax(solution.residuals))
    if solution.method == "lobpcg":
        raise GridError(f"lobpcg did not converge in {solution.iterations} iterations: largest relative residual "
                        f"{worst:.2e} (level {level}) above the tolerance {solution.tol:g}; raise the iteration "
                        "cap or the tolerance, or use eigsh", parameter="max_iter")
    raise GridError(f"{solution.method} reached a relative residual of {worst:.2e} (level {level}), above the "
                    f"tolerance {solution.tol:g}; raise the tolerance", parameter="tol")
