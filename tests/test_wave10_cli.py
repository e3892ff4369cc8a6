"""Fixes from the wave-10 new-user trial of the CLI: outputs over inputs, ``plot -o FILE``,
``compare --box``, the ``problems NAME`` hint, ``--nesting`` with other methods, cosmetics."""

from __future__ import annotations

import math
import shutil
import sys

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from nsvd_cli.cli.main import app

runner = CliRunner()


def one_error_line(res, needle: str) -> str:
    """The command printed exactly one non-empty line on stderr, an ``error:`` containing ``needle``."""
    lines = [line for line in res.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], res.stderr
    return lines[0]


@pytest.fixture
def results_copy(short_run_file, tmp_path):
    """A private copy of the session's short harmonic2d results file (conftest), and its bytes."""
    path = tmp_path / "A.h5"
    shutil.copyfile(short_run_file, path)
    return path, path.read_bytes()


# ------------------------------------------------------------------- 1. an output over an input

@pytest.mark.parametrize("spelling", ["same", "dot", "symlink"])
def test_compare_refuses_its_own_input_as_output_even_with_overwrite(results_copy, monkeypatch, spelling):
    """The trial's data loss: ``nsvd compare A.h5 -o A.h5 --overwrite`` replaced the results file
    (its trained network) by a compare file. Refused before any work, however the path is spelled."""
    path, before = results_copy
    monkeypatch.chdir(path.parent)
    out = {"same": "A.h5", "dot": "./A.h5", "symlink": "link.h5"}[spelling]
    if spelling == "symlink":
        (path.parent / "link.h5").symlink_to(path)
    res = runner.invoke(app, ["compare", "A.h5", "-o", out, "--overwrite"])
    assert res.exit_code == 2, res.output
    one_error_line(res, "-o/--output")
    assert "is the input A.h5" in res.stderr
    assert path.read_bytes() == before
    with h5py.File(path) as h:  # still a results file, not a compare file
        assert h.attrs.get("format") != "nsvd-compare"


def test_compare_to_another_file_still_works(results_copy, tmp_path):
    path, _ = results_copy
    res = runner.invoke(app, ["compare", str(path), "-o", str(tmp_path / "cmp.h5")])
    assert res.exit_code == 0, res.output
    with h5py.File(tmp_path / "cmp.h5") as h:
        assert h.attrs["format"] == "nsvd-compare"


def test_solve_refuses_its_spec_file_as_output(tmp_path, monkeypatch):
    """``nsvd solve s.toml -o s.toml --overwrite`` wrote the results over the spec."""
    monkeypatch.chdir(tmp_path)
    shown = runner.invoke(app, ["problems", "show", "harmonic", "--dim", "1"])
    assert shown.exit_code == 0
    (tmp_path / "s.toml").write_text(shown.stdout)
    res = runner.invoke(app, ["solve", "s.toml", "--iters", "2", "-q", "-o", "./s.toml", "--overwrite"])
    assert res.exit_code == 2, res.output
    one_error_line(res, "-o/--output")
    assert (tmp_path / "s.toml").read_text() == shown.stdout


def test_plot_refuses_a_figure_over_an_input(results_copy):
    """An HDF5 input named like a figure of another input (``A-spectrum.png`` beside ``A.h5``)
    would be replaced by that figure: refused before drawing."""
    path, before = results_copy
    twin = path.parent / "A-spectrum.png"
    shutil.copyfile(path, twin)
    res = runner.invoke(app, ["plot", str(path), str(twin), "--what", "spectrum"])
    assert res.exit_code == 2, res.output
    one_error_line(res, "A-spectrum.png is the input")
    assert twin.read_bytes() == before


# --------------------------------------------------------------- 2. plot -o an existing file

@pytest.mark.parametrize("under", [False, True])
def test_plot_output_dir_that_is_a_file_is_a_one_line_error(results_copy, monkeypatch, under):
    """``-o EXISTING_FILE`` crashed in save_figures' mkdir (FileExistsError, a traceback, exit 1)
    after drawing; now one line naming -o, exit 2, before any figure is built."""
    import nsvd_cli.plotting as plotting

    path, before = results_copy
    other = path.parent / "B.h5"
    shutil.copyfile(path, other)
    monkeypatch.setattr(plotting, "load_input", lambda p: pytest.fail("loaded an input before refusing -o"))
    target = other / "plots" if under else other
    res = runner.invoke(app, ["plot", str(path), "--what", "spectrum", "-o", str(target)])
    assert res.exit_code == 2, res.output
    one_error_line(res, "-o/--output-dir")
    assert f"{other} is a file" in res.stderr and "Traceback" not in res.output
    assert other.read_bytes() == before


# ------------------------------------------------------------------------ 3. compare --box

@pytest.mark.parametrize("text", ["-1", "0", "-0.5"])
def test_non_positive_box_half_width_is_refused(text):
    from nsvd_cli.cli.compare import parse_box
    from nsvd_cli.errors import ComparisonError

    with pytest.raises(ComparisonError, match="HALF_WIDTH > 0") as err:
        parse_box(text)
    assert err.value.parameter == "box"
    assert parse_box("3") == ((-3.0, 3.0),) and parse_box("-1,1") == ((-1.0, 1.0),)


def test_box_half_width_minus_one_on_the_command_line():
    res = runner.invoke(app, ["compare", "harmonic2d", "--baseline", "eigsh", "--grid", "20", "--box", "-1"])
    assert res.exit_code == 2
    one_error_line(res, "--box")


def test_a_grid_box_that_cuts_off_the_ground_state_is_warned_about():
    """harmonic2d (V = x² + y², κ = 1): ψ₀² ∝ exp(−x² − y²). On the box [−1, 1]² the outer 5 %
    (|x| > 0.9 or |y| > 0.9) holds 1 − (erf 0.9 / erf 1)² = 10.6 % of the box's norm."""
    from nsvd_cli.compare import compare

    expected = 1 - (math.erf(0.9) / math.erf(1.0)) ** 2
    assert abs(expected - 0.1057) < 1e-3
    comp = compare(["harmonic2d"], ["eigsh"], [20], box=((-1.0, 1.0),))
    notes = [n for n in comp.warnings if "cuts off" in n]
    assert len(notes) == 1 and "15 of 15 reference states" in notes[0], comp.warnings
    assert "the lowest, state 1: 11 %" in notes[0]
    assert "--box" in notes[0]
    # the walls set the levels there: the lowest is ≈ 2 (π²/4 + 1/3 − 2/π²) ≈ 5.2 (first order), not 2
    assert np.min(comp.methods[0].energies) > 2 * (math.pi**2 / 4)


def test_the_default_grid_box_gets_no_box_warning():
    from nsvd_cli.compare import compare

    comp = compare(["harmonic2d"], ["eigsh"], [20])
    assert not [n for n in comp.warnings if "cuts off" in n], comp.warnings


def test_grid_box_notes_leave_out_dirichlet_walls():
    """box2d's eigenfunctions (sines) keep ~0.16 % of their norm in the outer 5 % of the walls'
    box by nature; those faces are walls, not a cut: no note."""
    from nsvd_cli.compare import comparison_reference, grid_box_notes
    from nsvd_cli.spec import load_spec, walls

    spec = load_spec("box2d")
    reference, _ = comparison_reference(spec)
    assert grid_box_notes(spec, reference, walls(spec)) == []


# --------------------------------------------------------------------- 4. nsvd problems NAME

def _main_stderr(argv, monkeypatch, capsys) -> tuple[int, str]:
    from nsvd_cli.cli import main as main_module

    monkeypatch.setattr(sys, "argv", ["nsvd", *argv])
    with pytest.raises(SystemExit) as exit_:
        main_module.main()
    return exit_.value.code, capsys.readouterr().err


def test_problems_with_a_problem_name_hints_show(monkeypatch, capsys):
    code, err = _main_stderr(["problems", "harmonic2d"], monkeypatch, capsys)
    assert code == 2
    assert "No such command 'harmonic2d'" in err and "nsvd problems show harmonic2d" in err
    assert len([line for line in err.splitlines() if line.strip()]) == 1


def test_problems_with_a_spec_file_hints_show(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.toml").write_text("")
    code, err = _main_stderr(["problems", "mine.toml"], monkeypatch, capsys)
    assert code == 2 and "nsvd problems show mine.toml" in err


def test_problems_with_another_word_gets_no_show_hint(monkeypatch, capsys):
    code, err = _main_stderr(["problems", "nosuchthing"], monkeypatch, capsys)
    assert code == 2 and "No such command" in err and "problems show" not in err


# -------------------------------------------------------- 5. --nesting with other methods

@pytest.mark.parametrize("method", ["lora", "neuralef", "spin"])
def test_joint_nesting_is_refused_for_methods_without_nesting_masks(method):
    import torch

    from nsvd_cli.errors import SpecError
    from nsvd_cli.methods import make_objective
    from nsvd_cli.models import build_model
    from nsvd_cli.spec import load_spec

    spec = load_spec("harmonic2d", overrides={"modes": 3, "training.method": method, "training.nesting": "joint"})
    model = build_model(2, 3, spec.model, torch.Generator().manual_seed(0))
    with pytest.raises(SpecError) as err:
        make_objective(spec.training, model)
    assert err.value.field == "training.nesting" and "sequential" in err.value.message
    plain = load_spec("harmonic2d", overrides={"modes": 3, "training.method": method})
    assert callable(make_objective(plain.training, model))  # the default nesting is fine


def test_nesting_joint_with_lora_on_the_command_line_writes_nothing(tmp_path):
    out = tmp_path / "l.h5"
    res = runner.invoke(app, ["solve", "harmonic", "--dim", "1", "--modes", "2", "--iters", "5",
                              "--method", "lora", "--nesting", "joint", "-o", str(out)])
    assert res.exit_code == 2, res.output
    line = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(line) == 1 and "training.nesting" in line[0] and "--nesting" in line[0]
    assert not out.exists()
    # refused before the run's header (a verification trial saw the header, the derived line and a
    # progress bar printed first)
    assert "harmonic: 2 modes" not in res.output and "derived from the problem" not in res.output


def test_docs_agree_that_only_nestedlora_nests():
    from pathlib import Path

    docs = Path(__file__).resolve().parents[1] / "docs"
    method, spec = (docs / "method.md").read_text(), (docs / "spec.md").read_text()
    assert "`training.nesting` and `gram_batch` apply to NestedLoRA/LoRA" not in method
    assert "`training.nesting` applies to NestedLoRA only" in method
    row = next(line for line in spec.splitlines() if line.startswith("| `nesting` |"))
    assert "NestedLoRA only" in row and "refuse" in row


# ------------------------------------------------------------------------------ 6. cosmetics

def test_compare_without_grid_baselines_names_no_grid_box(results_copy):
    path, _ = results_copy
    res = runner.invoke(app, ["compare", str(path)])
    assert res.exit_code == 0, res.output
    assert "grid box" not in res.stdout and "order 2" not in res.stdout
    assert "methods" in res.stdout  # the summary of the results file


def test_compare_with_a_grid_baseline_names_its_box():
    res = runner.invoke(app, ["compare", "harmonic", "--dim", "1", "--baseline", "eigsh", "--grid", "40"])
    assert res.exit_code == 0, res.output
    assert "; grid box [" in res.stdout and "], order 2" in res.stdout


def test_spec_only_compare_prints_no_empty_methods_table():
    res = runner.invoke(app, ["compare", "harmonic", "--dim", "1"])
    assert res.exit_code == 0, res.output
    assert "methods" not in res.stdout and "grid box" not in res.stdout
    assert "reference" in res.stdout and "rel. err" not in res.stdout


def _compare_file(path, neural: bool):
    """A compare file (format_version 1) with eigsh on N = 50, 100 and optionally one neural run."""
    ref = np.array([2.0, 4.0])
    with h5py.File(path, "w") as h:
        h.attrs.update(format="nsvd-compare", format_version=1, problem="harmonic2d", spec_json="{}",
                       reference_name="harmonic (analytic)")
        h.create_group("reference").create_dataset("energies", data=ref)
        methods = [("eigsh", "grid", n, 0.01 * n, 4.0 / n**2) for n in (50, 100)]
        methods += [("nsvd", "neural", 0, 30.0, 2e-4)] if neural else []
        for k, (method, kind, n, t, err) in enumerate(methods):
            g = h.create_group(f"methods/{k}")
            g.attrs.update(label=f"{method} N={n}" if n else "nsvd run", kind=kind, method=method, grid=n,
                           wall_time=t, peak_memory=-1, iterations=10, converged=True, mean_relative_error=err)
            g.create_dataset("relative_errors", data=err * np.ones(2))
            g.create_dataset("energies", data=ref * (1 + err))
    return path


@pytest.mark.parametrize("neural", [False, True])
def test_resolution_title_mentions_horizontal_lines_only_with_neural_runs(tmp_path, neural):
    from nsvd_cli.plotting import load_compare, resolution_figure

    fig = resolution_figure(load_compare(_compare_file(tmp_path / "c.h5", neural)))
    assert ("as horizontal lines" in fig._suptitle.get_text()) == neural  # "neural runs (nestedlora) as ..."


@pytest.mark.parametrize("dim, article", [(8, "an 8D"), (2, "a 2D"), (11, "an 11D"), (18, "an 18D"), (3, "a 3D")])
def test_dim_refusal_uses_the_right_article(tmp_path, dim, article):
    from nsvd_cli.errors import SpecError
    from nsvd_cli.spec import load_spec

    path = tmp_path / "fixed.toml"
    path.write_text(f'name = "fixed"\ndimension = {dim}\npotential = "r**2"\n[sampling]\nkind = "gaussian"\n'
                    f'std = 1.0\n[evaluation]\nquadrature = "monte-carlo"\nbox = {[[-5, 5]] * dim}\n')
    with pytest.raises(SpecError) as err:
        load_spec(path, dimension=dim + 1, family_only=True)
    assert f"is {article} problem" in err.value.message
