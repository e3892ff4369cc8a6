"""The comparison methods (nsvd_cli.methods) on a 40 x 40 symmetric matrix with a known
spectrum (the harness of tests/test_objective.py), their gradients against autograd of the
objectives written out directly, Rayleigh-Ritz by hand, and the spec / dispatch wiring."""

import numpy as np
import pytest
import torch

from nsvd_cli.errors import SpecError
from nsvd_cli.methods import (SpinObjective, lora_loss, make_objective, neuralef_loss, rayleigh_ritz,
                              spin_coefficients)

N, K = 40, 4
SPECTRUM = np.concatenate([[8.0, 6.0, 4.0, 3.0], np.linspace(1.5, -2.0, N - 4)])
FULL = torch.cat([torch.arange(N), torch.arange(N)])  # both half-batches = all points: exact inner products


def _matrix(generator, spectrum=SPECTRUM):
    q, _ = torch.linalg.qr(torch.randn(len(spectrum), len(spectrum), generator=generator, dtype=torch.float64))
    return q @ torch.diag(torch.as_tensor(spectrum, dtype=torch.float64)) @ q.T, q


def _train(a, objective_of, iters, lr, generator):
    """Per-mode parameters theta (K, N): f_l = theta[l] on the N points (uniform measure)."""
    theta = (0.1 * torch.randn(K, N, generator=generator, dtype=torch.float64)).requires_grad_(True)
    objective = objective_of(theta)
    opt = torch.optim.Adam([theta], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, iters)
    for _ in range(iters):
        f = theta.T
        loss = objective(f[FULL], (a @ f)[FULL].detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return theta.detach().T.clone(), objective


def _mode_distances(u, q):
    """Per mode, the subspace distance 1 - cos^2 between column l of u and eigenvector l."""
    u = u / u.norm(dim=0)
    return (1 - (u * q[:, : u.shape[1]]).sum(0) ** 2).numpy()


def _subspace_distance(u, q):
    """1 - tr(P_u P_q)/K for the top-K eigenspace (u: any basis of the learned span)."""
    basis, _ = torch.linalg.qr(u)
    return float(1 - (q[:, :K].T @ basis).square().sum() / K)


def test_lora_learns_the_top_subspace_and_rayleigh_ritz_orders_it(generator):
    a, q = _matrix(generator)
    f, _ = _train(a, lambda theta: lora_loss, 3000, 0.01, generator)
    assert _subspace_distance(f, q) <= 1e-3
    # the LoRA minimiser is any rotation: the raw columns are *not* the eigenvectors in general,
    # but Rayleigh-Ritz on the span gives them, in order, with the top eigenvalues.
    lam, c = rayleigh_ritz(f.T @ f / N, f.T @ (a @ f) / N)
    assert np.allclose(lam.numpy(), SPECTRUM[:K], rtol=1e-3)
    assert np.all(_mode_distances(f @ c, q) <= 1e-3)


def test_neuralef_recovers_ordered_eigenvectors(generator):
    a, q = _matrix(generator)
    f, _ = _train(a, lambda theta: neuralef_loss, 3000, 0.01, generator)
    assert np.all(_mode_distances(f, q) <= 1e-3), _mode_distances(f, q)
    u = f / (f * f).mean(0).sqrt()
    assert np.allclose(((u * (a @ u)).mean(0)).numpy(), SPECTRUM[:K], rtol=1e-3)  # Rayleigh quotients


def test_spin_recovers_ordered_eigenvectors_after_cholesky(generator):
    """SpIN's eigenfunctions are psi = L^{-1} phi (columns of Phi L^{-T}), L from the moving Gram."""
    a, q = _matrix(generator)
    f, spin = _train(a, lambda theta: SpinObjective([theta], K), 3000, 0.01, generator)
    psi = torch.linalg.solve_triangular(spin.cholesky_factor(), f.T, upper=False).T
    assert np.all(_mode_distances(psi, q) <= 1e-3), _mode_distances(psi, q)
    assert np.allclose(spin.eigenvalues.numpy(), SPECTRUM[:K], rtol=1e-3)


def test_spin_coefficients_give_the_masked_gradient(generator):
    """2 (T Phi) C - 2 Phi A, per batch point, equals autograd's d Lambda_ll / d phi_l for
    each l separately (Lambda = L^-1 Pi L^-T from a Cholesky factorisation)."""
    a, _ = _matrix(generator, np.linspace(5, -3, 12))
    phi = torch.randn(12, K, generator=generator, dtype=torch.float64)
    want = torch.zeros_like(phi)
    for l in range(K):
        p = phi.clone().requires_grad_(True)
        chol = torch.linalg.cholesky(p.T @ p / 12)
        linv = torch.linalg.inv(chol)
        lam = linv @ (p.T @ (a @ p) / 12) @ linv.T
        (g,) = torch.autograd.grad(lam[l, l], p)
        want[:, l] = g[:, l]
    pi = phi.T @ (a @ phi) / 12
    c, coef_a, lam = spin_coefficients(phi.T @ phi / 12, 0.5 * (pi + pi.T))
    got = (2 / 12) * ((a @ phi) @ c) - (2 / 12) * (phi @ coef_a)
    assert torch.allclose(got, want, atol=1e-12)


def test_neuralef_gradient_is_the_unbiased_update(generator):
    """With identical half-batches the backward equals, for mode l, (4/B)(-T phi_l +
    sum_{i<l} <phi_i|T phi_l> phi_i) on the normalised outputs, pushed through the
    normalisation phi = f / ||f||; written here with autograd and explicit stop-gradients."""
    a, _ = _matrix(generator, np.linspace(5, -3, 10))
    theta = torch.randn(10, 3, generator=generator, dtype=torch.float64)
    idx = torch.cat([torch.arange(10), torch.arange(10)])
    p1 = theta.clone().requires_grad_(True)
    neuralef_loss(p1[idx], (a @ p1)[idx].detach()).backward()
    p2 = theta.clone().requires_grad_(True)
    f = p2[idx]
    phi = f / (f * f).mean(0).sqrt()
    tphi = ((a @ p2)[idx] / (f * f).mean(0).sqrt()).detach()
    pi = phi.detach().T @ tphi / 20  # <phi_i|T phi_l>, constants
    surrogate = 0.0
    for l in range(3):  # gradient 4(-T phi_l + sum_{i<l} pi_il phi_i) in phi_l: T phi_l, pi, phi_i (i<l) fixed
        surrogate = surrogate - 4 * (phi[:, l] * tphi[:, l]).mean()
        for i in range(l):
            surrogate = surrogate + 4 * pi[i, l] * (phi[:, i].detach() * phi[:, l]).mean()
    surrogate.backward()
    assert torch.allclose(p1.grad, p2.grad, atol=1e-12)


def test_rayleigh_ritz_by_hand():
    """f = (e1 + e2, e2) on R^3 with T = diag(3, 2, 1): the span is {e1, e2}, Ritz values 3, 2."""
    f = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    t = torch.diag(torch.tensor([3.0, 2.0, 1.0], dtype=torch.float64))
    lam, c = rayleigh_ritz(f.T @ f, f.T @ t @ f)
    assert torch.allclose(lam, torch.tensor([3.0, 2.0], dtype=torch.float64))
    assert torch.allclose((f @ c).abs(), torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], dtype=torch.float64))


def test_spec_and_dispatch():
    from nsvd_cli.models import build_model
    from nsvd_cli.spec import load_spec

    spec = load_spec("harmonic2d", overrides={"modes": 3})
    assert spec.training.method == "nestedlora"
    with pytest.raises(SpecError, match="training.method"):
        load_spec("harmonic2d", overrides={"training.method": "pca"})
    g = torch.Generator().manual_seed(0)
    for method in ("lora", "neuralef", "spin"):
        tr = load_spec("harmonic2d", overrides={"modes": 3, "training.method": method}).training
        model = build_model(2, 3, spec.model, g)
        x = torch.randn(8, 2, dtype=torch.float32)
        f = model(x)
        loss = make_objective(tr, model)(f, torch.randn_like(f))
        loss.backward()
        assert loss.shape == () and all(p.grad is not None for p in model.parameters() if p.requires_grad)
    shared = load_spec("harmonic2d", overrides={"modes": 3, "model.architecture": "shared",
                                                "training.nesting": "joint", "training.method": "spin"})
    with pytest.raises(SpecError, match="disjoint"):
        make_objective(shared.training, build_model(2, 3, shared.model, g))


def test_seeds_option_refusals_and_file_names(tmp_path):
    from typer.testing import CliRunner

    from nsvd_cli.cli.main import app
    from nsvd_cli.cli.solve import seed_output_path

    runner = CliRunner()
    for args in (["--seeds", "0,1", "--seed", "3"], ["--seeds", "0,x"], ["--seeds", "1,1"], ["--method", "pca"]):
        res = runner.invoke(app, ["solve", "harmonic2d", "-o", str(tmp_path / "r.h5"), *args])
        assert res.exit_code == 2, (args, res.output)
    assert not list(tmp_path.iterdir())  # nothing trained, nothing written
    assert seed_output_path(tmp_path / "runs" / "h.h5", 2) == tmp_path / "runs" / "h-seed2.h5"


def test_errors_figure_pools_seeds_per_method(short_run_file, tmp_path):
    """Two copies named NAME-seed0/1 are one series (one bar per mode) with min-max whiskers;
    a third file of another name is a second series."""
    import shutil

    from nsvd_cli.files.results import load
    from nsvd_cli.plotting import errors_figure

    paths = [tmp_path / "h-seed0.h5", tmp_path / "h-seed1.h5", tmp_path / "other.h5"]
    for p in paths:
        shutil.copy(short_run_file, p)
    runs = [load(p) for p in paths]
    fig = errors_figure(runs)
    ax = fig.axes[0]
    bars = [c for c in ax.containers if c.__class__.__name__ == "BarContainer"]
    assert len(bars) == 2 and all(len(b) == len(runs[0].metrics["relative_error"]) for b in bars)
    assert any(c.__class__.__name__ == "ErrorbarContainer" for c in ax.containers)
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts[0].startswith("h (2 seeds") and texts[1].startswith("other (mean")


# ------------------------------------------------- scoring: each method's eigenfunctions (issue 14)

class _Oscillator(torch.nn.Module):
    """The six lowest eigenfunctions of H = -∇² + x² + y² (harmonic2d, E = 2, 4, 4, 6, 6, 6), written
    out from the Hermite functions h0 = π^(-1/4) e^(-x²/2), h1 = √2 x h0, h2 = (2x² - 1)/√2 h0, then
    times a fixed (6, 6) matrix ``mix``: the model outputs are Φ·mix."""

    def __init__(self, mix):
        super().__init__()
        self.register_buffer("mix", torch.as_tensor(mix, dtype=torch.float64))

    def forward(self, x):
        def h(t):
            h0 = np.pi ** -0.25 * torch.exp(-0.5 * t * t)
            return h0, np.sqrt(2.0) * t * h0, (2 * t * t - 1) / np.sqrt(2.0) * h0
        (a0, a1, a2), (b0, b1, b2) = h(x[:, 0]), h(x[:, 1])
        phi = torch.stack([a0 * b0, a1 * b0, a0 * b1, a2 * b0, a1 * b1, a0 * b2], 1)
        return phi @ self.mix.to(phi.dtype)


def _oscillator_problem(method):
    from nsvd_cli.problem import Problem
    from nsvd_cli.spec import load_spec

    return Problem.from_spec(load_spec("harmonic2d", overrides={"modes": 6, "training.method": method}))


EXACT_E = np.array([2.0, 4.0, 4.0, 6.0, 6.0, 6.0])
EXACT_LAMBDA = 16.0 - EXACT_E  # T = -H + 16 (harmonic2d: scale 1, shift 16)


def _assert_exact(ev):
    """Exact to the rule's precision (24-node Gauss-Legendre panels on [-5, 5]², ~1e-8 here)."""
    assert np.allclose(ev.energies, EXACT_E, rtol=1e-7)
    assert np.max(ev.relative_errors) < 1e-7 and np.max(ev.angle_distances) < 1e-4
    assert np.max(ev.subspace_distances) < 1e-8 and ev.orthogonality < 1e-8


def test_lora_is_scored_on_the_ritz_rotation_of_its_span():
    """LoRA's optimum f = Φ Λ^(1/2) Q (Theorem 3.1) with a random orthogonal Q mixing all six levels:
    scored raw (as NestedLoRA would be) its energies are mixtures; after the Ritz rotation they are
    the exact 2, 4, 4, 6, 6, 6 and the functions the exact ones, unit-normalised (LoRA has no norm
    estimate: nsvd_cli.methods.NORM_ESTIMATE), so the verdict passes every mode."""
    from nsvd_cli.evaluate import evaluate_model
    from nsvd_cli.verdict import judge

    q, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((6, 6)))
    model = _Oscillator(np.diag(np.sqrt(EXACT_LAMBDA)) @ q)
    raw = evaluate_model(model, _oscillator_problem("nestedlora"))
    assert raw.rotation is None and np.max(np.abs(raw.energies - EXACT_E)) > 0.1
    ev = evaluate_model(model, _oscillator_problem("lora"))
    _assert_exact(ev)
    assert np.all(np.isnan(ev.norm_eigenvalues))
    # the rotation is Qᵀ Λ^(-1/2) up to a rotation inside each degenerate level: Q R Λ^(1/2) is block-orthogonal
    blocks = q @ ev.rotation * np.sqrt(EXACT_LAMBDA)
    for g in ([0], [1, 2], [3, 4, 5]):
        block = blocks[np.ix_(g, g)]
        assert np.allclose(block.T @ block, np.eye(len(g)), atol=1e-9)
    v = judge(ev.eigenvalues, ev.norm_eigenvalues, ev.gram, residuals=ev.residuals)
    assert v.all_converged and np.all(np.isnan(v.agreement))


def test_spin_and_neuralef_are_scored_without_a_norm_estimate():
    """SpIN's outputs φ = Φ U (U upper triangular: mode l mixes levels ≤ l) become Φ after the
    Cholesky orthonormalisation; NeuralEF's Φ diag(c) after unit normalisation. Neither has a norm
    estimate (NaN): the verdict judges them on the other signals and passes them although ‖φ‖² is
    far from λ."""
    from nsvd_cli.evaluate import evaluate_model
    from nsvd_cli.verdict import judge

    u = np.triu(np.random.default_rng(4).standard_normal((6, 6))) + 3 * np.eye(6)
    for method, mix in (("spin", u), ("neuralef", np.diag([0.1, 3.0, 0.5, 7.0, 1.0, 0.2]))):
        ev = evaluate_model(_Oscillator(mix), _oscillator_problem(method))
        _assert_exact(ev)
        assert np.all(np.isnan(ev.norm_eigenvalues)) and np.all(np.isnan(ev.norm_energies))
        v = judge(ev.eigenvalues, ev.norm_eigenvalues, ev.gram, residuals=ev.residuals)
        assert v.all_converged and not v.vanishing.any(), (method, v.reasons)


def test_unit_normalised_methods_keep_modes_above_the_shift_in_the_ritz_span():
    """With shift 5 the third level (E = 6) has λ = 5 - 6 < 0. SpIN's and NeuralEF's outputs are
    unit-normalised, so such a mode is no vanishing NestedLoRA mode: Rayleigh–Ritz keeps all six
    functions and gives the exact 2, 4, 4, 6, 6, 6 (before: 3 "dropped", NaN Ritz values, "no
    bound"). NestedLoRA still leaves its λ ≤ 0 modes out."""
    from nsvd_cli.evaluate import evaluate_model
    from nsvd_cli.problem import Problem
    from nsvd_cli.spec import load_spec

    def problem(method):
        return Problem.from_spec(load_spec("harmonic2d", overrides={"modes": 6, "shift": 5.0,
                                                                    "training.method": method}))

    u = np.triu(np.random.default_rng(4).standard_normal((6, 6))) + 3 * np.eye(6)
    for method, mix in (("spin", u), ("neuralef", np.diag([0.1, 3.0, 0.5, 7.0, 1.0, 0.2]))):
        ev = evaluate_model(_Oscillator(mix), problem(method))
        assert np.all(ev.eigenvalues[3:] < 0)
        assert ev.ritz_dropped == 0, method
        np.testing.assert_allclose(ev.ritz_energies, EXACT_E, rtol=1e-7)
    ev = evaluate_model(_Oscillator(np.eye(6)), problem("nestedlora"))
    assert ev.ritz_dropped == 3 and np.all(np.isnan(ev.ritz_energies[3:]))


def test_verdict_without_norm_estimate_judges_nonpositive_modes_on_the_other_signals():
    from nsvd_cli.verdict import judge

    lam = np.array([3.0, -1.0])
    v = judge(lam, np.full(2, np.nan), np.eye(2))
    assert v.all_converged and not v.vanishing.any() and np.all(np.isnan(v.agreement))
    v = judge(lam, np.full(2, np.nan), np.eye(2), bound=np.array([True, True]))
    assert v.reasons == ["", "λ ≤ 0 for a level with λ > 0"]
    v = judge(np.array([3.0, 2.9]), np.full(2, np.nan), np.array([[1.0, 0.5], [0.5, 1.0]]))
    assert v.reasons == ["", "overlap"]


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory):
    """A short harmonic2d LoRA run (3 modes, 150 iterations) read back."""
    from nsvd_cli.files.results import load
    from nsvd_cli.solve import solve
    from nsvd_cli.spec import load_spec

    spec = load_spec("harmonic2d", overrides={"training.iterations": 150, "training.eval_every": 50,
                                              "training.batch_size": 128, "model.hidden": [32, 32],
                                              "model.fourier_features": 16, "modes": 3, "training.method": "lora"})
    path = tmp_path_factory.mktemp("lora") / "lora.h5"
    solve(spec, path)
    return load(path)


def test_lora_file_is_ritz_ordered_and_returns_the_ritz_functions(lora_run):
    """The file's energies, errors and eigenfunctions are those of Rayleigh–Ritz on the span of the
    raw outputs, done here by hand (autograd gradients, H = -∇² + r², scipy's generalized eigh);
    the errors figure plots those errors."""
    import scipy.linalg

    from nsvd_cli.plotting import errors_figure
    from nsvd_cli.problem import Problem

    problem = Problem.from_spec(lora_run.spec)
    x = torch.as_tensor(problem.quadrature.points).requires_grad_(True)
    w = problem.quadrature.weights
    f = lora_run.model(x)
    grads = torch.stack([torch.autograd.grad(f[:, l].sum(), x, retain_graph=True)[0] for l in range(3)], 1)
    f, grads = f.detach().numpy(), grads.numpy()
    r2 = (problem.quadrature.points ** 2).sum(1)
    h = np.einsum("n,nid,njd->ij", w, grads, grads) + np.einsum("n,n,ni,nj->ij", w, r2, f, f)
    s = np.einsum("n,ni,nj->ij", w, f, f)
    rho, c = scipy.linalg.eigh(h, s)
    np.testing.assert_allclose(lora_run.energies, rho, rtol=1e-8)
    ref_lambda = 16.0 - np.array([2.0, 4.0, 4.0])
    np.testing.assert_allclose(lora_run.metrics["relative_error"], np.abs(16.0 - rho - ref_lambda) / ref_lambda,
                               rtol=1e-6)
    psi = lora_run.eigenfunctions(problem.quadrature.points)  # default: the Ritz functions, unit norm
    np.testing.assert_allclose(np.einsum("n,ni,nj->ij", w, psi, psi), np.eye(3), atol=1e-8)
    np.testing.assert_allclose(np.abs(np.einsum("n,ni,ni->i", w, psi, f @ c)), 1.0, rtol=1e-7)
    np.testing.assert_allclose(lora_run.eigenfunctions(problem.quadrature.points, raw=True), f, rtol=1e-12)
    bars = [c for c in errors_figure([lora_run]).axes[0].containers if c.__class__.__name__ == "BarContainer"]
    np.testing.assert_allclose([p.get_height() for p in bars[0]], lora_run.metrics["relative_error"], rtol=1e-12)


def test_errors_figure_re_evaluates_a_lora_file_without_rotation(lora_run, tmp_path):
    """A LoRA file written before /rotation (its stored errors are of the raw outputs; here
    overwritten with 0.5) is plotted with the errors of its Ritz functions."""
    import shutil

    import h5py

    from nsvd_cli.files.results import load
    from nsvd_cli.plotting import errors_figure

    old = tmp_path / "old.h5"
    shutil.copy(lora_run.path, old)
    with h5py.File(old, "r+") as h:
        del h["rotation"]
        h["metrics/relative_error"][...] = 0.5
    run = load(old)
    assert run.rotation is None
    bars = [c for c in errors_figure([run]).axes[0].containers if c.__class__.__name__ == "BarContainer"]
    np.testing.assert_allclose([p.get_height() for p in bars[0]], lora_run.metrics["relative_error"], rtol=1e-9)
