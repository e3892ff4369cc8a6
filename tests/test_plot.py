"""``nsvd plot`` and nsvd_cli.plotting: every figure kind from a short solve and a synthetic
compare file; files exist, have the expected pixel size and are not blank; CLI errors."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import h5py
import matplotlib.image
import numpy as np
import pytest
from typer.testing import CliRunner

from nsvd_cli.cli.main import app

runner = CliRunner()
DPI = 40
RESULTS_KINDS = ("eigenfunctions", "errors", "orthogonality", "spectrum", "training")


@pytest.fixture(scope="module")
def results_file(short_run_file):
    """A results file from a short harmonic2d solve (conftest)."""
    return short_run_file


@pytest.fixture(scope="module")
def results(results_file):
    from nsvd_cli import load

    return load(results_file)


@pytest.fixture(scope="module")
def compare_file(tmp_path_factory):
    """A small compare file following the nsvd-compare schema (format_version 1)."""
    path = tmp_path_factory.mktemp("cmp") / "cmp.h5"
    ref = np.array([2.0, 4.0, 4.0])
    with h5py.File(path, "w") as h:
        h.attrs.update(format="nsvd-compare", format_version=1, problem="harmonic2d", spec_json="{}",
                       reference_name="harmonic (analytic)")
        r = h.create_group("reference")
        r.create_dataset("energies", data=ref)
        r.create_dataset("quantum_numbers", data=np.array([[0, 0], [1, 0], [0, 1]]))
        r.attrs["quantum_labels"] = ["n_1", "n_2"]
        methods = [("eigsh", "grid", n, 0.01 * n, 4.0 / n**2, True) for n in (50, 100, 200)]
        methods += [("lobpcg", "grid", n, 0.03 * n, 4.2 / n**2, n != 100) for n in (50, 100)]
        methods += [("nsvd", "neural", 0, 30.0, 2e-4, True)]
        for k, (method, kind, n, t, err, conv) in enumerate(methods):
            g = h.create_group(f"methods/{k}")
            g.attrs.update(label=f"{method} N={n}" if n else "nsvd run", kind=kind, method=method, grid=n,
                           wall_time=t, peak_memory=-1, iterations=10, converged=conv, mean_relative_error=err)
            g.create_dataset("relative_errors", data=err * np.array([1.0, 0.5, 2.0]))
            g.create_dataset("energies", data=ref * (1 + err))
    return path


def check_image(path, fig=None, dpi=DPI):
    """The file exists, has the figure's pixel size (PNG) and is not blank."""
    assert path.exists() and path.stat().st_size > 0
    if path.suffix != ".png":
        return
    img = matplotlib.image.imread(path)
    if fig is not None:
        w, h = fig.get_size_inches() * dpi
        assert abs(img.shape[1] - w) <= 1 and abs(img.shape[0] - h) <= 1, (img.shape, w, h)
    grey = img[..., :3].mean(axis=-1)
    assert grey.var() > 2e-3, grey.var()
    assert (grey < 0.9).mean() > 0.02


@pytest.mark.parametrize("name", RESULTS_KINDS)
def test_every_results_figure(name, results, tmp_path):
    from nsvd_cli.plotting import FIGURES, save_figures

    fig = FIGURES[name](results)
    (path,) = save_figures({name: fig}, tmp_path, "h", dpi=DPI)
    assert path == tmp_path / f"h-{name}.png"
    check_image(path, fig)


@pytest.mark.parametrize("name", ["resolution", "errors"])
def test_compare_figures(name, compare_file, tmp_path):
    from nsvd_cli.plotting import FIGURES, load_compare, save_figures

    data = load_compare(compare_file)
    assert len(data.grid_methods) == 5 and len(data.neural_methods) == 1
    fig = FIGURES[name](data)
    (path,) = save_figures({name: fig}, tmp_path, "cmp", dpi=DPI)
    check_image(path, fig)


def test_several_runs_grouped_errors(results, tmp_path):
    from nsvd_cli.plotting import errors_figure, save_figures

    fig = errors_figure([results, results], labels=["a", "b"])
    assert len(fig.axes[0].patches) >= 2 * len(results.energies)  # one bar per mode and run
    check_image(save_figures({"errors": fig}, tmp_path, "ab", dpi=DPI)[0], fig)


def test_eigenfunctions_aligned_to_reference(results):
    """After Procrustes alignment the learned images match the reference ones in sign/rotation."""
    from nsvd_cli.plotting import eigenfunctions_figure

    fig = eigenfunctions_figure(results, points=41)
    images = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert len(images) == 2 * len(results.energies)
    learned, reference = images[0], images[len(results.energies)]  # row 1: learned, row 2: reference
    assert np.sum(learned * reference) > 0


def _fake_results(dimension, modes, tmp_path):
    """A stand-in for Results whose learned functions are rotated reference functions."""
    from nsvd_cli.references import reference_for
    from nsvd_cli.spec import load_spec

    base = load_spec("harmonic2d", overrides={"modes": modes})
    spec = base.model_copy(update=dict(
        dimension=dimension, potential=base.potential.model_copy(update={"omega": (1.0,) * dimension}),
        evaluation=base.evaluation.model_copy(update={"box": ((-5.0, 5.0),) * dimension})))
    ref = reference_for(spec)
    rng = np.random.default_rng(0)
    mix = np.eye(modes)
    for g in ref.groups:
        q, _ = np.linalg.qr(rng.standard_normal((len(g), len(g))))
        mix[np.ix_(g, g)] = q
    e = np.asarray(ref.energies)
    return SimpleNamespace(
        spec=spec, energies=e * 1.01, reference_energies=e, norm_eigenvalues=spec.scale * (spec.shift - e),
        metrics={"positive": np.ones(modes, bool)}, quantum_numbers=np.array(ref.quantum_numbers),
        quantum_labels=ref.quantum_labels, path=tmp_path / "fake.h5",
        eigenfunctions=lambda x: ref.eigenfunctions(x) @ mix)


def test_eigenfunctions_1d_lines_and_3d_slice(tmp_path):
    from nsvd_cli.plotting import eigenfunctions_figure, save_figures

    fig1 = eigenfunctions_figure(_fake_results(1, 3, tmp_path))
    assert sum(len(ax.lines) >= 2 for ax in fig1.axes) == 3
    check_image(save_figures({"eigenfunctions": fig1}, tmp_path, "d1", dpi=DPI)[0], fig1)
    fake3 = _fake_results(3, 4, tmp_path)
    fig3 = eigenfunctions_figure(fake3, slice_axes=(0, 2), points=41)
    assert any("x_{3}" in ax.get_xlabel() or "x_{3}" in ax.get_ylabel() for ax in fig3.axes)
    # aligned: learned images equal the reference ones
    images = [ax.images[0].get_array() for ax in fig3.axes if ax.images]
    np.testing.assert_allclose(images[0], images[4], atol=1e-8)  # mode 1, learned vs reference
    with pytest.raises(ValueError, match="slice axes"):
        eigenfunctions_figure(fake3, slice_axes=(0, 3))


def test_plot_window_auto_and_explicit(results):
    from nsvd_cli.plotting.eigenfunctions import plot_window, reference_of

    ref = reference_of(results)
    window = plot_window(results.spec, ref.eigenfunctions, (0, 1))
    assert all(-5 <= lo < -2 and 2 < hi <= 5 for lo, hi in window), window
    assert plot_window(results.spec, None, (0, 1), extent=2.5) == [(-2.5, 2.5), (-2.5, 2.5)]


def _one_error_line(res, needle):
    assert res.exit_code == 2, res.output
    err = res.stderr if hasattr(res, "stderr") else res.output
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and needle in lines[0], err


def test_cli_default_set_next_to_file(results_file, tmp_path):
    src = tmp_path / "run.h5"
    shutil.copy(results_file, src)
    res = runner.invoke(app, ["plot", str(src), "--dpi", str(DPI)])
    assert res.exit_code == 0, res.output
    written = [tmp_path / f"run-{k}.png" for k in RESULTS_KINDS]
    assert res.stdout.split() == [str(p) for p in written]
    for p in written:
        check_image(p)


def test_cli_several_runs_errors_and_format(results_file, tmp_path):
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    shutil.copy(results_file, a)
    shutil.copy(results_file, b)
    out = tmp_path / "figs"
    res = runner.invoke(app, ["plot", str(a), str(b), "--what", "errors", "-o", str(out), "--format", "pdf"])
    assert res.exit_code == 0, res.output
    assert res.stdout.split() == [str(out / "a_vs_b-errors.pdf")]
    assert (out / "a_vs_b-errors.pdf").read_bytes()[:4] == b"%PDF"


def test_cli_compare_file(compare_file, tmp_path):
    res = runner.invoke(app, ["plot", str(compare_file), "-o", str(tmp_path), "--dpi", str(DPI)])
    assert res.exit_code == 0, res.output
    assert res.stdout.split() == [str(tmp_path / "cmp-errors.png"), str(tmp_path / "cmp-resolution.png")]


@pytest.mark.parametrize("kind", ["missing", "text", "hdf5"])
def test_cli_not_an_nsvd_file(kind, tmp_path):
    path = tmp_path / "x.h5"
    if kind == "text":
        path.write_text("hello\n")
    elif kind == "hdf5":
        with h5py.File(path, "w") as h:
            h.create_dataset("a", data=[1.0])
    res = runner.invoke(app, ["plot", str(path)])
    _one_error_line(res, "no such file" if kind == "missing" else "not an")


def test_cli_figure_that_does_not_apply(results_file, tmp_path):
    res = runner.invoke(app, ["plot", str(results_file), "--what", "resolution", "-o", str(tmp_path)])
    _one_error_line(res, "compare file")
    res = runner.invoke(app, ["plot", str(results_file), "--what", "eigenfunctions", "--slice", "0"])
    _one_error_line(res, "--slice")
