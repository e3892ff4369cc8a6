"""nsvd_cli.files: the atomic writer, the shared HDF5 header check and group-id encoding, and
write -> read round trips of both schemas (results and compare files)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from nsvd_cli.cli.main import app
from nsvd_cli.errors import ResultsExistError, ResultsFileError
from nsvd_cli.files.atomic import atomic_path, atomic_write
from nsvd_cli.files.hdf5 import decode_groups, encode_groups

runner = CliRunner()


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask():
    """``umask(mask)`` sets the process umask for one test; the old one is restored afterwards."""
    old = os.umask(0o022)
    os.umask(old)
    yield os.umask
    os.umask(old)


# --------------------------------------------------------------------------------------
# atomic writer
# --------------------------------------------------------------------------------------

@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077], ids=oct)
def test_new_file_gets_plain_write_permissions(tmp_path, umask, mask):
    umask(mask)
    plain, atomic = tmp_path / "plain.bin", tmp_path / "atomic.bin"
    plain.write_bytes(b"x")
    atomic_write(atomic, lambda tmp: Path(tmp).write_bytes(b"x"))
    assert _mode(atomic) == 0o666 & ~mask == _mode(plain)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o664], ids=oct)
def test_replaced_file_keeps_its_mode(tmp_path, umask, mode):
    umask(0o077)  # would give 0o600 to a new file: the old mode must win
    target = tmp_path / "r.h5"
    target.write_bytes(b"old")
    os.chmod(target, mode)
    atomic_write(target, lambda tmp: Path(tmp).write_bytes(b"new"), overwrite=True)
    assert target.read_bytes() == b"new" and _mode(target) == mode


def _boom(tmp):
    Path(tmp).write_bytes(b"half a fi")
    raise RuntimeError("disk on fire")


def test_raising_write_leaves_no_temporary_and_no_target(tmp_path):
    target = tmp_path / "sub" / "r.h5"
    with pytest.raises(RuntimeError, match="disk on fire"):
        atomic_write(target, _boom)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # the folder was created, nothing left in it


def test_raising_write_keeps_existing_target(tmp_path):
    target = tmp_path / "r.h5"
    target.write_bytes(b"the good old file")
    with pytest.raises(RuntimeError):
        with atomic_path(target, overwrite=True) as tmp:
            _boom(tmp)
    assert target.read_bytes() == b"the good old file"
    assert [p.name for p in tmp_path.iterdir()] == ["r.h5"]


def test_existing_target_refused_before_writing(tmp_path):
    target = tmp_path / "r.h5"
    target.write_bytes(b"keep")
    calls = []
    with pytest.raises(ResultsExistError, match="exists"):
        atomic_write(target, calls.append)
    assert calls == [] and target.read_bytes() == b"keep"
    assert [p.name for p in tmp_path.iterdir()] == ["r.h5"]


def test_temporary_is_hidden_sibling_with_the_suffix(tmp_path):
    target = tmp_path / "grid-abc.npz"
    seen = []

    def write(tmp):
        seen.append(Path(tmp))
        np.savez(tmp, energies=np.arange(3.0))  # savez appends .npz to names without it

    atomic_write(target, write)
    (tmp,) = seen
    assert tmp.parent == tmp_path and tmp.name.startswith(".grid-abc.npz.") and tmp.suffix == ".npz"
    assert [p.name for p in tmp_path.iterdir()] == ["grid-abc.npz"]
    with np.load(target) as f:
        np.testing.assert_array_equal(f["energies"], [0.0, 1.0, 2.0])


def test_torch_checkpoint_through_the_writer(tmp_path):
    target = tmp_path / "run.h5.ckpt"
    state = {"iteration": 7, "w": torch.arange(4.0)}
    atomic_write(target, lambda tmp: torch.save(state, tmp))
    atomic_write(target, lambda tmp: torch.save({**state, "iteration": 8}, tmp), overwrite=True)
    back = torch.load(target, weights_only=False)
    assert back["iteration"] == 8 and torch.equal(back["w"], state["w"])
    assert [p.name for p in tmp_path.iterdir()] == ["run.h5.ckpt"]


# --------------------------------------------------------------------------------------
# group ids
# --------------------------------------------------------------------------------------

def test_group_ids_by_hand():
    groups = [np.array([0]), np.array([1, 2]), np.array([3, 4, 5])]
    ids = encode_groups(groups, 6)
    assert ids.dtype == np.int64 and ids.tolist() == [0, 1, 1, 2, 2, 2]
    assert [g.tolist() for g in decode_groups(ids)] == [[0], [1, 2], [3, 4, 5]]
    assert decode_groups([]) == []
    with pytest.raises(ValueError, match=r"cover modes \[3\]"):
        encode_groups([[0], [1, 2]], 4)


# --------------------------------------------------------------------------------------
# results files
# --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def spec():
    from nsvd_cli.spec import load_spec

    return load_spec("harmonic2d", overrides={"modes": 3, "model.hidden": [8], "model.fourier_features": 4})


def _evaluation():
    from nsvd_cli.evaluate import Evaluation

    return Evaluation(
        eigenvalues=np.array([3.0, 1.5, 1.4]), energies=np.array([2.0, 3.5, 3.6]),
        norm_eigenvalues=np.array([2.9, 1.6, 1.3]), norm_energies=np.array([2.1, 3.4, 3.7]),
        gram=np.array([[1.0, 0.1, 0.0], [0.1, 1.0, -0.2], [0.0, -0.2, 1.0]]), orthogonality=0.25,
        max_off_diagonal=0.2, reference_eigenvalues=np.array([3.0, 1.0, 1.0]),
        reference_energies=np.array([2.0, 4.0, 4.0]), relative_errors=np.array([0.0, 0.5, 0.4]),
        energy_relative_errors=np.array([0.0, 0.125, 0.1]), angle_distances=np.array([0.01, 0.2, 0.3]),
        subspace_distances=np.array([0.01, 0.25]), positive=np.array([True, True, True]))


def _history():
    return {"iteration": np.array([1, 2, 3]), "loss": np.array([-1.0, -2.0, -2.5]),
            "learning_rate": np.array([1e-3, 1e-3, 5e-4]),
            "eigenvalues": np.array([[1.0, 0.5, 0.4], [2.0, 1.0, 0.9], [2.9, 1.4, 1.3]]),
            "evaluations": [{"iteration": 2.0, "mean_relative_error": 0.5},
                            {"iteration": 3.0, "mean_relative_error": 0.3}]}


@pytest.fixture(scope="module")
def written(spec, tmp_path_factory):
    """A results file written from hand-made fields, and the model whose weights it holds."""
    from nsvd_cli.files.results import write_results
    from nsvd_cli.models import build_model
    from nsvd_cli.sampling import make_sampling

    model = build_model(2, 3, spec.model, torch.Generator().manual_seed(5),
                        make_sampling(2, spec.sampling).log_density).to(torch.float64)
    reference = SimpleNamespace(name="harmonic (analytic)", quantum_labels=("n_1", "n_2"),
                                quantum_numbers=[[0, 0], [1, 0], [0, 1]], energies=[2.0, 4.0, 4.0],
                                groups=[np.array([0]), np.array([1, 2])])
    path = tmp_path_factory.mktemp("files") / "r.h5"
    write_results(path, spec=spec, evaluation=_evaluation(), model_state=model.state_dict(), history=_history(),
                  run={"device": "cpu", "seed": 1}, reference=reference)
    return path, model


def test_results_round_trip(spec, written):
    from nsvd_cli.files.results import load
    from nsvd_cli.spec import spec_to_dict

    path, _ = written
    r, ev, hist = load(path), _evaluation(), _history()
    assert spec_to_dict(r.spec) == spec_to_dict(spec) and r.path == path
    np.testing.assert_array_equal(r.eigenvalues, [3.0, 1.5, 1.4])
    np.testing.assert_array_equal(r.energies, [2.0, 3.5, 3.6])
    np.testing.assert_array_equal(r.norm_eigenvalues, [2.9, 1.6, 1.3])
    np.testing.assert_array_equal(r.reference_eigenvalues, [3.0, 1.0, 1.0])
    np.testing.assert_array_equal(r.reference_energies, [2.0, 4.0, 4.0])
    for key, want in [("relative_error", ev.relative_errors), ("energy_relative_error", ev.energy_relative_errors),
                      ("angle_distance", ev.angle_distances), ("subspace_distance", ev.subspace_distances),
                      ("positive", ev.positive), ("gram", ev.gram)]:
        np.testing.assert_array_equal(r.metrics[key], want, err_msg=key)
    assert r.metrics["groups"].tolist() == [0, 1, 1]
    assert r.metrics["summary"]["orthogonality"] == 0.25 and r.metrics["summary"]["max_off_diagonal"] == 0.2
    assert r.metrics["summary"]["mean_relative_error"] == pytest.approx(0.3)  # (0 + 0.5 + 0.4) / 3
    for key in ("iteration", "loss", "learning_rate", "eigenvalues"):
        np.testing.assert_array_equal(r.history[key], hist[key], err_msg=key)
    assert r.history["evaluation"]["iteration"].tolist() == [2.0, 3.0]
    assert r.history["evaluation"]["mean_relative_error"].tolist() == [0.5, 0.3]
    assert r.run == {"device": "cpu", "seed": 1} and set(r.versions) >= {"nsvd", "torch", "h5py"}
    assert r.quantum_numbers.tolist() == [[0, 0], [1, 0], [0, 1]] and r.quantum_labels == ("n_1", "n_2")


def test_results_model_rebuilt_from_stored_weights(written):
    from nsvd_cli.files.results import load

    path, model = written
    x = torch.tensor([[0.0, 0.0], [0.5, -1.0], [2.0, 1.0]], dtype=torch.float64)
    with torch.no_grad():
        want = model.eval()(x).numpy()
    got = load(path).eigenfunctions(x.numpy(), normalise=False)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_results_layout_is_format_version_1(written):
    """The layout files of format version 1 have (today's writer still writes version 1)."""
    path, _ = written
    with h5py.File(path, "r") as h:
        assert h.attrs["format"] == "nsvd-results" and int(h.attrs["format_version"]) == 1
        assert set(h) == {"eigenvalues", "metrics", "reference", "history", "model"}
        assert set(h.attrs) == {"format", "format_version", "created", "problem", "spec_json", "versions_json",
                                "run_json"}
        assert set(h["eigenvalues"]) == {"rayleigh", "norm", "energies", "norm_energies", "reference",
                                         "reference_energies"}
        assert json.loads(h.attrs["run_json"]) == {"device": "cpu", "seed": 1}


# --------------------------------------------------------------------------------------
# foreign files and newer versions: one line, exit 2
# --------------------------------------------------------------------------------------

def _foreign(path):
    with h5py.File(path, "w") as h:
        h.attrs["creator"] = "someone else"
        h.create_dataset("data", data=np.arange(3.0))
    return path


def _newer(src, dst):
    dst.write_bytes(Path(src).read_bytes())
    with h5py.File(dst, "r+") as h:
        h.attrs["format_version"] = int(h.attrs["format_version"]) + 1
    return dst


def _one_line(err: Exception, *needles):
    text = str(err)
    assert "\n" not in text and all(n in text for n in needles), text


def test_results_reader_rejects_foreign_and_newer(written, tmp_path):
    from nsvd_cli.files.results import FORMAT_VERSION, load

    with pytest.raises(ResultsFileError) as info:
        load(_foreign(tmp_path / "other.h5"))
    _one_line(info.value, "other.h5", "not an nsvd results file")
    with pytest.raises(ResultsFileError) as info:
        load(_newer(written[0], tmp_path / "newer.h5"))
    _one_line(info.value, "newer.h5", f"version {FORMAT_VERSION + 1} is newer", "upgrade nsvd")
    (tmp_path / "text.h5").write_text("not hdf5\n")
    with pytest.raises(ResultsFileError) as info:
        load(tmp_path / "text.h5")
    _one_line(info.value, "not an HDF5 file")


def test_malformed_results_file_is_one_line(written, tmp_path):
    from nsvd_cli.files.results import load

    broken = tmp_path / "broken.h5"
    broken.write_bytes(Path(written[0]).read_bytes())
    with h5py.File(broken, "r+") as h:
        del h["eigenvalues/rayleigh"]
    with pytest.raises(ResultsFileError) as info:
        load(broken)
    _one_line(info.value, "broken.h5", "malformed nsvd results file")


def test_cli_maps_newer_version_to_exit_2(written, tmp_path):
    newer = _newer(written[0], tmp_path / "newer.h5")
    res = runner.invoke(app, ["plot", str(newer), "-o", str(tmp_path)])
    assert res.exit_code == 2, res.output
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "is newer than this nsvd understands" in lines[0], res.stderr


# --------------------------------------------------------------------------------------
# compare files
# --------------------------------------------------------------------------------------

def _comparison(spec):
    from nsvd_cli.compare import Comparison, MethodResult

    ref = np.array([2.0, 4.0, 4.0])
    points = np.array([[x, y] for x in (-1.0, 1.0) for y in (-1.0, 1.0)])
    grid = MethodResult(
        label="eigsh N=2", kind="grid", method="eigsh", grid=2, energies=ref * 1.01,
        relative_errors=np.full(3, 0.01), mean_relative_error=0.01, wall_time=0.5, peak_memory=1024, iterations=4,
        converged=True, note="", residuals=np.array([1e-9, 2e-9, 3e-9]), tol=1e-6, n_points_total=4,
        eigenvectors=np.arange(12.0).reshape(4, 3), points=points, spacing=np.array([2.0, 2.0]))
    neural = MethodResult(
        label="h.h5", kind="neural", method="nsvd", grid=0, energies=np.array([2.0, 4.2, np.nan]),
        relative_errors=np.array([0.0, 0.05, np.nan]), mean_relative_error=0.025, wall_time=30.0, peak_memory=-1,
        iterations=100, converged=False, note="mode 3 not learned", path=Path("runs/h.h5"),
        grid_comparison="eigsh N=2", angle_distances=np.array([0.1, 0.2, np.nan]),
        subspace_distances=np.array([0.1, 0.3]), orthogonality=0.05)
    return Comparison(
        spec=spec, reference_name="harmonic (analytic)", reference_kind="analytic", reference_energies=ref,
        quantum_numbers=np.array([[0, 0], [1, 0], [0, 1]]), quantum_labels=("n_1", "n_2"),
        groups=[np.array([0]), np.array([1, 2])], complete_last_group=True, methods=[neural, grid],
        box=((-5.0, 5.0), (-5.0, 5.0)), order=4, tol=1e-6)


def _assert_method(got, want, eigenvectors):
    for name in ("label", "kind", "method", "grid", "wall_time", "peak_memory", "iterations", "converged",
                 "mean_relative_error", "note", "n_points_total", "grid_comparison"):
        assert getattr(got, name) == getattr(want, name), name
    np.testing.assert_array_equal(got.energies, want.energies)
    np.testing.assert_array_equal(got.relative_errors, want.relative_errors)
    if want.kind == "grid":
        np.testing.assert_array_equal(got.residuals, want.residuals)
        assert got.tol == want.tol
        if eigenvectors:
            np.testing.assert_array_equal(got.eigenvectors, want.eigenvectors)
            np.testing.assert_array_equal(got.points, want.points)
        else:
            assert got.eigenvectors is None and got.points is None
    else:
        assert got.path == str(want.path) and got.orthogonality == want.orthogonality
        np.testing.assert_array_equal(got.angle_distances, want.angle_distances)
        np.testing.assert_array_equal(got.subspace_distances, want.subspace_distances)


@pytest.mark.parametrize("eigenvectors", [False, True])
def test_compare_round_trip(spec, tmp_path, eigenvectors):
    from nsvd_cli.files.compare import load_compare, write_comparison
    from nsvd_cli.spec import spec_to_dict

    comp = _comparison(spec)
    path = write_comparison(tmp_path / "c.h5", comp)
    data = load_compare(path, eigenvectors=eigenvectors)
    assert data.path == path and data.problem == spec.name and spec_to_dict(data.spec) == spec_to_dict(spec)
    assert (data.reference_name, data.reference_kind) == ("harmonic (analytic)", "analytic")
    np.testing.assert_array_equal(data.reference_energies, [2.0, 4.0, 4.0])
    assert data.quantum_numbers.tolist() == [[0, 0], [1, 0], [0, 1]] and data.quantum_labels == ("n_1", "n_2")
    assert data.groups.tolist() == [0, 1, 1] and [g.tolist() for g in data.degenerate_groups()] == [[0], [1, 2]]
    assert data.complete_last_group and data.box == ((-5.0, 5.0), (-5.0, 5.0)) and data.order == 4
    assert data.format_version == 1 and [m.kind for m in data.methods] == ["neural", "grid"]
    for got, want in zip(data.methods, comp.methods):
        _assert_method(got, want, eigenvectors)


def test_compare_reader_rejects_foreign_newer_and_results(spec, written, tmp_path):
    from nsvd_cli.files.compare import FORMAT_VERSION, load_compare, write_comparison

    with pytest.raises(ResultsFileError) as info:
        load_compare(_foreign(tmp_path / "other.h5"))
    _one_line(info.value, "other.h5", "not an nsvd compare file")
    path = write_comparison(tmp_path / "c.h5", _comparison(spec))
    with pytest.raises(ResultsFileError) as info:
        load_compare(_newer(path, tmp_path / "newer.h5"))
    _one_line(info.value, "newer.h5", f"compare format version {FORMAT_VERSION + 1} is newer")
    with pytest.raises(ResultsFileError) as info:
        load_compare(written[0])
    _one_line(info.value, "not an nsvd compare file (it is an nsvd results file)")
    from nsvd_cli.files.results import load

    with pytest.raises(ResultsFileError) as info:
        load(path)
    _one_line(info.value, "not an nsvd results file (it is an nsvd compare file)")
