"""End to end: a short solve writes a results file that load() reads back and evaluates;
overwrite refusal; atomic write; resume from a checkpoint."""

import h5py
import numpy as np
import pytest
import torch

import nsvd_cli
from nsvd_cli.errors import CheckpointExistsError, ResultsExistError, ResultsFileError
from nsvd_cli.problem import Problem
from nsvd_cli.solve import checkpoint_path, solve
from nsvd_cli.spec import load_spec
from nsvd_cli.train import Progress, Started

SHORT = {"training.iterations": 300, "training.eval_every": 150, "training.batch_size": 256,
         "model.hidden": [32, 32], "model.fourier_features": 16, "modes": 3}


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    spec = load_spec("harmonic2d", overrides=SHORT)
    out = tmp_path_factory.mktemp("run") / "h.h5"
    return spec, solve(spec, out)


def test_results_round_trip(short_run):
    spec, result = short_run
    res = nsvd_cli.load(result.path)
    assert res.spec == result.problem.spec  # the spec with the derived defaults filled in
    assert res.spec.model_copy(update={"training": spec.training}) == spec  # only training intervals derived
    assert res.eigenvalues.shape == (3,) and res.energies.shape == (3,)
    assert np.allclose(res.energies, spec.shift - res.eigenvalues / spec.scale)
    assert np.allclose(res.reference_energies, [2.0, 4.0, 4.0])
    assert res.history["loss"].shape == res.history["iteration"].shape
    assert res.history["evaluation"]["iteration"].tolist() == [150, 300]
    assert res.run["iterations"] == 300 and res.versions["torch"] == torch.__version__
    # even 300 iterations find the ground state (E = 2) to a few per cent
    assert res.energies[0] == pytest.approx(2.0, rel=0.05)


def test_eigenfunctions_reload_and_match_stored_energies(short_run):
    """Independent re-evaluation: quadratic form of the reloaded functions on a fresh grid."""
    spec, result = short_run
    res = nsvd_cli.load(result.path)
    n = 121
    g = np.linspace(-6, 6, n)
    h = g[1] - g[0]
    xx, yy = np.meshgrid(g, g, indexing="ij")
    x = np.stack([xx.ravel(), yy.ravel()], 1)
    psi = res.eigenfunctions(x).reshape(n, n, 3)
    assert psi.shape == (n, n, 3)
    norm = (psi**2).sum((0, 1)) * h * h
    assert np.allclose(norm, 1.0, rtol=2e-2)  # normalised by the stored norms
    gx, gy = np.gradient(psi, h, axis=(0, 1))
    kin = ((gx**2 + gy**2).sum((0, 1))) * h * h
    pot = ((xx**2 + yy**2)[..., None] * psi**2).sum((0, 1)) * h * h
    assert np.allclose((kin + pot) / norm, res.energies, rtol=2e-2)
    # torch input gives torch output
    out = res.eigenfunctions(torch.zeros(2, 2))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 3)
    with pytest.raises(ValueError):
        res.eigenfunctions(np.zeros((2, 3)))


def test_metrics_stored_match_evaluation(short_run):
    _, result = short_run
    with h5py.File(result.path) as h:
        assert h.attrs["format"] == "nsvd-results"
        assert np.allclose(h["metrics/relative_error"][()], result.evaluation.relative_errors)
        assert h["metrics"].attrs["orthogonality"] == pytest.approx(result.evaluation.orthogonality)


def test_refuses_to_overwrite(short_run, tmp_path):
    spec, result = short_run
    before = result.path.read_bytes()
    with pytest.raises(ResultsExistError):
        solve(spec, result.path)
    assert result.path.read_bytes() == before


def test_load_rejects_other_files(tmp_path):
    with pytest.raises(ResultsFileError, match="no such file"):
        nsvd_cli.load(tmp_path / "none.h5")
    (tmp_path / "x.h5").write_text("hello")
    with pytest.raises(ResultsFileError, match="not an HDF5"):
        nsvd_cli.load(tmp_path / "x.h5")
    with h5py.File(tmp_path / "y.h5", "w") as h:
        h.attrs["format"] = "other"
    with pytest.raises(ResultsFileError, match="not an nsvd"):
        nsvd_cli.load(tmp_path / "y.h5")


def test_interrupted_run_resumes(tmp_path, monkeypatch):
    """Ctrl-C leaves a checkpoint and no results file; --resume continues to the same end."""
    spec = load_spec("harmonic2d", overrides={**SHORT, "training.iterations": 40, "training.eval_every": 1000})
    out = tmp_path / "r.h5"
    calls = {"n": 0}

    def interrupt(event):
        if isinstance(event, Progress) and event.iteration == 20:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        solve(spec, out, callback=interrupt)
    assert checkpoint_path(out).exists() and not out.exists()
    before = checkpoint_path(out).read_bytes()
    with pytest.raises(CheckpointExistsError):  # a fresh start would destroy the checkpoint
        solve(spec, out)
    assert checkpoint_path(out).read_bytes() == before

    def count(event):
        if isinstance(event, Started):
            calls["start"], calls["earlier"] = event.resumed_from, event.earlier_wall_time

    import torch
    earlier = torch.load(checkpoint_path(out), weights_only=False)["wall_time"]
    result = solve(spec, out, resume=True, callback=count)
    assert calls["start"] == 20
    assert earlier > 0 and calls["earlier"] == pytest.approx(earlier)  # the bar counts the first part too
    assert nsvd_cli.load(result.path).run["iterations"] == 40
    assert not checkpoint_path(out).exists()


def test_problem_reference_of_builtins():
    assert Problem.from_spec(load_spec("hydrogen2d")).reference.energies[0] == pytest.approx(-1.0)


def test_stored_metrics_match_an_independent_rayleigh_quotient(short_run):
    """Rayleigh quotients of T from the stored weights on a fine Gauss-Legendre rule written
    here (torch autograd gradients), against the file's eigenvalues and relative errors."""
    spec, result = short_run
    res = nsvd_cli.load(result.path)
    nodes, w1 = np.polynomial.legendre.leggauss(60)
    pts, wts = [], []
    for lo, hi in [(-7.0, -2.0), (-2.0, 2.0), (2.0, 7.0)]:  # three panels per axis
        pts.append(0.5 * (hi - lo) * nodes + 0.5 * (hi + lo))
        wts.append(0.5 * (hi - lo) * w1)
    g, gw = np.concatenate(pts), np.concatenate(wts)
    xx, yy = np.meshgrid(g, g, indexing="ij")
    x = torch.tensor(np.stack([xx.ravel(), yy.ravel()], 1), requires_grad=True)
    w = torch.tensor(np.outer(gw, gw).ravel())
    model = res.model.to(torch.float64)
    psi = model(x)
    rq = []
    for l in range(3):
        (grad,) = torch.autograd.grad(psi[:, l].sum(), x, retain_graph=True)
        norm = (w * psi[:, l] ** 2).sum()
        energy = ((w * (grad**2).sum(1)).sum() + (w * (x**2).sum(1) * psi[:, l] ** 2).sum()) / norm
        rq.append(spec.scale * (spec.shift - energy.item()))  # eigenvalue of T
    rq = np.array(rq)
    assert np.allclose(res.eigenvalues, rq, rtol=1e-6)
    exact = np.array([14.0, 12.0, 12.0])  # 16 - (2, 4, 4)
    with h5py.File(result.path) as h:
        assert np.allclose(h["metrics/relative_error"][()], np.abs(rq - exact) / exact, rtol=1e-5, atol=1e-9)
