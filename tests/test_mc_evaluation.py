"""Monte Carlo evaluation (issue 10): standard errors, gap errors, grid refusals in D >= 4.

The standard errors are checked independently: exact eigenfunctions (the D = 6 harmonic
oscillator) score within a few standard errors of zero error, and the reported standard
errors match the spread of the estimates over independent Monte Carlo rules. Gap errors
and the jackknife are checked against hand computations.
"""

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from nsvd_cli import metrics, montecarlo
from nsvd_cli.cli.main import app
from nsvd_cli.evaluate import evaluate_functions
from nsvd_cli.problem import Conventions
from nsvd_cli.quadrature import monte_carlo_gaussian
from nsvd_cli.references import harmonic_reference

runner = CliRunner()
D, L = 6, 7  # ground state and the first shell of the 6D oscillator: E = 6, 8 (x6)
CONVENTIONS = Conventions(kinetic=1.0, shift=16.0, scale=1.0)


def exact_evaluation(seed, samples=10_000, std=1.0):
    """evaluate_functions on the exact eigenfunctions of V = |x|^2 in 6D (E = 6, 8, ..., 8)."""
    ref = harmonic_reference([1.0] * D, L)
    q = monte_carlo_gaussian(D, std, samples, seed)
    psi = ref.eigenfunctions(q.points)
    scaled = psi * np.sqrt(CONVENTIONS.eigenvalues_from_energies(ref.energies))  # as NestedLoRA learns them
    grads = ref.gradients(q.points) * np.sqrt(CONVENTIONS.eigenvalues_from_energies(ref.energies))[None, :, None]
    ev = evaluate_functions(scaled, grads, (q.points**2).sum(1), q.weights, CONVENTIONS, reference=ref,
                            reference_values=psi, blocks=32)
    return ev, ref


@pytest.fixture(scope="module")
def rules():
    """20 independent Monte Carlo rules (seeds) evaluating the exact eigenfunctions."""
    return [exact_evaluation(seed)[0] for seed in range(20)]


def test_exact_eigenfunctions_score_zero_within_their_standard_errors():
    ev, ref = exact_evaluation(seed=123)
    np.testing.assert_allclose(ref.energies, [6.0] + [8.0] * 6)
    se = ev.stderr
    # signed energy errors within 3 standard errors of 0; the standard errors are not tiny
    z = (ev.energies - ref.energies) / se["energies"]
    assert np.all(np.abs(z) < 3), z
    assert np.all(se["energy_relative_errors"] > 1e-4) and np.all(se["energy_relative_errors"] < 0.05)
    np.testing.assert_allclose(se["energy_relative_errors"], se["energies"] / ref.energies, rtol=1e-9)
    # the Gram matrix of exact eigenfunctions is the identity up to the Monte Carlo noise
    off = ~np.eye(L, dtype=bool)
    assert np.all(np.abs(ev.gram[off]) < 3.5 * se["gram"][off])
    assert ev.max_off_diagonal < 3 * se["max_off_diagonal"] + np.max(se["gram"][off])
    # distances: the learned functions are the reference ones, so 0 up to rounding
    assert np.nanmax(ev.angle_distances) < 1e-6 and np.nanmax(np.abs(ev.subspace_distances)) < 1e-9
    # mode 0 (ground) has no gap; the gap errors are within 3 standard errors of 0
    assert np.isnan(ev.gap_relative_errors[0])
    assert np.all(ev.gap_relative_errors[1:] < 3 * se["gap_relative_errors"][1:])
    # the sample count cannot resolve errors that are pure noise: every mode is flagged
    assert ev.unresolved_modes() == list(range(L))
    assert ev.effective_samples.shape == (L,) and np.all(ev.effective_samples < 10_000)


def test_standard_errors_match_the_spread_over_independent_rules(rules):
    for key in ("energies", "gap_relative_errors"):
        if key == "energies":
            estimates = np.array([ev.energies for ev in rules])
        else:
            estimates = np.array([metrics.gap_relative_errors(ev.energies, ev.reference_energies, signed=True)
                                  for ev in rules])[:, 1:]
        reported = np.array([ev.stderr[key] for ev in rules])[:, -estimates.shape[1]:]
        ratio = estimates.std(axis=0, ddof=1) / reported.mean(axis=0)
        # the empirical std of 20 rules is itself known to ~16 %: per mode within 1.6x, on average within 1.25x
        assert np.all((ratio > 1 / 1.6) & (ratio < 1.6)), (key, ratio)
        assert 1 / 1.25 < np.exp(np.mean(np.log(ratio))) < 1.25, (key, ratio)
    gram = np.array([ev.gram[0, 1:] for ev in rules])
    gram_se = np.array([ev.stderr["gram"][0, 1:] for ev in rules])
    ratio = gram.std(axis=0, ddof=1) / gram_se.mean(axis=0)
    assert 1 / 1.25 < np.exp(np.mean(np.log(ratio))) < 1.25, ratio


def test_deterministic_rule_has_no_standard_errors():
    ref = harmonic_reference([1.0] * D, L)
    q = monte_carlo_gaussian(D, 1.0, 2000, 0)
    psi = ref.eigenfunctions(q.points)
    ev = evaluate_functions(psi, ref.gradients(q.points), (q.points**2).sum(1), q.weights, CONVENTIONS,
                            reference=ref, reference_values=psi)
    assert ev.stderr is None and ev.effective_samples is None and ev.unresolved_modes() == []
    assert "orthogonality_stderr" not in ev.summary() and "mean_gap_relative_error" in ev.summary()


def test_gap_relative_errors_by_hand():
    # E = 3, 5.5, 6.8 against 3, 5, 7: gaps 2.5 and 3.8 against 2 and 4
    np.testing.assert_allclose(metrics.gap_relative_errors([3.0, 5.5, 6.8], [3.0, 5.0, 7.0]), [np.nan, 0.25, 0.05])
    np.testing.assert_allclose(metrics.gap_relative_errors([3.0, 5.5, 6.8], [3.0, 5.0, 7.0], signed=True),
                               [np.nan, 0.25, -0.05])
    # a ground-state error alone shifts every gap: E_0 = 3.1 -> gaps 1.9, 3.9
    np.testing.assert_allclose(metrics.gap_relative_errors([3.1, 5.0, 7.0], [3.0, 5.0, 7.0]), [np.nan, 0.05, 0.025])
    # a level degenerate with the ground state has no gap
    assert np.isnan(metrics.gap_relative_errors([1.0, 1.0], [2.0, 2.0])[1])


def test_jackknife_of_a_mean_is_the_batch_means_standard_error():
    x = np.random.default_rng(0).normal(size=64)
    se = montecarlo.jackknife(lambda idx, factor: {"mean": x[idx].mean()}, len(x), blocks=8)["mean"]
    block_means = x.reshape(8, 8).mean(1)  # for a linear figure the jackknife is exact batch means
    assert se == pytest.approx(block_means.std(ddof=1) / np.sqrt(8), rel=1e-12)


def test_kish_effective_samples_by_hand():
    w = np.full(4, 0.25)
    np.testing.assert_allclose(montecarlo.kish_effective_samples(np.ones((4, 1)), w), [4.0])
    np.testing.assert_allclose(montecarlo.kish_effective_samples(np.array([[1.0], [0], [0], [0]]), w), [1.0])
    # weights x values^2 = 1, 1, 2: (4)^2 / (1 + 1 + 4) = 8/3
    np.testing.assert_allclose(montecarlo.kish_effective_samples(np.array([[1.0], [1.0], [np.sqrt(2)]]),
                                                                 np.ones(3)), [8 / 3])


def test_gaussian_ess_model_and_matched_std():
    # the oscillator's ground state in 6D (psi^2 variance 1/2 per axis) sampled with std 1.5: r^2 = 4.5,
    # (r^2 / sqrt(2 r^2 - 1))^-6 = (sqrt(8) / 4.5)^6 = 0.0624
    assert montecarlo.gaussian_ess_fraction(1.5, [[0.5] * 6])[0] == pytest.approx((np.sqrt(8) / 4.5) ** 6)
    assert montecarlo.gaussian_ess_fraction(0.4, [[0.5] * 6])[0] == 0.0  # r <= 1/sqrt(2): infinite variance
    ev, ref = exact_evaluation(seed=5, samples=20_000, std=1.5)
    assert np.all(ev.effective_samples / 20_000 < 0.1)  # measured like the model: ~6 %
    q = monte_carlo_gaussian(D, 1.5, 20_000, 5)
    std, fraction = montecarlo.matched_std(q.points, ref.eigenfunctions(q.points), q.weights)
    assert 0.85 < std < 1.15 and fraction > 0.3  # narrower than 1.5: several times the effective samples
    better, _ = exact_evaluation(seed=5, samples=20_000, std=std)
    assert np.min(better.effective_samples) > 3 * np.min(ev.effective_samples)


def test_unresolved_modes_rule():
    # resolved when stderr < max(|error|, 1e-4) / 3
    flags = montecarlo.unresolved_modes([0.01, 0.01, 1e-6, 1e-6, 0.5], [0.001, 0.005, 1e-5, 1e-4, 1.0],
                                        [True, True, True, True, False])
    assert flags.tolist() == [False, True, False, True, False]


# ---------------------------------------------------------------------------- CLI, files


@pytest.fixture(scope="module")
def mc_run(tmp_path_factory):
    """A short D = 4 harmonic solve through the CLI (Monte Carlo evaluation, 4000 samples)."""
    import tomli_w

    from nsvd_cli.spec import load_spec, spec_to_dict

    spec = load_spec("harmonic", dimension=4, overrides={
        "modes": 5, "model.hidden": [16], "model.fourier_features": 8, "training.iterations": 20,
        "training.eval_every": 20, "training.checkpoint_every": 20, "training.batch_size": 128,
        "evaluation.samples": 4000})
    folder = tmp_path_factory.mktemp("mc")
    (folder / "h4.toml").write_bytes(tomli_w.dumps(spec_to_dict(spec)).encode())
    res = runner.invoke(app, ["solve", str(folder / "h4.toml"), "-o", str(folder / "h4.h5"), "-q"])
    assert res.exit_code == 0, res.output
    return folder / "h4.h5", res


def test_solve_table_shows_standard_errors_and_the_file_stores_them(mc_run):
    from nsvd_cli.files.results import load

    path, res = mc_run
    assert "gap err %" in res.stdout and " ± " in res.stdout
    assert "Monte Carlo rule, 4000 samples" in res.stdout and "effective samples per mode" in res.stdout
    r = load(path)
    assert r.stderr["energies"].shape == (5,) and r.stderr["gram"].shape == (5, 5)
    assert np.all(r.stderr["energies"] > 0)
    assert r.metrics["gap_relative_error"].shape == (5,) and np.isnan(r.metrics["gap_relative_error"][0])
    assert r.metrics["effective_samples"].shape == (5,) and r.metrics["summary"]["mc_blocks"] == 32
    with h5py.File(path) as h:
        assert "energies_stderr" in h["eigenvalues"] and "angle_distance_stderr" in h["metrics"]
    # the stored standard errors are those compare recomputes on the same rule
    comp = runner.invoke(app, ["compare", str(path), "--json"])
    import json

    neural = json.loads(comp.stdout)["methods"][0]
    # on the CPU to rounding; a run on the GPU (device auto) evaluated there in float32, compare on the CPU
    rtol = 1e-9 if r.run["device"] == "cpu" else 1e-5
    np.testing.assert_allclose(neural["stderr"]["energies"], r.stderr["energies"], rtol=rtol)


def test_results_without_standard_errors_load_as_none(short_run_file):
    from nsvd_cli.files.results import load

    assert load(short_run_file).stderr is None  # deterministic rule (and the layout of older files)


def one_error_line(res, needle):
    lines = [line for line in res.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], res.stderr
    return lines[0]


def test_compare_refuses_a_6d_grid_in_one_line():
    res = runner.invoke(app, ["compare", "harmonic", "--dim", "6", "--baseline", "eigsh"])
    assert res.exit_code == 2
    line = one_error_line(res, "--max-memory")
    assert "N=200 in D = 6" in line and "6.4e+13 points" in line and "PiB" in line and "fits" in line
    res = runner.invoke(app, ["compare", "harmonic", "--dim", "6", "--baseline", "lobpcg", "--grid", "10",
                              "--max-memory", "1GiB"])
    assert res.exit_code == 2
    line = one_error_line(res, "--max-memory")
    # by hand, N = 1e6, L = 7 (the family's 1 + D modes), 13 nonzeros a row: 8NL + 3(12 nnz + 4N) + 8N(D + 1)
    # + 24 nnz + 10 * 8N(L + 2) = (56 + 536 + 312 + 720)e6 bytes = 1.51 GiB
    assert "needs ~1.51 GiB for lobpcg" in line and "above the limit 1 GiB" in line and "N <= 9 per axis fits" in line


def test_compare_without_baselines_builds_no_grid_in_6d():
    res = runner.invoke(app, ["compare", "harmonic", "--dim", "6", "--json"])
    assert res.exit_code == 0, res.output
    import json

    out = json.loads(res.stdout)
    np.testing.assert_allclose(out["reference"]["energies"][:7], [6.0] + [8.0] * 6)
    assert out["methods"] == []


def test_largest_grid_by_hand():
    from nsvd_cli.baselines.memory import estimate_memory, largest_grid

    limit = 2**30
    n = largest_grid(6, 10, "lobpcg", limit, nnz_per_row=13)
    assert estimate_memory(n**6, 10, "lobpcg", 13, dimension=6) <= limit
    assert estimate_memory((n + 1) ** 6, 10, "lobpcg", 13, dimension=6) > limit
    assert largest_grid(6, 10, "lobpcg", 100.0, nnz_per_row=13) == 0
    assert largest_grid(2, 3, "eigsh", 2**40, upto=50) == 50


def _fd_laplacians(fn, x, h=1e-3):
    """Central second differences summed over the axes (independent of any model code)."""
    centre = fn(x)
    lap = -2 * x.shape[1] * centre
    for d in range(x.shape[1]):
        e = np.zeros(x.shape[1])
        e[d] = h
        lap = lap + fn(x + e) + fn(x - e)
    return lap / h**2


def test_local_energy_estimator_is_unbiased_with_far_smaller_standard_errors():
    """psi = psi_0 + 0.3 psi_1 (6D oscillator): Rayleigh quotient (6 + 0.09 * 8) / 1.09 by hand.

    With the Laplacians the energy is the mean local energy; its variance comes only from the
    admixture, so the standard error is several times smaller than the gradient form's on the
    same points and the estimate lies within a few of its standard errors of the exact value."""
    ref = harmonic_reference([1.0] * D, 2)
    q = monte_carlo_gaussian(D, 0.85, 20_000, seed=7)

    def psi(x):
        f = ref.eigenfunctions(x)
        return (f[:, 0] + 0.3 * f[:, 1])[:, None]

    g = ref.gradients(q.points)
    grads = (g[:, 0] + 0.3 * g[:, 1])[:, None, :]
    pot = (q.points**2).sum(1)
    exact = (6 + 0.09 * 8) / 1.09
    plain = evaluate_functions(psi(q.points), grads, pot, q.weights, CONVENTIONS, blocks=32)
    local = evaluate_functions(psi(q.points), grads, pot, q.weights, CONVENTIONS, blocks=32,
                               laplacians=_fd_laplacians(psi, q.points))
    se_plain, se_local = plain.stderr["energies"][0], local.stderr["energies"][0]
    assert abs(local.energies[0] - exact) < 3 * se_local + 1e-5
    assert abs(plain.energies[0] - exact) < 4 * se_plain
    assert se_local < se_plain / 3, (se_local, se_plain)


def test_norm_mass_and_its_standard_error_by_hand():
    """m = sum w psi^2; se^2 = N/(N-1) sum (u - mean u)^2 for u = w psi^2 (one function, 4 points)."""
    values = np.array([[1.0], [2.0], [0.0], [1.0]])
    w = np.full(4, 0.25)
    mass, se = montecarlo.norm_mass(values, w)
    u = np.array([0.25, 1.0, 0.0, 0.25])  # mean 0.375
    assert mass[0] == pytest.approx(1.5)
    assert se[0] == pytest.approx(np.sqrt(4 / 3 * np.sum((u - 0.375) ** 2)))


def test_box_shortfall_needs_a_resolving_standard_error():
    """A missing norm counts only when it exceeds 1 - level and its standard error is below a third of it."""
    got = montecarlo.resolved_shortfall([0.90, 0.90, 0.9995, 1.01], [0.01, 0.05, 0.0, 0.02], level=0.999)
    assert got.tolist() == [True, False, False, False]


def _uniform_box_problem(half_width):
    from nsvd_cli.problem import Problem
    from nsvd_cli.spec import ProblemSpec

    return Problem(ProblemSpec.model_validate({
        "name": "box-mc", "dimension": 3, "shift": 12, "modes": 4, "potential": {"kind": "harmonic"},
        "sampling": {"kind": "gaussian", "std": 1.0},
        "evaluation": {"box": [[-half_width, half_width]] * 3, "quadrature": "monte-carlo", "samples": 20000}}))


def test_uniform_box_mass_warning_only_when_resolved():
    """The 3D oscillator (psi_0^2 of std 1/sqrt2 per axis) in [-12, 12]^3: every state is inside
    to 1e-60, but 20000 uniform points estimate its norm to ~20 % — no box warning from that noise.
    In [-2, 2]^3 the first excited state keeps erf(2)^2 (erf(2) - 4 e^-4/sqrt(pi)) = 94.5 %: warned."""
    from math import erf, exp, pi, sqrt

    assert not any("evaluation box" in w for w in _uniform_box_problem(12.0).warnings())
    small = [w for w in _uniform_box_problem(2.0).warnings() if "evaluation box" in w]
    assert len(small) == 1 and "reference state" in small[0]
    expected = erf(2) ** 2 * (erf(2) - 4 * exp(-4) / sqrt(pi))
    p = _uniform_box_problem(2.0)
    mass, se = montecarlo.norm_mass(p.reference_values, p.quadrature.weights)
    assert abs(mass[1] - expected) < 3 * se[1]


def test_sparse_uniform_samples_are_said_plainly_with_the_matched_std():
    """Uniform points in [-12, 12]^3 for oscillator states: ESS/N ~ 0.1 % (psi^2 fills ~(sqrt(2 pi)/sqrt2/24)^3
    of the box); one warning line naming the fraction and evaluation.std ≈ 1/sqrt2 (the states' width)."""
    from nsvd_cli.cli.uncertainty import sparse_samples_warning
    from nsvd_cli.evaluate import evaluate_functions

    p = _uniform_box_problem(12.0)
    ref, q = p.reference, p.quadrature
    psi = ref.eigenfunctions(q.points)
    lam = p.eigenvalues_from_energies(ref.energies)
    ev = evaluate_functions(psi * np.sqrt(lam), ref.gradients(q.points) * np.sqrt(lam)[None, :, None],
                            p.potential_values, q.weights, p, blocks=32)
    ev.matched_std, _ = montecarlo.matched_std(q.points, psi, q.weights)
    line = sparse_samples_warning(ev, p.spec.evaluation)
    assert line is not None and "\n" not in line and "evaluation.std = " in line
    fraction = float(line.split("only ")[1].split(" %")[0])
    assert 0.01 < fraction < 1.0
    assert 0.5 < float(line.split("evaluation.std = ")[1].split()[0]) < 1.2
    gaussian = evaluate_functions(psi * np.sqrt(lam), ref.gradients(q.points) * np.sqrt(lam)[None, :, None],
                                  p.potential_values, np.full(len(q.weights), 1 / len(q.weights)), p, blocks=32)
    gaussian.effective_samples = np.full(4, 5000.0)
    assert sparse_samples_warning(gaussian, p.spec.evaluation) is None


def test_percent_ranges_and_mode_lists_read_consistently():
    from nsvd_cli.cli.uncertainty import mode_list, percent_range

    assert percent_range(64.0, 100.0) == "64–100 %"
    assert percent_range(0.17, 0.19) == "0.17–0.19 %"
    assert mode_list([4]) == "mode 4" and mode_list([2, 5]) == "modes 2, 5"


def test_monte_carlo_note_prints_percent_ranges_without_exponents():
    """ESS from 64 % to 100 % of N used to print as '(64–1e+02 %)'."""
    from types import SimpleNamespace

    from nsvd_cli.cli.uncertainty import monte_carlo_note, unresolved_warning

    ev = SimpleNamespace(stderr={}, effective_samples=np.array([12800.0, 20000.0]), mc_blocks=32, matched_std=None)
    note = monte_carlo_note(ev, SimpleNamespace(samples=20000, std=0.0))
    assert "effective samples per mode 12800–20000 (64–100 %)" in note and "e+" not in note
    one = SimpleNamespace(unresolved_modes=lambda: [3])
    assert "errors of mode 4 (" in unresolved_warning(one)


def test_table_percentages_keep_small_errors_visible():
    """A relative error of 4.1e-6 is 0.00041 %, not the 0.000 a fixed 3-decimal format printed;
    large ones keep 3 significant digits; the standard error follows with 2."""
    from nsvd_cli.cli.uncertainty import percent, with_stderr

    assert with_stderr(4.1e-6, None, percent, 100) == "0.00041"
    assert with_stderr(0.012345, 2.5e-4, percent, 100) == "1.23 ± 0.025"
    assert with_stderr(float("nan"), None, percent, 100) == "—"
