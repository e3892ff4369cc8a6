"""Batched models: one pass equals the per-mode computation; envelopes; shapes."""

import torch

from nsvd_cli.models import DisjointMLP, FourierFeatures, build_model
from nsvd_cli.spec import ModelSpec


def test_disjoint_batched_pass_equals_separate_networks(generator):
    mlp = DisjointMLP(5, (7, 6), n_modes=4, activation="softplus", generator=generator).double()
    h = torch.randn(11, 5, generator=generator, dtype=torch.float64)
    out = mlp(h)
    assert out.shape == (11, 4)
    for l in range(4):  # the l-th network written out by hand
        z = h
        for k, (w, b) in enumerate(zip(mlp.weights, mlp.biases)):
            z = z @ w[l] + b[l]
            if k < len(mlp.weights) - 1:
                z = torch.nn.functional.softplus(z)
        assert torch.allclose(out[:, l], z[:, 0])


def test_disjoint_modes_have_independent_parameters(generator):
    mlp = DisjointMLP(3, (8,), n_modes=3, activation="tanh", generator=generator)
    out = mlp(torch.randn(5, 3, generator=generator))
    out[:, 1].sum().backward()
    for w in mlp.weights:
        assert w.grad[0].abs().sum() == 0 and w.grad[2].abs().sum() == 0 and w.grad[1].abs().sum() > 0


def test_fourier_features_dimension_and_scales(generator):
    ff = FourierFeatures(2, 6, [0.1, 1.0], radial=True, generator=generator)
    x = torch.randn(4, 2, generator=generator)
    out = ff(x)
    assert out.shape == (4, 2 * 6 + 2 + 1)
    assert torch.allclose(out[:, -1], x.norm(dim=1), atol=1e-6)
    norms = ff.frequencies.norm(dim=1)
    assert norms[:3].max() < norms[3:].min() * 2  # first half small scale


def test_envelopes(generator):
    x = torch.tensor([[0.0, 3.0], [4.0, 0.0]], dtype=torch.float64)
    for kind, expected in [("gaussian", torch.exp(-x.pow(2).sum(1) / (2 * 2.0**2))),
                           ("exponential", torch.exp(-x.norm(dim=1) / 2.0))]:
        m = build_model(2, 3, ModelSpec(envelope=kind, envelope_width=2.0, fourier_features=4), generator).double()
        ratio = m(x) / m.mlp(m.features(x))
        assert torch.allclose(ratio, expected[:, None].expand(-1, 3))
    logp = lambda y: -(y * y).sum(-1)  # noqa: E731
    m = build_model(2, 2, ModelSpec(envelope="sampling", fourier_features=0), generator, logp).double()
    assert torch.allclose(m(x) / m.mlp(m.features(x)), torch.exp(-0.5 * x.pow(2).sum(1))[:, None].expand(-1, 2))


def test_shared_model_shape(generator):
    m = build_model(3, 5, ModelSpec(architecture="shared", hidden=(16, 16), envelope="none"), generator)
    assert m(torch.randn(7, 3, generator=generator)).shape == (7, 5)


def _chain_spec(envelope="gaussian-normal-modes", g=0.3, kinetic=1.0):
    from nsvd_cli.spec import parse_spec

    return parse_spec({
        "name": "chain2d", "dimension": 2, "kinetic": kinetic, "shift": 10.0, "modes": 3,
        "potential": {"kind": "coupled_harmonic", "form": "chain", "coupling": g},
        "sampling": {"kind": "gaussian", "std": 1.0},
        "model": {"hidden": [8], "fourier_features": 4, "envelope": envelope, "envelope_width": 1.0},
        "evaluation": {"box": [[-5, 5], [-5, 5]], "points": 8, "panels": 2},
    })


def test_normal_mode_precision_of_a_coupled_chain():
    """A = [[1, g], [g, 1]]: normal modes (1, ±1)/√2 with a = 1 ± g, so by hand
    M = sqrt(A/κ) = ½ [[p + q, p − q], [p − q, p + q]], p = √((1+g)/κ), q = √((1−g)/κ)."""
    import math

    import numpy as np

    from nsvd_cli.problem import Problem

    for kappa in (1.0, 0.5):
        m = Problem.from_spec(_chain_spec(kinetic=kappa)).envelope_precision
        p, q = math.sqrt(1.3 / kappa), math.sqrt(0.7 / kappa)
        assert np.allclose(m, 0.5 * np.array([[p + q, p - q], [p - q, p + q]]), atol=1e-12)


def test_normal_mode_precision_from_the_hessian_and_refusal_without_a_well():
    """Other kinds: central differences of V at 0. V = ω₁² x² + ω₂² y² (harmonic) gives
    M = diag(ω₁, ω₂)/√κ; a pure quartic has no harmonic well there: refused."""
    import numpy as np
    import pytest

    from nsvd_cli.problem import Problem
    from nsvd_cli.spec import parse_spec

    base = {"name": "w", "dimension": 2, "shift": 10.0, "modes": 2, "sampling": {"kind": "gaussian", "std": 1.0},
            "evaluation": {"box": [[-5, 5], [-5, 5]], "points": 8, "panels": 2}}
    spec = parse_spec({**base, "kinetic": 0.5, "potential": {"kind": "harmonic", "omega": [1.0, 2.0]}})
    assert np.allclose(Problem.from_spec(spec).envelope_precision, np.diag([1.0, 2.0]) / np.sqrt(0.5), atol=1e-6)
    quartic = parse_spec({**base, "potential": {"kind": "quartic", "quadratic": 0.0, "quartic": 1.0}})
    with pytest.raises(ValueError, match="harmonic well"):
        Problem.from_spec(quartic).envelope_precision
    from nsvd_cli.errors import SpecError

    refused = parse_spec({**base, "potential": {"kind": "quartic", "quadratic": 0.0, "quartic": 1.0},
                          "model": {"envelope": "gaussian-normal-modes"}})
    with pytest.raises(SpecError) as err:  # before training, naming the field
        Problem.from_spec(refused).check()
    assert err.value.field == "model.envelope"


def test_normal_mode_envelope_values_derivatives_and_reload(generator):
    """envelope exp(-xᵀMx/2): the model equals MLP × that Gaussian; the one-pass gradient and
    Laplacian equal autograd's; the stored weights carry M (a model rebuilt without it loads it)."""
    import numpy as np

    from nsvd_cli.models import value_gradient_laplacian
    from nsvd_cli.problem import Problem

    spec = _chain_spec()
    m_np = Problem.from_spec(spec).envelope_precision
    model = build_model(2, 3, spec.model, generator, None, m_np).double()
    m = torch.as_tensor(m_np)
    x = torch.randn(6, 2, generator=generator, dtype=torch.float64, requires_grad=True)
    gauss = torch.exp(-0.5 * ((x @ m) * x).sum(-1, keepdim=True))
    assert torch.allclose(model(x), model.mlp(model.features(x)) * gauss)
    values, grads, laps = value_gradient_laplacian(model, x)
    for l in range(3):
        (g,) = torch.autograd.grad(model(x)[:, l].sum(), x, create_graph=True)
        lap = sum(torch.autograd.grad(g[:, i].sum(), x, retain_graph=True)[0][:, i] for i in range(2))
        assert torch.allclose(grads[:, l], g) and torch.allclose(laps[:, l], lap)
    fresh = build_model(2, 3, spec.model, torch.Generator().manual_seed(5)).double()
    assert torch.equal(fresh.envelope_precision, torch.eye(2, dtype=torch.float64))
    fresh.load_state_dict(model.state_dict())
    assert np.allclose(fresh.envelope_precision.numpy(), m_np)
