"""Spec loading and validation: every error path names its field."""

import pytest

from nsvd_cli.errors import SpecError
from nsvd_cli.spec import builtin_problems, load_spec, parse_spec, spec_to_dict


def _base():
    return {
        "name": "t", "dimension": 2, "modes": 3, "shift": 1.0,
        "potential": {"kind": "harmonic", "omega": 1.0},
        "sampling": {"kind": "gaussian", "std": 1.0},
        "evaluation": {"box": [[-1, 1], [-1, 1]]},
    }


def test_builtins_found():
    probs = builtin_problems()
    assert {"harmonic2d", "hydrogen2d"} <= set(probs)
    spec = load_spec("harmonic2d")
    assert (spec.dimension, spec.modes, spec.shift, spec.sampling.std) == (2, 15, 16.0, 1.5)
    h = load_spec("hydrogen2d")
    assert (h.modes, h.scale, h.potential.kind) == (16, 100.0, "coulomb")
    assert h.evaluation.box == ((-100.0, 100.0), (-100.0, 100.0))


def test_paper_preset_and_overrides():
    spec = load_spec("hydrogen2d", preset="paper", overrides={"modes": 16, "training.iterations": 7})
    assert spec.model.hidden == (128, 128, 128) and spec.model.fourier_features == 1024
    assert spec.training.optimizer == "rmsprop" and spec.training.learning_rate == 1e-4
    assert spec.sampling.kind == "gaussian" and spec.sampling.std == 16.0
    assert spec.modes == 16 and spec.training.iterations == 7  # CLI overrides win over the preset


def test_round_trip_through_dict():
    spec = load_spec("hydrogen2d")
    assert parse_spec(spec_to_dict(spec)) == spec


def test_energy_eigenvalue_conversion():
    spec = load_spec("harmonic2d")
    assert spec.eigenvalues_from_energies(2.0) == 14.0
    assert spec.energies_from_eigenvalues(14.0) == 2.0


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d.update(bogus=1), "bogus"),
    (lambda d: d.update(dimension=0), "dimension"),
    (lambda d: d.update(modes=0), "modes"),
    (lambda d: d.update(kinetic=-1.0), "kinetic"),
    (lambda d: d.update(scale=0.0), "scale"),
    (lambda d: d.pop("potential"), "potential"),
    (lambda d: d["potential"].update(kind="yukawa"), "potential.kind"),
    (lambda d: d["potential"].update(omega=[1.0, 2.0, 3.0]), "potential.omega"),
    (lambda d: d["sampling"].update(std=-2.0), "sampling.std"),
    (lambda d: d["sampling"].update(kind="mixture"), "sampling.stds"),
    (lambda d: d.update(sampling={"kind": "mixture", "stds": [1, 2], "weights": [1]}), "sampling.weights"),
    (lambda d: d["evaluation"].update(box=[[-1, 1]]), "evaluation.box"),
    (lambda d: d["evaluation"].update(box=[[1, -1], [0, 1]]), "evaluation.box"),
    (lambda d: d.update(training={"batch_size": 31}), "training.batch_size"),
    (lambda d: d.update(training={"optimizer": "sgd"}), "training.optimizer"),
    (lambda d: d.update(training={"joint_weights": [1, 1, 1]}), "training.joint_weights"),
    (lambda d: d.update(training={"nesting": "joint", "joint_weights": [1, 1]}), "training.joint_weights"),
    (lambda d: d.update(training={"device": "tpu"}), "training.device"),
    (lambda d: d.update(model={"hidden": []}), "model.hidden"),
    (lambda d: d.update(model={"envelope": "lorentzian"}), "model.envelope"),
    (lambda d: d.update(model={"width": 3}), "model.width"),
    (lambda d: d.update(name=""), "name"),
])
def test_validation_errors_name_the_field(mutate, field):
    d = _base()
    mutate(d)
    with pytest.raises(SpecError) as info:
        parse_spec(d)
    assert info.value.field == field
    assert "\n" not in str(info.value)


def test_unknown_problem_and_preset():
    with pytest.raises(SpecError, match="unknown problem"):
        load_spec("nonexistent")
    with pytest.raises(SpecError, match="unknown preset"):
        load_spec("harmonic2d", preset="fast")
    with pytest.raises(SpecError, match="not found"):
        load_spec("missing.toml")


def test_invalid_toml(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("name = [\n")
    with pytest.raises(SpecError, match="invalid TOML"):
        load_spec(p)
