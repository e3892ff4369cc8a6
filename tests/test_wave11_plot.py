"""Fixes from the wave-11 new-user trial of ``nsvd plot``:

1. the same file given twice is refused (it passed for two seeds with zero spread);
2. an existing output path that is not a figure of the format (a results file named
   ``q-spectrum.png``) is refused before anything is written; figures and empty files are replaced;
3. the orthogonality figure of LoRA/SpIN runs says C is orthonormal by construction, and the
   |C − I| colour range covers every off-diagonal value;
4. the resolution figure names the neural runs' methods (title and legend) and gives each run the
   colour it has in the errors figure of the same compare file;
5. grid baselines that did not converge are hatched and labelled in the errors figure;
6. ``≈0 on slice`` is said per panel (a reference mode vanishing on the slice, learned not);
7. runs of different shifts are compared by the energy errors of H, not the eigenvalue errors of T.
"""

from __future__ import annotations

import dataclasses
import os
import shutil

import h5py
import numpy as np
import pytest
from compare_fixture import write_compare_header
from matplotlib.colors import to_rgb
from typer.testing import CliRunner

from nsvd_cli.cli.main import app
from test_plot import _fake_results, legend_texts, main_axes  # noqa: E402  (tests/test_plot.py)

runner = CliRunner()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def results(short_run_file):
    from nsvd_cli import load

    return load(short_run_file)


def one_error_line(res, needle):
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], res.output


# ----------------------------------------------------------------- 1. the same file twice

@pytest.mark.parametrize("how", ["same path", "hard link", "dotted path"])
def test_same_file_twice_is_refused(short_run_file, tmp_path, how):
    a = tmp_path / "a.h5"
    shutil.copy(short_run_file, a)
    second = {"same path": a, "dotted path": tmp_path / "." / "a.h5"}.get(how)
    if how == "hard link":
        second = tmp_path / "b.h5"
        os.link(a, second)
    res = runner.invoke(app, ["plot", str(a), str(second), "--what", "errors"])
    one_error_line(res, "given twice")
    assert str(second) in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({"a.h5", second.name})  # nothing written


def test_two_copies_stay_two_series(short_run_file, tmp_path):
    """Equal contents under two names are two runs (not refused), as before."""
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    shutil.copy(short_run_file, a)
    shutil.copy(short_run_file, b)
    res = runner.invoke(app, ["plot", str(a), str(b), "--what", "errors", "--dpi", "30"])
    assert res.exit_code == 0, res.output
    assert res.stdout.split() == [str(tmp_path / "a_vs_b-errors.png")]


# ----------------------------------------------------------------- 2. replace only figures

@pytest.mark.parametrize("fmt, head, ok", [
    ("png", PNG_MAGIC + b"\x00\x00\x00\rIHDR", True),
    ("png", b"\x89HDF\r\n\x1a\n\x00\x00", False),  # an HDF5 file's signature
    ("png", b"%PDF-1.4\n", False),
    ("pdf", b"%PDF-1.4\n%\xe2\xe3", True),
    ("pdf", PNG_MAGIC, False),
    ("svg", b'<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN">\n<svg', True),
    ("svg", b"\n  <svg xmlns='http://www.w3.org/2000/svg'>", True),
    ("svg", b"<?xml version='1.0'?><note>not a drawing</note>", False),
    ("svg", b"hello\n", False),
    ("png", b"", True),  # an empty file may be replaced
])
def test_is_figure_file_by_magic_bytes(tmp_path, fmt, head, ok):
    from nsvd_cli.plotting import is_figure_file

    path = tmp_path / f"x.{fmt}"
    path.write_bytes(head)
    assert is_figure_file(path, fmt) is ok
    assert is_figure_file(tmp_path, fmt) is False  # a folder is no figure


def test_existing_non_figure_output_is_refused_before_writing(short_run_file, tmp_path):
    """``t/q-orthogonality.png`` is an HDF5 results file: refused, and the spectrum figure
    (drawn first in --what order) is not written either."""
    q = tmp_path / "q.h5"
    shutil.copy(short_run_file, q)
    victim = tmp_path / "q-orthogonality.png"
    shutil.copy(short_run_file, victim)
    before = victim.read_bytes()
    res = runner.invoke(app, ["plot", str(q), "--what", "spectrum", "--what", "orthogonality"])
    one_error_line(res, "q-orthogonality.png exists and is not a PNG figure")
    assert victim.read_bytes() == before
    assert not (tmp_path / "q-spectrum.png").exists()


@pytest.mark.parametrize("fmt, magic", [("png", PNG_MAGIC), ("pdf", b"%PDF"), ("svg", b"<?xml")])
def test_existing_figures_and_empty_files_are_replaced(short_run_file, tmp_path, fmt, magic):
    q = tmp_path / "q.h5"
    shutil.copy(short_run_file, q)
    out = tmp_path / f"q-spectrum.{fmt}"
    out.write_bytes(b"")
    for _ in range(2):  # first over an empty file, then over the figure just written
        res = runner.invoke(app, ["plot", str(q), "--what", "spectrum", "--format", fmt, "--dpi", "30"])
        assert res.exit_code == 0, res.output
        assert out.read_bytes().startswith(magic)


def test_save_figures_refuses_a_non_figure(results, tmp_path):
    from nsvd_cli.plotting import save_figures, spectrum_figure

    (tmp_path / "h-spectrum.png").write_bytes(b"\x89HDF\r\n\x1a\n")
    with pytest.raises(FileExistsError, match="not a PNG figure"):
        save_figures({"spectrum": spectrum_figure(results)}, tmp_path, "h", dpi=30)


# ----------------------------------------------------------------- 3. orthogonality

def _with_method(results, method, **changes):
    spec = results.spec
    new = spec.model_copy(update={"training": spec.training.model_copy(update={"method": method})})
    return dataclasses.replace(results, spec=new, **changes)


@pytest.mark.parametrize("method, caveat", [("lora", True), ("spin", True), ("nestedlora", False),
                                            ("neuralef", False)])
def test_orthogonality_caveat_and_colour_range(results, method, caveat):
    """A Gram matrix whose off-diagonals are 1e-29, 3e-20 and 4e-16 (all below the old 1e-12
    floor of the colour scale): the colour range spans [1e-29, >= 4e-16]; LoRA and SpIN (as in
    ``nsvd compare``'s ``*``) get the by-construction caveat."""
    from nsvd_cli.plotting import orthogonality_figure

    gram = np.eye(3)
    for (i, j), v in {(0, 1): 1e-29, (0, 2): 3e-20, (1, 2): 4e-16}.items():
        gram[i, j] = gram[j, i] = v
    fig = orthogonality_figure(_with_method(results, method, metrics={**results.metrics, "gram": gram}))
    norm = main_axes(fig)[1].images[0].norm
    assert norm.vmin == pytest.approx(1e-29, rel=1e-9, abs=0) and norm.vmax >= 4e-16
    title = fig._suptitle.get_text().replace("\n", " ")
    assert ("orthonormal by construction" in title and "says nothing about the training" in title) is caveat


# ----------------------------------------------------------------- 4., 5. compare files

def _compare_file(path):
    """A compare file: eigsh at N = 50, 100 (100 not converged), lobpcg at N = 50, and three
    neural runs (lora, neuralef, spin) with seeds."""
    ref = np.array([2.0, 4.0, 4.0])
    with h5py.File(path, "w") as h:
        write_compare_header(h, ref)
        records = [("eigsh N=50", "grid", "eigsh", 50, True, ""), ("eigsh N=100", "grid", "eigsh", 100, False, ""),
                   ("lobpcg N=50", "grid", "lobpcg", 50, True, "")]
        records += [(f"m_{m}.h5", "neural", "nsvd", 0, True, m) for m in ("lora", "neuralef", "spin")]
        for k, (label, kind, method, n, conv, training) in enumerate(records):
            g = h.create_group(f"methods/{k}")
            err = 1e-3 * (k + 1)
            g.attrs.update(label=label, kind=kind, method=method, grid=n, wall_time=1.0 + k, peak_memory=-1,
                           iterations=10, converged=conv, mean_relative_error=err)
            if training:
                g.attrs.update(training_method=training, seed=k)
            g.create_dataset("relative_errors", data=err * np.ones(3))
            g.create_dataset("energies", data=ref * (1 + err))
    return path


def test_resolution_names_neural_methods_and_shares_colours_with_errors(tmp_path):
    from nsvd_cli.plotting import errors_figure, load_compare, resolution_figure

    data = load_compare(_compare_file(tmp_path / "cmp.h5"))
    res_fig = resolution_figure(data)
    title = res_fig._suptitle.get_text().replace("\n", " ")
    assert "neural runs (lora, neuralef, spin) as horizontal lines" in title and "NeuralSVD" not in title
    err_ax = main_axes(res_fig)[0]
    labels = ["m_lora.h5 (lora, seed 3)", "m_neuralef.h5 (neuralef, seed 4)", "m_spin.h5 (spin, seed 5)"]
    assert [t for t in legend_texts(err_ax) if t.startswith("m_")] == labels
    line_colour = {line.get_label(): to_rgb(line.get_color()) for line in err_ax.lines}
    (bar_ax,) = main_axes(errors_figure(data))
    bar_colour = {c.get_label(): c.patches[0].get_facecolor()[:3] for c in bar_ax.containers}
    for label in labels:  # one colour per run in both figures
        assert line_colour[label] == pytest.approx(bar_colour[label])
    # a grid solver's line has the colour of its finest grid's bars
    assert line_colour["eigsh"] == pytest.approx(bar_colour["eigsh N=100 (not converged)"])
    assert line_colour["lobpcg"] == pytest.approx(bar_colour["lobpcg N=50"])
    named = labels + ["eigsh", "lobpcg"]
    assert len({tuple(line_colour[k]) for k in named}) == len(named)  # solvers and runs distinct


def test_unconverged_grid_baseline_is_hatched_in_errors(tmp_path):
    from nsvd_cli.plotting import errors_figure, load_compare

    fig = errors_figure(load_compare(_compare_file(tmp_path / "cmp.h5")))
    (ax,) = main_axes(fig)
    hatches = {c.get_label(): {p.get_hatch() for p in c.patches} for c in ax.containers}
    assert hatches.pop("eigsh N=100 (not converged)") == {"////"}
    assert all(h == {None} for h in hatches.values()), hatches
    assert "not converged" in fig._suptitle.get_text().replace("\n", " ")


# ----------------------------------------------------------------- 6. ≈0 on slice, per panel

def test_vanishing_on_slice_is_said_per_panel(tmp_path):
    """Harmonic D = 3, slice (x_1, x_3) through x_2 = 0: the reference mode (0, 1, 0) is odd in x_2
    and vanishes there; the learned one (here with 1 % of the ground state mixed in) does not.
    The learned ground state set to 0 vanishes where its reference does not."""
    from nsvd_cli.plotting import eigenfunctions_figure

    fake = _fake_results(3, 4, tmp_path)
    exact = fake.eigenfunctions

    def learned(x):
        v = exact(x) + 0.01 * exact(x)[:, [0]]
        v[:, 0] = 0.0
        return v

    fake.eigenfunctions = learned
    fig = eigenfunctions_figure(fake, slice_axes=(0, 2), points=41)
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    top, bottom = titles[:4], titles[4:]  # learned row, reference row
    odd = int(np.flatnonzero(fake.quantum_numbers[:, 1] == 1)[0])  # n_2 = 1
    assert [("≈0 on slice" in t) for t in bottom] == [k == odd for k in range(4)]
    assert [("≈0 on slice" in t) for t in top] == [k == 0 for k in range(4)]
    assert bottom[odd].startswith("reference  E = 5")  # E = (2·0 + 1) + (2·1 + 1) + (2·0 + 1) = 5


# ----------------------------------------------------------------- 7. different shifts

def test_runs_of_different_shifts_compare_energy_errors(results):
    """Shifts 16 and 14: the bars are |E − E_ref| / max(|E_ref|, Δ), computed here by hand, the
    same for both (errors of λ = s(c − E) would differ by (c − E_ref)); the title says why."""
    from nsvd_cli.plotting import errors_figure

    spec = results.spec
    other = dataclasses.replace(results, spec=spec.model_copy(update={"shift": spec.shift - 2.0}))
    fig = errors_figure([results, other], labels=["a", "b"])
    e, ref = np.asarray(results.energies), np.asarray(results.reference_energies)
    spacing = (ref[-1] - ref[0]) / (len(ref) - 1)
    expected = np.abs(e - ref) / np.maximum(np.abs(ref), spacing)
    rel_ax = main_axes(fig)[0]
    for bars in rel_ax.containers:
        np.testing.assert_allclose([b.get_height() for b in bars], expected, rtol=1e-12)
    assert rel_ax.get_ylabel().startswith("relative error of E")
    title = fig._suptitle.get_text().replace("\n", " ")
    assert "shifts differ (16, 14)" in title and "energies E of H" in title
    # one shift: errors of λ, |λ − λ_ref| / λ_ref = |E − E_ref| / (c − E_ref)
    same = main_axes(errors_figure([results, results], labels=["a", "b"]))[0]
    np.testing.assert_allclose([b.get_height() for b in same.containers[0]], np.abs(e - ref) / (spec.shift - ref),
                               rtol=1e-6)
    assert same.get_ylabel().startswith("relative error of λ")
