"""Weinstein and Kato–Temple intervals (nsvd_cli.bounds), with values derived by hand.

Oscillator H = −d²/dx² + x², levels 1, 3, 5. For φ = (ψ0 + εψ2)/√(1 + ε²):
E = (1 + 5ε²)/(1 + ε²), σ = 4ε/(1 + ε²), and with β = 3 the Kato–Temple lower bound is
E − σ²/(3 − E) = 1 − 4ε²/(1 − ε²).
"""

import numpy as np
import pytest

from nsvd_cli.bounds import clusters, level_bounds, no_bounds


def perturbed(eps):
    return (1 + 5 * eps**2) / (1 + eps**2), 4 * eps / (1 + eps**2)


def test_exact_levels_give_point_intervals():
    b = level_bounds(np.array([1.0, 3.0, 5.0]), np.zeros(3))
    np.testing.assert_allclose(b.lower, [1, 3, 5], rtol=1e-11)
    np.testing.assert_allclose(b.upper, [1, 3, 5], rtol=1e-11)
    assert b.kinds == ["Kato–Temple/min–max", "Kato–Temple", "Weinstein/Kato–Temple"]


@pytest.mark.parametrize("eps", [0.01, 0.05, 0.2])
def test_perturbed_ground_state_interval_contains_the_level(eps):
    e, s = perturbed(eps)
    b = level_bounds(np.array([e, 3.0, 5.0]), np.array([s, 0.0, 0.0]))
    assert b.weinstein_lower[0] == pytest.approx(e - s) and b.weinstein_upper[0] == pytest.approx(e + s)
    assert b.kato_temple_lower[0] == pytest.approx(1 - 4 * eps**2 / (1 - eps**2), rel=1e-12)
    assert b.upper[0] == pytest.approx(e)  # min–max: the lowest Ritz value bounds the ground state
    assert b.contains([1.0, 3.0, 5.0]).tolist() == [1.0, 1.0, 1.0]
    assert b.upper[0] - b.lower[0] < 2 * s  # Kato–Temple is tighter than Weinstein


def test_perturbed_middle_level_uses_both_neighbours():
    eps = 0.05  # (ψ1 + εψ2)/n: E = (3 + 5ε²)/(1 + ε²), σ = 2ε/(1 + ε²)
    e, s = (3 + 5 * eps**2) / (1 + eps**2), 2 * eps / (1 + eps**2)
    b = level_bounds(np.array([1.0, e, 5.0]), np.array([0.0, s, 0.0]))
    assert b.kato_temple_upper[1] == pytest.approx(e + s**2 / (e - 1.0))
    assert b.kato_temple_lower[1] == pytest.approx(e - s**2 / (5.0 - e))
    assert b.kato_temple_lower[1] == pytest.approx(3.0, rel=1e-13)  # Temple is exact for a two-level mixture
    assert b.lower[1] <= 3.0 <= b.upper[1]  # (the reported interval is rounded outwards)


def test_highest_level_lower_side_is_weinstein_unless_next_level_given():
    b = level_bounds(np.array([1.0, 3.01]), np.array([0.0, 0.2]))
    assert b.lower[1] == pytest.approx(3.01 - 0.2) and b.kinds[1] == "Weinstein/Kato–Temple"
    b = level_bounds(np.array([1.0, 3.01]), np.array([0.0, 0.2]), next_level_lower=5.0)
    assert b.lower[1] == pytest.approx(3.01 - 0.04 / (5.0 - 3.01)) and b.kinds[1] == "Kato–Temple"


def test_degenerate_pair_is_one_cluster_and_contains_the_level():
    theta = np.array([1.0, 3.0 - 1e-4, 3.0 + 1e-4, 5.0])
    rgram = np.diag([0.0, 1e-6, 1e-6, 0.0])  # ||R_C||₂ = 1e-3
    assert clusters(theta, rgram) == [[0], [1, 2], [3]]
    b = level_bounds(theta, rgram)
    assert b.kinds[1] == b.kinds[2] == "Kato–Temple (cluster of 2)"
    assert b.upper[1] - b.lower[1] == pytest.approx(2 * 1e-6 / (3.0 - 1e-4 - 1.0), rel=1e-4)
    assert b.contains([1.0, 3.0 - 1e-4, 3.0 + 1e-4, 5.0]).tolist() == [1.0] * 4


def test_overlapping_levels_fall_back_to_the_cluster_weinstein_interval():
    b = level_bounds(np.array([1.0, 1.5]), np.array([1.0, 1.0]))
    r = np.sqrt(2.0)  # σσᵀ: ||R||₂ ≤ sqrt(Σσ²)
    assert b.kinds == ["Kahan/min–max (cluster of 2)"] * 2
    np.testing.assert_allclose(b.lower, [1.0 - r, 1.5 - r])
    np.testing.assert_allclose(b.upper, [1.0, 1.5])  # lowest cluster: min–max upper bounds


def test_no_bound_with_reason():
    b = level_bounds(np.array([1.0, 3.0]), np.zeros(2), unavailable="Coulomb cusp")
    assert b.kinds == ["no bound: Coulomb cusp"] * 2 and not b.bounded.any()
    assert np.isnan(b.contains([1.0, 3.0])).all()
    b = level_bounds(np.array([1.0, 3.0]), np.zeros(2), deterministic=False)
    assert not b.bounded.any() and "Monte Carlo" in b.kinds[0]
    b = level_bounds(np.array([1.0, np.nan]), np.array([0.0, np.nan]))
    assert b.bounded.tolist() == [True, False]
    assert no_bounds(3, "x").cluster.tolist() == [-1, -1, -1]


def test_interval_misses_a_level_it_should_not_contain():
    b = level_bounds(np.array([1.0, 3.0]), np.array([0.01, 0.0]))
    assert b.contains([1.5, 3.0]).tolist() == [0.0, 1.0]


# --- Lehmann lower bounds: a finite matrix problem (H = A on R^n, unit weights) ---------------
def lehmann(vectors, a, shift, below):
    from nsvd_cli.bounds import lehmann_lower_bounds

    return lehmann_lower_bounds(vectors, a @ vectors, np.ones(len(a)), shift, below)


def test_lehmann_on_exact_eigenvectors_gives_the_levels():
    a = np.diag([1.0, 3.0, 5.0, 7.0])
    np.testing.assert_allclose(lehmann(np.eye(4)[:, :3], a, 5.0, 2), [1.0, 3.0], rtol=1e-13)
    np.testing.assert_allclose(lehmann(np.eye(4)[:, :2], a, 4.0, 2), [1.0, 3.0], rtol=1e-13)


@pytest.mark.parametrize("eps", [0.01, 0.05, 0.2])
def test_lehmann_one_function_is_temples_bound(eps):
    v = np.array([[1.0], [0.0], [eps]])  # ψ0 + εψ2 of levels 1, 3, 5 (the module docstring)
    bound = lehmann(v, np.diag([1.0, 3.0, 5.0]), 3.0, 1)
    assert bound[0] == pytest.approx(1 - 4 * eps**2 / (1 - eps**2), rel=1e-12)


@pytest.mark.parametrize("eps", [0.05, 0.3])
def test_lehmann_is_exact_when_the_contamination_sits_at_the_shift(eps):
    # span{e1 + ε e3, e2}, ρ = λ3 = 5: by hand, E = (1 + 5ε²)/(1 + ε²), σ² = 16ε²/(1 + ε²)²,
    # E − σ²/(5 − E) = 1, and e2 gives 3 exactly (the two decouple in A and B).
    v = np.array([[1.0, 0.0], [0.0, 1.0], [eps, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(lehmann(v, np.diag([1.0, 3.0, 5.0, 7.0]), 5.0, 2), [1.0, 3.0], rtol=1e-12)


def test_lehmann_perturbed_basis_brackets_the_levels():
    rng = np.random.default_rng(0)
    levels = np.array([1.0, 2.0, 2.0, 3.5, 6.0, 7.0, 9.0, 12.0, 15.0, 20.0])
    q, _ = np.linalg.qr(rng.normal(size=(10, 10)))
    a = q @ np.diag(levels) @ q.T
    trial = q[:, :4] + 0.03 * rng.normal(size=(10, 4))
    ritz = np.linalg.eigvalsh(np.linalg.solve(trial.T @ trial, trial.T @ a @ trial))  # upper bounds
    for shift in (6.0, 5.0, 4.0):  # ρ ≤ λ5 = 6
        lo = lehmann(trial, a, shift, 4)
        assert np.all(lo <= levels[:4]) and np.all(levels[:4] <= ritz)
    # ρ closer to λ5 gives tighter bounds (second order in the 3 % perturbation)
    lo6, lo4 = lehmann(trial, a, 6.0, 4), lehmann(trial, a, 4.0, 4)
    assert np.all(lo6 >= lo4)
    assert np.all(levels[:4] - lo6 < 0.15)


def test_lehmann_needs_a_shift_above_the_bounded_levels():
    from nsvd_cli.bounds import lehmann_lower_bounds

    a = np.diag([1.0, 3.0, 5.0])
    # ρ = 2 ≤ λ2: only λ1 gets a bound, however many are asked for
    lo = lehmann(np.eye(3), a, 2.0, 2)
    assert np.isnan(lo[0]) and lo[1] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        lehmann_lower_bounds(np.ones((3, 1)), np.ones((3, 2)), np.ones(3), 2.0, 1)


def test_level_bounds_use_lehmann_below_the_highest_cluster():
    # levels 1, 3, 5 of A; Ritz pairs of a perturbed basis; ρ = the lower bound of the top level
    a = np.diag([1.0, 3.0, 5.0, 9.0])
    eps = 0.05
    trial = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [eps, eps, 0.0]])
    import scipy.linalg

    theta, c = scipy.linalg.eigh(trial.T @ a @ trial, trial.T @ trial)
    phi = trial @ c
    r = a @ phi - phi * theta
    b = level_bounds(theta, r.T @ r, trial=(phi, a @ phi, np.ones(4)))
    assert b.contains([1.0, 3.0, 5.0]).tolist() == [1.0, 1.0, 1.0]
    assert b.lehmann_shift == pytest.approx(b.lower[2])
    assert np.isfinite(b.lehmann_lower[:2]).all() and np.isnan(b.lehmann_lower[2])
    assert b.kinds[1].startswith("Lehmann") and b.lower[1] >= b.kato_temple_lower[1]
    assert "lehmann_lower" in b.arrays()


def test_lehmann_subtracts_the_rules_quadratic_laplacian_form_gap():
    # Exact eigenvectors of diag(1, 3, 5), but "Hφ1" on the rule is off by δφ1, as a coarse rule
    # integrates <φ|Hφ> (here 1 + δ) differently from the quadratic form (the Ritz value 1).
    # Uncorrected, Lehmann would give 1 + δ > λ1; corrected by the gap δ it gives 1.
    delta = 1e-3
    phi = np.eye(3)
    hphi = np.diag([1.0, 3.0, 5.0]) @ phi
    hphi[:, 0] += delta * phi[:, 0]
    theta = np.array([1.0, 3.0, 5.0])
    r = hphi - phi * theta
    b = level_bounds(theta, r.T @ r, trial=(phi, hphi, np.ones(3)))
    assert b.lehmann_lower[0] == pytest.approx(1.0, abs=1e-12)
    assert b.contains([1.0, 3.0, 5.0]).tolist() == [1.0, 1.0, 1.0]


def test_rule_error_widens_the_interval_both_ways():
    """Trial values whose <φ|Hφ> on the rule differs from the Ritz value by δ (an integration
    error: the two forms agree for exact integrals) widen the interval by δ on each side. By
    hand: one level θ = 1 with zero residual is the point [1, 1]; with Hφ = (1 + δ)φ it is
    [1 − δ, 1 + δ] (up to the outward rounding)."""
    delta, w = 3e-3, np.full(4, 0.25)
    v = np.ones((4, 1))
    b = level_bounds(np.array([1.0]), np.array([0.0]), trial=(v, (1 + delta) * v, w))
    assert b.rule_error[0] == pytest.approx(delta)
    assert b.lower[0] == pytest.approx(1 - delta, abs=1e-11) and b.upper[0] == pytest.approx(1 + delta, abs=1e-11)
    exact = level_bounds(np.array([1.0]), np.array([0.0]), trial=(v, v, w))
    assert exact.upper[0] - exact.lower[0] < 1e-11
