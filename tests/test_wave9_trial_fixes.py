"""Fixes from the new-user trial of the Lehmann–Goerisch intervals (values by hand)."""

import numpy as np
import pytest

from nsvd_cli.bounds import level_bounds


def _two_levels_of_three():
    """Ritz pairs of diag(1, 3, 5) on a perturbed 2D span (the trial functions are rows of a 4-node
    'rule' of unit weights): levels 1, 3 learned, level 3 (= 5) above them."""
    import scipy.linalg

    a = np.diag([1.0, 3.0, 5.0, 9.0])
    trial = np.array([[1.0, 0.0], [0.0, 1.0], [0.05, 0.05], [0.0, 0.02]])
    theta, c = scipy.linalg.eigh(trial.T @ a @ trial, trial.T @ trial)
    phi = trial @ c
    r = a @ phi - phi * theta
    return theta, r.T @ r, (phi, a @ phi, np.ones(4))


@pytest.mark.parametrize("value", [1.0, 2.0, 3.0])
def test_next_level_lower_not_above_the_highest_ritz_value_is_ignored_with_a_note(value):
    """A true lower bound of level 3 (= 5) that lies below the highest Ritz value (≈ 3.0) says
    nothing about the learned levels; used as β/ρ it inverted the intervals (lower > upper,
    found on morse1d with 1.0). It is ignored, and the note says so."""
    theta, g, trial = _two_levels_of_three()
    b = level_bounds(theta, g, trial=trial, next_level_lower=value)
    plain = level_bounds(theta, g, trial=trial)
    np.testing.assert_array_equal(b.lower, plain.lower)
    np.testing.assert_array_equal(b.upper, plain.upper)
    assert np.all(b.lower <= b.upper)
    assert b.contains([1.0, 3.0]).tolist() == [1.0, 1.0]
    assert len(b.notes) == 1 and "ignored" in b.notes[0] and f"{value:g}" in b.notes[0]


def test_next_level_lower_used_is_named_as_an_assumption():
    theta, g, trial = _two_levels_of_three()
    b = level_bounds(theta, g, trial=trial, next_level_lower=5.0)
    assert b.lehmann_shift == 5.0
    assert len(b.notes) == 1 and "assuming next_level_lower = 5 (evaluation.next_level_lower" in b.notes[0]
    assert b.contains([1.0, 3.0]).tolist() == [1.0, 1.0]
    assert b.kinds[1].startswith("Lehmann")  # the top level gets a second-order lower bound now


def test_grid_levels_split_by_less_than_their_error_are_one_group():
    """Grid energies of x² + 4y² (levels 3, 5, 7, 7, 9, 9) as eigsh gave them, with their
    Richardson errors: the exact pairs are split by ~1e-5 < their errors and are one group each;
    levels 3 and 5 stay apart."""
    import dataclasses

    from nsvd_cli.baselines.reference import grouped_within_error

    @dataclasses.dataclass(frozen=True)
    class Ref:
        energies: np.ndarray
        groups: tuple

    e = np.array([2.9999994, 4.9999975, 6.9999830, 6.9999923, 8.9999586, 8.9999884])
    err = np.array([1.6e-6, 5.5e-6, 1.7e-5, 7.7e-6, 4.1e-5, 1.2e-5])
    ref = grouped_within_error(Ref(e, tuple(np.arange(6)[:, None])), err)
    assert [g.tolist() for g in ref.groups] == [[0], [1], [2, 3], [4, 5]]
    exact = grouped_within_error(Ref(e, ()), np.zeros(6))  # no error estimate: only GRID_RTOL
    assert len(exact.groups) == 6


def test_interval_cell_prints_enough_digits_to_tell_the_ends_apart():
    from types import SimpleNamespace

    from nsvd_cli.cli.ritz_columns import interval_cell

    b = SimpleNamespace(bounded=np.array([True, True, False]), lower=np.array([1.9999987, 1.06034, np.nan]),
                        upper=np.array([2.0000043, 1.06056, np.nan]))
    assert interval_cell(b, 0) == "[1.999999, 2.000004]"
    assert interval_cell(b, 1) == "[1.06034, 1.06056]"
    assert interval_cell(b, 2) == "no bound"


def test_evaluations_during_training_skip_the_refined_check(short_run_file):
    """evaluate_model(refine=False) (the periodic evaluations of a run) computes neither the
    refined rule nor Lehmann–Goerisch; the final one (default) does, on a Gauss–Legendre box rule."""
    import nsvd_cli
    from nsvd_cli.evaluate import evaluate_model
    from nsvd_cli.problem import Problem

    res = nsvd_cli.load(short_run_file)
    problem = Problem.from_spec(res.spec)
    quick = evaluate_model(res.model, problem, refine=False)
    full = evaluate_model(res.model, problem)
    assert not quick.refined and quick.bounds.goerisch_lower is None and quick.bounds.ritz_rule_error is None
    assert full.refined
    if problem.spec.evaluation.quadrature == "gauss-legendre":
        assert full.bounds.ritz_rule_error is not None
    np.testing.assert_allclose(quick.ritz_energies, full.ritz_energies)  # the same Ritz pairs
    assert "ritz_rule_error" in res.bounds  # the file's final evaluation (at the budget) was refined


def test_compare_next_level_lower_reevaluates_the_intervals(short_run_file):
    """harmonic2d, 3 modes (levels 2, 4, 4; level 4 is 6): with the exact next level the top
    pair gets a second-order lower side; a non-finite value is refused naming the option."""
    import json

    from typer.testing import CliRunner

    from nsvd_cli.cli.main import app

    runner = CliRunner()
    plain = json.loads(runner.invoke(app, ["compare", str(short_run_file), "--json"]).stdout)["methods"][0]
    res = runner.invoke(app, ["compare", str(short_run_file), "--json", "--next-level-lower", "6"])
    assert res.exit_code == 0, res.output
    m = json.loads(res.stdout)["methods"][0]
    for k, level in enumerate([2.0, 4.0, 4.0]):
        if m["interval_lower"][k] is not None:
            assert m["interval_lower"][k] <= level <= m["interval_upper"][k]
            assert m["interval_lower"][k] >= plain["interval_lower"][k] - 1e-12  # never looser
    bad = runner.invoke(app, ["compare", str(short_run_file), "--next-level-lower", "nan"])
    assert bad.exit_code == 2 and "--next-level-lower" in bad.output


def test_the_note_names_the_bound_of_each_run_of_levels_in_order():
    """The note under the table listed the kinds sorted, not matchable to levels (a trial:
    'Kahan/min–max (cluster of 2), Lehmann–Goerisch/min–max, …' where Kahan was of levels 5–6)."""
    from nsvd_cli.cli.ritz_columns import _kinds_by_level

    kinds = ["Lehmann–Goerisch/min–max"] * 4 + ["Kahan/min–max (cluster of 2)"] * 2 + ["no bound: cut"]
    assert _kinds_by_level(kinds) == "levels 1–4 Lehmann–Goerisch/min–max; levels 5–6 Kahan/min–max (cluster of 2)"
    pairs = ["L/m (cluster of 2)"] * 4  # two neighbouring pairs stay apart
    assert _kinds_by_level(pairs, [0, 0, 1, 1]) == "levels 1–2 L/m (cluster of 2); levels 3–4 L/m (cluster of 2)"
    assert _kinds_by_level(["no bound: x"]) == ""
    assert _kinds_by_level(["A", "B"]) == "level 1 A; level 2 B"


def test_every_builtin_preset_passes_the_checks_solve_runs_before_training():
    """The README's `nsvd solve hydrogen2d --preset paper` was refused by the fd_step rounding
    check (step 0.01 at sampling scale 16 in float32: error ≈ 0.31); the preset now trains in
    float64. Every built-in and preset must pass Problem.check()."""
    from nsvd_cli.problem import Problem
    from nsvd_cli.spec import builtin_problems, load_spec, load_spec_data

    checked = 0
    for name in builtin_problems():
        for preset in [None, *sorted(load_spec_data(name).get("presets", {}))]:
            Problem.from_spec(load_spec(name, preset=preset)).check()
            checked += 1
    assert checked >= 12
    assert load_spec("hydrogen2d", preset="paper").training.dtype == "float64"
    assert load_spec("hydrogen2d").training.dtype == "float32"


def test_weights_damaged_into_finite_values_are_refused(short_run_file, tmp_path):
    """A trial zeroed 150 kB in the middle of a results file: finite weights, plots drawn from
    them without a word. The weights' SHA-256 is written with them and checked on load."""
    import shutil

    import h5py

    import nsvd_cli
    from nsvd_cli.errors import ResultsFileError

    nsvd_cli.load(short_run_file)  # intact: loads
    damaged = tmp_path / "d.h5"
    shutil.copy(short_run_file, damaged)
    with h5py.File(damaged, "r+") as h:
        name = next(k for k, v in h["model"].items() if v.ndim == 2)
        h["model"][name][0, 0] = h["model"][name][0, 0] + 0.5  # a finite change
    with pytest.raises(ResultsFileError, match="checksum"):
        nsvd_cli.load(damaged)
    with h5py.File(damaged, "r+") as h:  # a file written before the checksum: not checked
        del h["model"].attrs["sha256"]
    nsvd_cli.load(damaged)


def test_a_directory_is_named_as_one(tmp_path):
    import nsvd_cli
    from nsvd_cli.errors import ResultsFileError

    with pytest.raises(ResultsFileError, match="is a directory"):
        nsvd_cli.load(tmp_path)
