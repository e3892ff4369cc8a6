"""Data-parallel training (nsvd_cli.distributed, docs/scaling.md): CPU, gloo, 2 processes.

* one optimisation step with 2 processes equals one step of a single process on the union
  of the two ranks' points (global layout [A_0, A_1, B_0, B_1]), for both nestings and with
  the Gram batch option;
* ``nsvd solve --nproc 2`` writes one results file (rank 0) that ``nsvd_cli.load`` reads;
* a 2-process run stopped by SIGTERM keeps a checkpoint that a 1-process --resume completes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

ROOT = Path(__file__).resolve().parents[1]
#: (nesting, gram_batch, method) of the exactness test
CONFIGS = [("sequential", 0, "nestedlora"), ("joint", 0, "nestedlora"), ("sequential", 8, "nestedlora"),
           ("sequential", 0, "lora"), ("sequential", 0, "neuralef")]
LOCAL_BATCH, GRAM_LOCAL = 8, 4


class FixedSampling:
    """Returns the given point sets in turn (batch, then Gram batch), with the log density of
    the problem's sampling; checks that the requested count is the expected one."""

    def __init__(self, batches, log_density):
        self.batches, self.log_density, self.calls = list(batches), log_density, 0

    def sample(self, n, generator, dtype=torch.float32):
        x = self.batches[self.calls % len(self.batches)]
        self.calls += 1
        assert x.shape[0] == n, (x.shape, n)
        return x.to(dtype)


def _points(seed: int, n: int) -> torch.Tensor:
    return 2.0 * torch.randn(n, 1, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _one_step(config, batches, dist=None, batch=2 * LOCAL_BATCH, device="cpu"):
    """Parameters and gradients after one fit iteration (harmonic oscillator, D = 1, L = 3)."""
    from nsvd_cli.distributed import SINGLE
    from nsvd_cli.models import build_model
    from nsvd_cli.problem import Problem
    from nsvd_cli.spec import load_spec
    from nsvd_cli.train import fit

    nesting, gram_batch, method = config
    world = dist.world_size if dist is not None else 1
    spec = load_spec("harmonic", dimension=1, overrides={
        "modes": 3, "training.batch_size": batch, "training.gram_batch": 2 * GRAM_LOCAL if gram_batch else 0,
        "training.nesting": nesting, "training.method": method, "training.iterations": 1,
        "training.dtype": "float64", "model.hidden": [8, 8], "training.optimizer": "rmsprop"})
    assert world in (1, 2)
    problem = Problem.from_spec(spec)
    gen = torch.Generator().manual_seed(7)
    model = build_model(1, 3, spec.model, gen, problem.sampling.log_density).to(device, torch.float64)
    sampling = FixedSampling(batches, problem.sampling.log_density)
    fit(model, problem.operator, sampling, spec.training, generator=gen, dist=dist or SINGLE, device=device)
    return {n: (p.detach().cpu().clone(), p.grad.cpu().clone()) for n, p in model.named_parameters()}


def _rank_batches(rank: int, gram: bool):
    batches = [_points(100 + rank, LOCAL_BATCH)]
    return batches + [_points(200 + rank, GRAM_LOCAL)] if gram else batches


def _worker(rank: int, world: int, init_file: str, out: str, device: str = "cpu") -> None:
    torch.set_num_threads(1)
    from nsvd_cli import distributed

    device = f"cuda:{rank}" if device == "cuda" else device
    ctx = distributed.init(rank, world, init_method=f"file://{init_file}", device=device)
    try:
        results = [_one_step(c, _rank_batches(rank, c[1] > 0), ctx, device=device) for c in CONFIGS]
        torch.save(results, f"{out}.{rank}")
    finally:
        distributed.shutdown()


@pytest.fixture(scope="module")
def two_rank_steps(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dist")
    mp.spawn(_worker, args=(2, str(tmp / "init"), str(tmp / "out")), nprocs=2, join=True)
    return [torch.load(tmp / f"out.{r}", weights_only=False) for r in range(2)]


def _union(config):
    """The single-process batch: the union of the ranks' points, halves [A_0, A_1, B_0, B_1]."""
    h = LOCAL_BATCH // 2
    x0, x1 = _points(100, LOCAL_BATCH), _points(101, LOCAL_BATCH)
    batches = [torch.cat([x0[:h], x1[:h], x0[h:], x1[h:]])]
    if config[1]:
        batches.append(torch.cat([_points(200, GRAM_LOCAL), _points(201, GRAM_LOCAL)]))
    return batches


@pytest.mark.parametrize("index", range(len(CONFIGS)), ids=["-".join(map(str, c)) for c in CONFIGS])
def test_two_processes_step_equals_one_process_on_the_union(two_rank_steps, index):
    config = CONFIGS[index]
    single = _one_step(config, _union(config))
    for rank in range(2):
        got = two_rank_steps[rank][index]
        for name, (p, g) in single.items():
            q, h = got[name]
            assert torch.allclose(h, g, rtol=1e-6, atol=1e-9 * g.abs().max()), (rank, name, "gradient")
            assert torch.allclose(q, p, rtol=1e-6, atol=1e-12), (rank, name, "parameters")


def test_averaging_per_rank_objectives_would_be_biased(two_rank_steps):
    """The test is sharp: the mean of the two per-rank (local-batch) gradients differs from the
    exact global gradient (the objective is quadratic in the Gram matrix)."""
    config = CONFIGS[0]
    exact = _one_step(config, _union(config))
    local = [_one_step(config, _rank_batches(r, False), batch=LOCAL_BATCH) for r in range(2)]
    diffs = [float((0.5 * (local[0][n][1] + local[1][n][1]) - g).abs().max() / g.abs().max())
             for n, (_, g) in exact.items()]
    assert max(diffs) > 1e-3


def _env():
    return dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")


def _solve_cmd(out, iters, *extra):
    return [sys.executable, "-m", "nsvd_cli", "solve", "harmonic", "--dim", "1", "--modes", "2", "--iters",
            str(iters), "--batch-size", "32", "-o", str(out), "-q", *extra]


def test_nproc_2_writes_one_results_file(tmp_path):
    import nsvd_cli

    out = tmp_path / "r.h5"
    run = subprocess.run(_solve_cmd(out, 20, "--nproc", "2"), capture_output=True, text=True, env=_env(),
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.h5"]  # no checkpoint, lock or per-rank file left
    assert run.stdout.count("results written to") == 1  # rank 1 is silent
    res = nsvd_cli.load(out)
    assert res.run["processes"] == 2 and res.run["iterations"] == 20
    assert len(res.eigenvalues) == 2


def test_sigterm_stops_both_ranks_and_one_process_resumes(tmp_path):
    import nsvd_cli

    out = tmp_path / "r.h5"
    cmd = [a for a in _solve_cmd(out, 100000, "--nproc", "2") if a != "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(_env(), NSVD_PROGRESS_INTERVAL="0.2"))
    try:
        deadline = time.time() + 90
        for line in proc.stdout:  # a plain progress line: both ranks are in the training loop
            if line.startswith("training: iteration") or time.time() > deadline:
                break
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143, err[-2000:]
    ckpt = tmp_path / "r.h5.ckpt"
    assert ckpt.exists() and not out.exists()
    assert "--resume" in err and "--nproc 2" in err  # the resume hint repeats the user's command
    done = torch.load(ckpt, weights_only=True)
    assert done["world_size"] == 2 and len(done["sample_generators"]) == 2 and 0 < done["iteration"] < 100000
    total = done["iteration"] + 10
    run = subprocess.run(_solve_cmd(out, total, "--resume"), capture_output=True, text=True, env=_env(), timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    res = nsvd_cli.load(out)
    assert res.run["iterations"] == total and res.run["processes"] == 1
    assert not ckpt.exists()


def _rollback_worker(rank: int, world: int, init_file: str, out: str) -> None:
    """12 iterations of 2 processes; rank 1's third batch holds a NaN point."""
    torch.set_num_threads(1)
    from nsvd_cli import distributed
    from nsvd_cli.models import build_model
    from nsvd_cli.problem import Problem
    from nsvd_cli.spec import load_spec
    from nsvd_cli.train import fit

    ctx = distributed.init(rank, world, init_method=f"file://{init_file}")
    try:
        spec = load_spec("harmonic", dimension=1, overrides={
            "modes": 2, "training.batch_size": 32, "training.iterations": 12, "model.hidden": [8, 8]})
        problem = Problem.from_spec(spec)
        gen = torch.Generator().manual_seed(spec.training.seed)
        model = build_model(1, 2, spec.model, gen, problem.sampling.log_density)
        real, calls = problem.sampling.sample, {"n": 0}

        def sample(n, generator, dtype=torch.float32):
            calls["n"] += 1
            x = real(n, generator, dtype=dtype)
            return x * float("nan") if rank == 1 and calls["n"] == 3 else x

        problem.sampling.sample = sample
        with pytest.warns(UserWarning, match="non-finite loss at iteration 3: rolled back to iteration 0"):
            state = fit(model, problem.operator, problem.sampling, spec.training, generator=gen, dist=ctx)
        torch.save({"params": [p.detach().clone() for p in model.parameters()], "calls": calls["n"],
                    "rollbacks": state.history["rollbacks"], "iteration": state.iteration}, f"{out}.{rank}")
    finally:
        distributed.shutdown()


def test_a_non_finite_loss_on_one_rank_rolls_back_every_rank_at_the_next_check(tmp_path):
    """The NaN of rank 1's points reaches the global objective on both ranks; the check at
    iteration 10 (the logging cadence) rolls both back to iteration 0; both then finish the
    12 iterations with the same finite parameters."""
    mp.spawn(_rollback_worker, args=(2, str(tmp_path / "init"), str(tmp_path / "out")), nprocs=2, join=True)
    got = [torch.load(tmp_path / f"out.{r}", weights_only=False) for r in range(2)]
    for g in got:
        assert g["iteration"] == 12 and g["calls"] == 10 + 12
        assert [(r["iteration"], r["restored_to"], r["learning_rate_factor"]) for r in g["rollbacks"]] == [(3, 0, 0.5)]
        assert all(torch.isfinite(p).all() for p in g["params"])
    assert all(torch.equal(p, q) for p, q in zip(got[0]["params"], got[1]["params"]))


def test_batch_share_must_divide_and_be_even():
    from nsvd_cli.distributed import DistContext
    from nsvd_cli.errors import SpecError

    assert DistContext(world_size=4).local_share(512) == 128
    with pytest.raises(SpecError) as err:
        DistContext(world_size=3).local_share(512)
    assert err.value.field == "training.batch_size"
    with pytest.raises(SpecError, match="even"):  # 2 x 3 points: each rank needs two halves
        DistContext(world_size=2).local_share(6)
    assert DistContext(world_size=3).local_share(6, "training.gram_batch") == 2


@pytest.mark.parametrize("args, flag", [(["--batch-size", "64", "--nproc", "3"], "--batch-size"),
                                        (["--method", "spin", "--nproc", "2"], "--method")])
def test_nproc_refusals_before_launching(args, flag, tmp_path):
    from typer.testing import CliRunner

    from nsvd_cli.cli.main import app

    res = CliRunner().invoke(app, ["solve", "harmonic", "--dim", "1", "-o", str(tmp_path / "r.h5"), *args])
    assert res.exit_code == 2 and flag in res.output, res.output
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("gpus, local_world, expected", [
    (0, 2, ["cpu", "cpu"]), (1, 2, ["cpu", "cpu"]), (2, 2, ["cuda:0", "cuda:1"]), (4, 2, ["cuda:0", "cuda:1"])])
def test_auto_device_puts_every_rank_on_a_gpu_or_every_rank_on_the_cpu(monkeypatch, gpus, local_world, expected):
    # found on an H200 (one GPU): `--nproc 2` with the default device auto was refused
    from nsvd_cli.distributed import rank_device

    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(local_world))
    assert [rank_device("auto", r) for r in range(local_world)] == expected
    assert rank_device("cpu", 1) == "cpu"
    if gpus:
        assert rank_device("cuda", 1) == "cuda:1"  # explicit cuda is never moved (refused before launching)


def test_nproc_with_fewer_gpus_launches_on_the_cpu_for_auto_and_refuses_cuda(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    import nsvd_cli.cli.parallel as parallel
    from nsvd_cli.cli.main import app

    launched = []
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(parallel, "launch_torchrun", lambda n, threads, argv=None: launched.append(n) or 0)
    cmd = ["solve", "harmonic", "--dim", "1", "-o", str(tmp_path / "r.h5"), "--nproc", "2"]
    res = CliRunner().invoke(app, cmd)
    assert res.exit_code == 0 and launched == [2], res.output
    assert "every process trains on the CPU" in res.output
    res = CliRunner().invoke(app, [*cmd, "--device", "cuda"])
    assert res.exit_code == 2 and "--device" in res.output and "1 visible" in res.output, res.output
    assert launched == [2] and not any(tmp_path.iterdir())


def test_rank_streams_are_distinct_and_reproducible():
    from nsvd_cli.distributed import derive_seed, sample_generator

    seeds = {derive_seed(0, r, i) for r in range(4) for i in (0, 1000)}
    assert len(seeds) == 8 and all(0 <= s < 2**32 for s in seeds)
    assert derive_seed(5, 1, 7) == derive_seed(5, 1, 7)
    a, b = (torch.randn(3, generator=sample_generator(0, r)) for r in (0, 1))
    assert not torch.equal(a, b)


# ---- GPU (bench/gpu_check.sh runs these; skipped without CUDA) ------------------------------

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
needs_two_gpus = pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")


@pytest.mark.gpu
@needs_two_gpus
def test_nccl_step_equals_one_process_on_the_union(tmp_path):
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), str(tmp_path / "out"), "cuda"), nprocs=2, join=True)
    for index, config in enumerate(CONFIGS):
        single = _one_step(config, _union(config), device="cuda:0")
        for rank in range(2):
            got = torch.load(tmp_path / f"out.{rank}", weights_only=False)[index]
            for name, (p, g) in single.items():
                assert torch.allclose(got[name][1], g, rtol=1e-6, atol=1e-9 * g.abs().max()), (config, rank, name)
                assert torch.allclose(got[name][0], p, rtol=1e-6, atol=1e-12), (config, rank, name)


@pytest.mark.gpu
@needs_cuda
def test_gpu_step_equals_cpu_step():
    """Fixed CPU points moved to the GPU; operator, objective and optimiser on the GPU: the
    same step as on the CPU (float64)."""
    for config in CONFIGS[:3]:
        cpu, gpu = _one_step(config, _union(config)), _one_step(config, _union(config), device="cuda")
        for name, (p, g) in cpu.items():
            assert torch.allclose(gpu[name][1], g, rtol=1e-6, atol=1e-9 * g.abs().max()), (config, name)
            assert torch.allclose(gpu[name][0], p, rtol=1e-6, atol=1e-12), (config, name)


@pytest.mark.gpu
@needs_cuda
def test_gpu_solve_keeps_the_model_on_the_device(tmp_path):
    """A short solve on CUDA: the EMA model evaluated periodically stays on the GPU, the results
    file records the device and loads."""
    import nsvd_cli
    from nsvd_cli.solve import solve
    from nsvd_cli.spec import load_spec

    spec = load_spec("harmonic2d", overrides={"training.iterations": 200, "training.eval_every": 100,
                                              "training.batch_size": 256, "modes": 3, "training.device": "cuda"})
    out = solve(spec, tmp_path / "g.h5")
    res = nsvd_cli.load(out.path)
    assert res.run["device"].startswith("cuda") and res.run["iterations"] == 200
    assert out.evaluation.energies.shape == (3,)
