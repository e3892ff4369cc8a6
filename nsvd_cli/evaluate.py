"""Evaluate learned eigenfunctions: quadrature + model + reference -> :class:`Evaluation`.

Energies come from the quadratic form (no Laplacian, sound at the Coulomb cusp):
``E_l = (kinetic * <grad psi_l|grad psi_l> + <psi_l|V psi_l>) / <psi_l|psi_l>``, integrated
with the spec's deterministic rule (tensor Gauss–Legendre or polar for D <= 3, Monte Carlo
for D >= 4). Eigenvalues of ``T = scale * (-H + shift)`` follow. The norm-based estimate
(App. D.5) is ``||psi_l||^2``, since NestedLoRA learns ``psi_l = sqrt(lambda_l) phi_l``.

On the same rule, Rayleigh–Ritz (:mod:`nsvd_cli.ritz`) gives the Ritz energies and vectors: on
the learned functions times the monomials of degree <= ``evaluation.ritz_degree`` in the
coordinates (:func:`nsvd_cli.ritz.ritz_on_polynomial_basis`; by default 2 on a deterministic
rule, 0 — the learned span — on a Monte Carlo one), the L lowest pairs; where ``Hψ`` is
computed (D ≤ 3, not Coulomb) the residuals of those Ritz functions, with ``H(fψ)`` by the
product rule, give per-level intervals (:mod:`nsvd_cli.bounds`); on a Gauss–Legendre box rule
the lower sides include the Lehmann–Goerisch bounds (:mod:`nsvd_cli.goerisch`), and a refined
rule (:func:`refined_rule`) estimates the integration error of each Ritz value.

The functions scored are the method's eigenfunctions (:func:`nsvd_cli.methods.evaluation_rotation`):
NestedLoRA's outputs as they are; LoRA's rotated by Rayleigh–Ritz on their span and ordered by
Ritz energy; NeuralEF's unit-normalised; SpIN's Cholesky-orthonormalised (ψ = L⁻¹φ). NeuralEF
and SpIN have no norm estimate (``norm_eigenvalues`` is NaN: the verdict does not use it).

On a Monte Carlo rule (D ≥ 4) every figure carries a standard error from the
delete-one-block jackknife, with the Kish effective sample size of each mode and a flag for
modes whose error the sample count does not resolve (:mod:`nsvd_cli.montecarlo`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from . import metrics, montecarlo
from .bounds import LevelBounds, level_bounds, no_bounds, withdraw
from .cutoff import CUTOFF_LAYERS, ball_cutoff, box_cutoff, cutoff_ritz_energies
from .goerisch import CosineDual, GoerischData, dual_per_axis
from .methods import NORM_ESTIMATE, VANISHING_MODES, evaluation_rotation
from .ritz import RitzResult, polynomial_basis, polynomial_values, residual_gram, ritz_matrices, ritz_on_polynomial_basis
from .quadrature import EDGE_LAYER, edge_mass, wall_faces
from .verdict import Tolerances, residual_norms

#: A level whose Ritz function has more of its squared norm than this in the outer layer of
#: the rule's domain gets no interval (the verdict's ``box edge`` threshold). The layer along
#: hard walls (``Problem.walls``: Dirichlet faces, where every eigenfunction vanishes) is not
#: counted (:func:`nsvd_cli.quadrature.edge_mass`).
EDGE_MASS_MAX = Tolerances.edge

__all__ = ["Evaluation", "evaluate_functions", "evaluate_model", "monte_carlo_blocks", "model_values_and_gradients", "model_laplacians",
           "residuals_available", "bounds_unavailable_reason"]


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
    ritz_energies: np.ndarray | None = None  # (L,) the L lowest Ritz values of H, ascending (NaN: dropped)
    ritz_vectors: np.ndarray | None = None  # (L·P, L) C: Ritz function k = sum_j chi_j C_jk (unit norm on the
    #   rule) over the basis chi = nsvd_cli.ritz.polynomial_values (P = 1, chi = psi, for ritz_degree 0)
    ritz_dropped: int = 0  # near-null Gram directions and modes of T-eigenvalue <= 0 left out of the span
    ritz_degree: int = 0  # monomial degree of the Ritz basis (evaluation.ritz_degree)
    ritz_centre: np.ndarray | None = None  # (D,) monomial frame y = (x - centre)/scale (ritz_degree > 0)
    ritz_scale: np.ndarray | None = None  # (D,)
    ritz_overlaps: np.ndarray | None = None  # (L, L) <psi_l, phi_k> / ||psi_l||: learned mode l vs Ritz function k
    ritz_residuals: np.ndarray | None = None  # (L,) ||(H - rho_k) phi_k|| of the unit Ritz functions
    bounds: LevelBounds | None = None  # per-level intervals around the Ritz energies (nsvd_cli.bounds)
    refined: bool = False  # bounds with Lehmann–Goerisch and the refined-rule check (evaluate_model(refine=True))
    edge_mass: np.ndarray | None = None  # (L,) norm fraction of each scored mode in the rule's outer layer
    gap_relative_errors: np.ndarray | None = None  # (L,) |(E_l-E_0) - (Eref_l-Eref_0)| / |Eref_l-Eref_0|; NaN at l=0
    # Monte Carlo rules only (None / 0 for a deterministic rule; nsvd_cli.montecarlo):
    stderr: dict | None = None  # standard error of each figure, keyed by field name (same shapes) and
    #   by summary key (mean_energy_relative_error, ...): delete-one-block jackknife over ``mc_blocks`` blocks
    effective_samples: np.ndarray | None = None  # (L,) Kish effective sample size of the weights w psi_l^2
    mc_blocks: int = 0
    mc_unresolved: np.ndarray | None = None  # (L,) bool: stderr of the energy error not < max(error, 1e-4) / 3
    matched_std: float | None = None  # MC: Gaussian importance std maximising the smallest ESS (Gaussian model)
    # training.method (nsvd_cli.methods): which functions were scored
    method: str = "nestedlora"
    rotation: np.ndarray | None = None  # (L, L) R: the scored functions are model outputs @ R (None: the outputs)

    def unresolved_modes(self) -> list[int]:
        """Modes (0-based) whose energy error the Monte Carlo rule does not resolve (empty
        for a deterministic rule or without reference)."""
        return [] if self.mc_unresolved is None else [int(i) for i in np.flatnonzero(self.mc_unresolved)]

    def summary(self) -> dict:
        """Scalar summary: means over the counted modes, orthogonality, max off-diagonal; for a
        Monte Carlo rule also ``<key>_stderr`` of the orthogonality, the max off-diagonal and
        the mean energy and gap errors, and ``min_effective_samples``."""
        out = {"orthogonality": self.orthogonality, "max_off_diagonal": self.max_off_diagonal}
        if self.relative_errors is not None:
            p = self.positive
            gaps = self.gap_relative_errors if self.gap_relative_errors is not None else np.full(len(p), np.nan)
            out.update(
                mean_relative_error=float(np.mean(self.relative_errors[p])) if p.any() else float("nan"),
                max_relative_error=float(np.max(self.relative_errors[p])) if p.any() else float("nan"),
                mean_energy_relative_error=float(np.mean(self.energy_relative_errors[p])) if p.any() else float("nan"),
                mean_gap_relative_error=metrics.nanmean(gaps[p]),
                max_gap_relative_error=float(np.nanmax(gaps[p])) if np.isfinite(gaps[p]).any() else float("nan"),
                mean_angle_distance=metrics.nanmean(self.angle_distances[p]),
                mean_subspace_distance=metrics.nanmean(self.subspace_distances),
            )
        if self.stderr is not None:
            out.update(orthogonality_stderr=self.stderr["orthogonality"],
                       max_off_diagonal_stderr=self.stderr["max_off_diagonal"],
                       min_effective_samples=float(np.nanmin(self.effective_samples)))
            for key in ("mean_energy_relative_error", "mean_gap_relative_error"):
                if key in self.stderr:
                    out[f"{key}_stderr"] = float(self.stderr[key])
        return out


def model_values_and_gradients(model: torch.nn.Module, x: np.ndarray, chunk: int = 16384, *,
                               laplacians: bool = False, dtype=torch.float64):
    """Values (N, L), gradients (N, L, D) and optionally Laplacians (N, L) of a model's functions.

    A deep copy of the model in ``dtype``, on the model's own device (a GPU run evaluates on
    its GPU), is evaluated chunk by chunk; results come back as float64 NumPy arrays. The
    model itself (e.g. the live EMA module of a training run) is neither moved nor changed. For nsvd's own models everything comes from one jet pass
    (:func:`nsvd_cli.models.value_gradient_laplacian`); other modules get gradients by
    forward-mode AD (one JVP per axis) and Laplacians by :func:`nsvd_cli.laplacian.laplacian_forward`.

    Returns
    -------
    (values, gradients) or, with ``laplacians=True``, (values, gradients, laplacians)
    """
    from torch.func import jvp

    from .laplacian import laplacian_forward
    from .models import EigenfunctionModel, value_gradient_laplacian

    device = next(iter(model.parameters()), torch.empty(0)).device
    m = copy.deepcopy(model).to(device=device, dtype=dtype).eval()
    out = ([], [], [])
    for start in range(0, len(x), chunk):
        xt = torch.as_tensor(x[start:start + chunk], dtype=dtype, device=device)
        with torch.no_grad():
            if isinstance(m, EigenfunctionModel):
                v, g, lap = value_gradient_laplacian(m, xt)
            else:
                g = []
                for i in range(xt.shape[1]):
                    e = torch.zeros_like(xt)
                    e[:, i] = 1.0
                    v, dv = jvp(m, (xt,), (e,))
                    g.append(dv)
                g = torch.stack(g, -1)
                lap = laplacian_forward(m, xt)[1] if laplacians else None
        for acc, a in zip(out, (v, g, lap)):
            if a is not None:
                acc.append(a.to(device="cpu", dtype=torch.float64).numpy())
    arrays = tuple(np.concatenate(a) for a in out[:3 if laplacians else 2])
    return arrays


def evaluate_functions(values, gradients, potential_values, weights, conventions, *, reference=None,
                       reference_values=None, blocks: int = 0, laplacians=None, vanishing: bool = True,
                       points=None, ritz_degree: int = 0) -> Evaluation:
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
        ``energies_from_eigenvalues`` (``H = -kinetic Laplacian + V``, ``T = scale (-H + shift)``),
        and with a reference ``reference_eigenvalues`` (a level at the shift: eigenvalue 0).
    reference : ReferenceSolution, optional
        Exact energies, degenerate groups and eigenfunctions.
    reference_values : ndarray, shape (N, L)
        Reference eigenfunctions at the points; required with ``reference``.
    blocks : int
        0 for a deterministic rule. For a Monte Carlo rule of N independent points, the
        number B >= 2 of blocks of the delete-one-block jackknife
        (:func:`nsvd_cli.montecarlo.jackknife`) that gives ``Evaluation.stderr``, and the
        Kish effective sample sizes ``Evaluation.effective_samples``.
    laplacians : ndarray, shape (N, L), optional
        ``∇²psi_l`` at the points. When given, the kinetic energies are ``-kinetic <psi|∇²psi>``
        instead of ``kinetic <∇psi|∇psi>`` (equal for functions that vanish at infinity or on
        the walls), so that the Rayleigh quotient is the weighted mean of the *local energy*
        ``(H psi)/psi`` under ``w psi²``, whose variance vanishes at an eigenfunction (Assaraf
        & Caffarel, PRL 83, 4682 (1999)); measured on a learned 6D oscillator: 20-170x smaller.
    vanishing : bool
        True (NestedLoRA, LoRA): a mode whose eigenvalue of T is <= 0 is taken for one the
        objective drives to zero norm and left out of the Rayleigh–Ritz span. False (NeuralEF,
        SpIN: unit-normalised outputs, :data:`nsvd_cli.methods.NORM_ESTIMATE`): every mode is kept.
    points : ndarray, shape (N, D), optional
        The rule's nodes; needed for ``ritz_degree > 0``.
    ritz_degree : int
        Rayleigh–Ritz on the functions times the monomials of degree <= ``ritz_degree``
        (:func:`nsvd_cli.ritz.ritz_on_polynomial_basis`); 0 (or no ``points``): on their span.

    Raises
    ------
    ValueError
        ``reference`` without ``reference_values``.
    """
    if reference is not None and reference_values is None:
        raise ValueError("reference_values are required with a reference")
    w = np.asarray(weights, np.float64)
    values = np.asarray(values, np.float64)
    if laplacians is None:
        kinetic_density = np.einsum("nld->nl", np.asarray(gradients, np.float64) ** 2)
    else:
        kinetic_density = -values * np.asarray(laplacians, np.float64)
    potential_values = np.asarray(potential_values, np.float64)

    def figures(idx, factor):
        return _figures(values[idx], kinetic_density[idx], potential_values[idx], factor * w[idx], conventions,
                        reference, None if reference is None else reference_values[idx])

    fig = figures(slice(None), 1.0)
    ev = Evaluation(
        eigenvalues=fig["eigenvalues"], energies=fig["energies"], norm_eigenvalues=fig["norm_eigenvalues"],
        norm_energies=conventions.energies_from_eigenvalues(fig["norm_eigenvalues"]),
        gram=fig["gram"], orthogonality=fig["orthogonality"], max_off_diagonal=fig["max_off_diagonal"],
    )
    _attach_ritz(ev, values, gradients, potential_values, w, conventions.kinetic, laplacians, vanishing,
                 points, ritz_degree if points is not None else 0)
    if reference is not None:
        ref_e = np.asarray(reference.energies, np.float64)
        ev.reference_eigenvalues, ev.reference_energies = conventions.reference_eigenvalues(ref_e), ref_e
        ev.positive = fig["positive"]
        ev.relative_errors = np.abs(fig["relative_errors"])
        ev.energy_relative_errors = np.abs(fig["energy_relative_errors"])
        ev.gap_relative_errors = np.abs(fig["gap_relative_errors"])
        ev.angle_distances, ev.subspace_distances = fig["angle_distances"], fig["subspace_distances"]
    if blocks and len(w) >= 4 and np.all(np.isfinite(values)):
        _attach_stderr(ev, figures, blocks, values, w, conventions, reference is not None)
    return ev


def _attach_stderr(ev: Evaluation, figures, blocks: int, values, w, conventions, with_reference: bool) -> None:
    """Monte Carlo standard errors (delete-one-block jackknife of ``figures``), Kish sizes and
    the unresolved-mode flags (in place)."""
    ev.mc_blocks = min(int(blocks), len(w) // 2)
    with np.errstate(all="ignore"):
        ev.stderr = montecarlo.jackknife(figures, len(w), ev.mc_blocks)
    ev.stderr.pop("positive", None)
    ev.stderr["norm_energies"] = np.abs(conventions.energies_from_eigenvalues(ev.norm_eigenvalues + ev.stderr[
        "norm_eigenvalues"]) - ev.norm_energies)
    ev.effective_samples = montecarlo.kish_effective_samples(values, w)
    if with_reference:
        ev.mc_unresolved = montecarlo.unresolved_modes(ev.energy_relative_errors,
                                                       ev.stderr["energy_relative_errors"], ev.positive)


def _attach_ritz(ev: Evaluation, values, gradients, potential_values, w, kinetic, laplacians, vanishing,
                 points=None, degree: int = 0) -> None:
    """Rayleigh–Ritz on the scored functions (times monomials up to ``degree``): ``ev.ritz_*``,
    with the overlaps of the learned modes with the Ritz functions (none for non-finite values)."""
    if not (np.all(np.isfinite(values)) and np.all(np.isfinite(gradients))):
        return
    ritz = ritz_on_polynomial_basis(points, values, gradients, potential_values, w, kinetic, degree=degree,
                                    include=np.asarray(ev.eigenvalues) > 0 if vanishing else None,
                                    laplacians=laplacians)
    ev.ritz_energies, ev.ritz_vectors, ev.ritz_dropped = ritz.energies, ritz.vectors, ritz.dropped
    ev.ritz_degree, ev.ritz_centre, ev.ritz_scale = ritz.degree, ritz.centre, ritz.scale
    basis = values if ritz.degree == 0 else polynomial_values(points, values, ritz.degree, ritz.centre, ritz.scale)
    norms = np.sqrt(np.maximum(w @ values**2, np.finfo(float).tiny))
    ev.ritz_overlaps = ((w[:, None] * values).T @ ritz.rotate(basis)) / norms[:, None]


def _figures(values, kinetic_density, potential_values, w, conventions, reference, reference_values) -> dict:
    """Every figure of :func:`evaluate_functions` on one rule (the whole rule, or the rule
    less one jackknife block): eigenvalues, Gram matrix and, with a reference, the *signed*
    relative errors (``(x - x_ref) / |x_ref|``) and the distances."""
    norms = w @ values**2
    kin = conventions.kinetic * (w @ kinetic_density)
    pot = (w * potential_values) @ values**2
    safe = np.where(norms > 0, norms, np.finfo(float).tiny)
    energies = (kin + pot) / safe
    gram = metrics.normalised_gram(values, w)
    out = {"energies": energies, "eigenvalues": conventions.eigenvalues_from_energies(energies),
           "norm_eigenvalues": norms, "gram": gram, "orthogonality": metrics.orthogonality(gram),
           "max_off_diagonal": metrics.max_off_diagonal(gram)}
    if reference is None:
        return out
    ref_e = np.asarray(reference.energies, np.float64)
    ref_l = conventions.reference_eigenvalues(ref_e)  # a level at the shift: 0, not positive
    positive = ref_l > 0
    angles, subspace, _ = metrics.group_distances(values, reference_values, reference.groups, positive,
                                                  reference.complete_last_group, w)
    pos_idx = np.flatnonzero(positive)
    if len(pos_idx):
        g = metrics.normalised_gram(values[:, pos_idx], w)
        out["orthogonality"], out["max_off_diagonal"] = metrics.orthogonality(g), metrics.max_off_diagonal(g)
    rel = np.full(len(ref_e), np.nan)
    rel[positive] = metrics.signed_relative_errors(out["eigenvalues"][positive], ref_l[positive])
    with np.errstate(divide="ignore", invalid="ignore"):  # a level at E = 0 (a continuum threshold)
        err = np.where(ref_e != 0, metrics.signed_relative_errors(energies, ref_e), np.nan)
    gaps = metrics.gap_relative_errors(energies, ref_e, signed=True)
    out.update(positive=positive, relative_errors=rel, energy_relative_errors=err, gap_relative_errors=gaps,
               angle_distances=angles, subspace_distances=subspace,
               mean_energy_relative_error=metrics.nanmean(np.abs(err[positive])),
               mean_gap_relative_error=metrics.nanmean(np.abs(gaps[positive])))
    return out


_FROM_PROBLEM = object()


def model_laplacians(model: torch.nn.Module, x: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """Exact Laplacians (N, L) of a model's functions at points x (N, D), in float64 (a copy on the model's device).

    The forward Laplacian (:func:`nsvd_cli.laplacian.laplacian_forward`: one jet pass for
    nsvd's models, exact to rounding) on a float64 CPU deep copy: the model itself is neither
    moved nor changed.
    """
    return model_values_and_gradients(model, x, chunk, laplacians=True)[2]


#: Largest ``nodes × D`` on which residuals are computed (each node costs about D + 2 model passes).
RESIDUAL_BUDGET = 400_000


def residuals_available(problem) -> bool:
    """Whether residuals ``||(H − E)ψ||`` are computed on the problem's rule: on a Monte Carlo
    rule (its Laplacians come with the local-energy estimator anyway), else for D ≤ 3 and at
    most :data:`RESIDUAL_BUDGET` nodes × D (cost: a forward-Laplacian pass, about D + 2 network
    passes); never for a Coulomb potential, whose cusp makes ``(Hψ)²`` non-integrable
    (≈ 1/r² at r = 0) unless the network reproduces the cusp exactly."""
    n = len(problem.quadrature.weights)
    if problem.spec.potential.kind == "coulomb":
        return False
    return problem.spec.evaluation.quadrature == "monte-carlo" or (
        problem.dimension <= 3 and n * problem.dimension <= RESIDUAL_BUDGET)


def bounds_unavailable_reason(problem) -> str | None:
    """Why a problem's levels get no interval (None: they can get one).

    Coulomb potentials (the cusp makes ``(Hψ)²`` non-integrable unless the network reproduces
    it exactly, so a residual would be meaningless), a Monte Carlo evaluation rule (the
    integrals are estimates, not bounds), and D ≥ 4 or more than :data:`RESIDUAL_BUDGET`
    nodes × D on a deterministic rule (residuals not computed: cost)."""
    if problem.spec.potential.kind == "coulomb":
        return "Coulomb cusp: (Hψ)² is not integrable"
    if problem.spec.evaluation.quadrature == "monte-carlo":
        return "Monte Carlo evaluation rule"
    if problem.dimension > 3:
        return "D ≥ 4: residuals are not computed"
    n = len(problem.quadrature.weights)
    if n * problem.dimension > RESIDUAL_BUDGET:
        return (f"{n} evaluation nodes: residuals are not computed above {RESIDUAL_BUDGET:,} nodes × D "
                f"(fewer evaluation.points or panels)")
    return None


#: Nodes per panel of the refined rule, relative to the evaluation rule's.
REFINE = 1.5
#: Most nodes of the refined rule (its model pass and the Lehmann–Goerisch fit on it are the
#: cost; a 3D default rule refined 1.5× would need 157 464 nodes and 44 s on one core): above
#: it 4 more nodes per panel are tried, then the form gap stands in.
REFINED_BUDGET = 60_000


def refined_rule(problem):
    """The evaluation rule with :data:`REFINE` × its nodes per panel (per axis) on the same box
    (4 more per panel if that exceeds :data:`REFINED_BUDGET`: a 2D user spec's default 48 × 4
    per axis becomes 52 × 4), or None for a rule that is not a Gauss–Legendre box rule or
    whose refinement stays above the budget. On it the Rayleigh quotient of
    each Ritz function, against its Ritz value, estimates the integration error that widens the
    min–max and Lehmann–Goerisch sides of the intervals (docs/bounds.md)."""
    from .quadrature import make_quadrature

    spec = problem.spec.evaluation
    if spec.quadrature != "gauss-legendre" or problem.quadrature.box is None:
        return None
    points = next((p for p in (int(np.ceil(spec.points * REFINE)), spec.points + 4)
                   if (p * spec.panels) ** problem.dimension <= REFINED_BUDGET), None)
    if points is None:
        return None
    return make_quadrature(spec.model_copy(update={"points": points}))


def _refined_functions(model, problem, rotation):
    """``(points, weights, V, values (N2, L), gradients (N2, L, D))`` of the scored functions on
    :func:`refined_rule`, or None (no such rule, or no bounds on this problem)."""
    q = problem.quadrature
    usable = bounds_unavailable_reason(problem) is None and q.box is not None and dual_per_axis(q.points, problem.dimension)
    rule = refined_rule(problem) if usable else None
    if rule is None:
        return None
    values, grads = model_values_and_gradients(model, rule.points, dtype=torch.float64)[:2]
    if rotation is not None:
        values, grads = values @ rotation, np.einsum("nld,lk->nkd", grads, rotation)
    with torch.no_grad():
        pot = problem.potential(torch.as_tensor(rule.points, dtype=torch.float64)).numpy()
    return rule.points, rule.weights, pot, values, grads


def _goerisch_data(problem, ev: Evaluation, ritz: RitzResult, ritz_values, refined) -> GoerischData | None:
    """The Ritz functions for the Lehmann–Goerisch bounds (a cosine dual on the rule's box), or
    None on a rule without a box or too few nodes per axis; hard-wall axes get sines
    (:class:`nsvd_cli.goerisch.CosineDual`)."""
    q = problem.quadrature
    n = dual_per_axis(q.points, problem.dimension) if q.box is not None else 0
    keep = np.flatnonzero(np.isfinite(ev.ritz_energies))
    if n == 0 or len(keep) == 0 or not np.all(np.isfinite(ritz_values[:, keep])):
        return None
    fine = None
    if refined is not None:
        points, weights, pot, values, grads = refined
        if ev.ritz_degree > 0:
            values, grads, _ = polynomial_basis(points, values, grads, degree=ev.ritz_degree, kinetic=problem.kinetic,
                                                centre=ev.ritz_centre, scale=ev.ritz_scale)
        h, _ = ritz_matrices(values, grads, pot, weights, problem.kinetic)
        c = ritz.vectors[:, keep]
        fine = (c.T @ h @ c, values @ c, pot, weights, points)
    walls = getattr(problem, "walls", None)
    sine = None if walls is None else wall_faces(q.box, walls).all(axis=1)
    return GoerischData(ritz_values[:, keep], problem.potential_values, q.weights, q.points, problem.kinetic,
                        CosineDual(q.box, n, sine), fine)


def _attach_bounds(ev: Evaluation, values, h_values, problem, gradients=None, refined=None,
                   goerisch: bool = True, include=None) -> None:
    """Ritz residuals and the per-level intervals of :mod:`nsvd_cli.bounds` (in place).

    ``values``, ``h_values`` (N, L) and ``gradients`` (N, L, D) are of the scored functions; for
    ``ev.ritz_degree > 0`` the extended basis and its ``H(fψ)`` are rebuilt from them
    (:func:`nsvd_cli.ritz.polynomial_basis`, the frame of ``ev``), so that the residuals and the
    Lehmann trial functions are those of the reported Ritz functions. ``refined``
    (:func:`_refined_functions`) adds the refined-rule check of the Ritz values; ``include`` (L,)
    the modes the Ritz solve used (:func:`_cutoff_energies`)."""
    deterministic = problem.spec.evaluation.quadrature != "monte-carlo"
    if ev.ritz_energies is None:
        ev.bounds = no_bounds(len(ev.energies), "non-finite function values", deterministic)
        return
    if h_values is None:
        ev.bounds = no_bounds(len(ev.energies), bounds_unavailable_reason(problem) or "residuals not computed",
                              deterministic)
        return
    ritz = RitzResult(ev.ritz_energies, ev.ritz_vectors, ev.ritz_dropped)
    cut_off = None if not deterministic or bounds_unavailable_reason(problem) else \
        _cutoff_energies(ev, values, gradients, problem, include)
    if ev.ritz_degree > 0:
        values, _, h_values = polynomial_basis(problem.quadrature.points, values, gradients, h_values,
                                               degree=ev.ritz_degree, kinetic=problem.kinetic,
                                               centre=ev.ritz_centre, scale=ev.ritz_scale)
    with np.errstate(all="ignore"):
        rgram = residual_gram(values, h_values, problem.quadrature.weights, ritz)
    ev.ritz_residuals = np.sqrt(np.abs(np.diag(rgram)))
    ritz_values = ritz.rotate(values)  # the Ritz functions at the nodes, (N, L)
    goerisch = _goerisch_data(problem, ev, ritz, ritz_values, refined) if deterministic and goerisch else None
    ev.bounds = level_bounds(ev.ritz_energies, rgram, deterministic=deterministic,
                             unavailable=bounds_unavailable_reason(problem),
                             trial=(ritz_values, ritz.rotate(h_values), problem.quadrature.weights), goerisch=goerisch,
                             next_level_lower=getattr(problem.spec.evaluation, "next_level_lower", None),
                             cutoff_upper=cut_off)
    walls = getattr(problem, "walls", None)
    cut = edge_mass(problem.quadrature, ritz_values, walls)
    if cut is not None and np.any(cut > EDGE_MASS_MAX):
        k = int(np.nanargmax(cut))
        fix = "enlarge evaluation.box" if walls is None else "make evaluation.box the walls"
        withdraw(ev.bounds, np.flatnonzero(cut > EDGE_MASS_MAX),
                 f"the evaluation box cuts the function off ({100 * cut[k]:.2g} % of level {k + 1}'s norm in its "
                 f"outer {100 * EDGE_LAYER:g} %); {fix}")


def _cutoff_energies(ev: Evaluation, values, gradients, problem, include) -> np.ndarray | None:
    """(L,) upper bounds of the levels on R^D: the Ritz values of the scored functions times a
    cutoff that vanishes on the rule's open faces (:mod:`nsvd_cli.cutoff`), the same basis and
    solve as the reported Ritz values; None where nothing is cut (every face a hard wall, a
    rule without a boundary) or the gradients are missing."""
    q = problem.quadrature
    if gradients is None or q.edge is None or not np.all(np.isfinite(gradients)):
        return None
    if q.box is not None:
        faces = ~wall_faces(q.box, getattr(problem, "walls", None))
        if not faces.any():
            return None
        cutoffs = (box_cutoff(q.points, q.box, layer, faces) for layer in CUTOFF_LAYERS)
    else:
        radius = min(min(-lo, hi) for lo, hi in problem.spec.evaluation.box)
        cutoffs = (ball_cutoff(q.points, radius, layer) for layer in CUTOFF_LAYERS)

    def ritz(v, g):
        return ritz_on_polynomial_basis(q.points, v, g, problem.potential_values, q.weights, problem.kinetic,
                                        degree=ev.ritz_degree, include=include).energies

    return cutoff_ritz_energies(cutoffs, values, gradients, ritz)


def monte_carlo_blocks(problem) -> int:
    """Jackknife blocks of a problem's evaluation rule: :data:`nsvd_cli.montecarlo.DEFAULT_BLOCKS`
    for ``quadrature = "monte-carlo"`` (independent points), 0 for a deterministic rule."""
    return montecarlo.DEFAULT_BLOCKS if problem.spec.evaluation.quadrature == "monte-carlo" else 0


def evaluate_model(model: torch.nn.Module, problem, *, reference=_FROM_PROBLEM, residuals: bool | None = None,
                   refine: bool = True) -> Evaluation:
    """Evaluate a model's eigenfunctions on a problem's evaluation rule (:func:`evaluate_functions`).

    Parameters
    ----------
    model : torch.nn.Module
        (B, D) -> (B, L). Evaluated as a copy on the model's device (float64; float32 on Monte Carlo rules); the model itself is not moved.
    problem : Problem
        Gives the quadrature, the potential values there, the conventions and (cached) the
        reference with its values at the quadrature points.
    reference : ReferenceSolution or None, optional
        Override the problem's reference (None: no reference measures).
    residuals : bool, optional
        Compute ``Evaluation.residuals`` (default :func:`residuals_available`); costs about
        4 D further passes of the model over the rule. Without them every level gets "no bound".
    refine : bool
        Compute the Lehmann–Goerisch bounds and the refined-rule check of the Ritz values
        (:func:`refined_rule`; on harmonic2d about 3–9 s). False for the evaluations during
        training (their intervals are then the residual-based ones, still valid):
        ``Evaluation.refined`` records which.

    The functions scored are those of ``problem.spec.training.method``
    (:func:`nsvd_cli.methods.evaluation_rotation`; ``Evaluation.rotation`` maps the model
    outputs to them, None for NestedLoRA): LoRA's are the Ritz functions of the learned span,
    ordered by Ritz energy, so that every per-mode figure (energies, errors, angles, verdict)
    is of eigenfunction estimates; NeuralEF's and SpIN's get NaN norm estimates.

    The Ritz energies and vectors (of the scored functions) are always computed; ``Evaluation.bounds`` holds the
    intervals (or "no bound" and why, :func:`bounds_unavailable_reason`). On a Monte Carlo
    rule every figure gets its standard error (``Evaluation.stderr``, :mod:`nsvd_cli.montecarlo`).
    """
    monte_carlo = problem.spec.evaluation.quadrature == "monte-carlo"
    want_residuals = residuals if residuals is not None else residuals_available(problem)
    # Monte Carlo rules: float32 jet (its rounding, ~1e-7, is far below any standard error) with
    # Laplacians for the local-energy estimator; deterministic rules: float64.
    values, grads, *lap = model_values_and_gradients(model, problem.quadrature.points, laplacians=monte_carlo
                                                     or want_residuals,
                                                     dtype=torch.float32 if monte_carlo else torch.float64)
    laplacians = lap[0] if lap else None
    method = getattr(problem.spec.training, "method", "nestedlora")
    rotation = None
    if np.all(np.isfinite(values)) and np.all(np.isfinite(grads)):
        rotation = evaluation_rotation(method, values, grads, problem.potential_values, problem.quadrature.weights,
                                       problem, laplacians=laplacians if monte_carlo else None)
    if rotation is not None:  # score the method's eigenfunctions, not its raw outputs
        values, grads = values @ rotation, np.einsum("nld,lk->nkd", grads, rotation)
        laplacians = None if laplacians is None else laplacians @ rotation
    if reference is _FROM_PROBLEM:
        reference, reference_values = problem.reference, problem.reference_values
    else:
        reference_values = None if reference is None else reference.eigenfunctions(problem.quadrature.points)
    ev = evaluate_functions(values, grads, problem.potential_values, problem.quadrature.weights, problem,
                            reference=reference, reference_values=reference_values, blocks=monte_carlo_blocks(problem),
                            laplacians=laplacians if monte_carlo else None,
                            vanishing=VANISHING_MODES.get(method, True), points=problem.quadrature.points,
                            ritz_degree=getattr(problem.spec.evaluation, "ritz_degree", 0) or 0)
    if ev.stderr is not None:  # Gaussian or uniform Monte Carlo: the importance std that would suit the modes
        ev.matched_std, _ = montecarlo.matched_std(problem.quadrature.points, values, problem.quadrature.weights)
    h_values = None
    if want_residuals:
        h_values = -problem.kinetic * laplacians + problem.potential_values[:, None] * values
        ev.residuals = residual_norms(values, h_values, problem.quadrature.weights, ev.energies)
    ev.edge_mass = edge_mass(problem.quadrature, values, getattr(problem, "walls", None))  # wall faces left out
    refine = refine and want_residuals and not monte_carlo
    refined = _refined_functions(model, problem, rotation) if refine else None
    include = np.asarray(ev.eigenvalues) > 0 if VANISHING_MODES.get(method, True) else None
    _attach_bounds(ev, values, h_values, problem, grads, refined, goerisch=refine, include=include)
    ev.refined = refine
    ev.method, ev.rotation = method, rotation
    if not NORM_ESTIMATE.get(method, True):
        _drop_norm_estimate(ev)
    return ev


def _drop_norm_estimate(ev: Evaluation) -> None:
    """NaN for the norm estimates of a method that normalises its outputs (NeuralEF, SpIN):
    ``‖ψ‖²`` is 1 by construction there, not an eigenvalue (in place)."""
    ev.norm_eigenvalues = np.full(len(ev.eigenvalues), np.nan)
    ev.norm_energies = np.full(len(ev.eigenvalues), np.nan)
    if ev.stderr is not None:
        for key in ("norm_eigenvalues", "norm_energies"):
            if key in ev.stderr:
                ev.stderr[key] = np.full(len(ev.eigenvalues), np.nan)
