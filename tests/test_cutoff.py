"""Upper bounds on R^D from cut-off functions (nsvd_cli/cutoff.py).

Found in a new-user trial: ``V = x²`` on the box [-4, 4] (edge mass just under the box-edge
threshold) gave level 3 the interval [4.92765, 4.99978] and "upper bounds by min–max": the box
quadratic form misses the boundary term ``2Lψψ′``. The min–max side now rests on the Ritz
values of ``χψ``, which vanish outside the box.
"""

import math

import numpy as np
import pytest
import torch
from scipy.integrate import quad

from nsvd_cli.cutoff import ball_cutoff, box_cutoff, cutoff_ritz_energies
from nsvd_cli.quadrature import gauss_legendre_box

PI4 = np.pi ** -0.25


def _chi_1d(x, lo, hi, layer):
    """The ramp by hand: the smooth step 35t⁴ − 84t⁵ + 70t⁶ − 20t⁷ (t = distance / width) within
    width = layer·(hi − lo) of each face, 1 elsewhere."""
    width = layer * (hi - lo)
    f = 1.0
    for dist in (x - lo, hi - x):
        if dist < width:
            t = dist / width
            f *= 35 * t**4 - 84 * t**5 + 70 * t**6 - 20 * t**7
    return f


def test_box_cutoff_values_and_gradient_against_hand_formula_and_differences():
    rng = np.random.default_rng(0)
    box = [(-2.0, 3.0), (0.0, 1.0)]
    x = np.column_stack([rng.uniform(-2, 3, 200), rng.uniform(0, 1, 200)])
    chi, grad = box_cutoff(x, box, 0.2)
    expected = [_chi_1d(a, -2, 3, 0.2) * _chi_1d(b, 0, 1, 0.2) for a, b in x]
    np.testing.assert_allclose(chi, expected, atol=1e-14)
    h = 1e-6
    for d in range(2):
        e = np.zeros(2)
        e[d] = h
        fd = (box_cutoff(x + e, box, 0.2)[0] - box_cutoff(x - e, box, 0.2)[0]) / (2 * h)
        np.testing.assert_allclose(grad[:, d], fd, atol=1e-6)
    assert np.allclose(box_cutoff(np.array([[-2.0, 0.5], [3.0, 0.5]]), box, 0.2)[0], 0.0)


def test_a_wall_face_is_not_cut():
    faces = np.array([[False, True], [True, True]])  # the low face of axis 0 is a wall
    chi, _ = box_cutoff(np.array([[-2.0, 0.5], [3.0, 0.5]]), [(-2.0, 3.0), (0.0, 1.0)], 0.2, faces)
    assert chi[0] == pytest.approx(1.0) and chi[1] == pytest.approx(0.0)


def test_ball_cutoff_is_radial_and_its_gradient_matches_differences():
    x = np.random.default_rng(1).normal(size=(100, 3)) * 2.0
    chi, grad = ball_cutoff(x, 4.0, 0.25)
    r = np.linalg.norm(x, axis=1)
    t = np.clip((4.0 - r) / 1.0, 0, None)
    np.testing.assert_allclose(chi, np.where(t < 1, 35 * t**4 - 84 * t**5 + 70 * t**6 - 20 * t**7, 1.0), atol=1e-13)
    h = 1e-6
    for d in range(3):
        e = np.zeros(3)
        e[d] = h
        fd = (ball_cutoff(x + e, 4.0, 0.25)[0] - ball_cutoff(x - e, 4.0, 0.25)[0]) / (2 * h)
        np.testing.assert_allclose(grad[:, d], fd, atol=1e-6)


def _rayleigh(rule):
    """The Rayleigh quotient of one function on the rule (H = −d²/dx² + x², quadratic form)."""
    x, w = rule.points[:, 0], rule.weights

    def ritz(v, g):
        return np.array([(w @ (g[:, 0, 0] ** 2 + x**2 * v[:, 0] ** 2)) / (w @ v[:, 0] ** 2)])
    return ritz


def test_the_cut_off_ground_state_is_above_its_level_by_the_ims_term():
    """ψ0 = π^(-1/4) e^(-x²/2) on [-3, 3]: the box form gives 1 − 2Lψ(L)²/∫ψ² < 1 (by hand:
    −ψ'' + x²ψ = ψ and the boundary term of ∫ψ'²); χψ0 gives 1 + ∫ψ²χ'²/∫χ²ψ² > 1 (IMS)."""
    L, layer = 3.0, 0.1
    rule = gauss_legendre_box([(-L, L)], 24, 12)
    x = rule.points[:, 0]
    v = (PI4 * np.exp(-x**2 / 2))[:, None]
    g = (-x * v[:, 0])[:, None, None]
    psi = lambda t: PI4 * math.exp(-t * t / 2)
    norm = quad(lambda t: psi(t) ** 2, -L, L)[0]
    box_value = _rayleigh(rule)(v, g)[0]
    assert box_value == pytest.approx(1 - 2 * L * psi(L) ** 2 / norm, abs=1e-12)
    assert box_value < 1 - 3e-4
    width = layer * 2 * L
    def dchi(t):  # |χ'| by hand: 140 u³(1 − u)³ / width, u the distance to the nearer face over width
        u = min(t + L, L - t) / width
        return 140 * u**3 * (1 - u) ** 3 / width if u < 1 else 0.0
    ims = quad(lambda t: psi(t) ** 2 * dchi(t) ** 2, -L, L, points=[-L + width, L - width], limit=200)[0]
    chi_norm = quad(lambda t: (_chi_1d(t, -L, L, layer) * psi(t)) ** 2, -L, L, points=[-L + width, L - width])[0]
    cut = cutoff_ritz_energies([box_cutoff(rule.points, [(-L, L)], layer)], v, g, _rayleigh(rule))
    assert cut[0] == pytest.approx(1 + ims / chi_norm, abs=1e-6)  # the rule's error at the ramp's end: ~4e-7
    assert cut[0] > 1.0


def test_the_least_of_several_cutoffs_is_kept():
    rule = gauss_legendre_box([(-3.0, 3.0)], 24, 12)
    x = rule.points[:, 0]
    v = (PI4 * np.exp(-x**2 / 2))[:, None]
    g = (-x * v[:, 0])[:, None, None]
    each = [cutoff_ritz_energies([box_cutoff(rule.points, [(-3.0, 3.0)], f)], v, g, _rayleigh(rule))[0]
            for f in (0.05, 0.1, 0.2)]
    both = cutoff_ritz_energies([box_cutoff(rule.points, [(-3.0, 3.0)], f) for f in (0.05, 0.1, 0.2)], v, g,
                                _rayleigh(rule))[0]
    assert both == pytest.approx(min(each)) and min(each) > 1.0


class _Oscillator3(torch.nn.Module):
    """The exact ψ0, ψ1, ψ2 of H = −d²/dx² + x² (E = 1, 3, 5)."""

    def forward(self, x):
        t = x[:, 0]
        g = PI4 * torch.exp(-0.5 * t**2)
        return torch.stack([g, math.sqrt(2.0) * t * g, (2 * t**2 - 1) / math.sqrt(2.0) * g], 1)


@pytest.mark.parametrize("half", [3.6, 4.0])
def test_exact_eigenfunctions_on_a_tight_box_keep_their_levels_inside(half):
    """The trial's case with the exact functions: on [-4, 4] (and [-3.6, 3.6]) the box-form Ritz
    value of level 3 lies below 5, yet its interval must contain 5 (and every level its own)."""
    from nsvd_cli.evaluate import evaluate_model
    from nsvd_cli.problem import Problem
    from nsvd_cli.spec import load_spec

    spec = load_spec("harmonic", dimension=1, overrides={"modes": 3, "shift": 10.0, "evaluation.box": [[-half, half]],
                                                         "evaluation.points": 32, "evaluation.panels": 4,
                                                         "evaluation.ritz_degree": 0})
    ev = evaluate_model(_Oscillator3(), Problem.from_spec(spec))
    assert ev.ritz_energies[2] < 5.0  # the box form misses the tail: not an upper bound by itself
    b = ev.bounds
    if b.bounded.all():
        assert np.all(b.contains([1.0, 3.0, 5.0]) == 1.0)
        assert np.all(b.upper >= np.array([1.0, 3.0, 5.0]))
    else:  # the box-edge check took them back instead
        assert "cuts the function off" in b.kinds[2]
