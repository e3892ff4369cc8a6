"""Wave 8 (c): the command printed for an interrupted ``--seeds`` run resumes it.

A new-user trial interrupted ``--seeds 0,1`` during seed 1; the printed
``... --seeds 0,1 ... --resume`` then refused seed 0's finished results file. Here the
interruption is a KeyboardInterrupt (what Ctrl-C raises) right after the interrupted seed's
first checkpoint (iteration 10 of 30), and the printed command is run as printed.
"""

from __future__ import annotations

import shlex
import sys

import pytest
from typer.testing import CliRunner

import nsvd_cli
from nsvd_cli.cli.main import app
from nsvd_cli.train import _Loop

runner = CliRunner()

SPEC = """name = "ho1d"
dimension = 1
potential = "x0**2"
shift = 6.0
modes = 2
[sampling]
kind = "gaussian"
std = 1.0
[model]
hidden = [16, 16]
fourier_features = 4
[training]
checkpoint_every = 10
eval_every = 10
[evaluation]
box = [[-6.0, 6.0]]
points = 24
panels = 4
"""


def _interrupt_at_first_checkpoint_of(seed: int, monkeypatch) -> None:
    save = _Loop.save

    def save_then_interrupt(self, *args, **kwargs):
        save(self, *args, **kwargs)
        if self.tr.seed == seed:
            raise KeyboardInterrupt

    monkeypatch.setattr(_Loop, "save", save_then_interrupt)


@pytest.mark.parametrize("with_output", [True, False])
@pytest.mark.parametrize("interrupted_seed", [1, 0])
def test_the_printed_resume_command_finishes_every_seed(interrupted_seed, with_output, tmp_path, monkeypatch):
    (tmp_path / "ho.toml").write_text(SPEC)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    args = ["solve", str(tmp_path / "ho.toml"), "--seeds", "0,1", "--iters", "30", "--threads", "1", "-q"]
    args += ["-o", "r.h5"] if with_output else []
    monkeypatch.setattr(sys, "argv", ["nsvd", *args])  # what resume_command reads
    with monkeypatch.context() as m:
        _interrupt_at_first_checkpoint_of(interrupted_seed, m)
        res = runner.invoke(app, args)
    assert res.exit_code == 130, res.output
    command = res.output.strip().splitlines()[-1].strip()
    resume = shlex.split(command)
    assert resume[0] == "nsvd" and resume[-1] == "--resume", command
    base = resume[resume.index("-o") + 1]
    assert base == "r.h5" if with_output else base.startswith("runs/ho1d-") and "seed" not in base, base
    folder = (work / base).parent
    stem = (work / base).stem
    expected = {f"{stem}-seed{interrupted_seed}.h5.ckpt"} | ({f"{stem}-seed0.h5"} if interrupted_seed == 1 else set())
    assert {p.name for p in folder.iterdir()} == expected

    res = runner.invoke(app, resume[1:])
    assert res.exit_code == 0, res.output
    skipped = [ln for ln in res.output.splitlines() if "skipped" in ln]
    assert skipped == ([f"seed 0: {stem}-seed0.h5 is complete, skipped"] if interrupted_seed == 1 else [])
    assert "(resumed at iteration 10)" in res.output
    assert {p.name for p in folder.iterdir()} == {f"{stem}-seed0.h5", f"{stem}-seed1.h5"}  # no checkpoint left
    for s in (0, 1):
        results = nsvd_cli.load(folder / f"{stem}-seed{s}.h5")
        assert results.spec.training.seed == s and results.run["iterations"] == 30

    res = runner.invoke(app, resume[1:])  # once more: nothing left to do
    assert res.exit_code == 0, res.output
    assert [ln for ln in res.output.splitlines() if ln.strip()] == [
        f"seed {s}: {stem}-seed{s}.h5 is complete, skipped" for s in (0, 1)]


def test_resume_still_refuses_results_beside_a_checkpoint(tmp_path):
    """A results file and a checkpoint for the same seed: not an interrupted --seeds run's
    state (the checkpoint is removed once the results are written); refused as before."""
    (tmp_path / "ho.toml").write_text(SPEC)
    (tmp_path / "r-seed0.h5").write_bytes(b"x")
    (tmp_path / "r-seed0.h5.ckpt").write_bytes(b"x")
    res = runner.invoke(app, ["solve", str(tmp_path / "ho.toml"), "--seeds", "0,1", "--iters", "30", "--resume",
                              "-o", str(tmp_path / "r.h5")])
    assert res.exit_code == 2 and "r-seed0.h5" in res.output and "exists" in res.output, res.output


def test_resume_refuses_a_finished_seed_file_of_another_problem(tmp_path):
    """A new-user trial: ``solve morse1d --seeds 0,1 --resume`` skipped two poschl_teller1d
    results files and exited 0. A finished seed's file is now checked like a checkpoint being
    resumed: another potential (or setting) is refused naming the field; the same one is skipped."""
    (tmp_path / "ho.toml").write_text(SPEC)
    (tmp_path / "other.toml").write_text(SPEC.replace('potential = "x0**2"', 'potential = "2*x0**2"'))
    base = ["--seeds", "0", "--iters", "30", "--threads", "1", "-q", "-o", str(tmp_path / "r.h5")]
    assert runner.invoke(app, ["solve", str(tmp_path / "ho.toml"), *base]).exit_code == 0
    res = runner.invoke(app, ["solve", str(tmp_path / "other.toml"), *base, "--resume"])
    assert res.exit_code == 2 and "potential" in res.output and "r-seed0.h5" in res.output, res.output
    res = runner.invoke(app, ["solve", str(tmp_path / "ho.toml"), *base, "--modes", "1", "--resume"])
    assert res.exit_code == 2 and "modes" in res.output, res.output
    res = runner.invoke(app, ["solve", str(tmp_path / "ho.toml"), *base, "--resume"])
    assert res.exit_code == 0 and "is complete, skipped" in res.output, res.output
