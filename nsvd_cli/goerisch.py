"""Lehmann–Goerisch lower bounds: Lehmann's bounds with the residual in the dual (energy) norm.

Lehmann's bounds (:func:`nsvd_cli.bounds.lehmann_lower_bounds`) measure the residual
``(H − ρ)v`` of the trial functions in L², where the learned functions' contamination at high
energies dominates it (docs/bounds.md, "Why Kato–Temple stays 10–40× the error"). Goerisch's
formulation needs only an upper bound of ``<v|H̃⁻¹v>`` (``H̃ = H + s`` positive), which weighs
a residual component of energy ``E`` by ``(E − θ)²/(E + s)`` instead of ``(E − θ)²``; and that upper bound comes from a
*dual* function ``g`` of our choice (the complementary variational principle):

* ``H̃ = −κ∇² + V + s`` with ``V + s > 0``; ``M(f, h) = κ<∇f|∇h> + <(V + s)f|h>`` its
  quadratic form, ``T f = (√κ ∇f, √(V + s) f)`` so that ``<Tf|Th> = M(f, h)``.
* For a trial function ``v`` and *any* twice-differentiable ``g`` whose normal derivative
  vanishes on the boundary of the box (or whose test functions vanish there: hard walls),
  ``w = (√κ ∇g, (v + κ∇²g)/√(V + s))`` satisfies ``<w|Tf> = <v|f>`` for every ``f`` (one
  integration by parts), and then ``<w|w> ≥ <v|H̃⁻¹v>``, with equality at ``g = H̃⁻¹v``.
* With trial functions ``v_1..v_n``, ``A0 = M(v_i, v_j)``, ``A1 = <v_i|v_j>``,
  ``A2 = <w_i|w_j>``, a shift ``ρ ≤ λ_{N+1}`` (``λ_N < ρ``) and the eigenvalues
  ``μ_1 ≤ μ_2 ≤ …`` of ``(A0 − ρ̃A1) x = μ (A0 − 2ρ̃A1 + ρ̃²A2) x`` (``ρ̃ = ρ + s``),
  every ``μ_i < 0`` gives ``λ_{N+1−i} ≥ ρ̃ − ρ̃/(1 − μ_i) − s``.

Source: F. Goerisch & J. Albrecht, in *Numerical Treatment of Eigenvalue Problems* 3, ISNM 69
(1984/85); H. Behnke & F. Goerisch, in *Inclusion Methods for Nonlinear Problems*, ed.
J. Herzberger (Springer 1994), pp. 55–72; M. Plum, *J. Math. Anal. Appl.* 165, 36 (1992).
Proof sketch (docs/bounds.md): with ``z = H̃^{-1/2}(H̃ − ρ̃)v`` the quotient ``P/Q`` with the
ideal ``A2`` is the Ritz quotient of ``H̃(H̃ − ρ̃)⁻¹``, whose negative eigenvalues
``λ̃/(λ̃ − ρ̃)`` belong to the levels below ρ; a larger ``A2`` only raises a negative quotient.

The dual functions ``g`` here are tensor products of cosines ``cos(kπ(x − a)/(b − a))`` on the
evaluation box (zero normal derivative on every face; sines on an axis whose two faces are hard
walls, :class:`CosineDual`), fitted by linear least squares to
minimise ``A2``; the learned functions themselves are *not* used as ``g``: their Laplacians are
rough, the rule then fails the integration by parts by up to 10⁻³, and the fit exploits that
(measured: a bound 1.6·10⁻³ above the harmonic2d ground level).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CosineDual", "GoerischData", "dual_per_axis", "goerisch_shift", "goerisch_lower_bounds",
           "DUAL_FUNCTIONS_MAX"]

#: Most cosine products per axis by dimension (the dual space has ``n^D − 1`` functions).
DUAL_PER_AXIS_MAX = {1: 96, 2: 24, 3: 12}
#: Most dual functions in all (the normal equations are K × K).
DUAL_FUNCTIONS_MAX = 1800
#: Nodes per axis of the rule per cosine (the rule must integrate the products exactly).
NODES_PER_COSINE = 4
#: Relative cut-off of the scaled normal equations' eigenvalues (a smaller dual space).
RCOND = 1e-12
#: Node chunk of the assembly.
CHUNK = 4096


class CosineDual:
    """Tensor products of ``cos(kπ(x_d − a_d)/(b_d − a_d))``, ``k = 0..n−1`` per axis, on a box,
    without the constant (it has no derivative): ``K = n^D − 1`` dual functions. On an axis
    whose two faces are hard walls (the test functions vanish there, so any ``g`` will do) the
    factors are ``sin(kπ(x_d − a_d)/(b_d − a_d))``, ``k = 1..n``, which vanish there like the
    ideal ``g = H̃⁻¹v`` (cosines, with zero slope at the faces, would fit it slowly).

    Parameters
    ----------
    box : sequence of (low, high), length D
    per_axis : int
        n (≥ 2).
    sine_axes : sequence of bool, length D, optional
        Axes with walls on both faces (default none).
    """

    def __init__(self, box, per_axis: int, sine_axes=None):
        self.box = np.asarray(box, np.float64)
        if self.box.ndim != 2 or self.box.shape[1] != 2 or np.any(self.box[:, 1] <= self.box[:, 0]):
            raise ValueError(f"box must be D pairs (low, high) with low < high, got {self.box.tolist()}")
        if per_axis < 2:
            raise ValueError(f"per_axis must be >= 2, got {per_axis}")
        self.per_axis = int(per_axis)
        D = len(self.box)
        self.sine = np.zeros(D, bool) if sine_axes is None else np.asarray(sine_axes, bool).reshape(D)
        index = np.stack(np.meshgrid(*[np.arange(per_axis)] * D, indexing="ij"), -1).reshape(-1, D)
        self.index = index[np.any(index > 0, axis=1) | self.sine.any()]  # the constant has no derivative

    def __len__(self) -> int:
        return len(self.index)

    def derivatives(self, points) -> tuple[np.ndarray, np.ndarray]:
        """Gradients (N, K, D) and Laplacians (N, K) of the K dual functions at ``points`` (N, D)."""
        x = np.asarray(points, np.float64)
        lo, width = self.box[:, 0], self.box[:, 1] - self.box[:, 0]
        k = np.arange(self.per_axis)[None, :] + self.sine[:, None]                          # sines from k = 1
        freq = np.pi * k / width[:, None]                                                   # (D, n)
        arg = freq[None] * (x - lo)[:, :, None]                                             # (N, D, n)
        sine = self.sine[None, :, None]
        c = np.where(sine, np.sin(arg), np.cos(arg))
        dc = np.where(sine, np.cos(arg), -np.sin(arg)) * freq[None]
        d2c = -c * freq[None] ** 2
        D = x.shape[1]
        axes = np.arange(D)
        cols = c[:, axes, self.index]                                                      # (N, K, D)
        grad = np.empty(cols.shape)
        lap = np.zeros(cols.shape[:2])
        for d in range(D):
            rest = np.prod(np.delete(cols, d, axis=2), axis=2) if D > 1 else 1.0
            grad[:, :, d] = dc[:, d, self.index[:, d]] * rest
            lap += d2c[:, d, self.index[:, d]] * rest
        return grad, lap


def dual_per_axis(points, dimension: int) -> int:
    """Cosines per axis for a tensor rule: at most the rule's distinct nodes per axis divided by
    :data:`NODES_PER_COSINE`, :data:`DUAL_PER_AXIS_MAX` and :data:`DUAL_FUNCTIONS_MAX` in all;
    0 when fewer than 2 would remain (no Goerisch bound)."""
    x = np.asarray(points)
    nodes = min(len(np.unique(x[:, d])) for d in range(dimension))
    n = min(nodes // NODES_PER_COSINE, DUAL_PER_AXIS_MAX.get(dimension, 0))
    while n >= 2 and n**dimension - 1 > DUAL_FUNCTIONS_MAX:
        n -= 1
    return n if n >= 2 else 0


def goerisch_shift(potential_values, ground_energy: float) -> float:
    """``s`` of ``H̃ = H + s``: ``V + s`` is at least half of ``E_1 − min V`` at every node
    (``E_1`` the lowest Ritz value), so that ``(V + s)⁻¹`` stays bounded."""
    vmin = float(np.min(potential_values))
    margin = 0.5 * max(float(ground_energy) - vmin, 1e-3 * max(abs(float(ground_energy)), 1.0))
    return margin - vmin


def _dual_gram(values, potential_values, weights, points, kinetic: float, shift: float, dual: CosineDual):
    """Normal equations of the dual fit: ``G = AᵀA`` (K, K), ``B = AᵀT`` (K, M), ``C = TᵀT`` (M, M),
    where ``A`` stacks ``√(wκ) ∂_d g`` and ``√(w/(V+s)) κ∇²g`` and ``T`` stacks 0 and
    ``√(w/(V+s)) v`` (so that ``w_i = T_i + A α_i``)."""
    K, M = len(dual), values.shape[1]
    G, B, C = np.zeros((K, K)), np.zeros((K, M)), np.zeros((M, M))
    for start in range(0, len(weights), CHUNK):
        sl = slice(start, start + CHUNK)
        grad, lap = dual.derivatives(points[sl])
        top = (np.sqrt(weights[sl] * kinetic)[:, None, None] * grad).transpose(0, 2, 1).reshape(-1, K)
        scale = np.sqrt(weights[sl] / (potential_values[sl] + shift))
        bottom = (scale * kinetic)[:, None] * lap
        t = scale[:, None] * values[sl]
        G += top.T @ top + bottom.T @ bottom
        B += bottom.T @ t
        C += t.T @ t
    return G, B, C


def _dual_a2(G, B, C) -> np.ndarray:
    """``A2 = min_α (T + Aα)ᵀ(T + Aα)`` from the normal equations (scaled, near-null directions
    of ``G`` left out: a smaller dual space, still valid)."""
    d = np.sqrt(np.maximum(np.diag(G), 0.0))
    live = d > 0
    Gs = G[np.ix_(live, live)] / np.outer(d[live], d[live])
    Bs = B[live] / d[live, None]
    nu, u = np.linalg.eigh(Gs)
    keep = nu > RCOND * nu.max()
    proj = u[:, keep].T @ Bs
    a2 = C - proj.T @ (proj / nu[keep, None])
    return 0.5 * (a2 + a2.T)


def goerisch_lower_bounds(h_form, values, potential_values, weights, points, kinetic: float, shift: float,
                          below: int, dual: CosineDual, goerisch_s: float | None = None) -> np.ndarray:
    """Lehmann–Goerisch lower bounds of the lowest ``below`` levels of ``H = −κ∇² + V``.

    Parameters
    ----------
    h_form : ndarray, shape (M, M) or (M,)
        ``<v_i|Hv_j>`` of the trial functions in the quadratic form ``κ<∇v_i|∇v_j> + <v_i|Vv_j>`` on
        the same rule (energies of H, units of V); a vector: the Ritz values of Ritz functions
        (orthonormal on the rule, the matrix is then diagonal).
    values : ndarray, shape (N, M)
        The trial functions at the nodes.
    potential_values, weights : ndarray, shape (N,)
    points : ndarray, shape (N, D)
        The rule's nodes (inside ``dual.box``).
    kinetic : float
        κ (H = −κ∇² + V, no 1/2 factor unless κ = 1/2).
    shift : float
        ρ: a lower bound of level ``below + 1`` that lies above level ``below``.
    below : int
        N, the number of levels under ρ.
    dual : CosineDual
    goerisch_s : float, optional
        s (default :func:`goerisch_shift`); ``V + s`` must be positive at every node.

    Returns
    -------
    ndarray, shape (below,)
        Lower bounds of levels 1..N (NaN where the trial space gives none, or all NaN when more
        than N of the μ are negative: then ρ was not a lower bound of level N + 1).

    Raises
    ------
    ValueError
        Mismatched shapes, a non-finite ρ, or ``V + s`` not positive at some node.
    """
    hf = np.asarray(h_form, np.float64)
    hf = np.diag(hf) if hf.ndim == 1 else 0.5 * (hf + hf.T)
    theta = np.diag(hf)
    v = np.asarray(values, np.float64)
    pot, w = np.asarray(potential_values, np.float64), np.asarray(weights, np.float64)
    x = np.asarray(points, np.float64)
    if v.ndim != 2 or v.shape != (len(w), len(theta)) or x.shape[0] != len(w) or not np.isfinite(shift):
        raise ValueError(f"values must be (N, M) = ({len(w)}, {len(theta)}) and ρ finite, got {v.shape}, ρ = {shift}")
    s = goerisch_shift(pot, theta.min()) if goerisch_s is None else float(goerisch_s)
    if np.min(pot + s) <= 0:
        raise ValueError(f"V + s must be positive at every node (min V = {pot.min():.6g}, s = {s:.6g})")
    out = np.full(int(below), np.nan)
    if below < 1:
        return out
    a2 = _dual_a2(*_dual_gram(v, pot, w, x, kinetic, s, dual))
    a1 = np.einsum("n,ni,nj->ij", w, v, v)
    a0 = hf + s * a1
    rho = shift + s
    lhs, rhs = a0 - rho * a1, a0 - 2 * rho * a1 + rho**2 * a2
    d = np.sqrt(np.abs(np.diag(rhs)))
    if np.any(d == 0) or not np.all(np.isfinite(rhs)):
        return out
    lhs, rhs = lhs / np.outer(d, d), rhs / np.outer(d, d)
    nu, u = np.linalg.eigh(0.5 * (rhs + rhs.T))
    if nu.min() <= 1e-13 * nu.max():
        return out  # not positive definite on the rule: no bound
    q = u / np.sqrt(nu)
    mu = np.linalg.eigvalsh(q.T @ (0.5 * (lhs + lhs.T)) @ q)
    negative = mu[mu < 0]
    if len(negative) > below:
        return out
    for i, m in enumerate(negative):
        out[below - 1 - i] = rho - rho / (1.0 - m) - s
    return out


@dataclass
class GoerischData:
    """The Ritz functions on the evaluation rule and on a refined rule, for Lehmann–Goerisch
    lower bounds and min–max upper bounds that allow for the rules' integration error.

    Attributes
    ----------
    values : ndarray, shape (N, M)
        The M Ritz functions (orthonormal on the rule) at its N nodes.
    potential_values, weights : ndarray, shape (N,)
    points : ndarray, shape (N, D)
    kinetic : float
    dual : CosineDual
    refined : tuple or None
        ``(h_form (M, M), values (N2, M), potential_values (N2,), weights (N2,), points (N2, D))``:
        the same functions on a finer rule of the same box, ``h_form`` their quadratic form there.
    """

    values: np.ndarray
    potential_values: np.ndarray
    weights: np.ndarray
    points: np.ndarray
    kinetic: float
    dual: CosineDual
    refined: tuple | None = None

    def rule_error(self, energies) -> np.ndarray | None:
        """(M,) ``|R_k − θ_k|``: the Rayleigh quotient of each Ritz function on the refined rule
        against its Ritz value on the rule (the quadratic form's integration error, estimated);
        None without a refined rule."""
        if self.refined is None:
            return None
        h_form, values, _, weights, _ = self.refined
        norm = np.einsum("n,nk,nk->k", np.asarray(weights, np.float64), values, values)
        theta = np.asarray(energies, np.float64)[:len(norm)]
        return np.abs(np.diag(h_form) / norm - theta)

    def lower_bounds(self, energies, shift: float, below: int) -> np.ndarray:
        """(below,) Lehmann–Goerisch lower bounds on the rule and, with a refined rule, the lower
        of the two (NaN where either has none); the caller widens them by the rule error."""
        theta = np.asarray(energies, np.float64)[:self.values.shape[1]]
        out = goerisch_lower_bounds(theta, self.values, self.potential_values, self.weights, self.points,
                                    self.kinetic, shift, below, self.dual)
        if self.refined is not None:
            h_form, values, pot, weights, points = self.refined
            fine = goerisch_lower_bounds(h_form, values, pot, weights, points, self.kinetic, shift, below, self.dual)
            out = np.where(np.isnan(fine), np.nan, np.fmin(out, fine))
        return out
