"""Quadrature rules checked against integrals known in closed form."""

import math

import numpy as np
import pytest

from nsvd_cli.quadrature import (gauss_legendre_box, make_quadrature, monte_carlo_box, polar_panel_edges,
                                 polar_quadrature)
from nsvd_cli.spec import EvaluationSpec


def integrate(q, f):
    return q.weights @ f(q.points)


def test_gauss_legendre_gaussian_and_shape():
    q = gauss_legendre_box([(-8.0, 8.0)] * 2, 24, 4)
    assert q.points.shape == (96**2, 2) and q.weights.shape == (96**2,)
    assert integrate(q, lambda x: np.exp(-(x**2).sum(1))) == pytest.approx(math.pi, abs=1e-12)


def test_gauss_legendre_polynomials_exact():
    # int_0^1 x^4 dx * int_{-1}^{2} y^2 dy = (1/5) * 3; 3 nodes are exact up to degree 5
    q = gauss_legendre_box([(0.0, 1.0), (-1.0, 2.0)], 3)
    assert integrate(q, lambda x: x[:, 0] ** 4 * x[:, 1] ** 2) == pytest.approx(0.6, abs=1e-14)
    # composite: midpoint rule on 2 panels integrates the kink |x| on [-1, 1] exactly, and 3D volume
    q1 = gauss_legendre_box([(-1.0, 1.0)], 1, panels=2)
    assert integrate(q1, lambda x: np.abs(x[:, 0])) == pytest.approx(1.0, abs=1e-15)
    q3 = gauss_legendre_box([(0, 1), (0, 2), (-1, 2)], 2, panels=3)
    assert len(q3) == 6**3 and q3.weights.sum() == pytest.approx(6.0, abs=1e-13)


def test_polar_panels_and_nodes():
    edges = polar_panel_edges(100.0, 8)
    assert edges[0] == 0 and edges[1] == pytest.approx(1.0) and edges[-1] == pytest.approx(100.0)
    assert np.all(np.diff(np.diff(edges[1:])) > 0)  # geometric grading
    q = polar_quadrature(2.0, 6, 3, 8)
    r = np.hypot(q.points[:, 0], q.points[:, 1])
    assert len(q) == 6 * 3 * 8 and r.min() > 0 and r.max() < 2.0


def test_polar_integrals():
    q = polar_quadrature(150.0, 32, 8, 32)
    r = lambda x: np.hypot(x[:, 0], x[:, 1])  # noqa: E731
    assert integrate(q, lambda x: np.exp(-r(x))) == pytest.approx(2 * math.pi, abs=1e-10)
    # disc of radius 2: int x^2 = pi R^4 / 4; int x^4 y^2 = pi R^8 / 64 (trig exactness in theta)
    d = polar_quadrature(2.0, 6, 3, 16)
    assert integrate(d, lambda x: x[:, 0] ** 2) == pytest.approx(4 * math.pi, rel=1e-13)
    assert integrate(d, lambda x: x[:, 0] ** 4 * x[:, 1] ** 2) == pytest.approx(4 * math.pi, rel=1e-13)


def test_monte_carlo_box():
    box = [(-1.0, 3.0), (0.0, 0.5), (2.0, 7.0)]
    q = monte_carlo_box(box, 20_000, seed=3)
    lo, hi = np.array(box).T
    assert q.weights.sum() == pytest.approx(10.0, rel=1e-12) and np.all(q.weights == 10.0 / 20_000)
    assert np.all((q.points >= lo) & (q.points <= hi))
    np.testing.assert_array_equal(q.points, monte_carlo_box(box, 20_000, seed=3).points)
    # int x_1 over the box = volume * mean = 10 * 1; MC error ~ 10 * 1.15 / sqrt(2e4) = 0.08
    assert integrate(q, lambda x: x[:, 0]) == pytest.approx(10.0, abs=0.4)


def test_make_quadrature():
    box = ((-50.0, 60.0), (-40.0, 45.0))
    gl = make_quadrature(EvaluationSpec(box=box, quadrature="gauss-legendre", points=5, panels=2))
    assert len(gl) == 100 and gl.weights.sum() == pytest.approx(110 * 85, rel=1e-13)
    pol = make_quadrature(EvaluationSpec(box=box, quadrature="polar", points=4, panels=3, angles=8))
    assert len(pol) == 4 * 3 * 8
    assert pol.weights.sum() == pytest.approx(math.pi * 40.0**2, rel=1e-13)  # largest centred disc
    mc = make_quadrature(EvaluationSpec(box=box, quadrature="monte-carlo", samples=1000))
    assert len(mc) == 1000 and mc.weights.sum() == pytest.approx(110 * 85, rel=1e-12)
