"""Wave 8 (d), item 1: LoRA's verdict is not failed by the rotation of its span.

A new-user trial: every LoRA mode was "✗ agreement" at 0.01 % error (norm estimate 7.50 for a
Rayleigh quotient of 9.00). LoRA's objective is flat along the rotation Q of ``f = Φ Λ^{1/2} Q``;
the evaluated model is the parameters' moving average, which averages the drifting rotations
into a contraction ``Q̄``: the span (and the Ritz values) stay exact, the amplitudes do not.
"""

import numpy as np
import torch

from test_methods import EXACT_E, EXACT_LAMBDA, _Oscillator, _oscillator_problem


def _averaged_rotations(seed=5):
    """Q̄ = (Q1 + Q2) / 2 for two random orthogonal 6×6 matrices: the average of two rotations."""
    rng = np.random.default_rng(seed)
    q1, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    q2, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    return 0.5 * (q1 + q2)


def test_lora_verdict_is_not_failed_by_a_contracted_rotation():
    from nsvd_cli.evaluate import evaluate_model
    from nsvd_cli.verdict import judge

    qbar = _averaged_rotations()
    a = np.diag(np.sqrt(EXACT_LAMBDA)) @ qbar
    # the case is one the old norm estimate failed: the Gram matrix of the span, Q̄ᵀ Λ Q̄, and the
    # old per-mode estimate 1/((AAᵀ)⁻¹)_kk (hand-derived: the Ritz vector of level k is A⁻¹ e_k)
    # are far from Λ, by hand
    old = 1.0 / np.diag(np.linalg.inv(a @ a.T))
    assert np.max(np.abs(old - EXACT_LAMBDA) / EXACT_LAMBDA) > 0.05
    assert np.max(np.abs(np.sort(np.linalg.eigvalsh(a.T @ a)) - np.sort(EXACT_LAMBDA)) / EXACT_LAMBDA.min()) > 0.05

    ev = evaluate_model(_Oscillator(a), _oscillator_problem("lora"))
    np.testing.assert_allclose(ev.energies, EXACT_E, rtol=1e-7)
    assert np.all(np.isnan(ev.norm_eigenvalues))
    problem = _oscillator_problem("lora")
    w = problem.quadrature.weights
    psi = _Oscillator(a)(torch.as_tensor(problem.quadrature.points)).detach().numpy() @ ev.rotation
    np.testing.assert_allclose(np.einsum("n,ni,nj->ij", w, psi, psi), np.eye(6), atol=1e-8)  # unit Ritz functions
    v = judge(ev.eigenvalues, ev.norm_eigenvalues, ev.gram, residuals=ev.residuals)
    assert v.all_converged, v.reasons
    assert np.all(np.isnan(v.agreement))


def test_lora_keeps_modes_of_nonpositive_eigenvalue_out_of_the_ritz_span():
    """LoRA, like NestedLoRA, drives the modes of eigenvalue of T ≤ 0 to zero norm: with shift 5
    (λ = 3, 1, 1, -1, -1, -1) the three E = 6 outputs are left out of the Ritz span."""
    from nsvd_cli.evaluate import evaluate_model
    from nsvd_cli.problem import Problem
    from nsvd_cli.spec import load_spec

    problem = Problem.from_spec(load_spec("harmonic2d", overrides={"modes": 6, "shift": 5.0,
                                                                   "training.method": "lora"}))
    ev = evaluate_model(_Oscillator(np.diag([1.0, 0.8, 0.8, 1e-3, 1e-3, 1e-3])), problem)
    assert ev.ritz_dropped == 3
    np.testing.assert_allclose(ev.ritz_energies[:3], EXACT_E[:3], rtol=1e-7)


def test_lora_progress_eigenvalues_are_sorted():
    from nsvd_cli.cli.progress import eigenvalue_field

    assert eigenvalue_field("lora", [8.495, 6.797, 7.961, 10.39]) == "rotated: 10.39, 8.495, 7.961, 6.797"
    assert eigenvalue_field("nestedlora", [8.495, 6.797, 7.961, 10.39]) == "8.495, 6.797, 7.961, 10.39"
    assert eigenvalue_field("lora", [1.0, 3.0, 2.0, 5.0, 4.0]) == "rotated: 5, 4, 3, 2 …"
