"""The verdict's reference check on the energy scale, and its advice.

A re-test: a tilted double well with shift 200 had its mode 1 on the *second* state
(E 2.9578; ground level 1.83006) and got ✓, because relative to λ = 200 − E the skipped level
is only 0.57 % away. The offset is now also judged as ``nsvd compare`` measures energies,
``|E − E_ref| / max(|E_ref|, Δ/10)`` (Δ the mean level spacing; wave 11: Δ/10, was Δ). And the advice "a mode that
settled on another state rarely leaves it" was given to modes merely not converged (1.3–1.6 %
off on V = x²): it now goes only to modes nearer another reference level than their own.
Every expected number below is computed by hand in the comments."""

from types import SimpleNamespace

import numpy as np
import pytest

from nsvd_cli.cli.uncertainty import reference_off_warning
from nsvd_cli.verdict import judge, nearer_other_levels, reference_energy_offsets


def _judged(E, E_ref, shift, scale=1.0, **kw):
    """Verdict of modes at energies E against levels E_ref, with λ = s(c − E) and λ_N = λ."""
    E, E_ref = np.asarray(E, float), np.asarray(E_ref, float)
    lam, ref = scale * (shift - E), scale * (shift - E_ref)
    return judge(lam, lam.copy(), np.eye(len(E)), scale=scale, reference_eigenvalues=ref,
                 reference_energies=E_ref, **kw)


def test_a_skipped_level_fails_on_the_energy_scale_when_the_shift_is_large():
    E_ref = [1.83006, 2.9354]  # the tilted double well's two lowest levels
    v = _judged([2.9578, 2.9354], E_ref, shift=200.0)
    # λ scale: |2.9578 − 1.83006| / (200 − 1.83006) = 1.12774 / 198.16994 = 0.569 %: within 1 %
    assert v.reference_offset[0] == pytest.approx(1.12774 / 198.16994)
    # energy scale: Δ/10 = 0.110534 < |E_ref| = 1.83006: 1.12774 / 1.83006 = 61.6 %
    assert v.reference_energy_offset[0] == pytest.approx(1.12774 / 1.83006)
    assert v.reasons == ["reference: E 61.6 % off (λ 0.569 %)", ""]
    assert v.nearer_other_level.tolist() == [True, False]  # 2.9578 is 0.022 from level 2, 1.13 from level 1
    # judged on λ alone (no reference energies) the wrong state passed: the re-test's ✓
    lam = 200.0 - np.array([2.9578, 2.9354])
    assert judge(lam, lam.copy(), np.eye(2), reference_eigenvalues=200.0 - np.array(E_ref)).all_converged
    # the same run with shift 6: both measures fail and both are reported (λ: 1.12774 / 4.16994)
    assert _judged([2.9578, 2.9354], E_ref, shift=6.0).reasons[0] == "reference: E 61.6 % off (λ 27 %)"


def test_a_good_mode_at_e_zero_still_passes():
    # hydrogen-like levels −0.5/(n − ½)² (n = 1, 2, 2, 3) plus 0.08: the n = 3 level sits at E = 0
    E_ref = np.array([-2.0, -2 / 9, -2 / 9, -0.08]) + 0.08
    # Δ = (0 − (−1.92)) / 3 = 0.64, Δ/10 = 0.064; mode 4 at E = 0.0005: plain relative error
    # infinite, floored 0.0005 / 0.064 = 0.78 %; λ (s = 100, c = 0.5): 0.05 / 50 = 0.1 %
    E = E_ref + np.array([0.0005, -0.0002, 0.0001, 0.0005])
    v = _judged(E, E_ref, shift=0.5, scale=100.0)
    assert v.all_converged, v.reasons
    assert v.reference_energy_offset[3] == pytest.approx(0.0005 / 0.064)
    assert v.reference_offset[3] == pytest.approx(0.05 / 50)
    # the ground level: |E_ref| = 1.92 > Δ/10, plain relative error 0.0005 / 1.92; the n = 2
    # levels, |E_ref| = 0.14222 > 0.064 too (before, floored at Δ = 0.64: 4.5 times more lenient)
    assert v.reference_energy_offset[0] == pytest.approx(0.0005 / 1.92)
    assert v.reference_energy_offset[1] == pytest.approx(0.0002 / (2 / 9 - 0.08))
    # at E = 0.003 (2 % of the gap 0.142 to the next level) it is 4.69 % of Δ/10 and fails,
    # though within 1 % on λ (0.3 / 50 = 0.6 %); the reason gives the absolute error and the floor
    bad = _judged(E_ref + np.array([0, 0, 0, 0.003]), E_ref, shift=0.5, scale=100.0)
    assert bad.reasons[3] == "reference: E off by 0.003 near E = 0 (4.69 % of Δ/10 = 0.064; λ 0.6 %)"
    # at E = 0.008: 12.5 % of Δ/10, 1.6 % on λ; still nearer its own level (0) than the next (−0.142)
    bad = _judged(E_ref + np.array([0, 0, 0, 0.008]), E_ref, shift=0.5, scale=100.0)
    assert bad.reasons[3] == "reference: E off by 0.008 near E = 0 (12.5 % of Δ/10 = 0.064; λ 1.6 %)"
    assert not bad.nearer_other_level[3]


def test_energy_allowance_is_the_lambda_allowance_converted():
    # λ_ref = s (c − E_ref) = 2 (10 − 1) = 18, allowance 0.01 of it = 0.18 in λ = 0.09 in energy;
    # Δ = 2, max(|1|, Δ/10 = 0.2) = 1: relative 0.09
    off, extra = reference_energy_offsets(np.array([17.0, 14.0]), np.array([18.0, 14.0]),
                                          np.array([1.0, 3.0]), 2.0, allowance=np.array([0.01, np.nan]))
    assert extra.tolist() == pytest.approx([0.09, 0.0])
    assert off.tolist() == pytest.approx([0.5 / 1, 0.0])  # E = 1.5 against 1: 0.5 / max(1, 0.2)


def test_nearer_other_levels_by_hand():
    ref = np.array([9.0, 7.0, 7.0, 5.0])  # λ of levels 1, 3, 3, 5 (T = 10 − H); spacing 4/3
    # mode 1 at 7.9 (0.9 below 9, more than half the gap 2 → no), 7.8 (1.2: nearer 7 → yes)
    assert nearer_other_levels([8.1, 7.0, 7.0, 5.0], ref).tolist() == [False] * 4
    assert nearer_other_levels([7.8, 7.0, 7.0, 5.0], ref).tolist() == [True, False, False, False]
    # degenerate partners are one level: mode 2 on level 3's λ exactly, or 0.9 off toward 9 (half-gap 1)
    assert nearer_other_levels([9.0, 7.9, 7.0, 5.0], ref).tolist() == [False] * 4
    # past the lowest λ (highest energy) listed: half the mean spacing 4/3 decides
    assert nearer_other_levels([9.0, 7.0, 7.0, 4.4], ref).tolist() == [False] * 4  # 0.6 < 0.667
    assert nearer_other_levels([9.0, 7.0, 7.0, 4.2], ref).tolist() == [False, False, False, True]
    # a level not learned (λ_ref ≤ 0) is not judged
    assert not nearer_other_levels([3.0], np.array([-1.0]))[0]


def test_unconverged_modes_are_told_to_train_longer_not_to_check_the_sampling():
    # V = x² (levels 1, 3, 5), T = 10 − H: modes 1.3 % and 1.6 % below their λ = 9, 7
    lam, ref = np.array([9 * 0.987, 7 * 0.984]), np.array([9.0, 7.0])
    v = judge(lam, lam.copy(), np.eye(2), reference_eigenvalues=ref, reference_energies=10 - ref)
    # E = 10 − 8.883 = 1.117 against 1: 11.7 %; 10 − 6.888 = 3.112 against 3: 3.73 %
    assert v.reasons == ["reference: E 11.7 % off (λ 1.3 %)", "reference: E 3.73 % off (λ 1.6 %)"]
    assert not v.nearer_other_level.any()
    w = reference_off_warning(v)
    assert w.startswith("#1, #2 off the reference level but nearer it than any other: not yet converged")
    assert "--iters" in w and "settled on another state" not in w and "sampling" not in w


def test_a_mode_on_another_state_gets_the_sampling_advice_and_both_kinds_are_told_apart():
    E_ref = [1.83006, 2.9354, 3.9]
    v = _judged([2.9578, 2.9354 + 0.06, 3.9], E_ref, shift=200.0)
    # mode 2: 0.06 / 2.9354 = 2.0 % off in energy, nearer its own level than 1.83 or 3.9
    assert [bool(r) for r in v.reasons] == [True, True, False]
    assert v.nearer_other_level.tolist() == [True, False, False]
    w = reference_off_warning(v)
    first, second = w.split("; #2")[0], w.split("; #2")[1]
    assert first.startswith("#1 off the reference level and nearer another level: in a close group of levels")
    assert "a mode that settled on another state rarely leaves it" in first and "covers every well" in first
    assert "nearer it than any other: not yet converged" in second and "#1" not in second
    assert reference_off_warning(_judged(E_ref, E_ref, shift=200.0)) is None


def test_the_solve_judge_passes_the_reference_energies():
    """Through evaluate_functions and solve._Judge: the oscillator −d² + x² (levels 1, 3, 5)
    with T = 400 − H, learned functions on levels 3, 5 against the reference levels 1, 3."""
    from nsvd_cli.evaluate import evaluate_functions
    from nsvd_cli.problem import Conventions
    from nsvd_cli.quadrature import gauss_legendre_box
    from nsvd_cli.references import harmonic_reference
    from nsvd_cli.solve import _Judge

    ref3, ref2 = harmonic_reference([1.0], 3), harmonic_reference([1.0], 2)
    q = gauss_legendre_box([(-9.0, 9.0)], 48, 4)
    amp = np.sqrt(400.0 - np.array([3.0, 5.0]))
    values, grads = ref3.eigenfunctions(q.points)[:, 1:] * amp, ref3.gradients(q.points)[:, 1:] * amp[None, :, None]
    ev = evaluate_functions(values, grads, (q.points ** 2).sum(1), q.weights, Conventions(kinetic=1.0, shift=400.0, scale=1.0),
                            reference=ref2, reference_values=ref2.eigenfunctions(q.points))
    judge_ = _Judge(SimpleNamespace(scale=1.0, reference_error=np.zeros(2)),
                    SimpleNamespace(tolerance=0.01, restarts=0, iterations=100))
    v = judge_(ev, 50).verdict
    # λ: 2 / 399 = 0.501 %, 2 / 397 = 0.504 % (within 1 %); energy: 2 / 1 = 200 %, 2 / 3 = 66.7 %
    assert v.reference_offset == pytest.approx([2 / 399, 2 / 397], rel=1e-6)
    assert v.reasons == ["reference: E 200 % off (λ 0.501 %)", "reference: E 66.7 % off (λ 0.504 %)"]
    assert v.nearer_other_level.tolist() == [True, True]  # level 3 is listed; level 5 is past the spacing
