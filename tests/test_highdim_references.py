"""Exact references in any dimension: coupled oscillators (normal modes) and separable
potentials (sums of 1D grid solutions); their spec kinds and the D >= 4 built-ins.

Values are checked against independent computations: hand-computed normal-mode sums, a
full finite-difference grid of the same Hamiltonian, finite differences of the reference
eigenfunctions (H psi = E psi), quadrature (orthonormality) and published levels.
"""

import math

import numpy as np
import pytest
from typer.testing import CliRunner

from nsvd_cli.baselines.reference import grid_reference, reference_for
from nsvd_cli.baselines.separable import SeparableGridReference, separable_reference
from nsvd_cli.cli.main import app
from nsvd_cli.errors import SpecError
from nsvd_cli.potentials import make_potential
from nsvd_cli.quadrature import gauss_legendre_box
from nsvd_cli.references import analytic_reference, harmonic_reference, reference_kind
from nsvd_cli.references.coupled import chain_normal_modes, coupled_harmonic_reference, normal_modes
from nsvd_cli.spec import builtin_problems, load_spec, parse_spec

runner = CliRunner()


def _spec(pot, dim, modes=6, box=6.0, **top):
    quad = {"quadrature": "monte-carlo", "std": 0.8} if dim >= 4 else {"points": 12, "panels": 2}
    return parse_spec({"name": "t", "dimension": dim, "modes": modes, "potential": pot, "shift": 30.0,
                       "sampling": {"kind": "gaussian", "std": 1.0},
                       "evaluation": {"box": [[-box, box]] * dim, **quad}, **top})


def _hamiltonian_residual(ref, spec, x, h=1e-3):
    """max |(-kappa Lap + V) psi - E psi| / max |psi| with a central-difference Laplacian."""
    import torch

    psi = ref.eigenfunctions(x)
    lap = -2 * x.shape[1] * psi
    for d in range(x.shape[1]):
        e = np.zeros(x.shape[1])
        e[d] = h
        lap = lap + ref.eigenfunctions(x + e) + ref.eigenfunctions(x - e)
    lap /= h * h
    v = make_potential(spec.potential, spec.dimension)(torch.as_tensor(x)).numpy()
    res = -spec.kinetic * lap + v[:, None] * psi - psi * ref.energies[None, :]
    return np.abs(res).max() / np.abs(psi).max()


# --------------------------------------------------------------------------------------
# coupled harmonic
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("kappa", [1.0, 0.5])
def test_coupled_levels_2x2_by_hand(kappa):
    # A = [[2, 1], [1, 2]] has eigenvalues 1 and 3: E = sqrt(kappa) ((2 n1 + 1) + sqrt(3) (2 n2 + 1))
    spec = _spec({"kind": "coupled_harmonic", "matrix": [[2, 1], [1, 2]]}, 2, modes=4, kinetic=kappa)
    ref = analytic_reference(spec)
    r3 = math.sqrt(3)
    want = math.sqrt(kappa) * np.array([1 + r3, 3 + r3, 1 + 3 * r3, 5 + r3])
    assert np.allclose(ref.energies, want, rtol=1e-12)
    assert reference_kind(spec) == "analytic" and [len(g) for g in ref.groups] == [1, 1, 1, 1]


def test_coupled_diagonal_is_the_harmonic_reference():
    ref = coupled_harmonic_reference(np.diag([1.0, 4.0, 9.0]), 8, 0.7)
    harm = harmonic_reference([1.0, 2.0, 3.0], 8, 0.7)
    assert np.allclose(ref.energies, harm.energies, rtol=1e-12)
    x = np.random.default_rng(0).normal(size=(50, 3))
    assert np.allclose(np.abs(ref.eigenfunctions(x)), np.abs(harm.eigenfunctions(x)), atol=1e-12)


def test_coupled_levels_match_a_finite_difference_grid():
    pot = {"kind": "coupled_harmonic", "matrix": [[1.0, 0.3], [0.3, 2.0]]}
    ref = analytic_reference(_spec(pot, 2, modes=6))
    grid_spec = _spec({"kind": "expression", "expression": "x0**2 + 0.6*x0*x1 + 2*x1**2"}, 2, modes=6,
                      reference="grid")
    grid = grid_reference(grid_spec, 64, cache=False)
    assert np.allclose(ref.energies, grid.energies, rtol=2e-4), (ref.energies, grid.energies)


def test_chain_normal_modes_closed_form_equals_eigh():
    a, q = chain_normal_modes(7, 0.3)
    a2, q2 = normal_modes(np.eye(7) + 0.3 * (np.eye(7, k=1) + np.eye(7, k=-1)))
    assert np.allclose(a, a2, atol=1e-13) and np.allclose(np.abs(q.T @ q2), np.eye(7), atol=1e-10)


@pytest.mark.parametrize("pot", [{"kind": "coupled_harmonic", "form": "chain", "coupling": 0.4},
                                 {"kind": "coupled_harmonic", "form": "random", "seed": 3, "condition": 5.0}])
def test_coupled_eigenfunctions_solve_h_and_are_orthonormal(pot):
    spec = _spec(pot, 3, modes=8, kinetic=0.8)
    ref = analytic_reference(spec)
    x = np.random.default_rng(1).normal(size=(40, 3)) * 0.8
    assert _hamiltonian_residual(ref, spec, x) < 1e-4
    h = 1e-5  # gradients: central differences of the eigenfunctions
    fd = np.stack([(ref.eigenfunctions(x + h * e) - ref.eigenfunctions(x - h * e)) / (2 * h) for e in np.eye(3)], -1)
    assert np.allclose(ref.gradients(x), fd, atol=1e-7)
    quad = gauss_legendre_box([(-7.0, 7.0)] * 3, 20, 4)
    psi = ref.eigenfunctions(quad.points)
    assert np.allclose(psi.T @ (quad.weights[:, None] * psi), np.eye(8), atol=1e-7)


@pytest.mark.parametrize("pot, dim, field", [
    ({"kind": "coupled_harmonic", "matrix": [[1, 2], [2, 1]]}, 2, "potential.matrix"),  # eigenvalue -1
    ({"kind": "coupled_harmonic", "matrix": [[1, 0.2], [0.2, 1]]}, 3, "potential.matrix"),  # 2x2 in 3D
    ({"kind": "coupled_harmonic", "matrix": [[1, 0.2], [0.3, 1]]}, 2, "potential.matrix"),  # not symmetric
    ({"kind": "coupled_harmonic", "matrix": [[1, 0.2, 0], [0.2, 1]]}, 2, "potential.matrix"),  # ragged
    ({"kind": "coupled_harmonic"}, 2, "potential.matrix"),  # missing
    ({"kind": "coupled_harmonic", "form": "chain", "coupling": 0.6}, 8, "potential.coupling"),
    ({"kind": "coupled_harmonic", "coupling": 0.3}, 2, "potential.coupling"),  # form is matrix
    ({"kind": "coupled_harmonic", "form": "random", "condition": 0.5}, 2, "potential.condition"),
    ({"kind": "coupled_harmonic", "form": "triangle"}, 2, "potential.form"),
    ({"kind": "separable", "expressions": ["x**4", "x**2"]}, 3, "potential.expressions"),
    ({"kind": "separable", "expression": "x**4 + y"}, 2, "potential.expression"),
    ({"kind": "separable"}, 2, "potential.expression"),
])
def test_spec_errors_are_one_line_and_name_the_field(pot, dim, field):
    with pytest.raises(SpecError) as info:
        _spec(pot, dim)
    assert info.value.field == field and "\n" not in str(info.value), str(info.value)


def test_chain_is_positive_definite_below_one_half_in_any_dimension():
    for dim in (2, 8, 16, 64):
        _spec({"kind": "coupled_harmonic", "form": "chain", "coupling": -0.499}, dim)


# --------------------------------------------------------------------------------------
# separable references
# --------------------------------------------------------------------------------------

def test_quartic_1d_levels_hioe_montroll():
    spec = _spec({"kind": "separable", "expression": "x**4"}, 1, modes=3, box=4.5)
    ref = separable_reference(spec)
    assert reference_kind(spec) == "separable grid"
    assert np.allclose(ref.energies, [1.0604, 3.7997, 7.4557], atol=6e-5)  # published to 4 decimals
    assert np.all(ref.energy_errors < 1e-7)


def test_separable_2d_equals_the_full_2d_grid():
    spec = _spec({"kind": "double_well", "a": 1.0, "b": 1.2}, 2, modes=6, box=4.5)
    assert reference_kind(spec) == "separable grid"
    sep = reference_for(spec)
    grid = grid_reference(spec, 100, cache=False)
    assert isinstance(sep, SeparableGridReference)
    assert np.allclose(sep.energies, grid.energies, rtol=1e-4), (sep.energies, grid.energies)
    assert [list(g) for g in sep.groups] == [list(g) for g in grid.groups] == [[0], [1, 2], [3], [4, 5]]
    x = np.random.default_rng(2).normal(size=(300, 2)) * 0.9
    a, b = sep.eigenfunctions(x)[:, [0, 3]], grid.eigenfunctions(x)[:, [0, 3]]
    for k in range(2):  # non-degenerate levels: the same function up to sign and interpolation error
        assert abs(abs(np.corrcoef(a[:, k], b[:, k])[0, 1]) - 1) < 1e-4


def test_separable_eigenfunctions_solve_h_and_are_orthonormal():
    spec = _spec({"kind": "separable", "expressions": ["x**4", "0.5*x**2 + 0.1*x**4"]}, 2, modes=6, box=5.0)
    ref = separable_reference(spec)
    quad = gauss_legendre_box([(-5.0, 5.0)] * 2, 20, 4)
    psi = ref.eigenfunctions(quad.points)
    assert np.allclose(psi.T @ (quad.weights[:, None] * psi), np.eye(6), atol=1e-6)
    x = np.random.default_rng(3).normal(size=(30, 2)) * 0.8
    assert _hamiltonian_residual(ref, spec, x, h=1e-2) < 1e-3  # cubic splines of a 2000-point grid
    h = 1e-5
    fd = np.stack([(ref.eigenfunctions(x + h * e) - ref.eigenfunctions(x - h * e)) / (2 * h) for e in np.eye(2)], -1)
    assert np.allclose(ref.gradients(x), fd, atol=1e-5)


def test_quartic6d_reference_is_sums_of_1d_levels():
    spec = load_spec("quartic6d")
    ref = reference_for(spec)
    e0, e1 = 1.0603620905, 3.7996730298  # 1D quartic levels (Hioe & Montroll; converged grid)
    assert np.allclose(ref.energies, [6 * e0] + [5 * e0 + e1] * 6, rtol=1e-8)
    assert [len(g) for g in ref.groups] == [1, 6] and ref.complete_last_group
    assert ref.eigenfunctions(np.zeros((2, 6))).shape == (2, 7)


# --------------------------------------------------------------------------------------
# built-ins and the harmonic family
# --------------------------------------------------------------------------------------

def test_highdim_builtins_load_and_are_listed():
    assert {"coupled_harmonic8d", "quartic6d"} <= set(builtin_problems())
    chain = load_spec("coupled_harmonic8d")
    ref = reference_for(chain)
    a = 1 + 0.5 * np.cos(np.arange(1, 9) * np.pi / 9)
    assert np.isclose(ref.energies[0], np.sqrt(a).sum()) and np.all(chain.shift > ref.energies)
    assert np.allclose(np.sort(ref.energies[1:]), np.sqrt(a).sum() + 2 * np.sort(np.sqrt(a)))
    res = runner.invoke(app, ["problems", "list"])
    assert res.exit_code == 0 and "coupled_harmonic8d" in res.output and "quartic6d" in res.output


@pytest.mark.parametrize("dim", [4, 6, 10, 16])
def test_harmonic_family_rule(dim):
    spec = load_spec("harmonic", dimension=dim)
    top = dim + 2  # E of the first shell
    assert spec.modes == 1 + dim and spec.shift == 2 * top
    assert math.isclose(spec.evaluation.std ** 2, 0.5 + 1 / dim, rel_tol=1e-3)
    assert math.isclose(spec.sampling.std ** 2, 0.5 + 2 / dim, rel_tol=1e-3)
    ref = reference_for(spec)
    assert np.allclose(ref.energies, [dim] + [dim + 2] * dim) and ref.complete_last_group
    assert load_spec("harmonic", dimension=dim, overrides={"modes": 3}).modes == 3  # options still win
    assert load_spec("harmonic", dimension=3).modes == load_spec("harmonic").modes  # D <= 3 as written


@pytest.mark.parametrize("name", ["quartic6d", "coupled_harmonic8d"])
def test_highdim_builtin_solves_end_to_end(name, tmp_path):
    from nsvd_cli.files import load as load_results
    from nsvd_cli.solve import solve

    spec = load_spec(name, overrides={"training.iterations": 20, "training.eval_every": 20, "evaluation.samples": 2000,
                                      "model.hidden": [16], "model.fourier_features": 8, "training.batch_size": 64})
    solve(spec, tmp_path / "r.h5")
    res = load_results(tmp_path / "r.h5")
    assert len(res.eigenvalues) == spec.modes and np.all(np.isfinite(res.eigenvalues))
