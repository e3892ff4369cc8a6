"""Evaluate learned eigenfunctions: quadrature + model + reference -> :class:`Evaluation`.

Energies come from the quadratic form (no Laplacian, sound at the Coulomb cusp):
``E_l = (kinetic * <grad psi_l|grad psi_l> + <psi_l|V psi_l>) / <psi_l|psi_l>``, integrated
with the spec's deterministic rule (tensor Gauss–Legendre or polar for D <= 3, Monte Carlo
for D >= 4). Eigenvalues of ``T = scale * (-H + shift)`` follow. The norm-based estimate
(App. D.5) is ``||psi_l||^2``, since NestedLoRA learns ``psi_l = sqrt(lambda_l) phi_l``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from . import metrics
from .verdict import residual_norms

__all__ = ["Evaluation", "evaluate_functions", "evaluate_model", "model_values_and_gradients", "model_laplacians",
           "residuals_available"]


@dataclass
class Evaluation:
    """Eigenvalue estimates and accuracy measures of L learned modes.

    All arrays have shape (L,) unless stated. ``eigenvalues`` are of T (descending in the
    ideal case), ``energies`` of H. Reference fields are None when no reference is known.
    Means skip modes whose reference eigenvalue of T is <= 0 (their learned norm should be
    ~0, App. C.6) and, for angle/subspace distances, a degenerate group cut by ``modes``.
    """

    eigenvalues: np.ndarray
    energies: np.ndarray
    norm_eigenvalues: np.ndarray
    norm_energies: np.ndarray
    gram: np.ndarray  # (L, L) normalised Gram matrix of the learned functions
    orthogonality: float
    max_off_diagonal: float
    reference_eigenvalues: np.ndarray | None = None
    reference_energies: np.ndarray | None = None
    relative_errors: np.ndarray | None = None
    energy_relative_errors: np.ndarray | None = None
    angle_distances: np.ndarray | None = None
    subspace_distances: np.ndarray | None = None  # (G,) per degenerate group
    positive: np.ndarray | None = None  # (L,) bool: reference eigenvalue of T > 0
    residuals: np.ndarray | None = None  # (L,) sigma_l = ||(H - E_l) psi_l|| / ||psi_l||, energy units
    verdict: object = None  # nsvd_cli.verdict.Verdict, set by the caller that knows the history

    def summary(self) -> dict:
        """Scalar summary: means over the counted modes, orthogonality, max off-diagonal."""
        out = {"orthogonality": self.orthogonality, "max_off_diagonal": self.max_off_diagonal}
        if self.relative_errors is not None:
            p = self.positive
            out.update(
                mean_relative_error=float(np.mean(self.relative_errors[p])) if p.any() else float("nan"),
                max_relative_error=float(np.max(self.relative_errors[p])) if p.any() else float("nan"),
                mean_energy_relative_error=float(np.mean(self.energy_relative_errors[p])) if p.any() else float("nan"),
                mean_angle_distance=metrics.nanmean(self.angle_distances[p]),
                mean_subspace_distance=metrics.nanmean(self.subspace_distances),
            )
        return out


def model_values_and_gradients(model: torch.nn.Module, x: np.ndarray, chunk: int = 16384):
    """Values (N, L) and gradients (N, L, D) of a model's functions, in float64 on the CPU.

    A float64 CPU deep copy of the model is evaluated: the model itself (e.g. the live EMA
    module of a training run on a GPU) is neither moved nor changed. Gradients by
    forward-mode AD (one JVP per axis).
    """
    from torch.func import jvp

    m = copy.deepcopy(model).to(device="cpu", dtype=torch.float64).eval()
    vals, grads = [], []
    for start in range(0, len(x), chunk):
        xt = torch.as_tensor(x[start:start + chunk], dtype=torch.float64)
        g = []
        with torch.no_grad():
            for i in range(xt.shape[1]):
                e = torch.zeros_like(xt)
                e[:, i] = 1.0
                v, dv = jvp(m, (xt,), (e,))
                g.append(dv)
        vals.append(v.numpy())
        grads.append(torch.stack(g, -1).numpy())
    return np.concatenate(vals), np.concatenate(grads)


def evaluate_functions(values, gradients, potential_values, weights, conventions, *, reference=None,
                       reference_values=None) -> Evaluation:
    """Evaluation of sampled functions (the shared code path of ``solve`` and ``compare``).

    Parameters
    ----------
    values : ndarray, shape (N, L)
        psi_l at the quadrature points (the scaled eigenfunctions as learned).
    gradients : ndarray, shape (N, L, D)
    potential_values : ndarray, shape (N,)
    weights : ndarray, shape (N,)
        Quadrature weights.
    conventions : Problem or Conventions
        Anything with ``kinetic`` and the conversions ``eigenvalues_from_energies`` /
        ``energies_from_eigenvalues`` (``H = -kinetic Laplacian + V``, ``T = scale (-H + shift)``).
    reference : ReferenceSolution, optional
        Exact energies, degenerate groups and eigenfunctions.
    reference_values : ndarray, shape (N, L)
        Reference eigenfunctions at the points; required with ``reference``.

    Raises
    ------
    ValueError
        ``reference`` without ``reference_values``.
    """
    w = np.asarray(weights, np.float64)
    norms = np.einsum("n,nl->l", w, values**2)
    kin = conventions.kinetic * np.einsum("n,nld->l", w, gradients**2)
    pot = np.einsum("n,n,nl->l", w, potential_values, values**2)
    safe = np.where(norms > 0, norms, np.finfo(float).tiny)
    energies = (kin + pot) / safe
    gram = metrics.normalised_gram(values, w)
    ev = Evaluation(
        eigenvalues=conventions.eigenvalues_from_energies(energies), energies=energies,
        norm_eigenvalues=norms, norm_energies=conventions.energies_from_eigenvalues(norms),
        gram=gram, orthogonality=metrics.orthogonality(gram), max_off_diagonal=metrics.max_off_diagonal(gram),
    )
    if reference is None:
        return ev
    if reference_values is None:
        raise ValueError("reference_values are required with a reference")
    ref_e = np.asarray(reference.energies, np.float64)
    ref_l = conventions.eigenvalues_from_energies(ref_e)
    positive = ref_l > 0
    angles, subspace, _ = metrics.group_distances(values, reference_values, reference.groups, positive,
                                                  reference.complete_last_group, w)
    pos_idx = np.flatnonzero(positive)
    if len(pos_idx):
        g = metrics.normalised_gram(values[:, pos_idx], w)
        ev.orthogonality, ev.max_off_diagonal = metrics.orthogonality(g), metrics.max_off_diagonal(g)
    rel = np.full(len(ref_e), np.nan)
    rel[positive] = metrics.relative_errors(ev.eigenvalues[positive], ref_l[positive])
    ev.reference_eigenvalues, ev.reference_energies = ref_l, ref_e
    ev.relative_errors = rel
    ev.energy_relative_errors = metrics.relative_errors(energies, ref_e)
    ev.angle_distances, ev.subspace_distances, ev.positive = angles, subspace, positive
    return ev


_FROM_PROBLEM = object()


def model_laplacians(model: torch.nn.Module, x: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """Exact Laplacians (N, L) of a model's functions at points x (N, D), in float64 on the CPU.

    Forward-over-forward AD (:func:`nsvd_cli.laplacian.laplacian_exact`) on a float64 CPU
    deep copy: the model itself is neither moved nor changed.
    """
    from .laplacian import laplacian_exact

    m = copy.deepcopy(model).to(device="cpu", dtype=torch.float64).eval()
    out = [laplacian_exact(m, torch.as_tensor(x[a:a + chunk], dtype=torch.float64))[1].numpy()
           for a in range(0, len(x), chunk)]
    return np.concatenate(out)


#: Largest ``nodes × D`` on which residuals are computed (each costs ~4 D model passes).
RESIDUAL_BUDGET = 400_000


def residuals_available(problem) -> bool:
    """Whether residuals ``||(H − E)ψ||`` are computed on the problem's rule: D ≤ 3 and at most
    :data:`RESIDUAL_BUDGET` nodes × D (cost: a forward-over-forward Laplacian per axis), and
    not for a Coulomb potential, whose cusp makes ``(Hψ)²`` non-integrable (≈ 1/r² at r = 0)
    unless the network reproduces the cusp exactly."""
    n = len(problem.quadrature.weights)
    return (problem.dimension <= 3 and n * problem.dimension <= RESIDUAL_BUDGET
            and problem.spec.potential.kind != "coulomb")


def evaluate_model(model: torch.nn.Module, problem, *, reference=_FROM_PROBLEM, residuals: bool | None = None
                   ) -> Evaluation:
    """Evaluate a model's eigenfunctions on a problem's evaluation rule (:func:`evaluate_functions`).

    Parameters
    ----------
    model : torch.nn.Module
        (B, D) -> (B, L). Evaluated as a float64 CPU copy; the model itself is not moved.
    problem : Problem
        Gives the quadrature, the potential values there, the conventions and (cached) the
        reference with its values at the quadrature points.
    reference : ReferenceSolution or None, optional
        Override the problem's reference (None: no reference measures).
    residuals : bool, optional
        Compute ``Evaluation.residuals`` (default :func:`residuals_available`); costs about
        4 D further passes of the model over the rule.
    """
    values, grads = model_values_and_gradients(model, problem.quadrature.points)
    if reference is _FROM_PROBLEM:
        reference, reference_values = problem.reference, problem.reference_values
    else:
        reference_values = None if reference is None else reference.eigenfunctions(problem.quadrature.points)
    ev = evaluate_functions(values, grads, problem.potential_values, problem.quadrature.weights, problem,
                            reference=reference, reference_values=reference_values)
    if residuals if residuals is not None else residuals_available(problem):
        h_values = -problem.kinetic * model_laplacians(model, problem.quadrature.points) \
            + problem.potential_values[:, None] * values
        ev.residuals = residual_norms(values, h_values, problem.quadrature.weights, ev.energies)
    return ev
