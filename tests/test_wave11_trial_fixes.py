"""Wave 11: findings of the new-user trials (high-D specs, resume, parallel runs)."""

from __future__ import annotations

import pytest

from nsvd_cli.errors import SpecError
import tomli_w

from nsvd_cli.spec import load_spec


def parse_spec(data: dict, tmp_path):
    """The spec a user's TOML file of ``data`` gives (derived defaults filled in, as ``solve``)."""
    path = tmp_path / "user.toml"
    path.write_text(tomli_w.dumps(data))
    return load_spec(str(path))


def _expression_spec(expression: str, dimension: int, **extra) -> dict:
    spec = {"name": "user", "dimension": dimension, "modes": 3, "shift": 20.0,
            "potential": {"kind": "expression", "expression": expression}, "sampling": {"kind": "gaussian", "std": 1.0},
            "evaluation": {"box": [[-5.0, 5.0]] * dimension}}
    return {**spec, **extra}


def test_a_formula_without_a_coordinate_is_refused(tmp_path):
    # D = 6 with no x5 term: V(x + t e5) = V(x), a free particle along x5, no bound states
    with pytest.raises(SpecError) as info:
        parse_spec(_expression_spec("x0**2 + x1**2 + x2**2 + x3**2 + x4**2 + 0.3*x0*x1", 6), tmp_path)
    assert info.value.field == "potential.expression"
    assert "does not depend on x5" in info.value.message and "x4" not in info.value.message.split(":")[1]


@pytest.mark.parametrize("expression, dimension", [
    ("x0**2 + x1**2", 2), ("r**2", 3), ("x**2", 1), ("x0**2 + 0.1*r**4", 3)])
def test_confining_formulas_pass(expression, dimension, tmp_path):
    assert parse_spec(_expression_spec(expression, dimension), tmp_path).potential.expression


def test_walls_confine_a_free_axis(tmp_path):
    # a box envelope makes x1 a particle in a box: levels exist without an x1 term
    spec = parse_spec(_expression_spec("x0**2", 2, model={"envelope": "box", "envelope_box": [[-2, 2], [-2, 2]]},
                                       sampling={"kind": "uniform", "box": [[-2, 2], [-2, 2]]},
                                       evaluation={"box": [[-2, 2], [-2, 2]]}), tmp_path)
    assert spec.potential.expression.strip() == "x0**2"


def test_resume_names_the_changed_field_not_one_derived_from_it(tmp_path):
    """sampling.std 1.0 → 0.9 between the interrupted run and --resume: the error names
    sampling.std (the user's edit), not the derived setting that follows it (a trial saw
    ``evaluation.std: differs from the checkpoint``)."""
    from nsvd_cli.solve import solve
    from nsvd_cli.train import Progress

    data = _expression_spec("x0**2 + x1**2 + x2**2 + x3**2", 4)  # D = 4: a Monte Carlo evaluation rule
    data["training"] = {"iterations": 30, "batch_size": 64, "eval_every": 1000, "checkpoint_every": 10}
    data["model"] = {"hidden": [16]}

    def interrupt(event):
        if isinstance(event, Progress) and event.iteration == 20:
            raise KeyboardInterrupt

    out = tmp_path / "r.h5"
    with pytest.raises(KeyboardInterrupt):
        solve(parse_spec(data, tmp_path), out, callback=interrupt)
    before = load_spec(str(tmp_path / "user.toml"))
    data["sampling"]["std"] = 0.9
    changed = parse_spec(data, tmp_path)
    assert changed.evaluation != before.evaluation  # the derived evaluation follows the sampling
    with pytest.raises(SpecError) as info:
        solve(changed, out, resume=True)
    assert info.value.field == "sampling.std", info.value
    assert ": 1.0, now 0.9)" in str(info.value) and "also evaluation." in str(info.value)


def test_resume_of_a_finished_run_says_it_is_finished(tmp_path):
    """--resume on a completed run's -o (its checkpoint removed at the end) says so, rather than
    'give the -o of the interrupted run' (which it is); nothing is touched."""
    from typer.testing import CliRunner

    from nsvd_cli.cli.main import app

    out = tmp_path / "done.h5"
    out.write_bytes(b"a finished run")  # only its existence matters: no checkpoint beside it
    res = CliRunner().invoke(app, ["solve", "harmonic", "--dim", "1", "--modes", "2", "--iters", "5", "--resume",
                                   "-o", str(out)])
    assert res.exit_code == 2, res.output
    assert "is a finished run" in res.output and "nothing to resume" in res.output
    assert out.read_bytes() == b"a finished run" and sorted(p.name for p in tmp_path.iterdir()) == ["done.h5"]


def test_torchrun_launcher_logs_are_silenced_unless_asked(monkeypatch):
    import logging

    from nsvd_cli.cli.parallel import _quiet_launcher_logs

    name = "torch.distributed.elastic.agent.server.api"
    logging.getLogger(name).setLevel(logging.WARNING)
    monkeypatch.setenv("LOGLEVEL", "INFO")  # the user asked for them: untouched
    _quiet_launcher_logs()
    assert logging.getLogger(name).level == logging.WARNING
    monkeypatch.delenv("LOGLEVEL")
    _quiet_launcher_logs()
    assert logging.getLogger(name).level == logging.CRITICAL and __import__("os").environ["LOGLEVEL"] == "CRITICAL"
    logging.getLogger(name).setLevel(logging.WARNING)


def test_spectrum_title_without_reference_claims_none(tmp_path):
    """A run without a reference: the spectrum figure's title said "vs the reference;
    degenerate subspaces shaded" with neither drawn (a trial, D = 10 user spec)."""
    import nsvd_cli
    from nsvd_cli.plotting import spectrum_figure
    from nsvd_cli.solve import solve

    data = _expression_spec("x0**2 + 0.5*x0**4", 1)
    data["training"] = {"iterations": 5, "batch_size": 32, "eval_every": 1000}
    data["model"] = {"hidden": [8]}
    data["reference"] = "none"
    result = solve(parse_spec(data, tmp_path), tmp_path / "r.h5")
    res = nsvd_cli.load(result.path)
    assert res.reference_eigenvalues is None
    title = spectrum_figure(res)._suptitle.get_text()
    assert "(no reference)" in title and "vs the reference" not in title and "shaded" not in title


def test_a_negative_mode_before_a_positive_one_is_not_a_vanished_mode():
    """No reference: a trial's mode 6 of 7 had λ_R = −5.43 (norm 0.0015) and got ✓ as a
    'vanished' mode although mode 7 had λ_R > 0; only a trailing run of λ_R ≤ 0 can vanish."""
    import numpy as np

    from nsvd_cli.verdict import judge

    lam = np.array([10.0, 8.16, -5.43, 7.9])
    lam_n = np.array([10.0, 8.16, 0.0015, 7.9])
    v = judge(lam, lam_n, np.eye(4))
    assert not v.converged[2] and v.reasons[2].startswith("λ ≤ 0 before a mode with λ > 0")
    assert not v.vanishing[2]
    # the same mode last (nothing positive after it) is a vanished mode: its norm is ~0
    tail = judge(lam[[0, 1, 3, 2]], lam_n[[0, 1, 3, 2]], np.eye(4))
    assert tail.vanishing.tolist() == [False, False, False, True] and tail.converged[3]


def test_gap_error_of_an_unresolved_splitting_is_floored():
    """A double well's tunnelling doublet 3.94188391 / 3.94188492 (split 1.0e-6) learned with a
    7e-4 error of the splitting: against the gap itself that read 68621 %; against Δ/10 (Δ the
    mean level spacing, here (5.8 − 3.94188391)/3) it is 7e-4 / 0.0619 = 1.13 %."""
    import numpy as np

    from nsvd_cli import metrics

    ref = [3.94188391, 3.94188492, 5.7, 5.8]
    got = [3.94188391, 3.94188492 + 7e-4, 5.7, 5.8]
    floor = 0.1 * (5.8 - 3.94188391) / 3
    err = metrics.gap_relative_errors(got, ref)
    assert np.isnan(err[0]) and err[1] == pytest.approx(7e-4 / floor) and err[1] < 0.012
    assert err[2] == 0 and err[3] == 0
    # a gap above the floor keeps its plain relative error: 5 → 5.5 over the gap 2 is 25 %
    assert metrics.gap_relative_errors([3.0, 5.5, 7.0], [3.0, 5.0, 7.0])[1] == pytest.approx(0.25)


def test_eigenfunctions_vanish_outside_hard_walls_and_are_chunked(tmp_path, monkeypatch):
    """A walled problem's functions are 0 outside the walls (the network's box envelope alone
    changed sign there and grew: a trial's box2d run gave 7.3 at x = 3 for walls at ±1); the
    chunked evaluation equals one pass of the model."""
    import numpy as np
    import torch

    import nsvd_cli
    from nsvd_cli.files import results as results_module
    from nsvd_cli.solve import solve

    data = {"name": "well", "dimension": 1, "modes": 2, "shift": 60.0,
            "potential": {"kind": "box", "box": [[0.0, 2.0]]}, "sampling": {"kind": "uniform", "box": [[0.0, 2.0]]},
            "evaluation": {"box": [[0.0, 2.0]]},
            "training": {"iterations": 5, "batch_size": 32, "eval_every": 1000}, "model": {"hidden": [8]}}
    res = nsvd_cli.load(solve(parse_spec(data, tmp_path), tmp_path / "w.h5").path)
    x = np.array([[-1.0], [-1e-9], [0.5], [1.5], [2.0 + 1e-9], [3.0]])
    psi = res.eigenfunctions(x)
    assert np.all(psi[[0, 1, 4, 5]] == 0) and np.all(np.abs(psi[[2, 3]]) > 0)
    raw = res.eigenfunctions(x, raw=True)
    assert np.any(raw[[0, 5]] != 0)  # the network itself does not vanish out there
    monkeypatch.setattr(results_module, "CHUNK", 2)  # three chunks of two points
    with torch.no_grad():
        whole = res.model(torch.as_tensor(x[2:4], dtype=torch.float64)).numpy()
    assert np.allclose(res.eigenfunctions(x, raw=True)[2:4], whole, rtol=0, atol=1e-15)


def test_a_results_file_reruns_its_stored_spec(tmp_path):
    """`nsvd solve results.h5` repeats the stored run bit for bit (every field of the resolved
    spec is stored); an HDF5 file of another kind and a binary file are one-line spec errors
    (a trial got a UnicodeDecodeError traceback)."""
    import h5py
    import numpy as np

    import nsvd_cli
    from nsvd_cli.solve import solve

    data = _expression_spec("x**2", 1)
    data["training"] = {"iterations": 10, "batch_size": 32, "eval_every": 1000}
    data["model"] = {"hidden": [8]}
    first = solve(parse_spec(data, tmp_path), tmp_path / "a.h5").path
    again = solve(load_spec(str(first)), tmp_path / "b.h5").path
    a, b = nsvd_cli.load(first), nsvd_cli.load(again)
    assert np.array_equal(a.eigenvalues, b.eigenvalues) and a.spec == b.spec
    with h5py.File(tmp_path / "other.h5", "w") as h:
        h["x"] = 1.0
    (tmp_path / "blob.toml").write_bytes(b"\x89\x00\xff binary")
    for name, needle in (("other.h5", "not a results file of nsvd solve"), ("blob.toml", "not a TOML spec")):
        with pytest.raises(SpecError) as info:
            load_spec(str(tmp_path / name))
        assert needle in str(info.value) and "\n" not in str(info.value)


def test_observed_order_of_a_grid_reference_by_hand():
    """E_N = E + C h^p on h = 1/160, 1/80, 1/40: the order comes back (capped at the stencil's
    4); differences at rounding level keep 4; a level that does not converge gets the floor.
    The trial's −1/r in 2D (−0.463, −0.617, −0.752 at N = 40, 80, 160; exact −1) has p ≈ 0.19,
    floored to 0.5: the estimate |ΔE|/(2^p − 1) = 0.325 covers the true 0.248 (order 4: 0.009)."""
    import numpy as np

    from nsvd_cli.baselines.reference import GRID_ORDER, MIN_OBSERVED_ORDER, observed_order

    h = np.array([1 / 160, 1 / 80, 1 / 40])
    levels = {2.0: 1.0 + 3.0 * h**2, 4.0: 5.0 + 2.0 * h**4, 6.0: 7.0 + h**6}
    for p, e in levels.items():
        assert observed_order([e[0]], [e[1]], [e[2]], 2.0, 2.0)[0] == pytest.approx(min(p, GRID_ORDER))
    assert observed_order([1.0], [1.0 + 1e-12], [1.0 + 5e-10], 2.0, 2.0)[0] == GRID_ORDER  # rounding level
    assert observed_order([1.0], [1.1], [1.1], 2.0, 2.0)[0] == MIN_OBSERVED_ORDER  # not converging
    assert np.log2(0.15422 / 0.1348) < MIN_OBSERVED_ORDER  # p ≈ 0.19: floored
    p = observed_order([-0.75208], [-0.61728], [-0.46306], 2.0, 2.0)[0]
    assert p == MIN_OBSERVED_ORDER
    estimate = (0.75208 - 0.61728) / (2.0**p - 1.0)
    assert 0.248 < estimate < 0.35  # covers the true error 1 − 0.75208 (the order-4 one: 0.0090)


def test_nothing_learned_below_the_shift_is_named():
    """Every Rayleigh λ ≤ 0 (a trial: energies 39.8, 57.8 for the shift 12, the samples missing
    the wells at x0 = ±3): the advice is shift or sampling, not only "train longer"."""
    from types import SimpleNamespace

    import numpy as np

    from nsvd_cli.cli.uncertainty import nothing_learned_warning

    none = nothing_learned_warning(SimpleNamespace(eigenvalues=np.array([-27.8, -45.8])), 12.0)
    assert "no mode found a level below the shift 12" in none and "widen the sampling" in none
    assert nothing_learned_warning(SimpleNamespace(eigenvalues=np.array([3.0, -1.0])), 12.0) is None
