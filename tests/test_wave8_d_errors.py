"""Wave 8 (d), item 2: error messages of a new-user trial.

(a) a potential undefined (NaN) on a region is not "singular at nodes"; (b) errors found when the
problem is built (a Python-function potential) name the spec file; (c) a box potential without
[model] derives envelope = "box" instead of refusing a default the user never wrote.
"""

import sys
import textwrap

import pytest
from typer.testing import CliRunner

from nsvd_cli.cli.main import app
from nsvd_cli.errors import SpecError
from nsvd_cli.problem import Problem
from nsvd_cli.spec import SpecFileError, load_spec

runner = CliRunner()


def _spec(tmp_path, name, potential, extra=""):
    path = tmp_path / f"{name}.toml"
    path.write_text(textwrap.dedent(f"""\
        name = "{name}"
        dimension = 1
        shift = 10.0
        modes = 2
        {potential}
        [sampling]
        kind = "gaussian"
        std = 1.0
        [evaluation]
        box = [[-6.0, 6.0]]
        points = 8
        panels = 2
        """) + extra)
    return path


def test_nan_on_a_region_says_undefined_not_singular(tmp_path):
    path = _spec(tmp_path, "logx", 'potential = "x0**2 + log(x0)"')
    with pytest.raises(SpecError) as info:
        Problem(load_spec(path)).check()
    # 2 panels × 8 Gauss–Legendre nodes on [-6, 6], symmetric, none at 0: half of them are < 0
    assert "not finite (NaN) at 8 of 16 evaluation nodes" in info.value.message
    assert "undefined there" in info.value.message and "singular" not in info.value.message
    res = runner.invoke(app, ["solve", str(path), "--iters", "2", "-q", "-o", str(tmp_path / "o.h5")])
    line = " ".join(res.output.split())
    assert res.exit_code == 2 and line.startswith(f"error: {path}: potential: V is not finite (NaN)"), line


def test_isolated_singular_node_keeps_the_singular_message(tmp_path):
    # 1/|x0| with an odd Gauss–Legendre panel centred on 0: one node at x = 0 (1/0 = inf); not 1/x0,
    # which is -1/|x| on x0 < 0: H unbounded below, refused at load (nsvd_cli/singularities.py)
    path = _spec(tmp_path, "inv", 'potential = "x0**2 + 1/abs(x0)"').read_text().replace("points = 8\npanels = 2",
                                                                                    "points = 9\npanels = 1")
    (tmp_path / "inv.toml").write_text(path)
    with pytest.raises(SpecError, match=r"singular at 1 evaluation node\(s\), e\.g\. x = \[0\.0\]"):
        Problem(load_spec(tmp_path / "inv.toml")).check()


def test_python_function_errors_name_the_spec_file(tmp_path, monkeypatch):
    (tmp_path / "wave8d_pots.py").write_text("def bad(x):\n    return x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("wave8d_pots", None)
    path = _spec(tmp_path, "pyfn", '[potential]\nkind = "python"\nfunction = "wave8d_pots:bad"')
    expected = f"error: {path}: potential.function: wave8d_pots:bad must map a (B, 1) tensor to shape (B,), got (2, 1)"
    for args in (["solve", str(path), "--iters", "2", "-q", "-o", str(tmp_path / "o.h5")],
                 ["problems", "show", str(path)], ["compare", str(path)]):
        res = runner.invoke(app, args)
        line = " ".join(res.output.split())
        assert res.exit_code == 2 and line.startswith(expected), (args, line)


def test_naming_spec_file_leaves_option_fields_and_named_errors_alone():
    from nsvd_cli.errors import naming_spec_file

    with pytest.raises(SpecFileError) as info, naming_spec_file("m.toml", settable=lambda f: f == "modes"):
        raise SpecError("potential.function", "bad")
    assert str(info.value) == "m.toml: potential.function: bad" and info.value.source == "m.toml"
    with pytest.raises(SpecError) as info, naming_spec_file("m.toml", settable=lambda f: f == "modes"):
        raise SpecError("modes", "bad")
    assert not isinstance(info.value, SpecFileError)
    with pytest.raises(SpecFileError) as info, naming_spec_file("m.toml"):
        raise SpecFileError("modes", "bad", "other.toml")
    assert info.value.source == "other.toml"


def test_box_potential_without_model_table_derives_the_box_envelope(tmp_path):
    path = tmp_path / "boxy.toml"
    path.write_text(textwrap.dedent("""\
        name = "boxy"
        dimension = 1
        shift = 30.0
        [potential]
        kind = "box"
        box = [[0.0, 1.0]]
        [sampling]
        kind = "uniform"
        box = [[0.0, 1.0]]
        [evaluation]
        box = [[0.0, 1.0]]
        """))
    spec = load_spec(path)
    assert spec.model.envelope == "box" and spec.model.envelope_box == ((0.0, 1.0),)
    assert "model.envelope" not in spec.explicit_fields()  # derived, not written
    with pytest.raises(SpecFileError, match=r'got \'gaussian\'; write envelope = "box" in \[model\] or leave it out'):
        path.write_text(path.read_text() + '[model]\nenvelope = "gaussian"\n')
        load_spec(path)
