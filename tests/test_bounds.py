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
