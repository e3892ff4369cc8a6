"""Laplacians of batched functions ``fn: (B, D) -> (B, L)``.

Every backend returns ``(values, laplacians)``, each of shape (B, L), and none builds a
graph for the parameters' gradient (the NestedLoRA gradient needs T f only as a
constant, App. D.2):

* ``fd`` — central finite differences, 2D + 1 points in one call of ``fn``; truncation
  error O(h^2), rounding error ~ eps / h^2.
* ``exact`` — nested forward-mode AD (``torch.func.jvp``), one direction at a time.
* ``forward`` — the forward Laplacian (Li et al. 2023): value, D first derivatives and the
  Laplacian carried through the network in one pass, for models that offer it
  (``fn.value_and_laplacian``, the models of :mod:`nsvd_cli.models`); any other ``fn``
  falls back to :func:`laplacian_vmap`. Exact to rounding and the fastest in every D
  measured (``bench/dimension_bench.py``).
"""

from __future__ import annotations

from typing import Callable

import torch

__all__ = ["laplacian_fd", "laplacian_exact", "laplacian_vmap", "laplacian_forward", "LAPLACIANS"]

Fn = Callable[[torch.Tensor], torch.Tensor]


def laplacian_fd(fn: Fn, x: torch.Tensor, fd_step: float = 0.01, values: torch.Tensor | None = None):
    """Central finite-difference Laplacian (paper App. E.1.1, step 0.01 there).

    ``lap f(x) ≈ sum_i (f(x + h e_i) + f(x - h e_i) - 2 f(x)) / h^2``, error O(h^2). The
    steps actually taken, ``(x + h) - x`` and ``x - (x - h)``, differ from h by rounding
    (by ~1e-4 h in float32 at |x| ~ 50); the three-point formula for unequal steps is
    used so that this rounding does not leak the first derivative into the result. All
    stencil points are evaluated in one call of ``fn``.

    Parameters
    ----------
    fn : callable
        Batched function (B, D) -> (B, L).
    x : torch.Tensor, shape (B, D)
    fd_step : float
        Step h, in the units of x.
    values : torch.Tensor, shape (B, L), optional
        ``fn(x)`` if already computed (saves one evaluation).

    Returns
    -------
    values, laplacians : torch.Tensor, shape (B, L) each
    """
    b, d = x.shape
    eye = torch.eye(d, dtype=x.dtype, device=x.device) * fd_step
    plus = x[None] + eye[:, None, :]  # (D, B, D)
    minus = x[None] - eye[:, None, :]
    idx = torch.arange(d, device=x.device)
    h_plus = (plus - x[None])[idx, :, idx][..., None]  # (D, B, 1) steps actually taken
    h_minus = (x[None] - minus)[idx, :, idx][..., None]
    points = torch.cat([plus, minus] if values is not None else [x[None], plus, minus], dim=0)
    with torch.no_grad():
        out = fn(points.reshape(-1, d)).reshape(points.shape[0], b, -1)
        f0 = values.detach() if values is not None else out[0]
        fp, fm = (out[:d], out[d:]) if values is not None else (out[1:d + 1], out[d + 1:])
        second = 2 * ((fp - f0) / h_plus + (fm - f0) / h_minus) / (h_plus + h_minus)
    return f0, second.sum(0)


def laplacian_exact(fn: Fn, x: torch.Tensor, fd_step: float | None = None, values=None):
    """Exact Laplacian by forward-over-forward automatic differentiation (``torch.func.jvp``).

    For each axis i the second directional derivative along e_i is computed by nested
    Jacobian-vector products; cost about 3-4 evaluations of ``fn`` per dimension,
    independent of the number of outputs L. ``fd_step`` and ``values`` are ignored
    (uniform signature with :func:`laplacian_fd`).

    Returns
    -------
    values, laplacians : torch.Tensor, shape (B, L) each
    """
    from torch.func import jvp

    lap = None
    f0 = None
    with torch.no_grad():
        for i in range(x.shape[1]):
            e = torch.zeros_like(x)
            e[:, i] = 1.0

            def first(y):
                return jvp(fn, (y,), (e,))

            (val, _), (_, second) = jvp(first, (x,), (e,))
            f0 = val
            lap = second if lap is None else lap + second
    return f0, lap


def laplacian_vmap(fn: Fn, x: torch.Tensor, fd_step: float | None = None, values=None):
    """Exact Laplacian by forward-over-forward AD, all D directions in one vectorised call.

    The same second directional derivatives as :func:`laplacian_exact`, with ``torch.func.vmap``
    over the D unit directions instead of a Python loop (one batched evaluation of size D B).
    Works for any ``fn`` that ``vmap`` and ``jvp`` can trace. ``fd_step`` and ``values`` are
    ignored.

    Returns
    -------
    values, laplacians : torch.Tensor, shape (B, L) each
    """
    from torch.func import jvp, vmap

    b, d = x.shape
    directions = torch.eye(d, dtype=x.dtype, device=x.device)[:, None, :].expand(d, b, d)

    def second(e):
        (val, _), (_, dd) = jvp(lambda y: jvp(fn, (y,), (e,)), (x,), (e,))
        return val, dd

    with torch.no_grad():
        vals, dd = vmap(second)(directions)
    return vals[0], dd.sum(0)


def laplacian_forward(fn: Fn, x: torch.Tensor, fd_step: float | None = None, values=None):
    """Forward Laplacian: ``fn.value_and_laplacian(x)`` where ``fn`` offers it, else
    :func:`laplacian_vmap`.

    The models of :mod:`nsvd_cli.models` propagate (value, D first derivatives, Laplacian)
    through every layer in one pass (Li et al. 2023, "Forward Laplacian"): linear layers map
    all D + 2 rows in one matrix product, an activation sigma adds
    ``sigma''(v) sum_d (d v / d x_d)^2`` to the Laplacian row. Cost about that of D + 2
    evaluations of the network, against 2D for ``fd``. ``fd_step`` and ``values`` are
    ignored.

    Returns
    -------
    values, laplacians : torch.Tensor, shape (B, L) each
    """
    method = getattr(fn, "value_and_laplacian", None)
    if method is None:
        return laplacian_vmap(fn, x)
    with torch.no_grad():
        return method(x)


LAPLACIANS = {"fd": laplacian_fd, "exact": laplacian_exact, "forward": laplacian_forward}
