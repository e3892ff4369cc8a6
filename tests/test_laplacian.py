"""Laplacian backends and the Schrödinger operator against closed forms."""

import math

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


def test_hamiltonian_on_harmonic_ground_state(generator):
    """H = -Lap + |x|^2 on exp(-|x|^2/2) gives E = D = 2; T = 2*(-H + 16) gives 28."""
    fn = lambda y: torch.exp(-0.5 * (y * y).sum(-1, keepdim=True))  # noqa: E731
    x = torch.randn(100, 2, generator=generator, dtype=torch.float64)
    ham = Hamiltonian(harmonic([1.0, 1.0]), 1.0, "exact")
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
