"""Accuracy targets of the built-in defaults (issue #2), against the analytic spectra.

Long (minutes on 2 cores): marked slow, run with ``python -m pytest -q -m slow``.
"""

import numpy as np
import pytest
import torch

import nsvd_cli
from nsvd_cli.solve import solve
from nsvd_cli.spec import load_spec


@pytest.mark.slow
@pytest.mark.parametrize("problem, mean_tol, max_tol, gram_tol", [
    ("harmonic2d", 0.002, 0.005, 0.03),
    ("hydrogen2d", 0.02, 0.05, 0.05),
])
def test_default_run_meets_targets(problem, mean_tol, max_tol, gram_tol, tmp_path):
    torch.set_num_threads(2)
    spec = load_spec(problem)
    out = solve(spec, tmp_path / f"{problem}.h5")
    res = nsvd_cli.load(out.path)
    ref = spec.eigenvalues_from_energies(res.reference_energies)
    # the analytic levels, independently: 2(n_x + n_y + 1) and -1/(2n+1)^2
    if problem == "harmonic2d":
        levels = np.repeat([2.0, 4.0, 6.0, 8.0, 10.0], [1, 2, 3, 4, 5])
    else:
        levels = np.repeat([-1.0, -1 / 9, -1 / 25, -1 / 49], [1, 3, 5, 7])
    assert np.allclose(res.reference_energies, levels)
    rel = np.abs(res.eigenvalues - ref) / np.abs(ref)
    assert rel.mean() <= mean_tol and rel.max() <= max_tol, rel
    assert res.metrics["summary"]["max_off_diagonal"] <= gram_tol
