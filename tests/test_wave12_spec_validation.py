"""Wave 12: spec validation findings of a new-user trial (names, overflows, limits, messages)."""

from __future__ import annotations

import json
import os
import time

import pytest
import tomli_w
from typer.testing import CliRunner

from nsvd_cli.cli.main import app
from nsvd_cli.errors import SpecError
from nsvd_cli.spec import builtin_problems, load_spec, parse_spec

runner = CliRunner()


def _data(**top) -> dict:
    data = {"name": "osc", "dimension": 1, "modes": 2, "shift": 10.0, "potential": "x0**2",
            "sampling": {"kind": "gaussian", "std": 1.0}, "evaluation": {"box": [[-6.0, 6.0]]}}
    for key, value in top.items():
        table, _, field = key.rpartition("__")
        if table:
            data[table] = {**data.get(table, {}), field: value}
        else:
            data[key] = value
    return data


def _write(tmp_path, data: dict, name: str = "user.toml"):
    path = tmp_path / name
    path.write_text(tomli_w.dumps(data))
    return path


def _refused(result, field: str) -> str:
    """The one-line CLI refusal (exit 2, no traceback) naming ``field``."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "Error:" not in result.output.replace("error:", "")
    line = " ".join(result.output.split())
    assert f"{field}:" in line, line
    return line


# ---- 1. the name is the stem of the default results file ------------------------------

@pytest.mark.parametrize("name", ["../../evil", "/some/dir/pwned", "a\nb", "a\\b", ".", "..", "-x", "tab\there"])
def test_a_name_that_is_no_file_stem_is_refused(tmp_path, name):
    with pytest.raises(SpecError) as info:
        load_spec(str(_write(tmp_path, _data(name=name))))
    assert info.value.field == "name"
    assert "no / or \\" in info.value.message and repr(name) in info.value.message


def test_the_name_refusal_is_one_line_with_exit_code_2(tmp_path):
    path = _write(tmp_path, _data(name="../../evil"))
    res = runner.invoke(app, ["solve", str(path), "--iters", "2", "-q"])
    _refused(res, "name")
    assert not list(tmp_path.parent.glob("evil-*.h5")) and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("name", ["my-anharmonic", "osc1d", "x, [y]", "box-mc", "h2 (paper)", "...", "a.b"])
def test_ordinary_names_pass(tmp_path, name):
    assert load_spec(str(_write(tmp_path, _data(name=name)))).name == name


def test_every_builtin_name_passes():
    for name in builtin_problems():
        assert load_spec(name).name == name


def test_a_stored_unsafe_name_is_sanitised_when_a_results_file_is_read(tmp_path):
    """A results file written before names were checked: its stored spec still loads (the
    parse of ``nsvd_cli.files`` and ``nsvd solve results.h5``), with a safe name."""
    import h5py

    from nsvd_cli.spec import spec_to_dict

    data = spec_to_dict(load_spec("harmonic", dimension=1))
    data["name"] = "../../evil"
    assert parse_spec(data).name == ".._.._evil"  # what files.read_results parses
    path = tmp_path / "old.h5"
    with h5py.File(path, "w") as h:
        h.attrs["format"] = "nsvd-results"
        h.attrs["spec_json"] = json.dumps({**data, "name": "/abs/dir\npwned"})
    assert load_spec(str(path)).name == "_abs_dir_pwned"
    assert parse_spec({**data, "name": "."}).name == "problem"


# ---- 2. tracebacks ----------------------------------------------------------------------

def test_a_huge_sampling_std_gives_no_traceback(tmp_path):
    """std = 1e300: ``ell**2`` raised OverflowError (defaults.py), then the derived frequency
    0.5/ell rounded to 0.0 and was refused as a spec error of a field the user never wrote."""
    path = _write(tmp_path, _data(sampling__std=1e300))
    res = runner.invoke(app, ["problems", "show", str(path)])
    assert res.exit_code == 0, res.output
    assert "fourier_scales = [5e-301]" in res.output


@pytest.mark.parametrize("decay", [2.0, 1.0, 1])
def test_ema_decay_must_lie_in_0_1(tmp_path, decay):
    path = _write(tmp_path, _data(training__ema_decay=decay))
    line = _refused(runner.invoke(app, ["problems", "show", str(path)]), "training.ema_decay")
    assert "[0, 1)" in line and "initial weights" in line


def test_ema_decay_zero_is_no_average(tmp_path):
    assert load_spec(str(_write(tmp_path, _data(training__ema_decay=0.0)))).training.ema_decay == 0.0


# ---- 3. limits ----------------------------------------------------------------------------

@pytest.mark.parametrize("threads", ["100000", "5000"])
def test_absurd_thread_counts_are_refused(threads):
    res = runner.invoke(app, ["problems", "show", "harmonic2d", "--threads", threads])
    assert res.exit_code == 2 and f"--threads: must be <= {4 * (os.cpu_count() or 1)}" in res.output


def test_points_per_panel_are_capped_and_more_panels_suggested(tmp_path):
    t = time.perf_counter()
    with pytest.raises(SpecError) as info:
        load_spec(str(_write(tmp_path, _data(evaluation__points=10000))))
    assert time.perf_counter() - t < 5.0  # was: numpy leggauss(10000), O(n^3), minutes
    assert info.value.field == "evaluation.points" and "<= 1000" in info.value.message and "panels" in info.value.message
    assert load_spec(str(_write(tmp_path, _data(evaluation__points=1000)))).evaluation.points == 1000


def test_polar_angles_are_capped_by_the_node_limit():
    with pytest.raises(SpecError) as info:
        load_spec("hydrogen2d", overrides={"evaluation.angles": 10000})  # 32 * 8 * 10^4 = 2.56e6 nodes
    assert info.value.field == "evaluation.angles" and "2.56e+06 nodes" in info.value.message


@pytest.mark.parametrize("dim, n, fit", [(1, 10 ** 8, 10 ** 7), (2, 5000, 3162), (3, 200, 139), (6, 10 ** 8, 10 ** 7)])
def test_a_reference_grid_that_cannot_be_solved_is_refused(dim, n, fit):
    """N^D points (D <= 3; 1D grids of a separable reference beyond) over 1e7 points or an eigsh
    estimate over 1 TiB (3D: 139 points per axis fit, 140 do not)."""
    with pytest.raises(SpecError) as info:
        load_spec("harmonic", dimension=dim, overrides={"reference_grid": n})
    assert info.value.field == "reference_grid" and f"reference_grid <= {fit} " in info.value.message
    load_spec("harmonic", dimension=dim, overrides={"reference_grid": fit})


# ---- 4. settings that make training pointless: warned ------------------------------------

def test_training_warnings_name_warmup_and_a_rising_schedule():
    from nsvd_cli.defaults import training_warnings

    spec = parse_spec(_data(training__warmup=100000, training__iterations=20, training__final_learning_rate=0.5,
                            training__learning_rate=0.01))
    warmup, rising = training_warnings(spec)
    assert "warmup = 100000" in warmup and "20 iterations" in warmup
    assert "final_learning_rate = 0.5 exceeds learning_rate = 0.01" in rising
    # left out: iterations derived as 1000 + 600 * 2 * 1 = 2200, learning rate 3e-3
    assert training_warnings(parse_spec(_data(training__warmup=2199, training__final_learning_rate=0.003))) == []
    assert len(training_warnings(parse_spec(_data(training__warmup=2200)))) == 1
    assert training_warnings(parse_spec(_data(training__schedule="constant", training__final_learning_rate=1.0))) == []


def test_solve_shows_the_training_warnings_before_training(tmp_path):
    path = _write(tmp_path, _data(training__warmup=100000, training__batch_size=16))
    res = runner.invoke(app, ["solve", str(path), "--iters", "2", "-q", "-o", str(tmp_path / "r.h5"), "--threads", "1"])
    assert res.exit_code == 0, res.output
    assert "warning: training.warmup = 100000 is not below the 2 iterations" in " ".join(res.output.split())


# ---- 5. messages ----------------------------------------------------------------------------

def test_an_overflowing_scale_is_refused_naming_scale(tmp_path):
    path = _write(tmp_path, _data(scale=1e308))
    line = _refused(runner.invoke(app, ["problems", "show", str(path)]), "scale")
    assert "float32" in line and "leave scale out" in line
    # float32 trains with |λ1| up to 0.01 sqrt(3.4e38) = 1.8e17; the estimate 10 - (0 + 1/2) = 9.5
    assert load_spec(str(_write(tmp_path, _data(scale=1e15)))).scale == 1e15
    from nsvd_cli.defaults import derive_defaults

    derive_defaults(load_spec(str(_write(tmp_path, _data(scale=1e15)))))
    with pytest.raises(SpecError, match="scale"):
        derive_defaults(load_spec(str(_write(tmp_path, _data(scale=1e17)))))
    derive_defaults(load_spec(str(_write(tmp_path, _data(scale=1e17, training__dtype="float64")))))


@pytest.mark.parametrize("expression, cause", [("x0**2 + 1e400", "the constant 1e400 overflows"),
                                               ("1.5e999*x0**2", "the constant 1.5e999 overflows")])
def test_a_potential_infinite_everywhere_is_named_so(tmp_path, expression, cause):
    with pytest.raises(SpecError) as info:
        load_spec(str(_write(tmp_path, _data(potential=expression))))
    assert info.value.field == "potential.expression"
    assert "infinite everywhere" in info.value.message and cause in info.value.message


def test_a_potential_that_overflows_at_every_node_is_named_so(tmp_path):
    """exp(1000) overflows float64 (e^1000 > 1.8e308) at every node: not a 'singular point'."""
    from nsvd_cli.problem import Problem

    with pytest.raises(SpecError) as info:
        Problem.from_spec(load_spec(str(_write(tmp_path, _data(potential="x0**2 + exp(1000)"))))).check()
    assert info.value.field == "potential" and "infinite at every one" in info.value.message


def test_a_spec_with_a_utf8_bom_is_read(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + tomli_w.dumps(_data()).encode())
    assert load_spec(str(path)).name == "osc"


def test_a_latin1_spec_is_named_not_utf8(tmp_path):
    path = tmp_path / "latin.toml"
    path.write_bytes(tomli_w.dumps(_data(description="café")).encode("latin-1"))
    with pytest.raises(SpecError) as info:
        load_spec(str(path))
    assert "not UTF-8 text (byte 0xe9" in info.value.message and "binary" not in info.value.message


# ---- 6. help texts ----------------------------------------------------------------------------

def test_compare_help_names_the_reference_it_uses():
    text = " ".join(runner.invoke(app, ["compare", "--help"]).output.split())
    assert "finest grid" not in text and "order-4 eigsh grid reference" in text and "independent of --grid" in text


@pytest.mark.parametrize("command", [["problems", "show"], ["solve"]])
def test_help_says_a_results_file_is_accepted(command):
    assert "results file (.h5)" in " ".join(runner.invoke(app, [*command, "--help"]).output.split())
