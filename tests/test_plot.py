"""``nsvd plot`` and nsvd_cli.plotting: every figure kind from a short solve and a synthetic
compare file, checked for its content (axes, curves and images with the data they show, axis
labels, titles, legend entries); files written with the expected pixel size; CLI errors."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import h5py
import matplotlib.image
import numpy as np
import pytest
from compare_fixture import write_compare_header
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
        write_compare_header(h, ref)
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
def test_every_results_figure_is_written(name, results, tmp_path):
    from nsvd_cli.plotting import FIGURES, save_figures

    fig = FIGURES[name](results)
    (path,) = save_figures({name: fig}, tmp_path, "h", dpi=DPI)
    assert path == tmp_path / f"h-{name}.png"
    check_image(path, fig)


# --------------------------------------------------------------------------------------
# figure content
# --------------------------------------------------------------------------------------

def main_axes(fig):
    """The plotting axes of a figure (colour bars left out)."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def colorbars(fig):
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


def legend_texts(ax_or_fig):
    legends = ax_or_fig.legends if hasattr(ax_or_fig, "legends") else [ax_or_fig.get_legend()]
    return [t.get_text() for leg in legends if leg is not None for t in leg.get_texts()]


def labelled_line(ax, label):
    (line,) = [line for line in ax.lines if line.get_label() == label]
    return line


def eigenvalue_axis_label(spec):
    return f"eigenvalue λ of T = {spec.scale:g}·(−H + {spec.shift:g})"


def test_spectrum_content(results):
    from nsvd_cli.plotting import spectrum_figure

    fig = spectrum_figure(results)
    n, ref = len(results.eigenvalues), np.asarray(results.reference_eigenvalues)
    top, bottom = main_axes(fig)  # estimates; relative deviation from the reference
    assert colorbars(fig) == []
    rq_label, norm_label = "Rayleigh quotient ⟨ψ, Tψ⟩/⟨ψ, ψ⟩", "squared norm ‖ψ‖²"
    assert legend_texts(top) == ["reference", rq_label, norm_label]
    np.testing.assert_array_equal(labelled_line(top, rq_label).get_xydata(),
                                  np.c_[np.arange(n), results.eigenvalues])
    np.testing.assert_array_equal(labelled_line(top, norm_label).get_ydata(), results.norm_eigenvalues)
    (segments,) = [c.get_segments() for c in top.collections]  # one reference bar per mode
    np.testing.assert_allclose([seg[0] for seg in segments], np.c_[np.arange(n) - 0.4, ref])
    assert top.get_ylabel() == eigenvalue_axis_label(results.spec)
    assert [a.get_ylabel() for a in top.child_axes] == ["energy E of H  (H = −κ∇² + V)"]
    dev = labelled_line(bottom, "Rayleigh quotient").get_ydata()
    want = np.abs(results.eigenvalues - ref) / ref
    np.testing.assert_allclose(dev, np.where(want > 0, want, np.nan))
    assert bottom.get_ylabel() == "|estimate − λ_ref| / λ_ref" and bottom.get_yscale() == "log"
    assert bottom.get_xlabel() == "mode  (index, (n_1, n_2))"
    assert [t.get_text() for t in bottom.get_xticklabels()] == ["1  (0, 0)", "2  (1, 0)", "3  (0, 1)"]
    assert fig._suptitle.get_text().startswith(f"{results.spec.name}: eigenvalues of T")


def test_training_content(results):
    from nsvd_cli.plotting import training_figure

    fig = training_figure(results)
    h, ev = results.history, results.history["evaluation"]
    n, keep = len(results.eigenvalues), h["iteration"] > 0
    loss_ax, eig_ax, err_ax, lr_ax = main_axes(fig)
    (cbar,) = colorbars(fig)
    assert cbar.get_ylabel() == "mode l"
    assert loss_ax.get_title() == "NestedLoRA objective" and len(loss_ax.lines) == 1
    loss = h["loss"][keep]
    np.testing.assert_array_equal(loss_ax.lines[0].get_ydata(), -loss if np.all(loss < 0) else loss)
    assert lr_ax.get_ylabel() == "learning rate"
    np.testing.assert_array_equal(lr_ax.lines[0].get_ydata(), h["learning_rate"][keep])
    # eigenvalue panel: per mode a running-mean curve, evaluation dots and a reference line
    assert eig_ax.get_title() == "eigenvalue estimates per mode" and len(eig_ax.lines) == 3 * n
    curves, dots, refs = eig_ax.lines[:n], eig_ax.lines[n:2 * n], eig_ax.lines[2 * n:]
    for k in range(n):
        np.testing.assert_array_equal(curves[k].get_xydata(), np.c_[h["iteration"][keep], h["eigenvalues"][keep, k]])
        np.testing.assert_array_equal(dots[k].get_xydata(), np.c_[ev["iteration"], ev["eigenvalues"][:, k]])
        assert dots[k].get_marker() == "o" and dots[k].get_linestyle() == "None"
        assert list(refs[k].get_ydata()) == [results.reference_eigenvalues[k]] * 2
    assert legend_texts(eig_ax) == ["batch Rayleigh quotient (running mean)", "evaluation (quadrature)", "reference"]
    assert eig_ax.get_ylabel() == eigenvalue_axis_label(results.spec)
    assert legend_texts(err_ax) == ["mean relative error", "max relative error", "mean subspace distance"]
    np.testing.assert_array_equal(err_ax.lines[0].get_ydata(), ev["mean_relative_error"])
    assert err_ax.get_xlabel() == "iteration" and all(a.get_xscale() == "log" for a in (loss_ax, eig_ax, err_ax))
    assert fig._suptitle.get_text() == f"{results.spec.name}: training history (100 iterations, {n} modes)"


def test_orthogonality_content(results):
    from nsvd_cli.plotting import orthogonality_figure

    fig = orthogonality_figure(results)
    gram = results.metrics["gram"]
    n = gram.shape[0]
    left, right = main_axes(fig)
    assert [len(ax.images) for ax in (left, right)] == [1, 1]
    np.testing.assert_array_equal(left.images[0].get_array(), gram)
    dev = np.array(right.images[0].get_array().filled(np.nan))
    assert np.isnan(np.diag(dev)).all()  # the diagonal is 1 by construction: left blank
    off = ~np.eye(n, dtype=bool)
    np.testing.assert_allclose(dev[off], np.abs(gram[off]))
    assert left.get_title() == "normalised Gram matrix C" and right.get_title() == "departure from orthogonality |C − I|"
    assert [(ax.get_xlabel(), ax.get_ylabel()) for ax in (left, right)] == [("mode l'", "mode l")] * 2
    assert len(left.texts) == n * n  # the overlaps written in the cells
    # one outline per degenerate subspace of more than one mode (harmonic2d, 3 modes: {2, 3})
    assert [len(ax.patches) for ax in (left, right)] == [1, 1]
    assert [c.get_ylabel() for c in colorbars(fig)] == ["C_ll'  (normalised overlap)", "|C − I|  (log scale)"]


def test_errors_content_one_run(results):
    from nsvd_cli.plotting import errors_figure

    fig = errors_figure(results)
    n = len(results.energies)
    rel_ax, angle_ax = main_axes(fig)
    for ax, values in ((rel_ax, results.metrics["relative_error"]), (angle_ax, results.metrics["angle_distance"])):
        (bars,) = ax.containers  # one run: one bar per mode
        assert len(bars) == n
        np.testing.assert_allclose([b.get_height() for b in bars], np.where(values > 0, values, np.nan))
    assert rel_ax.get_ylabel() == "relative error of λ\n|λ − λ_ref| / λ_ref"
    assert angle_ax.get_ylabel() == "angle distance\n(2/π)·arccos|⟨ψ, ψ_ref⟩|"
    assert angle_ax.get_xlabel() == "mode  (index, (n_1, n_2))"
    mre = results.metrics["summary"]["mean_relative_error"]
    assert legend_texts(fig) == [f"{results.path.stem} (mean {100 * mre:.3g} %)"]


def test_eigenfunctions_content(results):
    from nsvd_cli.plotting import eigenfunctions_figure

    fig = eigenfunctions_figure(results, points=21)
    n = len(results.energies)
    axes = main_axes(fig)
    assert len(axes) == 2 * n and len(colorbars(fig)) == n  # learned row, reference row; one scale per mode
    assert all(len(ax.images) == 1 and ax.images[0].get_array().shape == (21, 21) for ax in axes)
    learned, reference = axes[:n], axes[n:]
    for i, ax in enumerate(learned):
        q = "(n_1, n_2) = (" + ", ".join(str(v) for v in results.quantum_numbers[i]) + ")"
        assert ax.get_title() == f"#{i + 1}  {q}\nlearned  E = {results.energies[i]:.5g}"
    assert [ax.get_title() for ax in reference] == [f"reference  E = {e:.5g}" for e in results.reference_energies]
    assert [ax.get_xlabel() for ax in reference] == ["$x_{0}$"] * n  # the spec's coordinate names x0, x1
    assert [learned[0].get_ylabel(), reference[0].get_ylabel()] == ["$x_{1}$"] * 2


def test_resolution_content(compare_file):
    from nsvd_cli.plotting import load_compare, resolution_figure

    fig = resolution_figure(load_compare(compare_file))
    err_ax, time_ax = main_axes(fig)
    # fixture: eigsh N = 50, 100, 200; lobpcg N = 50, 100 (N = 100 not converged); one neural run
    assert legend_texts(err_ax) == ["eigsh", "lobpcg", "nsvd run", "not converged"]
    assert legend_texts(time_ax) == ["eigsh", "lobpcg", "nsvd run"]
    n = np.array([50.0, 100.0, 200.0])
    np.testing.assert_allclose(labelled_line(err_ax, "eigsh").get_xydata(), np.c_[n, 4.0 / n**2])
    np.testing.assert_allclose(labelled_line(time_ax, "eigsh").get_xydata(), np.c_[n, 0.01 * n])
    np.testing.assert_allclose(labelled_line(err_ax, "lobpcg").get_xydata(), np.c_[n[:2], 4.2 / n[:2] ** 2])
    open_markers = [line for line in err_ax.lines if line.get_label().startswith("_") and line.get_marker() == "s"]
    assert [line.get_xdata().tolist() for line in open_markers] == [[100.0]]  # the run that did not converge
    assert list(labelled_line(err_ax, "nsvd run").get_ydata()) == [2e-4, 2e-4]  # a horizontal line
    assert list(labelled_line(time_ax, "nsvd run").get_ydata()) == [30.0, 30.0]
    assert (err_ax.get_ylabel(), time_ax.get_ylabel()) == ("mean relative error of E", "wall time (s)")
    assert [ax.get_xlabel() for ax in (err_ax, time_ax)] == ["grid points per axis N"] * 2
    assert (err_ax.get_title(), time_ax.get_title()) == ("accuracy vs resolution", "cost vs resolution")
    assert "(reference: harmonic (analytic))" in fig._suptitle.get_text()


def test_compare_errors_content(compare_file):
    from nsvd_cli.plotting import errors_figure, load_compare

    data = load_compare(compare_file)
    fig = errors_figure(data)
    (ax,) = main_axes(fig)  # a compare file has no angle distances
    assert len(ax.containers) == len(data.methods) == 6
    for bars, m in zip(ax.containers, data.methods):
        np.testing.assert_allclose([b.get_height() for b in bars], m.mean_relative_error * np.array([1.0, 0.5, 2.0]))
    # lobpcg N=100 did not converge (the fixture): said in the legend (wave 11)
    assert legend_texts(fig) == [m.label + ("" if m.converged else " (not converged)") for m in data.methods]
    assert ax.get_ylabel() == "relative error of E\n|E − E_ref| / max(|E_ref|, Δ)"
    assert ax.get_xlabel() == "mode  (index, (n_1, n_2))"


@pytest.mark.parametrize("name", ["resolution", "errors"])
def test_compare_figures_are_written(name, compare_file, tmp_path):
    from nsvd_cli.plotting import FIGURES, load_compare, save_figures

    data = load_compare(compare_file)
    assert len(data.grid_methods) == 5 and len(data.neural_methods) == 1
    fig = FIGURES[name](data)
    (path,) = save_figures({name: fig}, tmp_path, "cmp", dpi=DPI)
    check_image(path, fig)


def test_several_runs_grouped_errors(results, tmp_path):
    from nsvd_cli.plotting import errors_figure, save_figures

    fig = errors_figure([results, results], labels=["a", "b"])
    n = len(results.energies)
    for ax in main_axes(fig):
        a, b = ax.containers  # one bar per mode and run, side by side
        assert len(a) == len(b) == n
        assert all(bb.get_x() > ba.get_x() for ba, bb in zip(a, b))
    assert [t.split(" (mean")[0] for t in legend_texts(fig)] == ["a", "b"]
    check_image(save_figures({"errors": fig}, tmp_path, "ab", dpi=DPI)[0], fig)


def test_errors_legend_of_long_labels_fits_the_figure(results):
    """Four runs labelled like `nsvd plot a.h5 b.h5 c.h5 d.h5` of four methods
    ("nestedlora: q-nestedlora (mean 1.82 %)", ...): every legend entry lies inside the figure
    (a 4-column legend of such labels was wider than the 7-inch figure and clipped on both sides)."""
    from nsvd_cli.plotting import errors_figure

    labels = [f"{m}: quartic1d-{m}-600 " for m in ("nestedlora", "lora", "neuralef", "spin")]
    fig = errors_figure([results] * 4, labels=labels)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width = fig.bbox.width
    texts = fig.legends[0].get_texts()
    assert len(texts) == 4
    for t in texts:
        box = t.get_window_extent(renderer)
        assert box.x0 >= 0 and box.x1 <= width, (t.get_text(), box.x0, box.x1, width)


def test_errors_ticks_of_a_grid_reference_are_upright_indices(results):
    """A run judged against a grid reference has no quantum numbers ((L, 0), no labels): the
    mode ticks are the plain indices 1..L, upright (they were rotated by 60° like quantum-number
    ticks)."""
    import dataclasses

    from nsvd_cli.plotting import errors_figure

    L = len(results.energies)
    grid_run = dataclasses.replace(results, quantum_numbers=np.zeros((L, 0), np.int64), quantum_labels=())
    ticks = errors_figure(grid_run).axes[-1].get_xticklabels()
    assert [t.get_text() for t in ticks] == [str(i + 1) for i in range(L)]
    assert all(t.get_rotation() == 0 for t in ticks)
    assert errors_figure(results).axes[-1].get_xticklabels()[0].get_rotation() == 60  # analytic: (n_1, n_2)


def test_spectrum_and_training_of_a_spin_run_name_the_method(results):
    """A SpIN run has no norm estimate (NaN): the spectrum shows no "squared norm" series, its
    title says so instead of "NestedLoRA learns √λ·φ", and the loss panel is titled "SpIN
    objective" (both said NestedLoRA before)."""
    import dataclasses

    from nsvd_cli.plotting import spectrum_figure, training_figure

    spec = results.spec
    spin_spec = spec.model_copy(update={"training": spec.training.model_copy(update={"method": "spin"})})
    spin = dataclasses.replace(results, spec=spin_spec,
                               norm_eigenvalues=np.full(len(results.energies), np.nan))
    fig = spectrum_figure(spin)
    assert all("norm" not in t for t in legend_texts(fig.axes[0]))
    assert "no norm estimate" in fig._suptitle.get_text() and "NestedLoRA" not in fig._suptitle.get_text()
    assert any(t.startswith("squared norm") for t in legend_texts(spectrum_figure(results).axes[0]))
    titles = [ax.get_title() for ax in training_figure(spin).axes]
    assert "SpIN objective" in titles and "NestedLoRA objective" not in titles


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
    from nsvd_cli.baselines.reference import reference_for
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
    assert any("x_{2}" in ax.get_xlabel() or "x_{2}" in ax.get_ylabel() for ax in fig3.axes)  # axis 2 = x2
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


def test_exact_zeros_are_marked_on_log_axes(compare_file, tmp_path):
    """A method compared with itself has error 0: drawn as a marker at the axis bottom, never
    dropped or plunged to 1e-14 (issue 9, item 6)."""
    from nsvd_cli.plotting import errors_figure, load_compare, resolution_figure
    from nsvd_cli.plotting._style import EXACT_LABEL

    path = tmp_path / "exact.h5"
    path.write_bytes(compare_file.read_bytes())
    with h5py.File(path, "r+") as h:
        g = h["methods/2"]  # eigsh N = 200
        g.attrs["mean_relative_error"] = 0.0
        g["relative_errors"][...] = [0.0, 1e-15, 0.0]
    data = load_compare(path)
    err_ax = main_axes(resolution_figure(data))[0]
    assert EXACT_LABEL in legend_texts(err_ax)
    eigsh = labelled_line(err_ax, "eigsh")
    assert np.isnan(eigsh.get_ydata()[2])  # not drawn as a value
    markers = [line for line in err_ax.lines if line.get_marker() == "v" and len(line.get_xdata())]
    assert [line.get_xdata().tolist() for line in markers] == [[200.0]]
    (ax,) = main_axes(errors_figure(data))
    assert EXACT_LABEL in legend_texts(ax.figure)
    markers = [line for line in ax.lines if line.get_marker() == "v" and len(line.get_xdata())]
    assert len(markers) == 1 and len(markers[0].get_xdata()) == 3  # all three modes of that method


def test_modes_without_quantum_numbers_are_plain_numbers():
    from nsvd_cli.plotting._style import quantum_string

    assert quantum_string(np.zeros((3, 0), dtype=int), 0) == ""  # a grid reference: "#1", not "#1 ()"
    assert quantum_string(np.array([[1, 0]]), 0, ("n", "l")) == "(n, l) = (1, 0)"


def test_6d_eigenfunction_titles_do_not_overlap(tmp_path):
    """In 6D "(n_1, ..., n_6) = (...)" is wider than a panel: the panels show the numbers alone,
    the figure title names the labels, and no two panel titles' boxes intersect. Modes odd in an
    axis held at 0 vanish on the slice (|psi| ~ 1e-17): drawn on the common scale and said so."""
    from nsvd_cli.plotting import eigenfunctions_figure

    fig = eigenfunctions_figure(_fake_results(6, 7, tmp_path), points=41)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    titles = [ax.title for ax in fig.axes if ax.get_visible() and ax.get_title()]
    boxes = [t.get_window_extent(renderer) for t in titles]
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            assert not boxes[i].overlaps(boxes[j]), (titles[i].get_text(), titles[j].get_text())
    assert "quantum numbers (n_1, n_2, n_3, n_4, n_5, n_6)" in fig._suptitle.get_text().replace("\n", " ")
    texts = [t.get_text() for t in titles]
    assert texts[0].startswith("#1  (0, 0, 0, 0, 0, 0)")
    # n_3 ... n_6 = 1: odd in a sliced-off axis; learned and reference panels each say so (wave 11)
    assert sum("≈0 on slice" in t for t in texts) == 2 * 4
