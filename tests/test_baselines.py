"""Finite-difference grid baselines checked against independently derived values.

* Empty box: the discrete Dirichlet Laplacian has the sine vectors as exact eigenvectors,
  with eigenvalues ``(4/h^2) sin^2(k pi h / (2 L))`` (order 2) and
  ``(5/2 - 8/3 cos t + 1/6 cos 2t) / h^2``, ``t = k pi h / L`` (order 4, odd ghost points).
* Harmonic oscillator: ``E = 2 (n_x + n_y + 1)`` and the ``h^2`` / ``h^4`` convergence.
* 2D hydrogen: ``E_n = -1/(2n+1)^2`` (references module), cross-checked between solvers.
"""

import ctypes
import math
import warnings

import numpy as np
import pytest
import torch

from nsvd_cli.baselines import (
    GridError,
    GridProgress,
    check_memory,
    energy_scale,
    estimate_memory,
    grid_for_spec,
    grid_hamiltonian,
    require_converged,
    solve_grid,
)
from nsvd_cli.baselines.reference import reference_for
from nsvd_cli.spec import load_spec


def _openblas_thread_setters():
    """(set, get) function pairs of every OpenBLAS loaded in this process (numpy's, scipy's)."""
    try:
        with open("/proc/self/maps") as fh:
            paths = {line.split()[-1] for line in fh if "openblas" in line.lower() and "/" in line}
    except OSError:
        return []
    out = []
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for suffix in ("64_", "", "_64_"):
            try:
                out.append((getattr(lib, f"scipy_openblas_set_num_threads{suffix}"),
                            getattr(lib, f"scipy_openblas_get_num_threads{suffix}")))
                break
            except AttributeError:
                continue
    return out


@pytest.fixture(scope="module", autouse=True)
def single_threaded():
    """Run this module on one thread (torch and OpenBLAS), restoring the settings after.

    The grid solvers are dominated by many small BLAS calls (ARPACK, LOBPCG); on a machine
    whose cores are busy with other jobs, multi-threaded OpenBLAS / OpenMP spin-waiting makes
    them 10-40x slower, and single-threaded tests disturb those jobs least.
    """
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    setters = _openblas_thread_setters()
    saved = [get() for _, get in setters]
    for set_, _ in setters:
        set_(1)
    yield
    for (set_, _), n in zip(setters, saved):
        set_(n)
    torch.set_num_threads(torch_threads)


def zero_potential(x):
    return torch.zeros(x.shape[0], dtype=x.dtype)


def box_levels(box, n, order=2, cell_centred=False):
    """Exact eigenvalues of -Laplacian_h on the empty box, all N^D of them, ascending."""
    total = np.zeros(1)
    for lo, hi in box:
        length = hi - lo
        h = length / (n if cell_centred else n + 1)
        t = np.arange(1, n + 1) * math.pi * h / length
        if order == 2:
            ev = 4.0 / h**2 * np.sin(t / 2) ** 2
        else:
            ev = (2.5 - 8.0 / 3 * np.cos(t) + np.cos(2 * t) / 6) / h**2
        total = (total[:, None] + ev[None, :]).ravel()
    return np.sort(total)


BOXES = {1: [(-0.5, 1.5)], 2: [(-1.0, 2.0), (0.0, 1.7)]}


@pytest.mark.parametrize("method", ["eigsh", "lobpcg", "dense"])
@pytest.mark.parametrize("dim,n,modes", [(1, 60, 6), (2, 24, 8)])
def test_empty_box_levels(method, dim, n, modes):
    H, points, spacing = grid_hamiltonian(zero_potential, BOXES[dim], n)
    sol = solve_grid(H, modes, method, spacing=spacing, tol=1e-8)
    exact = box_levels(BOXES[dim], n)[:modes]
    np.testing.assert_allclose(sol.energies, exact, rtol=1e-10)
    assert sol.converged and sol.method == method and sol.energies.shape == (modes,)
    assert sol.eigenvectors.shape == (n**dim, modes)
    np.testing.assert_allclose((sol.eigenvectors**2).sum(0) * np.prod(spacing), 1.0, rtol=1e-12)


@pytest.mark.parametrize("order", [2, 4])
@pytest.mark.parametrize("cell_centred", [False, True])
def test_empty_box_all_levels_orders_and_grids(order, cell_centred):
    box = BOXES[2]
    H, _, _ = grid_hamiltonian(None, box, 12, kappa=1.0, order=order, cell_centred=cell_centred)
    np.testing.assert_allclose(np.linalg.eigvalsh(H.toarray()), box_levels(box, 12, order, cell_centred),
                               rtol=1e-10)


def test_kappa_scales_and_ground_state_is_the_normalised_sine():
    lo, hi, n = -0.5, 1.5, 40
    H, points, spacing = grid_hamiltonian(zero_potential, [(lo, hi)], n, kappa=0.5)
    sol = solve_grid(H, 2, "eigsh", spacing=spacing)
    np.testing.assert_allclose(sol.energies, 0.5 * box_levels([(lo, hi)], n)[:2], rtol=1e-10)
    sine = math.sqrt(2 / (hi - lo)) * np.sin(math.pi * (points[:, 0] - lo) / (hi - lo))
    np.testing.assert_allclose(sol.eigenvectors[:, 0], sine, atol=1e-9)


def test_axis_ordering_matches_points():
    box, n = [(-1.0, 1.0), (0.0, 3.0)], (5, 7)
    H, points, spacing = grid_hamiltonian(lambda x: 3 * x[:, 0] + x[:, 1] ** 2, box, n)
    h0, h1 = 2.0 / 6, 3.0 / 8
    np.testing.assert_allclose(spacing, [h0, h1])
    x0, x1 = np.meshgrid(-1 + h0 * np.arange(1, 6), h1 * np.arange(1, 8), indexing="ij")
    np.testing.assert_allclose(points, np.stack([x0.ravel(), x1.ravel()], 1))
    np.testing.assert_allclose(H.diagonal(), 2 / h0**2 + 2 / h1**2 + 3 * x0.ravel() + x1.ravel() ** 2)
    # neighbour along axis 1 is the next row, along axis 0 the row n[1] further
    assert H[0, 1] == pytest.approx(-1 / h1**2) and H[0, 7] == pytest.approx(-1 / h0**2)


# ---------------------------------------------------------------------------- harmonic

def _problem(name):
    """The built-in problem and its closed-form reference."""
    spec = load_spec(name)
    return spec, reference_for(spec)


@pytest.fixture(scope="module")
def harmonic():
    (spec, ref), out = _problem("harmonic2d"), {}
    for order in (2, 4):
        for n in (100, 200):
            H, _, spacing = grid_for_spec(spec, n, order=order, box=[(-5.0, 5.0)] * 2)
            sol = solve_grid(H, spec.modes, "eigsh", spacing=spacing)
            assert sol.converged
            out[order, n] = np.abs(sol.energies - ref.energies) / ref.energies
    return out


def test_harmonic2d_levels(harmonic):
    assert harmonic[2, 200].shape == (15,)
    assert harmonic[2, 200].max() < 1e-3


def test_harmonic2d_convergence_orders(harmonic):
    ratio2 = harmonic[2, 100].max() / harmonic[2, 200].max()
    ratio4 = harmonic[4, 100].max() / harmonic[4, 200].max()
    assert 3 <= ratio2 <= 5  # h^2: (201/101)^2 = 3.96
    assert ratio4 > 10  # h^4: 15.7
    assert harmonic[4, 200].max() < 1e-2 * harmonic[2, 200].max()


# ---------------------------------------------------------------------------- hydrogen

@pytest.fixture(scope="module")
def hydrogen():
    (spec, ref), out = _problem("hydrogen2d"), {}
    for n in (100, 200):
        H, points, spacing = grid_for_spec(spec, n, box=[(-50.0, 50.0)] * 2)
        assert np.sqrt((points**2).sum(1)).min() == pytest.approx(spacing[0] / math.sqrt(2))
        out[n] = (H, spacing, solve_grid(H, spec.modes, "eigsh", spacing=spacing))
    return ref, out


def test_hydrogen2d_errors_decrease_and_ground_state_is_worst(hydrogen):
    ref, out = hydrogen
    err = {n: np.abs(sol.energies - ref.energies) / np.abs(ref.energies) for n, (_, _, sol) in out.items()}
    # shells n <= 2 (9 levels); the n = 3 shell is clipped by the +-50 box at the ~1e-2 level
    assert np.all(err[200][:9] < err[100][:9])
    for e in err.values():
        assert np.argmax(e) == 0
    assert 0.2 < err[200][0] < 0.35  # the cusp: O(h) convergence on a cell-centred grid


def test_hydrogen2d_lobpcg_agrees_with_eigsh(hydrogen):
    _, out = hydrogen
    H, spacing, ref_sol = out[100]
    modes, tol = 9, 1e-6
    sol = require_converged(solve_grid(H, modes, "lobpcg", spacing=spacing, tol=tol, seed=1))
    assert sol.method == "lobpcg" and sol.iterations > 0 and np.all(sol.residuals <= tol)
    # a residual r bounds the distance to an exact level by r s (s the energy scale)
    assert np.all(np.abs(sol.energies - ref_sol.energies[:modes]) <= tol * energy_scale(sol.energies))
    overlap = abs(sol.eigenvectors[:, 0] @ ref_sol.eigenvectors[:, 0]) * np.prod(spacing)
    assert overlap == pytest.approx(1.0, abs=1e-8)


def test_coulomb_point_on_singularity_refused():
    with pytest.raises(GridError, match="^N=51 puts a grid point") as err:
        grid_for_spec(load_spec("hydrogen2d"), 51, box=[(-10.0, 10.0)] * 2)
    assert err.value.parameter == "grid"


# ---------------------------------------------------------------------------- refusals

def test_lobpcg_too_few_points():
    H, _, spacing = grid_hamiltonian(zero_potential, [(0.0, 1.0)], 10)
    with pytest.raises(GridError, match=r"^lobpcg needs .*got 10 \(N=10 per axis\)") as err:
        solve_grid(H, 4, "lobpcg", spacing=spacing)
    assert err.value.parameter == "grid"


def test_eigsh_small_grid_falls_back_to_dense():
    H, _, spacing = grid_hamiltonian(zero_potential, [(0.0, 1.0)], 10)
    with pytest.warns(RuntimeWarning, match="dense"):
        sol = solve_grid(H, 4, "eigsh", spacing=spacing)
    assert sol.method == "dense"
    np.testing.assert_allclose(sol.energies, box_levels([(0.0, 1.0)], 10)[:4], rtol=1e-12)


def test_eigsh_sigma_above_ground_state_refused():
    H, _, spacing = grid_hamiltonian(zero_potential, [(0.0, 2.0)], 50)  # E0 ~ pi^2/4, E1 ~ pi^2
    sol = solve_grid(H, 3, "eigsh", spacing=spacing)
    assert sol.sigma < sol.energies[0]
    with pytest.raises(GridError, match="^shift 5 lies above the level 2.46") as err:
        solve_grid(H, 3, "eigsh", spacing=spacing, sigma=5.0)
    assert err.value.parameter == "sigma"


def test_memory_refusal():
    H, _, spacing = grid_hamiltonian(zero_potential, [(0.0, 1.0)] * 2, 30)
    with pytest.raises(GridError, match=r"^grid N=30 \(900 points\) needs ~.* GiB") as err:
        solve_grid(H, 4, "eigsh", spacing=spacing, max_memory=1000)
    assert err.value.parameter == "max_memory"
    with pytest.raises(GridError, match="above the limit 1 GiB") as err:
        check_memory(10**6, 16, "dense", max_memory=2**30)
    assert err.value.parameter == "max_memory"
    sizes = [estimate_memory(n, 16, "eigsh", 5) for n in (10**4, 10**5, 10**6)]
    assert sizes[0] < sizes[1] < sizes[2] and sizes[2] / sizes[1] > 10  # fill-in: faster than linear


def test_peak_memory_counts_every_solve_of_a_sequence():
    """Each of several solves in one process reports at least its own eigenvectors
    (N_total x L float64 = 8 N_total L bytes, allocated during the solve), also when an earlier,
    larger solve left freed memory for it to reuse (the resident set then does not rise)."""
    for n in (120, 30, 30):
        H, _, spacing = grid_hamiltonian(zero_potential, [(0.0, 1.0)] * 2, n)
        sol = solve_grid(H, 6, "eigsh", spacing=spacing)
        assert sol.peak_memory >= 8 * H.shape[0] * 6, n


def test_dense_limit_and_bad_arguments():
    H, _, _ = grid_hamiltonian(zero_potential, [(0.0, 1.0)] * 2, 70)
    with pytest.raises(GridError, match="^dense: grid of 4900 points exceeds") as err:
        solve_grid(H, 4, "dense")
    assert err.value.parameter == "method"
    with pytest.raises(ValueError, match="method"):
        solve_grid(H, 4, "arnoldi")
    with pytest.raises(ValueError, match="preconditioner"):
        solve_grid(H, 4, "eigsh", preconditioner="jacobi")
    with pytest.raises(ValueError, match="order"):
        grid_hamiltonian(None, [(0.0, 1.0)], 10, order=3)


def test_lobpcg_nonconvergence_is_reported_not_hidden():
    H, _, spacing = grid_hamiltonian(zero_potential, [(0.0, 1.0)] * 2, 30)
    sol = solve_grid(H, 4, "lobpcg", spacing=spacing, max_iter=3)
    assert not sol.converged and sol.iterations == 3 and sol.residuals.max() > sol.tol
    with pytest.raises(GridError, match=r"^lobpcg did not converge in 3 iterations") as err:
        require_converged(sol)
    assert err.value.parameter == "max_iter" and "--" not in str(err.value)


def test_lobpcg_jacobi_preconditioner():
    H, _, spacing = grid_hamiltonian(lambda x: (x * x).sum(1), [(-4.0, 4.0)], 80)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sol = require_converged(solve_grid(H, 3, "lobpcg", spacing=spacing, preconditioner="jacobi"))
    ref = solve_grid(H, 3, "dense", spacing=spacing)
    np.testing.assert_allclose(sol.energies, ref.energies, rtol=1e-10)


# ---------------------------------------------------------------------------- issue 9: near zero, progress

def test_energy_scale_by_hand():
    # mean spacing (4 - 0) / 2 = 2 floors the level at 0; |E| above it
    np.testing.assert_allclose(energy_scale([0.0, 1.0, 4.0]), [2.0, 2.0, 4.0])
    np.testing.assert_allclose(energy_scale([-3.0]), [3.0])  # one level: |E|
    assert energy_scale([0.0], norm=1e6)[0] == pytest.approx(np.finfo(float).eps * 1e6)


def test_levels_near_zero_converge_like_shifted_ones():
    """x^2 - 1 and x^2 + 1 differ by a constant: the residual verdicts must agree (issue 9, item 4).

    With kappa = 1, H = -d^2/dx^2 + x^2 has levels 2n + 1, so x^2 - 1 has a level at 0.
    """
    box = [(-8.0, 8.0)]
    verdicts = []
    for c in (-1.0, 1.0):
        H, _, spacing = grid_hamiltonian(lambda x, c=c: (x * x).sum(1) + c, box, 400, order=4)
        sol = solve_grid(H, 3, "eigsh", spacing=spacing)
        np.testing.assert_allclose(sol.energies, np.array([1.0, 3.0, 5.0]) + c, atol=1e-5)
        verdicts.append(sol.converged)
        assert np.all(sol.residuals < 1e-9)
    assert verdicts == [True, True]


def test_grid_solves_report_progress():
    H, _, spacing = grid_hamiltonian(zero_potential, [(0.0, 1.0)] * 2, 30)
    seen = []
    solve_grid(H, 4, "lobpcg", spacing=spacing, max_iter=5, progress=seen.append)
    assert all(isinstance(p, GridProgress) and p.method == "lobpcg" for p in seen)
    assert [p.iteration for p in seen][:1] == [0] and max(p.iteration for p in seen) == 5
    assert np.isfinite(seen[-1].residual) and seen[-1].elapsed >= seen[0].elapsed >= 0
    seen.clear()
    solve_grid(H, 4, "eigsh", spacing=spacing, progress=seen.append)
    assert seen and seen[0].iteration == 0 and seen[0].method == "eigsh"


def test_eigsh_time_model_exponent_and_the_time_aware_grid_hint():
    """t = a n + c_d n^(3(d-1)/d): in 6D the factorisation term dominates, so doubling n costs 2^2.5;
    with a 60 s budget the 6D hint is N <= 4 (4096 points, ~4 s) although N = 7 fits 18 GiB (~5 h)."""
    from nsvd_cli.baselines.memory import check_memory, largest_grid
    from nsvd_cli.baselines.timing import estimate_eigsh_seconds, factorisation_exponent
    from nsvd_cli.errors import GridError

    assert factorisation_exponent(6) == 2.5 and factorisation_exponent(3) == 2.0 and factorisation_exponent(1) == 1
    big = 10**7
    assert estimate_eigsh_seconds(2 * big, 6) / estimate_eigsh_seconds(big, 6) == pytest.approx(2**2.5, rel=1e-3)
    assert estimate_eigsh_seconds(5**6, 6) > 60 > estimate_eigsh_seconds(4**6, 6)
    limit = 18 * 2**30
    assert largest_grid(6, 7, "eigsh", limit, nnz_per_row=13, upto=200) >= 7  # memory alone
    assert largest_grid(6, 7, "eigsh", limit, nnz_per_row=13, upto=200, seconds=60.0) == 4
    with pytest.raises(GridError) as info:
        check_memory(200**6, 7, "eigsh", nnz_per_row=13, dimension=6, max_memory=limit, n_points=200)
    msg = str(info.value)
    assert "N <= 4 per axis fits memory and ~60 s of eigsh" in msg and "n^2.5 in D = 6" in msg and "\n" not in msg


def test_eigsh_progress_says_what_it_is_doing():
    """The reports of a grid solve name the stage (factorisation, ARPACK solves) with the grid size."""
    from nsvd_cli.baselines.grid import grid_hamiltonian

    H, _, spacing = grid_hamiltonian(lambda x: (x**2).sum(-1), [(-5.0, 5.0)] * 3, 8)
    seen = []
    solve_grid(H, 3, "eigsh", spacing=spacing, progress=seen.append)
    stages = [p.stage for p in seen if p.stage]
    assert any(s.startswith("sparse LU factorisation") and "512 points" in s and "estimated" in s for s in stages)
    assert any(s.startswith("ARPACK shift-invert solves for 3 levels") for s in stages)


def test_progress_lines_show_how_long_the_current_step_has_run():
    from nsvd_cli.cli.progress import _Latest

    latest = _Latest()
    latest("eigsh N=7: sparse LU factorisation")
    assert latest.line() == "eigsh N=7: sparse LU factorisation"
    latest.since -= 38.2
    latest("eigsh N=7: sparse LU factorisation")  # the same message again keeps its start
    assert latest.line() == "eigsh N=7: sparse LU factorisation (38 s on this step)"
    latest("eigsh N=7: ARPACK shift-invert solves")
    assert latest.line() == "eigsh N=7: ARPACK shift-invert solves"


def test_a_slow_grid_reference_is_announced_before_it_starts():
    """3D, N = 36 (46656 points): ~1 min by the model (0.024e-6 * 46656^2 s) -> one line first; 2D N = 160: ~1 s, silent."""
    from nsvd_cli.baselines.reference import _announce_slow_solve

    with pytest.warns(UserWarning, match=r"grid reference: eigsh on N = 36 per axis \(46656 points\), estimated ~"):
        _announce_slow_solve(3, 36)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _announce_slow_solve(2, 160)
