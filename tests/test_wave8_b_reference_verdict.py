"""The verdict's reference check and the solve table's missed-level marks.

A new-user trial: a tilted double well whose first mode converged cleanly onto the second
state got ✓ beside a 26.5 % error, and its interval (which assumes no level was missed)
excluded the true ground level. Every number below is computed by hand."""

from types import SimpleNamespace

import numpy as np
import pytest

from nsvd_cli.bounds import no_bounds
from nsvd_cli.verdict import judge, missed_levels, reference_offsets


def test_a_mode_26_percent_off_its_reference_fails_and_one_005_percent_off_passes():
    # the trial's numbers: learned λ_R = 3.0646 (λ_N = 3.0609), reference level 1 λ = 4.1699
    lam, lam_n = np.array([3.0646]), np.array([3.0609])
    v = judge(lam, lam_n, np.eye(1), reference_eigenvalues=np.array([4.1699]))
    assert not v.converged[0]
    assert v.reasons == ["reference: λ 26.5 % off"]  # (4.1699 − 3.0646) / 4.1699 = 0.26507; no energies given
    assert v.reference_offset[0] == pytest.approx((4.1699 - 3.0646) / 4.1699)
    assert v.summary_line() == "0 of 1 modes converged; not converged: #1 (reference: λ 26.5 % off)"
    # 0.05 % off (λ_ref = 4.1699, λ_R = 4.1699 · 1.0005): within the 1 % agreement tolerance
    good = judge(np.array([4.1699 * 1.0005]), np.array([4.1699 * 1.0005]), np.eye(1),
                 reference_eigenvalues=np.array([4.1699]))
    assert good.all_converged and good.reference_offset[0] == pytest.approx(5e-4)
    # without a reference the check is not made (the old behaviour): the wrong state passes
    assert judge(lam, lam_n, np.eye(1)).all_converged


def test_the_reference_tolerance_follows_the_agreement_tolerance_and_the_allowance():
    from nsvd_cli.verdict import Tolerances

    lam, ref = np.array([10.0, 7.85]), np.array([10.0, 8.0])  # mode 2 off by 0.15 / 8 = 1.875 %
    v = judge(lam, lam.copy(), np.eye(2), reference_eigenvalues=ref)
    assert v.converged.tolist() == [True, False] and v.reasons[1] == "reference: λ 1.88 % off"
    loose = Tolerances().with_agreement(0.02)
    assert judge(lam, lam.copy(), np.eye(2), reference_eigenvalues=ref, tolerances=loose).all_converged
    # an allowance of 1 % (the reference's own estimated error): 1.875 % < 1 % + 1 %
    assert judge(lam, lam.copy(), np.eye(2), reference_eigenvalues=ref,
                 reference_allowance=np.array([0.0, 0.01])).all_converged
    offset, extra = reference_offsets(lam, ref, allowance=np.array([np.nan, 0.01]))
    assert offset.tolist() == pytest.approx([0.0, 0.15 / 8]) and extra.tolist() == [0.0, 0.01]


def test_levels_not_learned_are_not_judged_on_the_reference():
    # level 3's reference λ is ≤ 0: the mode should vanish (App. C.6), no offset
    lam, lam_n = np.array([10.0, 5.0, -1.0]), np.array([10.0, 5.0, 1e-5])
    v = judge(lam, lam_n, np.eye(3), reference_eigenvalues=np.array([10.0, 5.0, -2.0]),
              bound=np.array([True, True, False]))
    assert v.all_converged and np.isnan(v.reference_offset[2])
    # a bound level learned with λ ≤ 0 fails once, for that reason, not again as "reference"
    v = judge(lam, lam_n, np.eye(3), reference_eigenvalues=np.array([10.0, 5.0, 2.0]),
              bound=np.array([True, True, True]))
    assert v.reasons[2].startswith("λ ≤ 0 for a level with λ > 0") and "reference" not in v.reasons[2]


def _bounds(lower, upper):
    b = no_bounds(len(lower), "test")
    b.lower, b.upper = np.array(lower, float), np.array(upper, float)
    return b


def test_missed_levels_from_hand_built_intervals():
    # the trial: interval 1 [2.83536, 2.93537] around the second state; reference levels 1.83006, 2.9354
    b = _bounds([2.83536, np.nan], [2.93537, np.nan])  # level 2 has no bound
    assert missed_levels(b, [1.83006, 2.9354]).tolist() == [True, False]
    # a run that found both levels: each interval holds its level
    assert not missed_levels(_bounds([1.82, 2.93], [1.84, 2.94]), [1.83006, 2.9354]).any()
    # a level not learned (reference λ ≤ 0) is never reported
    assert missed_levels(b, [1.83006, 2.9354], counted=[False, True]).tolist() == [False, False]
    # a shorter reference: levels beyond it are not judged
    assert missed_levels(b, [1.83006]).tolist() == [True, False]


def _skipped_ground_state(learn=(1, 2)):
    """1D oscillator H = −d² + x² (levels 1, 3, 5), T = −H + 10: learned functions
    sqrt(10 − E_n) ψ_n of the given levels n, a 2-level reference (E = 1, 3), and intervals
    [E_n − 0.01, E_n] around the learned levels (the Ritz values are the learned ones)."""
    from nsvd_cli.evaluate import evaluate_functions
    from nsvd_cli.problem import Conventions
    from nsvd_cli.quadrature import gauss_legendre_box
    from nsvd_cli.references import harmonic_reference

    ref3, ref2 = harmonic_reference([1.0], 3), harmonic_reference([1.0], 2)
    q = gauss_legendre_box([(-9.0, 9.0)], 48, 4)
    E = np.array([1.0, 3.0, 5.0])[list(learn)]
    amp = np.sqrt(10.0 - E)
    values = ref3.eigenfunctions(q.points)[:, list(learn)] * amp
    grads = ref3.gradients(q.points)[:, list(learn)] * amp[None, :, None]
    ev = evaluate_functions(values, grads, (q.points ** 2).sum(1), q.weights,
                            Conventions(kinetic=1.0, shift=10.0, scale=1.0), reference=ref2,
                            reference_values=ref2.eigenfunctions(q.points))
    ev.bounds = _bounds(E - 0.01, E)
    return ev, ref2


def _judge():
    from nsvd_cli.solve import _Judge

    problem = SimpleNamespace(scale=1.0, reference_error=np.zeros(2))
    return _Judge(problem, SimpleNamespace(tolerance=0.01, restarts=0, iterations=100))


def test_a_run_that_skipped_the_ground_state_fails_is_marked_and_cannot_stop_early(solve_table_text):
    judge_ = _judge()
    ev, ref = _skipped_ground_state((1, 2))
    judge_(ev, 50)
    ev, ref = _skipped_ground_state((1, 2))
    judge_(ev, 100)  # second evaluation: drift judged (0), so only the reference can stop it
    v = ev.verdict
    # λ = 10 − E: learned 7, 5 against the reference's 9, 7: 2/9 = 22.2 %, 2/7 = 28.6 %;
    # E = 3, 5 against 1, 3: 2/1 = 200 %, 2/3 = 66.7 % (neither within Δ/10 = 0.2 of E = 0)
    assert v.reasons == ["reference: E 200 % off (λ 22.2 %)", "reference: E 66.7 % off (λ 28.6 %)"]
    assert not judge_.can_stop  # --until converged keeps training
    text = solve_table_text(ev, ref)
    rows = [ln for ln in text.splitlines() if ln.startswith("│")]
    assert "misses ref." in rows[0] and "misses ref." in rows[1]
    flat = " ".join(text.split())
    assert "the learned modes skipped a level: reference level 1 (E = 1) lies below interval 1" in flat
    assert "the intervals assume that no level below the highest learned one was missed" in flat


def test_a_run_that_found_the_levels_passes_unmarked_and_stops(solve_table_text):
    judge_ = _judge()
    for it in (50, 100):
        ev, ref = _skipped_ground_state((0, 1))
        judge_(ev, it)
    assert ev.verdict.all_converged and judge_.can_stop
    assert ev.verdict.reference_offset == pytest.approx([0.0, 0.0], abs=1e-8)
    text = solve_table_text(ev, ref)
    assert "misses ref." not in text and "skipped a level" not in text


def test_an_interval_below_its_level_is_reported_as_a_rule_error():
    from nsvd_cli.cli.uncertainty import missed_intervals, missed_level_note

    ev, _ = _skipped_ground_state((0, 1))
    ev.bounds = _bounds([0.98, 2.9], [0.99, 3.1])  # level 1 = 1 lies above [0.98, 0.99]
    missed = missed_intervals(ev)
    assert missed.tolist() == [True, False]
    note = missed_level_note(ev, missed)
    assert "lies above them" in note and "'misses ref.' (level 1)" in note and "skipped" not in note
    assert missed_level_note(ev, np.zeros(2, bool)) is None


def test_a_miss_within_the_references_own_error_judges_nothing():
    """Interval [0.98, 0.99] misses level 1 = 1 by 0.01: with a reference error of 0.02 the
    reference cannot tell (a trial's coarse 3D grid reference was read as a skipped level);
    with 0.005 the miss stands."""
    from nsvd_cli.cli.uncertainty import missed_intervals, missed_level_note

    ev, _ = _skipped_ground_state((0, 1))
    ev.bounds = _bounds([0.98, 2.9], [0.99, 3.1])
    missed = missed_intervals(ev)
    note = missed_level_note(ev, missed, np.array([0.02, 0.02]))
    assert "less than the reference's own estimated error" in note and "(level(s) 1)" in note
    assert "lies above them" in missed_level_note(ev, missed, np.array([0.005, 0.005]))


def test_reference_allowance_by_hand():
    from nsvd_cli.verdict import reference_allowance

    # s = 2, ΔE_ref = 0.01, λ_ref = 4: 2 · 0.01 / 4 = 0.005; plus 3 · 0.001 Monte Carlo
    out = reference_allowance(np.array([4.0, 8.0]), 2.0, np.array([0.01, np.nan]),
                              {"relative_errors": np.array([0.001, 0.002])})
    assert out.tolist() == pytest.approx([0.005 + 0.003, 0.006])
    assert reference_allowance(np.array([4.0]), 1.0).tolist() == [0.0]  # closed form, deterministic rule


def test_the_summary_warns_that_a_mode_is_off_its_reference_level():
    from summary_capture import printed_summary

    judge_ = _judge()
    ev, _ = _skipped_ground_state((1, 2))
    judge_(ev, 50)
    result = SimpleNamespace(evaluation=ev, wall_time=1.0, iterations_per_second=1.0, iterations=50,
                             stopped_by="iterations", path="r.h5")
    out, err = printed_summary(result)
    assert "not converged: #1 (reference: E 200 % off (λ 22.2 %)), #2 (reference: E 66.7 % off (λ 28.6 %))" in out
    assert "#1, #2 off the reference level" in err
