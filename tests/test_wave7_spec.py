"""Wave 7 (new-user trial): ``nsvd problems show`` prints the spec ``nsvd solve`` runs; ``--dim``
refuses potentials written for one dimension; spec-file errors name the field and the file.

Expected values are the documented rules worked out by hand for the trial's ``good.toml``
(1D, ``V = x0**2``, Gaussian sampling with std 1, 3 modes): envelope ``gaussian`` (not a box,
not Coulomb), learning rate 3e-3, the ``forward`` Laplacian, ``fourier_scales = 0.5 / std =
[0.5]``, ``envelope_width = std = 1``, ``iterations = 1000 + 600 * 3 * ceil(1/2) = 2800``,
``eval_every = iterations // 5 = 560`` (300 iterations: ``max(60, min(250, 300)) = 250``).
"""

from __future__ import annotations

import tomllib

import pytest
from typer.testing import CliRunner

from nsvd_cli.cli.main import app
from nsvd_cli.errors import SpecError
from nsvd_cli.spec import SpecFileError, load_spec, parse_spec, spec_to_dict

runner = CliRunner()

GOOD = ('name = "t"\ndimension = 1\npotential = "x0**2"\nshift = 20.0\nmodes = 3\n'
        '[sampling]\nkind = "gaussian"\nstd = 1.0\n[evaluation]\nbox = [[-6, 6]]\n')


def _write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def _shown(tmp_path, *args) -> tuple[str, object]:
    res = runner.invoke(app, ["problems", "show", *map(str, args)])
    assert res.exit_code == 0, res.output
    return res.stdout, _write(tmp_path, "r.toml", res.stdout)


def _resolved(path, overrides=None) -> dict:
    """The spec solve runs (nsvd_cli.solve.solve resolves its argument with derive_defaults)."""
    from nsvd_cli.defaults import derive_defaults

    return spec_to_dict(derive_defaults(load_spec(path, overrides=overrides))[0])


# --------------------------------------------------------------------------------------
# 1. problems show = what solve runs
# --------------------------------------------------------------------------------------

def test_shown_user_spec_has_the_derived_values_worked_out_by_hand(tmp_path):
    text, _ = _shown(tmp_path, _write(tmp_path, "good.toml", GOOD))
    data = tomllib.loads(text)  # valid TOML, comments and all
    model, training = data["model"], data["training"]
    assert model["envelope"] == "gaussian" and model["fourier_scales"] == [0.5] and model["envelope_width"] == 1.0
    assert training["learning_rate"] == 3e-3 and training["laplacian"] == "forward"
    assert data["scale"] == 1.0  # c - E0 = 20 - (0 + 1/2) lies in [1, 100]
    assert 'envelope = "gaussian"  # derived' in text and "learning_rate = 0.003  # derived" in text
    # fields that follow --modes / --iters / --laplacian: shown, commented out
    assert "# iterations = 2800  # derived" in text and "# eval_every = 560  # derived" in text
    assert "iterations" not in training and "eval_every" not in training and "fd_step" not in training


def test_shown_values_equal_solves_resolution(tmp_path):
    good = _write(tmp_path, "good.toml", GOOD)
    text, _ = _shown(tmp_path, good)
    solved = _resolved(good)
    shown = tomllib.loads(text)
    for table, key in (("model", "envelope"), ("training", "learning_rate"), ("training", "laplacian"),
                       ("model", "fourier_scales"), ("model", "envelope_width")):
        assert shown[table][key] == solved[table][key], (table, key)
    assert solved["training"]["iterations"] == 2800 and solved["training"]["eval_every"] == 560


@pytest.mark.parametrize("overrides, eval_every", [
    (None, 560),
    ({"training.iterations": 300}, 250),  # the trial: both solved with --iters 300
    ({"modes": 5}, 1000 // 5 + 600),  # iterations 1000 + 600*5 = 4000 -> 800
    ({"training.laplacian": "fd"}, 560),
])
def test_solving_the_shown_file_resolves_to_the_same_spec(tmp_path, overrides, eval_every):
    good = _write(tmp_path, "good.toml", GOOD)
    _, shown = _shown(tmp_path, good)
    a, b = _resolved(good, overrides), _resolved(shown, overrides)
    assert a == b
    assert a["training"]["eval_every"] == eval_every
    if overrides == {"training.laplacian": "fd"}:
        assert a["training"]["fd_step"] == pytest.approx(0.01)  # 0.01 * std


def test_shown_builtin_with_derived_eval_every_follows_iters(tmp_path):
    """harmonic2d leaves eval_every out: `solve harmonic2d --iters 300` and the shown file with
    --iters 300 both evaluate every max(60, min(250, 300)) = 250 iterations."""
    _, shown = _shown(tmp_path, "harmonic2d")
    a, b = _resolved("harmonic2d", {"training.iterations": 300}), _resolved(shown, {"training.iterations": 300})
    assert a == b and a["training"]["eval_every"] == 250


def test_solve_of_shown_file_stores_the_same_spec(tmp_path):
    """End to end (2 iterations, small net): the results files store equal resolved specs."""
    from nsvd_cli.files import load as load_results

    good = _write(tmp_path, "good.toml", GOOD.replace("modes = 3", "modes = 2")
                  + '[model]\nhidden = [8]\nfourier_features = 4\n[training]\nbatch_size = 32\n')
    _, shown = _shown(tmp_path, good)
    specs = []
    for src, out in ((good, "a.h5"), (shown, "b.h5")):
        res = runner.invoke(app, ["solve", str(src), "--iters", "2", "-q", "-o", str(tmp_path / out)])
        assert res.exit_code == 0, res.output
        specs.append(spec_to_dict(load_results(tmp_path / out).spec))
    assert specs[0] == specs[1]
    assert specs[0]["model"]["envelope"] == "gaussian" and specs[0]["training"]["laplacian"] == "forward"
    assert specs[0]["training"]["iterations"] == 2


# --------------------------------------------------------------------------------------
# 2. family and --dim
# --------------------------------------------------------------------------------------

def test_dim_refuses_a_formula_naming_coordinates(tmp_path):
    fam2 = _write(tmp_path, "fam2.toml", 'family = "harmonic"\n' + GOOD)
    res = runner.invoke(app, ["problems", "show", str(fam2), "--dim", "5"])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: potential:") and "x0" in lines[0]
    assert runner.invoke(app, ["problems", "show", str(fam2), "--dim", "1"]).exit_code == 0  # own D: unchanged


def test_dim_refuses_a_python_potential_and_accepts_a_radial_formula():
    from nsvd_cli.spec import resize_dimension

    base = {"name": "m", "dimension": 1, "shift": 20.0, "modes": 2, "sampling": {"kind": "gaussian", "std": 1.0},
            "evaluation": {"box": [[-6, 6]]}}
    with pytest.raises(SpecError) as info:
        resize_dimension({**base, "potential": "tests.faulty_potentials:harmonic"}, 2)
    assert info.value.field == "potential"
    spec = parse_spec(resize_dimension({**base, "potential": "r**2"}, 2))  # |x|^2 in any D
    assert spec.dimension == 2 and spec.evaluation.box == ((-6.0, 6.0), (-6.0, 6.0))


def test_harmonic_family_needs_the_harmonic_kind():
    """The harmonic rule's modes 1 + D and shift 2 (D + 2) belong to V = |x|^2: refused for r**4."""
    from nsvd_cli.spec import resize_dimension

    data = {"family": "harmonic", "name": "m", "dimension": 1, "potential": "r**4", "shift": 20.0,
            "sampling": {"kind": "gaussian", "std": 1.0}, "evaluation": {"box": [[-6, 6]]}}
    with pytest.raises(SpecError) as info:
        resize_dimension(data, 5)
    assert info.value.field == "family"
    data["potential"] = {"kind": "harmonic", "omega": 1.0}
    resized = resize_dimension(data, 5)
    assert resized["modes"] == 6 and resized["shift"] == 14.0  # 1 + D; 2 (D + 2)


def test_unknown_top_level_field_lists_family(tmp_path):
    bad = _write(tmp_path, "typo.toml", GOOD.replace("modes = 3", "mdoes = 3"))
    with pytest.raises(SpecError) as info:
        load_spec(bad)
    assert info.value.field == "mdoes"
    allowed = info.value.message.split("allowed: ", 1)[1].split(", ")
    assert "family" in allowed and "presets" in allowed and "modes" in allowed


def test_docs_spec_table_lists_family():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "spec.md").read_text()
    assert any(line.startswith("| `family`") for line in text.splitlines())


# --------------------------------------------------------------------------------------
# 3. error wording
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("old, new, field, message", [
    ("modes = 3", "modes = 3.5", "modes", "expected an integer, got 3.5"),
    ("dimension = 1", "dimension = 0", "dimension", "must be >= 1, got 0"),
    ("box = [[-6, 6]]", "box = [[-6, 6], [-6, 6]]", "evaluation.box", "expected 1 pair [low, high] (one per dimension)"),
])
def test_file_errors_name_the_field_and_file_not_an_option(tmp_path, old, new, field, message):
    path = _write(tmp_path, "s.toml", GOOD.replace(old, new))
    res = runner.invoke(app, ["problems", "show", str(path)])
    assert res.exit_code == 2
    line = " ".join(res.output.split())
    assert line.startswith(f"error: {path}: {field}: {message}"), line
    assert "--" not in line.split(message)[0]  # no --modes / --dim
    with pytest.raises(SpecFileError) as info:
        load_spec(path)
    assert info.value.field == field and info.value.source == str(path)


def test_command_line_errors_still_name_the_option(tmp_path):
    good = _write(tmp_path, "good.toml", GOOD)
    res = runner.invoke(app, ["solve", str(good), "--modes", "0"])
    assert res.exit_code == 2 and "error: --modes (modes): must be >= 1, got 0" in res.output
    res = runner.invoke(app, ["problems", "show", "harmonic", "--dim", "0"])
    assert res.exit_code == 2 and "error: --dim (dimension): must be an integer in 1..64, got 0" in res.output


def test_two_pairs_keep_the_plural():
    with pytest.raises(SpecError) as info:
        parse_spec({"name": "m", "dimension": 2, "potential": "r**2", "sampling": {"kind": "gaussian", "std": 1.0},
                    "evaluation": {"box": [[-6, 6]]}})
    assert info.value.message.startswith("expected 2 pairs [low, high] (one per dimension)")
