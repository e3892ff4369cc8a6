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
