"""Lehmann–Goerisch lower bounds (nsvd_cli/goerisch.py) and their use in level_bounds (bounds.py).

Every expected value is derived independently of the module: closed-form levels of the harmonic
oscillator (2n + 1, and n_x + n_y + 1 doubled in 2D) and of the particle in a box (k²), exact
Hermite functions built here from the three-term recurrence, ``H(P e^{-x²/2}) = (−P'' + 2xP' + P)
e^{-x²/2}`` for the action of ``H = −d²/dx² + x²`` on polynomial-times-Gaussian trial functions,
Goerisch's one-function quotient written out by hand, Temple's bound from ``σ² = ||Hv||² − θ²``,
and central finite differences of the cosine products.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.polynomial import Polynomial

from nsvd_cli import goerisch as goerisch_module
from nsvd_cli.bounds import level_bounds
from nsvd_cli.goerisch import (DUAL_FUNCTIONS_MAX, CosineDual, GoerischData, dual_per_axis, goerisch_lower_bounds,
                               goerisch_shift)
from nsvd_cli.quadrature import gauss_legendre_box
from nsvd_cli.ritz import rayleigh_ritz, residual_gram, ritz_matrices

HARMONIC_BOX = [(-9.0, 9.0)]
LEVELS = 2.0 * np.arange(5) + 1.0  # 1D harmonic oscillator H = -d²/dx² + x²: 1, 3, 5, 7, 9
RHO = 11.0  # level 6, exact: a valid lower bound of level 6 above level 5
EPS = 0.02


# ---------------------------------------------------------------------------------------------
# Independent building blocks
# ---------------------------------------------------------------------------------------------

def hermite_factor(n: int) -> Polynomial:
    """P_n with ``φ_n = P_n(x) e^{-x²/2}`` the normalised Hermite function: H_{k+1} = 2x H_k − 2k H_{k−1}."""
    prev, cur = Polynomial([1.0]), Polynomial([0.0, 2.0])
    if n == 0:
        cur = prev
    for k in range(1, n):
        prev, cur = cur, Polynomial([0.0, 2.0]) * cur - 2 * k * prev
    return cur / math.sqrt(2.0**n * math.factorial(n) * math.sqrt(math.pi))


def gaussian_times(p: Polynomial, x):
    """``f = p e^{-x²/2}`` at x: (f, f', Hf) with ``H = −d²/dx² + x²``."""
    g = np.exp(-0.5 * x**2)
    d1, d2 = p.deriv(), p.deriv(2)
    return p(x) * g, (d1(x) - x * p(x)) * g, (-d2(x) + 2 * x * d1(x) + p(x)) * g


def monomial(k: int) -> Polynomial:
    return Polynomial([0.0] * k + [1.0])


def harmonic_rule(per_panel=40, panels=4, box=HARMONIC_BOX):
    q = gauss_legendre_box(box, per_panel, panels)
    return q, q.points[:, 0]


def exact_hermite(x, count=5):
    """(N, count) values, gradients (N, count, 1) and H values of φ_0..φ_{count−1}."""
    cols = [gaussian_times(hermite_factor(n), x) for n in range(count)]
    return (np.stack([c[0] for c in cols], 1), np.stack([c[1] for c in cols], 1)[:, :, None],
            np.stack([c[2] for c in cols], 1))


def perturbed_hermite(x, weights, eps=EPS, count=5):
    """φ_n + eps·q/||q|| with q = (x⁶ + 0.3x⁷) e^{-x²/2} (mostly outside the span of φ_0..φ_4)."""
    pert = monomial(6) + 0.3 * monomial(7)
    norm = math.sqrt(weights @ gaussian_times(pert, x)[0] ** 2)
    cols = [gaussian_times(hermite_factor(n) + eps * pert / norm, x) for n in range(count)]
    return (np.stack([c[0] for c in cols], 1), np.stack([c[1] for c in cols], 1)[:, :, None],
            np.stack([c[2] for c in cols], 1))


def ritz_functions(q, x, values, gradients, h_values):
    """Ritz values, Ritz functions and H on them (orthonormal on the rule)."""
    h, s = ritz_matrices(values, gradients, x**2, q.weights, 1.0)
    ritz = rayleigh_ritz(h, s)
    return ritz, ritz.rotate(values), ritz.rotate(h_values)


def hand_shift(potential_values, theta) -> float:
    """The documented s: V + s is half of (θ − min V) at the lowest node."""
    vmin = float(np.min(potential_values))
    return 0.5 * max(theta - vmin, 1e-3 * max(abs(theta), 1.0)) - vmin


def one_function_bound(a0, a1, a2, rho, s) -> float:
    """Goerisch's bound from the 1×1 quotient μ = (a0 − ρ̃a1)/(a0 − 2ρ̃a1 + ρ̃²a2), ρ̃ = ρ + s."""
    rt = rho + s
    mu = (a0 - rt * a1) / (a0 - 2 * rt * a1 + rt**2 * a2)
    assert mu < 0
    return rt - rt / (1.0 - mu) - s


@pytest.fixture(scope="module")
def harmonic():
    q, x = harmonic_rule()
    return q, x, CosineDual(q.box, dual_per_axis(q.points, 1))


# ---------------------------------------------------------------------------------------------
# 1. Exact eigenfunctions give the exact levels
# ---------------------------------------------------------------------------------------------

def test_exact_hermite_functions_give_the_exact_levels(harmonic):
    q, x, dual = harmonic
    values, _, _ = exact_hermite(x)
    assert np.allclose(np.einsum("n,ni,nj->ij", q.weights, values, values), np.eye(5), atol=1e-12)
    b = goerisch_lower_bounds(LEVELS, values, x**2, q.weights, q.points, 1.0, RHO, 5, dual)
    assert b.shape == (5,)
    np.testing.assert_allclose(b, LEVELS, atol=1e-6)
    assert np.all(b <= LEVELS + 1e-10)


def test_exact_levels_with_the_full_h_form_matrix(harmonic):
    """The (M, M) h_form path: the quadratic form of the exact functions on the rule."""
    q, x, dual = harmonic
    values, grads, _ = exact_hermite(x)
    h, _ = ritz_matrices(values, grads, x**2, q.weights, 1.0)
    b = goerisch_lower_bounds(h, values, x**2, q.weights, q.points, 1.0, RHO, 5, dual)
    np.testing.assert_allclose(b, LEVELS, atol=1e-6)


def test_exact_functions_with_a_lower_shift_bound_only_the_levels_below(harmonic):
    """ρ = 8 (between levels 4 and 5, a valid lower bound of λ5 = 9) with φ_0..φ_3: levels 1..4."""
    q, x, dual = harmonic
    values, _, _ = exact_hermite(x, 4)
    b = goerisch_lower_bounds(LEVELS[:4], values, x**2, q.weights, q.points, 1.0, 8.0, 4, dual)
    np.testing.assert_allclose(b, LEVELS[:4], atol=1e-6)


# ---------------------------------------------------------------------------------------------
# 2. Perturbed trial functions: valid, second order, far tighter than Temple
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def perturbed_ritz(harmonic):
    q, x, _ = harmonic
    return ritz_functions(q, x, *perturbed_hermite(x, q.weights))


def test_perturbed_bounds_are_below_the_levels_and_the_ritz_values(harmonic, perturbed_ritz):
    q, x, dual = harmonic
    ritz, phi, _ = perturbed_ritz
    theta = ritz.energies
    ritz_error = theta - LEVELS
    assert np.all(ritz_error > 1e-4)  # the perturbation is visible (measured 2e-4 .. 8e-4)
    b = goerisch_lower_bounds(theta, phi, x**2, q.weights, q.points, 1.0, RHO, 5, dual)
    assert np.all(np.isfinite(b))
    assert np.all(b <= LEVELS)
    assert np.all(b <= theta)
    # second order: the distance to the level is below the Ritz value's error (measured 0.009..0.41×)
    assert np.all(LEVELS - b <= 1.0 * ritz_error)
    assert np.all(LEVELS - b <= 10.0 * ritz_error)


def test_perturbed_bounds_beat_temples_bound(harmonic, perturbed_ritz):
    """Temple: θ − σ²/(β − θ), σ² = ||Hφ||² − θ², β the exact next level."""
    q, x, dual = harmonic
    ritz, phi, hphi = perturbed_ritz
    theta = ritz.energies
    sigma2 = np.einsum("n,nk,nk->k", q.weights, hphi, hphi) - theta**2
    temple = theta - sigma2 / (LEVELS + 2.0 - theta)
    assert np.all(temple <= LEVELS)
    b = goerisch_lower_bounds(theta, phi, x**2, q.weights, q.points, 1.0, RHO, 5, dual)
    gap, temple_gap = LEVELS - b, LEVELS - temple
    # measured ratios 0.002, 0.008, 0.024, 0.088, 0.66: the gain is largest far below ρ
    assert np.all(gap <= 0.8 * temple_gap)
    assert np.all(gap[:3] <= 0.05 * temple_gap[:3])
    assert gap[0] <= 0.01 * temple_gap[0]


def test_bound_error_is_second_order_in_the_trial_error(harmonic):
    """Halving the perturbation divides the ground-level gap by about four."""
    q, x, dual = harmonic
    gaps = []
    for eps in (0.02, 0.01):
        ritz, phi, _ = ritz_functions(q, x, *perturbed_hermite(x, q.weights, eps))
        b = goerisch_lower_bounds(ritz.energies, phi, x**2, q.weights, q.points, 1.0, RHO, 5, dual)
        gaps.append(LEVELS - b)
    ratio = gaps[0] / gaps[1]
    assert np.all((ratio > 3.0) & (ratio < 5.0)), ratio


# ---------------------------------------------------------------------------------------------
# 3. Hand formula for one trial function of two eigenfunctions
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("a", [1.0, 0.9, 0.6])
@pytest.mark.parametrize("rho", [2.5, 3.0])
def test_one_function_matches_goerisch_quotient_by_hand(harmonic, a, rho):
    q, x, dual = harmonic
    b = math.sqrt(1.0 - a * a)
    phi, _, _ = exact_hermite(x, 2)
    v = (a * phi[:, 0] + b * phi[:, 1])[:, None]
    theta = a * a * 1.0 + b * b * 3.0
    s = hand_shift(x**2, theta)
    assert s == pytest.approx(goerisch_shift(x**2, theta), rel=1e-15)
    a0 = a * a * (1.0 + s) + b * b * (3.0 + s)
    a2 = a * a / (1.0 + s) + b * b / (3.0 + s)  # ideal: <v|(H + s)⁻¹ v>
    expected = one_function_bound(a0, 1.0, a2, rho, s)
    got = goerisch_lower_bounds(np.array([theta]), v, x**2, q.weights, q.points, 1.0, rho, 1, dual)
    assert got[0] == pytest.approx(expected, rel=1e-6)
    assert got[0] <= 1.0 + 1e-10
    if rho == 3.0 or b == 0.0:  # an exact eigenfunction, or the φ_1 component sits at ρ: the level
        assert got[0] == pytest.approx(1.0, abs=1e-6)
    else:
        assert got[0] < 1.0 - 1e-3


def test_explicit_shift_is_used(harmonic):
    """An explicit s changes the quotient; the hand formula with that s still matches."""
    q, x, dual = harmonic
    phi, _, _ = exact_hermite(x, 2)
    a, b, s, rho = 0.8, 0.6, 2.0, 2.5
    v = (a * phi[:, 0] + b * phi[:, 1])[:, None]
    theta = a * a + 3 * b * b
    expected = one_function_bound(a * a * (1 + s) + b * b * (3 + s), 1.0, a * a / (1 + s) + b * b / (3 + s), rho, s)
    got = goerisch_lower_bounds([theta], v, x**2, q.weights, q.points, 1.0, rho, 1, dual, goerisch_s=s)
    assert got[0] == pytest.approx(expected, rel=1e-6)
    assert got[0] <= 1.0


# ---------------------------------------------------------------------------------------------
# 4. Particle in a box (hard walls, V = 0): levels k²
# ---------------------------------------------------------------------------------------------

def test_particle_in_a_box_bounds_are_below_k_squared():
    """Valid, but loose: the cosine dual has zero normal derivative, the Neumann type, and cannot
    approach (H + s)⁻¹ sin(kx) (measured gaps 1.05, 2.99, 5.5, 6.7, 10.5 at eps = 0.02; with
    exact sines the bounds are −0.05, 1.01, 3.50, 9.26, 14.50, close to the Neumann levels
    0, 1, 4, 9, 16 one index down)."""
    q = gauss_legendre_box([(0.0, math.pi)], 40, 4)
    x = q.points[:, 0]
    k = np.arange(1, 6)
    levels = k.astype(float) ** 2
    bump = x * (math.pi - x) * (1 + 0.5 * x)  # vanishes at both walls
    dbump = (math.pi - 2 * x) * (1 + 0.5 * x) + 0.5 * x * (math.pi - x)
    values = np.sin(np.outer(x, k)) + EPS * bump[:, None]
    grads = (k * np.cos(np.outer(x, k)) + EPS * dbump[:, None])[:, :, None]
    pot = np.zeros_like(x)
    h, s = ritz_matrices(values, grads, pot, q.weights, 1.0)
    theta = rayleigh_ritz(h, s).energies
    assert np.all(theta > levels)
    dual = CosineDual(q.box, dual_per_axis(q.points, 1))
    b = goerisch_lower_bounds(h, values, pot, q.weights, q.points, 1.0, 36.0, 5, dual)
    assert np.all(np.isfinite(b))
    assert np.all(b <= levels)
    assert np.all(b <= theta)
    previous = (k - 1.0) ** 2  # the Dirichlet level below (0 for the ground level)
    assert np.all(b > previous - 2.0), b  # not a trivial bound either


def test_particle_in_a_box_with_a_sine_dual_is_tight():
    """Walls on both faces: the sine dual vanishes there like (H + s)⁻¹ sin(kx), so exact sines
    give the levels k² and perturbed ones bounds within their Ritz error of the level."""
    q = gauss_legendre_box([(0.0, math.pi)], 40, 4)
    x = q.points[:, 0]
    k = np.arange(1, 6)
    levels = k.astype(float) ** 2
    pot = np.zeros_like(x)
    dual = CosineDual(q.box, dual_per_axis(q.points, 1), sine_axes=[True])
    exact = np.sin(np.outer(x, k)) * math.sqrt(2 / math.pi)
    np.testing.assert_allclose(goerisch_lower_bounds(levels, exact, pot, q.weights, q.points, 1.0, 36.0, 5, dual),
                               levels, atol=1e-6)
    bump = x * (math.pi - x) * (1 + 0.5 * x)
    dbump = (math.pi - 2 * x) * (1 + 0.5 * x) + 0.5 * x * (math.pi - x)
    values = exact + EPS * bump[:, None]
    grads = (math.sqrt(2 / math.pi) * k * np.cos(np.outer(x, k)) + EPS * dbump[:, None])[:, :, None]
    h, s = ritz_matrices(values, grads, pot, q.weights, 1.0)
    rr = rayleigh_ritz(h, s)
    b = goerisch_lower_bounds(rr.energies, values @ rr.vectors, pot, q.weights, q.points, 1.0, 36.0, 5, dual)
    assert np.all(b <= levels)
    assert np.all(levels - b <= rr.energies - levels), (levels - b, rr.energies - levels)


# ---------------------------------------------------------------------------------------------
# 5. 2D harmonic oscillator: levels 2, 4, 4 (a degenerate pair)
# ---------------------------------------------------------------------------------------------

def test_two_dimensional_products_give_the_levels_with_the_degenerate_pair():
    q = gauss_legendre_box([(-6.0, 6.0)] * 2, 40, 2)
    x, y = q.points[:, 0], q.points[:, 1]
    f = [gaussian_times(hermite_factor(n), x)[0] for n in range(2)]
    g = [gaussian_times(hermite_factor(n), y)[0] for n in range(2)]
    values = np.stack([f[0] * g[0], f[1] * g[0], f[0] * g[1]], 1)
    pot = x**2 + y**2
    dual = CosineDual(q.box, dual_per_axis(q.points, 2))
    assert len(dual) == 20**2 - 1
    b = goerisch_lower_bounds(np.array([2.0, 4.0, 4.0]), values, pot, q.weights, q.points, 1.0, 6.0, 3, dual)
    np.testing.assert_allclose(b, [2.0, 4.0, 4.0], atol=1e-6)
    assert np.all(b <= np.array([2.0, 4.0, 4.0]) + 1e-10)


# ---------------------------------------------------------------------------------------------
# 6. Error paths
# ---------------------------------------------------------------------------------------------

def test_nonpositive_v_plus_s_raises(harmonic):
    q, x, dual = harmonic
    values, _, _ = exact_hermite(x, 2)
    with pytest.raises(ValueError, match="positive"):
        goerisch_lower_bounds([1.0, 3.0], values, x**2, q.weights, q.points, 1.0, 5.0, 2, dual, goerisch_s=-1.0)
    with pytest.raises(ValueError, match="positive"):  # V + s = 0 exactly at the lowest node
        goerisch_lower_bounds([1.0, 3.0], values, x**2, q.weights, q.points, 1.0, 5.0, 2, dual,
                              goerisch_s=-float(np.min(x**2)))


def test_mismatched_shapes_and_nonfinite_shift_raise(harmonic):
    q, x, dual = harmonic
    values, _, _ = exact_hermite(x, 2)
    args = (x**2, q.weights, q.points, 1.0)
    with pytest.raises(ValueError):  # h_form has three functions, values two
        goerisch_lower_bounds([1.0, 3.0, 5.0], values, *args, 5.0, 2, dual)
    with pytest.raises(ValueError):  # values of fewer nodes than weights
        goerisch_lower_bounds([1.0, 3.0], values[:-1], *args, 5.0, 2, dual)
    with pytest.raises(ValueError):  # a vector of values, not (N, M)
        goerisch_lower_bounds([1.0], values[:, 0], *args, 5.0, 1, dual)
    with pytest.raises(ValueError):  # points of another rule
        goerisch_lower_bounds([1.0, 3.0], values, x**2, q.weights, q.points[:-1], 1.0, 5.0, 2, dual)
    for rho in (np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError):
            goerisch_lower_bounds([1.0, 3.0], values, *args, rho, 2, dual)


@pytest.mark.parametrize("box, per_axis", [([(0.0, 1.0)], 1), ([(0.0, 1.0)], 0), ([(1.0, 0.0)], 4),
                                            ([(0.0, 0.0)], 4), ([(0.0, 1.0), (2.0, 2.0)], 4), ([0.0, 1.0], 4)])
def test_cosine_dual_rejects_bad_arguments(box, per_axis):
    with pytest.raises(ValueError):
        CosineDual(box, per_axis)


def test_shift_above_an_uncounted_level_gives_all_nan(harmonic):
    """φ_0..φ_4 with ρ = 11 but below = 3: five negative μ > 3, ρ is no lower bound of level 4."""
    q, x, dual = harmonic
    values, _, _ = exact_hermite(x)
    b = goerisch_lower_bounds(LEVELS, values, x**2, q.weights, q.points, 1.0, RHO, 3, dual)
    assert b.shape == (3,) and np.all(np.isnan(b))
    # ρ = 9.5 is above level 5 = 9, which below = 4 does not count
    b = goerisch_lower_bounds(LEVELS, values, x**2, q.weights, q.points, 1.0, 9.5, 4, dual)
    assert b.shape == (4,) and np.all(np.isnan(b))


def test_fewer_trial_functions_than_levels_leave_the_lowest_levels_nan(harmonic):
    """Trial functions φ_3, φ_4 with ρ = 11, below = 5: bounds of levels 4, 5; levels 1..3 NaN
    (the negative μ are assigned from the top level down)."""
    q, x, dual = harmonic
    values, _, _ = exact_hermite(x)
    b = goerisch_lower_bounds(LEVELS[3:], values[:, 3:], x**2, q.weights, q.points, 1.0, RHO, 5, dual)
    assert np.all(np.isnan(b[:3]))
    np.testing.assert_allclose(b[3:], [7.0, 9.0], atol=1e-6)


def test_zero_levels_below_gives_an_empty_array(harmonic):
    q, x, dual = harmonic
    values, _, _ = exact_hermite(x, 1)
    b = goerisch_lower_bounds([1.0], values, x**2, q.weights, q.points, 1.0, 0.5, 0, dual)
    assert b.shape == (0,)


# ---------------------------------------------------------------------------------------------
# 7. CosineDual derivatives against finite differences
# ---------------------------------------------------------------------------------------------

def cosine_product(box, index, x):
    box = np.asarray(box, float)
    return np.prod([np.cos(k * np.pi * (x[..., d] - box[d, 0]) / (box[d, 1] - box[d, 0]))
                    for d, k in enumerate(index)], axis=0)


@pytest.mark.parametrize("box, per_axis", [([(-1.0, 2.0), (0.5, 3.0)], 4), ([(-1.0, 1.0), (0.0, 2.0), (-3.0, 0.0)], 3)])
def test_cosine_dual_derivatives_match_finite_differences(box, per_axis):
    dual = CosineDual(box, per_axis)
    D = len(box)
    assert len(dual) == per_axis**D - 1
    assert sorted(map(tuple, dual.index)) == sorted(
        t for t in np.ndindex(*(per_axis,) * D) if any(t))  # every product except the constant, once
    rng = np.random.default_rng(7)
    lo, hi = np.array(box).T
    points = lo + (hi - lo) * rng.uniform(size=(5, D))
    grad, lap = dual.derivatives(points)
    assert grad.shape == (5, len(dual), D) and lap.shape == (5, len(dual))
    h = 1e-4
    for j, index in enumerate(dual.index):
        fd_grad = np.empty((5, D))
        fd_lap = np.zeros(5)
        centre = cosine_product(box, index, points)
        for d in range(D):
            e = np.zeros(D)
            e[d] = h
            plus, minus = cosine_product(box, index, points + e), cosine_product(box, index, points - e)
            fd_grad[:, d] = (plus - minus) / (2 * h)
            fd_lap += (plus - 2 * centre + minus) / h**2
        np.testing.assert_allclose(grad[:, j], fd_grad, atol=1e-6)
        np.testing.assert_allclose(lap[:, j], fd_lap, atol=1e-5)


def test_cosine_dual_normal_derivative_vanishes_on_the_faces():
    box = [(-1.0, 2.0), (0.5, 3.0)]
    dual = CosineDual(box, 4)
    faces = np.array([[-1.0, 1.0], [2.0, 1.7], [0.3, 0.5], [1.1, 3.0]])
    grad, _ = dual.derivatives(faces)
    np.testing.assert_allclose(grad[:2, :, 0], 0.0, atol=1e-12)
    np.testing.assert_allclose(grad[2:, :, 1], 0.0, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# 8. dual_per_axis
# ---------------------------------------------------------------------------------------------

def axis_nodes(*counts):
    """Points whose axis d has counts[d] distinct coordinates (dual_per_axis only counts them)."""
    n = max(counts)
    return np.stack([np.arange(n) % c for c in counts], 1).astype(float)


def test_dual_per_axis_counts_distinct_nodes_per_axis():
    assert dual_per_axis(axis_nodes(7), 1) == 0  # 7 // 4 = 1 < 2: no Goerisch bound
    assert dual_per_axis(axis_nodes(8), 1) == 2
    assert dual_per_axis(axis_nodes(160), 1) == 40
    assert dual_per_axis(axis_nodes(2000), 1) == 96  # the 1D cap
    assert dual_per_axis(axis_nodes(200, 12), 2) == 3  # the coarsest axis decides
    assert dual_per_axis(axis_nodes(200, 200), 2) == 24  # the 2D cap
    assert dual_per_axis(axis_nodes(60, 60, 60), 3) == 12
    assert dual_per_axis(axis_nodes(400, 400, 400, 400), 4) == 0  # no dual space beyond 3D
    q, _ = harmonic_rule(8, 1)
    assert dual_per_axis(q.points, 1) == 2


def test_dual_per_axis_respects_the_total_number_of_dual_functions(monkeypatch):
    for D, counts in ((1, (2000,)), (2, (200, 200)), (3, (60, 60, 60))):
        n = dual_per_axis(axis_nodes(*counts), D)
        assert n**D - 1 <= DUAL_FUNCTIONS_MAX
    monkeypatch.setattr(goerisch_module, "DUAL_FUNCTIONS_MAX", 50)
    assert dual_per_axis(axis_nodes(200, 200), 2) == 7  # 7² − 1 = 48 <= 50 < 63 = 8² − 1
    assert dual_per_axis(axis_nodes(60, 60, 60), 3) == 3  # 26 <= 50 < 63
    assert dual_per_axis(axis_nodes(2000), 1) == 51
    monkeypatch.setattr(goerisch_module, "DUAL_FUNCTIONS_MAX", 2)
    assert dual_per_axis(axis_nodes(200, 200), 2) == 0  # 2² − 1 = 3 > 2: nothing left


# ---------------------------------------------------------------------------------------------
# 9. GoerischData: refined-rule error and the lower of two rules
# ---------------------------------------------------------------------------------------------

def refined_tuple(count=5, h_diag=None):
    q, x = harmonic_rule(60, 4)
    values, _, _ = exact_hermite(x, count)
    h = np.diag(LEVELS[:count] if h_diag is None else h_diag)
    return (h, values, x**2, q.weights, q.points)


def test_rule_error_vanishes_for_exact_functions(harmonic):
    q, x, dual = harmonic
    values, _, _ = exact_hermite(x)
    data = GoerischData(values, x**2, q.weights, q.points, 1.0, dual)
    assert data.rule_error(LEVELS) is None
    data.refined = refined_tuple()
    err = data.rule_error(LEVELS)
    assert err.shape == (5,)
    np.testing.assert_allclose(err, 0.0, atol=1e-10)
    # an energy off by δ shows up as δ
    np.testing.assert_allclose(data.rule_error(LEVELS + np.array([0, 1e-3, 0, 0, -2e-3])), [0, 1e-3, 0, 0, 2e-3],
                               atol=1e-10)


def test_rule_error_is_the_refined_rayleigh_quotient_gap(harmonic):
    """Unnormalised refined values: |h_kk / <v_k|v_k> − θ_k| by hand."""
    q, x, dual = harmonic
    values, _, _ = exact_hermite(x, 2)
    h, fine, pot, w, pts = refined_tuple(2, h_diag=[1.1 * 4.0, 3.0 * 0.25])
    data = GoerischData(values, x**2, q.weights, q.points, 1.0, dual,
                        refined=(h, fine * np.array([2.0, 0.5]), pot, w, pts))
    np.testing.assert_allclose(data.rule_error([1.0, 3.0]), [0.1, 0.0], atol=1e-10)


def test_lower_bounds_without_refined_rule_are_the_rules_bounds(harmonic):
    q, x, dual = harmonic
    values, _, _ = exact_hermite(x)
    data = GoerischData(values, x**2, q.weights, q.points, 1.0, dual)
    np.testing.assert_allclose(data.lower_bounds(LEVELS, RHO, 5), LEVELS, atol=1e-6)


@pytest.mark.parametrize("lowered", ["refined", "rule"])
def test_lower_bounds_take_the_lower_of_the_two_rules(harmonic, lowered):
    """φ_0 with its energy 1 + δ on one rule and 1 on the other: that rule's hand-formula bound
    (a0 = 1 + δ + s, a1 = 1, a2 = 1/(1 + s)) is below 1 and is the result."""
    q, x, dual = harmonic
    delta, rho = 0.05, 2.5
    values, _, _ = exact_hermite(x, 1)
    refined = refined_tuple(1, h_diag=[1.0 + delta] if lowered == "refined" else [1.0])
    theta = np.array([1.0 + delta if lowered == "rule" else 1.0])
    data = GoerischData(values, x**2, q.weights, q.points, 1.0, dual, refined=refined)
    pot = refined[2] if lowered == "refined" else x**2
    s = hand_shift(pot, 1.0 + delta)
    expected = one_function_bound(1.0 + delta + s, 1.0, 1.0 / (1.0 + s), rho, s)
    assert expected < 1.0 - 1e-3
    got = data.lower_bounds(theta, rho, 1)
    assert got[0] == pytest.approx(expected, rel=1e-6)


# ---------------------------------------------------------------------------------------------
# 10. level_bounds with trial functions and Goerisch data
# ---------------------------------------------------------------------------------------------

def bounds_inputs(harmonic, perturbed: bool):
    q, x, dual = harmonic
    funcs = perturbed_hermite(x, q.weights) if perturbed else exact_hermite(x)
    ritz, phi, hphi = ritz_functions(q, x, *funcs)
    rgram = residual_gram(funcs[0], funcs[2], q.weights, ritz)
    return q, x, dual, ritz, rgram, phi, hphi


def refined_ritz(ritz, perturbed: bool):
    """The same Ritz functions (coefficients from the rule) on a finer rule, with their quadratic
    form there: the refined tuple of GoerischData."""
    q2, x2 = harmonic_rule(60, 4)
    values, grads, _ = perturbed_hermite(x2, q2.weights) if perturbed else exact_hermite(x2)
    phi2, dphi2 = ritz.rotate(values), grads[:, :, 0] @ ritz.vectors
    h2, _ = ritz_matrices(phi2, dphi2[:, :, None], x2**2, q2.weights, 1.0)
    return (h2, phi2, x2**2, q2.weights, q2.points)


@pytest.mark.parametrize("perturbed", [False, True])
@pytest.mark.parametrize("with_refined", [False, True])
def test_level_bounds_upper_side_is_min_max_for_every_level(harmonic, perturbed, with_refined):
    q, x, dual, ritz, rgram, phi, hphi = bounds_inputs(harmonic, perturbed)
    theta = ritz.energies
    data = GoerischData(phi, x**2, q.weights, q.points, 1.0, dual)
    if with_refined:
        data.refined = refined_ritz(ritz, perturbed)
    b = level_bounds(theta, rgram, trial=(phi, hphi, q.weights), goerisch=data)
    assert np.all(b.contains(LEVELS) == 1.0), (b.lower - LEVELS, b.upper - LEVELS)
    widening = b.ritz_rule_error if with_refined else b.rule_error
    assert (b.ritz_rule_error is not None) == with_refined
    assert np.all(widening < 1e-8)
    np.testing.assert_allclose(b.upper, theta + widening, rtol=0, atol=1e-10)
    assert np.all(b.upper >= theta)
    if perturbed:  # (exact data: Kato–Temple's upper side is θ itself, min–max is not tighter)
        assert all(kind.endswith("min–max") for kind in b.kinds), b.kinds
        # ρ = the highest level's reported lower side: levels 1..4 take Lehmann–Goerisch
        assert all(kind.startswith("Lehmann–Goerisch/") for kind in b.kinds[:4]), b.kinds
        assert not b.kinds[4].startswith("Lehmann")
        assert np.all(np.isnan(b.goerisch_lower[4:])) and np.all(np.isfinite(b.goerisch_lower[:4]))
        assert b.lehmann_shift == b.lower[4] and b.lehmann_shift <= LEVELS[4]
        assert np.all(b.goerisch_lower[:4] <= LEVELS[:4])


@pytest.mark.parametrize("perturbed", [False, True])
def test_level_bounds_with_next_level_lower_bound_every_level_by_lehmann_goerisch(harmonic, perturbed):
    q, x, dual, ritz, rgram, phi, hphi = bounds_inputs(harmonic, perturbed)
    theta = ritz.energies
    data = GoerischData(phi, x**2, q.weights, q.points, 1.0, dual)
    b = level_bounds(theta, rgram, trial=(phi, hphi, q.weights), goerisch=data, next_level_lower=RHO)
    assert b.lehmann_shift == RHO
    assert np.all(np.isfinite(b.goerisch_lower))
    assert np.all(b.goerisch_lower <= LEVELS + 1e-10)
    assert np.all(b.contains(LEVELS) == 1.0), (b.lower - LEVELS, b.upper - LEVELS)
    if perturbed:
        assert all(kind.endswith("min–max") for kind in b.kinds), b.kinds
        assert all(kind.startswith("Lehmann–Goerisch/") for kind in b.kinds), b.kinds
        # the reported lower side is the Goerisch bound (less the rule error and the rounding pad)
        np.testing.assert_allclose(b.lower, b.goerisch_lower, atol=1e-9)
        assert np.all(LEVELS - b.lower <= theta - LEVELS)  # tighter than the Ritz value's error
    else:
        np.testing.assert_allclose(b.lower, LEVELS, atol=1e-6)
        np.testing.assert_allclose(b.upper, LEVELS, atol=1e-6)


def widened_bounds(harmonic, delta):
    """level_bounds on the perturbed Ritz functions, the refined rule's quadratic form off by δ_k
    on the diagonal (a simulated integration error), ρ = 11."""
    q, x, dual, ritz, rgram, phi, hphi = bounds_inputs(harmonic, True)
    theta = ritz.energies
    h2, phi2, pot2, w2, pts2 = refined_ritz(ritz, True)
    norm2 = np.einsum("n,nk,nk->k", w2, phi2, phi2)
    assert np.allclose(norm2, 1.0, atol=1e-10) and np.allclose(np.diag(h2), theta, atol=1e-10)
    data = GoerischData(phi, x**2, q.weights, q.points, 1.0, dual, refined=(h2 + np.diag(delta), phi2, pot2, w2, pts2))
    b = level_bounds(theta, rgram, trial=(phi, hphi, q.weights), goerisch=data, next_level_lower=RHO)
    return b, theta, (q, x, dual, phi)


def test_refined_rule_error_widens_the_min_max_and_goerisch_sides(harmonic):
    """Upper = θ + δ (min–max) above the ground level, and the Lehmann–Goerisch lower side is at
    most the plain bound minus δ; every interval still contains the level."""
    delta = np.array([1e-5, 2e-5, 3e-5, 4e-5, 5e-5])
    b, theta, (q, x, dual, phi) = widened_bounds(harmonic, delta)
    np.testing.assert_allclose(b.ritz_rule_error, delta, rtol=1e-4)
    np.testing.assert_allclose(b.upper[1:], theta[1:] + delta[1:], rtol=0, atol=1e-10)
    assert np.all(b.upper >= theta)
    assert all(kind.endswith("min–max") for kind in b.kinds), b.kinds
    plain = goerisch_lower_bounds(theta, phi, x**2, q.weights, q.points, 1.0, RHO, 5, dual)
    assert np.all(b.goerisch_lower <= plain - delta + 1e-12)
    assert np.all(b.contains(LEVELS) == 1.0), (b.lower - LEVELS, b.upper - LEVELS)


def test_refined_rule_error_widens_the_ground_levels_upper_side_too(harmonic):
    delta = np.array([1e-5, 2e-5, 3e-5, 4e-5, 5e-5])
    b, theta, _ = widened_bounds(harmonic, delta)
    assert b.upper[0] >= theta[0] + delta[0], (b.upper[0] - theta[0], delta[0])


# ---------------------------------------------------------------------------------------------
# ρ at a trial function's own eigenvalue (ρ = λ_{N+1} exactly, a valid shift)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("gap", [0.0, 1e-11, 1e-9])
def test_goerisch_stays_valid_with_the_shift_at_a_trial_eigenvalue(harmonic, gap):
    """φ_0..φ_4 with ρ = 9 − gap (≤ λ_5 = 9, above λ_4 = 7), below = 4: the levels 1, 3, 5, 7."""
    q, x, dual = harmonic
    values, _, _ = exact_hermite(x)
    b = goerisch_lower_bounds(LEVELS, values, x**2, q.weights, q.points, 1.0, 9.0 - gap, 4, dual)
    assert np.all(np.isnan(b) | (b <= LEVELS[:4] + 1e-10)), b - LEVELS[:4]
    np.testing.assert_allclose(b, LEVELS[:4], atol=1e-6)


def test_lehmann_stays_valid_with_the_shift_at_a_trial_eigenvalue(harmonic):
    """Same setting for Lehmann's bounds at ρ = 9 exactly (measured: 3.04, 5.02, 7.005, 9.0 for
    the levels 1, 3, 5, 7; at ρ = 9 − 1e-13 errors of ±1e-2 either way; level_bounds with exact
    data puts ρ 9e-12 under the top level and then stores ``lehmann_lower`` 2e-4 above the
    levels, which _raise_lower rejects only because they are above the Ritz values)."""
    gap = 0.0
    from nsvd_cli.bounds import lehmann_lower_bounds
    q, x, _ = harmonic
    values, _, h_values = exact_hermite(x)
    b = lehmann_lower_bounds(values, h_values, q.weights, 9.0 - gap, 4)
    assert np.all(np.isnan(b) | (b <= LEVELS[:4] + 1e-8)), b - LEVELS[:4]
