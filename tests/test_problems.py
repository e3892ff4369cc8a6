"""Problem library: potentials, expressions, closed-form and grid references, validation,
``--dim``, ``nsvd problems``, and a user spec file through ``nsvd solve``."""

import math
import tomllib

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from nsvd_cli.cli.main import app
from nsvd_cli.errors import SpecError
from nsvd_cli.expressions import check_expression, compile_expression
from nsvd_cli.potentials import make_potential
from nsvd_cli.quadrature import gauss_legendre_box, spherical_quadrature
from nsvd_cli.baselines.reference import GridReference, grid_reference, reference_for
from nsvd_cli.references import (
    analytic_reference, box_reference, harmonic_reference, hydrogen3d_reference,
    morse_reference, poschl_teller_reference, reference_kind,
)
from nsvd_cli.spec import builtin_problems, load_spec, parse_spec, resize_dimension, spec_to_dict, spec_to_toml

from reference_levels import LEVELS_FILE  # noqa: E402  (tests/reference_levels.py)
runner = CliRunner()


@pytest.fixture(scope="module")
def levels():
    if not LEVELS_FILE.exists():
        pytest.skip(f"shared reference levels not found at {LEVELS_FILE}")
    with LEVELS_FILE.open("rb") as fh:
        return tomllib.load(fh)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NSVD_CACHE_DIR", str(tmp_path / "cache"))


def _spec(**over):
    d = {"name": "t", "dimension": 1, "modes": 3, "shift": 20.0,
         "potential": {"kind": "quartic"}, "sampling": {"kind": "gaussian", "std": 1.0},
         "evaluation": {"box": [[-5, 5]]}}
    for k, v in over.items():
        d[k] = v
    return d


# --------------------------------------------------------------------------------------
# closed forms against the shared reference levels
# --------------------------------------------------------------------------------------

def _expand(levels, mult):
    return np.repeat(levels, mult)


def test_harmonic_levels_2d_3d_anisotropic(levels):
    h = levels["harmonic_isotropic"]
    for d, key in ((2, "2d"), (3, "3d")):
        want = _expand(h[f"levels_{key}"], h[f"mult_{key}"])
        ref = harmonic_reference([1.0] * d, len(want))
        assert np.allclose(ref.energies, want) and ref.complete_last_group
        assert [len(g) for g in ref.groups] == h[f"mult_{key}"]
    ex = levels["harmonic_anisotropic"]["example"]
    assert np.allclose(harmonic_reference(ex["w"], len(ex["levels"])).energies, ex["levels"])


def test_hydrogen3d_levels_and_degeneracy(levels):
    h = levels["hydrogen_3d"]
    want = _expand(h["levels"], h["mult"])
    ref = hydrogen3d_reference(len(want))
    assert np.allclose(ref.energies, want)
    assert [len(g) for g in ref.groups] == h["mult"] and ref.complete_last_group
    assert not hydrogen3d_reference(3).complete_last_group


def test_morse_and_poschl_teller_levels(levels):
    m = levels["morse_1d"]
    assert np.allclose(morse_reference(len(m["levels"]), depth=16.0, a=1.0).energies, m["levels"])
    p = levels["poschl_teller_1d"]
    assert np.allclose(poschl_teller_reference(len(p["levels"]), lam=3.0).energies, p["levels"])


def test_box_levels_match_formula(levels):
    assert "pi^2" in levels["box"]["formula"]
    ref = box_reference([(0.0, 1.0), (0.0, 2.0)], 4)
    # E = pi^2 (n1^2 + (n2/2)^2): (1,1) 1.25, (1,2) 2, (1,3) 3.25, (2,1) 4.25
    assert np.allclose(ref.energies / math.pi**2, [1.25, 2.0, 3.25, 4.25])
    assert ref.quantum_numbers == ((1, 1), (1, 2), (1, 3), (2, 1))


def _check_orthonormal_and_energies(ref, q, potential, kappa=1.0, atol=1e-6):
    psi, grad = ref.eigenfunctions(q.points), ref.gradients(q.points)
    gram = (psi * q.weights[:, None]).T @ psi
    assert np.allclose(gram, np.eye(ref.n_modes), atol=atol), np.abs(gram - np.eye(ref.n_modes)).max()
    v = potential(torch.as_tensor(q.points)).numpy()
    e = kappa * np.einsum("n,nld->l", q.weights, grad**2) + np.einsum("n,n,nl->l", q.weights, v, psi**2)
    assert np.allclose(e, ref.energies, rtol=1e-5, atol=1e-7), (e, ref.energies)


def _fd_gradient_check(ref, x, h=1e-5):
    g = ref.gradients(x)
    for d in range(x.shape[1]):
        e = np.zeros(x.shape[1])
        e[d] = h
        fd = (ref.eigenfunctions(x + e) - ref.eigenfunctions(x - e)) / (2 * h)
        assert np.allclose(g[..., d], fd, atol=1e-6), np.abs(g[..., d] - fd).max()


def test_hydrogen3d_eigenfunctions_orthonormal_with_right_energies():
    from nsvd_cli.potentials import coulomb

    ref = hydrogen3d_reference(14, charge=1.0, kappa=1.0)
    q = spherical_quadrature(120.0, 24, 10, 16)
    _check_orthonormal_and_energies(ref, q, coulomb(1.0))
    _fd_gradient_check(ref, np.random.default_rng(0).normal(size=(20, 3)) * 3)
    ref2 = hydrogen3d_reference(5, charge=2.0, kappa=0.5)  # atomic units, Z = 2: E_1 = -2
    assert ref2.energies[0] == pytest.approx(-2.0)
    _check_orthonormal_and_energies(ref2, spherical_quadrature(40.0, 24, 10, 8), coulomb(2.0), kappa=0.5)


@pytest.mark.parametrize("kappa", [1.0, 0.7])
def test_morse_and_poschl_teller_eigenfunctions(kappa):
    from nsvd_cli.potentials import morse, poschl_teller

    ref = morse_reference(4, depth=16.0, a=1.0, center=0.5, kappa=kappa)
    q = gauss_legendre_box([(-4.0, 60.0)], 32, 32)
    _check_orthonormal_and_energies(ref, q, morse(16.0, 1.0, 0.5), kappa)
    _fd_gradient_check(ref, np.linspace(-1, 6, 9)[:, None])
    ref = poschl_teller_reference(3, lam=3.0, kappa=kappa)
    q = gauss_legendre_box([(-40.0, 40.0)], 32, 16)
    _check_orthonormal_and_energies(ref, q, poschl_teller(3.0), kappa)
    _fd_gradient_check(ref, np.linspace(-4, 4, 9)[:, None])


def test_box_eigenfunctions_and_gradients():
    from nsvd_cli.potentials import box

    ref = box_reference([(-1.0, 1.0), (0.0, 3.0)], 5, kappa=0.5)
    q = gauss_legendre_box([(-1.0, 1.0), (0.0, 3.0)], 24, 2)
    _check_orthonormal_and_energies(ref, q, box(ref.box), kappa=0.5)
    _fd_gradient_check(ref, np.array([[0.1, 0.7], [-0.5, 2.2], [0.9, 1.5]]))
    assert np.all(ref.eigenfunctions(np.array([[1.5, 1.0], [0.0, -0.1]])) == 0)


def test_bound_state_padding_and_warning():
    ref = morse_reference(6, depth=16.0)
    assert np.allclose(ref.energies[4:], 16.0) and ref.quantum_numbers[4:] == ((-1,), (-1,))
    assert ref.notes and "only 4 bound states; modes 5..6 are continuum placeholders" in ref.notes[0]
    # depth 16, a = 1: 4 bound states (lam = 4), so a fifth mode is the one placeholder
    assert "only 4 bound states; mode 5 is a continuum placeholder" in morse_reference(5, depth=16.0).notes[0]
    assert np.all(ref.eigenfunctions(np.zeros((2, 1)))[:, 4:] == 0)
    from nsvd_cli.problem import Problem

    spec = load_spec("morse1d", overrides={"modes": 6})
    msgs = " ".join(Problem.from_spec(spec).warnings())
    assert "bound state" in msgs and "positive eigenvalues" in msgs


# --------------------------------------------------------------------------------------
# grid references agree with the closed forms
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, n, rtol", [("morse1d", 600, 1e-5), ("poschl_teller1d", 600, 1e-4),
                                           ("box2d", 40, 2e-3), ("harmonic2d", 48, 2e-3)])
def test_builtin_grid_reference_matches_closed_form(name, n, rtol):
    spec = load_spec(name, overrides={"modes": min(load_spec(name).modes, 6)})
    closed = analytic_reference(spec)
    grid = grid_reference(spec, n)
    assert isinstance(grid, GridReference) and grid.kind == "grid" and "grid reference (eigsh, N=" in grid.name
    assert np.allclose(grid.energies, closed.energies, rtol=rtol), (grid.energies, closed.energies)


def test_grid_reference_3d_hydrogen_family_and_quartic_levels(levels):
    spec = load_spec("harmonic", overrides={"modes": 4})
    assert np.allclose(grid_reference(spec, 20).energies, analytic_reference(spec).energies, rtol=2e-2)
    q = levels["quartic_1d"]["levels"]
    spec = load_spec("quartic1d")
    assert reference_kind(spec) == "grid"
    ref = reference_for(spec)
    assert np.allclose(ref.energies, q, rtol=1e-7)


def test_grid_reference_interpolation_cache_and_groups(tmp_path):
    spec = load_spec("box2d", overrides={"modes": 3})
    ref = grid_reference(spec, 40)
    cached = list((tmp_path / "cache").glob("grid-*.npz"))
    assert len(cached) == 1
    again = grid_reference(spec, 40)  # from the cache
    assert np.array_equal(again.energies, ref.energies)
    # interpolated eigenfunctions ~ the closed form, up to sign / rotation in the (1,2),(2,1) pair
    closed = analytic_reference(spec)
    x = np.random.default_rng(1).uniform(-0.9, 0.9, size=(200, 2))
    a, b = ref.eigenfunctions(x), closed.eigenfunctions(x)
    assert abs(abs(np.corrcoef(a[:, 0], b[:, 0])[0, 1]) - 1) < 1e-3
    assert ref.gradients(x).shape == (200, 3, 2)
    assert [len(g) for g in ref.groups] == [1, 2] and ref.complete_last_group
    cut = grid_reference(load_spec("box2d", overrides={"modes": 2}), 40)
    assert not cut.complete_last_group


def test_no_reference_above_3d_without_closed_form():
    spec = load_spec("quartic1d", dimension=4)
    assert reference_kind(spec) == "separable grid"  # separable: sums of 1D grid solutions
    assert spec.evaluation.quadrature == "monte-carlo"
    spec = load_spec("quartic1d", dimension=4, overrides={"potential": "x0**4 + x1**4 + x2**4 + x3**4"})
    assert reference_kind(spec) == "none" and reference_for(spec) is None
    assert reference_kind(load_spec("harmonic", dimension=6)) == "analytic"


# --------------------------------------------------------------------------------------
# potentials and expressions
# --------------------------------------------------------------------------------------

X = torch.tensor([[0.3, -1.2], [1.5, 0.4], [-0.7, 2.0]], dtype=torch.float64)


@pytest.mark.parametrize("expr, fn", [
    ("x0**2 + 0.5*x0**4", lambda x: x[:, 0] ** 2 + 0.5 * x[:, 0] ** 4),
    ("-1/sqrt(r**2 + 0.1)", lambda x: -1 / torch.sqrt((x * x).sum(1) + 0.1)),
    ("exp(-x1) * cos(pi*x0) + abs(x1)", lambda x: torch.exp(-x[:, 1]) * torch.cos(math.pi * x[:, 0]) + x[:, 1].abs()),
    ("-12*sech(x0)**2 + tanh(x1) - log(cosh(x0))", lambda x: -12 / torch.cosh(x[:, 0]) ** 2 + torch.tanh(x[:, 1])
     - torch.log(torch.cosh(x[:, 0]))),
    ("pow(x0, 2) - -x1 + +2 / (1 + sin(x1)**2)", lambda x: x[:, 0] ** 2 + x[:, 1] + 2 / (1 + torch.sin(x[:, 1]) ** 2)),
    ("3", lambda x: torch.full((3,), 3.0, dtype=torch.float64)),
    ("sinh(x0) * tan(0.1*x1) + r", lambda x: torch.sinh(x[:, 0]) * torch.tan(0.1 * x[:, 1]) + x.norm(dim=1)),
])
def test_expressions_match_hand_written_torch(expr, fn):
    f = compile_expression(expr, 2)
    assert torch.allclose(f(X), fn(X))
    out32 = f(X.float())
    assert out32.dtype == torch.float32 and out32.shape == (3,)


def test_expression_big_power_does_not_hang_and_1d_alias():
    f = compile_expression("10**10**10", 1)
    assert torch.isinf(f(torch.zeros(2, 1))).all()
    assert torch.allclose(compile_expression("x**2", 1)(X[:, :1]), X[:, 0] ** 2)


@pytest.mark.parametrize("bad, needle", [
    ("__import__('os').system('echo hi')", "attribute"),
    ("x0.__class__", "attribute"),
    ("[x for x in ()]", "comprehension"),
    ("lambda: 1", "lambda"),
    ("open('f')", "open"),
    ("x0[0]", "subscript"),
    ("__import__('os')", "__import__"),
    ("exp(x=1)", "keyword"),
    ("'abc'", "constant"),
    ("x0 if x0 else 1", "conditional"),
    ("x0 < 1", "comparison"),
    ("x5 + 1", "x5"),
    ("y**2", "'y'"),
    ("exp(x0, x1)", "argument"),
    ("x0 +", "syntax"),
    ("x0 // 2", "operator"),
    ("exp", "without a call"),
    ("(lambda: 1)()", "lambda"),
    ("", "empty"),
])
def test_expression_refusals_are_one_line_spec_errors(bad, needle):
    with pytest.raises(SpecError) as info:
        check_expression(bad, 2)
    assert info.value.field == "potential" and needle in str(info.value) and "\n" not in str(info.value)


def test_expression_refusal_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError):
        compile_expression("__import__('pathlib').Path('pwned').touch()", 1)
    assert not (tmp_path / "pwned").exists()


def test_builtin_potentials_formulas():
    x = torch.linspace(-2, 2, 7, dtype=torch.float64)[:, None]
    pot = lambda **kw: make_potential(parse_spec(_spec(potential=kw)).potential, 1)(x)  # noqa: E731
    assert torch.allclose(pot(kind="morse", depth=16.0, a=1.0, center=0.5), 16 * (1 - torch.exp(-(x[:, 0] - 0.5))) ** 2)
    assert torch.allclose(pot(kind="poschl_teller", **{"lambda": 3.0}), -12 / torch.cosh(x[:, 0]) ** 2)
    assert torch.allclose(pot(kind="quartic"), x[:, 0] ** 4)
    assert torch.allclose(pot(kind="anharmonic", quartic=0.1), x[:, 0] ** 2 + 0.1 * x[:, 0] ** 4)
    assert torch.allclose(pot(kind="double_well", a=2.0, b=1.5), 2 * (x[:, 0] ** 2 - 2.25) ** 2)
    assert torch.allclose(pot(kind="coulomb", charge=2.0, softening=1.0), -2 / torch.sqrt(x[:, 0] ** 2 + 1))


def test_python_callable_potential(tmp_path, monkeypatch):
    (tmp_path / "my_pots.py").write_text("def v(x):\n    return (x * x).sum(-1) * 3\n\ndef bad(x):\n    return x\n")
    monkeypatch.chdir(tmp_path)
    path_before = list(__import__("sys").path)
    with pytest.raises(SpecError, match="PYTHONPATH") as info:  # the cwd is not searched: sys.path is never edited
        make_potential(parse_spec(_spec(potential="my_pots:v")).potential, 1)
    assert info.value.field == "potential.function" and __import__("sys").path == path_before
    monkeypatch.syspath_prepend(str(tmp_path))  # what PYTHONPATH=. does
    spec = parse_spec(_spec(potential="my_pots:v"))
    assert spec.potential.kind == "python" and spec.potential.function == "my_pots:v"
    assert torch.allclose(make_potential(spec.potential, 1)(X[:, :1]), 3 * X[:, 0] ** 2)
    for target, needle in (("no_such_mod:v", "cannot import"), ("my_pots:w", "no attribute"),
                           ("my_pots:bad", "shape")):
        with pytest.raises(SpecError, match=needle) as info:
            make_potential(parse_spec(_spec(potential=target)).potential, 1)
        assert info.value.field == "potential.function"


# --------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("over, field", [
    ({"potential": {"kind": "yukawa"}}, "potential.kind"),
    ({"potential": "x5**2"}, "potential"),
    ({"potential": "__import__('os')"}, "potential"),
    ({"potential": {"kind": "expression"}}, "potential.expression"),
    ({"potential": {"kind": "python", "function": "not a target"}}, "potential.function"),
    ({"potential": {"kind": "morse"}}, "potential.depth"),
    ({"potential": {"kind": "morse", "depth": -1.0}}, "potential.depth"),
    ({"potential": {"kind": "morse", "depth": 1.0, "omega": 2.0}}, "potential.omega"),
    ({"potential": {"kind": "poschl_teller"}}, "potential.lambda"),
    ({"potential": {"kind": "quartic", "quartic": -1.0}}, "potential.quartic"),
    ({"potential": {"kind": "quartic", "quartic": 0.0, "quadratic": 0.0}}, "potential.quadratic"),
    ({"potential": {"kind": "double_well", "b": 0.0}}, "potential.b"),
    ({"potential": {"kind": "harmonic", "bogus": 1}}, "potential.bogus"),
    ({"potential": {"kind": "box"}}, "potential.box"),
    ({"potential": {"kind": "box", "box": [[-1, 1], [-1, 1]]}}, "potential.box"),
    ({"potential": 3}, "potential"),
    ({"dimension": 0}, "dimension"),
    ({"dimension": 2.5}, "dimension"),
    ({"modes": 0}, "modes"),
    ({"kinetic": 0.0}, "kinetic"),
    ({"scale": -1.0}, "scale"),
    ({"shift": "high"}, "shift"),
    ({"reference": "exact"}, "reference"),
    ({"reference_grid": 3}, "reference_grid"),
    ({"evaluation": {"box": [[-1, 1], [0, 1]]}}, "evaluation.box"),
    ({"evaluation": {"box": [[-1, 1]], "quadrature": "spherical"}}, "evaluation.quadrature"),
    ({"evaluation": {"box": [[-1, 1]], "std": 1.0}}, "evaluation.std"),
    ({"model": {"envelope": "box"}}, "model.envelope_box"),
    ({"model": {"envelope_box": [[-1, 1]]}}, "model.envelope_box"),
])
def test_validation_errors_name_the_field(over, field):
    with pytest.raises(SpecError) as info:
        parse_spec(_spec(**over))
    assert info.value.field == field, str(info.value)
    assert "\n" not in str(info.value)


def _box_spec(**over):
    d = _spec(potential={"kind": "box", "box": [[0, 2]]}, sampling={"kind": "uniform", "box": [[0, 2]]},
              model={"envelope": "box"}, evaluation={"box": [[0, 2]]})
    d.update(over)
    return d


@pytest.mark.parametrize("over, field", [
    ({"sampling": {"kind": "gaussian"}}, "sampling"),
    ({"sampling": {"kind": "uniform", "box": [[0, 3]]}}, "sampling"),
    ({"model": {"envelope": "gaussian"}}, "model.envelope"),
    ({"model": {"envelope": "box", "envelope_box": [[0, 1]]}}, "model.envelope_box"),
    ({"evaluation": {"box": [[-1, 2]]}}, "evaluation.box"),
    ({"dimension": 2}, "potential.box"),
    ({"potential": {"kind": "morse", "depth": 1.0}, "dimension": 2, "evaluation": {"box": [[0, 1]] * 2},
      "sampling": {"kind": "gaussian"}, "model": {}}, "potential.kind"),
])
def test_box_cross_checks(over, field):
    assert parse_spec(_box_spec()).model.envelope_box == ((0.0, 2.0),)
    with pytest.raises(SpecError) as info:
        parse_spec(_box_spec(**over))
    assert info.value.field == field, str(info.value)


def test_gauss_legendre_rule_too_large_in_high_dimension():
    with pytest.raises(SpecError) as info:
        parse_spec(_spec(dimension=5, potential={"kind": "harmonic"},
                         evaluation={"box": [[-1, 1]] * 5, "quadrature": "gauss-legendre"}))
    assert info.value.field == "evaluation.points" and "monte-carlo" in str(info.value)
    # naming no rule, a D = 5 spec gets Monte Carlo (tests/test_defaults.py)
    assert parse_spec(_spec(dimension=5, potential={"kind": "harmonic"},
                            evaluation={"box": [[-1, 1]] * 5})).evaluation.quadrature == "monte-carlo"


def test_cli_spec_errors_exit_2_one_line(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('name = "bad"\ndimension = 1\npotential = "x0.__class__"\n[sampling]\nkind = "gaussian"\n'
                 '[evaluation]\nbox = [[-1, 1]]\n')
    for args in (["solve", str(p)], ["problems", "show", str(p)], ["problems", "show", "nonexistent"],
                 ["solve", "harmonic", "--dim", "0"]):
        res = runner.invoke(app, args)
        assert res.exit_code == 2, res.output
        lines = [l for l in res.output.strip().splitlines() if l.strip()]
        assert len(lines) == 1, res.output


# --------------------------------------------------------------------------------------
# --dim, builtins, TOML round trip, CLI
# --------------------------------------------------------------------------------------

def test_resize_dimension():
    spec = load_spec("harmonic", dimension=4, overrides={"modes": 5})
    assert spec.dimension == 4 and spec.potential.omega == (1.0,) * 4
    assert spec.evaluation.quadrature == "monte-carlo"
    assert spec.evaluation.std == round(math.sqrt(0.5 + 1 / 4), 4)  # the family rule (defaults.py)
    assert len(spec.evaluation.box) == 4
    ref = reference_for(spec)
    assert np.allclose(ref.energies, [4, 6, 6, 6, 6]) and ref.complete_last_group
    two = load_spec("harmonic", dimension=2)
    # wave 8: the box for 10 modes in 2D (shell N = 3): sqrt(7) + 3 = 5.65 (tests/test_wave8_a_family_rule.py)
    assert two.evaluation.box == ((-5.65, 5.65),) * 2 and two.evaluation.quadrature == "gauss-legendre"
    h3 = load_spec("hydrogen2d", dimension=3)
    assert h3.evaluation.quadrature == "spherical" and reference_for(h3).name == "hydrogen3d (analytic)"
    assert load_spec("hydrogen3d", dimension=2).evaluation.quadrature == "polar"
    with pytest.raises(SpecError) as info:
        resize_dimension({"dimension": 2, "potential": {"kind": "harmonic", "omega": [1.0, 2.0]}}, 3)
    assert info.value.field == "potential.omega"


@pytest.mark.parametrize("name", sorted(builtin_problems()))
def test_builtins_load_round_trip_through_toml(name):
    spec = load_spec(name)
    text = spec_to_toml(spec)
    assert parse_spec(tomllib.loads(text)) == spec
    assert parse_spec(spec_to_dict(spec)) == spec
    assert reference_kind(spec) in ("analytic", "grid", "separable grid")


def test_expression_spec_round_trips_and_legacy_potential_fields():
    spec = parse_spec(_spec(potential="x0**2 + 0.5*x0**4"))
    assert spec.potential.kind == "expression" and parse_spec(tomllib.loads(spec_to_toml(spec))) == spec
    legacy = _spec(potential={"kind": "quartic", "omega": [1.0], "charge": 1.0, "softening": 0.0})
    assert parse_spec(legacy).potential.kind == "quartic"  # older results files store every parameter


def test_problems_list_and_show():
    res = runner.invoke(app, ["problems", "list"])
    assert res.exit_code == 0, res.output
    for name in ("harmonic2d", "hydrogen2d", "harmonic", "hydrogen3d", "morse1d", "poschl_teller1d", "quartic1d",
                 "box2d"):
        assert name in res.output
    assert "grid" in res.output and "yes" in res.output
    res = runner.invoke(app, ["problems", "show", "hydrogen2d"])
    assert res.exit_code == 0
    assert parse_spec(tomllib.loads(res.output)) == load_spec("hydrogen2d")
    res = runner.invoke(app, ["problems", "show", "harmonic", "--dim", "5"])
    assert res.exit_code == 0 and tomllib.loads(res.output)["dimension"] == 5


def test_solve_user_spec_file_with_expression(tmp_path):
    p = tmp_path / "mine.toml"
    p.write_text('name = "my-anharmonic"\ndimension = 1\npotential = "x0**2 + 0.5*x0**4"\nkinetic = 1.0\n'
                 'shift = 20.0\nmodes = 2\n[sampling]\nkind = "gaussian"\nscale_unused = 0\n'.replace(
                     "scale_unused = 0\n", "std = 1.5\n")
                 + '[model]\nhidden = [16]\nfourier_features = 4\nenvelope = "gaussian"\n'
                   '[training]\niterations = 40\nbatch_size = 64\neval_every = 40\n'
                   '[evaluation]\nbox = [[-6.0, 6.0]]\npoints = 16\n')
    out = tmp_path / "r.h5"
    res = runner.invoke(app, ["solve", str(p), "-o", str(out), "-q"])
    assert res.exit_code == 0, res.output
    assert out.exists() and "grid reference (eigsh, N=" in res.output


def test_shift_above_continuum_threshold_warns():
    from nsvd_cli.problem import Problem

    spec = load_spec("poschl_teller1d", overrides={"shift": 0.5})
    assert any("continuum threshold" in w for w in Problem.from_spec(spec).warnings())


def test_grid_reference_failure_is_a_grid_error():
    from nsvd_cli.baselines.grid import GridError

    spec = parse_spec(_spec(potential="x0**2", evaluation={"box": [[0, 1]]}, reference_grid=8, modes=9))
    with pytest.raises(GridError, match="reference_grid"):
        grid_reference(spec)
