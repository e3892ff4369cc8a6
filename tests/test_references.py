"""Closed-form references checked against hand-derived values, quadrature and finite differences."""

import math
import tomllib

import numpy as np
import pytest

from nsvd_cli.quadrature import gauss_legendre_box, polar_quadrature
from nsvd_cli.baselines.reference import reference_for
from nsvd_cli.references import harmonic_reference, hermite_functions, hydrogen2d_reference
from nsvd_cli.spec import load_spec

from reference_levels import LEVELS_FILE  # noqa: E402  (tests/reference_levels.py)


@pytest.fixture(scope="module")
def levels():
    if not LEVELS_FILE.exists():
        pytest.skip(f"shared reference levels not found at {LEVELS_FILE}")
    with LEVELS_FILE.open("rb") as fh:
        return tomllib.load(fh)


@pytest.fixture(scope="module")
def box_rule():
    return gauss_legendre_box([(-8.0, 8.0)] * 2, 32, 2)


@pytest.fixture(scope="module")
def disc_rule():
    return polar_quadrature(150.0, 32, 8, 32)


def gram(q, psi):
    return (psi * q.weights[:, None]).T @ psi


def quadratic_form_energies(q, ref, potential, kappa):
    """(kappa <grad psi, grad psi> + <psi, V psi>) / <psi, psi> per mode."""
    psi, g = ref.eigenfunctions(q.points), ref.gradients(q.points)
    num = kappa * np.einsum("n,nld,nld->l", q.weights, g, g) + (q.weights * potential(q.points)) @ psi**2
    return num / np.diag(gram(q, psi))


def levels_and_mult(ref):
    e = ref.energies[[g[0] for g in ref.groups]]
    return e, [len(g) for g in ref.groups]


def finite_difference_gradients(ref, x, h=1e-6):
    return np.stack([(ref.eigenfunctions(x + h * e) - ref.eigenfunctions(x - h * e)) / (2 * h)
                     for e in np.eye(x.shape[1])], axis=-1)


# --- harmonic ------------------------------------------------------------------------

def test_hermite_functions_match_explicit_polynomials():
    x = np.linspace(-4, 4, 41)
    h, dh = hermite_functions(x, 3)
    g = math.pi ** -0.25 * np.exp(-x**2 / 2)
    explicit = [g, math.sqrt(2) * x * g, (4 * x**2 - 2) / math.sqrt(8) * g, (8 * x**3 - 12 * x) / math.sqrt(48) * g]
    np.testing.assert_allclose(h, np.stack(explicit, 1), atol=1e-14)
    np.testing.assert_allclose(dh[:, 1], math.sqrt(2) * (1 - x**2) * g, atol=1e-14)


def test_harmonic2d_levels_and_orthonormality(levels, box_rule):
    ref = harmonic_reference((1.0, 1.0), 15)
    np.testing.assert_allclose(ref.energies, [2, 4, 4, 6, 6, 6, 8, 8, 8, 8, 10, 10, 10, 10, 10])
    e, mult = levels_and_mult(ref)
    iso = levels["harmonic_isotropic"]
    np.testing.assert_allclose(e, iso["levels_2d"][:5])
    assert mult == iso["mult_2d"][:5] and ref.complete_last_group
    assert ref.quantum_numbers[:3] == ((0, 0), (1, 0), (0, 1)) and ref.quantum_labels == ("n_1", "n_2")
    psi = ref.eigenfunctions(box_rule.points)
    assert np.abs(gram(box_rule, psi) - np.eye(15)).max() < 1e-10
    assert not harmonic_reference((1.0, 1.0), 14).complete_last_group


def test_harmonic_anisotropic_and_3d_levels(levels):
    ex = levels["harmonic_anisotropic"]["example"]
    ref = harmonic_reference(ex["w"], 6)
    np.testing.assert_allclose(ref.energies, ex["levels"])
    assert set(ref.quantum_numbers[2:4]) == {(2, 0), (0, 1)}
    assert [len(g) for g in ref.groups] == [1, 1, 2, 2]
    e, mult = levels_and_mult(harmonic_reference((1.0, 1.0, 1.0), 20))
    np.testing.assert_allclose(e, levels["harmonic_isotropic"]["levels_3d"])
    assert mult == levels["harmonic_isotropic"]["mult_3d"]


def test_harmonic_kappa_scaling():
    # -4 d^2/dx^2 + x^2: E_n = omega sqrt(kappa) (2n + 1) = 2 (2n + 1)
    np.testing.assert_allclose(harmonic_reference((1.0,), 3, kappa=4.0).energies, [2.0, 6.0, 10.0])


@pytest.mark.parametrize("omega, kappa, expected", [
    ((1.0, 2.0), 1.0, [3, 5, 7, 7, 9, 9]),
    ((1.0, 1.0), 2.0, np.sqrt(2.0) * np.array([2, 4, 4, 6, 6, 6])),
])
def test_harmonic_quadratic_form_energies(box_rule, omega, kappa, expected):
    ref = harmonic_reference(omega, 6, kappa)
    w2 = np.asarray(omega) ** 2
    e = quadratic_form_energies(box_rule, ref, lambda x: x**2 @ w2, kappa)
    np.testing.assert_allclose(e, expected, rtol=1e-10)


def test_harmonic_gradients_match_finite_differences():
    ref = harmonic_reference((1.0, 1.5, 0.7), 12, kappa=1.3)
    x = np.random.default_rng(1).normal(size=(40, 3))
    np.testing.assert_allclose(ref.gradients(x), finite_difference_gradients(ref, x), atol=1e-8)


# --- 2D hydrogen ---------------------------------------------------------------------

def test_hydrogen2d_levels(levels):
    ref = hydrogen2d_reference(25)
    e, mult = levels_and_mult(ref)
    np.testing.assert_allclose(e, levels["hydrogen_2d"]["levels"], rtol=1e-14)
    assert mult == levels["hydrogen_2d"]["mult"] and ref.complete_last_group
    assert ref.quantum_numbers[:6] == ((0, 0), (1, 0), (1, 1), (1, -1), (2, 0), (2, 1))
    short = hydrogen2d_reference(6)
    assert not short.complete_last_group and [len(g) for g in short.groups] == [1, 3, 2]


def test_hydrogen2d_ground_state_closed_form():
    # n = 0: psi = sqrt(2/pi) exp(-r); for charge Z, kappa k: (Z/k) psi((Z/k) x)
    x = np.array([[0.3, -0.4], [2.0, 1.0], [0.0, 0.0]])
    r = np.hypot(x[:, 0], x[:, 1])
    np.testing.assert_allclose(hydrogen2d_reference(1).eigenfunctions(x)[:, 0], np.sqrt(2 / np.pi) * np.exp(-r))
    np.testing.assert_allclose(hydrogen2d_reference(1, charge=3.0, kappa=2.0).eigenfunctions(x)[:, 0],
                               1.5 * np.sqrt(2 / np.pi) * np.exp(-1.5 * r))


def test_hydrogen2d_orthonormal_and_quadratic_form(disc_rule):
    ref = hydrogen2d_reference(16)
    psi = ref.eigenfunctions(disc_rule.points)
    assert np.abs(gram(disc_rule, psi) - np.eye(16)).max() < 1e-8
    e = quadratic_form_energies(disc_rule, ref, lambda x: -1.0 / np.hypot(x[:, 0], x[:, 1]), 1.0)
    expected = [-1.0 / (2 * n + 1) ** 2 for n in (0, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3)]
    np.testing.assert_allclose(e, expected, rtol=1e-6)


def test_hydrogen2d_charge_and_kappa_scaling(disc_rule):
    ref = hydrogen2d_reference(9, charge=3.0, kappa=2.0)
    expected = [-4.5 / (2 * n + 1) ** 2 for n, _ in ref.quantum_numbers]
    np.testing.assert_allclose(ref.energies, expected, rtol=1e-14)
    assert np.abs(gram(disc_rule, ref.eigenfunctions(disc_rule.points)) - np.eye(9)).max() < 1e-8
    e = quadratic_form_energies(disc_rule, ref, lambda x: -3.0 / np.hypot(x[:, 0], x[:, 1]), 2.0)
    np.testing.assert_allclose(e, expected, rtol=1e-6)


def test_hydrogen2d_gradients():
    ref = hydrogen2d_reference(16, charge=1.5, kappa=0.8)
    x = np.random.default_rng(2).normal(size=(40, 2)) * 3
    np.testing.assert_allclose(ref.gradients(x), finite_difference_gradients(ref, x), atol=1e-8)
    g0 = hydrogen2d_reference(4).gradients(np.zeros((1, 2)))[0]
    # cusp of l = 0 states -> 0; psi_{1,+-1} ~ c x, c y near 0: R_{1,1} = C (2r/3) e^{-r/3} with
    # C = (1/3) sqrt(2/3) (int R^2 r dr = 1), so c = (2/9) sqrt(2/3) / sqrt(pi)
    c = 2 / 9 * math.sqrt(2 / (3 * math.pi))
    np.testing.assert_allclose(g0, [[0, 0], [0, 0], [c, 0], [0, c]], atol=1e-15)


def test_reference_for_specs():
    ref = reference_for(load_spec("harmonic2d"))
    assert ref.name == "harmonic (analytic)" and len(ref.energies) == 15
    ref = reference_for(load_spec("hydrogen2d", overrides={"modes": 9, "kinetic": 2.0, "potential.charge": 3.0}))
    np.testing.assert_allclose(ref.energies[[0, 1, 4]], [-4.5, -0.5, -4.5 / 25])
    assert reference_for(load_spec("hydrogen2d", overrides={"potential.softening": 0.1})) is None
    assert reference_for(load_spec("harmonic2d", overrides={"reference": "none"})) is None


# ---- problem library (issue 5): dispatch of reference_for over the new kinds ---------------

def test_reference_for_new_problem_kinds(tmp_path, monkeypatch):
    monkeypatch.setenv("NSVD_CACHE_DIR", str(tmp_path))
    kinds = {name: reference_for(load_spec(name)) for name in ("hydrogen3d", "morse1d", "poschl_teller1d", "box2d")}
    assert {k: type(v).__name__ for k, v in kinds.items()} == {
        "hydrogen3d": "Hydrogen3DReference", "morse1d": "MorseReference",
        "poschl_teller1d": "PoschlTellerReference", "box2d": "BoxReference"}
    assert all(v.kind == "analytic" for v in kinds.values())
    q = reference_for(load_spec("quartic1d", overrides={"reference_grid": 400}))
    assert q.kind == "grid" and q.name == "grid reference (eigsh, N=400)" and q.quantum_labels == ()
    assert reference_for(load_spec("quartic1d", overrides={"reference": "analytic"})) is None
    forced = reference_for(load_spec("harmonic2d", overrides={"reference": "grid", "reference_grid": 40, "modes": 3}))
    np.testing.assert_allclose(forced.energies, [2.0, 4.0, 4.0], rtol=5e-3)
