"""What a new user reported (wave 6 polish): each test checks a value fixed independently of
the code (NaN for a dropped pair, the shape (0, L), the spec author's spelling, the JSON
encoding, hand-computed relative errors) and failed before its fix."""

import json

import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from nsvd_cli.cli.main import app
from nsvd_cli.errors import SpecError
from nsvd_cli.files.results import load
from nsvd_cli.problem import Problem
from nsvd_cli.spec import load_spec

runner = CliRunner()


@pytest.fixture
def dropped_file(short_run_file, tmp_path):
    """The short harmonic2d run with its third Ritz pair marked dropped, as the Ritz step
    writes one: energy NaN, coefficient column 0, ``dropped`` = 1."""
    path = tmp_path / "dropped.h5"
    path.write_bytes(short_run_file.read_bytes())
    with h5py.File(path, "r+") as h:
        h["ritz/energies"][2] = np.nan
        h["ritz/vectors"][:, 2] = 0.0
        h["ritz"].attrs["dropped"] = 1
    return path


# ---------------------------------------------------------------------------- A, B: eigenfunctions

def test_dropped_ritz_pair_gives_a_nan_column(dropped_file):
    res = load(dropped_file)
    x = np.array([[0.0, 0.0], [0.5, -0.3], [1.0, 1.0]])
    phi = res.eigenfunctions(x, ritz=True)
    assert phi.shape == (3, 3)
    assert np.isnan(phi[:, 2]).all()  # as its energy: no function, not the zero function
    assert np.isfinite(phi[:, :2]).all() and np.abs(phi[:, :2]).max() > 0


@pytest.mark.parametrize("kwargs", [{}, {"raw": True}, {"ritz": True}, {"normalise": False}])
def test_no_points_give_an_empty_array(short_run_file, kwargs):
    res = load(short_run_file)
    out = res.eigenfunctions(np.zeros((0, 2)), **kwargs)
    assert isinstance(out, np.ndarray) and out.shape == (0, 3)
    t = res.eigenfunctions(torch.zeros((0, 2), dtype=torch.float32), **kwargs)
    assert isinstance(t, torch.Tensor) and tuple(t.shape) == (0, 3) and t.dtype == torch.float32


def test_wrong_width_still_refused_with_no_points(short_run_file):
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        load(short_run_file).eigenfunctions(np.zeros((0, 3)))


# ---------------------------------------------------------------------------- F: spec messages

def test_bool_for_an_integer_field_says_integer_in_toml_spelling(tmp_path):
    with pytest.raises(SpecError, match="evaluation.ritz_degree: expected an integer, got true$"):
        load_spec("harmonic2d", overrides={"evaluation.ritz_degree": True})
    spec = tmp_path / "s.toml"
    spec.write_text('name = "s"\ndimension = 1\nmodes = 2\nshift = 10.0\n[potential]\nkind = "harmonic"\n'
                    '[sampling]\nkind = "gaussian"\n[evaluation]\nbox = [[-6.0, 6.0]]\nritz_degree = false\n')
    with pytest.raises(SpecError, match="expected an integer, got false"):
        load_spec(str(spec))
    with pytest.raises(SpecError, match="shift: expected a number, got true"):
        load_spec("harmonic2d", overrides={"shift": True})


def test_explicit_ritz_degree_on_monte_carlo_warns_once():
    mc = {"evaluation.quadrature": "monte-carlo", "evaluation.samples": 1000}
    warned = [w for w in Problem.from_spec(load_spec("harmonic2d", overrides={**mc, "evaluation.ritz_degree": 2}))
              .warnings() if "ritz_degree" in w]
    assert len(warned) == 1 and "\n" not in warned[0] and "sampling noise" in warned[0]
    for overrides in (mc, {**mc, "evaluation.ritz_degree": 0}, {"evaluation.ritz_degree": 2}):
        assert not [w for w in Problem.from_spec(load_spec("harmonic2d", overrides=overrides)).warnings()
                    if "ritz_degree" in w], overrides


# ---------------------------------------------------------------------------- C, D: compare

def _with_verdict(src, dst, converged):
    dst.write_bytes(src.read_bytes())
    with h5py.File(dst, "r+") as h:
        h["verdict/converged"][...] = np.asarray(converged)
    return dst


def test_compare_json_converged_is_the_verdict_and_encodings(short_run_file, tmp_path):
    for flags, expected in (([False, False, False], False), ([True, True, True], True)):
        path = _with_verdict(short_run_file, tmp_path / f"v{int(expected)}.h5", flags)
        res = runner.invoke(app, ["compare", str(path), "--json"])
        assert res.exit_code == 0, res.output
        (m,) = json.loads(res.stdout)["methods"]
        assert m["converged"] is expected
        assert m["peak_memory"] is None  # not measured for a results file (was -1)
    # in_interval: true/false/null, the reference level 2, 4, 4 (E = 2(n_x + n_y + 1)) against
    # the file's stored interval of the k-th Ritz value
    stored = load(path).bounds
    for k, (ref, got) in enumerate(zip([2.0, 4.0, 4.0], m["in_interval"])):
        if not np.isfinite(stored["lower"][k]):
            assert got is None
        else:
            assert got is bool(stored["lower"][k] <= ref <= stored["upper"][k]), k
            # the interval's ends come with it (recomputed on the file's rule: the stored ones)
            assert m["interval_lower"][k] == pytest.approx(stored["lower"][k], rel=1e-9, abs=1e-12)
            assert m["interval_upper"][k] == pytest.approx(stored["upper"][k], rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(m["ritz_energies"], load(path).ritz["energies"], rtol=1e-8)


def test_compare_table_shows_the_ritz_value_of_each_interval(short_run_file):
    res = runner.invoke(app, ["compare", str(short_run_file)], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    assert "Ritz E" in res.stdout
    # the "in interval" header may wrap to the width of its yes/no cells: "in" above "interval"
    head = res.stdout.splitlines()
    assert any("in interval" in a or (" in " in a and b.find("interval") == a.find(" in ") + 1)
               for a, b in zip(head, head[1:])), res.stdout
    ritz = load(short_run_file).ritz["energies"]
    lines = [line for line in res.stdout.splitlines() if line.strip().startswith("│ 1 ") or
             line.strip().startswith("1 ")]
    assert lines and f"{ritz[0]:.6g}" in lines[0], res.stdout


# ---------------------------------------------------------------------------- D, E, G: solve output

def _oscillator_evaluation(eps=0.1, angle=0.6, shift=10.0):
    """1D oscillator H = −d²/dx² + x² (levels 1, 3, 5): learned functions ψ0 + εψ2 and ψ1,
    rotated into each other. Their span's Ritz values are (1 + 5ε²)/(1 + ε²) and 3 by hand
    (ψ1 is an eigenfunction orthogonal to the other), whatever the rotation; the per-mode
    Rayleigh quotients of the rotated functions are far off."""
    from nsvd_cli.evaluate import evaluate_functions
    from nsvd_cli.problem import Conventions
    from nsvd_cli.quadrature import gauss_legendre_box
    from nsvd_cli.references import harmonic_reference

    ref3, ref2 = harmonic_reference([1.0], 3), harmonic_reference([1.0], 2)
    q = gauss_legendre_box([(-9.0, 9.0)], 48, 4)
    c, s = np.cos(angle), np.sin(angle)
    mix = np.array([[c, -s], [s, c]])
    basis = np.array([[1.0, 0.0], [0.0, 1.0], [eps, 0.0]])  # rows ψ0, ψ1, ψ2
    values = ref3.eigenfunctions(q.points) @ basis @ mix
    grads = np.einsum("nld,lm->nmd", ref3.gradients(q.points), basis @ mix)
    return evaluate_functions(values, grads, (q.points ** 2).sum(1), q.weights,
                              Conventions(kinetic=1.0, shift=shift, scale=1.0), reference=ref2,
                              reference_values=ref2.eigenfunctions(q.points))


def test_ritz_mean_relative_error_against_hand_values():
    from nsvd_cli.cli.solve import ritz_mean_relative_error

    eps = 0.1
    ev = _oscillator_evaluation(eps)
    np.testing.assert_allclose(ev.ritz_energies, [(1 + 5 * eps**2) / (1 + eps**2), 3.0], rtol=1e-9)
    expected = (4 * eps**2 / (1 + eps**2)) / 2  # level 1 off by 4ε²/(1 + ε²), level 2 exact
    assert ritz_mean_relative_error(ev) == pytest.approx(expected, rel=1e-8)
    assert ev.summary()["mean_energy_relative_error"] > 10 * expected  # the rotated Rayleigh quotients
    # a dropped pair (NaN) is left out; no reference: NaN
    from types import SimpleNamespace

    fake = SimpleNamespace(ritz_energies=np.array([2.2, np.nan, 4.0]), reference_energies=np.array([2.0, 4.0, 4.0]),
                           positive=np.array([True, True, True]))
    assert ritz_mean_relative_error(fake) == pytest.approx((0.1 + 0.0) / 2)
    assert np.isnan(ritz_mean_relative_error(SimpleNamespace(ritz_energies=np.ones(2), reference_energies=None)))


def test_solve_summary_line_has_the_ritz_error():
    from types import SimpleNamespace

    from rich.console import Console

    from nsvd_cli.cli import solve as cli_solve

    ev = _oscillator_evaluation(0.1)
    ev.verdict = None
    result = SimpleNamespace(evaluation=ev, wall_time=1.0, iterations_per_second=10.0, iterations=10,
                             stopped_by="iterations", path="x.h5")
    recorded, old = Console(record=True, width=400), cli_solve.console
    cli_solve.console = recorded
    try:
        cli_solve.print_summary(result)
    finally:
        cli_solve.console = old
    assert "Ritz: mean rel. error of E 1.98 %" in recorded.export_text()  # 100·(0.04/1.01)/2


def test_solve_footnote_names_the_reference_eigenvalue():
    """With shift 2 the reference eigenvalues of T = −H + 2 are 1 and −1: level 2's cell is λ≤0,
    and the footnote must say it is the *reference* eigenvalue that is ≤ 0."""
    from types import SimpleNamespace

    from rich.console import Console

    from nsvd_cli.cli import solve as cli_solve
    from nsvd_cli.references import harmonic_reference

    ev = _oscillator_evaluation(0.1, shift=2.0)
    ev.verdict = None
    spec = SimpleNamespace(name="osc", dimension=1, scale=1.0, shift=2.0, evaluation=SimpleNamespace(samples=0))
    recorded, old = Console(record=True, width=400), cli_solve.console
    cli_solve.console = recorded
    try:
        cli_solve.print_table(spec, ev, harmonic_reference([1.0], 2))
    finally:
        cli_solve.console = old
    text = recorded.export_text()
    rows = [ln for ln in text.splitlines() if ln.startswith("│")]
    assert "λ≤0" not in rows[0] and "λ≤0" in rows[1]
    assert "λ≤0: the reference eigenvalue of T of that level is ≤ 0" in " ".join(text.split())


def test_note_when_every_interval_is_wider_than_the_spacing():
    from nsvd_cli.bounds import no_bounds
    from nsvd_cli.cli.solve import WIDE_INTERVALS_NOTE, interval_spacing_note

    theta = np.array([2.0, 4.0, 4.0, 6.0])  # mean spacing (6 − 2)/3 = 4/3
    b = no_bounds(4, "test")
    b.lower, b.upper = theta - 1.0, theta + 1.0  # widths 2 > 4/3 everywhere
    assert interval_spacing_note(b, theta) == WIDE_INTERVALS_NOTE
    b.lower[0], b.upper[0] = 1.9, 2.1  # the ground state resolved (width 0.2 < 4/3)
    assert interval_spacing_note(b, theta) == ""
    b.lower[0], b.upper[0] = -30.0, 2.1  # the ground state's lower end at −30: wide again
    assert interval_spacing_note(b, theta) == WIDE_INTERVALS_NOTE
    b.lower[1:], b.upper[1:] = np.nan, np.nan  # one interval: nothing to compare
    assert interval_spacing_note(b, theta) == ""


def test_bounds_note_warns_when_modes_are_not_converged():
    """The intervals' lower ends assume no level was missed; with unconverged modes the note says
    that this is not known (an unconverged 3D run had a Kahan lower end above its level)."""
    from types import SimpleNamespace

    from nsvd_cli.cli.ritz_columns import bounds_note

    bounds = SimpleNamespace(deterministic=True, kinds=["Kahan (cluster of 2)"] * 2)
    ok = SimpleNamespace(ritz_dropped=0, verdict=SimpleNamespace(all_converged=True))
    bad = SimpleNamespace(ritz_dropped=0, verdict=SimpleNamespace(all_converged=False))
    assert "not known to hold" not in bounds_note(ok, bounds)
    assert "not known to hold" in bounds_note(bad, bounds)
