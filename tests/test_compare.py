"""``nsvd compare``: grid baselines, results files and references in one table (issue 3).

The numerics of the grid solvers are checked in test_baselines.py; here: the rules of the
comparison (same metrics code path as ``solve``, conventions refused, honest non-converged
rows, grid reference), the CLI (errors in one line, exit codes, --json, -o, --fail-above)
and the compare file schema.
"""

import json

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from nsvd_cli.cli.main import app
from nsvd_cli.cli.compare import parse_box, parse_grid, parse_memory
from nsvd_cli.compare import compare, match_levels, write_comparison
from nsvd_cli.errors import ComparisonError
from nsvd_cli.files.results import load

runner = CliRunner()


@pytest.fixture(scope="module")
def run_file(short_run_file):
    """A results file from a short harmonic2d solve (conftest)."""
    return short_run_file


def one_error_line(res, needle):
    lines = [line for line in res.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], res.stderr
    return lines[0]


# ---------------------------------------------------------------------------- results files

def test_results_file_metrics_match_solve(run_file):
    stored = load(run_file)
    comp = compare([str(run_file)], ["eigsh"], [40])
    neural, grid = comp.methods
    assert (neural.kind, neural.method, neural.label) == ("neural", "nsvd", "h.h5")
    assert (grid.kind, grid.label, grid.converged) == ("grid", "eigsh N=40", True)
    ev = neural.evaluation
    # same code path as solve: the stored metrics come back
    for key, value in [("relative_error", ev.relative_errors), ("energy_relative_error", ev.energy_relative_errors),
                       ("angle_distance", ev.angle_distances), ("subspace_distance", ev.subspace_distances)]:
        np.testing.assert_allclose(value, stored.metrics[key], rtol=1e-9, atol=1e-12, err_msg=key)
    for key, value in ev.summary().items():
        assert value == pytest.approx(stored.metrics["summary"][key], rel=1e-9, abs=1e-12), key
    np.testing.assert_allclose(ev.eigenvalues, stored.eigenvalues, rtol=1e-10)
    assert neural.stored_discrepancy < 1e-9
    # energies of H from the file's eigenvalues of T with the file's shift and scale
    np.testing.assert_allclose(neural.energies, stored.spec.shift - stored.eigenvalues / stored.spec.scale)
    np.testing.assert_allclose(neural.relative_errors, stored.metrics["energy_relative_error"], rtol=1e-9)
    assert neural.mean_relative_error == pytest.approx(np.mean(stored.metrics["energy_relative_error"]))
    # against the grid eigenvectors: one angle per mode, one subspace distance per shell
    assert neural.grid_comparison == "eigsh N=40"
    assert neural.angle_distances.shape == (3,) and neural.subspace_distances.shape == (2,)
    assert np.all((neural.angle_distances >= 0) & (neural.angle_distances <= 1))
    assert np.all((neural.subspace_distances >= 0) & (neural.subspace_distances <= 1))
    assert 0 <= neural.orthogonality < 1
    # the comparison's reference is the analytic one: E = 2, 4, 4
    np.testing.assert_allclose(comp.reference_energies, [2.0, 4.0, 4.0])
    assert comp.reference_kind == "analytic" and [list(g) for g in comp.groups] == [[0], [1, 2]]


def test_results_file_through_the_cli(run_file):
    res = runner.invoke(app, ["compare", str(run_file), "--baseline", "eigsh", "--grid", "30"])
    assert res.exit_code == 0, res.output
    assert "h.h5" in res.stdout and "eigsh N=30" in res.stdout and "harmonic (analytic)" in res.stdout


def test_summary_shows_the_files_own_verdict(run_file, tmp_path):
    """The methods table's "converged" cell of a results file is its stored per-mode verdict
    (here edited to 1 of 3 modes), not "—" beside the grid solvers' "yes"."""
    bad = tmp_path / "bad.h5"
    bad.write_bytes(run_file.read_bytes())
    with h5py.File(bad, "r+") as h:
        h["verdict/converged"][...] = np.array([True, False, False])
    res = runner.invoke(app, ["compare", str(bad)], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    assert "1/3 modes (verdict)" in res.stdout


def test_different_conventions_refused(run_file, tmp_path):
    other = tmp_path / "shifted.h5"
    other.write_bytes(run_file.read_bytes())
    with h5py.File(other, "r+") as h:
        spec = json.loads(h.attrs["spec_json"])
        spec["shift"] = 20.0
        h.attrs["spec_json"] = json.dumps(spec)
    with pytest.raises(ComparisonError, match="shift 20 but .* has 16"):
        compare([str(run_file), str(other)])
    res = runner.invoke(app, ["compare", str(run_file), str(other)])
    assert res.exit_code == 2
    one_error_line(res, "different conventions")
    res = runner.invoke(app, ["compare", "hydrogen2d", str(run_file)])
    assert res.exit_code == 2
    one_error_line(res, "potential harmonic")


# ---------------------------------------------------------------------------- grid rows

def test_grid_reference_without_analytic(tmp_path):
    spec = tmp_path / "noref.toml"
    spec.write_text('name = "noref"\ndimension = 2\nmodes = 3\nreference = "none"\nshift = 16.0\n'
                    '[potential]\nkind = "harmonic"\n[sampling]\nkind = "gaussian"\n'
                    '[evaluation]\nbox = [[-5.0, 5.0], [-5.0, 5.0]]\n')
    comp = compare([str(spec)], ["lobpcg"], [30, 20])
    # the reference solve uses: order 4, N = 160 in 2D (issue 9, item 9), with its accuracy
    assert comp.reference_name == "grid reference (eigsh, N=160)" and comp.reference_kind == "grid"
    assert [m.label for m in comp.methods] == ["lobpcg N=20", "lobpcg N=30"]  # the reference: no row
    assert [list(g) for g in comp.groups] == [[0], [1, 2]] and comp.complete_last_group
    assert comp.quantum_numbers.shape == (3, 0)
    # exact levels 2, 4, 4: the order-4 grid is within 1e-4, and its error estimate says so
    true_err = np.abs(comp.reference_energies - [2, 4, 4])
    assert np.all(true_err < 1e-4)
    assert np.all(comp.reference_error < 1e-4) and np.all(comp.reference_error > 0)
    assert np.all(comp.reference_error > 0.2 * true_err)
    fine, coarse = comp.methods[1], comp.methods[0]
    assert fine.converged and coarse.mean_relative_error > 2 * fine.mean_relative_error  # order 2 converging
    write_comparison(tmp_path / "c.h5", comp)
    with h5py.File(tmp_path / "c.h5", "r") as h:
        assert h.attrs["reference_name"] == "grid reference (eigsh, N=160)"
        assert h["reference/quantum_numbers"].shape == (3, 0) and len(h["reference"].attrs["quantum_labels"]) == 0
        assert list(h["reference/groups"][()]) == [0, 1, 1] and h["methods/1"].attrs["eigenvectors_omitted"]


def test_nonconverged_lobpcg_is_marked_not_hidden(run_file):
    comp = compare([str(run_file)], ["lobpcg"], [20], max_iter=3)
    row = comp.methods[1]
    assert not row.converged and "not converged" in row.note and row.max_residual > row.tol
    assert comp.methods[0].grid_comparison == ""  # never used as the grid to compare eigenfunctions with
    res = runner.invoke(app, ["compare", "harmonic2d", "--baseline", "lobpcg", "--grid", "20", "--max-iter", "3"])
    assert res.exit_code == 0, res.output
    assert "*" in res.stdout and "no (max residual" in res.stdout


def test_lobpcg_too_few_points_is_a_clear_error():
    res = runner.invoke(app, ["compare", "hydrogen2d", "--baseline", "lobpcg", "--grid", "6"])
    assert res.exit_code == 2
    one_error_line(res, "--grid: lobpcg needs at least 3 x 16 = 48 grid points for 16 modes, got 36")


@pytest.mark.parametrize("args, needle", [
    (["harmonic2d", "--baseline", "eigsh", "--max-memory", "1KB"], "--max-memory: grid N=200"),
    (["harmonic2d", "--baseline", "eigsh", "--max-memory", "lots"], "--max-memory: cannot read"),
    (["harmonic2d", "--baseline", "eigsh", "--grid", "1"], "--grid: need integers >= 2"),
    (["harmonic2d", "--baseline", "dense", "--grid", "100"], "--baseline: dense: grid N=100"),
    (["hydrogen2d", "--baseline", "eigsh", "--grid", "51"], "--grid: N=51 puts a grid point"),
    (["harmonic2d", "--preconditioner", "jacobi"], "--preconditioner"),
    (["nosuchproblem"], "neither a results file"),
    (["missing.h5"], "no such file"),
])
def test_bad_input_one_line_exit_2(args, needle):
    res = runner.invoke(app, ["compare", *args])
    assert res.exit_code == 2, res.output
    one_error_line(res, needle)


def test_option_parsers():
    assert parse_memory("4GiB") == 4 * 2**30 and parse_memory("500MB") == 500 * 10**6 and parse_memory("2G") == 2**31
    assert parse_memory(None) is None and parse_memory("1e9") == 10**9
    assert parse_grid("400, 200,200") == [200, 400]
    assert parse_box("50") == ((-50.0, 50.0),) and parse_box("0,10") == ((0.0, 10.0),)
    with pytest.raises(ComparisonError) as err:
        parse_grid("200,x")
    assert err.value.parameter == "grid" and "--" not in str(err.value)


def test_library_errors_name_parameters_not_flags():
    with pytest.raises(ComparisonError) as err:
        compare(["harmonic2d"], ["arnoldi"])
    assert err.value.parameter == "method" and "--" not in str(err.value)
    with pytest.raises(ComparisonError) as err:
        compare(["harmonic2d"], ["eigsh"], [1])
    assert err.value.parameter == "grid"
    res = runner.invoke(app, ["compare", "harmonic2d", "--preconditioner", "jacobi"])
    one_error_line(res, "--preconditioner: only lobpcg uses a preconditioner")


# ---------------------------------------------------------------------------- output

def test_json_output_parses():
    res = runner.invoke(app, ["compare", "harmonic2d", "--baseline", "eigsh", "--grid", "30", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["format"] == "nsvd-compare" and data["reference"]["name"] == "harmonic (analytic)"
    (m,) = data["methods"]
    assert m["label"] == "eigsh N=30" and m["kind"] == "grid" and m["converged"] is True
    assert len(m["energies"]) == 15 and m["mean_relative_error"] == pytest.approx(np.mean(m["relative_errors"]))


def test_output_file_schema_and_overwrite(run_file, tmp_path):
    out = tmp_path / "cmp.h5"
    args = ["compare", "harmonic2d", str(run_file), "--baseline", "eigsh", "--baseline", "lobpcg",
            "--grid", "20,30", "-o", str(out)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    with h5py.File(out, "r") as h:
        assert h.attrs["format"] == "nsvd-compare" and h.attrs["format_version"] == 1
        assert h.attrs["problem"] == "harmonic2d" and h.attrs["reference_name"] == "harmonic (analytic)"
        assert json.loads(h.attrs["spec_json"])["modes"] == 15
        assert h["reference/energies"].shape == (15,) and h["reference/quantum_numbers"].shape == (15, 2)
        assert h["reference/quantum_numbers"].dtype.kind == "i"
        assert list(h["reference"].attrs["quantum_labels"]) == ["n_1", "n_2"]
        labels = [h[f"methods/{i}"].attrs["label"] for i in range(len(h["methods"]))]
        assert labels == ["h.h5", "eigsh N=20", "lobpcg N=20", "eigsh N=30", "lobpcg N=30"]
        neural = h["methods/0"]
        assert (neural.attrs["kind"], neural.attrs["method"], neural.attrs["grid"]) == ("neural", "nsvd", 0)
        assert neural.attrs["peak_memory"] == -1 and neural.attrs["iterations"] == 100
        assert neural["energies"].shape == (15,) and np.isnan(neural["energies"][3:]).all()  # 3 modes only
        assert neural["angle_distances"].shape == (15,) and neural["subspace_distances"].shape == (5,)
        assert np.isfinite(neural["subspace_distances"][:2]).all() and 0 <= neural.attrs["orthogonality"] < 1
        assert neural.attrs["grid_comparison"] == "eigsh N=30"
        for i in range(1, 5):
            g = h[f"methods/{i}"]
            n = g.attrs["grid"]
            assert g.attrs["kind"] == "grid" and g.attrs["method"] in ("eigsh", "lobpcg")
            assert g["eigenvectors"].shape == (n * n, 15) and g["points"].shape == (n * n, 2)
            assert not g.attrs["eigenvectors_omitted"] and g.attrs["converged"]
            assert g.attrs["wall_time"] > 0 and g.attrs["iterations"] > 0
            rel = g["relative_errors"][()]
            assert g.attrs["mean_relative_error"] == pytest.approx(rel.mean()) and rel.max() < 0.5
    before = out.read_bytes()
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and out.read_bytes() == before
    one_error_line(res, "--overwrite")


def test_large_eigenvectors_are_omitted(tmp_path, monkeypatch):
    comp = compare(["harmonic2d"], ["eigsh"], [20], keep_eigenvectors=True)
    monkeypatch.setattr("nsvd_cli.files.compare.EIGENVECTOR_LIMIT", 1000)  # the writer's limit
    write_comparison(tmp_path / "c.h5", comp)
    with h5py.File(tmp_path / "c.h5", "r") as h:
        g = h["methods/0"]
        assert g.attrs["eigenvectors_omitted"] and "eigenvectors" not in g and "points" not in g


def test_fail_above_exits_1():
    args = ["compare", "harmonic2d", "--baseline", "eigsh", "--grid", "20"]
    res = runner.invoke(app, [*args, "--fail-above", "1e-6"])
    assert res.exit_code == 1
    one_error_line(res, "--fail-above 1e-06: mean relative error above the threshold for eigsh N=20")
    assert runner.invoke(app, [*args, "--fail-above", "0.5"]).exit_code == 0


# ---------------------------------------------------------------------------- issue 9

def _oscillator_spec(tmp_path, constant):
    path = tmp_path / f"osc{constant:+g}.toml"
    path.write_text(f'name = "osc"\ndimension = 1\nmodes = 3\npotential = "x0**2 + ({constant})"\nshift = 10.0\n'
                    '[sampling]\nkind = "gaussian"\n[evaluation]\nbox = [[-8.0, 8.0]]\n')
    return path


def test_energies_near_zero_are_judged_like_shifted_ones(tmp_path):
    """x^2 - 1 (levels 0, 2, 4) and x^2 + 1 (levels 2, 4, 6): same verdicts (item 4).

    -d^2/dx^2 + x^2 has levels 2n + 1 (kappa = 1); the mean level spacing is 2.
    """
    results = {}
    for c in (-1.0, 1.0):
        comp = compare([str(_oscillator_spec(tmp_path, c))], ["dense"], [400], order=4)
        np.testing.assert_allclose(comp.reference_energies, np.array([1.0, 3.0, 5.0]) + c, atol=1e-6)
        assert comp.error_floor == pytest.approx(2.0, rel=1e-6)
        (row,) = comp.methods
        # by hand: |E - E_ref| / max(|E_ref|, 2)
        np.testing.assert_allclose(row.relative_errors, np.abs(row.energies - comp.reference_energies)
                                   / np.maximum(np.abs(comp.reference_energies), 2.0))
        results[c] = row
    assert results[-1.0].converged and results[1.0].converged
    assert results[-1.0].mean_relative_error < 1e-5 and results[1.0].mean_relative_error < 1e-5
    res = runner.invoke(app, ["compare", str(_oscillator_spec(tmp_path, -1.0)), "-b", "dense", "--grid", "400",
                              "--order", "4", "--fail-above", "1e-4"])
    assert res.exit_code == 0, res.output
    assert "max(|E_ref|, Δ)" in res.stdout and "estimated error" in res.stdout


def test_match_levels_by_overlap():
    """Reference modes e0, (e1, e2) degenerate, e3; computed vectors in another order and rotated."""
    ref = np.eye(6)[:, :4]
    c, s = np.cos(0.3), np.sin(0.3)
    computed = np.stack([ref[:, 3], c * ref[:, 1] + s * ref[:, 2], ref[:, 0], -s * ref[:, 1] + c * ref[:, 2]], 1)
    assignment, overlaps = match_levels(ref, computed, [[0], [1, 2], [3]], np.ones(6))
    assert list(assignment) == [2, 1, 3, 0]
    np.testing.assert_allclose(overlaps, 1.0)


def test_hydrogen_grid_levels_carry_labels_by_overlap():
    """The row labelled l = 0 holds a rotation-invariant grid level, not merely the next sorted one (item 10).

    Checked on the grid eigenvectors themselves: an l = 0 state is unchanged by a 90 degree
    rotation of the (square, origin-centred) grid, a real l = +-1 state (cos or sin of the
    angle) is mapped to an orthogonal one.
    """
    comp = compare(["hydrogen2d"], ["eigsh"], [80], keep_eigenvectors=True)
    (row,) = comp.methods
    assert comp.labels_matched and sorted(row.assignment) == list(range(16))
    l_index = list(comp.quantum_labels).index("l")
    cell = np.prod(row.spacing)
    for j in range(4):  # (0, 0) and the n = 1 shell: one l = 0, two |l| = 1
        v = row.eigenvectors[:, j].reshape(80, 80)
        invariance = abs(np.sum(v * np.rot90(v)) * cell)
        if comp.quantum_numbers[j, l_index] == 0:
            assert invariance > 0.99, j
        else:
            assert invariance < 0.01, j
    assert row.assignment[1] != 1  # sorted order would have put an |l| = 1 level there at N = 80


def test_long_compare_prints_plain_progress_lines(monkeypatch):
    monkeypatch.setenv("NSVD_PROGRESS_INTERVAL", "0.01")
    res = runner.invoke(app, ["compare", "harmonic2d", "--baseline", "lobpcg", "--grid", "40"])
    assert res.exit_code == 0, res.output
    lines = [line for line in res.stderr.splitlines() if line.startswith("compare: ")]
    assert lines, res.stderr
    assert any("lobpcg N=40: iteration" in line and "max residual" in line for line in lines)


# ------------------------------------------------------------ several methods and seeds (issue 14)

@pytest.fixture(scope="module")
def lora_file(tmp_path_factory):
    """A short harmonic2d run of the unnested LoRA objective, seed 1 (3 modes, 100 iterations)."""
    from nsvd_cli.solve import solve
    from nsvd_cli.spec import load_spec

    spec = load_spec("harmonic2d", overrides={"training.iterations": 100, "training.eval_every": 50,
                                              "training.batch_size": 128, "model.hidden": [32, 32],
                                              "model.fourier_features": 16, "modes": 3, "training.method": "lora",
                                              "training.seed": 1})
    path = tmp_path_factory.mktemp("lora") / "h-seed1.h5"
    solve(spec, path)
    return path


def test_rows_are_labelled_with_method_and_seed(run_file, lora_file, tmp_path):
    """Each results-file row names the training method and seed of its run: in the row, the
    JSON, the tables and the -o file."""
    from nsvd_cli.files.compare import load_compare

    comp = compare([str(run_file), str(lora_file)])
    a, b = comp.methods
    assert (a.training_method, a.seed, a.run_label) == ("nestedlora", 0, "h.h5 (nestedlora, seed 0)")
    assert (b.training_method, b.seed, b.run_label) == ("lora", 1, "h-seed1.h5 (lora, seed 1)")
    assert [(m["training_method"], m["seed"]) for m in comp.to_dict()["methods"]] == [("nestedlora", 0), ("lora", 1)]
    out = tmp_path / "cmp.h5"
    res = runner.invoke(app, ["compare", str(run_file), str(lora_file), "-o", str(out)])
    assert res.exit_code == 0, res.output
    flat = " ".join(res.stdout.split())
    assert "(lora, seed 1)" in flat and "(nestedlora, seed 0)" in flat
    with h5py.File(out, "r") as h:
        assert [(h[f"methods/{i}"].attrs["training_method"], h[f"methods/{i}"].attrs["seed"]) for i in (0, 1)] == [
            ("nestedlora", 0), ("lora", 1)]
    back = load_compare(out).methods
    assert [(m.training_method, m.seed, m.run_label) for m in back] == [
        ("nestedlora", 0, "h.h5 (nestedlora, seed 0)"), ("lora", 1, "h-seed1.h5 (lora, seed 1)")]
    data = json.loads(runner.invoke(app, ["compare", str(lora_file), "--json"]).stdout)
    assert (data["methods"][0]["training_method"], data["methods"][0]["seed"]) == ("lora", 1)
