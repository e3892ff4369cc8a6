"""Schrödinger operators applied to a batch of network eigenfunctions.

Convention: ``H = -kinetic * Laplacian + V`` (no factor 1/2), and the operator whose top
eigenpairs are learned is ``T = scale * (-H + shift)``.
"""

from __future__ import annotations

import torch

from .laplacian import LAPLACIANS
from .potentials import Potential

__all__ = ["Hamiltonian", "ShiftedOperator"]


class Hamiltonian:
    """``H = -kinetic * Laplacian + V``.

    Parameters
    ----------
    potential : callable
        V: (B, D) -> (B,).
    kinetic : float
        Kinetic coefficient kappa (1 in the paper's units).
    laplacian : {"fd", "exact", "forward"}
        Laplacian backend (:mod:`nsvd_cli.laplacian`): finite differences, nested
        forward-mode AD, or the forward Laplacian (one pass; generic fallback for a function
        without ``value_and_laplacian``).
    fd_step : float
        Finite-difference step (``laplacian="fd"``).
    """

    def __init__(self, potential: Potential, kinetic: float = 1.0, laplacian: str = "fd", fd_step: float = 0.01):
        self.potential, self.kinetic, self.fd_step = potential, float(kinetic), float(fd_step)
        self.laplacian = LAPLACIANS[laplacian]

    def apply(self, fn, x: torch.Tensor, values: torch.Tensor | None = None):
        """``(psi, H psi)`` at x, each (B, L), for a batched function ``fn: (B, D) -> (B, L)``.

        ``values``, if given, is ``fn(x)`` already computed. No autograd graph is built
        (T f enters the NestedLoRA gradient as a constant).
        """
        psi, lap = self.laplacian(fn, x, self.fd_step, values)
        return psi, -self.kinetic * lap + self.potential(x)[:, None] * psi


class ShiftedOperator:
    """``T = scale * (-H + shift)`` with importance weighting (App. D.3).

    For points ``x ~ p_tr`` (importance weight ``w_tr = p_tr``, Lebesgue measure),
    :meth:`apply` returns ``(f, Tf)`` where ``f = psi / sqrt(w_tr)`` *with* an autograd graph
    to the model parameters, and ``Tf = (T psi) / sqrt(w_tr)`` without one, so that
    ``<psi|T psi> ≈ mean_b f_b Tf_b``.
    """

    def __init__(self, hamiltonian: Hamiltonian, shift: float = 0.0, scale: float = 1.0):
        self.hamiltonian, self.shift, self.scale = hamiltonian, float(shift), float(scale)

    def apply(self, model, x: torch.Tensor, log_weight: torch.Tensor):
        """Importance-weighted network values and operator values at a batch.

        Parameters
        ----------
        model : callable
            (B, D) -> (B, L), the eigenfunctions psi.
        x : torch.Tensor, shape (B, D)
            Points drawn from p_tr.
        log_weight : torch.Tensor, shape (B,)
            ``log w_tr(x) = log p_tr(x)``.

        Returns
        -------
        f : torch.Tensor, shape (B, L)
            ``psi(x) / sqrt(w_tr(x))``, differentiable in the model parameters.
        tf : torch.Tensor, shape (B, L)
            ``(T psi)(x) / sqrt(w_tr(x))``, detached.
        """
        inv_sqrt_w = torch.exp(-0.5 * log_weight)[:, None]
        psi = model(x)
        with torch.no_grad():
            psi0, hpsi = self.hamiltonian.apply(model, x, psi)
            tpsi = self.scale * (self.shift * psi0 - hpsi)
        return psi * inv_sqrt_w, tpsi * inv_sqrt_w

    @torch.no_grad()
    def gram(self, model, x: torch.Tensor, log_weight: torch.Tensor) -> torch.Tensor:
        """Importance-weighted Monte Carlo Gram matrix ``<psi_l|psi_l'>`` from an extra batch.

        ``G = (1/B) sum_b f(x_b) f(x_b)^T`` with ``f = psi / sqrt(w_tr)``, points ``x ~ p_tr``
        independent of the training batch (the ``gram=`` estimate of
        :func:`~nsvd_cli.objective.nested_lora_loss`). No autograd graph.

        Parameters
        ----------
        model : callable
            (B, D) -> (B, L).
        x : torch.Tensor, shape (B, D)
        log_weight : torch.Tensor, shape (B,)
            ``log p_tr(x)``.

        Returns
        -------
        torch.Tensor, shape (L, L)
        """
        f = model(x) * torch.exp(-0.5 * log_weight)[:, None]
        return f.T @ f / f.shape[0]
