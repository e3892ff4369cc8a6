"""NestedLoRA objective: masks (App. C.5/D.1), custom gradient vs autograd (App. D.2), and
recovery of a known matrix spectrum."""

import numpy as np
import pytest
import torch

from nsvd_cli.objective import gram_matrix, nested_lora_loss, nesting_masks


def test_sequential_masks_match_eq5():
    m, M = nesting_masks(4, "sequential")
    assert torch.equal(m, torch.ones(4))
    # column l holds the coefficients of mode l's gradient: M_il = 1[i <= l]
    expected = torch.tensor([[1, 1, 1, 1], [0, 1, 1, 1], [0, 0, 1, 1], [0, 0, 0, 1]], dtype=torch.float32)
    assert torch.equal(M, expected)


def test_joint_masks_match_prop_c4():
    w = [0.1, 0.2, 0.3, 0.4]
    m, M = nesting_masks(4, "joint", w, dtype=torch.float64)
    # m_l = sum_{i >= l} w_i, by hand
    assert np.allclose(m.numpy(), [1.0, 0.9, 0.7, 0.4])
    for i in range(4):
        for j in range(4):
            assert M[i, j].item() == pytest.approx(m[max(i, j)].item())
    m_uniform, _ = nesting_masks(4, "joint")
    assert np.allclose(m_uniform.numpy(), [1.0, 0.75, 0.5, 0.25])


@pytest.mark.parametrize("bad", [dict(nesting="sequential", weights=[1.0, 1.0]),
                                 dict(nesting="joint", weights=[1.0, -1.0]),
                                 dict(nesting="joint", weights=[1.0]),
                                 dict(nesting="diagonal", weights=None)])
def test_mask_argument_errors(bad):
    with pytest.raises(ValueError):
        nesting_masks(2, bad["nesting"], bad["weights"])


def test_loss_argument_errors():
    with pytest.raises(ValueError, match="even"):
        nested_lora_loss(torch.randn(5, 2), torch.randn(5, 2))
    with pytest.raises(ValueError, match="shape"):
        nested_lora_loss(torch.randn(4, 2), torch.randn(4, 3))


def _symmetric_matrix(n, eigenvalues, generator):
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=generator, dtype=torch.float64))
    return q @ torch.diag(torch.as_tensor(eigenvalues, dtype=torch.float64)) @ q.T, q


def _reference_objective(f, tf, nesting, weights):
    """The nested objective written directly for autograd (Sec. 3.2).

    Joint: sum_l w_l L_LoRA(f_{1:l}). Sequential: sum_l L_LoRA(f_{1:l}) with f_{1:l-1}
    detached in the l-th term (eq. 4). Gram terms use the two half-batches.
    """
    b, n_modes = f.shape
    h = b // 2
    w = torch.ones(n_modes, dtype=f.dtype) if nesting == "sequential" else torch.as_tensor(weights, dtype=f.dtype)
    total = 0.0
    for l in range(n_modes):
        fl = f[:, : l + 1]
        tl = tf[:, : l + 1]
        if nesting == "sequential":
            fl = torch.cat([fl[:, :l].detach(), fl[:, l:]], dim=1)
            tl = torch.cat([tl[:, :l].detach(), tl[:, l:]], dim=1)
        lora = -2 * (fl * tl).mean(0).sum() + (gram_matrix(fl[:h]) * gram_matrix(fl[h:])).sum()
        total = total + w[l] * lora
    return total


@pytest.mark.parametrize("nesting", ["sequential", "joint"])
def test_custom_gradient_equals_autograd(nesting, generator):
    """Full-domain batch of a symmetric matrix operator: the App. D.2 gradient must equal
    autograd's gradient of the nested objective (including the path through T f)."""
    n, n_modes = 12, 4
    a, _ = _symmetric_matrix(n, np.linspace(5, -3, n), generator)
    theta = torch.randn(n, n_modes, generator=generator, dtype=torch.float64)
    weights = [0.4, 0.3, 0.2, 0.1]

    # functions on n points with the uniform probability measure; T f = A f.
    p1 = theta.clone().requires_grad_(True)
    ref = _reference_objective(p1, a @ p1, nesting, weights if nesting == "joint" else None)
    ref.backward()

    p2 = theta.clone().requires_grad_(True)
    loss = nested_lora_loss(p2, (a @ p2).detach(), nesting=nesting,
                            weights=weights if nesting == "joint" else None)
    loss.backward()
    assert torch.allclose(p2.grad, p1.grad, rtol=1e-10, atol=1e-12)
    if nesting == "joint":
        assert loss.item() == pytest.approx(ref.item(), rel=1e-12)


def _reference_objective_with_gram(f, tf, nesting, weights, gram):
    """The nested objective for autograd when an independent Gram estimate G is given.

    ``sum_ij <f_i|f_j>^2`` has gradient ``2 sum_ij <f_i|f_j> d<f_i|f_j>``; replacing one
    factor by the independent G gives the surrogate ``2 sum_ij <f_i|f_j>_batch G_ij`` with
    the same (unbiased) gradient. Nesting and detaching as in :func:`_reference_objective`.
    """
    n_modes = f.shape[1]
    w = torch.ones(n_modes, dtype=f.dtype) if nesting == "sequential" else torch.as_tensor(weights, dtype=f.dtype)
    total = 0.0
    for l in range(n_modes):
        fl, tl = f[:, : l + 1], tf[:, : l + 1]
        if nesting == "sequential":
            fl = torch.cat([fl[:, :l].detach(), fl[:, l:]], dim=1)
            tl = torch.cat([tl[:, :l].detach(), tl[:, l:]], dim=1)
        g = gram[: l + 1, : l + 1]
        total = total + w[l] * (-2 * (fl * tl).mean(0).sum() + 2 * (gram_matrix(fl) * g).sum())
    return total


@pytest.mark.parametrize("nesting", ["sequential", "joint"])
def test_custom_gradient_with_gram_equals_autograd(nesting, generator):
    """The ``gram=`` branch: every batch point uses the independent Gram estimate."""
    n, n_modes = 10, 4
    a, _ = _symmetric_matrix(n, np.linspace(4, -2, n), generator)
    theta = torch.randn(n, n_modes, generator=generator, dtype=torch.float64)
    other = torch.randn(50, n_modes, generator=generator, dtype=torch.float64)
    gram = other.T @ other / 50  # an independent (symmetric) Gram estimate
    weights = [0.1, 0.2, 0.3, 0.4] if nesting == "joint" else None

    p1 = theta.clone().requires_grad_(True)
    _reference_objective_with_gram(p1, a @ p1, nesting, weights, gram).backward()
    p2 = theta.clone().requires_grad_(True)
    nested_lora_loss(p2, (a @ p2).detach(), nesting=nesting, weights=weights, gram=gram).backward()
    assert torch.allclose(p2.grad, p1.grad, rtol=1e-10, atol=1e-12)
    # precomputed masks (built once per fit) give the same gradient
    p3 = theta.clone().requires_grad_(True)
    masks = nesting_masks(n_modes, nesting, weights, dtype=torch.float64)
    nested_lora_loss(p3, (a @ p3).detach(), gram=gram, masks=masks).backward()
    assert torch.equal(p3.grad, p2.grad)


def _spectrum_problem(generator, n=40):
    spectrum = np.concatenate([[8.0, 6.0, 4.0, 3.0], np.linspace(1.5, -2.0, n - 4)])
    a, q = _symmetric_matrix(n, spectrum, generator)
    return a, q, spectrum


def _train(a, index_fn, nesting, iters, lr, generator, n_modes=4):
    theta = (0.1 * torch.randn(a.shape[0], n_modes, generator=generator, dtype=torch.float64)).requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, iters)
    for _ in range(iters):
        idx = index_fn()
        # functions on the n points with the uniform measure; (T f)(x) = (A f)(x)
        loss = nested_lora_loss(theta[idx], (a @ theta)[idx].detach(), nesting=nesting)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return theta.detach()


def _check_recovered(theta, q, spectrum, rtol):
    n_modes = theta.shape[1]
    norms = (theta**2).mean(0).numpy()  # ||f_l||^2 = lambda_l at the optimum (App. D.5)
    cos = torch.abs(((theta / theta.norm(dim=0)) * q[:, :n_modes]).sum(0)).numpy()
    assert np.allclose(norms, spectrum[:n_modes], rtol=rtol), norms
    assert np.all(cos > 0.99), cos


@pytest.mark.parametrize("nesting", ["sequential", "joint"])
def test_recovers_ordered_eigenpairs_of_a_matrix(nesting, generator):
    """40x40 symmetric matrix with a known spectrum (8, 6, 4, 3, then <= 1.5): with exact
    inner products (both half-batches = all 40 points) NestedLoRA converges to the top-4
    eigenvalues as squared norms and to the eigenvectors, in order."""
    a, q, spectrum = _spectrum_problem(generator)
    full = torch.cat([torch.arange(40), torch.arange(40)])
    theta = _train(a, lambda: full, nesting, 5000, 0.01, generator)
    _check_recovered(theta, q, spectrum, rtol=1e-2)


def test_minibatch_sequential_recovers_matrix_eigenpairs(generator):
    """Same matrix, random minibatches of 32 points: the unbiased half-batch gradient still
    converges to the ordered top-4 eigenpairs (sequential nesting)."""
    a, q, spectrum = _spectrum_problem(generator)
    theta = _train(a, lambda: torch.randint(0, 40, (32,), generator=generator), "sequential", 3000, 0.02, generator)
    _check_recovered(theta, q, spectrum, rtol=3e-2)
