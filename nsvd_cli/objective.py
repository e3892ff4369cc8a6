"""The NestedLoRA objective for the top-L eigenpairs of a self-adjoint operator T.

Works for any operator (PDE operators, matrices): tensors in, scalar out. No model,
sampler or optimiser here.

References
----------
.. [1] J. J. Ryu et al., "Operator SVD with Neural Networks via Nested Low-Rank
   Approximation", ICML 2024: eq. (3); Sec. 3.2, eqs. (4)-(8); App. C.5, C.6, D.1-D.2.
"""

from __future__ import annotations

import torch

__all__ = ["nesting_masks", "nested_lora_loss", "gram_matrix"]


def nesting_masks(n_modes: int, nesting: str = "sequential", weights=None, *, dtype=torch.float32, device=None):
    """Vector and matrix nesting masks (m, M) of the unified NestedLoRA gradient, eq. (8).

    Parameters
    ----------
    n_modes : int
        Number of modes L.
    nesting : {"sequential", "joint"}
        Sequential: ``m_l = 1``, ``M_il = 1[i <= l]`` (eq. 5; note M is *not* symmetric:
        column l holds the coefficients of the gradient for mode l). Joint:
        ``m_l = sum_{i >= l} w_i``, ``M_il = m_max(i, l)`` (Prop. C.4).
    weights : sequence of float, shape (L,), optional
        Positive joint-nesting weights; uniform ``1/L`` when None. Joint nesting only.

    Returns
    -------
    vector_mask : torch.Tensor, shape (L,)
    matrix_mask : torch.Tensor, shape (L, L)

    Raises
    ------
    ValueError
        Unknown nesting, weights with sequential nesting, wrong shape or non-positive weights.
    """
    if nesting == "sequential":
        if weights is not None and len(weights) > 0:
            raise ValueError("weights are only valid with nesting='joint'")
        m = torch.ones(n_modes, dtype=dtype, device=device)
        idx = torch.arange(n_modes, device=device)
        M = (idx[:, None] <= idx[None, :]).to(dtype)
        return m, M
    if nesting == "joint":
        if weights is None or len(weights) == 0:
            w = torch.full((n_modes,), 1.0 / n_modes, dtype=dtype, device=device)
        else:
            w = torch.as_tensor(weights, dtype=dtype, device=device)
            if w.shape != (n_modes,):
                raise ValueError(f"weights must have shape ({n_modes},), got {tuple(w.shape)}")
            if not bool((w > 0).all()):
                raise ValueError("joint-nesting weights must all be positive")
        m = torch.flip(torch.cumsum(torch.flip(w, [0]), 0), [0])
        M = torch.minimum(m[:, None], m[None, :])  # m is decreasing, so min(m_i, m_l) = m_max(i,l)
        return m, M
    raise ValueError(f"unknown nesting {nesting!r}; expected 'sequential' or 'joint'")


def gram_matrix(f: torch.Tensor) -> torch.Tensor:
    """Monte Carlo Gram matrix ``G_ll' = <f_l|f_l'> ≈ mean_b f_l(x_b) f_l'(x_b)``.

    Parameters
    ----------
    f : torch.Tensor, shape (B, L)

    Returns
    -------
    torch.Tensor, shape (L, L)
    """
    return f.T @ f / f.shape[0]


class _NestedLoRAFunction(torch.autograd.Function):
    """Custom backward of App. D.2: the gradient flows through f only, at the batch points."""

    @staticmethod
    def forward(ctx, f, tf, vector_mask, matrix_mask, gram):
        b = f.shape[0]
        sym = torch.maximum(matrix_mask, matrix_mask.T)
        if gram is None:  # two independent half-batches
            g1, g2 = gram_matrix(f[: b // 2]), gram_matrix(f[b // 2:])
        else:  # the batch and an independent Gram estimate
            g1, g2 = gram_matrix(f), gram
        ctx.save_for_backward(f, tf, g1, g2, vector_mask, matrix_mask)
        ctx.independent = gram is not None
        loss_operator = -2 * (vector_mask * (f * tf).mean(0)).sum()
        return loss_operator + (sym * g1 * g2).sum()

    @staticmethod
    def backward(ctx, grad_output):
        f, tf, g1, g2, m, M = ctx.saved_tensors
        b = f.shape[0]
        # d/df_l(x_b) of the operator term: -2 m_l Tf_l(x_b) / B each for the two
        # symmetric occurrences of f in <f|Tf> (T self-adjoint) -> -4 m_l Tf_l / B.
        grad = (-4.0 / b) * tf * m
        # metric term, eq. (19): 4/B sum_i M_il f_i(x) <f_i|f_l>, with the Gram matrix taken
        # from samples independent of x so that the estimate is unbiased.
        if ctx.independent:
            grad += (4.0 / b) * (f @ (M * g2))
        else:  # the other half-batch (2/h = 4/B)
            h = b // 2
            grad[:h] += (2.0 / h) * (f[:h] @ (M * g2))
            grad[h:] += (2.0 / (b - h)) * (f[h:] @ (M * g1))
        return grad_output * grad, None, None, None, None


def nested_lora_loss(f, tf, *, nesting="sequential", weights=None, gram=None, masks=None):
    """NestedLoRA objective for the top-L eigenpairs of a self-adjoint operator T.

    Minibatch estimate of  ``-2 sum_l m_l <f_l|T f_l> + sum_{l,l'} M_ll' <f_l|f_l'>^2``,
    minimised by ``f_l = sqrt(lambda_l) phi_l``, ``lambda_1 >= ... >= lambda_L > 0``;
    modes beyond the last positive eigenvalue go to zero (App. C.6).

    Parameters
    ----------
    f : torch.Tensor, shape (B, L)
        Network outputs ``f_l(x_b) / sqrt(w_tr(x_b))`` at B points from p_tr, so inner
        products are row means. B even: the two halves give independent Gram estimates,
        which makes the gradient unbiased (App. D.2).
    tf : torch.Tensor, shape (B, L)
        ``(T f_l)(x_b) / sqrt(w_tr(x_b))`` at the same points; treated as a constant
        (no graph through T is needed or used).
    nesting : {"sequential", "joint"}, default "sequential"
        Sequential: ``m_l = 1``, ``M_il = 1[i <= l]``. Joint: ``m_l = sum_{i>=l} w_i``,
        ``M_il = m_max(i,l)``.
    weights : sequence of float, shape (L,), optional
        Positive joint-nesting weights; uniform when None. Only valid with joint nesting.
    gram : torch.Tensor, shape (L, L), optional
        An estimate of the Gram matrix ``<f_l|f_l'>`` from samples independent of the batch
        (e.g. a larger no-grad batch). The gradient at every batch point then uses it, which
        keeps the gradient unbiased and lowers its variance; by default the two half-batches
        are used for each other.
    masks : (torch.Tensor, torch.Tensor), optional
        Precomputed ``nesting_masks(L, nesting, weights)`` (vector (L,), matrix (L, L)) in
        f's dtype and device, e.g. built once per fit; ``nesting`` and ``weights`` are then
        ignored.

    Returns
    -------
    loss : torch.Tensor, shape ()
        Objective value (Gram term from the product of the two half-batch Gram matrices).
        Sequential nesting has no single scalar objective (eq. 4); its value is reported as
        the plain LoRA objective of all L modes, while its gradient is the nested one.
        Its gradient with respect to f is the unified nested gradient, eq. (8)/(19): for
        mode l, ``-4/B m_l Tf_l(x) + 2/B' sum_i M_il f_i(x) G'_il`` with G' from the other
        half-batch.

    Raises
    ------
    ValueError
        If f and tf differ in shape, B is odd, or the weights are invalid.

    References
    ----------
    .. [1] J. J. Ryu et al., ICML 2024: eq. (3); Sec. 3.2, eqs. (4)-(8); App. C.5, D.1-D.2.

    Examples
    --------
    >>> f = torch.randn(8, 3, requires_grad=True)
    >>> nested_lora_loss(f, torch.randn(8, 3)).shape
    torch.Size([])
    """
    if f.shape != tf.shape or f.ndim != 2:
        raise ValueError(f"f and tf must both have shape (B, L); got {tuple(f.shape)} and {tuple(tf.shape)}")
    if gram is None and f.shape[0] % 2:
        raise ValueError(f"batch size must be even (two independent half-batches), got {f.shape[0]}")
    if gram is not None and gram.shape != (f.shape[1], f.shape[1]):
        raise ValueError(f"gram must have shape ({f.shape[1]}, {f.shape[1]}), got {tuple(gram.shape)}")
    m, M = masks if masks is not None else nesting_masks(f.shape[1], nesting, weights, dtype=f.dtype, device=f.device)
    return _NestedLoRAFunction.apply(f, tf.detach(), m, M, None if gram is None else gram.detach())
