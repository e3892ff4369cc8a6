"""Does an evaluation rule resolve the potential? (a check before training)

A tensor Gauss–Legendre rule sees V only at its nodes. A potential with structure finer than
the node spacing (a bump of width 0.0015 on a unit box, where the default 48 × 4 nodes per
axis are ~0.005 apart) is then integrated wrongly — the trial's rule saw 1.3 % of the bump's
integral — and every energy, interval and verdict computed on the rule is silently wrong,
as is a grid reference on a grid as coarse.

:func:`rule_resolution` measures it two ways, at a cost of a few evaluations of V on the
rule's size (about 0.1 s for a 2D default rule):

* **refinement**: ``∫ V`` over the box on the rule and on the rule with twice the panels per
  axis (other node positions, half the spacing); the difference divided by the box's volume
  is the energy shift a state of uniform density would see, compared with the problem's
  energy scale (:func:`energy_scale`);
* **probe**: V at the midpoints between neighbouring nodes (per axis, tensor grid); a value
  outside the nodes' range by more than that range (or the energy scale) is structure the
  nodes step over.

Where either fires, the width of the structure is measured on a fine line through the most
extreme value found (full width at half its height above the local background), and the
spacings that would resolve it are suggested. Only deterministic box rules
(``quadrature = "gauss-legendre"``) are judged; Monte Carlo, polar and spherical rules and
``coulomb`` potentials (singular by design, integrated by their graded rules) are not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Resolution", "rule_resolution", "resolution_warning", "energy_scale", "RESOLUTION_RTOL",
           "PROBE_NODES_MAX"]

#: Warn when ``|∫V (refined) − ∫V (rule)| / volume`` exceeds this fraction of the energy scale.
#: Smooth potentials sit at 1e-9 or below (measured: every built-in, x², quartics, double wells,
#: Gaussians of width ≥ 0.05 on a unit box, soft-core Coulomb), the trial's bumps at 1e-3 to 1e-2.
RESOLUTION_RTOL = 1e-4
#: Skip the check when the refined rule would have more nodes than this (a D ≥ 4 tensor rule).
PROBE_NODES_MAX = 4_000_000


@dataclass(frozen=True)
class Resolution:
    """What :func:`rule_resolution` measured (energies in units of V).

    ``integral_shift``: ``|∫V refined − ∫V rule| / volume``; ``probe_excess``: how far V at
    the midpoints between nodes leaves the range V takes at the nodes (0 inside it);
    ``scale``: the energy scale both are judged against; ``width``: the full width at half
    height of the structure found (None when nothing fired or no peak could be measured);
    ``spacing``: the rule's largest node spacing per axis, shape (D,); ``resolved``: no test fired.
    """

    integral_shift: float
    probe_excess: float
    scale: float
    width: float | None
    spacing: np.ndarray
    resolved: bool


def energy_scale(shift: float, kinetic: float, box, v_nodes: np.ndarray) -> float:
    """The energy scale an error in ``∫V`` is judged against: the largest of ``|shift|``, the
    gap ``shift − min V`` (which bounds the top eigenvalue of T's ``shift − E``) and the
    kinetic energy ``κ π² Σ 1/L_i²`` of the box's lowest wall state (``box`` (D, 2))."""
    sides = np.array([hi - lo for lo, hi in box], np.float64)
    finite = v_nodes[np.isfinite(v_nodes)]
    gap = shift - float(finite.min()) if finite.size else 0.0
    return max(abs(shift), gap, kinetic * math.pi**2 * float(np.sum(1.0 / sides**2)))


def _values(potential, x: np.ndarray, chunk: int = 65536) -> np.ndarray:
    import torch

    out = np.empty(len(x))
    with torch.no_grad():
        for i in range(0, len(x), chunk):
            out[i:i + chunk] = potential(torch.as_tensor(x[i:i + chunk], dtype=torch.float64)).numpy()
    return out


def _axes(rule, points_per_panel: int, panels: int):
    """The rule's per-axis nodes, assuming a tensor rule (first axis slowest)."""
    from .quadrature import _composite_gl

    return [_composite_gl(lo, hi, points_per_panel, panels)[0] for lo, hi in rule.box]


def _midpoints(axes) -> np.ndarray:
    mids = [0.5 * (a[1:] + a[:-1]) for a in axes]
    grids = np.meshgrid(*mids, indexing="ij")
    return np.stack([g.ravel() for g in grids], axis=1)


def _width(potential, x0: np.ndarray, reach: np.ndarray, box) -> float | None:
    """Full width at half height of the structure at ``x0``: V on 801 points along each axis
    over ``x0 ± reach`` (clipped to the box); height above the line's end values. The smallest
    over the axes, or None where no axis shows a peak (or dip) that falls to half inside the line."""
    widths = []
    for d in range(len(x0)):
        lo, hi = max(box[d][0], x0[d] - reach[d]), min(box[d][1], x0[d] + reach[d])
        t = np.linspace(lo, hi, 801)
        line = np.repeat(x0[None, :], len(t), 0)
        line[:, d] = t
        v = _values(potential, line)
        if not np.all(np.isfinite(v)):
            continue
        dev = np.abs(v - 0.5 * (v[0] + v[-1]))
        k = int(np.argmax(dev))
        half = dev > 0.5 * dev[k]
        left, right = k, k
        while left > 0 and half[left - 1]:
            left -= 1
        while right < len(t) - 1 and half[right + 1]:
            right += 1
        if 0 < left and right < len(t) - 1 and dev[k] > 0:
            widths.append(float(t[right] - t[left] + (t[1] - t[0])))
    return min(widths) if widths else None


def rule_resolution(problem) -> Resolution | None:
    """Whether the problem's evaluation rule resolves its potential (module docstring).

    Parameters
    ----------
    problem : nsvd_cli.problem.Problem
        Its ``evaluation`` must be ``gauss-legendre``.

    Returns
    -------
    Resolution or None
        None for rules and potentials that are not judged (not Gauss–Legendre, a ``coulomb``
        potential, a refined rule above :data:`PROBE_NODES_MAX` nodes).
    """
    from .quadrature import gauss_legendre_box

    ev, spec = problem.spec.evaluation, problem.spec
    if ev.quadrature != "gauss-legendre" or spec.potential.kind == "coulomb":
        return None
    D = problem.dimension
    if (ev.points * 2 * ev.panels) ** D > PROBE_NODES_MAX:
        return None
    rule = problem.quadrature
    v_nodes = problem.potential_values
    box = rule.box
    volume = float(np.prod([hi - lo for lo, hi in box]))
    fine = gauss_legendre_box(box, ev.points, 2 * ev.panels)
    v_fine = _values(problem.potential, fine.points)
    ok, ok_fine = np.isfinite(v_nodes), np.isfinite(v_fine)
    if not ok.any():  # refused by Problem.check (V not finite at the nodes)
        return None
    shift = abs(float(fine.weights[ok_fine] @ v_fine[ok_fine]) - float(rule.weights[ok] @ v_nodes[ok])) / volume
    axes = _axes(rule, ev.points, ev.panels)
    mids = _midpoints(axes)
    v_mid = _values(problem.potential, mids)
    scale = energy_scale(problem.shift, problem.kinetic, box, v_nodes)
    lo, hi = float(np.min(v_nodes[ok])), float(np.max(v_nodes[ok]))
    m = np.isfinite(v_mid)
    above, below = (float(np.max(v_mid[m])) - hi, lo - float(np.min(v_mid[m]))) if m.any() else (0.0, 0.0)
    excess = max(above, below, 0.0)
    spacing = np.array([float(np.max(np.diff(a))) if len(a) > 1 else hi - lo for a, (lo, hi) in zip(axes, box)])
    resolved = shift <= RESOLUTION_RTOL * scale and excess <= max(hi - lo, scale)
    width = None
    if not resolved:
        candidates = np.concatenate([fine.points[ok_fine], mids[m]])
        values = np.concatenate([v_fine[ok_fine], v_mid[m]])
        centre = 0.5 * (lo + hi)
        x0 = candidates[int(np.argmax(np.abs(values - centre)))]
        width = _width(problem.potential, x0, 2.0 * spacing, box)
    return Resolution(shift, excess, scale, width, spacing, resolved)


def _reference_clause(problem, width: float | None) -> str:
    """The same judgement for a grid reference (its spacing against the structure's width):
    ``""`` without a grid reference, without a measured width, or on a fine enough grid."""
    from .baselines.reference import default_grid_points
    from .spec import walls

    spec = problem.spec
    if problem.reference_kind != "grid" or width is None or spec.dimension > 3:
        return ""
    n = int(spec.reference_grid or default_grid_points(spec.dimension))
    n += n % 2
    box = walls(spec) or spec.evaluation.box
    h = max(hi - lo for lo, hi in box) / (n + 1)
    if h <= width / 3:
        return ""
    need = int(math.ceil(3 * max(hi - lo for lo, hi in box) / width))
    return (f"; the grid reference (N = {n}, spacing {h:.2g}) is as coarse: set reference_grid >= {need + need % 2} "
            "(3 points across the structure)")


def resolution_warning(problem) -> str | None:
    """One sentence with the fix when the evaluation rule does not resolve V
    (:func:`rule_resolution`), naming the grid reference too when its grid is as coarse; None
    when the rule resolves V or is not judged."""
    res = rule_resolution(problem)
    if res is None or res.resolved:
        return None
    ev = problem.spec.evaluation
    found = (f"a structure of width ~{res.width:.2g} (full width at half height) "
             if res.width is not None else "structure ")
    what = [f"∫V over the box changes by {res.integral_shift:.3g} per unit volume when the panels are doubled "
            f"({res.integral_shift / res.scale:.1e} of the energy scale {res.scale:.3g})"]
    if res.probe_excess > 0:
        what.append(f"V between the nodes leaves their range by {res.probe_excess:.3g}")
    if res.width is not None:
        panels = int(math.ceil(ev.panels * float(np.max(res.spacing)) / (res.width / 2)))
        fix = f"raise evaluation.panels to >= {panels} (spacing <= half that width) or evaluation.points"
    else:
        fix = "raise evaluation.points or evaluation.panels"
    return (f"the evaluation rule ({ev.points} × {ev.panels} Gauss–Legendre nodes per axis, spacing up to "
            f"{float(np.max(res.spacing)):.2g}) does not resolve V: {found}lies between its nodes ("
            + "; ".join(what) + f"), so energies, intervals and verdicts on it can be wrong; {fix}"
            + _reference_clause(problem, res.width))
