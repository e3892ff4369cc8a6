"""CLI: help, errors (one line, exit 2), options reaching the spec, a real short solve."""

import importlib
import subprocess
import sys

import pytest
from types import SimpleNamespace
from typer.testing import CliRunner

from nsvd_cli.cli.main import app

solve_module = importlib.import_module("nsvd_cli.solve")  # the package facade re-exports solve()

runner = CliRunner()


def test_module_help_runs():
    out = subprocess.run([sys.executable, "-m", "nsvd_cli", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "solve" in out.stdout


def test_solve_help_lists_options():
    res = runner.invoke(app, ["solve", "--help"])
    assert res.exit_code == 0
    for opt in ("--modes", "--iters", "--batch-size", "--nesting", "--seed", "--device", "--laplacian",
                "--preset", "--output", "--overwrite", "--resume"):
        assert opt in res.output


@pytest.mark.parametrize("args, needle", [
    (["solve", "nonexistent"], "unknown problem"),
    (["solve", "harmonic2d", "--modes", "0"], "--modes"),
    (["solve", "harmonic2d", "--batch-size", "31"], "--batch-size"),
    (["solve", "harmonic2d", "--preset", "nope"], "unknown preset"),
    (["solve", "harmonic2d", "--device", "cuda:7"] if not __import__("torch").cuda.is_available()
     else ["solve", "harmonic2d", "--device", "tpu"], "--device"),
    (["solve", "harmonic2d", "--resume"], "no checkpoint"),
])
def test_bad_input_one_line_exit_2(args, needle, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    err = res.stderr if hasattr(res, "stderr") else res.output
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and needle in lines[0], err


def test_bad_choice_is_a_usage_error():
    res = runner.invoke(app, ["solve", "harmonic2d", "--nesting", "diagonal"])
    assert res.exit_code == 2


def test_options_reach_the_spec(monkeypatch, tmp_path):
    seen = {}

    def fake_solve(spec, output, **kw):
        seen["spec"], seen["output"], seen["kw"] = spec, output, kw
        raise SystemExit(0)

    monkeypatch.setattr(solve_module, "solve", fake_solve)
    runner.invoke(app, ["solve", "hydrogen2d", "--modes", "9", "--iters", "123", "--batch-size", "64",
                        "--nesting", "joint", "--laplacian", "exact", "--seed", "5", "--lr", "0.01",
                        "--optimizer", "rmsprop", "-o", str(tmp_path / "a.h5"), "--overwrite"])
    spec = seen["spec"]
    assert spec.modes == 9 and spec.training.iterations == 123 and spec.training.batch_size == 64
    assert spec.training.nesting == "joint" and spec.training.laplacian == "exact"
    assert spec.training.seed == 5 and spec.training.learning_rate == 0.01
    assert spec.training.optimizer == "rmsprop"
    assert seen["kw"]["overwrite"] is True


def test_short_solve_prints_table_and_refuses_overwrite(tmp_path):
    out = tmp_path / "run.h5"
    args = ["solve", "harmonic2d", "--modes", "3", "--iters", "60", "--batch-size", "128", "-o", str(out), "-q"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert out.exists() and "results written" in res.output and "rel. err" in res.output
    before = out.read_bytes()
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "--overwrite" in res.output
    assert out.read_bytes() == before


@pytest.mark.parametrize("args, needle", [
    (["solve", "harmonic2d", "--nesting", "sequentail"], "--nesting"),
    (["solve", "harmonic2d", "--itrs", "3"], "No such option"),
    (["solve", "harmonic2d", "--iters", "abc"], "--iters"),
])
def test_console_script_usage_errors_are_one_line(args, needle):
    out = subprocess.run([sys.executable, "-c", "from nsvd_cli.cli.main import main; main()", *args],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    lines = [l for l in out.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], out.stderr


def test_unwritable_output_refused_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a file where a folder should be
    res = runner.invoke(app, ["solve", "harmonic2d", "--iters", "5", "-o", str(blocker / "r.h5")])
    assert res.exit_code == 2 and "training" not in res.stdout


@pytest.mark.parametrize("args, message", [
    (["solve", "harmonic2d", "--lr", "-1"], "--lr (training.learning_rate): must be > 0, got -1.0"),
    (["solve", "harmonic2d", "--modes", "0"], "--modes (modes): must be >= 1, got 0"),
    (["solve", "harmonic2d", "--batch-size", "31"], "--batch-size (training.batch_size): must be even"),
    (["solve", "harmonic2d", "--preset", "nope"], "--preset (preset): unknown preset 'nope'"),
])
def test_usage_errors_name_flag_field_and_reason(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and message in " ".join(res.output.split()), res.output


def test_choice_options_offer_the_spec_literals():
    from typing import get_args

    from nsvd_cli.spec.choices import Nesting

    res = runner.invoke(app, ["solve", "harmonic2d", "--nesting", "diagonal"])
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    assert "diagonal" in text and all(c in text for c in get_args(Nesting)), res.output


def test_solve_prints_plain_progress_lines_into_a_pipe(tmp_path, monkeypatch):
    """Issue 9 item 11: `nsvd solve ... | tee log` shows progress before the first evaluation."""
    from typer.testing import CliRunner

    from nsvd_cli.cli.main import app

    monkeypatch.setenv("NSVD_PROGRESS_INTERVAL", "1e-9")
    res = CliRunner().invoke(app, ["solve", "harmonic", "--dim", "1", "--modes", "2", "--iters", "30",
                                   "--batch-size", "64", "-o", str(tmp_path / "p.h5")])
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith("training: iteration ")]
    assert [ln.split(",")[0] for ln in lines] == [f"training: iteration {i}/30" for i in (10, 20, 30)]


def test_ritz_values_sit_beside_the_learned_mode_they_match():
    """1D oscillator (E = 1, 3, 5, 7) learned with modes 2 and 3 swapped and slightly mixed: the
    ascending Ritz values 3 and 5 must sit in the rows of the learned functions ≈ psi_1 and
    psi_2 (rows 3 and 2), marked with their rank, not in rows 2 and 3."""
    import numpy as np
    from rich.console import Console

    from nsvd_cli.cli import solve as cli_solve
    from nsvd_cli.evaluate import evaluate_functions
    from nsvd_cli.problem import Conventions
    from nsvd_cli.quadrature import gauss_legendre_box
    from nsvd_cli.references import harmonic_reference

    ref = harmonic_reference([1.0], 4)
    q = gauss_legendre_box([(-9.0, 9.0)], 48, 4)
    conv = Conventions(kinetic=1.0, shift=10.0, scale=1.0)
    mix = np.eye(4)[:, [0, 2, 1, 3]]
    mix[:, 1] += 0.05 * np.eye(4)[:, 1]  # learned mode 2 ≈ psi_2 + 0.05 psi_1
    scale = np.sqrt(conv.eigenvalues_from_energies(ref.energies))
    values = (ref.eigenfunctions(q.points) * scale) @ mix
    grads = np.einsum("nld,lm->nmd", ref.gradients(q.points) * scale[None, :, None], mix)
    ev = evaluate_functions(values, grads, (q.points ** 2).sum(1), q.weights, conv)
    np.testing.assert_allclose(ev.ritz_energies, [1, 3, 5, 7], rtol=1e-6)
    rows, overlap2 = cli_solve.ritz_rows(ev)
    assert rows.tolist() == [0, 2, 1, 3]
    assert overlap2[[0, 2, 3]] == pytest.approx(1.0) and overlap2[1] == pytest.approx(5 / (5 + 0.05**2 * 7))  # sqrt5 psi_2 + 0.05 sqrt7 psi_1 (lambda = 10 - E)

    ev.verdict, ev.bounds = None, None
    spec = SimpleNamespace(name="osc", dimension=1, scale=1.0, shift=10.0, evaluation=SimpleNamespace(samples=0))
    recorded = Console(record=True, width=200)
    old = cli_solve.console
    cli_solve.console = recorded
    try:
        cli_solve.print_table(spec, ev, None)
    finally:
        cli_solve.console = old
    text = recorded.export_text()
    rows = [ln for ln in text.splitlines() if ln.startswith("│")]
    assert "5 (#3)" in rows[1] and "3 (#2)" in rows[2] and "?" not in "".join(rows)
    assert "Ritz E (matched)" in text and "(#k): the k-th lowest Ritz value" in text
