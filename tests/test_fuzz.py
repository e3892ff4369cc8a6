"""Property-based fuzzing (hypothesis) of spec files and CLI option values.

Generated spec files (random fields, types, values, nested tables, expression strings) go
through ``nsvd problems show``; generated option values through ``nsvd solve --iters 2``
(tiny models) and ``nsvd compare``.  Property: never a traceback; exit 0, or exit 2 with one
``error:`` line naming the field or option.  The default suite runs a few hundred cases;
``-m slow`` runs thousands.
"""

import copy

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from nsvd_cli.cli.main import app
from nsvd_cli.spec import load_spec_data

runner = CliRunner()
BASE = load_spec_data("harmonic2d")
BASE.pop("presets", None)

FIELDS = [
    "name", "dimension", "kinetic", "shift", "scale", "modes", "reference", "reference_grid", "potential",
    "potential.kind", "potential.omega", "potential.expression", "sampling", "sampling.kind", "sampling.std",
    "model.hidden", "model.activation", "model.fourier_features", "model.fourier_scales", "model.envelope",
    "model.envelope_width", "model.architecture", "training.iterations", "training.batch_size",
    "training.learning_rate", "training.seed", "training.fd_step", "training.dtype", "training.nesting",
    "training.joint_weights", "training.laplacian", "training.eval_every", "training.device", "evaluation",
    "evaluation.box", "evaluation.points", "evaluation.quadrature", "evaluation.samples", "unknown_field",
    "training.unknown",
]
EXPRESSIONS = st.sampled_from(["x0**2 + x1**2", "1/x0", "x0**", "exp(x0)", "sqrt(-1)", "x9", "__import__('os')",
                               "x0 @ x1", "sin(x0)*1e308*1e308", "", "x0**2 - 1", "abs(x0) + abs(x1)"])
SCALARS = st.one_of(
    st.integers(min_value=-2 ** 70, max_value=2 ** 70), st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(), st.text(max_size=12), EXPRESSIONS)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                      max_leaves=8)


def _set(data: dict, path: str, value) -> dict:
    data = copy.deepcopy(data)
    *head, last = path.split(".")
    node = data
    for key in head:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[last] = value
    return data


def _check(result, names) -> None:
    """Exit 0, or exit 2 with one ``error:`` line naming one of ``names`` (a Click usage error:
    its usage box here, one line through ``main()``, see test_cli), or exit 1 for a run that
    diverged; never a traceback."""
    out = result.output
    assert "Traceback" not in out and (result.exception is None or isinstance(result.exception, SystemExit)), \
        (out, result.exception)
    assert result.exit_code in (0, 1, 2), (result.exit_code, out)
    if result.exit_code == 1:
        assert "error: training diverged" in out, out
    if result.exit_code == 2 and "Usage:" not in out:
        errors = [ln for ln in out.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1, out
        assert any(n in errors[0] for n in names), (names, errors[0])


def _show_spec(tmp_path_factory, mutations) -> None:
    data = BASE
    for path, value in mutations:
        data = _set(data, path, value)
    try:
        text = tomli_w.dumps(data)
    except (TypeError, ValueError):  # not representable in TOML (e.g. None): write the base instead
        return
    path = tmp_path_factory.mktemp("spec") / "s.toml"
    path.write_text(text)
    names = {p.split(".")[0] for p, _ in mutations} | {p for p, _ in mutations} | {"s.toml"}
    _check(runner.invoke(app, ["problems", "show", str(path)]), names)


MUTATIONS = st.lists(st.tuples(st.sampled_from(FIELDS), VALUES), min_size=1, max_size=3)
QUICK = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
LONG = settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))


@QUICK
@given(MUTATIONS)
def test_generated_spec_files_never_traceback(tmp_path_factory, mutations):
    _show_spec(tmp_path_factory, mutations)


@pytest.mark.slow
@LONG
@given(MUTATIONS)
def test_generated_spec_files_never_traceback_long(tmp_path_factory, mutations):
    _show_spec(tmp_path_factory, mutations)


INTS = st.one_of(st.integers(-3, 6), st.integers(-2 ** 70, 2 ** 70))
SOLVE_OPTIONS = st.fixed_dictionaries({}, optional={
    "--modes": INTS, "--batch-size": st.one_of(st.integers(-2, 64), st.integers(2 ** 40, 2 ** 70)),
    "--lr": st.floats(allow_nan=True, allow_infinity=True), "--seed": INTS,
    "--dim": st.one_of(st.integers(-1, 2), st.integers(2 ** 40, 2 ** 70)),
    "--nesting": st.sampled_from(["joint", "sequential", "bogus"]),
    "--device": st.sampled_from(["cpu", "gpu", "cuda:x", ""]),
})


def _solve(tmp_path_factory, options) -> None:
    out = tmp_path_factory.mktemp("run") / "r.h5"
    args = ["solve", "harmonic", "--iters", "2", "-q", "-o", str(out)]
    if "--modes" not in options:
        args += ["--modes", "2"]
    if "--dim" not in options:
        args += ["--dim", "1"]
    for k, v in options.items():
        args += [k, str(v)]
    names = set(options) | {"training.", "modes", "dimension", "--dim", "--modes"}
    _check(runner.invoke(app, args), names)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(SOLVE_OPTIONS)
def test_generated_solve_options_never_traceback(tmp_path_factory, options):
    _solve(tmp_path_factory, options)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(SOLVE_OPTIONS)
def test_generated_solve_options_never_traceback_long(tmp_path_factory, options):
    _solve(tmp_path_factory, options)


COMPARE_OPTIONS = st.fixed_dictionaries({}, optional={
    "--grid": st.one_of(st.sampled_from(["40", "0", "-5", "40,x", "", "1e9", "18446744073709551616"]),
                        st.text(max_size=6)),
    "--order": st.sampled_from(["2", "4", "3"]), "--tol": st.floats(allow_nan=True, allow_infinity=True),
    "--max-memory": st.sampled_from(["1G", "-1", "abc", "10K"]), "--seed": INTS,
    "--box": st.sampled_from(["-5,5", "5,-5", "x", ""]),
})


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(COMPARE_OPTIONS)
def test_generated_compare_options_never_traceback(options):
    args = ["compare", "poschl_teller1d", "-b", "dense"] + ([] if "--grid" in options else ["--grid", "40"])
    for k, v in options.items():
        args += [k, str(v)]
    result = runner.invoke(app, args)
    out = result.output
    assert "Traceback" not in out and result.exit_code in (0, 2), (result.exit_code, out, options)
    if result.exit_code == 2 and "Usage:" not in out:
        assert len([ln for ln in out.splitlines() if ln.startswith("error:")]) == 1, out
