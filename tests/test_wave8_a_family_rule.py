"""``--dim`` on a family fits the evaluation rule to D; the min–max footnote needs a small rule
error (wave 8, issue 2 of a new-user trial).

``solve harmonic --dim 1`` kept the 3D family's 12 x 3 nodes on [-5.5, 5.5]: a rule error 0.013
put the ground state's Ritz value 0.99886 below the level 1 while the footnote called the Ritz
values upper bounds by min–max.
"""

import math

import numpy as np
import pytest
import torch
from numpy.polynomial.legendre import leggauss

from nsvd_cli.bounds import level_bounds
from nsvd_cli.cli.ritz_columns import bounds_note, rule_error_below_digits, upper_bound_note
from nsvd_cli.evaluate import evaluate_model
from nsvd_cli.problem import Problem
from nsvd_cli.spec import load_spec


@pytest.mark.parametrize("dim, nodes, half", [(1, 48 * 4, math.sqrt(19) + 3), (2, (48 * 4) ** 2, math.sqrt(7) + 3)])
def test_dim_below_three_takes_the_default_rule_and_a_box_for_the_modes(dim, nodes, half):
    """10 modes: 1D levels n = 0..9 (turning point sqrt(2·9 + 1)); 2D shells N = 0..3 (1+2+3+4 = 10,
    turning point sqrt(7)); box half-width = turning point + 3, rounded up to 0.01."""
    problem = Problem.from_spec(load_spec("harmonic", dimension=dim, family_only=True))
    assert problem.spec.modes == 10
    assert len(problem.quadrature) == nodes  # the EvaluationSpec default, 48 nodes x 4 panels per axis
    assert problem.spec.evaluation.box == ((-math.ceil(100 * half) / 100, math.ceil(100 * half) / 100),) * dim


def test_own_dimension_and_command_line_values_stand():
    three = load_spec("harmonic", dimension=3, family_only=True).evaluation
    assert (three.points, three.panels, three.box[0]) == (12, 3, (-5.5, 5.5))
    one = load_spec("harmonic", dimension=1, family_only=True,
                    overrides={"evaluation.points": 12, "evaluation.panels": 3, "evaluation.box": [[-5.5, 5.5]]})
    assert (one.evaluation.points, one.evaluation.panels, one.evaluation.box) == (12, 3, ((-5.5, 5.5),))


def test_digits_shown_against_the_rule_error():
    # 0.99886 shown with 5 significant digits resolves half a unit of 1e-5: 5e-6
    assert rule_error_below_digits([0.99886], [0.013]) is False
    assert rule_error_below_digits([0.99886], [4e-6]) is True
    assert rule_error_below_digits([0.99886], [6e-6]) is False
    assert rule_error_below_digits([0.99886], None) is None


class _GroundState(torch.nn.Module):
    def forward(self, x):
        return (np.pi ** -0.25 * torch.exp(-0.5 * x[:, 0] ** 2))[:, None]


def _oscillator(points, panels, half=5.5):
    spec = load_spec("harmonic", dimension=1, family_only=True,
                     overrides={"modes": 1, "shift": 10.0, "evaluation.points": points, "evaluation.panels": panels,
                                "evaluation.box": [[-half, half]], "evaluation.ritz_degree": 0})
    return evaluate_model(_GroundState(), Problem.from_spec(spec))


def test_a_coarse_rule_gets_no_min_max_claim():
    """ψ0 = e^{-x²/2} on 4 Gauss–Legendre nodes of [-5.5, 5.5]: Hψ0 = ψ0 exactly, so the Laplacian
    form is 1 on any rule, and the quadratic form is Σ w 2x²ψ0² / Σ w ψ0² (ψ0'² + x²ψ0² = 2x²ψ0²):
    the rule error is |that − 1|."""
    t, w = leggauss(4)
    x, w = 5.5 * t, 5.5 * w
    theta = np.sum(w * 2 * x**2 * np.exp(-x**2)) / np.sum(w * np.exp(-x**2))
    ev = _oscillator(4, 1)
    np.testing.assert_allclose(ev.ritz_energies, [theta], rtol=1e-10)
    np.testing.assert_allclose(ev.bounds.rule_error, [abs(theta - 1.0)], rtol=1e-8)
    note = bounds_note(ev, ev.bounds)
    assert "not certified upper bounds" in note and "by min–max" not in note


def test_a_fine_rule_keeps_the_min_max_claim():
    ev = _oscillator(48, 4, 7.36)
    assert abs(ev.ritz_energies[0] - 1.0) < 1e-10
    note = bounds_note(ev, ev.bounds)
    assert "upper bounds of the levels by min–max" in note and "not certified" not in note


def test_no_estimate_keeps_the_caveat():
    b = level_bounds(np.array([1.0]), np.array([1e-3]))  # no trial functions: no rule error estimate
    assert b.rule_error is None
    assert upper_bound_note(np.array([1.0]), b).endswith("up to its integration error)")
