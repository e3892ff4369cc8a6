"""Wave 8 (f), item 2: a shift exactly at a reference level gives an eigenvalue 0 of T, not the
rounding noise of the reference (V = x², shift 1: the grid reference's λ_1 = 2.5e-11 passed the
up-front refusal, counted as positive and printed a relative error of 1.5e10 %)."""

import numpy as np
import pytest

from nsvd_cli.errors import SpecError
from nsvd_cli.problem import AT_SHIFT_RTOL, Conventions, Problem


def test_levels_within_the_tolerance_of_the_shift_are_zero():
    # T = 2 (−H + 1): λ = 2 (1 − E); the scale of the spectrum is max(|shift|, |E|) = 5
    conv = Conventions(kinetic=1.0, shift=1.0, scale=2.0)
    lam = conv.reference_eigenvalues([1 + 1e-12, 3.0, 5.0, 1 - 1e-6])
    np.testing.assert_array_equal(lam[:3], [0.0, -4.0, -8.0])
    assert lam[3] == pytest.approx(2e-6)  # 1e-6 of the shift is far above the tolerance: a real level
    edge = 0.99 * AT_SHIFT_RTOL * 5.0  # just inside the tolerance (in energy units) ...
    assert conv.reference_eigenvalues([1 - edge, 5.0])[0] == 0.0
    assert conv.reference_eigenvalues([1 - 1.02 * AT_SHIFT_RTOL * 5.0, 5.0])[0] > 0  # ... and just outside


def test_shift_at_the_ground_level_is_refused(tmp_path, oscillator_spec):
    # V = x² (κ = 1): E = 1, 3, ... (the grid reference on [-6, 6] gives 1 − 2.5e-11)
    problem = Problem(oscillator_spec(1.0, 2))
    with pytest.raises(SpecError) as info:
        problem.check_spectrum()
    assert info.value.field == "shift"
    assert info.value.message.startswith("1 lies at the level E_1 (within a relative 1e-08")
    assert "E_2 = 3" in info.value.message


def test_level_at_the_shift_counts_as_zero_in_the_warning(tmp_path, oscillator_spec):
    msgs = Problem(oscillator_spec(3.0, 3)).warnings()
    assert any("leaves only 1 positive eigenvalues of T among the 3 modes" in m for m in msgs), msgs


def test_a_mode_at_the_shift_gets_no_relative_error(tmp_path, solve_table_text):
    # closed-form levels 1, 3, 5 with the shift at 3 up to rounding noise (as a grid reference has it):
    # mode 2 is a λ ≤ 0 row, no 1e10 % relative error; mode 1 keeps its exact 0 % error
    from nsvd_cli.evaluate import evaluate_functions
    from nsvd_cli.quadrature import gauss_legendre_box
    from nsvd_cli.references import harmonic_reference

    shift = 3.0 * (1 + 1e-11)
    ref = harmonic_reference([1.0], 3)
    q = gauss_legendre_box([(-9.0, 9.0)], 48, 4)
    conv = Conventions(kinetic=1.0, shift=shift, scale=1.0)
    amp = np.array([np.sqrt(shift - 1.0), 1e-3, 1e-3])  # vanishing norms for the λ ≤ 0 modes
    values = ref.eigenfunctions(q.points) * amp
    grads = ref.gradients(q.points) * amp[None, :, None]
    ev = evaluate_functions(values, grads, (q.points ** 2).sum(1), q.weights, conv, reference=ref,
                            reference_values=ref.eigenfunctions(q.points))
    assert ev.positive.tolist() == [True, False, False]
    assert ev.reference_eigenvalues[1] == 0.0 and np.isnan(ev.relative_errors[1])
    assert ev.relative_errors[0] == pytest.approx(0.0, abs=1e-9)

    ev.verdict, ev.bounds = None, None
    rows = [ln for ln in solve_table_text(ev, ref, shift).splitlines() if ln.startswith("│")]
    assert "λ≤0" in rows[1] and "λ≤0" in rows[2] and "λ≤0" not in rows[0]
