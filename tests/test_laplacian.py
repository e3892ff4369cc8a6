"""Laplacian backends and the Schrödinger operator against closed forms."""

import math

import numpy as np

import pytest
import torch

from nsvd_cli.laplacian import laplacian_exact, laplacian_fd
from nsvd_cli.operators import Hamiltonian, ShiftedOperator
from nsvd_cli.potentials import coulomb, harmonic


def _fn(x):
    r2 = (x * x).sum(-1)
    return torch.stack([torch.exp(-r2), torch.sin(x[:, 0]) * x[:, 1] ** 3], dim=-1)


def _lap_closed_form(x):
    r2 = (x * x).sum(-1)
    d = x.shape[1]
    s = torch.sin(x[:, 0])
    return torch.stack([torch.exp(-r2) * (4 * r2 - 2 * d), -s * x[:, 1] ** 3 + 6 * s * x[:, 1]], dim=-1)


def test_fd_laplacian_second_order(generator):
    x = torch.randn(200, 2, generator=generator, dtype=torch.float64)
    exact = _lap_closed_form(x)
    e1 = (laplacian_fd(_fn, x, 1e-2)[1] - exact).abs().max()
    e2 = (laplacian_fd(_fn, x, 5e-3)[1] - exact).abs().max()
    assert e1 < 1e-3
    assert 3.5 < e1 / e2 < 4.5  # O(h^2)


def test_exact_laplacian_matches_closed_form(generator):
    x = torch.randn(200, 3, generator=generator, dtype=torch.float64)
    vals, lap = laplacian_exact(_fn, x)
    assert torch.allclose(vals, _fn(x))
    assert torch.allclose(lap, _lap_closed_form(x), atol=1e-12)


def test_fd_uses_the_steps_actually_taken():
    """In float32, x + h and x - h round to unequal steps where the stencil crosses a power
    of two (ulp doubles at 64). The unequal-step formula keeps the first derivative out:
    the Laplacian of a linear function stays 0, the naive (f+ + f- - 2f)/h^2 does not."""
    x = torch.zeros(64, 2)
    x[:, 0] = 64.0 + torch.linspace(-0.009, 0.009, 64)
    lin = lambda y: 3 * (y[:, :1] - 64.0)  # noqa: E731
    h = 0.01
    step = torch.tensor([h, 0.0])
    naive = (lin(x + step) + lin(x - step) - 2 * lin(x)) / h**2
    assert naive.abs().max() > 0.05
    assert laplacian_fd(lin, x, h)[1].abs().max() < 1e-3


@pytest.mark.parametrize("backend", ["exact", "forward"])
def test_hamiltonian_on_harmonic_ground_state(backend, generator):
    """H = -Lap + |x|^2 on exp(-|x|^2/2) gives E = D = 2; T = 2*(-H + 16) gives 28."""
    fn = lambda y: torch.exp(-0.5 * (y * y).sum(-1, keepdim=True))  # noqa: E731
    x = torch.randn(100, 2, generator=generator, dtype=torch.float64)
    ham = Hamiltonian(harmonic([1.0, 1.0]), 1.0, backend)
    psi, hpsi = ham.apply(fn, x)
    assert torch.allclose(hpsi, 2.0 * psi)
    op = ShiftedOperator(ham, shift=16.0, scale=2.0)
    logw = torch.zeros(100, dtype=torch.float64)
    f, tf = op.apply(fn, x, logw)
    assert torch.allclose(tf, 28.0 * f)


def test_importance_weighting(generator):
    """f = psi / sqrt(w), Tf = (T psi) / sqrt(w)."""
    fn = lambda y: torch.exp(-0.5 * (y * y).sum(-1, keepdim=True))  # noqa: E731
    x = torch.randn(10, 2, generator=generator, dtype=torch.float64)
    logw = torch.full((10,), math.log(0.25), dtype=torch.float64)
    op = ShiftedOperator(Hamiltonian(harmonic([1.0, 1.0]), 1.0, "exact"), shift=0.0, scale=1.0)
    f, tf = op.apply(fn, x, logw)
    assert torch.allclose(f, 2 * fn(x))
    assert torch.allclose(tf, -2.0 * f)


def test_coulomb_guarded_at_nucleus():
    x = torch.zeros(3, 2)
    x[1, 0] = 1e-9
    v = coulomb(1.0)(x)
    assert torch.isfinite(v).all()
    assert coulomb(2.0)(torch.tensor([[3.0, 4.0]])).item() == pytest.approx(-0.4)
    assert coulomb(1.0, softening=1.0)(torch.zeros(1, 2)).item() == pytest.approx(-1.0)
    fn = lambda y: torch.exp(-(y * y).sum(-1, keepdim=True).sqrt())  # noqa: E731
    _, hpsi = Hamiltonian(coulomb(1.0), 1.0, "fd", 0.01).apply(fn, x)
    assert torch.isfinite(hpsi).all()


# --- the forward Laplacian (value, D first derivatives and Laplacian in one pass) ---------

from nsvd_cli.laplacian import laplacian_forward, laplacian_vmap  # noqa: E402
from nsvd_cli.models import build_model  # noqa: E402
from nsvd_cli.sampling import MixtureSampling  # noqa: E402
from nsvd_cli.spec import ModelSpec  # noqa: E402

ENVELOPES = ("sampling", "gaussian", "exponential", "box", "none", "gaussian-quartic")


def _autograd_laplacian(fn, x, create_graph=False):
    """Reference: the Hessian diagonal by reverse-mode autograd (independent of forward mode)."""
    x = x.detach().clone().requires_grad_(True)
    y = fn(x)
    lap = []
    for m in range(y.shape[1]):
        (g,) = torch.autograd.grad(y[:, m].sum(), x, create_graph=True)
        lap.append(sum(torch.autograd.grad(g[:, d].sum(), x, create_graph=create_graph, retain_graph=True)[0][:, d]
                       for d in range(x.shape[1])))
    return y, torch.stack(lap, dim=-1)


def _tiny_model(dim, generator, architecture="disjoint", activation="softplus", envelope="gaussian", **kw):
    """A float64 model with perturbed parameters (non-trivial learnable envelope widths)."""
    box = {"envelope_box": [(-3.0, 3.5)] * dim} if envelope == "box" else {}
    spec = ModelSpec(architecture=architecture, activation=activation, envelope=envelope, hidden=(8, 8),
                     fourier_features=6, fourier_scales=(0.3, 1.0), radial_feature=True, **box, **kw)
    sampling = MixtureSampling(dim, [0.5, 2.0], [0.3, 0.7])
    model = build_model(dim, 3, spec, generator, sampling.log_density).double()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=generator, dtype=p.dtype))
    return model


@pytest.mark.parametrize("envelope", ENVELOPES)
@pytest.mark.parametrize("activation", ["softplus", "tanh", "silu"])
@pytest.mark.parametrize("architecture", ["disjoint", "shared"])
def test_forward_laplacian_equals_autograd(architecture, activation, envelope, generator):
    for dim in (1, 3, 7):
        model = _tiny_model(dim, generator, architecture, activation, envelope)
        x = 1.5 * torch.randn(40, dim, generator=generator, dtype=torch.float64)
        ref_values, ref_lap = _autograd_laplacian(model, x)
        # with a graph (cat) and without one (laplacian_forward: the jet updated in place)
        for values, lap in (model.value_and_laplacian(x), laplacian_forward(model, x)):
            assert torch.allclose(values, ref_values, rtol=1e-12, atol=1e-14)
            assert (lap - ref_lap).abs().max() <= 1e-11 * ref_lap.abs().max(), (dim, (lap - ref_lap).abs().max())


def test_forward_laplacian_of_one_hidden_layer_tanh_network(generator):
    """psi(x) = sum_j c_j tanh(w_j . x + b_j) + c_0 (input x only, no envelope):
    lap psi = sum_j c_j |w_j|^2 tanh''(u_j), tanh'' = -2 t (1 - t^2)."""
    dim, width = 4, 5
    spec = ModelSpec(architecture="shared", activation="tanh", envelope="none", hidden=(width,), fourier_features=0)
    model = build_model(dim, 1, spec, generator).double()
    w = torch.randn(dim, width, generator=generator, dtype=torch.float64)
    b, c = torch.randn(width, generator=generator, dtype=torch.float64), torch.randn(width, 1, generator=generator,
                                                                                    dtype=torch.float64)
    with torch.no_grad():
        model.mlp.weights[0].copy_(w), model.mlp.biases[0].copy_(b)
        model.mlp.weights[1].copy_(c), model.mlp.biases[1].fill_(0.7)
    x = torch.randn(30, dim, generator=generator, dtype=torch.float64)
    t = torch.tanh(x @ w + b)
    expected = (-2 * t * (1 - t * t) * (w * w).sum(0)) @ c
    values, lap = laplacian_forward(model, x)
    assert torch.allclose(values, t @ c + 0.7, atol=1e-13)
    assert torch.allclose(lap, expected, atol=1e-12)


@pytest.mark.parametrize("envelope", ENVELOPES)
@pytest.mark.parametrize("architecture", ["disjoint", "shared"])
def test_one_pass_gradients_equal_reverse_mode_autograd(architecture, envelope, generator):
    """value_gradient_laplacian's gradients (used by the evaluation) against reverse-mode autograd."""
    from nsvd_cli.evaluate import model_values_and_gradients
    from nsvd_cli.models import value_gradient_laplacian

    for dim in (1, 4):
        model = _tiny_model(dim, generator, architecture, "softplus", envelope)
        x = 1.5 * torch.randn(30, dim, generator=generator, dtype=torch.float64).requires_grad_(True)
        y = model(x)
        ref = torch.stack([torch.autograd.grad(y[:, m].sum(), x, retain_graph=True)[0] for m in range(y.shape[1])], 1)
        with torch.no_grad():
            values, grads, _ = value_gradient_laplacian(model, x.detach())
        assert grads.shape == ref.shape == (30, 3, dim)
        assert torch.allclose(values, y.detach(), rtol=1e-12, atol=1e-14)
        assert (grads - ref).abs().max() <= 1e-11 * ref.abs().max()
        v_np, g_np = model_values_and_gradients(model, x.detach().numpy())
        assert abs(g_np - ref.numpy()).max() <= 1e-11 * ref.abs().max().item()


@pytest.mark.parametrize("envelope", ["gaussian", "exponential", "box", "gaussian-quartic"])
def test_forward_laplacian_of_envelopes(envelope, generator):
    """A constant network (zero output weights, bias 1) leaves the envelope alone:
    gaussian exp(-r^2/2a^2): (r^2/a^4 - D/a^2) e; exponential exp(-r/a): (1/a^2 - (D-1)/(a r)) e;
    box prod_i q_i, q_i = (x_i - lo)(hi - x_i)/h^2: sum_i (-2/h^2) prod_{j!=i} q_j;
    gaussian-quartic exp(-r^2/2a^2 - sum x_i^4/4b^4): d_i log e = -x_i/a^2 - x_i^3/b^4,
    d_ii log e = -1/a^2 - 3 x_i^2/b^4, lap e = sum_i ((d_i log e)^2 + d_ii log e) e."""
    dim, a, b, lo, hi = 3, 1.7, 1.3, -1.0, 2.0
    extra = {"envelope_quartic_width": b} if envelope == "gaussian-quartic" else {}
    model = _tiny_model(dim, generator, envelope=envelope, envelope_width=a, **extra)
    if envelope == "box":
        model.box_low.fill_(lo), model.box_high.fill_(hi)
    with torch.no_grad():
        model.mlp.weights[-1].zero_(), model.mlp.biases[-1].fill_(1.0)
        if envelope != "box":
            model.log_width.zero_()
        if envelope == "gaussian-quartic":
            model.log_quartic_width.zero_()
    x = torch.randn(25, dim, generator=generator, dtype=torch.float64)
    r2 = (x * x).sum(-1, keepdim=True)
    r = r2.sqrt()
    if envelope == "gaussian":
        e = torch.exp(-r2 / (2 * a * a))
        expected = (r2 / a**4 - dim / a**2) * e
    elif envelope == "exponential":
        e = torch.exp(-r / a)
        expected = (1 / a**2 - (dim - 1) / (a * r)) * e
    elif envelope == "gaussian-quartic":
        e = torch.exp(-r2 / (2 * a * a) - (x**4).sum(-1, keepdim=True) / (4 * b**4))
        first, second = -x / a**2 - x**3 / b**4, -1 / a**2 - 3 * x**2 / b**4
        expected = (first**2 + second).sum(-1, keepdim=True) * e
    else:
        h2 = ((hi - lo) / 2) ** 2
        q = (x - lo) * (hi - x) / h2
        e = q.prod(-1, keepdim=True)
        expected = sum(-2 / h2 * torch.cat([q[:, :i], q[:, i + 1:]], 1).prod(-1, keepdim=True) for i in range(dim))
    values, lap = model.value_and_laplacian(x)
    assert torch.allclose(values, e.expand(-1, 3), atol=1e-14)
    assert torch.allclose(lap, expected.expand(-1, 3), atol=1e-12)


@pytest.mark.parametrize("architecture,activation,envelope", [("disjoint", "softplus", "gaussian"),
                                                              ("shared", "silu", "sampling"),
                                                              ("disjoint", "tanh", "box")])
def test_forward_laplacian_parameter_gradients(architecture, activation, envelope, generator):
    """d/dtheta of a scalar loss of the Laplacian: forward-Laplacian graph vs third-order autograd."""
    model = _tiny_model(3, generator, architecture, activation, envelope)
    x = torch.randn(20, 3, generator=generator, dtype=torch.float64)
    weights = torch.randn(20, 3, generator=generator, dtype=torch.float64)
    params = [p for p in model.parameters()]

    def grads(lap):
        return torch.autograd.grad((weights * lap).sum() + (lap**2).mean(), params)

    ours = grads(model.value_and_laplacian(x)[1])
    ref = grads(_autograd_laplacian(model, x, create_graph=True)[1])
    for g, r in zip(ours, ref):
        assert torch.allclose(g, r, rtol=1e-9, atol=1e-11)


def test_forward_laplacian_falls_back_for_other_functions(generator):
    """A plain function (no value_and_laplacian) goes through laplacian_vmap: exact."""
    x = torch.randn(50, 3, generator=generator, dtype=torch.float64)
    for backend in (laplacian_forward, laplacian_vmap):
        values, lap = backend(_fn, x)
        assert torch.allclose(values, _fn(x))
        assert torch.allclose(lap, _lap_closed_form(x), atol=1e-12)


def test_forward_laplacian_in_float32_is_exact_to_rounding(generator):
    """float32 forward Laplacian vs the same model in float64: relative error ~1e-6 (rounding),
    where central differences carry their truncation or rounding error (~1e-3 here)."""
    import copy

    model = _tiny_model(8, generator, envelope="gaussian").float()
    x = 1.5 * torch.randn(256, 8, generator=generator)
    ref = laplacian_forward(copy.deepcopy(model).double(), x.double())[1]
    rel = lambda lap: float((lap.double() - ref).norm() / ref.norm())  # noqa: E731
    assert rel(laplacian_forward(model, x)[1]) < 1e-5
    assert rel(laplacian_fd(model, x, 0.01)[1]) > 1e-4


@pytest.mark.parametrize("name,dim,modes,expected", [("harmonic", 1, 2, [1.0, 3.0]), ("harmonic2d", 2, 3, [2.0])])
def test_short_solve_with_the_forward_laplacian(name, dim, modes, expected, tmp_path):
    """400 iterations with laplacian = "forward": the 1D oscillator's two lowest levels (1, 3)
    and the 2D ground state (2) to 1.5 % (measured: 0.06 %, 1.0 %, 0.07 %; the 2D excited pair
    needs more iterations, with either Laplacian)."""
    from nsvd_cli.solve import solve
    from nsvd_cli.spec import load_spec

    overrides = {"training.iterations": 400, "training.eval_every": 400, "training.batch_size": 256,
                 "training.laplacian": "forward", "model.hidden": [32, 32], "model.fourier_features": 16,
                 "modes": modes}
    spec = load_spec(name, dimension=dim if name == "harmonic" else None, overrides=overrides)
    result = solve(spec, tmp_path / "run.h5")
    assert result.problem.spec.training.laplacian == "forward"
    assert result.evaluation.energies[:len(expected)] == pytest.approx(expected, rel=0.015)


def test_user_specs_derive_the_forward_laplacian_and_keep_an_explicit_one():
    from nsvd_cli.defaults import derive_defaults
    from nsvd_cli.spec import parse_spec

    data = {"name": "u", "dimension": 2, "potential": "x0**2 + x1**2", "shift": 20.0, "modes": 2,
            "sampling": {"kind": "gaussian", "std": 1.5}, "evaluation": {"box": [[-5, 5]] * 2}}
    spec, derived = derive_defaults(parse_spec(data))
    assert derived["training.laplacian"] == spec.training.laplacian == "forward"
    spec, derived = derive_defaults(parse_spec(dict(data, training={"laplacian": "fd"})))
    assert spec.training.laplacian == "fd" and "training.laplacian" not in derived


@pytest.mark.parametrize("backend", [laplacian_exact, laplacian_vmap])
def test_nested_forward_mode_works_on_every_activation(backend, generator):
    """The nested-jvp backends (``exact``, the fallback, the evaluation's residuals) trace all
    activations, silu included (torch's fused silu has no forward-over-forward rule)."""
    for activation in ("softplus", "tanh", "silu"):
        model = _tiny_model(2, generator, activation=activation)
        x = torch.randn(10, 2, generator=generator, dtype=torch.float64)
        assert torch.allclose(backend(model, x)[1], _autograd_laplacian(model, x)[1], atol=1e-11)
