"""Ritz levels that come from the monomial extension, not from training (a new-user trial:
`harmonic --modes 4` after 150 iterations, modes 2–4 collapsed on the ground state 40 % off,
while the Ritz column showed 5.003 "in interval" with no word that training had not found it)."""

from __future__ import annotations

import numpy as np

from nsvd_cli.cli.ritz_columns import extension_levels, extension_note
from nsvd_cli.evaluate import evaluate_functions
from nsvd_cli.problem import Conventions
from nsvd_cli.quadrature import gauss_legendre_box
from nsvd_cli.references import harmonic_reference

REF3 = harmonic_reference([1.0], 3)  # H = −∇² + x² in 1D: levels 1, 3, 5
REF = harmonic_reference([1.0], 2)
RULE = gauss_legendre_box([(-9.0, 9.0)], 48, 4)
CONV = Conventions(kinetic=1.0, shift=8.0, scale=1.0)


def _evaluate(columns, degree):
    """Evaluation of the exact eigenfunctions ``columns`` (indices, repeats allowed) with a
    slight distinct admixture of the ground state so that repeated columns are not identical."""
    x = RULE.points
    psi, grad = REF3.eigenfunctions(x), REF3.gradients(x)
    values = psi[:, columns].copy()
    grads = grad[:, columns].copy()
    for j in range(1, len(columns)):  # 1e-3 · j of level 3 keeps the collapsed copies independent
        values[:, j] += 1e-3 * j * psi[:, 2]
        grads[:, j] += 1e-3 * j * grad[:, 2]
    return evaluate_functions(values, grads, (x ** 2).sum(1), RULE.weights, CONV, reference=REF,
                              reference_values=psi[:, :2], points=x, ritz_degree=degree)


def test_collapsed_modes_make_extension_levels():
    # both learned modes ≈ ψ_1 (even); with degree 1 the basis holds x·ψ_1 = ψ_2 exactly (odd, E = 3):
    # level 2's Ritz value is exact although no learned function is near ψ_2
    ev = _evaluate([0, 0], degree=1)
    assert abs(ev.ritz_energies[1] - 3.0) < 1e-4  # (the 1e-3 admixtures move it by 3e-6)
    assert extension_levels(ev).tolist() == [False, True]
    assert "level 2 comes from the monomial extension" in extension_note(ev)


def test_learned_levels_are_not_extension_levels():
    ev = _evaluate([0, 1], degree=1)  # the exact ψ_1, ψ_2 (ψ_2 with 1e-3 of ψ_3)
    assert np.allclose(ev.ritz_energies, [1.0, 3.0], atol=1e-5)
    assert not extension_levels(ev).any() and extension_note(ev) == ""


def test_degree_zero_never_flags():
    ev = _evaluate([0, 0], degree=0)  # the learned span itself: every Ritz function lies in it
    assert not extension_levels(ev).any()
