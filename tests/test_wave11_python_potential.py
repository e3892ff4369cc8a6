"""Wave 11: a ``python`` potential (``function = "module:fn"``) that misbehaves is refused with
one line naming ``potential.function`` (exit 2), not a traceback or an error blaming something
else: a function that raises on part of the region, one with the right shape for one batch size
only, one that modifies its input in place, one NaN on a region, malformed targets, and one NaN
where training samples rarely fall (a divergence that names V at once, without rollbacks)."""

import sys
import textwrap
import warnings

import pytest
import torch
from typer.testing import CliRunner

from nsvd_cli.cli.main import app
from nsvd_cli.errors import DivergenceError, SpecError
from nsvd_cli.potentials import make_potential
from nsvd_cli.problem import Problem
from nsvd_cli.spec import load_spec, parse_spec

runner = CliRunner()


@pytest.fixture
def module(tmp_path, monkeypatch):
    """Write ``source`` as ``<name>.py`` into tmp_path, importable (what PYTHONPATH=. does)."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(name, source):
        sys.modules.pop(name, None)
        (tmp_path / f"{name}.py").write_text("import torch\n\n" + textwrap.dedent(source))
        monkeypatch.delitem(sys.modules, name, raising=False)
        return name

    return write


def _spec(tmp_path, function, std=1.0, box=6.0, points=8, panels=2):
    path = tmp_path / "pyfn.toml"
    path.write_text(textwrap.dedent(f"""\
        name = "pyfn"
        dimension = 1
        shift = 10.0
        modes = 2
        [potential]
        kind = "python"
        function = "{function}"
        [sampling]
        kind = "gaussian"
        std = {std}
        [evaluation]
        box = [[-{box}, {box}]]
        points = {points}
        panels = {panels}
        """))
    return path


def _solve(tmp_path, path):
    res = runner.invoke(app, ["solve", str(path), "--iters", "2", "-q", "--threads", "1",
                              "-o", str(tmp_path / "o.h5")])
    return res.exit_code, " ".join(res.output.split())


def _point(msg: str) -> float:
    return float(msg.split("x = [")[1].split("]")[0])


def test_a_function_that_raises_is_named_with_a_point(tmp_path, module):
    name = module("w11_table", """\
        def v(x):
            if bool((x.abs() > 3).any()):
                raise ValueError("x out of my table range")
            return (x * x).sum(-1)
        """)
    # N(0, 2²) reaches |x| > 3 with probability 13 %: the defaults' and the check's 4096 samples do
    path = _spec(tmp_path, f"{name}:v", std=2.0, box=3.0)
    code, line = _solve(tmp_path, path)
    assert code == 2, line
    assert line.startswith(f"error: {path}: potential.function: {name}:v raised ValueError: x out of my table "
                           "range at x = ["), line
    assert abs(_point(line)) > 3 and "Traceback" not in line
    with pytest.raises(SpecError) as info:  # the library raises the same SpecError (not the raw ValueError)
        Problem(load_spec(path)).check()
    assert info.value.field == "potential.function" and abs(_point(info.value.message)) > 3


def test_the_probe_tries_several_batch_sizes(tmp_path, module):
    name = module("w11_fixed", """\
        def two(x):
            return torch.tensor([1.0, 2.0], dtype=x.dtype)

        def eight(x):
            return x[:8, 0] ** 2
        """)
    spec = load_spec(_spec(tmp_path, f"{name}:two"))
    with pytest.raises(SpecError) as info:  # right for B = 2 only: B = 1 gives (2,)
        make_potential(spec.potential, 1)
    assert info.value.field == "potential.function"
    assert info.value.message == f"{name}:two must map a (B, 1) tensor to shape (B,), got (2,) for B = 1"
    code, line = _solve(tmp_path, _spec(tmp_path, f"{name}:two"))
    assert code == 2 and "potential.function" in line and "grid reference" not in line, line
    # right for B <= 8 (the probe's batches pass): the check's 16 evaluation nodes give (8,)
    with pytest.raises(SpecError) as info:
        Problem(load_spec(_spec(tmp_path, f"{name}:eight"))).check()
    assert info.value.field == "potential.function"
    assert info.value.message == f"{name}:eight must map a (B, 1) tensor to shape (B,), got (8,) for B = 16"


def test_a_function_that_modifies_its_input_is_refused(tmp_path, module):
    name = module("w11_inplace", """\
        def v(x):
            x.mul_(2)
            return (x * x).sum(-1)

        def fine(x):
            y = x.clone()
            y.mul_(2)
            return (y * y).sum(-1)
        """)
    path = _spec(tmp_path, f"{name}:v")
    code, line = _solve(tmp_path, path)
    assert code == 2, line
    assert line.startswith(f"error: {path}: potential.function: {name}:v modified its input x in place"), line
    assert "V must not modify x" in line
    fine = make_potential(load_spec(_spec(tmp_path, f"{name}:fine")).potential, 1)
    x = torch.tensor([[0.5], [-1.0]], dtype=torch.float64)
    assert torch.equal(fine(x), torch.tensor([1.0, 4.0], dtype=torch.float64))  # (2x)² by hand
    assert getattr(fine, "target") == f"{name}:fine"


def test_nan_on_a_region_names_the_function(tmp_path, module):
    name = module("w11_half", """\
        def v(x):
            return torch.where(x[:, 0] > 0, x[:, 0] ** 2, torch.nan)

        def inner(x):
            return torch.where(x[:, 0].abs() <= 2, x[:, 0] ** 2, torch.nan)
        """)
    with pytest.raises(SpecError) as info:
        Problem(load_spec(_spec(tmp_path, f"{name}:v"))).check()
    msg = info.value.message
    # 2 panels × 8 Gauss–Legendre nodes on [-6, 6], symmetric, none at 0: the 8 negative ones are NaN
    assert info.value.field == "potential.function" and "at 8 of 16 evaluation nodes" in msg, msg
    assert f"the function {name}:v returns NaN there" in msg and f"fix {name}:v" in msg
    assert "expression" not in msg and "formula" not in msg and _point(msg) < 0
    # defined on all of the box [-2, 2], NaN for |x| > 2 where N(0, 1) training samples fall (4.6 %)
    with pytest.raises(SpecError) as info:
        Problem(load_spec(_spec(tmp_path, f"{name}:inner", box=2.0))).check()
    msg = info.value.message
    assert info.value.field == "potential.function" and f"the function {name}:inner is undefined there" in msg
    assert "expression" not in msg and abs(_point(msg)) > 2


@pytest.mark.parametrize("target, needle", [
    ("pk.sub:", "missing function name after ':'"),
    (":v", "missing module name before ':'"),
    ("./mypots.py:aniso", "give the module name, not a file path, without .py: mypots:aniso"),
    ("pots/mypots.py:aniso", "give the module name, not a file path, without .py: mypots:aniso"),
])
def test_malformed_targets_say_what_is_wrong(target, needle):
    base = {"name": "t", "dimension": 1, "shift": 10.0, "sampling": {"kind": "gaussian"}}
    for potential in (target, {"kind": "python", "function": target}):  # the string form and the table
        with pytest.raises(SpecError) as info:
            parse_spec({**base, "potential": potential})
        assert info.value.field == "potential.function", info.value
        assert needle in info.value.message and "syntax error" not in info.value.message


def test_a_py_suffix_on_the_path_is_named(tmp_path, module):
    module("mypots", "def aniso(x):\n    return (x * x).sum(-1)\n")  # importable as mypots, not mypots.py
    spec = load_spec(_spec(tmp_path, "mypots.py:aniso"))
    with pytest.raises(SpecError) as info:
        make_potential(spec.potential, 1)
    assert info.value.field == "potential.function"
    assert info.value.message == "cannot import 'mypots.py': give the module name without .py: mypots:aniso"


def test_rare_nan_during_training_names_v_at_once(tmp_path, module):
    from nsvd_cli.models import build_model
    from nsvd_cli.train import fit

    name = module("w11_rare", """\
        def v(x):
            return torch.where(x[:, 0] > 4, torch.nan, x[:, 0] ** 2)
        """)
    # fit() does not run Problem.check (which would refuse this spec: N(0, 2²) puts 2.3 % beyond 4)
    spec = load_spec(_spec(tmp_path, f"{name}:v", std=2.0))
    problem = Problem(spec)
    gen = torch.Generator().manual_seed(0)
    model = build_model(1, 2, spec.model, gen, problem.sampling.log_density)
    tr = spec.training.model_copy(update={"iterations": 20})
    with warnings.catch_warnings(record=True) as caught, pytest.raises(DivergenceError) as info:
        warnings.simplefilter("always")
        fit(model, problem.operator, problem.sampling, tr, generator=gen)
    assert not [w for w in caught if "rolled back" in str(w.message)]  # no learning-rate halving for V
    msg = str(info.value)
    assert msg.startswith(f"training diverged (non-finite loss) at iteration 1: the potential V "
                          f"(potential.function = {name}:v) is not finite at "), msg
    assert _point(msg) > 4 and "(V = nan)" in msg and info.value.iteration == 1
