"""Wave 8 (f), item 1: a potential undefined where training samples fall is refused before
training (it used to roll back three times and end in "training diverged" with nothing naming the
potential); a divergence that still happens says which input of the loss was not finite."""

import math
import textwrap

import pytest
import torch
from typer.testing import CliRunner

from nsvd_cli.cli.main import app
from nsvd_cli.errors import DivergenceError, SpecError
from nsvd_cli.problem import Problem
from nsvd_cli.spec import load_spec

runner = CliRunner()


def _sqrt_spec(tmp_path, sampling='kind = "gaussian"\nstd = 1.0'):
    path = tmp_path / "sqrt.toml"
    path.write_text(textwrap.dedent("""\
        name = "sqrt"
        dimension = 1
        potential = "x0**2 - sqrt(4 - x0**2)"
        shift = 10.0
        modes = 2
        [evaluation]
        box = [[-2.0, 2.0]]
        [sampling]
        """) + sampling + "\n")
    return path


def test_undefined_at_training_samples_is_refused(tmp_path):
    path = _sqrt_spec(tmp_path)
    with pytest.raises(SpecError) as info:
        Problem(load_spec(path)).check()  # V is defined on all of the box [-2, 2]: only the samples miss
    assert info.value.field == "potential"
    msg = info.value.message
    # sqrt(4 - x²) is NaN for |x| > 2: P(|x| > 2) = erfc(2/√2) = 4.55 % of N(0, 1), i.e. 186 ± 13 of 4096
    n = int(msg.split("V is not finite at ")[1].split(" of 4096 training samples")[0])
    p = math.erfc(2 / math.sqrt(2))
    assert abs(n - 4096 * p) < 4 * math.sqrt(4096 * p * (1 - p)), msg
    assert "(sampling gaussian with std = 1)" in msg and "the expression is undefined there" in msg
    x = float(msg.split("e.g. x = [")[1].split("]")[0])
    assert abs(x) > 2, msg  # the example point is one where the square root's argument is negative
    assert 'sampling.kind = "uniform"' in msg


def test_cli_exits_2_naming_the_potential_before_any_step(tmp_path):
    path = _sqrt_spec(tmp_path)
    res = runner.invoke(app, ["solve", str(path), "--iters", "300", "--threads", "1", "-o", str(tmp_path / "o.h5")])
    line = " ".join(res.output.split())
    assert res.exit_code == 2, line
    assert f"error: {path}: potential: V is not finite at" in line
    assert "rolled back" not in line and "diverged" not in line
    assert not (tmp_path / "o.h5").exists()


def test_uniform_sampling_on_the_domain_passes(tmp_path):
    Problem(load_spec(_sqrt_spec(tmp_path, 'kind = "uniform"\nbox = [[-2.0, 2.0]]'))).check()


def test_the_check_leaves_every_random_stream_alone(tmp_path):
    # valid specs must train bit-identically with the check: torch's global stream is untouched and
    # the check's draw is the same on every call (its own seeded generator)
    from nsvd_cli.sampling import fixed_draw

    problem = Problem(load_spec(_sqrt_spec(tmp_path, 'kind = "uniform"\nbox = [[-2.0, 2.0]]')))
    torch.manual_seed(5)
    state = torch.random.get_rng_state()
    problem._check_training_samples()
    assert torch.equal(state, torch.random.get_rng_state())
    a, b = fixed_draw(problem.sampling), fixed_draw(problem.sampling)
    assert torch.equal(a, b) and a.shape == (4096, 1) and bool(((a >= -2) & (a <= 2)).all())


def test_divergence_names_the_potential(tmp_path):
    # fit() itself does not check the spec: the divergence message now says which input was NaN
    from nsvd_cli.models import build_model
    from nsvd_cli.train import fit

    spec = load_spec(_sqrt_spec(tmp_path))
    problem = Problem(spec)
    gen = torch.Generator().manual_seed(0)
    model = build_model(1, 2, spec.model, gen, problem.sampling.log_density)
    tr = spec.training.model_copy(update={"iterations": 20})
    with pytest.raises(DivergenceError) as info:  # at once: no rollback when V itself is NaN (wave 11)
        fit(model, problem.operator, problem.sampling, tr, generator=gen)
    msg = str(info.value)
    assert msg.startswith("training diverged (non-finite loss) at iteration 1: the potential V is not finite at ")
    assert "fix the potential or restrict the sampling" in msg


def test_nonfinite_inputs_names_the_model_or_nothing(tmp_path):
    from nsvd_cli.models import build_model
    from nsvd_cli.problem import nonfinite_inputs

    spec = load_spec(_sqrt_spec(tmp_path, 'kind = "uniform"\nbox = [[-2.0, 2.0]]'))
    problem = Problem(spec)
    model = build_model(1, 2, spec.model, torch.Generator().manual_seed(0), problem.sampling.log_density)
    assert nonfinite_inputs(problem.operator, problem.sampling, model) is None  # all finite: the step diverged
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    assert nonfinite_inputs(problem.operator, problem.sampling, model).startswith("the model's ψ/sqrt(w_tr)")
