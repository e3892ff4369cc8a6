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
    """The one ``error:`` line (the last line; stdout may hold the run's header before it)."""
    lines = [ln for ln in output.strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], output
    assert "Traceback" not in output
    return errors[0]


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


# ---- faults to survive ----------------------------------------------------------------------
def test_non_finite_loss_rolls_back_halves_the_learning_rate_and_is_recorded(tmp_path):
    faulty_potentials.reset()
    spec = load_spec(_spec_file(tmp_path, "faulty_potentials:nan_once", iterations=40))
    with pytest.warns(UserWarning, match="non-finite loss at iteration 5: rolled back to iteration 0"):
        result = solve(spec, tmp_path / "n.h5")
    r = nsvd_cli.load(result.path)
    assert r.run["rollbacks"] == 1 and r.run["iterations"] == 40
    rb = r.history["rollbacks"]
    assert rb["iteration"].tolist() == [5] and rb["restored_to"].tolist() == [0]
    assert rb["learning_rate_factor"].tolist() == [0.5] and np.isnan(rb["loss"][0])
    # logged at iteration 10 of 40: half the peak rate times the cosine factor (1 + cos(pi 10/40)) / 2
    cosine = 0.5 * r.spec.training.learning_rate * (1 + np.cos(np.pi * 10 / 40)) / 2  # the rate used (derived)
    assert r.history["iteration"][0] == 10 and r.history["learning_rate"][0] == pytest.approx(cosine, rel=1e-9)
    assert np.isfinite(r.eigenvalues).all()


def _start_slow_run(tmp_path, spec_file, out, *extra):
    cmd = [sys.executable, "-m", "nsvd_cli", "solve", str(spec_file), "-o", str(out), "-q", *extra]
    proc = subprocess.Popen(cmd, env=_env(NSVD_TEST_SLEEP="0.05"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    ckpt, t0 = checkpoint_path(out), time.monotonic()
    while not ckpt.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < 120, "no checkpoint"
        time.sleep(0.02)
    return proc


def test_kill_9_then_resume_equals_the_uninterrupted_run(tmp_path):
    spec_file = _spec_file(tmp_path)
    out = tmp_path / "k.h5"
    proc = _start_slow_run(tmp_path, spec_file, out)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert not out.exists() and not list(tmp_path.glob(".k.h5*"))  # never a partial results file
    done = torch.load(checkpoint_path(out), weights_only=True)["iteration"]
    assert 20 <= done < 60
    spec = load_spec(spec_file)
    resumed = solve(spec, out, resume=True)
    straight = solve(spec, tmp_path / "s.h5")
    np.testing.assert_allclose(resumed.evaluation.eigenvalues, straight.evaluation.eigenvalues, rtol=1e-6)
    assert not checkpoint_path(out).exists() and not lock_path(out).exists()


def test_sigterm_keeps_the_checkpoint_and_prints_the_resume_command(tmp_path):
    spec_file = _spec_file(tmp_path)
    out = tmp_path / "t.h5"
    proc = _start_slow_run(tmp_path, spec_file, out)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert f"checkpoint kept at {checkpoint_path(out)}" in err and "Traceback" not in err
    assert f"-o {out} -q --resume" in err
    assert checkpoint_path(out).exists() and not out.exists() and not lock_path(out).exists()


def test_ctrl_c_prints_the_checkpoint_and_the_resume_command(tmp_path, monkeypatch):
    import nsvd_cli.train as train_module

    calls = {"n": 0}
    real = train_module.nested_lora_loss

    def interrupt_at_3(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(train_module, "nested_lora_loss", interrupt_at_3)
    out = tmp_path / "c.h5"
    res = runner.invoke(app, ["solve", "harmonic", "--dim", "1", "--modes", "2", "--iters", "20", "-q", "-o", str(out)])
    assert res.exit_code == 130
    assert f"interrupted: checkpoint kept at {checkpoint_path(out)}; resume with:" in res.output
    assert "--resume" in res.output and checkpoint_path(out).exists()


@pytest.mark.parametrize("fault", ["enospc", "erofs", "read-only"])
def test_disk_full_or_read_only_at_write_time(fault, tmp_path, monkeypatch):
    import nsvd_cli.files.atomic as atomic

    out = tmp_path / "w.h5"
    assert runner.invoke(app, ["solve", "harmonic", *TINY, "-o", str(out)]).exit_code == 0
    before = out.read_bytes()
    if fault == "enospc":
        real = atomic._fsync_file

        def full(path):
            if str(path).endswith(".h5"):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
            real(path)

        monkeypatch.setattr(atomic, "_fsync_file", full)
        res = runner.invoke(app, ["solve", "harmonic", *TINY, "-o", str(out), "--overwrite"])
    elif fault == "erofs":  # the folder's file system remounted read-only: the rename of the results fails
        real_replace = os.replace

        def read_only(src, dst):
            if str(dst).endswith(".h5"):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(dst))
            real_replace(src, dst)

        monkeypatch.setattr(atomic.os, "replace", read_only)
        res = runner.invoke(app, ["solve", "harmonic", *TINY, "-o", str(out), "--overwrite"])
    else:
        if os.geteuid() == 0:
            pytest.skip("root ignores folder permissions (the erofs case injects the same failure)")
        import nsvd_cli.train as train_module

        real_fit = train_module.fit

        def fit_then_lock(*a, **k):
            state = real_fit(*a, **k)
            tmp_path.chmod(0o555)  # the folder becomes read-only after the final checkpoint
            return state

        monkeypatch.setattr(importlib_solve(), "fit", fit_then_lock)
        try:
            res = runner.invoke(app, ["solve", "harmonic", *TINY, "-o", str(out), "--overwrite"])
        finally:
            tmp_path.chmod(0o755)
    assert res.exit_code == 1
    line = _one_line_error(res.output)
    assert f"cannot write {out}:" in line and f"the checkpoint {checkpoint_path(out)} of the final state is kept" in line
    assert line.endswith("then rerun the same command with --resume")
    assert out.read_bytes() == before  # the existing results file is intact
    assert checkpoint_path(out).exists() and not list(tmp_path.glob(".w.h5.*"))
    monkeypatch.undo()  # space freed / folder writable again
    res = runner.invoke(app, ["solve", "harmonic", *TINY, "-o", str(out), "--overwrite", "--resume"])
    assert res.exit_code == 0 and not checkpoint_path(out).exists()  # resumed at the end: written at once


def importlib_solve():
    import importlib

    return importlib.import_module("nsvd_cli.solve")


def _corrupt_files(tmp_path, short_run_file):
    """Truncated results file, an HDF5 file of another program, a newer format version."""
    data = Path(short_run_file).read_bytes()
    (tmp_path / "truncated.h5").write_bytes(data[: len(data) // 2])
    with h5py.File(tmp_path / "foreign.h5", "w") as h:
        h["x"] = np.arange(3)
    newer = tmp_path / "newer.h5"
    newer.write_bytes(data)
    with h5py.File(newer, "a") as h:
        h.attrs["format_version"] = 99
    (tmp_path / "text.h5").write_text("not hdf5")
    return ["truncated.h5", "foreign.h5", "newer.h5", "text.h5"]


def test_corrupt_or_foreign_files_are_one_line_exit_2(tmp_path, short_run_file):
    for name in _corrupt_files(tmp_path, short_run_file):
        path = tmp_path / name
        with pytest.raises(ResultsFileError, match=str(path)):
            nsvd_cli.load(path)
        for cmd in (["plot", str(path), "-o", str(tmp_path / "figs")], ["compare", str(short_run_file), str(path)]):
            res = runner.invoke(app, cmd)
            assert res.exit_code == 2, (cmd, res.output)
            assert name in _one_line_error(res.output)


@pytest.mark.parametrize("content, needle", [
    ("truncated", "not a readable nsvd checkpoint"), ("text", "not a readable nsvd checkpoint"),
    ("foreign", "not an nsvd checkpoint of this version"), ("newer", "checkpoint format version 99"),
])
def test_corrupt_or_foreign_checkpoints_are_one_line_exit_2(content, needle, tmp_path):
    spec_file = _spec_file(tmp_path)
    out = _interrupted(tmp_path, load_spec(spec_file))
    ckpt = checkpoint_path(out)
    if content == "truncated":
        ckpt.write_bytes(ckpt.read_bytes()[:1000])
    elif content == "text":
        ckpt.write_text("hello")
    elif content == "foreign":
        torch.save({"model": {}}, ckpt)
    else:
        state = torch.load(ckpt, weights_only=True)
        torch.save({**state, "format_version": 99}, ckpt)
    res = runner.invoke(app, ["solve", str(spec_file), "-o", str(out), "--resume", "-q"])
    assert res.exit_code == 2 and needle in _one_line_error(res.output)


def test_a_second_run_on_the_same_output_refuses_at_once(tmp_path):
    import filelock

    out = tmp_path / "l.h5"
    with filelock.FileLock(str(lock_path(out)), timeout=0, is_singleton=False):  # what a running solve holds
        t0 = time.monotonic()
        res = runner.invoke(app, ["solve", "harmonic", *TINY, "-o", str(out)])
        assert time.monotonic() - t0 < 30
    assert res.exit_code == 2 and "is being written by another nsvd run" in _one_line_error(res.output)
    assert not out.exists() and not checkpoint_path(out).exists()
