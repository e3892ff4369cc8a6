"""Continuum placeholders: no box-norm warning, no leaked NumPy warning (wave 8, issue 3).

``solve poschl_teller1d --modes 4``: V = −λ(λ+1) sech²x with λ = 3 binds ν = 3 states,
E_n = −(3 − n)² = −9, −4, −1; mode 4 is a placeholder at the threshold E = 0 with a zero
eigenfunction. It printed "the evaluation box holds only 0.00 % of the norm of reference
state 4 … enlarge evaluation.box" and "divide by zero encountered in divide" (its relative
error against E = 0).
"""

import warnings

import numpy as np
import torch

from nsvd_cli.evaluate import evaluate_model
from nsvd_cli.models import build_model
from nsvd_cli.problem import Problem
from nsvd_cli.spec import load_spec


def _problem(**overrides):
    return Problem.from_spec(load_spec("poschl_teller1d", overrides={"modes": 4, **overrides}))


def test_the_placeholder_is_marked_and_gets_no_box_warning():
    problem = _problem()
    ref = problem.reference
    np.testing.assert_allclose(ref.energies, [-9.0, -4.0, -1.0, 0.0], atol=1e-12)
    assert ref.continuum.tolist() == [False, False, False, True]
    text = " ".join(problem.warnings())
    assert "continuum placeholder" in text and "evaluation box holds only" not in text


def test_a_bound_state_cut_by_the_box_still_warns():
    # sech³x on [-1, 1] holds ∫_{-1}^{1} sech⁶ / ∫ sech⁶ = tanh 1 − (2/3)tanh³1 + (1/5)tanh⁵1 over 8/15:
    # (0.7616 − 0.2945 + 0.0512) / 0.5333 = 97 % < 99.9 %
    problem = _problem(**{"evaluation.box": [[-1.0, 1.0]]})
    assert "evaluation box holds only" in " ".join(problem.warnings())


def test_evaluating_with_a_placeholder_leaks_no_numpy_warning():
    problem = _problem()
    model = build_model(1, 4, problem.spec.model, torch.Generator().manual_seed(0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ev = evaluate_model(model, problem)
    assert np.isnan(ev.energy_relative_errors[3]) and np.all(np.isfinite(ev.energy_relative_errors[:3]))
    assert ev.positive.tolist() == [True, True, True, False]  # shift 0: T = −E, λ_4 = 0 is not counted
