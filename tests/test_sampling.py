"""Sampling distributions: densities integrate to one, moments match."""

import numpy as np
import pytest
import torch

from nsvd_cli.quadrature import gauss_legendre_box
from nsvd_cli.sampling import GaussianSampling, MixtureSampling, UniformSampling


@pytest.mark.parametrize("dist", [GaussianSampling(2, 1.5), MixtureSampling(2, [0.5, 2.0, 4.0], [1, 2, 1])])
def test_density_normalised(dist):
    q = gauss_legendre_box([(-30, 30), (-30, 30)], 40, 6)
    p = torch.exp(dist.log_density(torch.as_tensor(q.points))).numpy()
    assert np.sum(q.weights * p) == pytest.approx(1.0, rel=1e-8)


def test_mixture_second_moment(generator):
    # E|x|^2 = D * sum_k a_k s_k^2 = 2 * (0.25 * 0.25 + 0.5 * 4 + 0.25 * 16) = 12.125
    d = MixtureSampling(2, [0.5, 2.0, 4.0], [1, 2, 1])
    x = d.sample(400_000, generator, dtype=torch.float64)
    assert (x * x).sum(1).mean().item() == pytest.approx(12.125, rel=0.01)


def test_uniform(generator):
    d = UniformSampling([(0.0, 2.0), (-1.0, 1.0)])
    x = d.sample(1000, generator)
    assert x[:, 0].min() >= 0 and x[:, 0].max() <= 2 and x[:, 1].abs().max() <= 1
    assert torch.allclose(d.log_density(x[:3].double()), torch.full((3,), -np.log(4.0), dtype=torch.float64))
    assert d.log_density(torch.tensor([[3.0, 0.0]])).item() == -np.inf
