"""Faults to survive and inputs that used to fail (issue #9); docs/reliability.md lists them.

Each test builds the fault as a user would meet it (a subprocess killed with SIGKILL or
SIGTERM, a read-only folder, an injected ENOSPC, a truncated file, a second run on the same
output) and checks the documented outcome: one line, the exit code, files intact.
"""

import errno
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import faulty_potentials
import nsvd_cli
from nsvd_cli.cli.main import app
from nsvd_cli.errors import ResultsFileError, SpecError
from nsvd_cli.problem import Problem
from nsvd_cli.solve import checkpoint_path, lock_path, solve
from nsvd_cli.spec import load_spec

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
TINY = ["--dim", "1", "--modes", "2", "--iters", "2", "-q"]


def _spec_file(tmp_path, function="faulty_potentials:harmonic", iterations=60, extra=""):
    """A 1D spec with a ``python`` potential, float64, checkpoints every 20 iterations."""
    path = tmp_path / "p.toml"
    path.write_text(f"""name = "faulty"
dimension = 1
modes = 2
shift = 10.0
reference = "none"
potential = "{function}"
[sampling]
kind = "gaussian"
std = 1.5
[model]
hidden = [16, 16]
fourier_features = 8
[training]
iterations = {iterations}
batch_size = {faulty_potentials.BATCH}
dtype = "float64"
eval_every = 1000
checkpoint_every = 20
[evaluation]
box = [[-6, 6]]
points = 24
{extra}""")
    return path


def _env(**extra):
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}", "OMP_NUM_THREADS": "1", **extra}
    env.pop("MPLBACKEND", None)
    return env


def _one_line_error(output: str) -> str:
    lines = [ln for ln in output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), output
    assert "Traceback" not in output
    return lines[0]


# ---- inputs that used to fail ---------------------------------------------------------------
@pytest.mark.parametrize("seed", [2 ** 32, 2 ** 64])
def test_seeds_beyond_32_bits_are_refused_naming_the_field(seed, tmp_path):
    res = runner.invoke(app, ["solve", "harmonic", *TINY, "--seed", str(seed), "-o", str(tmp_path / "a.h5")])
    assert res.exit_code == 2
    assert "--seed (training.seed)" in _one_line_error(res.output) and "2**32" in res.output
    assert load_spec("harmonic", overrides={"training.seed": 2 ** 32 - 1}).training.seed == 2 ** 32 - 1


def test_results_files_get_plain_write_permissions(tmp_path):
    out = tmp_path / "a.h5"
    old = os.umask(0o022)
    try:
        assert runner.invoke(app, ["solve", "harmonic", *TINY, "-o", str(out)]).exit_code == 0
        assert stat.S_IMODE(out.stat().st_mode) == 0o644  # 0o666 & ~umask, not mkstemp's 0o600
        out.chmod(0o640)
        assert runner.invoke(app, ["solve", "harmonic", *TINY, "-o", str(out), "--overwrite"]).exit_code == 0
        assert stat.S_IMODE(out.stat().st_mode) == 0o640  # a replaced file keeps its mode
    finally:
        os.umask(old)


def test_inherited_notebook_mplbackend_does_not_break_plot(short_run_file, tmp_path):
    env = {**_env(), "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    out = subprocess.run([sys.executable, "-m", "nsvd_cli", "plot", str(short_run_file), "-o", str(tmp_path)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr and any(tmp_path.glob("*.png"))


def _interrupted(tmp_path, spec, at=20):
    from nsvd_cli.train import CheckpointSaved

    def stop(event):
        if isinstance(event, CheckpointSaved) and event.iteration == at:
            raise KeyboardInterrupt

    out = tmp_path / "r.h5"
    with pytest.raises(KeyboardInterrupt):
        solve(spec, out, callback=stop)
    return out


@pytest.mark.parametrize("args, needle", [
    (["--modes", "3"], "--modes (modes): differs from the checkpoint"),
    (["--lr", "0.5"], "--lr (training.learning_rate): differs from the checkpoint"),
    (["--iters", "10"], "--iters (training.iterations): 10 is below the iteration 20"),
])
def test_resume_refuses_another_problem_or_settings(args, needle, tmp_path):
    spec_file = _spec_file(tmp_path)
    out = _interrupted(tmp_path, load_spec(spec_file))
    before = checkpoint_path(out).read_bytes()
    res = runner.invoke(app, ["solve", str(spec_file), "-o", str(out), "--resume", "-q", *args])
    assert res.exit_code == 2 and needle in _one_line_error(res.output)
    assert checkpoint_path(out).read_bytes() == before


def test_resume_refuses_another_potential(tmp_path):
    spec_file = _spec_file(tmp_path)
    out = _interrupted(tmp_path, load_spec(spec_file))
    spec_file.write_text(spec_file.read_text().replace("faulty_potentials:harmonic", "4*x0**2"))
    res = runner.invoke(app, ["solve", str(spec_file), "-o", str(out), "--resume", "-q"])
    line = _one_line_error(res.output)
    assert res.exit_code == 2 and "potential.kind: differs from the checkpoint" in line
    assert "'python', now 'expression'" in line


def test_settings_without_a_meaningful_result_are_refused_or_warned():
    with pytest.raises(SpecError, match="rounding level of float32") as info:
        Problem(load_spec("harmonic", dimension=1, overrides={"training.fd_step": 1e-4})).check()
    assert info.value.field == "training.fd_step"  # eps32 / 1e-8 = 12: the Laplacian is noise
    coulomb_node = {"evaluation.quadrature": "gauss-legendre", "evaluation.points": 5, "evaluation.panels": 1,
                    "evaluation.box": [[-10, 10], [-10, 10]]}  # the middle Gauss-Legendre node is r = 0
    with pytest.raises(SpecError, match=r"singular at 1 evaluation node\(s\), e.g. x = \[0.0, 0.0\]") as info:
        Problem(load_spec("hydrogen2d", overrides=coulomb_node)).check()
    assert info.value.field == "evaluation.quadrature"
    # the 4th oscillator state (E = 7) has ~43 % of its norm outside [-2, 2] (independent: scipy below)
    from scipy import integrate, special

    h3 = lambda x: (8 * x ** 3 - 12 * x) ** 2 * np.exp(-x ** 2) / (2 ** 3 * 6 * np.sqrt(np.pi))  # noqa: E731
    inside = integrate.quad(h3, -2, 2)[0]
    warnings_ = Problem(load_spec("harmonic", dimension=1, overrides={"evaluation.box": [[-2, 2]], "modes": 4})
                        ).warnings()
    assert any(f"holds only {100 * inside:.2f} % of the norm of reference state 4" in w for w in warnings_)
    assert special.erf(2) > 0.99  # the ground state is inside: the warning names the worst state only
    for name in ("harmonic2d", "hydrogen2d", "box2d"):
        Problem(load_spec(name)).check()  # the built-ins pass


def test_output_folder_is_refused_before_training(tmp_path, monkeypatch):
    import importlib

    solve_module = importlib.import_module("nsvd_cli.solve")  # the package facade re-exports solve()
    monkeypatch.setattr(solve_module, "fit", lambda *a, **k: pytest.fail("trained"))
    res = runner.invoke(app, ["solve", "harmonic", *TINY, "-o", str(tmp_path), "--overwrite"])
    assert res.exit_code == 2 and "is a folder; give a file name" in _one_line_error(res.output)
    monkeypatch.setattr(solve_module.shutil, "disk_usage", lambda p: type("U", (), {"free": 1000})())
    res = runner.invoke(app, ["solve", "harmonic", *TINY, "-o", str(tmp_path / "a.h5")])
    assert res.exit_code == 2 and "MiB free in" in _one_line_error(res.output)
