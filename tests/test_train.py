"""The training loop: divergence, Ctrl-C, resume, schedule, joint nesting, typed events,
and evaluation leaving the live model untouched."""

import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import nsvd_cli.train as train_module
from nsvd_cli.errors import DivergenceError
from nsvd_cli.evaluate import evaluate_model
from nsvd_cli.models import build_model
from nsvd_cli.problem import Problem
from nsvd_cli.solve import solve
from nsvd_cli.spec import load_spec
from nsvd_cli.train import CheckpointSaved, Evaluated, Progress, fit, make_optimizer, make_scheduler

TINY = {"training.iterations": 60, "training.batch_size": 128, "training.eval_every": 1000,
        "training.checkpoint_every": 30, "model.hidden": [16, 16], "model.fourier_features": 8, "modes": 3}


def _harmonic1d(**extra):
    return load_spec("harmonic", dimension=1, overrides={**TINY, **extra})


def _fit(spec, **kwargs):
    problem = Problem.from_spec(spec)
    gen = torch.Generator().manual_seed(spec.training.seed)
    dtype = torch.float64 if spec.training.dtype == "float64" else torch.float32
    model = build_model(spec.dimension, spec.modes, spec.model, gen, problem.sampling.log_density).to(dtype=dtype)
    return problem, fit(model, problem.operator, problem.sampling, spec.training, generator=gen, **kwargs)


def test_non_finite_loss_raises_divergence_error(monkeypatch):
    monkeypatch.setattr(train_module, "nested_lora_loss", lambda f, tf, **kw: (f * tf).sum() * float("nan"))
    with pytest.raises(DivergenceError) as info:
        _fit(_harmonic1d())
    assert info.value.iteration == 1


def test_divergence_and_ctrl_c_exit_codes_through_the_cli(monkeypatch, tmp_path):
    from nsvd_cli.cli.main import app

    runner = CliRunner()
    args = ["solve", "harmonic", "--dim", "1", "--modes", "2", "--iters", "20", "-q", "-o", str(tmp_path / "a.h5")]
    monkeypatch.setattr(train_module, "nested_lora_loss", lambda f, tf, **kw: (f * tf).sum() * float("inf"))
    res = runner.invoke(app, args)
    assert res.exit_code == 1, res.output
    assert "diverged (non-finite loss) at iteration 1" in res.output

    def interrupt(f, tf, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "nested_lora_loss", interrupt)
    res = runner.invoke(app, [*args[:-1], str(tmp_path / "b.h5")])
    assert res.exit_code == 130 and "interrupted" in res.output


def test_resume_gives_the_same_eigenvalues_as_an_uninterrupted_run(tmp_path):
    spec = _harmonic1d()
    straight = solve(spec, tmp_path / "straight.h5")

    def stop_at_30(event):
        if isinstance(event, CheckpointSaved) and event.iteration == 30:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        solve(spec, tmp_path / "resumed.h5", callback=stop_at_30)
    resumed = solve(spec, tmp_path / "resumed.h5", resume=True)
    assert np.allclose(resumed.evaluation.eigenvalues, straight.evaluation.eigenvalues, rtol=1e-10, atol=1e-12)


def test_a_signal_in_the_middle_of_a_step_resumes_exactly(tmp_path, monkeypatch):
    """Found in a new-user trial: a Ctrl-C that arrived inside a step (its samples already
    drawn) saved a checkpoint whose sample generator was one batch ahead of its weights; the
    resumed run then differed from the uninterrupted one (eigenvalues up to 49 % apart). The
    signal now takes effect between steps: resuming repeats the uninterrupted run exactly."""
    import os
    import signal

    from nsvd_cli.distributed import StopRequested

    spec = _harmonic1d()
    straight = solve(spec, tmp_path / "straight.h5")
    real, calls = train_module.nested_lora_loss, []

    def signalled(f, tf, **kw):
        calls.append(1)
        if len(calls) == 41:  # inside iteration 41, after its samples were drawn
            os.kill(os.getpid(), signal.SIGINT)
        return real(f, tf, **kw)

    monkeypatch.setattr(train_module, "nested_lora_loss", signalled)
    with pytest.raises(StopRequested):
        solve(spec, tmp_path / "resumed.h5")
    monkeypatch.setattr(train_module, "nested_lora_loss", real)
    from nsvd_cli.train import load_checkpoint

    assert load_checkpoint(tmp_path / "resumed.h5.ckpt")["iteration"] == 41  # the step was completed
    resumed = solve(spec, tmp_path / "resumed.h5", resume=True)
    assert np.array_equal(resumed.evaluation.eigenvalues, straight.evaluation.eigenvalues)


def test_warmup_cosine_schedule_follows_its_formula():
    spec = _harmonic1d(**{"training.warmup": 10, "training.iterations": 50, "training.learning_rate": 1e-2,
                          "training.final_learning_rate": 1e-4, "training.schedule": "cosine"})
    tr = spec.training
    opt = make_optimizer([torch.nn.Parameter(torch.zeros(1))], tr)
    sched = make_scheduler(opt, tr)
    peak, final, warm, total = 1e-2, 1e-4, 10, 50
    for k in range(total):
        if k < warm:  # linear from 1e-3 * peak to peak
            expected = peak * (1e-3 + (1 - 1e-3) * k / warm)
        else:
            expected = final + (peak - final) * (1 + math.cos(math.pi * (k - warm) / (total - warm))) / 2
        assert opt.param_groups[0]["lr"] == pytest.approx(expected, rel=1e-9), k
        opt.step()
        sched.step()


def test_joint_nesting_with_a_shared_network_lowers_the_loss():
    spec = _harmonic1d(**{"training.nesting": "joint", "model.architecture": "shared", "training.iterations": 150,
                          "training.learning_rate": 3e-3})
    events = []
    _, state = _fit(spec, callback=events.append)
    loss = state.history["loss"]
    assert np.mean(loss[-3:]) < loss[0]
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress and all(np.isfinite(e.eigenvalues).all() and len(e.eigenvalues) == 3 for e in progress)


def test_evaluation_leaves_the_live_model_and_its_ema_untouched():
    spec = _harmonic1d(**{"training.dtype": "float32", "training.eval_every": 20})
    seen = []

    def evaluate(m, iteration):
        seen.append((m, [(p.data_ptr(), p.dtype, p.device) for p in m.parameters()]))
        ev = evaluate_model(m, problem)
        assert ev.eigenvalues.dtype == np.float64
        after = [(p.data_ptr(), p.dtype, p.device) for p in m.parameters()]
        assert after == seen[-1][1]  # neither moved nor cast nor replaced
        return ev.summary()

    problem = Problem.from_spec(spec)
    events = []
    _, state = _fit(spec, evaluate=evaluate, callback=events.append)
    assert len(seen) == 3 and all(m is state.ema.module for m, _ in seen)
    for p in (*state.model.parameters(), *state.ema.parameters()):
        assert p.dtype == torch.float32 and p.device.type == "cpu"
    assert [e.iteration for e in events if isinstance(e, Evaluated)] == [20, 40, 60]


def test_an_ignored_sigint_stays_ignored_during_training():
    """A background job of a shell script ignores SIGINT (so that Ctrl-C in the terminal spares
    it); training must not take that back, while SIGTERM still stops it at a step's end."""
    import signal

    from nsvd_cli.distributed import StopSignals

    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with StopSignals(force_second=True) as signals:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            signal.raise_signal(signal.SIGTERM)
            assert signals.signum == signal.SIGTERM
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, old)
