"""Neural eigenfunction ansätze: psi_l(x) = envelope_l(x) * MLP_l(features(x)).

* :class:`FourierFeatures` — fixed multi-scale random Fourier features with the raw input
  (and optionally |x|) appended (paper App. E.1.1; Tancik et al. 2020; Wu et al. 2023).
* :class:`DisjointMLP` — L independent MLPs, evaluated as ONE batched computation
  (stacked weights and batched matmuls; no Python loop over modes). For sequential nesting.
* :class:`SharedMLP` — one MLP with L outputs. For joint nesting.
* :class:`EigenfunctionModel` — features + MLP + envelope; maps (B, D) -> (B, L).

Each part also propagates a second-order *jet* — the value, its D first derivatives along the
axes and its Laplacian — through itself in one forward pass (the "forward Laplacian" of Li et
al. 2023, Nat. Mach. Intell. 6, 209): :meth:`EigenfunctionModel.value_and_laplacian`. A jet is
a tensor of shape (D + 2, B, W) (leading axes allowed before it): row 0 the value, rows 1..D
the partial derivatives ``d/dx_d``, row D + 1 the Laplacian. Linear layers map every row
(the bias only the value row); an elementwise ``sigma`` maps ``(v, J, lap)`` to
``(sigma(v), sigma'(v) J, sigma'(v) lap + sigma''(v) sum_d J_d^2)``. It is exact (to rounding)
and differentiable in the parameters.

Models know nothing about the operator that is applied to them.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from .spec import ModelSpec

__all__ = ["FourierFeatures", "DisjointMLP", "SharedMLP", "EigenfunctionModel", "build_model"]

def _radius(x: torch.Tensor) -> torch.Tensor:
    """|x| as shape (B, 1), with a tiny floor so derivatives at the origin stay finite."""
    return torch.sqrt((x * x).sum(-1, keepdim=True) + 1e-24)


def _silu(v: torch.Tensor) -> torch.Tensor:
    """``v sigmoid(v)``, written out: torch's fused silu has no forward-over-forward AD rule
    (``laplacian = "exact"`` and the evaluation's exact Laplacian would fail on it)."""
    return v * torch.sigmoid(v)


_ACTIVATIONS = {"softplus": nn.functional.softplus, "tanh": torch.tanh, "silu": _silu}


def _activation_derivatives(name: str, v: torch.Tensor):
    """``(sigma(v), sigma'(v), sigma''(v))`` of the activation ``name``, elementwise."""
    if name == "tanh":
        t = torch.tanh(v)
        d1 = 1 - t * t
        return t, d1, -2 * t * d1
    s = torch.sigmoid(v)
    ds = s * (1 - s)
    if name == "softplus":  # torch's is linear above 20: derivatives 1 and 0 there, not 1 - 2e-9 and 2e-9
        return nn.functional.softplus(v), s, ds
    return v * s, s + v * ds, ds * (2 + v * (1 - 2 * s))  # silu


def _activation_jet(name: str, jet: torch.Tensor) -> torch.Tensor:
    """Jet (..., D + 2, B, W) through the elementwise activation ``name`` (chain rule)."""
    v, grad, lap = jet.select(-3, 0), jet[..., 1:-1, :, :], jet.select(-3, -1)
    a, d1, d2 = _activation_derivatives(name, v)
    if torch.is_grad_enabled():
        square = (grad * grad).sum(-3)
        return torch.cat([a.unsqueeze(-3), d1.unsqueeze(-3) * grad, (d1 * lap + d2 * square).unsqueeze(-3)], dim=-3)
    square = torch.zeros_like(v)  # sum_d J_d^2 row by row: 10x faster than a strided reduction
    for i in range(grad.shape[-3]):
        square.addcmul_(grad.select(-3, i), grad.select(-3, i))
    v.copy_(a)  # no graph to keep: update the jet in place (it is a fresh layer output)
    grad.mul_(d1.unsqueeze(-3))
    lap.mul_(d1).add_(d2 * square)
    return jet


def _jet(value: torch.Tensor, grad: torch.Tensor, lap: torch.Tensor) -> torch.Tensor:
    """Stack value (B, W), derivatives (D, B, W) and Laplacian (B, W) into a jet (D + 2, B, W)."""
    return torch.cat([value[None], grad.expand(-1, *value.shape), lap[None]], dim=0)


class FourierFeatures(nn.Module):
    """Fixed random Fourier features ``(cos(2 pi s z.x), sin(2 pi s z.x), x[, |x|])``.

    The K frequency vectors z ~ N(0, I_D) are split evenly over the scales s (multi-scale
    features). Output dimension ``2K + D (+1 if radial)``; with K = 0 just ``x`` (and |x|).

    Parameters
    ----------
    dim : int
        Input dimension D.
    n_features : int
        Number K of frequencies.
    scales : sequence of float
        Frequency scales s (the paper's kappa: 0.1 for hydrogen, 1 for the oscillator).
    radial : bool
        Append ``|x|`` (lets the network form the cusp of Coulomb eigenfunctions at r = 0).
    generator : torch.Generator
        Source of the fixed random frequencies.
    """

    def __init__(self, dim: int, n_features: int, scales, radial: bool, generator: torch.Generator):
        super().__init__()
        scales = list(scales)
        rows = torch.randn(n_features, dim, generator=generator)
        per = torch.tensor([scales[i * len(scales) // max(n_features, 1)] for i in range(n_features)])
        self.register_buffer("frequencies", 2 * math.pi * rows * per[:, None])
        self.radial = radial
        self.out_dim = 2 * n_features + dim + int(radial)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = []
        if self.frequencies.shape[0]:
            z = x @ self.frequencies.T.to(x.dtype)
            parts += [torch.cos(z), torch.sin(z)]
        parts.append(x)
        if self.radial:
            parts.append(_radius(x))
        return torch.cat(parts, dim=-1)

    def jet(self, x: torch.Tensor) -> torch.Tensor:
        """Features with their derivatives along the D axes and Laplacians: (D + 2, B, F).

        ``cos(w.x)``: derivatives ``-sin(w.x) w_d``, Laplacian ``-|w|^2 cos(w.x)`` (likewise
        sin); ``x_i``: ``delta_id``, 0; ``|x|`` (with its floor ``r^2 = |x|^2 + 1e-24``):
        ``x_d / r``, ``D / r - |x|^2 / r^3``.
        """
        b, d = x.shape
        parts = []
        if self.frequencies.shape[0]:
            w = self.frequencies.to(x.dtype)  # (K, D)
            z = x @ w.T
            c, s, w2 = torch.cos(z), torch.sin(z), (w * w).sum(-1)
            wt = w.T[:, None, :]  # (D, 1, K)
            parts += [_jet(c, -s * wt, -w2 * c), _jet(s, c * wt, -w2 * s)]
        eye = torch.eye(d, dtype=x.dtype, device=x.device)[:, None, :]
        parts.append(_jet(x, eye, torch.zeros_like(x)))
        if self.radial:
            r = _radius(x)
            x2 = (x * x).sum(-1, keepdim=True)
            parts.append(_jet(r, (x / r).T[:, :, None], d / r - x2 / r**3))
        return torch.cat(parts, dim=-1)


def _init_linear(shape_in: int, shape_out: int, n: int, generator: torch.Generator):
    bound = 1.0 / math.sqrt(shape_in)
    w = (torch.rand(n, shape_in, shape_out, generator=generator) * 2 - 1) * bound
    b = (torch.rand(n, shape_out, generator=generator) * 2 - 1) * bound
    return nn.Parameter(w), nn.Parameter(b)


class DisjointMLP(nn.Module):
    """L independent MLPs ``R^F -> R`` with stacked weights, run as one batched pass.

    Input (B, F) shared by all modes; output (B, L). Layer k holds weights of shape
    (L, in_k, out_k): the first layer is one (B, F) x (F, L*H) matmul, later layers are
    batched matmuls over the mode axis.
    """

    def __init__(self, in_dim: int, hidden, n_modes: int, activation: str, generator: torch.Generator):
        super().__init__()
        self.n_modes = n_modes
        self.activation, self.act = activation, _ACTIVATIONS[activation]
        widths = [in_dim, *hidden, 1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for a, b in zip(widths[:-1], widths[1:]):
            w, bias = _init_linear(a, b, n_modes, generator)
            self.weights.append(w)
            self.biases.append(bias)

    @torch.no_grad()
    def reinitialise(self, modes, generator: torch.Generator) -> None:
        """Fresh initial weights (as at construction) for the MLPs of ``modes`` (indices)."""
        for w, b in zip(self.weights, self.biases):
            new_w, new_b = _init_linear(w.shape[1], w.shape[2], len(modes), generator)
            w[modes] = new_w.to(w)
            b[modes] = new_b.to(b)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        L = self.n_modes
        w0, b0 = self.weights[0], self.biases[0]
        # (B, F) @ (F, L*H) -> (L, B, H)
        z = (h @ w0.permute(1, 0, 2).reshape(w0.shape[1], -1)).reshape(h.shape[0], L, -1).transpose(0, 1)
        z = self.act(z + b0[:, None, :])
        n = len(self.weights)
        for k in range(1, n):
            z = torch.baddbmm(self.biases[k][:, None, :], z, self.weights[k])
            if k < n - 1:
                z = self.act(z)
        return z[..., 0].T  # (B, L)

    def jet(self, h: torch.Tensor) -> torch.Tensor:
        """Jet of the features (D + 2, B, F) -> jet of the L outputs (D + 2, B, L)."""
        rows, b, f = h.shape
        L = self.n_modes
        w0, b0 = self.weights[0], self.biases[0]
        z = (h.reshape(-1, f) @ w0.permute(1, 0, 2).reshape(f, -1)).reshape(rows, b, L, -1).permute(2, 0, 1, 3)
        n = len(self.weights)
        for k in range(n):
            if k:
                z = torch.bmm(z.reshape(L, rows * b, -1), self.weights[k]).reshape(L, rows, b, -1)
            z = z.contiguous()  # the bias moves the value row only
            z[:, 0] += self.biases[k][:, None, :]
            if k < n - 1:
                z = _activation_jet(self.activation, z)
        return z[..., 0].permute(1, 2, 0)  # (D + 2, B, L)


class SharedMLP(nn.Module):
    """One MLP ``R^F -> R^L`` whose outputs are the L modes (shared parameters)."""

    def __init__(self, in_dim: int, hidden, n_modes: int, activation: str, generator: torch.Generator):
        super().__init__()
        self.activation, self.act = activation, _ACTIVATIONS[activation]
        widths = [in_dim, *hidden, n_modes]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for a, b in zip(widths[:-1], widths[1:]):
            w, bias = _init_linear(a, b, 1, generator)
            self.weights.append(nn.Parameter(w.data[0]))
            self.biases.append(nn.Parameter(bias.data[0]))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        n = len(self.weights)
        for k in range(n):
            h = torch.addmm(self.biases[k], h, self.weights[k])
            if k < n - 1:
                h = self.act(h)
        return h

    def jet(self, h: torch.Tensor) -> torch.Tensor:
        """Jet of the features (D + 2, B, F) -> jet of the L outputs (D + 2, B, L)."""
        n = len(self.weights)
        for k in range(n):
            h = h @ self.weights[k]
            h[0] += self.biases[k]  # the bias moves the value row only
            if k < n - 1:
                h = _activation_jet(self.activation, h)
        return h


class EigenfunctionModel(nn.Module):
    """``psi_l(x) = envelope_l(x) * MLP_l(features(x))``: (B, D) -> (B, L).

    Envelopes (``ModelSpec.envelope``):

    * ``"sampling"`` — ``sqrt(p_tr(x))``: the MLP represents ``psi / sqrt(w_tr)`` exactly as
      in the paper (App. D.3); needs ``log_density``.
    * ``"gaussian"`` — ``exp(-|x|^2 / (2 a_l^2))``, learnable length a_l per mode.
    * ``"gaussian-normal-modes"`` — ``exp(-x^T M x / (2 a_l^2))`` with the fixed precision
      matrix ``M`` (D, D) of the harmonic approximation's ground state (``envelope_precision``,
      :meth:`nsvd_cli.problem.Problem.envelope_precision`: ``M = sqrt(A / kappa)`` for
      ``V ~ x^T A x``); learnable length a_l per mode (1: that ground state itself). It
      matches rotated, anisotropic normal modes, which the isotropic Gaussian cannot.
    * ``"gaussian-quartic"`` — ``exp(-|x|^2 / (2 a_l^2) - sum_i x_i^4 / (4 b_l^4))``, learnable
      lengths a_l and b_l per mode (b_l from ``envelope_quartic_width``): the tails of wells
      that grow like ``x_i^4`` along the axes. For ``V = x^4`` in 1D the best envelope alone is
      0.008 % above the ground level (the Gaussian alone: 2 %), so the MLP only corrects.
    * ``"exponential"`` — ``exp(-|x| / a_l)``, learnable length a_l per mode.
    * ``"box"`` — ``prod_i (x_i - lo_i)(hi_i - x_i) / ((hi_i - lo_i) / 2)^2`` on
      ``spec.envelope_box``: 1 at the centre, 0 on the walls (Dirichlet boundary condition of
      the infinite box), negative outside (the smooth continuation, so finite differences
      next to a wall stay smooth). Not a log-envelope: :meth:`log_envelope` is undefined.
    * ``"none"`` — 1.

    Learnable lengths are stored as ``log(a_l / envelope_width)`` (zero at initialisation),
    and ``log(b_l / envelope_quartic_width)``.
    The output is the (unnormalised) eigenfunction psi itself, in problem coordinates.
    """

    def __init__(self, dim: int, n_modes: int, spec: ModelSpec, generator: torch.Generator,
                 log_density: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 envelope_precision=None):
        super().__init__()
        self.dim, self.n_modes, self.envelope, self.envelope_width = dim, n_modes, spec.envelope, spec.envelope_width
        if spec.envelope == "sampling" and log_density is None:
            raise ValueError("envelope='sampling' needs the sampling log-density")
        self.log_density = log_density
        self.features = FourierFeatures(dim, spec.fourier_features, spec.fourier_scales, spec.radial_feature, generator)
        mlp = DisjointMLP if spec.architecture == "disjoint" else SharedMLP
        self.mlp = mlp(self.features.out_dim, spec.hidden, n_modes, spec.activation, generator)
        if spec.envelope in ("gaussian", "exponential", "gaussian-normal-modes", "gaussian-quartic"):
            self.log_width = nn.Parameter(torch.zeros(n_modes))
        if spec.envelope == "gaussian-quartic":
            self.envelope_quartic_width = spec.envelope_quartic_width
            self.log_quartic_width = nn.Parameter(torch.zeros(n_modes))
        if spec.envelope == "gaussian-normal-modes":  # a buffer: stored with the weights, restored by load
            m = torch.eye(dim, dtype=torch.float64) if envelope_precision is None else \
                torch.as_tensor(envelope_precision, dtype=torch.float64)
            if m.shape != (dim, dim):
                raise ValueError(f"envelope_precision must have shape ({dim}, {dim}), got {tuple(m.shape)}")
            self.register_buffer("envelope_precision", 0.5 * (m + m.T))
        if spec.envelope == "box":
            if len(spec.envelope_box) != dim:
                raise ValueError(f"envelope='box' needs envelope_box with {dim} (lo, hi) pairs")
            b = torch.tensor(spec.envelope_box, dtype=torch.float64)
            self.register_buffer("box_low", b[:, 0].clone())
            self.register_buffer("box_high", b[:, 1].clone())

    def box_envelope(self, x: torch.Tensor) -> torch.Tensor:
        """The ``box`` envelope, shape (B, 1)."""
        lo, hi = self.box_low.to(x.dtype), self.box_high.to(x.dtype)
        half = 0.5 * (hi - lo)
        return ((x - lo) * (hi - x) / (half * half)).prod(-1, keepdim=True)

    def log_envelope(self, x: torch.Tensor) -> torch.Tensor:
        """log envelope, shape (B, L) or (B, 1)."""
        if self.envelope == "box":
            raise ValueError("the box envelope changes sign outside the box; use box_envelope()")
        if self.envelope == "sampling":
            return 0.5 * self.log_density(x)[:, None]
        if self.envelope == "none":
            return torch.zeros_like(x[:, :1])
        a = self.envelope_width * torch.exp(self.log_width).to(x.dtype)
        if self.envelope == "gaussian":
            return -0.5 * (x * x).sum(-1, keepdim=True) / a**2
        if self.envelope == "gaussian-normal-modes":
            return -0.5 * ((x @ self.envelope_precision.to(x.dtype)) * x).sum(-1, keepdim=True) / a**2
        if self.envelope == "gaussian-quartic":
            b4 = (self.envelope_quartic_width * torch.exp(self.log_quartic_width).to(x.dtype)) ** 4
            return -0.5 * (x * x).sum(-1, keepdim=True) / a**2 - 0.25 * (x ** 4).sum(-1, keepdim=True) / b4
        return -_radius(x) / a

    @property
    def can_reinitialise(self) -> bool:
        """Whether single modes can be re-initialised (disjoint networks only)."""
        return isinstance(self.mlp, DisjointMLP)

    @torch.no_grad()
    def reinitialise_modes(self, modes, generator: torch.Generator) -> None:
        """Re-initialise modes (list of indices): their MLP weights as at construction and
        their envelope length back to ``envelope_width``. Disjoint networks only (each mode
        has its own parameters: slices ``[modes]`` of every parameter)."""
        if not self.can_reinitialise:
            raise ValueError("single modes can be re-initialised only with disjoint networks")
        self.mlp.reinitialise(list(modes), generator)
        if hasattr(self, "log_width"):
            self.log_width[list(modes)] = 0.0
        if hasattr(self, "log_quartic_width"):
            self.log_quartic_width[list(modes)] = 0.0

    def value_and_laplacian(self, x: torch.Tensor):
        """``(psi, lap psi)``, each (B, L), in one forward-Laplacian pass (see
        :func:`value_and_laplacian`); exact to rounding, differentiable in the parameters."""
        return value_and_laplacian(self, x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.envelope == "box":
            return self.mlp(self.features(x)) * self.box_envelope(x)
        return self.mlp(self.features(x)) * torch.exp(self.log_envelope(x))


def _log_envelope_jet(model: "EigenfunctionModel", x: torch.Tensor):
    """``(g, grad g, lap g)`` of ``g = log envelope``: shapes (B, K), (D, B, K), (B, K), K = L or 1."""
    d = x.shape[1]
    x2 = (x * x).sum(-1, keepdim=True)
    xt = x.T[:, :, None]
    if model.envelope == "none":
        zero = torch.zeros_like(x2)
        return zero, zero[None], zero
    if model.envelope == "sampling":
        return _scalar_jet(lambda y: 0.5 * model.log_density(y), x)
    a = model.envelope_width * torch.exp(model.log_width).to(x.dtype)
    if model.envelope == "gaussian":
        return -0.5 * x2 / a**2, -xt / a**2, (-d / a**2).expand(x.shape[0], -1)
    if model.envelope == "gaussian-normal-modes":  # g = -x^T M x / (2 a^2): grad -M x / a^2, lap -tr M / a^2
        m = model.envelope_precision.to(x.dtype)
        mx = x @ m
        return (-0.5 * (mx * x).sum(-1, keepdim=True) / a**2, -mx.T[:, :, None] / a**2,
                (-torch.trace(m) / a**2).expand(x.shape[0], -1))
    if model.envelope == "gaussian-quartic":  # g = -|x|^2/2a^2 - sum x_i^4/4b^4
        b4 = (model.envelope_quartic_width * torch.exp(model.log_quartic_width).to(x.dtype)) ** 4
        return (-0.5 * x2 / a**2 - 0.25 * (x ** 4).sum(-1, keepdim=True) / b4,
                -xt / a**2 - xt ** 3 / b4, -d / a**2 - 3.0 * x2 / b4)
    r = _radius(x)  # exponential: g = -r / a
    return -r / a, -(xt / r) / a, -(d / r - x2 / r**3) / a


def _scalar_jet(fn, x: torch.Tensor):
    """``(g, grad g, lap g)`` of a per-point function ``fn: (B, D) -> (B,)`` by nested
    forward-mode AD along each axis (used for the sampling envelope, which has no network)."""
    from torch.func import jvp

    grads, lap = [], 0.0
    for i in range(x.shape[1]):
        e = torch.zeros_like(x)
        e[:, i] = 1.0
        (g, g1), (_, g2) = jvp(lambda y: jvp(fn, (y,), (e,)), (x,), (e,))
        grads.append(g1)
        lap = lap + g2
    return g[:, None], torch.stack(grads)[:, :, None], lap[:, None]


def _box_envelope_jet(model: "EigenfunctionModel", x: torch.Tensor):
    """``(e, grad e, lap e)`` of the box envelope ``prod_i q_i(x_i)``: (B, 1), (D, B, 1), (B, 1).

    ``d_i e = q_i' prod_{j != i} q_j`` and ``d_ii e = q_i'' prod_{j != i} q_j``; the products
    without factor i come from prefix and suffix products (no division by a vanishing q_j).
    """
    lo, hi = model.box_low.to(x.dtype), model.box_high.to(x.dtype)
    half2 = (0.5 * (hi - lo)) ** 2
    q, dq, d2q = (x - lo) * (hi - x) / half2, (hi + lo - 2 * x) / half2, -2.0 / half2
    ones = torch.ones_like(q[:, :1])
    prefix = torch.cumprod(torch.cat([ones, q[:, :-1]], dim=1), dim=1)
    suffix = torch.cumprod(torch.cat([ones, q.flip(1)[:, :-1]], dim=1), dim=1).flip(1)
    others = prefix * suffix
    return q.prod(-1, keepdim=True), (others * dq).T[:, :, None], (others * d2q).sum(-1, keepdim=True)


def value_and_laplacian(model: "EigenfunctionModel", x: torch.Tensor):
    """``(psi, lap psi)`` of an :class:`EigenfunctionModel` in one forward-Laplacian pass.

    The network's jet (:meth:`FourierFeatures.jet`, ``mlp.jet``) meets the envelope e by the
    product rule, ``lap(m e) = e lap m + 2 grad m . grad e + m lap e``; for a log-envelope
    ``e = exp(g)`` this is ``e (lap m + 2 grad m . grad g + m (lap g + |grad g|^2))``.

    Parameters
    ----------
    x : torch.Tensor, shape (B, D)

    Returns
    -------
    values, laplacians : torch.Tensor, shape (B, L) each; differentiable in the parameters
    (an autograd graph is built unless called under ``torch.no_grad``).
    """
    values, _, laplacians = value_gradient_laplacian(model, x)
    return values, laplacians


def value_gradient_laplacian(model: "EigenfunctionModel", x: torch.Tensor):
    """``(psi, grad psi, lap psi)`` of an :class:`EigenfunctionModel` in one forward pass.

    As :func:`value_and_laplacian`, also returning the gradient, by the product rule
    ``grad(m e) = e grad m + m grad e`` (``e (grad m + m grad g)`` for ``e = exp(g)``).

    Parameters
    ----------
    x : torch.Tensor, shape (B, D)

    Returns
    -------
    values : torch.Tensor, shape (B, L)
    gradients : torch.Tensor, shape (B, L, D)
    laplacians : torch.Tensor, shape (B, L)
    """
    jet = model.mlp.jet(model.features.jet(x))
    m, grad_m, lap_m = jet[0], jet[1:-1], jet[-1]
    if model.envelope == "box":
        e, grad_e, lap_e = _box_envelope_jet(model, x)
        grad = e * grad_m + m * grad_e
        return m * e, grad.permute(1, 2, 0), e * lap_m + 2 * (grad_m * grad_e).sum(0) + m * lap_e
    g, grad_g, lap_g = _log_envelope_jet(model, x)
    e = torch.exp(g)
    inner = lap_m + 2 * (grad_m * grad_g).sum(0) + m * (lap_g + (grad_g * grad_g).sum(0))
    grad = e * (grad_m + m * grad_g)
    return m * e, grad.permute(1, 2, 0), e * inner


def build_model(dim: int, n_modes: int, spec: ModelSpec, generator: torch.Generator, log_density=None,
                envelope_precision=None) -> EigenfunctionModel:
    """Build the eigenfunction model described by a :class:`~nsvd_cli.spec.ModelSpec`.

    ``envelope_precision`` (D, D): the matrix M of ``envelope = "gaussian-normal-modes"``
    (:meth:`nsvd_cli.problem.Problem.envelope_precision`); ignored by other envelopes. Without
    it that envelope starts from M = I (a model rebuilt to load stored weights, which hold M).
    """
    return EigenfunctionModel(dim, n_modes, spec, generator, log_density, envelope_precision)
