"""Wave 11: a potential finer than the evaluation rule's nodes (the new-user trial's bump).

V = 35600 exp(−|x − (0.375, 0.375)|²/c) on the unit box with walls: at c = 4.5e-6 (σ = 0.0015)
the default 48 × 4 rule sees 1.3 % of the bump's integral, the N = 160 grid reference put the
ground level at 20.137 ("0.13 %") against the converged 20.79, and nothing warned.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import tomli_w
from numpy.polynomial.legendre import leggauss

from nsvd_cli.problem import Problem
from nsvd_cli.resolution import RESOLUTION_RTOL, resolution_warning, rule_resolution
from nsvd_cli.spec import load_spec
from nsvd_cli.spec.loading import builtin_problems

CENTRE = 0.375


def _spec(tmp_path, expression, dimension=2, box=(0.0, 1.0), walls=True, **extra):
    data = {"name": "user", "dimension": dimension, "modes": 3, "shift": 100.0, "reference": "none",
            "potential": {"kind": "expression", "expression": expression},
            "evaluation": {"box": [list(box)] * dimension}}
    if walls:
        data["model"] = {"envelope": "box", "envelope_box": [list(box)] * dimension}
        data["sampling"] = {"kind": "uniform", "box": [list(box)] * dimension}
    else:
        data["sampling"] = {"kind": "gaussian", "std": 0.25 * (box[1] - box[0])}
    data.update(extra)
    path = tmp_path / "user.toml"
    path.write_text(tomli_w.dumps(data))
    return load_spec(str(path))


def _bump(c):
    return f"35600*exp(-((x0-{CENTRE})**2+(x1-{CENTRE})**2)/{c})"


def _rule_sees(c, points=48, panels=4):
    """∫ of the bump on the composite Gauss–Legendre rule, from numpy's nodes (separable)."""
    t, w = leggauss(points)
    edges = np.linspace(0.0, 1.0, panels + 1)
    x = np.concatenate([0.5 * (b - a) * t + 0.5 * (a + b) for a, b in zip(edges[:-1], edges[1:])])
    wx = np.concatenate([0.5 * (b - a) * w for a, b in zip(edges[:-1], edges[1:])])
    one_axis = wx @ np.exp(-(x - CENTRE) ** 2 / c)
    return 35600 * one_axis**2


@pytest.mark.parametrize("sigma", [0.0015, 0.002])
def test_the_trial_bump_is_not_resolved_and_warned(sigma, tmp_path):
    c = 2 * sigma**2
    exact = 35600 * math.pi * c  # the bump's integral over the plane (its tails beyond the box: e^-10^4)
    seen = _rule_sees(c)
    # independently: the default rule misses most of the bump; per unit volume that is far above
    # RESOLUTION_RTOL of the shift 100 (the energy scale here: shift − min V = 100 > 2π²)
    assert seen < 0.2 * exact and (exact - seen) / 100.0 > 10 * RESOLUTION_RTOL
    problem = Problem.from_spec(_spec(tmp_path, _bump(c)))
    res = rule_resolution(problem)
    assert not res.resolved and res.scale == pytest.approx(100.0)
    # the structure's full width at half height: 2 σ sqrt(2 ln 2)
    assert res.width == pytest.approx(2 * sigma * math.sqrt(2 * math.log(2)), rel=0.1)
    message = resolution_warning(problem)
    assert "does not resolve V" in message and "evaluation.panels" in message
    assert message in problem.warnings()  # printed by nsvd solve before training


def test_the_grid_reference_is_named_when_as_coarse(tmp_path):
    spec = _spec(tmp_path, _bump(4.5e-6)).model_copy(update={"reference": "auto"})
    problem = Problem.from_spec(spec)
    assert problem.reference_kind == "grid"
    message = resolution_warning(problem)  # computes no reference
    # N = 160 on [0, 1]: spacing 1/161 = 0.0062 against a width 2.355·0.0015 = 0.0035
    assert "grid reference (N = 160, spacing 0.0062)" in message and "reference_grid >= " in message
    need = int(message.split("reference_grid >= ")[1].split()[0])
    assert 3 / 0.0035 * 0.9 < need < 3 / 0.0035 * 1.1


def test_the_suggested_rule_resolves_the_bump(tmp_path):
    spec = _spec(tmp_path, _bump(8e-6))
    message = resolution_warning(Problem.from_spec(spec))
    panels = int(message.split("evaluation.panels to >= ")[1].split()[0])
    finer = spec.model_copy(update={"evaluation": spec.evaluation.model_copy(update={"panels": panels})})
    # independently: that rule sees the bump's integral 35600 π c to 1e-6
    assert _rule_sees(8e-6, panels=panels) == pytest.approx(35600 * math.pi * 8e-6, rel=1e-6)
    assert resolution_warning(Problem.from_spec(finer)) is None


SMOOTH = [  # (expression, dimension, box, walls)
    ("x0**2", 1, (-6.0, 6.0), False),
    ("x0**2 + x1**2", 2, (-5.0, 5.0), False),
    ("x0**4 + 0.5*x1**4", 2, (-4.0, 4.0), False),
    ("(x0**2 - 1)**2 + x1**2", 2, (-3.0, 3.0), False),
    ("4*(x0**2 - 2.25)**2", 1, (-4.0, 4.0), False),
    ("-1/sqrt(x0**2 + x1**2 + 0.1) + 0.01*(x0**2 + x1**2)", 2, (-8.0, 8.0), False),
    (_bump(2 * 0.05**2), 2, (0.0, 1.0), True),        # a Gaussian of width 0.05, height 35600
    ("-500*exp(-((x0-0.5)**2+(x1-0.4)**2)/0.005)", 2, (0.0, 1.0), True),  # a well of width 0.05
    ("1000*exp(-(x0-0.3)**2/0.005)", 1, (0.0, 1.0), True),
    ("0", 2, (0.0, 1.0), True),
]


@pytest.mark.parametrize("expression, dimension, box, walls", SMOOTH)
def test_smooth_potentials_are_resolved(expression, dimension, box, walls, tmp_path):
    problem = Problem.from_spec(_spec(tmp_path, expression, dimension, box, walls))
    res = rule_resolution(problem)
    assert res.resolved and res.integral_shift <= 1e-6 * RESOLUTION_RTOL * res.scale
    assert resolution_warning(problem) is None


def test_no_built_in_problem_warns():
    judged = 0
    for name in builtin_problems():
        res = rule_resolution(Problem.from_spec(load_spec(name)))
        if res is not None:
            judged += 1
            assert res.resolved, name
    assert judged >= 6  # box2d, harmonic, harmonic2d, morse1d, poschl_teller1d, quartic1d


def test_rules_that_are_not_judged(tmp_path):
    mc = _spec(tmp_path, _bump(4.5e-6), evaluation={"box": [[0.0, 1.0]] * 2, "quadrature": "monte-carlo"})
    assert rule_resolution(Problem.from_spec(mc)) is None
    assert rule_resolution(Problem.from_spec(load_spec("hydrogen2d"))) is None  # polar, Coulomb


def test_cost_of_a_2d_default_rule(tmp_path):
    problem = Problem.from_spec(_spec(tmp_path, _bump(4.5e-6)))
    problem.potential_values  # computed for the evaluation anyway
    t0 = time.perf_counter()
    rule_resolution(problem)
    assert time.perf_counter() - t0 < 2.0  # measured 0.04-0.06 s on one core (budget 0.5 s)


# ---- nsvd compare: a grid reference that does not resolve the problem ---------------------------

def _bump1d(tmp_path, reference_grid):
    data = {"name": "bump1d", "dimension": 1, "modes": 2, "shift": 100.0, "reference_grid": reference_grid,
            "potential": {"kind": "expression", "expression": "5000*exp(-((x0-0.3)/0.004)**2)"},
            "model": {"envelope": "box", "envelope_box": [[0.0, 1.0]]},
            "sampling": {"kind": "uniform", "box": [[0.0, 1.0]]}, "evaluation": {"box": [[0.0, 1.0]]}}
    path = tmp_path / f"bump1d_{reference_grid}.toml"
    path.write_text(tomli_w.dumps(data))
    return str(path)


def _truth_1d(n=20000):
    """The two lowest levels of −ψ'' + 5000 exp(−((x − 0.3)/0.004)²) ψ on [0, 1] with walls:
    second-order finite differences on 20000 points (tridiagonal, error ~1e-5 here)."""
    from scipy.linalg import eigh_tridiagonal

    h = 1.0 / (n + 1)
    x = np.arange(1, n + 1) * h
    V = 5000 * np.exp(-((x - 0.3) / 0.004) ** 2)
    return eigh_tridiagonal(2 / h**2 + V, -np.ones(n - 1) / h**2, select="i", select_range=(0, 1))[0]


def test_compare_notes_a_reference_coarser_than_the_problem(tmp_path, monkeypatch):
    from nsvd_cli.compare import compare

    monkeypatch.setenv("NSVD_CACHE_DIR", str(tmp_path / "cache"))

    truth = _truth_1d()  # 18.7459, 72.3404 (without the bump: π², 4π²)
    c = compare([_bump1d(tmp_path, 40)], ["eigsh"], [2000], order=2)
    # independently: the N = 40 reference (spacing 0.024 against a bump of width 0.004) is off by far
    # more than 5 times its own error estimate, and the N = 2000 baseline is right
    off = np.abs(c.reference_energies - truth)
    assert np.all(off > 5 * c.reference_error) and off[1] > 20
    assert c.methods[0].energies == pytest.approx(truth, rel=1e-4)
    note = [w for w in c.warnings if "may not resolve the problem" in w]
    assert len(note) == 1
    assert "eigsh N=2000" in note[0] and "grid reference (eigsh, N=40)" in note[0] and "reference_grid" in note[0]
    factor = float(note[0].split("×")[0].split()[-1])
    k = int(note[0].split("at level ")[1].split()[0]) - 1
    assert factor == pytest.approx(abs(truth[k] - c.reference_energies[k]) / c.reference_error[k], rel=0.01)


def test_compare_without_the_note_on_a_fine_reference(tmp_path, monkeypatch):
    from nsvd_cli.compare import compare

    monkeypatch.setenv("NSVD_CACHE_DIR", str(tmp_path / "cache"))

    c = compare([_bump1d(tmp_path, 2000)], ["eigsh"], [3000], order=2)
    assert c.reference_energies == pytest.approx(_truth_1d(), rel=1e-4)
    assert not [w for w in c.warnings if "may not resolve the problem" in w]
