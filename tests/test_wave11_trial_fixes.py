"""Wave 11: findings of the new-user trials (high-D specs, resume, parallel runs)."""

from __future__ import annotations

import pytest

from nsvd_cli.errors import SpecError
import tomli_w

from nsvd_cli.spec import load_spec


def parse_spec(data: dict, tmp_path):
    """The spec a user's TOML file of ``data`` gives (derived defaults filled in, as ``solve``)."""
    path = tmp_path / "user.toml"
    path.write_text(tomli_w.dumps(data))
    return load_spec(str(path))


def _expression_spec(expression: str, dimension: int, **extra) -> dict:
    spec = {"name": "user", "dimension": dimension, "modes": 3, "shift": 20.0,
            "potential": {"kind": "expression", "expression": expression}, "sampling": {"kind": "gaussian", "std": 1.0},
            "evaluation": {"box": [[-5.0, 5.0]] * dimension}}
    return {**spec, **extra}


def test_a_formula_without_a_coordinate_is_refused(tmp_path):
    # D = 6 with no x5 term: V(x + t e5) = V(x), a free particle along x5, no bound states
    with pytest.raises(SpecError) as info:
        parse_spec(_expression_spec("x0**2 + x1**2 + x2**2 + x3**2 + x4**2 + 0.3*x0*x1", 6), tmp_path)
    assert info.value.field == "potential.expression"
    assert "does not depend on x5" in info.value.message and "x4" not in info.value.message.split(":")[1]


@pytest.mark.parametrize("expression, dimension", [
    ("x0**2 + x1**2", 2), ("r**2", 3), ("x**2", 1), ("x0**2 + 0.1*r**4", 3)])
def test_confining_formulas_pass(expression, dimension, tmp_path):
    assert parse_spec(_expression_spec(expression, dimension), tmp_path).potential.expression


def test_walls_confine_a_free_axis(tmp_path):
    # a box envelope makes x1 a particle in a box: levels exist without an x1 term
    spec = parse_spec(_expression_spec("x0**2", 2, model={"envelope": "box", "envelope_box": [[-2, 2], [-2, 2]]},
                                       sampling={"kind": "uniform", "box": [[-2, 2], [-2, 2]]},
                                       evaluation={"box": [[-2, 2], [-2, 2]]}), tmp_path)
    assert spec.potential.expression.strip() == "x0**2"
