"""Neural eigenfunction ansätze: psi_l(x) = envelope_l(x) * MLP_l(features(x)).

* :class:`FourierFeatures` — fixed multi-scale random Fourier features with the raw input
  (and optionally |x|) appended (paper App. E.1.1; Tancik et al. 2020; Wu et al. 2023).
* :class:`DisjointMLP` — L independent MLPs, evaluated as ONE batched computation
  (stacked weights and batched matmuls; no Python loop over modes). For sequential nesting.
* :class:`SharedMLP` — one MLP with L outputs. For joint nesting.
* :class:`EigenfunctionModel` — features + MLP + envelope; maps (B, D) -> (B, L).

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


_ACTIVATIONS = {"softplus": nn.functional.softplus, "tanh": torch.tanh, "silu": nn.functional.silu}


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
        self.act = _ACTIVATIONS[activation]
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


class SharedMLP(nn.Module):
    """One MLP ``R^F -> R^L`` whose outputs are the L modes (shared parameters)."""

    def __init__(self, in_dim: int, hidden, n_modes: int, activation: str, generator: torch.Generator):
        super().__init__()
        self.act = _ACTIVATIONS[activation]
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


class EigenfunctionModel(nn.Module):
    """``psi_l(x) = envelope_l(x) * MLP_l(features(x))``: (B, D) -> (B, L).

    Envelopes (``ModelSpec.envelope``):

    * ``"sampling"`` — ``sqrt(p_tr(x))``: the MLP represents ``psi / sqrt(w_tr)`` exactly as
      in the paper (App. D.3); needs ``log_density``.
    * ``"gaussian"`` — ``exp(-|x|^2 / (2 a_l^2))``, learnable length a_l per mode.
    * ``"exponential"`` — ``exp(-|x| / a_l)``, learnable length a_l per mode.
    * ``"box"`` — ``prod_i (x_i - lo_i)(hi_i - x_i) / ((hi_i - lo_i) / 2)^2`` on
      ``spec.envelope_box``: 1 at the centre, 0 on the walls (Dirichlet boundary condition of
      the infinite box), negative outside (the smooth continuation, so finite differences
      next to a wall stay smooth). Not a log-envelope: :meth:`log_envelope` is undefined.
    * ``"none"`` — 1.

    Learnable lengths are stored as ``log(a_l / envelope_width)`` (zero at initialisation).
    The output is the (unnormalised) eigenfunction psi itself, in problem coordinates.
    """

    def __init__(self, dim: int, n_modes: int, spec: ModelSpec, generator: torch.Generator,
                 log_density: Callable[[torch.Tensor], torch.Tensor] | None = None):
        super().__init__()
        self.dim, self.n_modes, self.envelope, self.envelope_width = dim, n_modes, spec.envelope, spec.envelope_width
        if spec.envelope == "sampling" and log_density is None:
            raise ValueError("envelope='sampling' needs the sampling log-density")
        self.log_density = log_density
        self.features = FourierFeatures(dim, spec.fourier_features, spec.fourier_scales, spec.radial_feature, generator)
        mlp = DisjointMLP if spec.architecture == "disjoint" else SharedMLP
        self.mlp = mlp(self.features.out_dim, spec.hidden, n_modes, spec.activation, generator)
        if spec.envelope in ("gaussian", "exponential"):
            self.log_width = nn.Parameter(torch.zeros(n_modes))
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.envelope == "box":
            return self.mlp(self.features(x)) * self.box_envelope(x)
        return self.mlp(self.features(x)) * torch.exp(self.log_envelope(x))


def build_model(dim: int, n_modes: int, spec: ModelSpec, generator: torch.Generator, log_density=None) -> EigenfunctionModel:
    """Build the eigenfunction model described by a :class:`~nsvd_cli.spec.ModelSpec`."""
    return EigenfunctionModel(dim, n_modes, spec, generator, log_density)
