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


# --------------------------------------------------------------------------------------
# the pydantic models reproduce the hand-written validator (fixtures dumped from it)
# --------------------------------------------------------------------------------------

import copy  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tomllib  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Literal, get_args, get_origin  # noqa: E402

from nsvd_cli.spec import load_spec_data, spec_to_toml  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).parent.parent


def _variants():
    for name in builtin_problems():
        for preset in [None, *sorted(load_spec_data(name).get("presets", {}))]:
            for dim in (None, 1, 2, 3, 4, 6):
                yield f"{name}|{preset or ''}|{dim or ''}", name, preset, dim


#: Fields added after the fixtures were dumped (their defaults leave old specs unchanged).
NEWER_FIELDS = {"training": ("until", "tolerance", "restarts", "method"), "model": ("envelope_quartic_width",),
                "evaluation": ("ritz_degree",)}


def _without_newer_fields(d: dict) -> dict:
    for table, names in NEWER_FIELDS.items():
        for name in names:
            d.get(table, {}).pop(name, None)
    return d


def test_builtins_presets_and_dims_resolve_as_before():
    """spec_to_dict of every built-in x preset x --dim equals the hand-written validator's."""
    want = json.loads((FIXTURES / "builtin_specs.json").read_text())
    dumped = {key.split("|")[0] for key in want}  # built-ins added later are not in the fixture
    got = {}
    for key, name, preset, dim in _variants():
        if name not in dumped:
            continue
        try:
            got[key] = {"spec": _without_newer_fields(spec_to_dict(load_spec(name, preset=preset, dimension=dim)))}
        except SpecError as e:
            got[key] = {"error": [e.field, e.message]}
        _with_family_rule(want, key, name, dim)
    assert got.keys() == want.keys()
    for key in want:
        assert got[key] == want[key], key


def _with_family_rule(want, key, name, dim):
    """The fixture's spec with the per-dimension rule of the built-in's ``family`` applied
    (added after the fixture was dumped: --dim D >= 4 of a family sets these fields)."""
    from nsvd_cli.defaults import FAMILY_MIN_DIMENSION, FAMILY_RULES

    family = load_spec_data(name).get("family")
    if family is None or dim is None or "spec" not in want.get(key, {}):
        return
    if dim < FAMILY_MIN_DIMENSION and dim != load_spec_data(name).get("dimension"):  # wave 8: a rule fitted to D
        from nsvd_cli.defaults import FAMILY_EVALUATION_RULES

        ev = want[key]["spec"]["evaluation"]
        ev["points"], ev["panels"] = (12, 3) if dim == 3 else (48, 4)
        ev.update({k.split(".")[1]: v for k, v in FAMILY_EVALUATION_RULES[family](want[key]["spec"], dim).items()})
    if dim < FAMILY_MIN_DIMENSION:
        return
    spec = want[key]["spec"]
    for dotted, value in FAMILY_RULES[family](spec, dim).items():
        table, _, field = dotted.rpartition(".")
        (spec[table] if table else spec)[field] = value


def _mutation(key, bases, values):
    parts = key.split("|")
    d = copy.deepcopy(bases[parts[0]])
    if parts[1] == "kind":
        d["potential"] = {"kind": parts[2]}
        if len(parts) == 4:
            d["potential"][parts[3]] = {"omega": 2.0, "depth": 2.0, "lambda": 2.0, "box": [[0, 2]] * d["dimension"],
                                        "expression": "x0**2", "function": "m:f", "quadratic": 0.5,
                                        "quartic": 0.0}[parts[3]]
        return d
    section, field, i = parts[1], parts[2], int(parts[3])
    table = d if section == "None" else d.setdefault(section, {})
    if values[i] is None:
        del table[field]
    else:
        table[field] = values[i]
    return d


def _allowed_difference(key, want, got):
    """Deliberate differences from the hand-written validator (inputs with two faults, or
    values it accepted by accident)."""
    if "|joint_weights|" in key and got.get("error", "").startswith(want.get("error", "?") + "["):
        return True  # an invalid element is named before "only valid with joint nesting"
    if key in ("h2|kind|poschl-teller", "h2|kind|poschl_teller", "h2|kind|morse"):
        return got.get("error") in ("potential.lambda", "potential.depth")  # missing parameter before 1D check
    for field in ("dimension", "modes", "batch_size", "gram_batch", "fourier_features", "hidden", "points",
                  "panels", "angles", "samples", "learning_rate", "final_learning_rate", "seed", "reference_grid"):
        if f"|{field}|" in key and got.get("error", "").split(".")[-1].split("[")[0] == field:
            return True  # sizes/seeds beyond the new upper bounds (issue #9) are refused, naming the field
    if "|ema_decay|" in key and got.get("error") == "training.ema_decay":
        return True  # ema_decay >= 1 is refused (wave 12: 1 would evaluate the untrained initial weights)
    if key.endswith("|model|envelope_box|2"):
        return got.get("error") == "model.envelope_box"  # envelope_box = 0 is not a box (was ignored)
    if "|kind|box" in key and want.get("error") == "model.envelope":
        return "error" in got  # still refused, on the next wall check: the box envelope is derived now
    if key == "box1|model|envelope|26":
        return "spec" in got  # a box potential without envelope derives envelope = "box" (was an error)
    if key.endswith("|kind|expression|expression"):  # "x0**2" in D >= 2 leaves x1... free: no bound states
        return got.get("error") == "potential.expression"
    if key in ("mix1|kind|coulomb", "mix1|kind|hydrogen"):  # -1/|x| in 1D without softening: no ground state (the 1D hydrogen collapse)
        return got.get("error") == "potential.softening"
    return key == "mix1|sampling|weights|7"  # weights = [] means equal weights (was an error)


def test_single_field_mutations_fail_on_the_same_field_as_before():
    src = (FIXTURES / "make_spec_mutations.py").read_text()
    ns = {}
    exec(src[src.index("BASES ="):src.index("SECTIONS =")], ns)  # the inputs of the fixture
    want_all = json.loads((FIXTURES / "spec_mutations.json").read_text())
    for key, want in want_all.items():
        if "crash" in want:
            continue
        try:
            text = json.dumps(_without_newer_fields(spec_to_dict(parse_spec(_mutation(key, ns["BASES"], ns["VALUES"])))),
                              sort_keys=True)
            got = {"spec": hashlib.sha1(text.encode()).hexdigest()[:16]}
        except SpecError as e:
            got = {"error": e.field}
            assert "\n" not in str(e) and "pydantic" not in str(e) and "http" not in str(e), str(e)
        assert got == want or _allowed_difference(key, want, got), (key, want, got)


@pytest.mark.parametrize("key, name, preset, dim", [v for v in _variants() if v[3] is None])
def test_toml_round_trip_of_every_builtin_and_preset(key, name, preset, dim):
    spec = load_spec(name, preset=preset)
    assert parse_spec(tomllib.loads(spec_to_toml(spec))) == spec


def test_messages_are_one_line_with_the_dotted_field():
    cases = [({"training": {"learning_rate": -1}}, "training.learning_rate: must be > 0, got -1"),
             ({"model": {"hidden": [64, 0]}}, "model.hidden[1]: must be >= 1, got 0"),
             ({"training": {"optimizer": "sgd"}}, "training.optimizer: unknown value 'sgd'; expected one of rmsprop, adam"),
             ({"potential": {"kind": "yukawa"}}, "potential.kind: unknown value 'yukawa'; expected one of harmonic"),
             ({"potential": {"kind": "morse"}, "dimension": 1, "evaluation": {"box": [[-1, 1]]}},
              "potential.depth: missing (well depth"),
             ({"model": {"width": 3}}, "model.width: unknown field; allowed: activation, architecture"),
             ({"model": {"radial_feature": 1}}, "model.radial_feature: expected true or false, got 1"),
             ({"training": {"iterations": 2.5}}, "training.iterations: expected an integer, got 2.5"),
             ({"shift": "high"}, "shift: expected a number, got 'high'")]
    for over, start in cases:
        d = _base()
        d.update(over)
        with pytest.raises(SpecError) as info:
            parse_spec(d)
        assert str(info.value).startswith(start), str(info.value)


def test_explicit_fields_are_the_given_ones():
    d = _base()
    d["training"] = {"learning_rate": 0.01}
    spec = parse_spec(d)
    assert spec.explicit_fields() == {"name", "dimension", "modes", "shift", "potential.kind", "potential.omega",
                                      "sampling.kind", "sampling.std", "evaluation.box", "training.learning_rate"}
    assert spec.potential.omega == (1.0, 1.0)  # broadcast, still explicit as given
    paper = load_spec("hydrogen2d", preset="paper", overrides={"training.iterations": 7})
    explicit = paper.explicit_fields()
    assert {"training.iterations", "training.optimizer", "model.fourier_features"} <= explicit
    assert "training.batch_size" not in load_spec("harmonic2d", overrides={"modes": 3}).explicit_fields() or \
        "batch_size" in load_spec_data("harmonic2d").get("training", {})
    assert "model.envelope_box" not in parse_spec({**d, "training": {}}).explicit_fields()
    box = parse_spec({"name": "b", "dimension": 1, "potential": {"kind": "box", "box": [[0, 1]]},
                      "sampling": {"kind": "uniform", "box": [[0, 1]]}, "model": {"envelope": "box"},
                      "evaluation": {"box": [[0, 1]]}})
    assert box.model.envelope_box == ((0.0, 1.0),) and "model.envelope_box" not in box.explicit_fields()
    pt = parse_spec({**_base(), "dimension": 1, "potential": {"kind": "poschl_teller", "lambda": 2},
                     "evaluation": {"box": [[-1, 1]]}})
    assert "potential.lambda" in pt.explicit_fields()


def test_spec_imports_no_torch_scipy_h5py_and_choices_no_pydantic():
    code = ("import sys, types; pkg = types.ModuleType('nsvd_cli'); pkg.__path__ = [sys.argv[1]]; "
            "sys.modules['nsvd_cli'] = pkg\n"  # bypass the package root (it imports the solver)
            "import nsvd_cli.spec.choices\nassert 'pydantic' not in sys.modules\n"
            "from nsvd_cli.spec import load_spec, spec_to_toml\nspec_to_toml(load_spec('hydrogen2d'))\n"
            "bad = {'torch', 'scipy', 'h5py'} & set(sys.modules)\nassert not bad, bad\n")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT / "nsvd_cli")], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr


# --------------------------------------------------------------------------------------
# docs/spec.md documents every field, default and choice of the models
# --------------------------------------------------------------------------------------

def _doc_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, tuple):
        return "[" + ", ".join(_doc_value(x) for x in v) + "]"
    if v == "":
        return '""'
    return str(v)


def _doc_rows(heading: str) -> list[str]:
    text = (ROOT / "docs" / "spec.md").read_text()
    sections = re.split(r"^## ", text, flags=re.M)
    body = next(s for s in sections if s.startswith(heading))
    return [line for line in body.splitlines() if line.startswith("|")]


def _check_documented(model, heading, skip=()):
    from pydantic_core import PydanticUndefined

    rows = _doc_rows(heading)
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key in skip:
            continue
        row = [r for r in rows if f"`{key}`" in r]
        assert row, f"docs/spec.md, {heading}: field `{key}` not documented"
        row = " ".join(row)
        if info.default is PydanticUndefined and info.default_factory is None:
            assert "required" in row, f"{heading}: `{key}` should say required"
        elif info.default_factory is None:
            assert _doc_value(info.default) in row, f"{heading}: `{key}` default {_doc_value(info.default)}"
        for choice in get_args(info.annotation) if get_origin(info.annotation) is Literal else ():
            assert f"`{choice}`" in row, f"{heading}: `{key}` choice `{choice}` not documented"


def test_docs_document_every_field_default_and_choice():
    from nsvd_cli.spec import (POTENTIAL_ALIASES, POTENTIAL_MODELS, EvaluationSpec, ModelSpec, ProblemSpec,
                               SamplingSpec, TrainingSpec)

    _check_documented(ProblemSpec, "Top level", skip=("potential", "sampling", "model", "training", "evaluation"))
    _check_documented(SamplingSpec, "`[sampling]`")
    _check_documented(ModelSpec, "`[model]`")
    _check_documented(TrainingSpec, "`[training]`")
    _check_documented(EvaluationSpec, "`[evaluation]`")
    rows = _doc_rows("`[potential]`")
    for kind, model in POTENTIAL_MODELS.items():
        row = " ".join(r for r in rows if r.startswith(f"| `{kind}`"))
        assert row, f"potential kind `{kind}` not documented"
        _check_documented_row(model, row, kind)
    text = " ".join(rows)
    for alias in POTENTIAL_ALIASES:
        assert f"`{alias}`" in text, f"potential alias `{alias}` not documented"
    for kind in get_args(SamplingSpec.model_fields["kind"].annotation):
        assert any(r.startswith(f"| `{kind}`") for r in _doc_rows("`[sampling]`")), kind


def _check_documented_row(model, row, kind):
    from pydantic_core import PydanticUndefined

    for name, info in model.model_fields.items():
        if name == "kind":
            continue
        key = info.alias or name
        assert f"`{key}`" in row, f"potential {kind}: `{key}` not documented"
        want = "required" if info.default is PydanticUndefined else _doc_value(info.default)
        assert f"`{key}` ({want}" in row or f"`{key} = " in row, f"potential {kind}: `{key}` ({want}) expected"


def test_cli_dim_refused_for_a_spec_that_is_not_a_dimension_family():
    """`--dim` moves only family specs (harmonic); hydrogen2d --dim 3 would be a 3D problem under the
    2D name: one line naming --dim, the built-in of that kind in 3D, exit code 2. The spec's own
    dimension is accepted, and the family still resizes."""
    from typer.testing import CliRunner

    from nsvd_cli.cli.main import app

    for args in (["solve", "hydrogen2d", "--dim", "3", "--iters", "1"], ["problems", "show", "quartic1d", "--dim", "4"]):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 2, res.output
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: --dim") and "not a dimension family" in lines[0]
    assert "hydrogen3d" in CliRunner().invoke(app, ["solve", "hydrogen2d", "--dim", "3"]).output
    assert CliRunner().invoke(app, ["problems", "show", "hydrogen2d", "--dim", "2"]).exit_code == 0
    assert CliRunner().invoke(app, ["problems", "show", "harmonic", "--dim", "5"]).exit_code == 0


def test_cli_dim_on_a_shown_family_spec_says_how_to_resize(tmp_path):
    """`nsvd problems show harmonic --dim 4 > f.toml` is a resolved 4D spec (no family key):
    --dim 5 on it is refused with the two commands that do resize the family."""
    from typer.testing import CliRunner

    from nsvd_cli.cli.main import app

    shown = CliRunner().invoke(app, ["problems", "show", "harmonic", "--dim", "4"])
    (tmp_path / "f.toml").write_text(shown.stdout)
    res = CliRunner().invoke(app, ["solve", str(tmp_path / "f.toml"), "--dim", "5", "--iters", "1"])
    assert res.exit_code == 2
    assert "harmonic family resolved for D = 4" in res.output
    assert "nsvd problems show harmonic --dim 5 > spec.toml" in res.output.replace("\n", "")


def _with_potential(potential, dim=1):
    return {"name": "mine", "dimension": dim, "shift": 1.0, "modes": 2, "potential": potential,
            "sampling": {"kind": "gaussian", "std": 1.0}, "evaluation": {"box": [[-5.0, 5.0]] * dim}}


@pytest.mark.parametrize("potential, dim, field", [
    ({"kind": "separable", "expression": "-x**2"}, 2, "potential.expression"),
    ({"kind": "separable", "expression": "x**2 - 0.1*x**4"}, 1, "potential.expression"),  # falls as -x^4
    ({"kind": "separable", "expressions": ["x**2", "-log(1 + x**2)"]}, 2, "potential.expressions[1]"),  # -2 log x
    ("-x**2", 1, "potential.expression"),
    ("x0**2 + x1**2 - 3*x0*x1", 2, "potential.expression"),  # x^T A x with eigenvalues -0.5, 2.5
    ("x**2 - exp(x)", 1, "potential.expression"),  # overflows to -inf
])
def test_potential_unbounded_below_is_refused_at_spec_load(potential, dim, field):
    with pytest.raises(SpecError) as info:
        parse_spec(_with_potential(potential, dim))
    assert info.value.field == field and "unbounded below" in info.value.message and "\n" not in str(info.value)


@pytest.mark.parametrize("potential, dim", [
    ({"kind": "separable", "expression": "x**4 - 3*x**2"}, 2),  # double well
    ({"kind": "separable", "expression": "16*(1 - exp(-(x - 1)))**2"}, 1),  # Morse: tends to the depth
    ("-6*sech(x)**2", 1),  # Pöschl–Teller: tends to 0
    ("-5*exp(-x**2)", 1),  # Gaussian well
    ("-1 + 1/(1 + abs(x))", 1),  # tends to -1 from above, monotonically
    ("-1/sqrt(x0**2 + x1**2 + x2**2 + 0.01)", 3),  # soft Coulomb
    ("x0**2 + x1**2 - 0.5*x0*x1", 2),  # positive definite coupling
    ("x**2 + 10*sin(x)", 1),
    ("cos(x)", 1),  # bounded, oscillating: no bound states, but not unbounded below
])
def test_legitimate_potentials_are_not_refused(potential, dim):
    parse_spec(_with_potential(potential, dim))


def test_shown_spec_writes_number_arrays_on_one_line():
    """`nsvd problems show` output: a 6D box is one line, not 18; the text parses back exactly
    (negative, small, infinite and integer entries; strings and booleans untouched)."""
    import tomllib

    from nsvd_cli.spec.loading import to_toml

    data = {"name": "x, [y]", "evaluation": {"box": [[-4.5, 4.5]] * 6, "flags": [True, False]},
            "model": {"hidden": [64, 64], "scales": [1e-05, float("inf"), -2.0], "empty": []}}
    text = to_toml(data)
    assert "box = [[-4.5, 4.5], [-4.5, 4.5], [-4.5, 4.5], [-4.5, 4.5], [-4.5, 4.5], [-4.5, 4.5]]\n" in text
    assert "hidden = [64, 64]\n" in text
    assert tomllib.loads(text) == data
