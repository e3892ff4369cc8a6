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
