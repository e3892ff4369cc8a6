"""``--threads`` on every command and the default thread counts (nsvd_cli.cli.parallel, docs/scaling.md)."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from nsvd_cli.cli import parallel
from nsvd_cli.cli.main import app

runner = CliRunner()


@pytest.fixture
def pools(monkeypatch):
    """Restore torch's pool and the thread variables after the test."""
    before = torch.get_num_threads()
    for var in parallel.THREAD_VARIABLES:
        monkeypatch.setenv(var, "1")
    yield monkeypatch
    torch.set_num_threads(before)


def test_threads_option_sets_torch_and_the_environment(pools):
    import os

    res = runner.invoke(app, ["problems", "show", "harmonic2d", "--threads", "3"])
    assert res.exit_code == 0, res.output
    assert torch.get_num_threads() == 3
    assert all(os.environ[v] == "3" for v in parallel.THREAD_VARIABLES)


def test_solve_records_the_threads_it_ran_with(pools, tmp_path):
    import nsvd_cli

    out = tmp_path / "r.h5"
    res = runner.invoke(app, ["solve", "harmonic", "--dim", "1", "--modes", "2", "--iters", "10", "--batch-size", "16",
                              "-o", str(out), "-q", "--threads", "2"])
    assert res.exit_code == 0, res.output
    assert nsvd_cli.load(out).run["threads"] == 2


@pytest.mark.parametrize("command", ["solve", "compare", "plot", "problems list"])
def test_threads_below_one_is_refused(command):
    res = runner.invoke(app, [*command.split(), *(["x"] if command != "problems list" else []), "--threads", "0"])
    assert res.exit_code == 2
    assert "--threads: must be >= 1" in res.output


def _machine(monkeypatch, cores: int, load: float):
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda pid: set(range(cores)))
    monkeypatch.setattr(parallel.os, "getloadavg", lambda: (load, 0.0, 0.0))


@pytest.mark.parametrize("cores, load, expected", [(8, 0.0, 8), (8, 2.6, 5), (8, 2.4, 6), (2, 1.0, 1), (2, 7.0, 1),
                                                   (4, 0.4, 4)])
def test_free_cores_is_cores_minus_rounded_load(monkeypatch, cores, load, expected):
    _machine(monkeypatch, cores, load)
    assert parallel.free_cores() == expected


def test_default_threads_per_command(monkeypatch):
    _machine(monkeypatch, 8, 0.0)
    assert parallel.default_threads("compare") == 1  # grid eigensolvers: one thread
    assert parallel.default_threads("problems") == 1
    assert parallel.default_threads("solve") == 8
    assert parallel.default_threads("solve", processes=2) == 4  # the free cores shared by the ranks
    assert parallel.default_threads("solve", processes=16) == 1


def test_explicit_threads_then_environment_then_default(monkeypatch):
    _machine(monkeypatch, 8, 0.0)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert parallel.choose_threads("solve", None) == (8, "default")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert parallel.choose_threads("compare", None) == (3, "OMP_NUM_THREADS")
    assert parallel.choose_threads("compare", 2) == (2, "--threads")


def test_nproc_relaunch_keeps_the_command_without_nproc():
    argv = ["/usr/bin/nsvd", "solve", "harmonic2d", "--nproc", "2", "--iters", "10", "--nproc=2"]
    args = parallel.torchrun_argv(2, 3, argv)
    assert args[:args.index("-m")] == ["--standalone", "--nnodes", "1", "--nproc-per-node", "2"]
    assert args[args.index("-m"):] == ["-m", "nsvd_cli", "solve", "harmonic2d", "--iters", "10", "--threads", "3"]
    given = parallel.torchrun_argv(2, 3, ["nsvd", "solve", "h", "--threads", "1", "--nproc", "2"])
    assert given[-3:] == ["h", "--threads", "1"]
