"""The box-edge signal: learned functions that the evaluation rule's domain cuts off.

Found in a new-user trial: ``V = x²`` (levels 1, 3, 5, 7) evaluated on the box [-2, 2] gave a
ground state 0.958 judged converged, a Ritz "upper bound" 0.919 and an interval that missed
the level 1. The fraction of a function's squared norm in the rule's outer 5 % now fails the
verdict ("box edge") and takes back the interval of that level.
"""

import math

import numpy as np
import pytest
import torch
from scipy.special import erf

from nsvd_cli.bounds import level_bounds, withdraw
from nsvd_cli.quadrature import edge_mass, gauss_legendre_box, monte_carlo_gaussian, polar_quadrature
from nsvd_cli.verdict import judge

PI4 = np.pi ** -0.25


def test_edge_mass_of_a_gaussian_on_a_box_is_the_erf_fraction():
    rule = gauss_legendre_box([(-2.0, 2.0)], 12, 20)  # panels of 0.2: the outer 5 % is the outer panels
    x = rule.points[:, 0]
    # ∫ e^{-x²} over 1.8 ≤ |x| ≤ 2, over the box: (erf 2 − erf 1.8) / erf 2
    expected = (erf(2.0) - erf(1.8)) / erf(2.0)
    np.testing.assert_allclose(edge_mass(rule, np.exp(-x**2 / 2)[:, None]), [expected], rtol=1e-10)


def test_edge_mass_on_a_disc_is_the_outer_annulus_fraction():
    rule = polar_quadrature(10.0, 96, 4, 16)
    r = np.linalg.norm(rule.points, axis=1)
    # ψ = e^{-r/4}: ∫ e^{-r/2} r dr = -2(r + 2) e^{-r/2}, over [9.5, 10] against [0, 10]; the
    # layer's edge r = 9.5 falls between nodes (spacing ~0.02 there): a few % of the layer
    F = lambda t: -2 * (t + 2) * math.exp(-t / 2)
    expected = (F(10.0) - F(9.5)) / (F(10.0) - F(0.0))
    np.testing.assert_allclose(edge_mass(rule, np.exp(-r / 4)[:, None]), [expected], rtol=0.05)


def test_a_rule_on_all_of_space_has_no_edge():
    assert edge_mass(monte_carlo_gaussian(2, 1.0, 100), np.ones((100, 1))) is None


def test_the_verdict_fails_a_cut_off_mode_only():
    lam = np.array([19.0, 17.0])
    common = dict(scale=1.0)
    v = judge(lam, lam, np.eye(2), edge_mass=np.array([1e-5, 0.01]), **common)
    assert v.converged.tolist() == [True, False] and v.reasons[1] == "box edge"
    assert v.arrays()["edge_mass"][1] == 0.01
    assert judge(lam, lam, np.eye(2), **common).all_converged  # no rule edge: not judged


def test_withdraw_takes_back_the_whole_cluster():
    theta = np.array([1.0, 3.0, 3.0, 5.0])  # a degenerate pair at 3
    b = level_bounds(theta, np.diag([1e-3, 1e-3, 1e-3, 1e-3]) ** 2)
    assert b.bounded.all() and b.cluster[1] == b.cluster[2]
    withdraw(b, [2], "cut off")
    assert b.bounded.tolist() == [True, False, False, True]
    assert b.kinds[1] == b.kinds[2] == "no bound: cut off" and b.cluster[1] == -1


class _Oscillator(torch.nn.Module):
    """The exact ψ0, ψ1 of H = −d²/dx² + x² (E = 1, 3)."""

    def forward(self, x):
        g = PI4 * torch.exp(-0.5 * x[:, 0] ** 2)
        return torch.stack([g, math.sqrt(2.0) * x[:, 0] * g], 1)


@pytest.mark.parametrize("box, cut", [((-8.0, 8.0), False), ((-2.0, 2.0), True)])
def test_a_small_box_takes_back_the_intervals_of_exact_eigenfunctions(box, cut):
    """Even the exact ψ0, ψ1 get no interval on [-2, 2] (their integrals miss the tails: the box
    Rayleigh quotient of ψ0 is (erf 2 − 4e⁻⁴/√π)… ≠ 1), and keep point intervals on [-8, 8]."""
    from nsvd_cli.evaluate import evaluate_model
    from nsvd_cli.problem import Problem
    from nsvd_cli.spec import load_spec

    spec = load_spec("harmonic", dimension=1, overrides={"modes": 2, "shift": 10.0, "evaluation.box": [list(box)],
                                                         "evaluation.points": 24, "evaluation.ritz_degree": 0})
    ev = evaluate_model(_Oscillator(), Problem.from_spec(spec))
    assert (ev.edge_mass > 1e-3).tolist() == [cut, cut]
    if cut:
        assert not ev.bounds.bounded.any() and "cuts the function off" in ev.bounds.kinds[0]
    else:
        assert ev.bounds.bounded.all() and np.all(ev.bounds.contains([1.0, 3.0]) == 1.0)
