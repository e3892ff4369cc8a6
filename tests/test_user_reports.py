"""What a new user reported (wave 6 polish): each test checks a value fixed independently of
the code (NaN for a dropped pair, the shape (0, L), the spec author's spelling, the JSON
encoding, hand-computed relative errors) and failed before its fix."""

import json

import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from nsvd_cli.cli.main import app
from nsvd_cli.errors import SpecError
from nsvd_cli.files.results import load
from nsvd_cli.problem import Problem
from nsvd_cli.spec import load_spec

runner = CliRunner()


@pytest.fixture
def dropped_file(short_run_file, tmp_path):
    """The short harmonic2d run with its third Ritz pair marked dropped, as the Ritz step
    writes one: energy NaN, coefficient column 0, ``dropped`` = 1."""
    path = tmp_path / "dropped.h5"
    path.write_bytes(short_run_file.read_bytes())
    with h5py.File(path, "r+") as h:
        h["ritz/energies"][2] = np.nan
        h["ritz/vectors"][:, 2] = 0.0
        h["ritz"].attrs["dropped"] = 1
    return path


# ---------------------------------------------------------------------------- A, B: eigenfunctions

def test_dropped_ritz_pair_gives_a_nan_column(dropped_file):
    res = load(dropped_file)
    x = np.array([[0.0, 0.0], [0.5, -0.3], [1.0, 1.0]])
    phi = res.eigenfunctions(x, ritz=True)
    assert phi.shape == (3, 3)
    assert np.isnan(phi[:, 2]).all()  # as its energy: no function, not the zero function
    assert np.isfinite(phi[:, :2]).all() and np.abs(phi[:, :2]).max() > 0


@pytest.mark.parametrize("kwargs", [{}, {"raw": True}, {"ritz": True}, {"normalise": False}])
def test_no_points_give_an_empty_array(short_run_file, kwargs):
    res = load(short_run_file)
    out = res.eigenfunctions(np.zeros((0, 2)), **kwargs)
    assert isinstance(out, np.ndarray) and out.shape == (0, 3)
    t = res.eigenfunctions(torch.zeros((0, 2), dtype=torch.float32), **kwargs)
    assert isinstance(t, torch.Tensor) and tuple(t.shape) == (0, 3) and t.dtype == torch.float32


def test_wrong_width_still_refused_with_no_points(short_run_file):
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        load(short_run_file).eigenfunctions(np.zeros((0, 3)))


# ---------------------------------------------------------------------------- F: spec messages

def test_bool_for_an_integer_field_says_integer_in_toml_spelling(tmp_path):
    with pytest.raises(SpecError, match="evaluation.ritz_degree: expected an integer, got true$"):
        load_spec("harmonic2d", overrides={"evaluation.ritz_degree": True})
    spec = tmp_path / "s.toml"
    spec.write_text('name = "s"\ndimension = 1\nmodes = 2\nshift = 10.0\n[potential]\nkind = "harmonic"\n'
                    '[sampling]\nkind = "gaussian"\n[evaluation]\nbox = [[-6.0, 6.0]]\nritz_degree = false\n')
    with pytest.raises(SpecError, match="expected an integer, got false"):
        load_spec(str(spec))
    with pytest.raises(SpecError, match="shift: expected a number, got true"):
        load_spec("harmonic2d", overrides={"shift": True})


def test_explicit_ritz_degree_on_monte_carlo_warns_once():
    mc = {"evaluation.quadrature": "monte-carlo", "evaluation.samples": 1000}
    warned = [w for w in Problem.from_spec(load_spec("harmonic2d", overrides={**mc, "evaluation.ritz_degree": 2}))
              .warnings() if "ritz_degree" in w]
    assert len(warned) == 1 and "\n" not in warned[0] and "sampling noise" in warned[0]
    for overrides in (mc, {**mc, "evaluation.ritz_degree": 0}, {"evaluation.ritz_degree": 2}):
        assert not [w for w in Problem.from_spec(load_spec("harmonic2d", overrides=overrides)).warnings()
                    if "ritz_degree" in w], overrides


# ---------------------------------------------------------------------------- C, D: compare

def _with_verdict(src, dst, converged):
    dst.write_bytes(src.read_bytes())
    with h5py.File(dst, "r+") as h:
        h["verdict/converged"][...] = np.asarray(converged)
    return dst


def test_compare_json_converged_is_the_verdict_and_encodings(short_run_file, tmp_path):
    for flags, expected in (([False, False, False], False), ([True, True, True], True)):
        path = _with_verdict(short_run_file, tmp_path / f"v{int(expected)}.h5", flags)
        res = runner.invoke(app, ["compare", str(path), "--json"])
        assert res.exit_code == 0, res.output
        (m,) = json.loads(res.stdout)["methods"]
        assert m["converged"] is expected
        assert m["peak_memory"] is None  # not measured for a results file (was -1)
    # in_interval: true/false/null, the reference level 2, 4, 4 (E = 2(n_x + n_y + 1)) against
    # the file's stored interval of the k-th Ritz value
    stored = load(path).bounds
    for k, (ref, got) in enumerate(zip([2.0, 4.0, 4.0], m["in_interval"])):
        if not np.isfinite(stored["lower"][k]):
            assert got is None
        else:
            assert got is bool(stored["lower"][k] <= ref <= stored["upper"][k]), k
    np.testing.assert_allclose(m["ritz_energies"], load(path).ritz["energies"], rtol=1e-8)


def test_compare_table_shows_the_ritz_value_of_each_interval(short_run_file):
    res = runner.invoke(app, ["compare", str(short_run_file)], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    assert "Ritz E" in res.stdout and "in interval" in res.stdout
    ritz = load(short_run_file).ritz["energies"]
    lines = [line for line in res.stdout.splitlines() if line.strip().startswith("│ 1 ") or
             line.strip().startswith("1 ")]
    assert lines and f"{ritz[0]:.6g}" in lines[0], res.stdout
