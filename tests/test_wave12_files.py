"""Fixes from the wave-12 new-user trial of file handling (solve / compare / plot outputs):

1. ``--overwrite`` refuses a target that is not a regular file (a character device, a FIFO, a
   folder) instead of replacing it with an HDF5 file; a symbolic link writes the file it points
   to and stays a link; a FIFO at the lock path derived from ``-o`` is refused too;
2. ``plot`` and ``compare -o`` on a read-only folder are refused before the work, a full disk
   is one line (exit 1) with the old file intact;
3. two inputs of one stem give distinct figure names (parent folder in front);
4. a training checkpoint given to ``plot`` / ``compare`` is named as such; a truncated
   checkpoint's message ends at a sentence, not mid-word;
5. an empty ``.h5`` given to ``problems show`` is "not an nsvd results file";
6. ``--extent`` far beyond the evaluation box is warned about; a vanishing panel of a 2D
   problem says "≈0 in window" (nothing is sliced).
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

import h5py
import pytest
from typer.testing import CliRunner

from nsvd_cli.cli.main import app

runner = CliRunner()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _one_line_error(result, code=2):
    """Exit ``code``, no traceback, exactly one non-empty line on the output, starting 'error:'."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit) or result.exception is None, result.exception
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    return errors[0]


# -- 1. non-regular targets and symbolic links ---------------------------------------------------

def test_atomic_write_refuses_a_fifo_and_a_folder(tmp_path):
    from nsvd_cli.errors import ParameterError
    from nsvd_cli.files.atomic import atomic_write

    fifo = tmp_path / "pipe.h5"
    os.mkfifo(fifo)
    with pytest.raises(ParameterError, match=r"pipe\.h5 exists and is a FIFO"):
        atomic_write(fifo, lambda tmp: tmp.write_bytes(b"x"), overwrite=True)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # still the FIFO
    folder = tmp_path / "d.h5"
    folder.mkdir()
    with pytest.raises(ParameterError, match="is a folder"):
        atomic_write(folder, lambda tmp: tmp.write_bytes(b"x"), overwrite=True)
    assert folder.is_dir() and not list(tmp_path.glob(".*tmp*"))  # no temporary file left


def test_atomic_write_refuses_a_character_device(tmp_path):
    from nsvd_cli.errors import ParameterError
    from nsvd_cli.files.atomic import atomic_write

    null = tmp_path / "mynull"
    try:
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except (PermissionError, OSError):
        pytest.skip("cannot create a device node here (not root)")
    with pytest.raises(ParameterError, match="character device"):
        atomic_write(null, lambda tmp: tmp.write_bytes(b"x"), overwrite=True)
    assert stat.S_ISCHR(os.lstat(null).st_mode)


def test_atomic_write_through_a_symbolic_link_writes_its_target(tmp_path):
    from nsvd_cli.files.atomic import atomic_write

    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "r.h5"
    target.write_bytes(b"old")
    link = tmp_path / "link.h5"
    link.symlink_to(target)
    assert atomic_write(link, lambda tmp: tmp.write_bytes(b"new"), overwrite=True) == link
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() == b"new"
    dangling = tmp_path / "dangling.h5"
    dangling.symlink_to(tmp_path / "real" / "new.h5")
    atomic_write(dangling, lambda tmp: tmp.write_bytes(b"made"))
    assert dangling.is_symlink() and (tmp_path / "real" / "new.h5").read_bytes() == b"made"


def test_solve_and_compare_refuse_a_fifo_output_before_the_work(tmp_path, monkeypatch):
    import nsvd_cli.compare

    monkeypatch.chdir(tmp_path)
    os.mkfifo("myfifo")
    line = _one_line_error(runner.invoke(app, ["solve", "harmonic2d", "--modes", "2", "--iters", "20", "-o",
                                               "myfifo", "--overwrite"]))
    assert "myfifo exists and is a FIFO" in line
    monkeypatch.setattr(nsvd_cli.compare, "compare", lambda *a, **k: pytest.fail("the grid was solved"))
    line = _one_line_error(runner.invoke(app, ["compare", "harmonic2d", "-b", "eigsh", "--grid", "30", "-o",
                                               "myfifo", "--overwrite"]))
    assert "myfifo exists and is a FIFO" in line
    assert stat.S_ISFIFO(os.lstat("myfifo").st_mode)


def test_solve_refuses_a_fifo_at_the_lock_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.mkfifo("x.h5.lock")
    line = _one_line_error(runner.invoke(app, ["solve", "harmonic2d", "--modes", "2", "--iters", "20",
                                               "-o", "x.h5"]))
    assert "x.h5.lock exists and is a FIFO" in line
    assert stat.S_ISFIFO(os.lstat("x.h5.lock").st_mode) and not Path("x.h5").exists()


def test_check_output_judges_a_link_by_its_target(tmp_path):
    from nsvd_cli.errors import ParameterError
    from nsvd_cli.solve import check_output

    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "link.h5").symlink_to(tmp_path / "pipe")
    with pytest.raises(ParameterError, match=r"the target of the link .*link\.h5"):
        check_output(tmp_path / "link.h5", overwrite=True)
    (tmp_path / "ok.h5").write_bytes(b"")
    (tmp_path / "ok_link.h5").symlink_to(tmp_path / "ok.h5")
    check_output(tmp_path / "ok_link.h5", overwrite=True)  # a link to a regular file: fine


# -- 2. read-only folder, full disk ------------------------------------------------------------

def _read_only(monkeypatch):
    """Make every writability probe (tempfile.TemporaryFile) fail as on a read-only mount."""
    import tempfile

    def refuse(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system")
    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)


def test_compare_on_a_read_only_folder_is_refused_before_the_grid_solve(tmp_path, monkeypatch):
    import nsvd_cli.compare

    monkeypatch.setattr(nsvd_cli.compare, "compare", lambda *a, **k: pytest.fail("the grid was solved"))
    _read_only(monkeypatch)
    line = _one_line_error(runner.invoke(app, ["compare", "harmonic2d", "-b", "eigsh", "--grid", "30", "-o",
                                               str(tmp_path / "ro" / "c.h5")]))
    assert "cannot write in" in line and "Read-only file system" in line


def test_compare_on_a_full_disk_is_one_line(tmp_path, monkeypatch):
    import nsvd_cli.compare

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(nsvd_cli.compare, "write_comparison", full)
    out = tmp_path / "c.h5"
    line = _one_line_error(runner.invoke(app, ["compare", "harmonic2d", "-b", "eigsh", "--grid", "30", "-o",
                                               str(out)]), code=1)
    assert f"cannot write {out}: No space left on device" in line


@pytest.fixture()
def two_runs(short_run_file, tmp_path):
    """The short harmonic2d run copied to d1/r.h5 and d2/r.h5 (one stem, two folders)."""
    paths = []
    for folder in ("d1", "d2"):
        (tmp_path / folder).mkdir()
        paths.append(tmp_path / folder / "r.h5")
        shutil.copy(short_run_file, paths[-1])
    return paths


def test_plot_on_a_read_only_folder_and_a_full_disk(two_runs, tmp_path, monkeypatch):
    import nsvd_cli.plotting

    out = tmp_path / "figs"
    with monkeypatch.context() as m:
        _read_only(m)
        line = _one_line_error(runner.invoke(app, ["plot", str(two_runs[0]), "--what", "spectrum", "-o", str(out)]))
    assert "-o/--output-dir: cannot write in" in line and "Read-only file system" in line
    out.mkdir(exist_ok=True)
    old = out / "r-spectrum.png"
    old.write_bytes(PNG_MAGIC + b"old figure")

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(nsvd_cli.plotting, "_save_png_rgb", full)
    line = _one_line_error(runner.invoke(app, ["plot", str(two_runs[0]), "--what", "spectrum", "-o", str(out)]),
                           code=1)
    assert f"cannot write {old}: No space left on device" in line
    assert old.read_bytes() == PNG_MAGIC + b"old figure"  # the old figure is intact
    assert [p.name for p in out.iterdir()] == ["r-spectrum.png"]  # no temporary file left


# -- 3. one stem, two inputs --------------------------------------------------------------------

def test_distinct_stems_by_hand():
    from nsvd_cli.cli.plot import distinct_stems

    assert distinct_stems(["a/h.h5", "b/g.h5"]) == ["h", "g"]
    assert distinct_stems(["d1/r.h5", "d2/r.h5"]) == ["d1_r", "d2_r"]
    assert distinct_stems(["d1/r.h5", "d2/r.h5"], folders=["d1", "d2"]) == ["r", "r"]  # no shared folder
    assert distinct_stems(["x/d/r.h5", "y/d/r.h5", "z/r.h5"]) == ["d_r_1", "d_r_2", "z_r"]


def test_plot_same_stem_writes_each_figure_once(two_runs, tmp_path):
    out = tmp_path / "samestem2"
    result = runner.invoke(app, ["plot", *map(str, two_runs), "--what", "spectrum", "--what", "errors",
                                 "-o", str(out)])
    assert result.exit_code == 0, result.output
    written = result.output.split()
    assert len(written) == len(set(written)) == 3
    assert sorted(p.name for p in out.iterdir()) == ["d1_r-spectrum.png", "d1_r_vs_d2_r-errors.png",
                                                     "d2_r-spectrum.png"]


# -- 4. checkpoints -----------------------------------------------------------------------------

@pytest.fixture()
def checkpoint(tmp_path):
    import torch

    from nsvd_cli.checkpoint import CHECKPOINT_FORMAT, CHECKPOINT_VERSION

    path = tmp_path / "r.h5.ckpt"
    torch.save({"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION, "meta": {},
                "model": {"w": torch.zeros(4096)}, "iteration": 3}, path)
    return path


def test_plot_and_compare_name_a_training_checkpoint(checkpoint):
    for command in (["plot", str(checkpoint)], ["compare", str(checkpoint)], ["problems", "show", str(checkpoint)]):
        line = _one_line_error(runner.invoke(app, command))
        assert f"{checkpoint} is a training checkpoint, not a results file" in line, command
        assert f"-o {checkpoint.parent / 'r.h5'} --resume" in line


def test_a_truncated_checkpoint_message_ends_at_a_sentence(checkpoint):
    from nsvd_cli.checkpoint import load_checkpoint
    from nsvd_cli.errors import ResultsFileError

    data = checkpoint.read_bytes()
    checkpoint.write_bytes(data[: len(data) // 2])
    with pytest.raises(ResultsFileError) as info:
        load_checkpoint(checkpoint)
    message = str(info.value)
    reason = message.split("another program's file: ", 1)[1]
    assert reason.endswith(")") and ". " not in reason, message  # one whole sentence
    torch_text = ("PytorchStreamReader failed reading zip archive: failed finding central directory. This is an "
                  "internal miniz error. If you are seeing this error, there is a high likelihood that your "
                  "checkpoint file is corrupted.")  # torch 2's message on the trial's truncated checkpoint
    from nsvd_cli.checkpoint import _first_sentence

    assert _first_sentence(torch_text) == ("PytorchStreamReader failed reading zip archive: failed finding "
                                           "central directory")
    assert _first_sentence("word " * 60) == ("word " * 32).strip() + "…"  # 160 characters, cut between words
    line = _one_line_error(runner.invoke(app, ["plot", str(checkpoint)]))  # still recognised by its first bytes
    assert "is a truncated training checkpoint" in line and "cannot be resumed" in line  # no --resume hint


# -- 5. an empty .h5 ----------------------------------------------------------------------------

def test_problems_show_an_empty_h5(tmp_path):
    empty = tmp_path / "empty.h5"
    empty.write_bytes(b"")
    for command in (["problems", "show", str(empty)], ["compare", str(empty)]):
        line = _one_line_error(runner.invoke(app, command))
        assert f"{empty}: not an nsvd results file (an empty file)" in line, command
    with h5py.File(tmp_path / "bare.h5", "w"):
        pass
    line = _one_line_error(runner.invoke(app, ["problems", "show", str(tmp_path / "bare.h5")]))
    assert "not a results file of nsvd solve" in line


# -- 6. --extent far beyond the box, and the 2D "≈0" label ---------------------------------------

def test_extent_warning_threshold():
    from nsvd_cli.plotting.eigenfunctions import extent_warning
    from nsvd_cli.spec import load_spec

    spec = load_spec("harmonic2d")
    reach = max(abs(b) for lo_hi in spec.evaluation.box for b in lo_hi)
    assert reach == 5.0  # docs: harmonic2d's box [-5, 5]^2
    assert extent_warning(spec, None) is None
    assert extent_warning(spec, 10.0) is None  # twice the reach: still fine
    line = extent_warning(spec, 1e9)
    assert "--extent 1e+09 reaches far beyond the evaluation box [-5, 5]" in line and "\n" not in line


def test_plot_warns_of_a_far_extent(short_run_file, tmp_path):
    result = runner.invoke(app, ["plot", str(short_run_file), "--what", "eigenfunctions", "--extent", "1e9",
                                 "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.count("warning: --extent 1e+09 reaches far beyond") == 1


def test_two_dimensional_panels_are_not_said_to_be_sliced(tmp_path):
    from test_plot import _fake_results

    from nsvd_cli.plotting import eigenfunctions_figure

    fig = eigenfunctions_figure(_fake_results(2, 3, tmp_path), extent=1e9, points=41)
    titles = [ax.get_title() for ax in fig.axes]
    assert not any("on slice" in t for t in titles), titles
    assert any("≈0 in window" in t for t in titles), titles  # 41 nodes 5e7 apart: only the origin is sampled
