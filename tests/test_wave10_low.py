"""Wave 10 (low): three small defects found by new-user trials.

1. ``nsvd plot FILE --what errors`` of a 1D problem shaded a "degenerate subspace" around a
   lone mode (every level of a 1D problem is simple).
2. ``run.command`` of a resumed run was the resume command alone; the first command and
   every resume are now kept (``run.command``, ``run.resumed_by``).
3. The progress bar's final it/s (the rate of the last logged iterations) differed from the
   summary line's (the whole run's average); the bar now ends on the summary's figure.
"""

from __future__ import annotations

import matplotlib.colors as mcolors
import numpy as np
import pytest
import torch

import nsvd_cli
from nsvd_cli.plotting import errors_figure
from nsvd_cli.plotting._style import new_figure, shade_groups
from nsvd_cli.solve import checkpoint_path, command_history, iterations_per_second, solve
from nsvd_cli.spec import load_spec
from nsvd_cli.train import Finished, Progress

TINY = {"training.iterations": 20, "training.eval_every": 1000, "training.batch_size": 64, "model.hidden": [16, 16],
        "model.fourier_features": 4}


def _spans(ax) -> list:
    """``[(x0, x1, alpha)]``: the grey spans ``shade_groups`` drew (axvspan rectangles; the bars
    are coloured C0, C1, ...), in data units of x."""
    return sorted((round(p.get_x(), 9), round(p.get_x() + p.get_width(), 9), p.get_alpha()) for p in ax.patches
                  if np.allclose(mcolors.to_rgb(p.get_facecolor()), (0.2, 0.2, 0.2)))


@pytest.fixture(scope="module")
def oscillator_1d(tmp_path_factory):
    """A 20-iteration results file of the 1D oscillator (3 simple levels E = 1, 3, 5)."""
    spec = load_spec("harmonic", overrides={**TINY, "modes": 3}, dimension=1, family_only=True)
    path = tmp_path_factory.mktemp("low") / "h1.h5"
    solve(spec, path)
    return path


# --- 1. no shaded span around a lone mode -------------------------------------------------

def test_shade_groups_shades_only_degenerate_subspaces():
    """Groups [0], [1, 2], [3, 4, 5], [6]: the two degenerate subspaces are shaded, at two
    different strengths since they touch; the simple levels 0 and 6 are not."""
    fig = new_figure(4, 3)
    ax = fig.subplots()
    shade_groups(ax, [np.array([0]), np.array([1, 2]), np.array([3, 4, 5]), np.array([6])], alpha=0.1)
    assert _spans(ax) == [(0.5, 2.5, pytest.approx(0.1)), (2.5, 5.5, pytest.approx(0.2))]
    separators = sorted(line.get_xdata()[0] for line in ax.lines)
    assert separators == [0.5, 2.5, 5.5]  # the edges of the shaded subspaces, none between simple levels


def test_shade_groups_of_simple_levels_draws_nothing():
    fig = new_figure(4, 3)
    ax = fig.subplots()
    shade_groups(ax, [np.array([i]) for i in range(5)])
    assert not ax.patches and not ax.lines


def test_errors_figure_of_a_1d_run_shades_no_lone_mode(oscillator_1d):
    run = nsvd_cli.load(oscillator_1d)
    assert list(run.metrics["groups"]) == [0, 1, 2]  # three simple levels
    fig = errors_figure(run)
    for ax in fig.axes:
        assert _spans(ax) == [], "a single-mode group must not be shaded"
    assert "shaded" not in fig._suptitle.get_text()  # nor does the title promise shading


def test_errors_figure_of_a_2d_run_still_shades_the_degenerate_pair(short_run_file):
    """harmonic2d, 3 modes: levels E = 2 (simple) and E = 4 (modes 2 and 3, degenerate)."""
    run = nsvd_cli.load(short_run_file)
    fig = errors_figure(run)
    for ax in fig.axes:
        assert [(x0, x1) for x0, x1, _ in _spans(ax)] == [(0.5, 2.5)]
    assert "shaded by degenerate subspace" in fig._suptitle.get_text().replace("\n", " ")


# --- 2. the first command and every resume are kept ---------------------------------------

def _interrupt_at(iteration):
    def callback(event):
        if isinstance(event, Progress) and event.iteration == iteration:
            raise KeyboardInterrupt
    return callback


def test_resumed_run_keeps_the_first_command_and_every_resume(tmp_path):
    spec = load_spec("harmonic", overrides={**TINY, "training.iterations": 30, "training.checkpoint_every": 10,
                                            "modes": 2}, dimension=1, family_only=True)
    out = tmp_path / "r.h5"
    with pytest.raises(KeyboardInterrupt):
        solve(spec, out, callback=_interrupt_at(10), run_info={"command": "nsvd solve A"})
    with pytest.raises(KeyboardInterrupt):
        solve(spec, out, resume=True, callback=_interrupt_at(20), run_info={"command": "nsvd solve A --resume"})
    assert checkpoint_path(out).exists()
    solve(spec, out, resume=True, run_info={"command": "nsvd solve A --iters 30 --resume"})
    run = nsvd_cli.load(out).run
    assert run["iterations"] == 30
    assert run["command"] == "nsvd solve A"
    assert run["resumed_by"] == ["nsvd solve A --resume", "nsvd solve A --iters 30 --resume"]


def test_resume_of_a_checkpoint_without_commands_says_the_first_is_unknown(tmp_path):
    """A checkpoint written before the commands were kept (no ``meta["run_info"]``)."""
    spec = load_spec("harmonic", overrides={**TINY, "training.checkpoint_every": 10, "modes": 2}, dimension=1,
                     family_only=True)
    out = tmp_path / "r.h5"
    with pytest.raises(KeyboardInterrupt):
        solve(spec, out, callback=_interrupt_at(10), run_info={"command": "nsvd solve A"})
    ckpt = torch.load(checkpoint_path(out), weights_only=True)
    del ckpt["meta"]["run_info"]
    torch.save(ckpt, checkpoint_path(out))
    solve(spec, out, resume=True, run_info={"command": "nsvd solve A --resume"})
    run = nsvd_cli.load(out).run
    assert run["command"] is None and run["resumed_by"] == ["nsvd solve A --resume"]


def test_command_history_by_hand():
    assert command_history({"command": "a", "x": 1}, None) == {"command": "a", "x": 1}  # a fresh run
    assert command_history(None, None) == {}
    ckpt = {"meta": {"run_info": {"command": "a", "resumed_by": ["b"]}}}
    assert command_history({"command": "c"}, ckpt) == {"command": "a", "resumed_by": ["b", "c"]}
    assert command_history({"command": "b"}, {"meta": {"run_info": {"command": "a"}}}) == \
        {"command": "a", "resumed_by": ["b"]}
    assert command_history({}, {"meta": {}}) == {}  # nobody recorded a command: nothing invented


def test_results_without_resumed_by_still_load(short_run_file):
    """Files of fresh runs (and every file written before this change) have no ``resumed_by``."""
    run = nsvd_cli.load(short_run_file).run
    assert "resumed_by" not in run and "iterations_per_second" in run


# --- 3. the bar ends on the summary's it/s ---------------------------------------------------

def test_iterations_per_second_is_the_whole_run_average():
    assert iterations_per_second(113, 10.0) == pytest.approx(11.3)
    assert np.isnan(iterations_per_second(5, 0.0))


def test_progress_bar_ends_on_the_summary_rate(monkeypatch):
    """The last Progress event says 10.3 it/s (the rate of its last logged iterations); the
    run's average, what the summary prints, is 113 iterations in 10 s: the bar must end on 11.3."""
    from nsvd_cli.cli import solve as cli_solve
    from nsvd_cli.train import Started

    reporter = cli_solve._ProgressReporter(quiet=True)
    spec = load_spec("harmonic", dimension=1, family_only=True)
    reporter(Started(spec, "cpu", "x.h5", None, None, {}))
    reporter(Progress(110, 113, 0.5, 1e-3, [1.0], 10.3))
    assert reporter.progress.tasks[0].fields["ips"] == "10.3"
    reporter(Finished(113, 10.0))
    task = reporter.progress.tasks[0]
    assert task.fields["ips"] == "11.3" and task.completed == 113
    summary = f"{iterations_per_second(113, 10.0):.1f} it/s"  # as print_summary formats it
    assert summary == "11.3 it/s"


def test_tiny_run_bar_and_summary_agree(tmp_path):
    """A real 20-iteration run: the figure the bar ends on equals the results file's rate."""
    from nsvd_cli.cli import solve as cli_solve

    spec = load_spec("harmonic", overrides={**TINY, "modes": 2}, dimension=1, family_only=True)
    reporter = cli_solve._ProgressReporter(quiet=True)
    with reporter:
        result = solve(spec, tmp_path / "t.h5", callback=reporter)
    stored = nsvd_cli.load(result.path).run["iterations_per_second"]
    assert reporter.progress.tasks[0].fields["ips"] == f"{stored:.1f}" == f"{result.iterations_per_second:.1f}"


def test_resumed_bar_counts_the_training_before_the_resume():
    """A run resumed after 100 s of training: the bar's elapsed column shows 0:01:40 plus the
    resumed part (here under a second), not the resumed part alone."""
    from nsvd_cli.cli import solve as cli_solve
    from nsvd_cli.train import Started

    reporter = cli_solve._ProgressReporter(quiet=True)
    spec = load_spec("harmonic", dimension=1, family_only=True)
    reporter(Started(spec, "cpu", "x.h5", 50, None, {}, 100.0))
    task = reporter.progress.tasks[0]
    column = next(c for c in reporter.progress.columns if type(c).__name__ == "RunElapsed")
    assert str(column.render(task)) == "0:01:40"
    assert task.completed == 50
