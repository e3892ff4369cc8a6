"""Wave 7 (files): damaged results files, --seeds checked up front, the compare-file docs, CLI nits.

Independent facts the tests rest on: eight 0xFF bytes are an IEEE-754 NaN; a version-1
HDF5 B-tree node starts with the signature ``TREE`` (HDF5 file format spec, III.A.1); the
harmonic oscillator ``-d²/dx² + x² - 1`` has the levels 0, 2, 4 (so the floored error of
level 0 divides by the level spacing 2, not by ~0).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

import nsvd_cli
from nsvd_cli.cli.main import app
from nsvd_cli.errors import ResultsFileError

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
TINY = ["--dim", "1", "--modes", "2", "--iters", "2", "-q"]


def _one_error_line(output: str) -> str:
    """The single ``error:`` line of a failed command (and no traceback)."""
    lines = [ln for ln in output.strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], output
    assert "Traceback" not in output
    return errors[0]


def _damage(src: Path, dst: Path, offset: int, length: int = 4000) -> Path:
    """A copy of ``src`` with ``length`` bytes from ``offset`` overwritten by 0xFF."""
    data = bytearray(src.read_bytes())
    data[offset:offset + length] = b"\xff" * min(length, len(data) - offset)
    dst.write_bytes(bytes(data))
    return dst


# ---------------------------------------------------------------- 1. damaged results files

def test_ff_bytes_are_nan():
    assert np.isnan(np.frombuffer(b"\xff" * 8, dtype=np.float64)).all()


def _offsets(path: Path) -> dict:
    """(offset, length, expected words) of the largest model weight's and of /eigenvalues/rayleigh's
    bytes (overwritten alone: NaN values), and of the signature of the last B-tree node."""
    with h5py.File(path, "r") as h:
        weights = [h["model"][k] for k in sorted(h["model"]) if h["model"][k].dtype.kind == "f"]
        largest = max(weights, key=lambda d: d.id.get_storage_size())
        model, n_model = largest.id.get_offset(), largest.id.get_storage_size()
        rayleigh = h["eigenvalues/rayleigh"].id.get_offset()
        n_rayleigh = h["eigenvalues/rayleigh"].size
    tree = path.read_bytes().rfind(b"TREE")  # the B-tree of a group deep in the file
    assert model is not None and rayleigh is not None and tree > 0
    return {"model": (model, n_model, "/model/"), "rayleigh": (rayleigh, 8 * n_rayleigh, "/eigenvalues/rayleigh"),
            "btree": (tree, 4, "damaged")}


@pytest.mark.parametrize("where", ["model", "rayleigh", "btree"])
def test_damaged_results_file_is_one_line_exit_2(where, short_run_file, tmp_path):
    offset, length, needle = _offsets(short_run_file)[where]
    bad = _damage(short_run_file, tmp_path / "bad.h5", offset, length)
    with pytest.raises(ResultsFileError) as info:
        nsvd_cli.load(bad)
    text = str(info.value)
    assert "\n" not in text and str(bad) in text and "damaged" in text and needle in text, text
    for cmd in (["compare", str(bad)], ["plot", str(bad), "-o", str(tmp_path / "figs")]):
        res = runner.invoke(app, cmd)
        assert res.exit_code == 2, (cmd, res.output)
        line = _one_error_line(res.output)
        assert str(bad) in line and "damaged" in line, line
    assert not (tmp_path / "figs").exists() or not list((tmp_path / "figs").iterdir())


def test_damage_anywhere_is_refused_or_harmless(short_run_file, tmp_path):
    """Overwrite 4000 bytes at nine evenly spaced offsets: load either refuses in one line
    naming the file as damaged, or returns finite weights and eigenvalues (the damage hit
    data no figure computes on, e.g. the training history)."""
    size = short_run_file.stat().st_size
    refused = 0
    for k in range(1, 10):
        bad = _damage(short_run_file, tmp_path / f"bad{k}.h5", k * size // 10)
        try:
            res = nsvd_cli.load(bad)
        except ResultsFileError as err:
            refused += 1
            assert "\n" not in str(err) and str(bad) in str(err) and "damaged" in str(err), str(err)
            continue
        assert np.isfinite(res.eigenvalues).all() and np.isfinite(res.energies).all()
        assert all(np.isfinite(v).all() for v in res.model_state.values() if np.asarray(v).dtype.kind == "f")
    assert refused >= 5  # the model weights are most of the file


def test_every_damaged_structure_signature_is_one_line(short_run_file, tmp_path):
    """Overwrite, one at a time, the 4-byte signature of every B-tree node (``TREE``), local
    heap (``HEAP``) and symbol-table node (``SNOD``): h5py raises KeyError or RuntimeError
    ("wrong B-tree signature") depending on where; each is one 'damaged' line."""
    import re as _re

    data = short_run_file.read_bytes()
    found = [m.start() for m in _re.finditer(b"TREE|HEAP|SNOD", data)]
    assert len(found) >= 10
    refused = 0
    for offset in found:
        bad = _damage(short_run_file, tmp_path / "sig.h5", offset, 4)
        try:
            nsvd_cli.load(bad)
        except ResultsFileError as err:
            refused += 1
            assert "\n" not in str(err) and str(bad) in str(err) and "damaged" in str(err), str(err)
    assert refused >= len(found) - 2  # (a byte pattern inside float data would load unharmed)


def test_truncated_file_is_called_damaged_not_foreign(short_run_file, tmp_path):
    data = short_run_file.read_bytes()
    trunc = tmp_path / "trunc.h5"
    trunc.write_bytes(data[: len(data) // 3])
    with pytest.raises(ResultsFileError) as info:
        nsvd_cli.load(trunc)
    text = str(info.value)
    assert "\n" not in text and "damaged or truncated" in text and "not an HDF5 file" not in text, text
    res = runner.invoke(app, ["plot", str(trunc), "-o", str(tmp_path / "figs")])
    assert res.exit_code == 2 and "damaged or truncated" in _one_error_line(res.output)
    (tmp_path / "text.h5").write_text("not hdf5\n")  # no HDF5 signature: still "not an HDF5 file"
    with pytest.raises(ResultsFileError, match="not an HDF5 file"):
        nsvd_cli.load(tmp_path / "text.h5")


# ---------------------------------------------------------------- 2. --seeds checked before training

@pytest.mark.parametrize("blocker", ["results", "checkpoint"])
def test_seeds_check_every_output_before_training(blocker, tmp_path):
    """--seeds 1,0 with seed 0's output (or checkpoint) present: refused before seed 1 trains."""
    out = tmp_path / "m.h5"
    existing = tmp_path / ("m-seed0.h5" if blocker == "results" else "m-seed0.h5.ckpt")
    existing.write_bytes(b"placeholder")
    res = runner.invoke(app, ["solve", "harmonic", *TINY, "--seeds", "1,0", "-o", str(out)])
    assert res.exit_code == 2, res.output
    line = _one_error_line(res.output)
    assert str(existing) in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing.name]  # seed 1 never started
    assert existing.read_bytes() == b"placeholder"


def test_seeds_resume_needs_every_checkpoint(tmp_path):
    out = tmp_path / "m.h5"
    res = runner.invoke(app, ["solve", "harmonic", *TINY, "--seeds", "0,1", "--resume", "-o", str(out)])
    assert res.exit_code == 2 and "no checkpoint to resume from" in _one_error_line(res.output)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("seeds, needle", [("0,,1", "empty item"), ("0,1,", "empty item"), (",", "empty item"),
                                           ("1,0,1", "seed 1 given more than once"), ("0,-2", "-2"),
                                           ("0,x", "comma-separated integers")])
def test_bad_seeds_lists_are_one_line(seeds, needle, tmp_path):
    res = runner.invoke(app, ["solve", "harmonic", *TINY, f"--seeds={seeds}", "-o", str(tmp_path / "m.h5")])
    assert res.exit_code == 2, res.output
    line = _one_error_line(res.output)
    assert line.startswith("error: --seeds:") and needle in line, line
    assert not list(tmp_path.iterdir())


def test_seeds_still_train_every_seed(tmp_path):
    res = runner.invoke(app, ["solve", "harmonic", *TINY, "--seeds", "1,0", "-o", str(tmp_path / "m.h5")])
    assert res.exit_code == 0, res.output
    assert {nsvd_cli.load(tmp_path / f"m-seed{s}.h5").spec.training.seed for s in (0, 1)} == {0, 1}


# ---------------------------------------------------------------- 3. docs: what the compare file stores

def test_compare_file_stores_floored_errors_as_documented(tmp_path):
    """Levels 0, 2, 4: level 0's stored error divides by the spacing Δ = 2, not by |E_ref| ≈ 0."""
    spec = tmp_path / "low.toml"
    spec.write_text('name = "low"\ndimension = 1\npotential = "x0**2 - 1"\nshift = 10\nmodes = 3\n'
                    '[sampling]\nkind = "gaussian"\nstd = 1.0\n[evaluation]\nbox = [[-6, 6]]\n')
    out = tmp_path / "cmp.h5"
    res = runner.invoke(app, ["compare", str(spec), "--baseline", "dense", "--grid", "40", "-o", str(out)])
    assert res.exit_code == 0, res.output
    with h5py.File(out, "r") as h:
        ref = h["reference/energies"][()]
        energies, stored = h["methods/0/energies"][()], h["methods/0/relative_errors"][()]
    np.testing.assert_allclose(ref, [0, 2, 4], atol=1e-6)
    np.testing.assert_allclose(stored, np.abs(energies - ref) / np.maximum(np.abs(ref), 2.0), rtol=1e-6)
    assert stored[0] < 0.1 < abs(energies[0] - ref[0]) / abs(ref[0])  # not the plain relative error
    schema_row = next(ln for ln in (ROOT / "docs/compare.md").read_text().splitlines()
                      if ln.startswith("| `relative_errors` |"))
    assert "max(|E_ref|, Δ)" in schema_row
    assert "|E − E_ref|/|E_ref|` (NaN" not in schema_row


@pytest.mark.parametrize("doc", ["docs/method.md", "docs/compare.md", "docs/plot.md"])
def test_docs_cite_existing_modules(doc):
    cited = set(re.findall(r"`(nsvd_cli/[\w/.]+)`", (ROOT / doc).read_text()))
    missing = [c for c in cited if not (ROOT / c).exists()]
    assert not missing, missing


# ---------------------------------------------------------------- 4. nits

def _flat(text: str) -> str:
    """Help text with rich's box characters and line breaks removed, whitespace collapsed."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def test_top_level_help_keeps_the_operator_symbols():
    res = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    text = _flat(res.output)
    assert "H = −kinetic·∇² + V" in text and "T = scale·(−H + shift)" in text, text


def test_laplacian_help_lists_every_choice():
    import typing

    import typer

    from nsvd_cli.spec.choices import LaplacianKind

    solve = typer.main.get_command(app).commands["solve"]
    (param,) = [p for p in solve.params if p.name == "laplacian"]
    assert set(typing.get_args(LaplacianKind)) == {"fd", "exact", "forward"}
    for choice in ("fd", "exact", "forward"):
        assert re.search(rf"\b{choice}\b", param.help), param.help


def test_plot_output_with_image_suffix_is_refused(short_run_file, tmp_path):
    target = tmp_path / "plots" / "x.png"
    res = runner.invoke(app, ["plot", str(short_run_file), "-w", "spectrum", "-o", str(target)])
    assert res.exit_code == 2
    line = _one_error_line(res.output)
    assert line.startswith("error: -o/--output-dir:") and str(target) in line
    assert not target.exists() and not target.parent.exists()
    target.mkdir(parents=True)  # a folder of that name that exists is used as such
    res = runner.invoke(app, ["plot", str(short_run_file), "-w", "spectrum", "-o", str(target)])
    assert res.exit_code == 0 and (target / f"{short_run_file.stem}-spectrum.png").exists()


@pytest.mark.parametrize("axes", ["0,0", "0,5", "a,b"])
def test_slice_errors_share_one_prefix(axes, short_run_file, tmp_path):
    res = runner.invoke(app, ["plot", str(short_run_file), "-w", "eigenfunctions", "--slice", axes,
                              "-o", str(tmp_path)])
    assert res.exit_code == 2
    assert _one_error_line(res.output).startswith("error: --slice: expected two different axis indices")


def test_errors_legend_keeps_seeds(short_run_file, tmp_path):
    from nsvd_cli.plotting import errors_figure

    paths = {n: tmp_path / f"{n}.h5" for n in ("m-seed0", "m-seed1", "m-seed3", "other")}
    for p in paths.values():
        shutil.copy(short_run_file, p)
    runs = {n: nsvd_cli.load(p) for n, p in paths.items()}

    def legend(*names):
        return [t.get_text() for t in errors_figure([runs[n] for n in names]).legends[0].get_texts()]

    single = legend("m-seed0", "other")
    assert single[0].startswith("m-seed0 (mean") and single[1].startswith("other (mean"), single
    pooled = legend("m-seed1", "m-seed3", "other")
    assert pooled[0].startswith("m (2 seeds: 1, 3;"), pooled


def test_operator_text_signs():
    from nsvd_cli.cli.solve import operator_text

    assert operator_text(0.0143885, -3000.0) == "0.0143885·(−H − 3000)"
    assert operator_text(1.0, 20.0) == "1·(−H + 20)"
    assert operator_text(2.0, 0.0) == "2·(−H + 0)"


def test_summary_without_counted_modes_prints_no_nan():
    from nsvd_cli.cli.solve import _error_parts

    nan = float("nan")
    none_counted = {"mean_relative_error": nan, "max_relative_error": nan, "mean_energy_relative_error": nan,
                    "mean_gap_relative_error": nan, "max_gap_relative_error": nan, "mean_subspace_distance": nan}
    parts = _error_parts(none_counted, object())
    assert len(parts) == 1 and "no error figures" in parts[0] and "nan" not in " ".join(parts)
    counted = {**none_counted, "mean_relative_error": 0.02, "max_relative_error": 0.03,
               "mean_energy_relative_error": 0.015}
    text = " | ".join(_error_parts(counted, object()))
    assert text.startswith("mean rel. error of E 1.5 % (of λ 2 %, max 3 %)") and "nan" not in text, text
