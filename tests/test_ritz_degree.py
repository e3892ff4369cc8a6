"""The extended Ritz basis of ``nsvd solve`` (evaluation.ritz_degree): learned functions times
monomials of the coordinates, the L lowest Ritz pairs, their bounds and the results file.

H = −∇² + |x|² (κ = 1, ω = 1): levels D + 2n. In 1D ψ0 = π^{-1/4} e^{-x²/2} (E = 1) and
ψ1 = √2 x ψ0 (E = 3); in 2D ψ0 ψ0 (E = 2) and x ψ0 ψ0, y ψ0 ψ0 (E = 4, 4). A model that learned
ψ0 and otherwise only a wrong even function g = e^{-x²} (or e^{-|x|²}) spans no excited state,
but ψ0 times the degree-1 monomials spans ψ1 exactly: by min–max the lowest Ritz values of the
extended basis are then exactly the levels, and the Ritz functions are ±ψ0, ±ψ1.
"""

import h5py
import numpy as np
import pytest
import torch

from nsvd_cli.quadrature import gauss_legendre_box
from nsvd_cli.ritz import monomial_count, ritz_on_polynomial_basis

PI4 = np.pi ** -0.25


class _GroundPlusJunk(torch.nn.Module):
    """Outputs (ψ0, e^{-|x|²}) in D dimensions: the exact ground state and one wrong even function."""

    def forward(self, x):
        r2 = (x * x).sum(1)
        return torch.stack([PI4 ** x.shape[1] * torch.exp(-0.5 * r2), torch.exp(-r2)], 1)


def _problem(dim, degree, **more):
    from nsvd_cli.problem import Problem
    from nsvd_cli.spec import load_spec

    overrides = {"modes": 2 if dim == 1 else 3, "shift": 10.0, "evaluation.ritz_degree": degree,
                 "evaluation.points": 24, **more}
    return Problem.from_spec(load_spec("harmonic", dimension=dim, overrides=overrides))


def test_library_degree_one_recovers_the_first_excited_level_1d():
    rule = gauss_legendre_box([(-12.0, 12.0)], 20, 24)
    x = rule.points[:, 0]
    psi0, junk = PI4 * np.exp(-x**2 / 2), np.exp(-x**2)
    values = np.stack([psi0, junk], 1)
    grads = np.stack([-x * psi0, -2 * x * junk], 1)[:, :, None]
    span = ritz_on_polynomial_basis(rule.points, values, grads, x**2, rule.weights, 1.0, degree=0)
    assert span.energies[1] > 3.5  # the learned span has no odd function: E_1 is far off
    r = ritz_on_polynomial_basis(rule.points, values, grads, x**2, rule.weights, 1.0, degree=1)
    np.testing.assert_allclose(r.energies, [1.0, 3.0], atol=1e-9)
    assert r.vectors.shape == (2 * monomial_count(1, 1), 2) and r.degree == 1 and r.dropped == 0
    with pytest.raises(ValueError):
        ritz_on_polynomial_basis(rule.points, values, grads, x**2, rule.weights, 1.0, degree=4)


@pytest.mark.parametrize("dim,levels", [(1, [1.0, 3.0]), (2, [2.0, 4.0, 4.0])])
def test_solve_evaluation_ritz_finds_excited_levels_from_a_ground_state_model(dim, levels):
    """evaluate_model on a model that learned only ψ0 (plus junk, and in 2D one more junk mode):
    degree 1 gives the exact levels, residuals ~0 and intervals that contain and hug them."""
    from nsvd_cli.evaluate import evaluate_model

    class Model(_GroundPlusJunk):
        def forward(self, x):
            out = super().forward(x)
            return out if dim == 1 else torch.cat([out, torch.exp(-0.25 * (x * x).sum(1))[:, None]], 1)

    ev0 = evaluate_model(Model(), _problem(dim, 0))
    assert ev0.ritz_energies[1] > levels[1] + 0.3
    ev = evaluate_model(Model(), _problem(dim, 1))
    np.testing.assert_allclose(ev.ritz_energies, levels, atol=1e-7)
    assert ev.ritz_degree == 1 and ev.ritz_vectors.shape == (len(levels) * (dim + 1), len(levels))
    np.testing.assert_allclose(ev.ritz_residuals, 0.0, atol=1e-6)
    # the intervals hug the levels: width ~ σ²/gap, below the rule's integration error (~1e-9)
    assert np.all(ev.bounds.lower - 1e-8 <= levels) and np.all(ev.bounds.upper + 1e-8 >= levels)
    assert np.all(ev.bounds.upper - ev.bounds.lower < 1e-5)
    # the learned ground state overlaps the first Ritz function fully (table pairing)
    assert abs(ev.ritz_overlaps[0, 0]) == pytest.approx(1.0, abs=1e-9)


def _write_analytic_file(path, degree):
    from nsvd_cli.evaluate import evaluate_model
    from nsvd_cli.files.results import write_results

    problem = _problem(1, degree)
    ev = evaluate_model(_GroundPlusJunk(), problem)
    write_results(path, spec=problem.spec, evaluation=ev, model_state={}, history={}, run={})
    return ev


def test_results_file_ritz_functions_at_new_points_are_psi0_and_psi1(tmp_path):
    from nsvd_cli import load

    ev = _write_analytic_file(tmp_path / "r.h5", 1)
    res = load(tmp_path / "r.h5")
    assert res.ritz["degree"] == 1 and res.ritz["vectors"].shape == (4, 2)
    np.testing.assert_allclose(res.ritz["centre"], ev.ritz_centre)
    res._model = _GroundPlusJunk().double()  # the analytic functions stand in for the network
    x = np.linspace(-4.3, 3.7, 41)[:, None]  # not nodes of the rule
    phi = res.eigenfunctions(x, ritz=True)
    psi0 = PI4 * np.exp(-x[:, 0]**2 / 2)
    exact = np.stack([psi0, np.sqrt(2) * x[:, 0] * psi0], 1)
    np.testing.assert_allclose(np.abs(phi), np.abs(exact), atol=1e-8)


def test_old_ritz_layout_without_degree_still_loads(tmp_path):
    """A file written before the extended basis: ``/ritz/vectors`` (L, L), no degree, no frame."""
    from nsvd_cli import load

    path = tmp_path / "old.h5"
    _write_analytic_file(path, 1)
    rot = np.array([[0.6, -0.8], [0.8, 0.6]])
    with h5py.File(path, "r+") as h:
        g = h["ritz"]
        for key in ("vectors", "centre", "scale"):
            del g[key]
        del g.attrs["degree"]
        g.create_dataset("vectors", data=rot)
    res = load(path)
    res._model = _GroundPlusJunk().double()
    x = np.array([[0.3], [-1.2]])
    raw = res.eigenfunctions(x, raw=True)
    np.testing.assert_allclose(res.eigenfunctions(x, ritz=True), raw @ rot, rtol=1e-12)


def test_monte_carlo_rules_default_to_the_learned_span():
    from nsvd_cli.spec import load_spec

    assert load_spec("harmonic2d").evaluation.ritz_degree == 2
    assert load_spec("hydrogen2d").evaluation.ritz_degree == 2
    assert load_spec("harmonic", dimension=6).evaluation.ritz_degree == 0
    spec = load_spec("harmonic", dimension=6, overrides={"evaluation.ritz_degree": 1})
    assert spec.evaluation.ritz_degree == 1 and "evaluation.ritz_degree" in spec.explicit_fields()
    assert "evaluation.ritz_degree" not in load_spec("harmonic2d").explicit_fields()
