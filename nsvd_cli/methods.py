"""The eigen-solvers compared in the NeuralSVD paper (Sec. 4.1, Fig. 4), as training objectives.

Every method is an *objective*: ``objective(f, tf, gram=None) -> loss``, a scalar whose
``backward()`` puts the method's (possibly masked, possibly non-gradient) update into the
parameters' ``.grad``. The model, sampler, operator, optimiser, evaluation and results file are
shared; only this step differs. ``f``/``tf`` are ``(B, L)`` importance-weighted network and
operator values (``f = ψ/sqrt(w_tr)``, inner products are batch means, App. D.3) and ``tf`` is
a constant (no graph through T).

* ``nestedlora`` — NeuralSVD (Ryu et al., ICML 2024), :func:`nsvd_cli.objective.nested_lora_loss`.
* ``lora`` — the unnested low-rank objective, eq. (3): any rotation of the top-L subspace
  is optimal; energies and order come from Rayleigh–Ritz on the learned span
  (:func:`rayleigh_ritz`; App. A.2 of the paper discusses this two-stage alternative).
* ``neuralef`` — NeuralEF (Deng, Shi, Zhu, ICML 2022), in the unbiased variant the paper
  compares against (App. B.2.2, after eq. 16), with L2 batch normalisation of the outputs.
* ``spin`` — Spectral Inference Networks (Pfau et al., ICLR 2019): the Cholesky-masked
  gradient, eq. (12) of App. B.2.1, with the bilevel moving averages (13)-(14) of the Gram
  matrix and of the Jacobian term.

NeuralEF and SpIN need disjoint networks (App. B.2, "both require each parametric
eigenfunction to be parameterized separately"): :func:`make_objective` refuses a shared one.
"""

from __future__ import annotations

import torch

from .errors import SpecError
from .objective import nested_lora_loss, nesting_masks

__all__ = ["METHODS", "make_objective", "check_method_settings", "lora_loss", "neuralef_loss", "SpinObjective", "spin_coefficients",
           "rayleigh_ritz", "SPIN_DECAY", "NORM_ESTIMATE", "VANISHING_MODES", "ORTHOGONAL_BY_CONSTRUCTION",
           "evaluation_rotation"]

#: The methods ``training.method`` accepts (the spec's Literal lists the same names).
METHODS = ("nestedlora", "lora", "neuralef", "spin")
#: Whether a method's evaluated functions carry the eigenvalue in their squared norm
#: (``ψ_l = sqrt(λ_l) φ_l``, App. D.5), i.e. whether the verdict's agreement ``λ_R ≈ λ_N`` is a
#: signal. NestedLoRA's do. NeuralEF and SpIN normalise their outputs (batch normalisation, the
#: Cholesky factor of Σ̄), so ``‖ψ‖²`` says nothing about λ. LoRA's do only at the exact optimum
#: ``f = Φ Λ^{1/2} Q`` (Q orthogonal): its objective is flat along Q, Q drifts during training,
#: and the evaluated model is the parameters' moving average (``training.ema_decay``), whose
#: outputs average the drifting rotations — ``Φ Λ^{1/2} Q̄`` with ``Q̄`` a contraction. The span
#: (hence the Rayleigh–Ritz values) is unaffected, the amplitudes are not: measured on harmonic2d
#: (3 modes, 600 iterations) λ_N = 13.35, 8.96, 8.78 for λ_R = 14.00, 11.98, 11.96 with
#: ``ema_decay = 0.995``, 13.99, 11.89, 11.99 with 0 (no average). The Gram matrix of the span,
#: ``Q̄ᵀ Λ Q̄``, has the same contraction, so no amplitude gives a second estimate: LoRA's
#: evaluated functions are the unit-normalised Ritz functions and agreement is not judged
#: (:func:`evaluation_rotation`); the other signals (residual, drift, order, overlap) decide.
NORM_ESTIMATE = {"nestedlora": True, "lora": False, "neuralef": False, "spin": False}
#: Whether a method drives the modes of eigenvalue of T ≤ 0 to zero norm (App. C.6), so that
#: the evaluation leaves them out of the Rayleigh–Ritz span: the low-rank objectives (NestedLoRA,
#: LoRA) do; NeuralEF and SpIN normalise every output.
VANISHING_MODES = {"nestedlora": True, "lora": True, "neuralef": False, "spin": False}
#: Methods whose evaluated eigenfunctions are orthonormal on the rule by construction (the
#: evaluation rotation of :func:`evaluation_rotation`: LoRA's Rayleigh–Ritz coefficients, SpIN's
#: Cholesky factor): their orthogonality metric is ~1e-25 whatever the training did, and says
#: nothing about it (a new-user trial read it as a win over NestedLoRA's 1e-2).
ORTHOGONAL_BY_CONSTRUCTION = {"nestedlora": False, "lora": True, "neuralef": False, "spin": True}
#: Why each method but NestedLoRA ignores ``training.nesting`` (the refusal of a non-default one says).
_UNNESTED = {"lora": "lora is the unnested objective, every mask 1",
             "neuralef": "neuralef orders the modes by its own sequential update",
             "spin": "spin orders the modes by its Cholesky-masked gradient"}
#: Decay β of SpIN's moving averages (13)-(14); Pfau et al. use 1 − β = 0.01.
SPIN_DECAY = 0.99


def lora_loss(f: torch.Tensor, tf: torch.Tensor, *, gram: torch.Tensor | None = None) -> torch.Tensor:
    """The unnested LoRA objective of all L modes jointly, eq. (3) with ``g = f``:

        ``L(f) = −2 Σ_l ⟨f_l|T f_l⟩ + Σ_{l,l'} ⟨f_l|f_l'⟩²``,

    minimised by any ``f = Φ_L Λ_L^{1/2} Q`` with Q orthogonal (Theorem 3.1): the span is
    the top-L eigenspace, the individual functions are not eigenfunctions. Gradient and
    half-batch / ``gram`` estimates as in :func:`~nsvd_cli.objective.nested_lora_loss` with
    all masks equal to one (vector mask ``m = 1``, matrix mask ``M = 11ᵀ``).

    Parameters
    ----------
    f, tf : torch.Tensor, shape (B, L)
    gram : torch.Tensor, shape (L, L), optional

    Returns
    -------
    torch.Tensor, shape ()
    """
    n = f.shape[1]
    masks = (torch.ones(n, dtype=f.dtype, device=f.device), torch.ones(n, n, dtype=f.dtype, device=f.device))
    return nested_lora_loss(f, tf, gram=gram, masks=masks)


class _NeuralEFFunction(torch.autograd.Function):
    """Backward of the unbiased NeuralEF update (App. B.2.2, second form), per batch point:
    ``∂/∂φ_l(x_b) = (4/B)(−Tφ_l(x_b) + Σ_{i<l} ⟨φ_i|Tφ_l⟩' φ_i(x_b))`` with ⟨·|·⟩' from the other
    half-batch (independent of x_b, hence unbiased); φ_i for i < l receive nothing (stop-gradient)."""

    @staticmethod
    def forward(ctx, phi, tphi):
        h = phi.shape[0] // 2
        p1 = phi[:h].T @ tphi[:h] / h  # P_il = <φ_i|Tφ_l> on each half
        p2 = phi[h:].T @ tphi[h:] / (phi.shape[0] - h)
        ctx.save_for_backward(phi, tphi, p1, p2)
        p = 0.5 * (p1 + p2)
        diag = torch.diagonal(p)
        strict = torch.triu(torch.ones_like(p), 1)  # i < l
        # eq. (15) summed over l, with sg(φ_i): −<φ_l|Tφ_l> + Σ_{i<l} <φ_i|Tφ_l>² / <φ_i|Tφ_i>
        return -diag.sum() + (strict * (p1 * p2) / diag[:, None].clamp_min(1e-30)).sum()

    @staticmethod
    def backward(ctx, grad_output):
        phi, tphi, p1, p2 = ctx.saved_tensors
        b, h = phi.shape[0], phi.shape[0] // 2
        strict = torch.triu(torch.ones_like(p1), 1)
        grad = (-4.0 / b) * tphi
        grad[:h] += (4.0 / b) * (phi[:h] @ (strict * p2))
        grad[h:] += (4.0 / b) * (phi[h:] @ (strict * p1))
        return grad_output * grad, None


def neuralef_loss(f: torch.Tensor, tf: torch.Tensor, *, gram: torch.Tensor | None = None) -> torch.Tensor:
    """NeuralEF (Deng, Shi, Zhu 2022) in the unbiased variant of App. B.2.2.

    The outputs are L2-batch-normalised, ``φ_l = f_l / (mean_b f_l²)^{1/2}`` (the constraint
    ``⟨φ_l|φ_l⟩ = 1`` of eq. 15; the normalisation is differentiated through, which keeps the
    update on the unit sphere), ``Tφ_l = Tf_l / ‖f_l‖`` and, for mode l, the update

        ``∂_{φ_l} L_l = 4 {−|Tφ_l⟩ + Σ_{i<l} ⟨φ_i|Tφ_l⟩ |φ_i⟩}``

    (App. B.2.2, the paper's replacement of the biased eq. 16), with the inner products from
    the other half-batch. Its fixed point, mode by mode, is the ordered eigenbasis
    (Theorem B.3). ``gram`` is ignored (the method has no Gram term).

    Parameters
    ----------
    f, tf : torch.Tensor, shape (B, L), B even

    Returns
    -------
    torch.Tensor, shape ()
        The value of the sequential objective (15) summed over l (for logging).

    Raises
    ------
    ValueError
        If the shapes differ or B is odd.
    """
    if f.shape != tf.shape or f.ndim != 2 or f.shape[0] % 2:
        raise ValueError(f"f and tf must have the same shape (B, L) with B even; got {tuple(f.shape)}, "
                         f"{tuple(tf.shape)}")
    norm = (f * f).mean(0).clamp_min(1e-30).sqrt()
    return _NeuralEFFunction.apply(f / norm, tf.detach() / norm.detach())


def spin_coefficients(sigma: torch.Tensor, pi: torch.Tensor):
    """The matrices of SpIN's masked gradient (Pfau et al. 2019, eq. 25; paper App. B.2.1, eq. 12).

    With the Cholesky factor ``Σ = L Lᵀ`` and ``Λ = L⁻¹ Π L⁻ᵀ``, ``Λ_ll`` depends on
    φ_1..φ_l only (Lemma B.1); the masked gradient ascends each ``Λ_ll`` in φ_l alone:

        ``∂̃_θ tr Λ = 2 E[(Tφ)(X)ᵀ C ∂φ(X)/∂θ] − 2 E[φ(X)ᵀ A ∂φ(X)/∂θ]``,
        ``C = L⁻ᵀ diag(L)⁻¹``,  ``A = L⁻ᵀ triu(Λ diag(L)⁻¹)``.

    (The paper prints ``L⁻¹`` in the first term; ``L⁻ᵀ`` is what makes mode l's coefficient
    depend on modes ≤ l, and what the autograd check in ``tests/test_methods.py`` confirms.)

    Parameters
    ----------
    sigma : torch.Tensor, shape (L, L)
        Gram matrix ``Σ_ll' = ⟨φ_l|φ_l'⟩`` (symmetric positive definite).
    pi : torch.Tensor, shape (L, L)
        ``Π_ll' = ⟨φ_l|Tφ_l'⟩`` (symmetrised by the caller).

    Returns
    -------
    c, a : torch.Tensor, shape (L, L)
    lam : torch.Tensor, shape (L,)
        ``diag Λ``: SpIN's eigenvalue estimates, in order.
    """
    # cholesky_ex: no host check of the factorisation (a GPU step stays sync-free); a Σ that is
    # not positive definite gives NaN here, which the trainer's deferred non-finite check catches.
    chol, info = torch.linalg.cholesky_ex(sigma)
    chol = chol * torch.where(info == 0, 1.0, float("nan")).to(chol.dtype)
    eye = torch.eye(sigma.shape[0], dtype=sigma.dtype, device=sigma.device)
    linv = torch.linalg.solve_triangular(chol, eye, upper=False)
    dinv = 1.0 / torch.diagonal(chol)
    lam = linv @ pi @ linv.T
    return linv.T * dinv, linv.T @ torch.triu(lam * dinv), torch.diagonal(lam)


class SpinObjective:
    """SpIN's masked gradient with the bilevel moving averages (Pfau et al. 2019, Sec. 3.2;
    paper App. B.2.1, eqs. 12-14), for disjoint networks.

    Each call updates the moving averages with the batch,

        ``Σ̄ ← β Σ̄ + (1−β) Σ̂``  (13),    ``J̄_kl ← β J̄_kl + (1−β) Ê[φ_k ∂φ_l/∂θ]``  (14),

    and returns a loss whose gradient is ``−∂̃ tr Λ`` estimated as

        ``−2 Ê[(Tφ)ᵀ C(Σ̄) ∂φ/∂θ] + 2 Σ_kl A(Σ̄, Π̂)_kl J̄_kl``

    (:func:`spin_coefficients`): linear in the batch quantities given Σ̄ and J̄. J̄ is one copy
    of every per-mode parameter per mode k — the ``O(L × model size)`` memory of App. B.2.1.
    The learned eigenfunctions are ``ψ = L⁻¹φ`` (L the Cholesky factor of Σ̄); the network
    outputs φ themselves are ordered but not orthogonal. ``gram`` is ignored.

    Parameters
    ----------
    params : iterable of torch.nn.Parameter
        The model's parameters; every trainable one must be per-mode (first axis of length
        ``n_modes``, mode l's slice influencing φ_l only).
    n_modes : int
    decay : float, default :data:`SPIN_DECAY`

    Raises
    ------
    ValueError
        A trainable parameter is shared between modes.
    """

    def __init__(self, params, n_modes: int, decay: float = SPIN_DECAY):
        self.params = [p for p in params if p.requires_grad]
        if any(p.shape[:1] != (n_modes,) for p in self.params):
            raise ValueError("SpIN needs disjoint networks (every trainable parameter per mode)")
        self.n_modes, self.decay = n_modes, decay
        self.sigma = self.jac = None
        self.eigenvalues = None  # diag Λ of the last step

    def _jacobian_term(self, f: torch.Tensor) -> list:
        """Ê[φ_k ∂φ_l/∂θ_l] for every per-mode parameter: one (L, *p.shape) tensor each."""
        b, n = f.shape
        v = f.detach().T[:, :, None].expand(n, b, n) / b  # v[k, b, l] = φ_k(x_b) / B
        try:
            return list(torch.autograd.grad(f, self.params, v, is_grads_batched=True, retain_graph=True))
        except RuntimeError:  # an op without a batching rule: one backward per k
            rows = [torch.autograd.grad(f, self.params, v[k], retain_graph=True) for k in range(n)]
            return [torch.stack(parts) for parts in zip(*rows)]

    def cholesky_factor(self) -> torch.Tensor:
        """The Cholesky factor of Σ̄, shape (L, L); ψ = L⁻¹φ are SpIN's eigenfunctions."""
        return torch.linalg.cholesky(self.sigma)

    def __call__(self, f: torch.Tensor, tf: torch.Tensor, gram=None) -> torch.Tensor:
        b, n = f.shape
        fd, tf = f.detach(), tf.detach()
        sigma_hat, pi_hat = fd.T @ fd / b, fd.T @ tf / b
        pi_hat = 0.5 * (pi_hat + pi_hat.T)
        jac = self._jacobian_term(f)
        if self.sigma is None:
            self.sigma, self.jac = sigma_hat, jac
        else:
            beta = self.decay
            self.sigma = beta * self.sigma + (1 - beta) * sigma_hat
            self.jac = [beta * j0 + (1 - beta) * j1 for j0, j1 in zip(self.jac, jac)]
        eye = torch.eye(n, dtype=f.dtype, device=f.device)
        sigma = self.sigma + 1e-10 * torch.diagonal(self.sigma).mean() * eye  # keep the factorisation defined
        c, a, lam = spin_coefficients(sigma, pi_hat)
        self.eigenvalues = lam
        surrogate = (f * ((-2.0 / b) * (tf @ c))).sum()
        for p, j in zip(self.params, self.jac):
            surrogate = surrogate + (p * (2.0 * torch.einsum("kl,kl...->l...", a, j))).sum()
        return -lam.sum() + (surrogate - surrogate.detach())


def rayleigh_ritz(gram: torch.Tensor, quad: torch.Tensor, *, rtol: float = 1e-10):
    """Rayleigh–Ritz on the span of L functions: the generalized eigenproblem ``Π c = λ Σ c``.

    Parameters
    ----------
    gram : torch.Tensor, shape (L, L)
        ``Σ_ij = ⟨f_i|f_j⟩`` (symmetric positive semi-definite).
    quad : torch.Tensor, shape (L, L)
        ``Π_ij = ⟨f_i|T f_j⟩`` (symmetrised here).
    rtol : float
        Directions of Σ with eigenvalue below ``rtol · max`` are dropped (a rank-deficient span).

    Returns
    -------
    eigenvalues : torch.Tensor, shape (r,)
        Ritz values, descending (the top eigenvalues of T within the span).
    coefficients : torch.Tensor, shape (L, r)
        ``ψ_j = Σ_i f_i C_ij`` are the Ritz functions, orthonormal (``Cᵀ Σ C = I``).
    """
    s, u = torch.linalg.eigh(0.5 * (gram + gram.T))
    keep = s > rtol * s.max().clamp_min(0)
    w = u[:, keep] / s[keep].sqrt()
    lam, v = torch.linalg.eigh(w.T @ (0.5 * (quad + quad.T)) @ w)
    order = torch.argsort(lam, descending=True)
    return lam[order], (w @ v)[:, order]


def check_method_settings(method: str, nesting: str, architecture: str) -> None:
    """Refuse settings a method cannot honour, before anything is built or printed.

    Raises
    ------
    SpecError
        NeuralEF/SpIN with ``architecture = "shared"`` (field ``model.architecture``: App. B.2,
        each eigenfunction parameterised separately); a method other than NestedLoRA with a
        nesting other than ``"sequential"`` (field ``training.nesting``: no other method uses
        the nesting masks, the setting would be ignored yet stored).
    """
    if method in ("neuralef", "spin") and architecture == "shared":
        raise SpecError("model.architecture", f"method {method!r} needs disjoint networks (App. B.2: each "
                                              "eigenfunction parameterised separately), not a shared one")
    if method in _UNNESTED and nesting != "sequential":
        raise SpecError("training.nesting", f"method {method!r} does not use the nesting masks (only nestedlora "
                                            f"nests the modes; {_UNNESTED[method]}): leave nesting at sequential")


def make_objective(training, model: torch.nn.Module, *, nested=nested_lora_loss):
    """The training objective of ``training.method`` for ``model`` (one per fit).

    Parameters
    ----------
    training : TrainingSpec
        ``method``, and ``nesting`` / ``joint_weights`` for NestedLoRA.
    model : torch.nn.Module
        Has ``n_modes`` (L) and ``parameters()``.
    nested : callable, default :func:`~nsvd_cli.objective.nested_lora_loss`
        The NestedLoRA loss ``nested(f, tf, gram=..., masks=...)`` (``fit`` passes its own name
        for it, so that a test can replace it).

    Returns
    -------
    callable
        ``objective(f, tf, gram=None) -> loss`` (shape ()), f and tf (B, L).

    Raises
    ------
    SpecError
        ``training.method`` is unknown, NeuralEF/SpIN with a shared network (field
        ``model.architecture``), or another method than NestedLoRA with a nesting other than
        ``"sequential"`` (field ``training.nesting``: no other method uses the nesting masks,
        the setting would be ignored yet stored).
    """
    method = getattr(training, "method", "nestedlora")
    n = model.n_modes
    shared = any(p.requires_grad and p.shape[:1] != (n,) for p in model.parameters())
    check_method_settings(method, getattr(training, "nesting", "sequential"), "shared" if shared else "disjoint")
    if method == "nestedlora":
        masks = {}

        def nested_lora(f, tf, gram=None):
            if "m" not in masks:  # built once, in f's dtype and device
                masks["m"] = nesting_masks(n, training.nesting, training.joint_weights or None, dtype=f.dtype,
                                           device=f.device)
            return nested(f, tf, gram=gram, masks=masks["m"])
        return nested_lora
    if method == "lora":
        return lora_loss
    if method == "neuralef":
        return lambda f, tf, gram=None: neuralef_loss(f, tf)
    if method == "spin":
        return SpinObjective(model.parameters(), n)
    raise SpecError("training.method", f"unknown method {method!r}; expected one of {', '.join(METHODS)}")


def evaluation_rotation(method: str, values, gradients, potential_values, weights, conventions, *,
                        laplacians=None):
    """The (L, L) matrix ``R`` that turns a model's outputs into the method's eigenfunctions.

    The evaluation of a run (:func:`nsvd_cli.evaluate.evaluate_model`) scores ``ψ = f R`` (f the
    network outputs at the rule's nodes), so that every method is judged on the eigenfunctions
    it claims, in its own order:

    * ``nestedlora``: None (the outputs are ``sqrt(λ_l) φ_l`` already, Theorem 3.2).
    * ``lora``: Rayleigh–Ritz on the learned span (:func:`nsvd_cli.ritz.ritz_from_samples`, modes
      of Rayleigh quotient of T ≤ 0 left out, as for NestedLoRA's Ritz step): ``R = C``, the Ritz
      coefficients (``Cᵀ S C = I``: unit-normalised Ritz functions, ordered by Ritz energy,
      ascending). Their squared norms are no eigenvalue estimate (:data:`NORM_ESTIMATE`: the
      evaluated moving average contracts LoRA's amplitudes, not its span). The last columns, of
      directions Rayleigh–Ritz left out, are the left-out outputs unit-normalised (in order; 0
      for a near-null direction of S).
    * ``neuralef``: ``R = diag(1/‖f_l‖)`` (the outputs are the eigenfunctions up to the scale the
      batch normalisation removes; Deng et al. 2022, eq. 15).
    * ``spin``: ``R = L⁻ᵀ`` with ``S = L Lᵀ`` the Cholesky factorisation of the rule's Gram matrix
      (ψ = L⁻¹φ, Pfau et al. 2019, Sec. 3.1: the learned eigenfunctions are the ordered
      Gram–Schmidt orthonormalisation of the outputs; the training's moving average Σ̄ is
      replaced by the rule's exact Σ). A Gram matrix that is not positive definite (a mode of
      zero norm) gets ``diag(1/‖f_l‖)``.

    LoRA's, NeuralEF's and SpIN's ψ are unit-normalised: ``‖ψ‖²`` is no eigenvalue estimate (:data:`NORM_ESTIMATE`).

    Parameters
    ----------
    method : str
        One of :data:`METHODS`.
    values, gradients, potential_values, weights : ndarray, shapes (N, L), (N, L, D), (N,), (N,)
    conventions : Problem or Conventions
        ``kinetic`` and ``eigenvalues_from_energies``.
    laplacians : ndarray, shape (N, L), optional
        For the local-energy form of the Ritz matrices (Monte Carlo rules).

    Returns
    -------
    ndarray, shape (L, L), or None
        None for ``nestedlora`` (no rotation).

    Raises
    ------
    ValueError
        Unknown ``method``.
    """
    import numpy as np
    import scipy.linalg

    from .ritz import rayleigh_ritz as rayleigh_ritz_matrices
    from .ritz import ritz_matrices

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if method == "nestedlora":
        return None
    values, w = np.asarray(values, np.float64), np.asarray(weights, np.float64)
    gram = np.einsum("n,ni,nj->ij", w, values, values)
    norms = np.sqrt(np.maximum(np.diag(gram), 0.0))
    unit = np.diag(np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 0.0))
    if method == "neuralef":
        return unit
    if method == "spin":
        try:
            chol = scipy.linalg.cholesky(0.5 * (gram + gram.T), lower=True)
        except np.linalg.LinAlgError:
            return unit
        return scipy.linalg.solve_triangular(chol, np.eye(len(gram)), lower=True).T
    h, s = ritz_matrices(values, gradients, potential_values, w, conventions.kinetic, laplacians)
    with np.errstate(all="ignore"):
        include = np.asarray(conventions.eigenvalues_from_energies(np.diag(h) / np.diag(s))) > 0
    ritz = rayleigh_ritz_matrices(h, s, include=include)
    rotation = np.nan_to_num(np.array(ritz.vectors, np.float64))  # dropped pairs: NaN columns -> 0
    kept = len(gram) - ritz.dropped
    for j, i in zip(range(kept, len(gram)), np.flatnonzero(~include)):  # left-out modes, unit-normalised
        rotation[:, j] = unit[:, i]
    return rotation
