"""The coverage check (nsvd_cli.coverage): a well of V below the shift that the training sampling
barely reaches is warned about before training; every built-in problem stays silent.

Values are derived by hand: the Gaussian / mixture densities from their formulas, the side-well
bottom from V'(x) = 0 by bisection."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import brentq

from nsvd_cli.coverage import COVERAGE_MIN, coverage_warning, well_coverage
from nsvd_cli.problem import Problem
from nsvd_cli.spec import builtin_problems, load_spec

ROOT = Path(__file__).parents[1]

#: The new-user trial's spec (a side well at x ≈ 5 under a Gaussian of std 1.2).
SIDEWELL = """name = "sidewell"
dimension = 1
shift = 6.0
modes = 3
reference = "none"
[potential]
kind = "expression"
expression = "x0**2 - 26*exp(-(x0-5)**2/1.28)"
[sampling]
kind = "gaussian"
std = 1.2
[evaluation]
box = [[-5.0, 8.0]]
"""


def _problem(tmp_path, text: str) -> Problem:
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return Problem.from_spec(load_spec(path))


def _double_well(sampling: str) -> str:
    """V = (x² − 4)², wells at ±2, shift 8 (allowed: 1.082 < |x| < 2.613)."""
    return ("name = \"dw\"\ndimension = 1\nshift = 8.0\nmodes = 2\nreference = \"none\"\n[potential]\n"
            "kind = \"expression\"\nexpression = \"(x0**2 - 4)**2\"\n[sampling]\n" + sampling
            + "\n[evaluation]\nbox = [[-4.0, 4.0]]\n")


def test_the_trial_side_well_is_found_and_its_ratio_is_the_gaussian_formula(tmp_path):
    p = _problem(tmp_path, SIDEWELL)
    cov = well_coverage(p)
    # side-well bottom by hand: V'(x) = 2x + 26 * 2 (x - 5) / 1.28 * exp(-(x - 5)² / 1.28) = 0 on [4, 5]
    x_star = brentq(lambda x: 2 * x + 52 * (x - 5) / 1.28 * math.exp(-(x - 5) ** 2 / 1.28), 4.0, 5.0)
    assert abs(cov.point[0] - x_star) < 13.0 / 4000  # within one node of the 4001-node grid
    assert cov.potential == pytest.approx(x_star**2 - 26 * math.exp(-(x_star - 5) ** 2 / 1.28), abs=1e-3)
    # ratio: N(x; 0, 1.2²) / N(0; 0, 1.2²) (x = 0 is allowed, V(0) ≈ 0 < 6; nearest node 1.6e-3 away)
    assert cov.ratio == pytest.approx(math.exp(-cov.point[0] ** 2 / (2 * 1.2**2)), rel=1e-5)
    assert 3.5e-4 < cov.ratio < 4.5e-4 < COVERAGE_MIN
    message = coverage_warning(p)
    assert "x = (4.75)" in message and "3.9e-04" in message and "sampling.std" in message
    assert message in p.warnings()  # reaches the pre-training warnings (no reference needed)


def test_a_double_well_sampled_around_one_well_fires(tmp_path):
    p = _problem(tmp_path, _double_well("kind = \"uniform\"\nbox = [[-4.0, 0.5]]"))
    cov = well_coverage(p)
    assert cov.ratio == 0.0 and cov.point[0] == pytest.approx(2.0, abs=2e-3)
    assert "outside the sampling box" in coverage_warning(p)


def test_mixture_ratio_is_relative_to_the_density_peak_over_the_allowed_region(tmp_path):
    stds, weights = [0.3, 3.0], [0.5, 0.5]
    p = _problem(tmp_path, _double_well(f"kind = \"mixture\"\nstds = {stds}\nweights = {weights}"))

    def density(x):
        return sum(w * math.exp(-x * x / (2 * s * s)) / (s * math.sqrt(2 * math.pi)) for s, w in zip(stds, weights))

    inner = math.sqrt(4 - math.sqrt(8))  # V = 8 at the inner turning point: the allowed region's densest point
    expected = density(2.0) / density(inner)
    cov = well_coverage(p)
    assert abs(abs(cov.point[0]) - 2.0) < 2e-3
    assert cov.ratio == pytest.approx(expected, rel=1e-2)  # the grid's allowed node is within 2e-3 of `inner`
    assert coverage_warning(p) is None  # expected = 0.15 > COVERAGE_MIN


def test_narrow_gaussian_on_a_symmetric_double_well_fires(tmp_path):
    # p(2) / p(1.082) = exp(-(4 - 1.172) / (2 * 0.25)) = 3.5e-3: both wells starved
    p = _problem(tmp_path, _double_well("kind = \"gaussian\"\nstd = 0.5"))
    assert well_coverage(p).ratio == pytest.approx(math.exp(-(4 - (4 - math.sqrt(8))) / 0.5), rel=2e-2)
    assert coverage_warning(p) is not None


def _builtin_and_bench_specs():
    for name, path in builtin_problems().items():
        for preset in [None, *tomllib.loads(Path(path).read_text()).get("presets", {})]:
            yield f"{name}[{preset}]", load_spec(name, preset=preset)
    for path in sorted((ROOT / "bench" / "user_specs").glob("*.toml")):
        yield path.name, load_spec(path)


def test_silent_on_every_builtin_preset_and_bench_spec():
    loud = {label: coverage_warning(Problem.from_spec(spec)) for label, spec in _builtin_and_bench_specs()}
    assert len(loud) >= 15
    assert {k: v for k, v in loud.items() if v} == {}


def test_silent_on_a_soft_coulomb_whose_allowed_region_is_all_space(tmp_path):
    # V < shift = 0 everywhere (as hydrogen2d); the density at the box corner is ~1e-28 of its peak,
    # but the only well is the centre, where the density peaks
    text = ("name = \"soft\"\ndimension = 2\nshift = 0.0\nmodes = 3\nreference = \"none\"\n[potential]\n"
            "kind = \"expression\"\nexpression = \"-1/sqrt(x0**2 + x1**2 + 0.1)\"\n[sampling]\n"
            "kind = \"gaussian\"\nstd = 4.0\n[evaluation]\nbox = [[-40.0, 40.0], [-40.0, 40.0]]\n")
    p = _problem(tmp_path, text)
    cov = well_coverage(p)
    assert cov is not None and cov.ratio > 0.9 and coverage_warning(p) is None


def test_ripple_minima_on_a_slope_are_not_wells(tmp_path):
    # x² + 0.5 sin(20 x): 29 local minima below the shift 20, out to x = -4.42 (V = 19.3) where the
    # density is 5.7e-5 of its peak; each has curvature k ≈ 2 + 0.5·400 = 202, a harmonic ground
    # state of width (2/202)^(1/4) = 0.32, over which V falls by ~8.8·0.32 = 2.8 > the ripple's 1:
    # no state of its own (the wanted states live in the big well, which the sampling covers)
    text = SIDEWELL.replace("x0**2 - 26*exp(-(x0-5)**2/1.28)", "x0**2 + 0.5*sin(20*x0)").replace(
        "shift = 6.0", "shift = 20.0").replace("std = 1.2", "std = 1.0").replace("[[-5.0, 8.0]]", "[[-6.0, 6.0]]")
    p = _problem(tmp_path, text)
    cov = well_coverage(p)
    assert cov.wells == 29 and cov.ratio > 0.99 and abs(cov.point[0]) < 0.1
    assert coverage_warning(p) is None


def test_high_dimensions_are_not_judged():
    assert well_coverage(Problem.from_spec(load_spec("quartic6d"))) is None
