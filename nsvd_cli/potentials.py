"""Potentials V(x) of the Hamiltonian H = -kinetic * Laplacian + V.

Every potential maps a tensor of points ``x`` of shape (B, D) to values of shape (B,),
in the dtype and on the device of ``x``. Units follow the spec's convention (no factor
1/2 on the Laplacian unless put in ``kinetic``): lengths and energies are in whatever units
the user's parameters are in, and the closed-form levels quoted below are for ``H =
-kappa d^2/dx^2 + V`` (kappa = ``kinetic``; kappa = 1 in the paper's units, kappa = 1/2 for
atomic units hbar = m = 1).

Kinds (``[potential] kind = ...`` in a spec): ``harmonic``, ``coulomb``, ``morse``,
``poschl_teller``, ``quartic`` (``anharmonic``), ``double_well``, ``box``, ``expression``
(a formula, :mod:`nsvd_cli.expressions`), ``python`` (``"package.module:function"``),
``coupled_harmonic`` (``x^T A x``) and ``separable`` (``sum_i v_i(x_i)``, 1D formulas).
"""

from __future__ import annotations

from typing import Callable

import torch

from .spec import PotentialSpec

__all__ = ["harmonic", "coulomb", "morse", "poschl_teller", "quartic", "double_well", "box", "expression",
           "python_callable", "coupled_harmonic", "separable", "make_potential", "POTENTIALS", "Potential",
           "descent_direction", "nonfinite_wording",
           "nonfinite_at"]

Potential = Callable[[torch.Tensor], torch.Tensor]

#: Smallest radius used by the Coulomb potential when ``softening == 0``: samples at
#: (or within this of) the nucleus get V = -charge / COULOMB_MIN_RADIUS instead of -inf.
COULOMB_MIN_RADIUS = 1e-6


def _like(t: torch.Tensor, x: torch.Tensor, cache: dict) -> torch.Tensor:
    """``t`` on ``x``'s device in its dtype, copied once per (device, dtype): no host-to-device
    copy per batch on a GPU (docs/scaling.md)."""
    key = (x.device, x.dtype)
    if key in cache:
        return cache[key]
    out = t.to(dtype=x.dtype, device=x.device)
    if not (torch._C._functorch.is_functorch_wrapped_tensor(x) or torch.is_inference_mode_enabled()):
        # made inside a transform (or inference mode) it would escape it
        cache[key] = out
    return out


def harmonic(omega) -> Potential:
    """Harmonic well ``V(x) = sum_i omega_i^2 x_i^2``.

    With ``H = -kappa * Laplacian + V`` the 1D levels are ``omega * sqrt(kappa) * (2n + 1)``;
    for kappa = omega = 1 in 2D, ``E = 2 (n_x + n_y + 1)`` (paper App. E.1.2).

    Parameters
    ----------
    omega : sequence of float, length D
        Angular frequencies per axis.
    """
    w2 = torch.tensor([float(w) ** 2 for w in omega], dtype=torch.float64)
    cache: dict = {}

    def potential(x: torch.Tensor) -> torch.Tensor:
        return (x * x) @ _like(w2, x, cache)

    return potential


def coulomb(charge: float = 1.0, softening: float = 0.0) -> Potential:
    """Attractive Coulomb potential ``V(x) = -charge / sqrt(|x|^2 + softening^2)``.

    With ``softening == 0`` the radius is clamped below at ``COULOMB_MIN_RADIUS`` so that a
    sample at the nucleus gives a large finite value, never inf or NaN. In 2D with kappa = 1
    the levels are ``-charge^2 / (2n + 1)^2`` (Yang et al. 1991; paper App. E.1.1).
    """

    def potential(x: torch.Tensor) -> torch.Tensor:
        r2 = (x * x).sum(-1)
        if softening > 0:
            r = torch.sqrt(r2 + softening**2)
        else:
            r = torch.sqrt(r2).clamp_min(COULOMB_MIN_RADIUS)
        return -charge / r

    return potential


def morse(depth: float, a: float = 1.0, center: float = 0.0) -> Potential:
    """Morse oscillator (1D) ``V(x) = depth * (1 - exp(-a (x - center)))^2``.

    ``depth`` = D_e (dissociation energy, V -> D_e as x -> +inf), ``a`` the inverse range.
    With ``H = -kappa d^2/dx^2 + V`` and ``lambda = sqrt(D_e / kappa) / a`` the bound levels are
    ``E_n = D_e - kappa a^2 (lambda - n - 1/2)^2`` for ``0 <= n < lambda - 1/2``; above them
    the continuum starts at ``D_e``. D_e = 16, a = 1, kappa = 1: 3.75, 9.75, 13.75, 15.75.

    Source: P. M. Morse, Phys. Rev. 34, 57 (1929).
    """
    depth, a, center = float(depth), float(a), float(center)

    def potential(x: torch.Tensor) -> torch.Tensor:
        return depth * (-torch.expm1(-a * (x[:, 0] - center))) ** 2

    return potential


def poschl_teller(lam: float) -> Potential:
    """Pöschl–Teller well (1D) ``V(x) = -lam (lam + 1) sech(x)^2``.

    With ``H = -kappa d^2/dx^2 + V`` and ``nu (nu + 1) = lam (lam + 1) / kappa`` the bound
    levels are ``E_n = -kappa (nu - n)^2`` for ``0 <= n < nu``, then the continuum at 0
    (reflectionless for integer nu). lam = 3, kappa = 1: -9, -4, -1.

    Source: G. Pöschl and E. Teller, Z. Phys. 83, 143 (1933).
    """
    c = float(lam) * (float(lam) + 1.0)

    def potential(x: torch.Tensor) -> torch.Tensor:
        return -c / torch.cosh(x[:, 0]) ** 2

    return potential


def quartic(quadratic: float = 0.0, quartic_coef: float = 1.0) -> Potential:
    """Quartic / anharmonic oscillator ``V(x) = sum_i (quadratic x_i^2 + quartic x_i^4)``.

    ``quadratic = 0``: the pure quartic oscillator (1D levels 1.0604, 3.7997, 7.4557, ... for
    kappa = 1; Hioe & Montroll, J. Math. Phys. 16, 1945 (1975)). ``quadratic = 1``: the
    anharmonic oscillator ``x^2 + beta x^4`` (Bender & Wu, Phys. Rev. 184, 1231 (1969)).
    No closed form: nsvd uses a grid reference.
    """
    q2, q4 = float(quadratic), float(quartic_coef)

    def potential(x: torch.Tensor) -> torch.Tensor:
        x2 = x * x
        return (q2 * x2 + q4 * x2 * x2).sum(-1)

    return potential


def double_well(a: float = 1.0, b: float = 1.0) -> Potential:
    """Quartic double well ``V(x) = sum_i a (x_i^2 - b^2)^2``: minima at ``x_i = ±b``, barrier
    height ``a b^4`` at 0 per axis. Levels come in tunnelling-split pairs; no closed form
    (grid reference). Textbook, e.g. Merzbacher, Quantum Mechanics, ch. 8.
    """
    a, b2 = float(a), float(b) ** 2

    def potential(x: torch.Tensor) -> torch.Tensor:
        return (a * (x * x - b2) ** 2).sum(-1)

    return potential


def box(walls) -> Potential:
    """Infinite square well on ``walls = [(lo_i, hi_i)]``: ``V = 0`` inside, infinite outside.

    The walls are not a value of V: they are imposed by the model (envelope ``box``, which
    vanishes on the boundary), by uniform sampling on the box and by evaluating on the box;
    this function returns 0 everywhere. Levels ``E = kappa pi^2 sum_i (n_i / L_i)^2``,
    ``n_i >= 1``, ``L_i = hi_i - lo_i`` (textbook; Griffiths & Schroeter, sec. 2.2).
    """
    walls = tuple((float(lo), float(hi)) for lo, hi in walls)

    def potential(x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(x.shape[:1], dtype=x.dtype, device=x.device)

    potential.walls = walls
    return potential


def coupled_harmonic(matrix) -> Potential:
    """Coupled harmonic well ``V(x) = x^T A x`` for a symmetric positive definite ``A`` (D x D).

    With ``A = Q diag(a) Q^T`` the normal coordinates ``y = Q^T x`` decouple ``H = -kappa
    Laplacian + V`` into 1D oscillators ``-kappa d^2/dy_k^2 + a_k y_k^2``: levels
    ``E = sum_k sqrt(kappa a_k) (2 n_k + 1)`` (:mod:`nsvd_cli.references.coupled`).
    ``A = diag(omega^2)`` is :func:`harmonic` with ``omega``.

    Parameters
    ----------
    matrix : array_like, shape (D, D)
        ``A`` (its symmetry and definiteness are checked by the spec).
    """
    a = torch.as_tensor([[float(v) for v in row] for row in matrix], dtype=torch.float64)
    cache: dict = {}

    def potential(x: torch.Tensor) -> torch.Tensor:
        return ((x @ _like(a, x, cache)) * x).sum(-1)

    return potential


def separable(formulas) -> Potential:
    """Separable potential ``V(x) = sum_i v_i(x_i)``, ``v_i`` a formula in ``x`` (one per axis).

    Each formula is compiled once in one variable (:mod:`nsvd_cli.expressions`) and applied
    to its coordinate. Reference: 1D grid solutions summed over index tuples
    (:mod:`nsvd_cli.baselines.separable`).
    """
    from .expressions import compile_expression

    compiled = {}
    axes = [compiled.setdefault(text, compile_expression(text, 1)) for text in formulas]

    def potential(x: torch.Tensor) -> torch.Tensor:
        return sum(v(x[:, i:i + 1]) for i, v in enumerate(axes))

    return potential


def expression(text: str, dim: int) -> Potential:
    """A user formula in ``x0..x{D-1}`` and ``r``, compiled once (see :mod:`nsvd_cli.expressions`)."""
    from .expressions import compile_expression

    return compile_expression(text, dim)


def python_callable(target: str, dim: int | None = None) -> Potential:
    """A user function ``"package.module:function"`` mapping a (B, D) tensor to (B,).

    Imported with :func:`importlib.import_module` as it stands: the module must be
    importable — installed (``pip install -e .`` of the user's package) or on
    ``PYTHONPATH`` (``PYTHONPATH=. nsvd solve mine.toml``); ``sys.path`` is never edited.

    When ``dim`` is given the function is probed (:func:`_probe_callable`) on batches of
    :data:`PROBE_BATCHES` points near the origin: it must return a tensor of shape (B,) for
    each and leave its input unchanged (V must not modify ``x`` in place: the same points
    feed the Laplacian). The returned potential then checks every call: an exception raised
    by the function, or a result of another shape than (B,), becomes a one-line
    :class:`~nsvd_cli.errors.SpecError` naming the function and (for an exception) the first
    point where it raised — so the fixed draw of the sampling and the evaluation nodes that
    :meth:`nsvd_cli.problem.Problem.check` evaluates before training probe the function on
    the run's own region. Its attribute ``target`` is ``target``.

    Raises
    ------
    SpecError
        ``field = "potential.function"``: the module or attribute cannot be imported (a path
        or a ``.py`` suffix instead of a module name is named as such), is not callable,
        raises, returns another shape than (B,), or modifies its input.
    """
    fn = _import_callable(target)
    if dim is None:
        return fn
    _probe_callable(fn, target, dim)

    def potential(x: torch.Tensor) -> torch.Tensor:
        try:
            out = fn(x)
        except Exception as exc:  # noqa: BLE001 - the user's function failing is a spec error
            from .errors import SpecError

            if isinstance(exc, (SpecError, MemoryError, _OOM)):  # OOM: callers may retry in chunks
                raise
            raise _raised_error(fn, target, x, exc) from None
        if not isinstance(out, torch.Tensor) or out.shape != x.shape[:1]:
            raise _shape_error(target, x.shape[-1], len(x), out)
        return out

    potential.target = target
    return potential


_OOM = getattr(torch, "OutOfMemoryError", MemoryError)

#: Batch sizes on which :func:`python_callable` probes a user function (2 first: the
#: historical probe; 1 and 7 catch a function that only works for one batch size).
PROBE_BATCHES = (2, 1, 7)


def _import_callable(target: str):
    """The callable named by ``"package.module:function"`` (SpecError ``potential.function``)."""
    import importlib

    from .errors import SpecError

    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if module_name.endswith(".py"):
            raise SpecError("potential.function", f"cannot import {module_name!r}: give the module name without "
                                                  f".py: {module_name[:-3]}:{attr}") from None
        if exc.name and module_name.split(".")[0] == exc.name.split(".")[0]:
            raise SpecError("potential.function", f"cannot import {module_name!r}: no module named {exc.name!r}; "
                                                  "install it or put its folder on PYTHONPATH") from None
        raise SpecError("potential.function", f"cannot import {module_name!r}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any import failure is the user's spec error
        raise SpecError("potential.function", f"cannot import {module_name!r}: {_one_line(exc)}") from None
    fn = getattr(module, attr, None)
    if fn is None:
        raise SpecError("potential.function", f"module {module_name!r} has no attribute {attr!r}")
    if not callable(fn):
        raise SpecError("potential.function", f"{target!r} is not callable")
    return fn


def _probe_callable(fn, target: str, dim: int) -> None:
    """Call ``fn`` on seeded points in [-0.5, 0.5]^D (float64), one batch per size in
    :data:`PROBE_BATCHES`; refuse an exception, a result not of shape (B,) or a changed input."""
    from .errors import SpecError

    gen = torch.Generator().manual_seed(0)
    for b in PROBE_BATCHES:
        x = torch.rand(b, dim, dtype=torch.float64, generator=gen) - 0.5
        before = x.clone()
        try:
            with torch.no_grad():
                out = fn(x)
        except Exception as exc:  # noqa: BLE001
            raise _raised_error(fn, target, before, exc) from None
        if not isinstance(out, torch.Tensor) or out.shape != (b,):
            raise _shape_error(target, dim, b, out)
        if not torch.equal(x, before):
            raise SpecError("potential.function", f"{target} modified its input x in place (on a ({b}, {dim}) "
                            "tensor): V must not modify x; compute on a copy (x = x.clone()) or use out-of-place "
                            "operations (x * 2, not x.mul_(2))")


def _one_line(exc: Exception) -> str:
    msg = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def _shape_error(target: str, dim: int, b: int, out):
    from .errors import SpecError

    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    return SpecError("potential.function", f"{target} must map a (B, {dim}) tensor to shape (B,), got {shape} "
                                           f"for B = {b}")


#: Rows that :func:`_raised_error` tries one at a time to find where a function raised.
_RAISE_SEARCH_ROWS = 4096


def _raised_error(fn, target: str, x: torch.Tensor, exc: Exception):
    """SpecError for ``fn`` raising ``exc`` on the batch ``x`` (B, D): the first row of ``x``
    on which ``fn`` raises alone (of the first :data:`_RAISE_SEARCH_ROWS`), else the batch shape."""
    from .errors import SpecError

    pts = x.detach()
    where = f"on a {tuple(pts.shape)} tensor"
    with torch.no_grad():
        for row in pts[:_RAISE_SEARCH_ROWS]:
            try:
                fn(row[None].clone())
            except Exception:  # noqa: BLE001
                where = f"at x = {[round(float(c), 6) for c in row]}"
                break
    return SpecError("potential.function", f"{target} raised {_one_line(exc)} {where}; V must be defined (return "
                                           "a finite value) wherever training samples and evaluation nodes fall")


def nonfinite_at(potential: Potential, x: torch.Tensor, where: str) -> str | None:
    """``"the potential V (potential.function = m:f) is not finite at N of B <where>, e.g. x = […]
    (V = nan); …"`` for V not finite at some of the finite points ``x`` (B, D), else None; also None
    when V raises (a diagnosis only). The function is named when ``potential`` has a ``target``
    (:func:`python_callable`). Used on the batch of a non-finite training loss."""
    try:
        with torch.no_grad():
            values = potential(x)
        bad = ~torch.isfinite(values) & torch.isfinite(x).all(-1)  # a non-finite point is not V's fault
        if not bool(bad.any()):
            return None
    except Exception:  # noqa: BLE001
        return None
    name = getattr(potential, "target", None)
    what = f"the potential V (potential.function = {name})" if name else "the potential V"
    i = int(torch.nonzero(bad)[0, 0])
    point = [round(float(c), 6) for c in x[i]]
    return (f"{what} is not finite at {int(bad.sum())} of {len(bad)} {where}, e.g. x = {point} "
            f"(V = {float(values[i])}); V must be finite wherever training samples fall: fix the potential "
            "or restrict the sampling")


def nonfinite_wording(spec: PotentialSpec) -> tuple[str, str, str]:
    """``(field, cause, fix)`` with which :meth:`nsvd_cli.problem.Problem.check` words V undefined
    (NaN) on a region: a formula (``potential``: a logarithm or square root of a negative number)
    or a Python function (``potential.function``, named)."""
    if spec.kind == "python":
        return ("potential.function", f"the function {spec.function} returns NaN there",
                f"fix {spec.function}")
    return ("potential", "the expression is undefined there (a logarithm or square root of a negative number?)",
            "change the formula (e.g. log(abs(x0)))")


POTENTIALS: dict[str, Callable[..., Potential]] = {
    "harmonic": lambda p, dim: harmonic(p.omega),
    "coulomb": lambda p, dim: coulomb(p.charge, p.softening),
    "morse": lambda p, dim: morse(p.depth, p.a, p.center),
    "poschl_teller": lambda p, dim: poschl_teller(p.lam),
    "quartic": lambda p, dim: quartic(p.quadratic, p.quartic),
    "double_well": lambda p, dim: double_well(p.a, p.b),
    "box": lambda p, dim: box(p.box),
    "expression": lambda p, dim: expression(p.expression, dim),
    "python": lambda p, dim: python_callable(p.function, dim),  # dim None: no probe
    "coupled_harmonic": lambda p, dim: coupled_harmonic(p.matrix_for(dim or len(p.matrix))),
    "separable": lambda p, dim: separable(p.axis_expressions(dim or len(p.expressions) or 1)),
}


def make_potential(spec: PotentialSpec, dim: int | None = None) -> Potential:
    """Build the potential function described by a :class:`~nsvd_cli.spec.PotentialSpec`.

    ``dim`` (the problem's dimension) matters for ``expression`` potentials (which symbols
    exist; default: the highest ``x<i>`` used) and ``python`` ones (the callable is probed,
    and wrapped to check every call, only when ``dim`` is given: :func:`python_callable`).
    """
    if dim is None and spec.kind == "expression":
        dim = _infer_dim(spec)
    return POTENTIALS[spec.kind](spec, dim)


def _infer_dim(spec: PotentialSpec) -> int:
    """Smallest dimension an expression's symbols need."""
    import re

    idx = [int(m) for m in re.findall(r"\bx(\d+)\b", spec.expression)]
    return max(idx) + 1 if idx else 1


#: Radii 10^4 .. 10^8, four per decade, at which :func:`descent_direction` probes each ray.
_PROBE_RADII = 10.0 ** (torch.arange(16, 33, dtype=torch.float64) / 4)


def _probe_directions(dim: int) -> torch.Tensor:
    """Unit rays (R, D): ±axes, the 2^D diagonals for D <= 6, and 32 seeded random directions."""
    eye = torch.eye(dim, dtype=torch.float64)
    rays = [eye, -eye]
    if 2 <= dim <= 6:
        signs = torch.cartesian_prod(*[torch.tensor([1.0, -1.0], dtype=torch.float64)] * dim).reshape(-1, dim)
        rays.append(signs / dim ** 0.5)
    if dim >= 2:
        g = torch.randn(32, dim, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        rays.append(g / g.norm(dim=1, keepdim=True))
    return torch.cat(rays)


def descent_direction(potential: Potential, dim: int) -> torch.Tensor | None:
    """A ray along which ``V`` tends to minus infinity, or None.

    ``V(t u)`` is probed at 17 radii ``t = 10^4 ... 10^8`` (four per decade, float64) along
    the coordinate axes (both signs), the diagonals (D <= 6) and 32 seeded random
    directions. A ray counts as descending to -infinity when ``V`` is ``-inf`` at the two
    largest radii there and on a slightly tilted ray (``-exp(x)`` overflows; ``-1/abs(x0)``
    is ``-inf`` on all of the axis ``x0 = 0``, a singular line, not a descent at infinity:
    :mod:`nsvd_cli.singularities`), or when ``V`` falls strictly at every step and
    the fall over the second half of the radii is at least half that over the first — no
    slower than a logarithm (``-log(1 + x^2)``: the same fall per decade). A potential that
    tends to a constant (Morse, Pöschl–Teller, a Gaussian well, ``-1/r``, ``-1 + 1/x``: its
    falls shrink 10x per decade or more) or grows (double well) has none; an oscillating one
    (``sin(x)``) is not monotone over 17 radii. Such a ray means H has no lowest eigenvalue:
    no bound states for NeuralSVD to learn.

    Parameters
    ----------
    potential : callable ``(B, D) tensor -> (B,)``
    dim : int

    Returns
    -------
    torch.Tensor of shape (D,), or None
        A unit direction ``u`` with ``V(t u) -> -inf`` as ``t -> inf``.
    """
    rays = _probe_directions(dim)
    x = (_PROBE_RADII[None, :, None] * rays[:, None, :]).reshape(-1, dim)
    with torch.no_grad(), torch.autograd.set_grad_enabled(False):
        v = potential(x).to(torch.float64).reshape(len(rays), len(_PROBE_RADII))
    for i in range(len(rays)):
        row = v[i]
        if row[-1] == -float("inf") and row[-2] == -float("inf"):
            if _overflows_nearby(potential, rays[i]):
                return rays[i]
            continue
        tail = row[torch.isfinite(row)]
        if len(tail) < 9:
            continue
        steps = tail[:-1] - tail[1:]  # falls between consecutive radii
        half = len(steps) // 2
        early, late = float(steps[:half].sum()), float(steps[-half:].sum())
        if bool(torch.all(steps > 0)) and late >= 0.5 * early and late > 1e-6 * max(1.0, abs(float(tail[0]))):
            return rays[i]
    return None


def _overflows_nearby(potential: Potential, ray: torch.Tensor) -> bool:
    """Whether ``V`` is ``-inf`` at the two largest probe radii along ``ray`` tilted by 1e-3
    (always true in 1D, where there is no tilt)."""
    dim = ray.shape[0]
    if dim == 1:
        return True
    g = torch.randn(dim, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    tilted = ray + 1e-3 * (g - (g @ ray) * ray) / (g - (g @ ray) * ray).norm()
    tilted = tilted / tilted.norm()
    with torch.no_grad():
        v = potential(_PROBE_RADII[-2:, None] * tilted[None, :]).to(torch.float64)
    return bool(torch.all(v == -float("inf")))
