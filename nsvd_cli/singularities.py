"""Point singularities of V that make ``H = -kappa Laplacian + V`` unbounded below.

A potential can be unbounded below at infinity (:func:`nsvd_cli.potentials.descent_direction`)
or *at a point*: ``V = r**2 - 3/r**2`` in 2D has no lowest eigenvalue, and a grid solution of it
goes to -infinity as ``1/h^2`` while looking converged at every grid size.  This module finds
such points before any training or grid solve and refuses those that leave H without a
ground state.

Physics
-------
Near a point ``x*`` let ``V(x) ≈ -c / |x - x*|^alpha`` (``c > 0``).  The quadratic form
``kappa ∫|∇ψ|² + ∫V|ψ|²`` of H is bounded below iff

* ``alpha < 2``, or ``alpha = 2`` and ``c <= kappa (D - 2)^2 / 4`` (``D >= 3``): Hardy's
  inequality ``∫|∇ψ|² >= (D-2)²/4 ∫|ψ|²/|x|²`` with its sharp constant; a trial state of width
  ``ε`` at ``x*`` has kinetic energy ``~ kappa/ε²`` and potential ``~ -c/ε^alpha``, so
  ``alpha > 2`` always wins as ``ε -> 0`` ("fall to the centre": Landau & Lifshitz,
  *Quantum Mechanics*, §35; Reed & Simon, *Methods of Modern Mathematical Physics* II, §X.2;
  Frank, Laptev & Weidl, *Schrödinger Operators: Eigenvalues and Lieb–Thirring
  Inequalities*, 2023, ch. 1 on Hardy's inequality);
* in ``D = 2`` the Hardy constant is 0: any ``-c/r²`` (``alpha = 2``, ``c > 0``) is unbounded;
* in ``D = 1`` in addition ``alpha < 1``: for ``alpha >= 1``, ``∫|ψ|²/|x|^alpha`` diverges
  for every ψ with ``ψ(x*) ≠ 0``, and the "1D hydrogen atom" ``-c/|x|`` has no ground
  state (Loudon, Am. J. Phys. 27, 649 (1959)).

A singular *set* of codimension ``k`` (``-c/|x0|^alpha`` in 2D is singular on the line
``x0 = 0``, ``k = 1``) behaves like a point singularity in ``k`` dimensions: the rule above is
applied with ``D = k``.

Method (:func:`find_unbounded_singularity`)
------------------------------------------
1. V at cheap candidate points (:func:`candidate_points`: the origin, the centre and a grid
   of the evaluation box, training samples); non-finite values and the lowest few are kept.
2. From each, a batched compass search (:func:`_descend`) follows V down, halving its step,
   to a local minimum or to a point where V runs off to -infinity.
3. There V is probed at distances ``ε = 1e-2 ... 1e-6`` along several directions
   (:func:`_classify`); the slope of ``log(V(ε) - V(ε/√10))`` against ``log ε`` gives
   ``-alpha`` (differences cancel V's regular part, so a deep but finite well —
   ``-1e4 exp(-(x/0.1)²)``, ``-1/sqrt(r² + 0.01)`` — gives ``alpha <= 0``), and ``c`` follows.
   Directions along which V stays at its singular value span the singular set.

The whole check costs a few thousand potential evaluations in a few dozen batches
(well under 0.5 s for a formula).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Singularity", "find_unbounded_singularity", "bounded_near", "candidate_points", "refuse_singularities",
           "ALPHA_TOLERANCE"]

#: An estimated exponent within this of a critical value (1 in 1D, 2) counts as that value.
ALPHA_TOLERANCE = 0.02
#: How far V must fall between the largest and the smallest probe distance (relative to
#: ``max(1, |V|)`` at the largest) before the fall counts as a singularity: −c/d^α falls by
#: ``c (10^(6α) − 10^(2α))``, over 10³ for any ``c ≥ 10⁻³`` at ``α ≥ 1``; the rounding noise of a
#: removable 0/0 is far below.
RISE_MIN = 1e3
#: Relative slack on Hardy's constant: ``c`` is read from rounded values (``−0.25/r²`` in 3D,
#: exactly critical and bounded, was refused as 0.2500001 > 0.25).
STRENGTH_RTOL = 1e-3
#: Distances from the singular point at which V is probed: 1e-2 ... 1e-6, two per decade.
_LADDER = 10.0 ** -np.arange(2.0, 6.01, 0.5)
#: Candidate grid and random draws: at most this many points each.
_GRID_POINTS = 4096
_DRAWS = 1024
#: Descents started from at most this many of the lowest candidates (plus non-finite ones).
_STARTS = 4
_MAX_ITERATIONS = 200


@dataclass(frozen=True)
class Singularity:
    """A point where ``V ≈ -strength / d^alpha``, ``d`` the distance to a singular set of
    codimension ``codimension`` through ``point`` (``codimension = D``: an isolated point)."""

    point: np.ndarray
    alpha: float
    strength: float
    codimension: int


def bounded_near(alpha: float, strength: float, codimension: int, kinetic: float = 1.0) -> bool:
    """Whether ``-kinetic Laplacian - strength / d^alpha`` is bounded below near the set (module
    docstring: Hardy's inequality in ``k = codimension`` dimensions), with
    :data:`ALPHA_TOLERANCE` around the critical exponents."""
    k, tol = codimension, ALPHA_TOLERANCE
    if k == 1:
        return alpha < 1 - tol
    if alpha < 2 - tol:
        return True
    if alpha > 2 + tol or k == 2:
        return False
    return strength <= kinetic * (k - 2) ** 2 / 4 * (1 + STRENGTH_RTOL)


def _evaluator(potential, dim: int):
    """``V`` as a numpy function (M, D) -> (M,) in float64, NaN for values it cannot give."""
    import torch

    def v(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = potential(torch.as_tensor(np.asarray(x, dtype=np.float64).reshape(-1, dim)))
        return torch.as_tensor(out).to(torch.float64).reshape(-1).numpy()

    return v


def _directions(dim: int, n_random: int = 8) -> np.ndarray:
    """Unit directions (R, D): ±axes, the diagonals for D <= 3, seeded random ones for D >= 2."""
    rays = [np.eye(dim), -np.eye(dim)]
    if 2 <= dim <= 3:
        signs = np.array(np.meshgrid(*[[1.0, -1.0]] * dim)).reshape(dim, -1).T
        rays.append(signs / math.sqrt(dim))
    if dim >= 2:
        g = np.random.default_rng(0).standard_normal((n_random, dim))
        rays.append(g / np.linalg.norm(g, axis=1, keepdims=True))
    return np.concatenate(rays)


def _descend(v, p: np.ndarray, step: float, dirs: np.ndarray) -> tuple[np.ndarray, float]:
    """Compass search from ``p``: move to the lowest of ``p + step * dirs`` while it is lower,
    else quarter the step; stops at ``V = -inf``, a step below 1e-13 (relative) or
    :data:`_MAX_ITERATIONS` batches.  Returns the end point and V there."""
    vp = float(v(p[None])[0])
    for _ in range(_MAX_ITERATIONS):
        if vp == -math.inf or step < 1e-13 * (1.0 + float(np.abs(p).max())):
            break
        trial = p + step * dirs
        vt = np.nan_to_num(v(trial), nan=math.inf, posinf=math.inf)
        j = int(np.argmin(vt))
        if vt[j] < vp:
            p, vp = trial[j], float(vt[j])
            step *= 2.0
        else:
            step /= 4.0
    return p, vp


def _classify(v, p: np.ndarray, dirs: np.ndarray) -> Singularity | None:
    """The singularity at ``p`` (alpha > 0 along some direction), or None where V is regular.

    ``w[u, k] = V(p + ε_k u)``; along ``u`` the differences ``V(ε_k) - V(ε_{k+1}) = c
    (ε_{k+1}^-alpha - ε_k^-alpha)`` are positive and grow as ``ε^-alpha``; alpha is the median
    local slope over the three smallest ε.  A direction is *flat* (it lies in the singular
    set) when V along it stays below the typical value at the smallest ε."""
    dim = p.shape[0]
    x = p[None, None, :] + _LADDER[None, :, None] * dirs[:, None, :]
    w = v(x.reshape(-1, dim)).reshape(len(dirs), len(_LADDER))
    w = np.where(np.isnan(w), math.inf, w)  # undefined: never flat, never singular
    typical = float(np.median(w[:, -1]))
    if not np.isfinite(typical):
        return None
    flat = np.all(w <= typical - abs(typical) * 1e-6, axis=1) & (typical < 0)
    with np.errstate(all="ignore"):
        d = w[:, :-1] - w[:, 1:]
        tail = d[:, -4:]
        ok = np.all(np.isfinite(tail) & (tail > 1e-9 * np.abs(w[:, -4:])), axis=1) & ~flat
        # a singular term dwarfs V's finite part over the ladder; rounding noise of a removable
        # 0/0 (r² − (1 − exp(−r²))/r² at 0: a trial saw "−3e-18/r^2.04" refused) does not
        ok &= (w[:, 0] - w[:, -1]) > RISE_MIN * np.maximum(1.0, np.abs(w[:, 0]))
        slopes = np.log10(tail[:, 1:] / tail[:, :-1]) / 0.5
    if not ok.any():
        return None
    alphas = np.median(slopes[ok], axis=1)
    alpha = float(np.median(alphas))
    if alpha <= ALPHA_TOLERANCE:
        return None
    step = 10.0 ** (-0.5 * alpha)
    c = np.zeros(len(dirs))
    c[ok] = d[ok, -1] * _LADDER[-1] ** alpha / (1.0 - step)
    rank = int(np.sum(np.linalg.svd(dirs[flat], compute_uv=False) > 1e-3)) if flat.any() else 0
    if rank:  # a singular set: c across it (the smallest, along its normal)
        return Singularity(p, alpha, float(c[ok].min()), max(dim - rank, 1))
    return Singularity(p, alpha, float(c.mean()), dim)  # the spherical mean: Hardy's bound holds for it


def find_unbounded_singularity(potential, dim: int, candidates: np.ndarray, kinetic: float = 1.0,
                               spacing: float = 0.1) -> Singularity | None:
    """A point near which ``H = -kinetic Laplacian + V`` is unbounded below, or None.

    Parameters
    ----------
    potential : callable ``(B, D) tensor -> (B,)`` (float64 in, any float out)
    dim : int
    candidates : ndarray, shape (M, D)
        Points where V is evaluated first (:func:`candidate_points`); descents start from the
        non-finite and the :data:`_STARTS` lowest ones.
    kinetic : float
        kappa of H (the Hardy bound at ``alpha = 2`` is ``kappa (D-2)^2 / 4``).
    spacing : float
        First step of each descent (the candidates' spacing).

    Returns
    -------
    Singularity or None
        The first point found whose ``(alpha, c, codimension)`` fail :func:`bounded_near`.
    """
    v = _evaluator(potential, dim)
    candidates = np.asarray(candidates, dtype=np.float64).reshape(-1, dim)
    values = v(candidates)
    dirs = _directions(dim)
    order = np.argsort(np.nan_to_num(values, nan=math.inf))
    singular = [i for i in order if not np.isfinite(values[i]) and values[i] != math.inf][:_STARTS]
    lowest = [i for i in order if np.isfinite(values[i])][:_STARTS]
    for i in singular + lowest:
        p = candidates[i]
        if np.isfinite(values[i]):
            p, _ = _descend(v, p, spacing, dirs)
        found = _classify(v, p, dirs)
        if found is not None and not bounded_near(found.alpha, found.strength, found.codimension, kinetic):
            return found
    return None


def candidate_points(dim: int, box, sampling=None) -> tuple[np.ndarray, float]:
    """Cheap candidate points (M, D) and their spacing: the origin, the centre of ``box``
    (``[(lo, hi)] * D``), a grid on it with an odd number of points per axis (at most
    :data:`_GRID_POINTS`; seeded uniform points in high D) and :data:`_DRAWS` training samples
    (:func:`nsvd_cli.sampling.fixed_draw` of the :class:`~nsvd_cli.sampling` ``sampling``)."""
    lo, hi = np.array([b[0] for b in box], dtype=np.float64), np.array([b[1] for b in box], dtype=np.float64)
    n = int(_GRID_POINTS ** (1.0 / dim))
    n -= 1 - n % 2  # odd: the centre is a node
    if n >= 3:
        axes = [np.linspace(a, b, n) for a, b in zip(lo, hi)]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, dim)
        spacing = float(np.max((hi - lo) / (n - 1)))
    else:
        grid = lo + (hi - lo) * np.random.default_rng(0).random((_GRID_POINTS, dim))
        spacing = float(np.max(hi - lo)) / 10
    points = [np.zeros((1, dim)), ((lo + hi) / 2)[None], grid]
    if sampling is not None:
        from .sampling import fixed_draw

        points.append(fixed_draw(sampling, _DRAWS).numpy())
    return np.concatenate(points), spacing


def _fmt_point(p: np.ndarray) -> str:
    coords = [f"{0.0 if abs(x) < 1e-6 else x:.4g}" for x in p]
    return coords[0] if len(coords) == 1 else "(" + ", ".join(coords) + ")"


def _message(s: Singularity, dim: int, kinetic: float) -> str:
    """The refusal, with the rule that fails and a softened form."""
    k, a = s.codimension, s.alpha
    shape = f"V ≈ −{s.strength:.2g}/r^{a:.2f} there"
    if dim == 1:
        at = _fmt_point(s.point)
        shape = f"V ≈ −{s.strength:.2g}/|x{'' if at == '0' else ' − ' + at}|^{a:.2f} there"
    if k < dim:
        what = {1: "a hyperplane" if dim > 2 else "a line", dim - 1: "a line"}.get(k, f"a {dim - k}-dimensional set")
        shape = f"V ≈ −{s.strength:.2g}/d^{a:.2f} there, d the distance to {what} of singular points"
    across = f"across it (as in {k}D) " if k < dim else f"in {k}D "
    if k == 1:
        rule = (f"{across}any −c/|x|^α with α ≥ 1 has no ground state (∫|ψ|²V diverges: the \"1D hydrogen\" "
                "collapse)")
        fix = "−c/(x² + a²)^(α/2)"
    elif k == 2 or a > 2 + ALPHA_TOLERANCE:
        rule = (f"{across}any −c/r² (and anything stronger) has no ground state (Hardy)" if k == 2 else
                f"any −c/r^α with α > 2 has no ground state (fall to the centre)")
        fix = "−c/(r² + a²)"
    else:
        bound = kinetic * (k - 2) ** 2 / 4
        rule = (f"{across}−c/r² has a ground state only for c ≤ κ(D−2)²/4 = {bound:.3g} (Hardy's inequality, "
                f"κ = kinetic = {kinetic:g})")
        fix = "−c/(r² + a²), or a smaller c"
    critical = 1 if k == 1 else 2
    band = (f" (an exponent within {ALPHA_TOLERANCE} of {critical} counts as {critical}: rounding cannot tell them "
            "apart)" if 5e-3 <= abs(a - critical) <= ALPHA_TOLERANCE and k != 2 else "")
    return f"unbounded below at x = {_fmt_point(s.point)}: {shape}{band}; {rule}; soften it, e.g. {fix}"


@functools.lru_cache(maxsize=64)
def _check_cached(kind: str, text: str, dim: int, kinetic: float, box: tuple, sampling_json: str) -> str | None:
    """The refusal message for one potential in one setting, or None (cached: specs are
    validated several times per command)."""
    from .spec.tables import SamplingSpec

    if kind == "expression":
        from .expressions import compile_expression

        potential = compile_expression(text, dim)
    elif kind == "coulomb":
        from .potentials import coulomb

        potential = coulomb(float(text), 0.0)
    else:
        from .potentials import python_callable

        potential = python_callable(text, dim)
    sampling = None
    if sampling_json:
        from .sampling import make_sampling

        sampling = make_sampling(dim, SamplingSpec.model_validate(json.loads(sampling_json)))
    candidates, spacing = candidate_points(dim, box, sampling)
    found = find_unbounded_singularity(potential, dim, candidates, kinetic, spacing)
    return None if found is None else _message(found, dim, kinetic)


def _safe_check(kind: str, text: str, dim: int, kinetic: float, box, sampling_json: str = "") -> str | None:
    """:func:`_check_cached`, or None when V cannot be built or evaluated here (an unimportable
    module, a formula error: reported where the potential is built, with its own message)."""
    try:
        return _check_cached(kind, text, dim, float(kinetic), tuple(tuple(map(float, b)) for b in box), sampling_json)
    except Exception:  # noqa: BLE001 - the check must never be the one to fail on a user's V
        return None


def refuse_singularities(spec) -> None:
    """Refuse a spec whose potential has a point singularity that leaves H unbounded below.

    Checked kinds: ``expression`` and ``python`` (in D dimensions, candidates from
    ``evaluation.box`` and ``sampling``) and ``separable`` (each 1D formula on its axis of
    ``evaluation.box``, with the 1D rule: the operator is a sum of 1D ones) and an unsoftened
    ``coulomb`` in 1D (``-charge/|x|``, clamped at :data:`nsvd_cli.potentials.COULOMB_MIN_RADIUS`:
    its levels would follow the clamp).  The other built-in kinds are bounded below by
    construction (``coulomb``: ``alpha = 1 < 2`` in ``D >= 2``).

    Parameters
    ----------
    spec : ProblemSpec
        Being validated (called from its model validator, after the dimension checks).

    Raises
    ------
    PydanticCustomError
        Naming ``potential.expression``, ``potential.function`` or ``potential.expressions[i]``:
        where, ``V ≈ -c/r^alpha``, the rule that fails and a softened form.
    """
    from .spec.fields import invalid

    pot, dim, kinetic = spec.potential, spec.dimension, spec.kinetic
    box = spec.evaluation.box
    if pot.kind in ("expression", "python"):
        text = pot.expression if pot.kind == "expression" else pot.function
        field = "potential.expression" if pot.kind == "expression" else "potential.function"
        message = _safe_check(pot.kind, text, dim, kinetic, box, spec.sampling.model_dump_json(by_alias=True))
        if message:
            raise invalid(field, message)
    elif pot.kind == "coulomb" and pot.softening == 0 and dim == 1:  # the 1D hydrogen atom: alpha = 1
        message = _safe_check("coulomb", repr(pot.charge), 1, kinetic, box)
        if message:
            raise invalid("potential.softening", message.replace("soften it, e.g. −c/(x² + a²)^(α/2)",
                                                                  "soften it: softening > 0, e.g. 0.1"))
    elif pot.kind == "separable":
        texts = pot.axis_expressions(dim)
        for i, text in enumerate(texts):
            message = _safe_check("expression", text, 1, kinetic, [box[i]])
            if message:
                field = "potential.expression" if pot.expression else f"potential.expressions[{i}]"
                raise invalid(field, message.replace("at x = ", f"at x{i} = ") if dim > 1 else message)
