"""The verdict's reference check on the energy scale, and its advice.

A re-test: a tilted double well with shift 200 had its mode 1 on the *second* state
(E 2.9578; ground level 1.83006) and got ✓, because relative to λ = 200 − E the skipped level
is only 0.57 % away. The offset is now also judged as ``nsvd compare`` measures energies,
``|E − E_ref| / max(|E_ref|, Δ)`` (Δ the mean level spacing). And the advice "a mode that
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
    # energy scale: Δ = 1.10534 < |E_ref| = 1.83006: 1.12774 / 1.83006 = 61.6 %
    assert v.reference_energy_offset[0] == pytest.approx(1.12774 / 1.83006)
    assert v.reasons == ["reference: 61.6 % off in energy", ""]
    assert v.nearer_other_level.tolist() == [True, False]  # 2.9578 is 0.022 from level 2, 1.13 from level 1
    # judged on λ alone (no reference energies) the wrong state passed: the re-test's ✓
    lam = 200.0 - np.array([2.9578, 2.9354])
    assert judge(lam, lam.copy(), np.eye(2), reference_eigenvalues=200.0 - np.array(E_ref)).all_converged
    # the same run with shift 6: the λ measure fails first and is the one reported (as before)
    assert _judged([2.9578, 2.9354], E_ref, shift=6.0).reasons[0] == "reference: 27 % off"  # 1.12774/4.16994


def test_a_good_mode_at_e_zero_still_passes():
    # hydrogen-like levels −0.5/(n − ½)² (n = 1, 2, 2, 3) plus 0.08: the n = 3 level sits at E = 0
    E_ref = np.array([-2.0, -2 / 9, -2 / 9, -0.08]) + 0.08
    # Δ = (0 − (−1.92)) / 3 = 0.64; mode 4 at E = 0.003: plain relative error infinite,
    # floored 0.003 / 0.64 = 0.47 %; λ (s = 100, c = 0.5): 0.3 / 50 = 0.6 %
    E = E_ref + np.array([0.0005, -0.0002, 0.0001, 0.003])
    v = _judged(E, E_ref, shift=0.5, scale=100.0)
    assert v.all_converged, v.reasons
    assert v.reference_energy_offset[3] == pytest.approx(0.003 / 0.64)
    assert v.reference_offset[3] == pytest.approx(0.3 / 50)
    # the ground level: |E_ref| = 1.92 > Δ, plain relative error 0.0005 / 1.92
    assert v.reference_energy_offset[0] == pytest.approx(0.0005 / 1.92)
    # at E = 0.008 the mode is 1.25 % off on the energy scale (1.6 % on λ) and fails,
    # but it is still nearer its own level (0) than the next (−0.142)
    bad = _judged(E_ref + np.array([0, 0, 0, 0.008]), E_ref, shift=0.5, scale=100.0)
    assert bad.reasons[3] == "reference: 1.6 % off" and not bad.nearer_other_level[3]


def test_energy_allowance_is_the_lambda_allowance_converted():
    # λ_ref = s (c − E_ref) = 2 (10 − 1) = 18, allowance 0.01 of it = 0.18 in λ = 0.09 in energy;
    # Δ = 2, max(|1|, 2) = 2: relative 0.045
    off, extra = reference_energy_offsets(np.array([17.0, 14.0]), np.array([18.0, 14.0]),
                                          np.array([1.0, 3.0]), 2.0, allowance=np.array([0.01, np.nan]))
    assert extra.tolist() == pytest.approx([0.045, 0.0])
    assert off.tolist() == pytest.approx([0.5 / 2, 0.0])  # E = 1.5 against 1: 0.5 / max(1, 2)


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
    assert v.reasons == ["reference: 1.3 % off", "reference: 1.6 % off"]
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
    # λ: 2 / 399 = 0.50 %, 2 / 397 = 0.50 % (within 1 %); energy: Δ = 2: 2 / max(1, 2) = 100 %, 2 / 3 = 66.7 %
    assert v.reference_offset == pytest.approx([2 / 399, 2 / 397], rel=1e-6)
    assert v.reasons == ["reference: 100 % off in energy", "reference: 66.7 % off in energy"]
    assert v.nearer_other_level.tolist() == [True, True]  # level 3 is listed; level 5 is past the spacing
