"""Deterministic evaluation rules ``int f(x) dx ~ sum_i w_i f(x_i)`` (numpy only).

Used to evaluate Gram matrices, Rayleigh quotients and errors of learned eigenfunctions
(J. J. Ryu et al., ICML 2024, App. E.1.3).  See :class:`~nsvd_cli.spec.EvaluationSpec`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from numpy.polynomial.legendre import leggauss

from .spec import EvaluationSpec

__all__ = ["Quadrature", "EDGE_LAYER", "edge_mass", "wall_faces", "gauss_legendre_box", "polar_quadrature", "spherical_quadrature", "monte_carlo_box",
           "monte_carlo_gaussian", "make_quadrature", "polar_panel_edges"]


#: Width of a rule's outer layer, as a fraction of its box's width per axis (or of its radius).
EDGE_LAYER = 0.05


@dataclass(frozen=True, eq=False)
class Quadrature:
    """A quadrature rule on R^D.

    Attributes
    ----------
    points : ndarray, shape (N, D)
        Nodes (float64).
    weights : ndarray, shape (N,)
        Weights (float64), so that ``int f ~ sum(weights * f(points))``.
    edge : ndarray of bool, shape (N,), or None
        The nodes in the outer layer of the rule's domain (within :data:`EDGE_LAYER` of the
        box's width of a face, or of the radius of the disc/ball's boundary); None for a rule
        on all of R^D (Gaussian Monte Carlo). See :func:`edge_mass`.
    box : tuple of (low, high), length D, or None
        The box of a box rule (tensor Gauss–Legendre, uniform Monte Carlo), whose faces
        :func:`edge_mass` can leave out where they are hard walls; None for other rules.
    """

    points: np.ndarray
    weights: np.ndarray
    edge: np.ndarray | None = None
    box: tuple | None = None

    def __len__(self) -> int:
        return len(self.weights)

    @property
    def dimension(self) -> int:
        """Spatial dimension ``D``."""
        return self.points.shape[1]


def _box_edge(points: np.ndarray, box, open_faces=None) -> np.ndarray:
    """Nodes within :data:`EDGE_LAYER` of the box's width of a face; only of the faces marked in
    ``open_faces`` ((D, 2) bool: low and high face per axis) when given."""
    lo, hi = np.asarray(box, np.float64).T
    u = (points - lo) / (hi - lo)
    near = np.stack([u < EDGE_LAYER, u > 1.0 - EDGE_LAYER], axis=-1)  # (N, D, 2)
    if open_faces is not None:
        near &= np.asarray(open_faces, bool)[None]
    return np.any(near, axis=(1, 2))


def wall_faces(box, walls) -> np.ndarray:
    """Which faces of an evaluation box are hard walls, shape (D, 2) (low, high face per axis).

    A face is a wall face when it lies on or outside the Dirichlet wall of its axis (``box``'s
    low end ≤ the wall's low end, high end ≥ the wall's high end, to 1e-9 of the box's width):
    every eigenfunction vanishes on the wall and beyond, so the evaluation box cannot cut a
    function off there. A face strictly inside the walls does cut the walled functions off and
    is not a wall face. ``walls`` None (no walls): no face is.
    """
    b = np.asarray(box, np.float64)
    if walls is None:
        return np.zeros(b.shape, bool)
    w = np.asarray(walls, np.float64)
    if w.shape != b.shape:
        raise ValueError(f"walls {w.tolist()} and box {b.tolist()} must both be D pairs [low, high]")
    tol = 1e-9 * (b[:, 1] - b[:, 0])
    return np.stack([b[:, 0] <= w[:, 0] + tol, b[:, 1] >= w[:, 1] - tol], axis=1)


def _ball_edge(points: np.ndarray, radius: float) -> np.ndarray:
    return np.linalg.norm(points, axis=1) > (1.0 - EDGE_LAYER) * radius


def edge_mass(rule: Quadrature, values, walls=None) -> np.ndarray | None:
    """Fraction of each function's squared norm on the rule's outer layer (``rule.edge``).

    A function that the rule's domain cuts off (the evaluation box too small for it) has a
    sizeable fraction there; the integrals over the domain then miss its tail, its Rayleigh
    quotient is not a variational value of H on R^D, and no interval can be trusted. A state
    that decays inside the box has a tiny one (the learned functions of the built-in problems
    without walls: at most ~2e-4; a box [-2, 2] for x²: 1 % for the ground state, 23 % for the
    fourth).

    Hard walls (Dirichlet, ``V = ∞`` outside ``walls``) are not a cut: the walled problem lives
    on the box and its eigenfunctions vanish on the walls yet keep a finite fraction near them
    (``sin(πx/L)`` has ``1/20 − sin(π/10)/(2π) ≈ 8.2e-4`` in each outer 5 % of [0, L], 1.6e-3 in
    both). The
    layer along the faces of ``rule.box`` that are walls (:func:`wall_faces`) is left out.

    Parameters
    ----------
    rule : Quadrature
    values : ndarray, shape (N, L)
        The functions at ``rule.points``.
    walls : sequence of (low, high), length D, optional
        The Dirichlet walls of the problem (:func:`nsvd_cli.spec.walls`), if any.

    Returns
    -------
    ndarray, shape (L,), or None
        ``Σ_edge w ψ² / Σ w ψ²`` (NaN for a zero function); None when the rule has no edge,
        or no face that is not a wall (nothing to judge).
    """
    if rule.edge is None:
        return None
    edge = rule.edge
    if walls is not None and rule.box is not None:
        faces = wall_faces(rule.box, walls)
        if faces.all():
            return None
        edge = _box_edge(rule.points, rule.box, ~faces)
    w2 = np.asarray(rule.weights, np.float64)[:, None] * np.asarray(values, np.float64) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return w2[edge].sum(0) / w2.sum(0)


def _composite_gl(lo: float, hi: float, n: int, panels: int) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss-Legendre nodes/weights on [lo, hi] with equal panels."""
    return _gl_on_edges(np.linspace(lo, hi, panels + 1), n)


def _gl_on_edges(edges: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    t, w = leggauss(n)
    a, b = edges[:-1, None], edges[1:, None]
    return (0.5 * (b - a) * t + 0.5 * (a + b)).ravel(), (0.5 * (b - a) * w).ravel()


def gauss_legendre_box(box: Sequence[tuple[float, float]], points_per_panel: int, panels: int = 1) -> Quadrature:
    """Composite tensor-product Gauss-Legendre rule on a box.

    Each axis is split into ``panels`` equal panels with ``points_per_panel`` Gauss-Legendre
    nodes each (exact for polynomials of degree ``2 * points_per_panel - 1`` per panel and
    axis); the rule has ``(points_per_panel * panels) ** D`` nodes, the first axis varying
    slowest.

    Parameters
    ----------
    box : sequence of (low, high), length D
    points_per_panel : int
    panels : int

    Returns
    -------
    Quadrature
    """
    if points_per_panel < 1 or panels < 1 or len(box) < 1:
        raise ValueError("need points_per_panel >= 1, panels >= 1 and a non-empty box")
    axes = [_composite_gl(float(lo), float(hi), points_per_panel, panels) for lo, hi in box]
    grids = np.meshgrid(*[x for x, _ in axes], indexing="ij")
    wgrids = np.meshgrid(*[w for _, w in axes], indexing="ij")
    points = np.stack([g.ravel() for g in grids], axis=1)
    weights = np.prod(np.stack([g.ravel() for g in wgrids], axis=1), axis=1)
    return Quadrature(points=points, weights=weights, edge=_box_edge(points, box), box=_box_tuple(box))


def polar_panel_edges(radius: float, panels: int) -> np.ndarray:
    """Radial panel edges of :func:`polar_quadrature`.

    ``0, r_1, r_1 q, ..., r_1 q^(P-2) = radius``: the first panel is ``[0, r_1]`` with
    ``r_1 = min(1, radius / P)`` and the other ``P - 1`` edges are geometrically spaced up to
    ``radius`` (for radius 100 and P = 8: 0, 1, 1.93, 3.73, 7.20, 13.9, 26.8, 51.8, 100).
    One panel gives ``[0, radius]``.
    """
    if panels == 1:
        return np.array([0.0, radius])
    r1 = min(1.0, radius / panels)
    return np.concatenate([[0.0], r1 * (radius / r1) ** (np.arange(panels) / (panels - 1))])


def polar_quadrature(radius: float, radial_points: int, radial_panels: int, angles: int) -> Quadrature:
    """Product rule on the 2D disc ``|x| <= radius`` for functions with a cusp at 0.

    Radial direction: composite Gauss-Legendre with ``radial_points`` nodes on each of the
    ``radial_panels`` geometrically graded panels of :func:`polar_panel_edges` (small
    panels near the nucleus, long ones in the tail); the weight includes the Jacobian
    ``r``.  No node lies at ``r = 0``.  Angular direction: the trapezoid rule
    ``theta_k = 2 pi (k + 1/2) / angles`` with weights ``2 pi / angles``, exact for
    trigonometric polynomials of degree ``< angles``.

    Parameters
    ----------
    radius : float
    radial_points, radial_panels, angles : int

    Returns
    -------
    Quadrature
        ``radial_points * radial_panels * angles`` nodes, radius varying slowest.
    """
    if radius <= 0 or radial_points < 1 or radial_panels < 1 or angles < 1:
        raise ValueError("need radius > 0 and positive point/panel/angle counts")
    r, wr = _gl_on_edges(polar_panel_edges(float(radius), radial_panels), radial_points)
    theta = 2 * math.pi * (np.arange(angles) + 0.5) / angles
    R, T = np.meshgrid(r, theta, indexing="ij")
    points = np.stack([(R * np.cos(T)).ravel(), (R * np.sin(T)).ravel()], axis=1)
    weights = np.repeat(wr * r * (2 * math.pi / angles), angles)
    return Quadrature(points=points, weights=weights, edge=_ball_edge(points, float(radius)))


def spherical_quadrature(radius: float, radial_points: int, radial_panels: int, angles: int) -> Quadrature:
    """Product rule on the 3D ball ``|x| <= radius`` for functions with a cusp at 0 (3D hydrogen).

    Radial direction as :func:`polar_quadrature` (graded Gauss-Legendre panels of
    :func:`polar_panel_edges`, Jacobian ``r^2``); polar angle: Gauss-Legendre in
    ``cos(theta)`` with ``max(angles // 2, 1)`` nodes; azimuth: trapezoid rule with
    ``angles`` nodes.  Exact on the sphere for polynomials of degree ``< angles`` in each
    angular direction (spherical harmonics of degree ``l < angles - 1``).

    Returns
    -------
    Quadrature
        ``radial_points * radial_panels * (angles // 2) * angles`` nodes.
    """
    if radius <= 0 or radial_points < 1 or radial_panels < 1 or angles < 2:
        raise ValueError("need radius > 0, positive point/panel counts and angles >= 2")
    r, wr = _gl_on_edges(polar_panel_edges(float(radius), radial_panels), radial_points)
    mu, wmu = leggauss(max(angles // 2, 1))
    phi = 2 * math.pi * (np.arange(angles) + 0.5) / angles
    R, M, P = np.meshgrid(r, mu, phi, indexing="ij")
    S = np.sqrt(1.0 - M * M)
    points = np.stack([(R * S * np.cos(P)).ravel(), (R * S * np.sin(P)).ravel(), (R * M).ravel()], axis=1)
    W = (wr * r * r)[:, None, None] * wmu[None, :, None] * np.full(angles, 2 * math.pi / angles)[None, None, :]
    return Quadrature(points=points, weights=W.ravel(), edge=_ball_edge(points, float(radius)))


def monte_carlo_gaussian(dim: int, std: float, samples: int, seed: int = 0) -> Quadrature:
    """Importance-sampled Monte Carlo on R^D: points ~ N(0, std^2 I), weights ``1 / (N p(x))``.

    Unbiased for integrands that decay faster than the Gaussian grows; much better than a
    uniform box in D >= 4 when the functions are concentrated near the origin.  Points come
    from ``np.random.default_rng(seed)``.
    """
    rng = np.random.default_rng(seed)
    points = std * rng.standard_normal((int(samples), int(dim)))
    log_p = -0.5 * (points * points).sum(1) / std**2 - dim * math.log(std * math.sqrt(2 * math.pi))
    return Quadrature(points=points, weights=np.exp(-log_p) / samples)


def monte_carlo_box(box: Sequence[tuple[float, float]], samples: int, seed: int = 0) -> Quadrature:
    """Plain Monte Carlo on a box: uniform points, weights ``volume / samples``.

    Points come from ``np.random.default_rng(seed)``, so the rule is deterministic.
    """
    lo, hi = np.array(box, dtype=np.float64).T
    rng = np.random.default_rng(seed)
    points = lo + (hi - lo) * rng.random((int(samples), len(lo)))
    return Quadrature(points=points, weights=np.full(int(samples), np.prod(hi - lo) / samples),
                      edge=_box_edge(points, box), box=_box_tuple(box))


def _box_tuple(box) -> tuple:
    return tuple((float(lo), float(hi)) for lo, hi in box)


def make_quadrature(evaluation: EvaluationSpec) -> Quadrature:
    """The quadrature rule described by an :class:`~nsvd_cli.spec.EvaluationSpec`.

    ``gauss-legendre``: :func:`gauss_legendre_box` (``points`` per panel, ``panels``).
    ``polar``: :func:`polar_quadrature` on the largest origin-centred disc inside ``box``
    (radius = smallest distance from the origin to a face), with ``points`` radial nodes per
    panel, ``panels`` radial panels and ``angles`` angles.
    ``spherical``: :func:`spherical_quadrature` on the largest origin-centred ball inside
    ``box`` (``points`` radial nodes per panel, ``panels`` radial panels, ``angles`` azimuths).
    ``monte-carlo``: :func:`monte_carlo_box` with ``samples`` points (seed 0), or with
    ``std > 0`` :func:`monte_carlo_gaussian` (the box is then not used).
    """
    box = evaluation.box
    if evaluation.quadrature == "gauss-legendre":
        return gauss_legendre_box(box, evaluation.points, evaluation.panels)
    if evaluation.quadrature == "polar":
        radius = min(min(-lo, hi) for lo, hi in box)
        if len(box) != 2 or radius <= 0:
            raise ValueError(f"polar quadrature needs a 2D box containing the origin, got {box}")
        return polar_quadrature(radius, evaluation.points, evaluation.panels, evaluation.angles)
    if evaluation.quadrature == "spherical":
        radius = min(min(-lo, hi) for lo, hi in box)
        if len(box) != 3 or radius <= 0:
            raise ValueError(f"spherical quadrature needs a 3D box containing the origin, got {box}")
        return spherical_quadrature(radius, evaluation.points, evaluation.panels, evaluation.angles)
    if evaluation.quadrature == "monte-carlo":
        if getattr(evaluation, "std", 0.0) > 0:
            return monte_carlo_gaussian(len(box), evaluation.std, evaluation.samples)
        return monte_carlo_box(box, evaluation.samples)
    raise ValueError(f"unknown quadrature {evaluation.quadrature!r}")
