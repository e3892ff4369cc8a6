"""bench/methods_bench.py: calibration validation, stale rows and checkpoints, stopping.

bench/ is not a package: the script is imported from its path. The interrupt test runs the
script in its own session and sends SIGINT to the whole group, as Ctrl-C in a terminal does.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "methods_bench.py"


@pytest.fixture(scope="module")
def mb(bench_script):
    return bench_script("methods_bench")


# ---- calibration ------------------------------------------------------------------------------

def test_calibration_speed_is_the_difference_quotient(mb):
    # 25 and 100 iterations in 5 and 10 CPU s: 75 iterations in 5 s
    assert mb.calibration_speed((25, 100), (5.0, 10.0)) == pytest.approx(15.0)


@pytest.mark.parametrize("cpu", [(4.6, 4.6 - 1e-9), (5.0, 4.6), (3.7, 4.6), (0.0, 1.0), (math.nan, 4.0)])
def test_calibration_speed_refuses_noise(mb, cpu):
    # the user's case: a cold 5-iteration run used more CPU than the 20-iteration one (1.5e10 it/s);
    # and a long run under 1.5x the short one's CPU time (3.7 -> 4.6 s: start-up dominates)
    with pytest.raises(ValueError, match="raise --calibrate"):
        mb.calibration_speed((5, 20), cpu)


def test_implausible_speeds(mb):
    assert mb.implausible_speeds({"h/nestedlora": 15.0, "h/spin": 3.2, "h/lora": 14.6}) == []
    bad = mb.implausible_speeds({"h/nestedlora": 15.0, "h/lora": 1.5e10, "g/spin": -1.0, "g/lora": math.inf})
    assert len(bad) == 3 and [m.split(":")[0] for m in bad] == ["h/lora", "g/spin", "g/lora"]


def test_bad_calibration_is_not_stored(mb, tmp_path, monkeypatch):
    class Pool:  # runs the calibration "solves" inline: the 5-iteration one cold (more CPU)
        def submit(self, fn, name, method, k, modes, path):
            return SimpleNamespace(result=lambda: {"cpu": {5: 6.0, 20: 4.0}[k]})

    args = SimpleNamespace(recalibrate=False, problem_list=["harmonic2d"], method_list=["nestedlora"], calibrate=20,
                           modes=None)
    with pytest.raises(SystemExit, match="raise --calibrate"):
        mb._calibrate(Pool(), args, tmp_path)
    assert json.loads((tmp_path / "calibration.json").read_text()) == {}
    (tmp_path / "calibration.json").write_text(json.dumps({"harmonic2d/nestedlora": 15.0, "harmonic2d/lora": 1.5e10}))
    args.method_list = ["lora"]
    with pytest.raises(SystemExit, match="--recalibrate"):
        mb._calibrate(Pool(), args, tmp_path)


# ---- stale rows and checkpoints ----------------------------------------------------------------

def test_stale_row(mb):
    assert mb.stale_row({"iterations": 600}, 600) is None
    assert mb.stale_row({"iterations": 600}, None) is None  # budget unknown: not checked
    message = mb.stale_row({"iterations": 600}, 500)
    assert "stored 600 iterations" in message and "gives 500" in message and "--overwrite" in message


def test_rows_leave_stale_rows_out_of_the_table(mb, tmp_path, capsys):
    # budget 600 NestedLoRA iterations; LoRA at 14.6 of NestedLoRA's 15 it/s gets round(584.0) = 584
    speed = {"harmonic2d/nestedlora": 15.0, "harmonic2d/lora": 14.6}
    for method, iterations in (("nestedlora", 600), ("lora", 600)):
        (tmp_path / f"harmonic2d-{method}-seed0.json").write_text(json.dumps({"iterations": iterations}))
    args = SimpleNamespace(method_list=["nestedlora", "lora"], seed_list=[0], iterations=600, modes=None)
    runs = mb._rows("harmonic2d", args, tmp_path, speed)
    assert list(runs) == ["nestedlora"] and runs["nestedlora"][0]["iterations_per_second"] == 15.0
    out = capsys.readouterr().out
    assert "harmonic2d-lora-seed0: stored 600 iterations, this budget gives 584" in out
    assert mb._rows("harmonic2d", args, tmp_path, speed, quiet=True).keys() == {"nestedlora"}
    assert capsys.readouterr().out == ""


def test_ritz_relative_error_from_the_results_file(mb, tmp_path):
    import h5py
    import numpy as np

    path = tmp_path / "r.h5"
    with h5py.File(path, "w") as h:
        h["ritz/energies"] = np.array([2.002, 3.99, np.nan])  # errors 0.1 % and 0.25 %, one level dropped
        h["eigenvalues/reference_energies"] = np.array([2.0, 4.0, 4.0])
    assert mb.ritz_relative_error(path) == pytest.approx((0.001 + 0.0025) / 2)
    with h5py.File(tmp_path / "old.h5", "w") as h:  # written before issue 13: no /ritz
        h["eigenvalues/reference_energies"] = np.array([2.0])
    assert math.isnan(mb.ritz_relative_error(tmp_path / "old.h5"))


def test_failed_modes_and_per_seed_lines(mb, tmp_path):
    import h5py
    import numpy as np

    path = tmp_path / "r.h5"
    with h5py.File(path, "w") as h:  # hydrogen2d levels -1, -1/9, -1/9; mode 3 a copy of mode 1
        h["eigenvalues/energies"] = np.array([-1.0, -0.11, -0.95])
        h["eigenvalues/reference_energies"] = np.array([-1.0, -1 / 9, -1 / 9])
    assert mb.failed_modes(path) == [3]
    row = {"seed": 2, "mean_relative_error": 0.5, "ritz_relative_error": 0.0007, "path": str(path)}
    assert "seed 2: 50 % / 0.07 % (modes [3] > 10 % off)" in mb._per_seed({"nestedlora": [row]})


def _fake_checkpoint(path: Path, spec, iteration: int) -> None:
    from nsvd_cli.spec import spec_to_dict
    from nsvd_cli.train import _CHECKPOINT_KEYS, CHECKPOINT_FORMAT, CHECKPOINT_VERSION

    state = {k: {} for k in _CHECKPOINT_KEYS}
    state.update(format=CHECKPOINT_FORMAT, format_version=CHECKPOINT_VERSION, meta={"spec": spec_to_dict(spec)},
                 iteration=iteration, wall_time=1.0, history={})
    torch.save(state, path)


def test_prepare_rows_and_checkpoints(mb, tmp_path, capsys):
    stem = tmp_path / "harmonic2d-lora-seed0"
    spec584, spec487 = (mb._spec("harmonic2d", "lora", 0, k, 15) for k in (584, 487))
    assert mb._prepare(stem, spec584, overwrite=False)  # nothing stored: run
    ckpt = Path(f"{stem}.h5.ckpt")
    _fake_checkpoint(ckpt, spec584, 298)
    assert mb._prepare(stem, spec584, overwrite=False)  # same budget: resumed
    assert "resuming from checkpoint harmonic2d-lora-seed0.h5.ckpt (iteration 298)" in capsys.readouterr().out
    assert not mb._prepare(stem, spec487, overwrite=False) and ckpt.exists()  # another budget: refused, kept
    assert "checkpoint is of a 584-iteration run, this budget gives 487" in capsys.readouterr().out
    assert mb._prepare(stem, spec487, overwrite=True) and not ckpt.exists()  # --overwrite: deleted, afresh
    _fake_checkpoint(ckpt, mb._spec("harmonic2d", "lora", 1, 584, 15), 298)  # another seed: refused
    assert not mb._prepare(stem, spec584, overwrite=False)
    assert "cannot be resumed" in capsys.readouterr().out
    Path(f"{stem}.json").write_text(json.dumps({"iterations": 600}))
    assert not mb._prepare(stem, spec584, overwrite=False)  # a stored row: not run, reported when stale
    assert "stored 600 iterations, this budget gives 584" in capsys.readouterr().out
    assert mb._prepare(stem, spec584, overwrite=True)


# ---- stopping -----------------------------------------------------------------------------------

def test_worker_signal_interrupts_once(mb, monkeypatch):
    monkeypatch.setattr(mb, "_STOP", False)
    monkeypatch.setattr(mb, "_IN_TASK", True)
    with pytest.raises(KeyboardInterrupt):
        mb._worker_signal(signal.SIGINT, None)
    mb._worker_signal(signal.SIGINT, None)  # a second one must not cut the checkpoint short
    assert mb._STOP
    monkeypatch.setattr(mb, "_STOP", False)
    monkeypatch.setattr(mb, "_IN_TASK", False)
    mb._worker_signal(signal.SIGTERM, None)  # idle: no exception, the next run does not start
    assert mb._STOP


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_sigint_stops_keeps_checkpoint_and_leaves_no_process(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "calibration.json").write_text(json.dumps({"harmonic2d/nestedlora": 15.0}))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "--problems", "harmonic2d", "--methods", "nestedlora",
                             "--seeds", "0,1", "--iterations", "3000", "--runs", str(runs), "--figures",
                             str(tmp_path / "fig"), "--threads", "1"], cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not list(runs.glob("*.h5.lock")) and time.monotonic() < deadline:  # the first solve has started
        time.sleep(0.2)
    time.sleep(8)  # past the reference and model set-up, into the training loop
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole process group
    out, _ = proc.communicate(timeout=90)
    for _ in range(50):
        if not _group_alive(proc.pid):
            break
        time.sleep(0.1)
    assert not _group_alive(proc.pid), "a worker or the resource tracker was left behind"
    assert proc.returncode == 130, out
    assert "stopped: 0 of 2 runs have their row" in out and "harmonic2d-nestedlora-seed0 at iteration" in out, out
    assert (runs / "harmonic2d-nestedlora-seed0.h5.ckpt").exists()
    assert not (runs / "harmonic2d-nestedlora-seed1.h5.ckpt").exists()  # never started
