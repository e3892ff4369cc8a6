"""Upper bounds that hold on R^D: Ritz values of the learned functions times a cutoff.

The quadratic form ``κ∫|∇ψ|² + ∫Vψ²`` over the evaluation box (or disc/ball) leaves out the
tail of ``ψ`` outside it: the box-restricted Rayleigh quotient is that of a Neumann-like
problem on the box, whose levels lie *below* those of ``H`` on R^D. So the k-th Ritz value on
the rule is not an upper bound of the k-th level when the states are not negligible at the
faces (a new-user trial: ``V = x²`` on [−4, 4], level 3 at 4.99978 with the interval
[4.92765, 4.99978] and "upper bounds by min–max"; the missing boundary term ``2Lψψ′`` is 2.1e-4).

Here every function is multiplied by a smooth cutoff ``χ`` that is 1 inside the box and
falls to 0 on each open face (not on a hard wall) over a layer of a given fraction of the
box's width, ``χ = ∏ s(t)`` with ``t`` the distance to the face over the layer's width and
``s`` a smooth step (:func:`_ramp`).
The functions ``χψ`` vanish outside the box, lie in the form domain of ``H`` on R^D, and their
integrals are exactly those on the box; so (Courant–Fischer) the k-th Ritz value of their span
is an upper bound of the k-th level of ``H`` on R^D, up to the rule's integration error. The
cost of the cutoff is the IMS localisation term: for an eigenfunction ``ψ`` of energy ``E``,
``<χψ|H|χψ> = E‖χψ‖² + κ∫ψ²|∇χ|²`` (H. L. Cycon, R. G. Froese, W. Kirsch & B. Simon,
*Schrödinger Operators*, Springer 1987, Thm 3.2), negligible where ``ψ`` is negligible in the
layer. Several layer widths are tried and the least value kept (each is an upper bound).
"""

from __future__ import annotations

import numpy as np

__all__ = ["CUTOFF_LAYERS", "box_cutoff", "ball_cutoff", "cutoff_ritz_energies"]

#: Layer widths tried, as fractions of the box's width per axis (or of the radius).
CUTOFF_LAYERS = (0.05, 0.1, 0.2)


def _ramp(t: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """``s(t) = t⁴(35 − 84t + 70t² − 20t³)`` for ``t < 1`` (1 beyond) and its derivative in x
    (``t = distance / width``; ``s′ = 140 t³(1 − t)³``): three derivatives vanish at both ends, so
    the rule integrates across the ramp's end inside a panel (``sin²(πt/2)``, whose second
    derivative jumps there, gave integration errors of 1e-5 on a 1D oscillator; this ramp 4e-7)."""
    inside = t < 1.0
    u = np.clip(t, 0.0, 1.0)
    r = np.where(inside, u**4 * (35.0 - 84.0 * u + 70.0 * u**2 - 20.0 * u**3), 1.0)
    dr = np.where(inside, 140.0 * u**3 * (1.0 - u) ** 3 / width, 0.0)
    return r, dr


def box_cutoff(points, box, layer: float, open_faces=None) -> tuple[np.ndarray, np.ndarray]:
    """The cutoff of a box and its gradient at ``points``.

    Parameters
    ----------
    points : ndarray, shape (N, D)
    box : sequence of (low, high), length D
    layer : float
        The ramp's width as a fraction of the box's width per axis (0 < layer ≤ 0.5).
    open_faces : ndarray of bool, shape (D, 2), optional
        Faces to cut at (low, high per axis); default all. A hard-wall face needs none.

    Returns
    -------
    (chi (N,), grad (N, D))
    """
    x = np.asarray(points, np.float64)
    b = np.asarray(box, np.float64)
    if not 0.0 < layer <= 0.5:
        raise ValueError(f"layer must be in (0, 0.5], got {layer}")
    faces = np.ones(b.shape, bool) if open_faces is None else np.asarray(open_faces, bool)
    N, D = x.shape
    factors, derivs = np.ones((N, D)), np.zeros((N, D))
    for d in range(D):
        width = layer * (b[d, 1] - b[d, 0])
        for side, open_ in enumerate(faces[d]):
            if not open_:
                continue
            dist = x[:, d] - b[d, 0] if side == 0 else b[d, 1] - x[:, d]
            r, dr = _ramp(dist / width, width)
            derivs[:, d] = derivs[:, d] * r + factors[:, d] * dr * (1.0 if side == 0 else -1.0)
            factors[:, d] *= r
    chi = np.prod(factors, axis=1)
    grad = np.empty((N, D))
    for d in range(D):
        grad[:, d] = derivs[:, d] * np.prod(np.delete(factors, d, axis=1), axis=1)
    return chi, grad


def ball_cutoff(points, radius: float, layer: float) -> tuple[np.ndarray, np.ndarray]:
    """The cutoff of the origin-centred disc/ball of ``radius`` (a ramp in ``r`` over ``layer·radius``)
    and its gradient at ``points`` (N, D): ``(chi (N,), grad (N, D))``."""
    x = np.asarray(points, np.float64)
    r = np.linalg.norm(x, axis=1)
    width = layer * float(radius)
    ramp, dramp = _ramp((float(radius) - r) / width, width)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = np.where(r[:, None] > 0, x / r[:, None], 0.0)
    return ramp, -dramp[:, None] * unit


def cutoff_ritz_energies(cutoffs, values, gradients, ritz) -> np.ndarray | None:
    """The least over ``cutoffs`` of the lowest Ritz values of ``χψ``: upper bounds of the levels on R^D.

    Parameters
    ----------
    cutoffs : iterable of (chi (N,), grad (N, D))
    values : ndarray, shape (N, L)
        The scored functions at the rule's nodes.
    gradients : ndarray, shape (N, L, D)
    ritz : callable
        ``ritz(values, gradients) -> energies`` (ascending, NaN for dropped directions): the same
        Rayleigh–Ritz as the reported values (basis, weights, V, κ, left-out modes).

    Returns
    -------
    ndarray, shape (L,), or None (no cutoff: nothing to cut)
    """
    v, g = np.asarray(values, np.float64), np.asarray(gradients, np.float64)
    best = None
    for chi, dchi in cutoffs:
        energies = np.asarray(ritz(v * chi[:, None], g * chi[:, None, None] + v[:, :, None] * dchi[:, None, :]),
                              np.float64)
        best = energies if best is None else np.fmin(best, energies)
    return best
