"""Metrics of App. E.1.3 against hand-computed cases."""

import numpy as np
import pytest

from nsvd_cli import metrics


def _orthonormal(n, k, seed=0):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, k)))
    return q


def test_procrustes_undoes_a_rotation():
    b = _orthonormal(50, 3)
    rot = _orthonormal(3, 3, seed=1)
    a = b @ rot.T
    omega = metrics.procrustes_rotation(a, b)
    assert np.allclose(a @ omega, b)
    assert np.allclose(metrics.angle_distances(a, b, [np.arange(3)]), 0, atol=1e-7)


def test_angle_distance_of_known_angle():
    b = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    theta = np.pi / 6
    a = np.array([[np.cos(theta), 0.0], [0.0, 1.0], [np.sin(theta), 0.0]])
    d = metrics.angle_distances(a, b, [np.array([0]), np.array([1])])
    assert d[0] == pytest.approx(2 / np.pi * theta)
    assert d[1] == pytest.approx(0.0, abs=1e-7)


def test_subspace_distance():
    b = _orthonormal(40, 2)
    assert metrics.subspace_distance(b @ np.array([[2.0, 1.0], [0.0, 3.0]]), b) == pytest.approx(0.0, abs=1e-12)
    e = np.eye(4)
    # spans {e0, e1} vs {e0, e2}: tr(PQ) = 1, distance 1 - 1/2
    assert metrics.subspace_distance(e[:, [0, 1]], e[:, [0, 2]]) == pytest.approx(0.5)


def test_weights_enter_as_inner_product():
    w = np.array([1.0, 4.0])
    a = np.array([[1.0, 1.0], [1.0, -0.25]])  # <a0|a1>_w = 1 - 1 = 0
    g = metrics.normalised_gram(a, w)
    assert g[0, 1] == pytest.approx(0.0, abs=1e-15)
    assert metrics.orthogonality(g) == pytest.approx(0.0, abs=1e-20)
    assert metrics.max_off_diagonal(np.array([[1.0, 0.3], [0.3, 1.0]])) == pytest.approx(0.3)
    # orthogonality = (1/L^2) sum (C - I)^2 = 2 * 0.09 / 4
    assert metrics.orthogonality(np.array([[1.0, 0.3], [0.3, 1.0]])) == pytest.approx(0.045)


def test_relative_errors():
    assert np.allclose(metrics.relative_errors([1.1, -0.9], [1.0, -1.0]), [0.1, 0.1])
