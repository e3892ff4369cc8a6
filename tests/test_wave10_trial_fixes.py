"""Findings of the tenth round's new-user trial fixed by the coordinator (the CLI ones are in
tests/test_wave10_cli.py, the point singularities in tests/test_wave10_singular.py)."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from nsvd_cli.cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def two_methods(tmp_path_factory):
    folder = tmp_path_factory.mktemp("methods")
    paths = {}
    for method in ("nestedlora", "lora"):
        paths[method] = folder / f"{method}.h5"
        res = runner.invoke(app, ["solve", "harmonic", "--dim", "1", "--modes", "2", "--iters", "30", "--method",
                                  method, "-o", str(paths[method]), "-q", "--threads", "1"])
        assert res.exit_code == 0, res.output
    return paths


def test_orthogonality_by_construction_is_marked_in_compare(two_methods):
    import nsvd_cli

    lora = nsvd_cli.load(two_methods["lora"])
    # LoRA's evaluated functions are its Ritz functions: orthonormal on the rule to rounding
    assert lora.metrics["summary"]["orthogonality"] < 1e-12
    res = runner.invoke(app, ["compare", str(two_methods["nestedlora"]), str(two_methods["lora"])], terminal_width=400)
    assert res.exit_code == 0, res.output
    rows = [line for line in res.output.splitlines() if line.startswith("│") and "e-" in line]
    lora_row = next(r for r in rows if "(lora," in r)
    nested_row = next(r for r in rows if "(nestedlora," in r)
    assert lora_row.split("│")[-2].strip().endswith("*") and "*" not in nested_row
    assert "orthonormal by construction" in res.output


def _ev(lam, norm, converged):
    from types import SimpleNamespace

    return SimpleNamespace(eigenvalues=np.array(lam, float), norm_eigenvalues=np.array(norm, float),
                           verdict=SimpleNamespace(converged=np.array(converged, bool)))


def test_a_mode_that_ended_dead_is_named_with_the_restart_advice():
    from nsvd_cli.cli.uncertainty import dead_mode_warning

    # the user box [0,1]x[0,2] run: mode 4 ended at norm 2.3e-5 with Rayleigh quotient 29.1
    ev = _ev([47.66, 40.26, 27.92, 29.11], [47.82, 40.25, 27.92, 2.3e-5], [True, True, True, False])
    msg = dead_mode_warning(ev, restarts=0)
    assert msg.startswith("#4 (norm λ 2.3e-05 against Rayleigh λ 29.1)") and "restarts = 2" in msg
    assert "#3" not in msg
    assert "did not revive it" in dead_mode_warning(ev, restarts=2)
    # 1e-3 of the Rayleigh quotient is the line: 0.0292 (1.003e-3 x 29.11) is not dead, 0.0290 is
    assert dead_mode_warning(_ev([29.11], [0.0292], [False]), 0) is None
    assert dead_mode_warning(_ev([29.11], [0.0290], [False]), 0) is not None
    # a mode that should vanish (λ_R <= 0), a converged mode, methods without a norm estimate: no warning
    assert dead_mode_warning(_ev([-1.0], [1e-9], [False]), 0) is None
    assert dead_mode_warning(_ev([5.0], [1e-9], [True]), 0) is None
    assert dead_mode_warning(_ev([5.0], [np.nan], [False]), 0) is None


def test_the_printed_dead_mode_warning_keeps_its_table_name_and_replaces_the_wells_advice():
    # a verification trial: rich ate "[training]" as markup; the dead mode was also told to
    # "check that the sampling covers every well" (of a box with no wells)
    from types import SimpleNamespace

    from summary_capture import printed_summary

    verdict = SimpleNamespace(all_converged=False, converged=np.array([True, True, True, False]),
                              reasons=["", "", "", "agreement, reference: 13.4 % off"], nearer_other_level=None,
                              summary_line=lambda: "3 of 4 modes converged")
    ev = _ev([47.66, 40.26, 27.92, 23.7], [47.82, 40.25, 27.92, 2.2e-5], [True, True, True, False])
    ev.verdict = verdict
    ev.summary = lambda: {"max_off_diagonal": 0.5, "orthogonality": 0.1}
    result = SimpleNamespace(evaluation=ev, wall_time=1.0, iterations_per_second=1.0, iterations=10,
                             stopped_by="iterations", path="r.h5")
    _, text = printed_summary(result)
    assert "restarts = 2 in [training]" in text and "#4 (norm λ 2.2e-05" in text
    assert "every well" not in text
