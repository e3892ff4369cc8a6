"""Wave 8 (d), item 3: a shift below every level is refused before training; the warning about
few positive eigenvalues says when the reference levels are those of the walled evaluation box."""

import pytest

from nsvd_cli.errors import SpecError
from nsvd_cli.problem import Problem


def test_shift_below_every_level_is_refused(tmp_path, oscillator_spec):
    # V = x² (κ = 1): E = 1, 3, 5, ...; shift 0.5 < 1 leaves T = 0.5 − H without a positive eigenvalue
    problem = Problem(oscillator_spec(0.5, 2, box=6.0))
    with pytest.raises(SpecError) as info:
        problem.check_spectrum()
    assert info.value.field == "shift"
    assert "0.5 lies below every level of the reference (E = 1, 3" in info.value.message
    assert "E_2 = 3" in info.value.message
    Problem(oscillator_spec(1.5, 2, box=6.0)).check_spectrum()  # one positive eigenvalue: trains


def test_solve_refuses_before_training(tmp_path, oscillator_spec):
    from nsvd_cli.solve import solve

    seen = []
    with pytest.raises(SpecError, match="below every level"):
        solve(oscillator_spec(0.5, 2, box=6.0), tmp_path / "o.h5", callback=seen.append)
    assert not (tmp_path / "o.h5").exists()
    assert not any(type(e).__name__ == "Progress" for e in seen)


def test_few_positive_eigenvalues_names_the_walled_box_levels(tmp_path, oscillator_spec):
    # V = x² on [-1.5, 1.5] with walls at the faces: levels 1.38, 5.01, 10.57 (the new-user trial),
    # above the free oscillator's 1, 3, 5; checked here against an independent finite-difference
    # solve (second order, 3000 interior points) of -ψ'' + x²ψ = Eψ, ψ(±1.5) = 0
    import numpy as np
    from scipy.linalg import eigh_tridiagonal

    n, a = 3000, 1.5
    x = np.linspace(-a, a, n + 2)[1:-1]
    h = x[1] - x[0]
    e = eigh_tridiagonal(2 / h**2 + x**2, np.full(n - 1, -1 / h**2), select="i", select_range=(0, 2))[0]
    np.testing.assert_allclose(e, [1.38, 5.01, 10.57], atol=0.01)
    msgs = Problem(oscillator_spec(10.0, 4, box=a)).warnings()
    line = next(m for m in msgs if "positive eigenvalues" in m)
    assert "leaves only 2 positive eigenvalues of T among the 4 modes" in line
    assert "reference levels E = 1.378, 5.01, 10.57" in line
    assert "on the evaluation box [[-1.5, 1.5]] with walls at its faces" in line
