"""Rayleigh–Ritz on the learned span (nsvd_cli.ritz), on analytic 1D oscillator functions.

H = −d²/dx² + x² (κ = 1): levels 2n + 1; ψ0 = π^{-1/4} e^{-x²/2}, ψ1 = √2 x ψ0,
ψ2 = (2x² − 1)/√2 ψ0. Values derived by hand in each test.
"""

import numpy as np
import pytest

from nsvd_cli.quadrature import gauss_legendre_box
from nsvd_cli.ritz import rayleigh_ritz, residual_gram, ritz_from_samples, ritz_matrices

RULE = gauss_legendre_box([(-12.0, 12.0)], 20, 24)
X = RULE.points[:, 0]
G = np.pi ** -0.25 * np.exp(-X**2 / 2)
PSI = np.stack([G, np.sqrt(2) * X * G, (2 * X**2 - 1) / np.sqrt(2) * G], 1)  # (N, 3)
DPSI = np.stack([-X * G, np.sqrt(2) * (1 - X**2) * G, (5 * X - 2 * X**3) / np.sqrt(2) * G], 1)[:, :, None]
HPSI = PSI * np.array([1.0, 3.0, 5.0])
V = X**2


def test_exact_eigenfunctions_give_the_levels():
    r = ritz_from_samples(PSI, DPSI, V, RULE.weights, 1.0)
    assert r.dropped == 0
    np.testing.assert_allclose(r.energies, [1.0, 3.0, 5.0], atol=1e-10)
    # the rotation of an eigenbasis is a signed permutation
    np.testing.assert_allclose(np.abs(r.vectors), np.eye(3), atol=1e-9)


def test_mixed_basis_recovers_both_eigenfunctions():
    c, s = np.cos(0.7), np.sin(0.7)
    mix = np.array([[2 * c, -s + 0.3], [2 * s, c]])  # columns: non-orthogonal, unnormalised mixtures of ψ0, ψ1
    values, grads = PSI[:, :2] @ mix, np.einsum("nid,ij->njd", DPSI[:, :2], mix)
    r = ritz_from_samples(values, grads, V, RULE.weights, 1.0)
    np.testing.assert_allclose(r.energies, [1.0, 3.0], atol=1e-10)
    phi = r.rotate(values)
    for k in range(2):
        assert abs(abs(np.sum(RULE.weights * phi[:, k] * PSI[:, k])) - 1.0) < 1e-10


def test_single_perturbed_function_is_its_rayleigh_quotient():
    eps = 0.1  # ψ0 + εψ2: E = (1 + 5ε²)/(1 + ε²) by hand
    values, grads = (PSI[:, 0] + eps * PSI[:, 2])[:, None], (DPSI[:, 0] + eps * DPSI[:, 2])[:, None]
    r = ritz_from_samples(values, grads, V, RULE.weights, 1.0)
    assert r.energies[0] == pytest.approx((1 + 5 * eps**2) / (1 + eps**2), abs=1e-10)


def test_near_dependent_basis_drops_a_direction():
    values = np.stack([PSI[:, 0], PSI[:, 0] + 1e-9 * PSI[:, 1]], 1)
    grads = np.stack([DPSI[:, 0], DPSI[:, 0] + 1e-9 * DPSI[:, 1]], 1)
    r = ritz_from_samples(values, grads, V, RULE.weights, 1.0)
    assert r.dropped == 1
    assert r.energies[0] == pytest.approx(1.0, abs=1e-8) and np.isnan(r.energies[1])


def test_excluded_function_is_left_out_of_the_span():
    h, s = ritz_matrices(PSI, DPSI, V, RULE.weights, 1.0)
    r = rayleigh_ritz(h, s, include=np.array([False, True, True]))
    assert r.dropped == 1
    np.testing.assert_allclose(r.energies[:2], [3.0, 5.0], atol=1e-10)


def test_residual_gram_of_exact_and_perturbed_functions():
    eps = 0.1  # (ψ0 + εψ2)/n: σ = 4ε/(1 + ε²) by hand (docs/bounds.md)
    values = np.stack([PSI[:, 0] + eps * PSI[:, 2], PSI[:, 1]], 1)
    grads = np.stack([DPSI[:, 0] + eps * DPSI[:, 2], DPSI[:, 1]], 1)
    h_values = np.stack([HPSI[:, 0] + eps * HPSI[:, 2], HPSI[:, 1]], 1)
    r = ritz_from_samples(values, grads, V, RULE.weights, 1.0)
    g = residual_gram(values, h_values, RULE.weights, r)
    np.testing.assert_allclose(np.sqrt(np.diag(g)), [4 * eps / (1 + eps**2), 0.0], atol=1e-9)


def test_mismatched_matrices_raise():
    with pytest.raises(ValueError):
        rayleigh_ritz(np.eye(2), np.eye(3))


def test_results_file_stores_ritz_and_bounds(short_run_file):
    from nsvd_cli import load
    from nsvd_cli.problem import Problem

    res = load(short_run_file)
    # harmonic2d: degree 2 by default, P = 6 monomials (1, y0, y1, y0², y0 y1, y1²) times 3 modes
    assert res.ritz["degree"] == 2 and res.ritz["vectors"].shape == (18, 3) and res.ritz["centre"].shape == (2,)
    assert res.bounds["kinds"] and "deterministic" in res.bounds
    rule = Problem.from_spec(res.spec).quadrature
    phi = res.eigenfunctions(rule.points, ritz=True)  # unit-normalised Ritz functions on the rule
    kept = np.isfinite(res.ritz["energies"])
    np.testing.assert_allclose(np.einsum("n,nk->k", rule.weights, phi**2)[kept], 1.0, rtol=1e-8)


def test_local_energy_ritz_is_exact_on_a_monte_carlo_sample_of_an_exact_span():
    """Two exact 6D oscillator eigenfunctions (E = 6, 8), mixed by a rotation, on only 2000
    Monte Carlo points: with Laplacians the H matrix is <psi_i|H psi_j> = E_j S_ij sample by
    sample, so only its symmetrisation ((E_i + E_j)/2 S_ij off the diagonal) is in error, to
    second order in the sampled S_ij; the gradient form carries the full Monte Carlo noise
    (measured over 5 seeds: 1e-4-2e-3 against 2e-2-1.6e-1)."""
    from nsvd_cli.quadrature import monte_carlo_gaussian
    from nsvd_cli.references import harmonic_reference
    from nsvd_cli.ritz import ritz_from_samples

    ref = harmonic_reference([1.0] * 6, 2)
    q = monte_carlo_gaussian(6, 0.85, 2000, seed=3)
    rot = np.array([[0.8, -0.6], [0.6, 0.8]])

    def mixed(x):
        return ref.eigenfunctions(x) @ rot

    h = 1e-3
    lap = -12 * mixed(q.points)
    for d in range(6):
        e = np.zeros(6)
        e[d] = h
        lap = lap + mixed(q.points + e) + mixed(q.points - e)
    lap /= h**2
    grads = np.einsum("nld,lk->nkd", ref.gradients(q.points), rot)
    pot = (q.points**2).sum(1)
    local = ritz_from_samples(mixed(q.points), grads, pot, q.weights, 1.0, laplacians=lap)
    plain = ritz_from_samples(mixed(q.points), grads, pot, q.weights, 1.0)
    local_err, plain_err = np.abs(local.energies - [6.0, 8.0]), np.abs(plain.energies - [6.0, 8.0])
    assert local_err.max() < 3e-3 and local_err.max() < plain_err.max() / 10, (local_err, plain_err)


# --- polynomial extension of the basis (issue 13, item 3) -------------------------------------
# On RULE (uniform weight on [-12, 12]) the centre is 0 and the spread s = sqrt(144/3) = sqrt(48),
# so y = x/√48. Hand values: xψ0 = ψ1/√2 (level 3); x²ψ0 = (ψ0 + √2 ψ2)/2, so
# H(x²ψ0) = (ψ0 + 5√2 ψ2)/2; xψ1 = (ψ0 + √2 ψ2)/√2 (levels 1 and 5).
S48 = np.sqrt(48.0)


def test_polynomial_basis_derivatives_by_the_product_rule():
    from nsvd_cli.ritz import polynomial_basis

    v, g, h = polynomial_basis(RULE.points, PSI[:, :1], DPSI[:, :1], HPSI[:, :1], degree=2, kinetic=1.0,
                               weights=RULE.weights)
    assert v.shape == (len(X), 3) and g.shape == (len(X), 3, 1) and h.shape == (len(X), 3)
    np.testing.assert_allclose(v[:, 1] * S48, PSI[:, 1] / np.sqrt(2), atol=1e-12)
    np.testing.assert_allclose(g[:, 1, 0] * S48, DPSI[:, 1, 0] / np.sqrt(2), atol=1e-12)
    np.testing.assert_allclose(h[:, 1] * S48, 3.0 * PSI[:, 1] / np.sqrt(2), atol=1e-11)
    np.testing.assert_allclose(v[:, 2] * 48, (PSI[:, 0] + np.sqrt(2) * PSI[:, 2]) / 2, atol=1e-12)
    np.testing.assert_allclose(h[:, 2] * 48, (PSI[:, 0] + 5 * np.sqrt(2) * PSI[:, 2]) / 2, atol=1e-10)
    d_x2psi0 = (DPSI[:, 0, 0] + np.sqrt(2) * DPSI[:, 2, 0]) / 2
    np.testing.assert_allclose(g[:, 2, 0] * 48, d_x2psi0, atol=1e-12)


def test_polynomial_basis_monomials_in_two_dimensions():
    from nsvd_cli.ritz import polynomial_basis

    pts = np.array([[1.0, 2.0], [-1.0, -2.0], [3.0, 0.0], [-3.0, 0.0]])  # centre 0, spreads √5 and √2
    v, g, _ = polynomial_basis(pts, np.ones((4, 1)), np.zeros((4, 1, 2)), degree=2)
    assert v.shape == (4, 6)  # 1, y1, y2, y1², y1 y2, y2²
    y = pts / np.sqrt([5.0, 2.0])
    np.testing.assert_allclose(v, np.stack([np.ones(4), y[:, 0], y[:, 1], y[:, 0]**2, y[:, 0] * y[:, 1],
                                            y[:, 1]**2], 1), atol=1e-12)
    np.testing.assert_allclose(g[:, 4], np.stack([y[:, 1] / np.sqrt(5), y[:, 0] / np.sqrt(2)], 1), atol=1e-12)


def test_extended_ritz_finds_the_next_level_from_one_function():
    from nsvd_cli.ritz import extended_rayleigh_ritz, polynomial_basis

    v, g, _ = polynomial_basis(RULE.points, PSI[:, :1], DPSI[:, :1], degree=1, weights=RULE.weights)
    h, s = ritz_matrices(v, g, V, RULE.weights, 1.0)
    r = extended_rayleigh_ritz(h, s, 1)
    np.testing.assert_allclose(r.energies, [1.0, 3.0], atol=1e-10)  # span{ψ0, xψ0} = span{ψ0, ψ1}


def test_extended_ritz_drops_a_dependent_extension_and_keeps_the_learned_span():
    from nsvd_cli.ritz import extended_rayleigh_ritz, polynomial_basis

    v, g, _ = polynomial_basis(RULE.points, PSI[:, :2], DPSI[:, :2], degree=1, weights=RULE.weights)
    h, s = ritz_matrices(v, g, V, RULE.weights, 1.0)
    r = extended_rayleigh_ritz(h, s, 2)  # xψ0 ∝ ψ1 adds nothing; xψ1 adds ψ2
    assert r.dropped == 1
    np.testing.assert_allclose(r.energies[:3], [1.0, 3.0, 5.0], atol=1e-9)
    assert np.isnan(r.energies[3])
    # a perturbed learned function: the extended Ritz values never exceed the learned-span ones
    pert = PSI[:, :2] + 0.1 * PSI[:, 2:3]
    dpert = DPSI[:, :2] + 0.1 * DPSI[:, 2:3]
    v, g, _ = polynomial_basis(RULE.points, pert, dpert, degree=1, weights=RULE.weights)
    h, s = ritz_matrices(v, g, V, RULE.weights, 1.0)
    small = rayleigh_ritz(*ritz_matrices(pert, dpert, V, RULE.weights, 1.0))
    big = extended_rayleigh_ritz(h, s, 2)
    assert np.all(big.energies[:2] <= small.energies + 1e-12) and np.all(big.energies[:2] >= np.array([1.0, 3.0]) - 1e-12)
