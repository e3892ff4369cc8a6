"""Problem: conventions, thresholds, walls, the reference (once), warnings; evaluation of
exact eigenfunctions; plotting never solves; the CLI starts without torch."""

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from nsvd_cli.evaluate import evaluate_functions
from nsvd_cli.problem import Conventions, Problem
from nsvd_cli.spec import load_spec


def test_conventions_by_hand():
    c = Conventions(kinetic=1.0, shift=16.0, scale=0.5)
    # lambda = s (c - E): E = 2 -> 0.5 * 14 = 7; E = 20 -> -2
    assert np.allclose(c.eigenvalues_from_energies([2.0, 20.0]), [7.0, -2.0])
    assert np.allclose(c.energies_from_eigenvalues([7.0, -2.0]), [2.0, 20.0])


def test_problem_parts_and_conventions():
    p = Problem.from_spec(load_spec("harmonic2d"))
    assert (p.dimension, p.kinetic, p.shift) == (2, 1.0, 16.0)
    assert p.walls is None and p.continuum_threshold is None
    assert p.reference_kind == "analytic"
    assert p.reference is p.reference  # computed once
    assert np.allclose(p.reference.energies[:3], [2.0, 4.0, 4.0])
    assert np.allclose(p.eigenvalues_from_energies(p.reference.energies[:3]), [14.0, 12.0, 12.0])
    assert p.potential_values.shape == (len(p.quadrature.weights),)
    box = Problem.from_spec(load_spec("box2d"))
    assert box.walls == box.spec.potential.box
    assert Problem.from_spec(load_spec("morse1d")).continuum_threshold == load_spec("morse1d").potential.depth
    assert Problem.from_spec(load_spec("poschl_teller1d")).continuum_threshold == 0.0


def test_warnings_name_the_caveats():
    cut = Problem.from_spec(load_spec("harmonic2d", overrides={"modes": 2}))
    assert any("cuts the last degenerate multiplet" in w for w in cut.warnings())
    few = Problem.from_spec(load_spec("harmonic2d", overrides={"shift": 3.0, "modes": 3}))
    assert any("only 1 positive eigenvalues" in w for w in few.warnings())
    assert Problem.from_spec(load_spec("harmonic2d", overrides={"modes": 3})).warnings() == []


@pytest.mark.parametrize("name", ["harmonic2d", "hydrogen2d"])
def test_exact_eigenfunctions_evaluate_to_zero_error(name):
    """sqrt(lambda) * exact eigenfunctions (what NestedLoRA learns) give zero errors and angles."""
    p = Problem.from_spec(load_spec(name, overrides={"modes": 6}))
    ref, x = p.reference, p.quadrature.points
    lam = p.eigenvalues_from_energies(ref.energies)
    assert (lam > 0).all()
    values = ref.eigenfunctions(x) * np.sqrt(lam)
    grads = ref.gradients(x) * np.sqrt(lam)[None, :, None]
    ev = evaluate_functions(values, grads, p.potential_values, p.quadrature.weights, p, reference=ref,
                            reference_values=ref.eigenfunctions(x))
    assert np.allclose(ev.eigenvalues, lam, rtol=1e-6)
    assert np.allclose(ev.norm_eigenvalues, lam, rtol=1e-6)
    assert np.nanmax(ev.relative_errors) < 1e-6
    assert np.nanmax(ev.angle_distances) < 1e-4  # arccos near 1 turns 1e-10 into ~1e-5
    assert np.nanmax(ev.subspace_distances) < 1e-8
    assert ev.orthogonality < 1e-10


def test_plot_never_solves_a_grid_reference(monkeypatch):
    """A grid-reference problem's figure shows the learned functions only, and solves nothing."""
    import nsvd_cli.baselines.grid as grid
    import nsvd_cli.baselines.reference as gridref
    from nsvd_cli.plotting.eigenfunctions import _no_reference_text, reference_of

    def boom(*a, **k):
        raise AssertionError("plot ran a grid solver")

    monkeypatch.setattr(grid, "solve_grid", boom)
    monkeypatch.setattr(gridref, "grid_reference", boom)
    spec = load_spec("quartic1d")
    results = SimpleNamespace(spec=spec, reference_energies=np.ones(spec.modes), energies=np.ones(spec.modes))
    assert reference_of(results) is None
    assert "only" in _no_reference_text(results, "ψ") and "not its eigenfunctions" in _no_reference_text(results, "")
    closed = SimpleNamespace(spec=load_spec("harmonic2d"), reference_energies=np.ones(15), energies=np.ones(15))
    assert reference_of(closed).name == "harmonic (analytic)"


def test_cli_entry_point_imports_no_heavy_library():
    code = ("import sys, nsvd_cli, nsvd_cli.cli.main; "
            "print(sorted(m for m in ('torch', 'scipy', 'h5py', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_package_root_is_lazy_but_complete():
    import nsvd_cli

    assert nsvd_cli.Problem is Problem and callable(nsvd_cli.load) and callable(nsvd_cli.solve)
    with pytest.raises(AttributeError):
        nsvd_cli.no_such_name


def test_grid_reference_error_estimate_matches_the_actual_error():
    """The Richardson estimate solve prints beside a grid reference is the right size: on a
    coarse grid of the 2D oscillator the actual error (against E = 2, 4, 4, 6 exactly) lies
    within a factor 3 of the estimate; a closed form has estimate 0."""
    from nsvd_cli.problem import Problem
    from nsvd_cli.spec import load_spec

    spec = load_spec("harmonic2d", overrides={"reference": "grid", "reference_grid": 24, "modes": 4})
    problem = Problem(spec)
    actual = np.abs(problem.reference.energies - [2.0, 4.0, 4.0, 6.0])
    estimate = problem.reference_error
    assert np.all(estimate > 0)
    assert np.all((actual / estimate > 1 / 3) & (actual / estimate < 3)), (actual, estimate)
    assert not Problem(load_spec("harmonic2d")).reference_error.any()
