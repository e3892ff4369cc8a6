"""The device path of training (issue #11, item 2; docs/scaling.md "What runs where"):

* an ordinary iteration (one that neither logs, evaluates, checkpoints nor snapshots) never
  makes the host wait for the device: checked on the CPU by recording every operation that
  would be a device-to-host read (``item``/``bool``/``float``/``int``, ``tolist``,
  ``numpy``, ``cpu``) or a host-to-device copy (``torch.tensor(data)``, ``.to(device=...)``)
  during such iterations;
* a non-finite loss is acted on at the next check iteration, recorded with the iteration
  where it appeared, and never reaches a checkpoint;
* with CUDA (tests marked ``gpu``, skipped otherwise): the same iterations under
  ``torch.cuda.set_sync_debug_mode("error")``, and samples, model, EMA and evaluation on the GPU.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import nsvd_cli.train as train_module
from nsvd_cli.models import build_model
from nsvd_cli.problem import Problem
from nsvd_cli.sampling import GaussianSampling, MixtureSampling, UniformSampling
from nsvd_cli.spec import load_spec
from nsvd_cli.train import CheckpointSaved, fit, load_checkpoint

#: iterations 1..ITERS; with log_every = 1000 and checkpoint_every = 30 the only check iteration is the last
ITERS = 12
BASE = {"training.iterations": ITERS, "training.batch_size": 64, "training.checkpoint_every": 30,
        "training.eval_every": 1000, "model.hidden": [8, 8], "modes": 3}


def _setup(name, dim=None, device="cpu", **extra):
    overrides = {**BASE, **extra}
    spec = load_spec(name, dimension=dim, overrides=overrides) if dim else load_spec(name, overrides=overrides)
    problem = Problem.from_spec(spec)
    gen = torch.Generator().manual_seed(spec.training.seed)
    dtype = torch.float64 if spec.training.dtype == "float64" else torch.float32
    model = build_model(spec.dimension, spec.modes, spec.model, gen, problem.sampling.log_density).to(device, dtype)
    return spec, problem, gen, model


#: operations whose output shape depends on the data: on a GPU the host waits for the size
#: (boolean-mask indexing, ``index`` with a bool index, is recorded too)
_DATA_DEPENDENT_SHAPES = {"nonzero", "masked_select", "unique", "_unique", "_unique2", "unique_consecutive",
                          "unique_dim", "repeat_interleave"}


class _HostTransfers(TorchDispatchMode):
    """Records the operations that, on a GPU, read device memory from the host
    (``_local_scalar_dense``: item, bool, float, int) or copy host data to the device
    (``lift_fresh``: torch.tensor(data); ``_to_copy`` with an explicit device), and those
    whose output shape depends on the data (:data:`_DATA_DEPENDENT_SHAPES`). Scalars
    read from tensors in ``allowed`` (CPU-resident bookkeeping: the optimiser's step
    counts, the EMA's counter) are not recorded."""

    def __init__(self, allowed=()):
        super().__init__()
        self.allowed, self.seen = {t.data_ptr() for t in allowed}, []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = str(func)
        if name.startswith("aten._local_scalar_dense") and args[0].data_ptr() not in self.allowed:
            self.seen.append(name)
        elif name.startswith("aten.lift_fresh") or (name.startswith("aten._to_copy") and "device" in kwargs):
            self.seen.append(name)
        elif name.split(".")[1] in _DATA_DEPENDENT_SHAPES:
            self.seen.append(name)
        elif name.split(".")[1] in ("index", "index_put", "index_put_") and any(
                torch.is_tensor(i) and i.dtype == torch.bool for i in args[1]):
            self.seen.append(name + " (boolean mask)")
        return func(*args, **kwargs)


def _record_ordinary_iterations(monkeypatch, loop_cls=train_module._Loop):
    """Patch ``_Loop.step`` so that iterations 2..ITERS-1 run under :class:`_HostTransfers`
    with ``Tensor.tolist/numpy/cpu`` recorded too; returns the list of what was seen."""
    seen, real_step = [], loop_cls.step
    python_level = {name: getattr(torch.Tensor, name) for name in ("tolist", "numpy", "cpu")}

    def recording(name):
        def method(self, *a, **k):
            seen.append(f"Tensor.{name}")
            return python_level[name](self, *a, **k)
        return method

    def step(self):
        if not 1 <= self.state.iteration < ITERS - 1:
            return real_step(self)
        allowed = [s["step"] for s in self.optimizer.state.values() if torch.is_tensor(s.get("step"))]
        mode = _HostTransfers([*allowed, self.ema.n_averaged])
        with monkeypatch.context() as m:
            for name in python_level:
                m.setattr(torch.Tensor, name, recording(name))
            with mode:
                real_step(self)
        seen.extend(mode.seen)

    monkeypatch.setattr(loop_cls, "step", step)
    return seen


@pytest.mark.parametrize("name, dim, extra", [
    ("harmonic", 2, {"training.dtype": "float32"}),
    ("harmonic", 1, {"training.gram_batch": 32, "training.nesting": "joint"}),
    ("hydrogen2d", None, {"training.dtype": "float32"}),  # mixture sampling, Coulomb potential
    ("harmonic", 1, {"training.method": "lora"}),
    ("harmonic", 1, {"training.method": "neuralef"}),
    ("harmonic", 1, {"training.method": "spin"}),
])
def test_ordinary_iterations_make_no_host_device_transfer(monkeypatch, name, dim, extra):
    spec, problem, gen, model = _setup(name, dim, **extra)
    seen = _record_ordinary_iterations(monkeypatch)
    state = fit(model, problem.operator, problem.sampling, spec.training, generator=gen, log_every=1000)
    assert state.iteration == ITERS and len(state.history["loss"]) == 1  # logged once: the last iteration
    assert seen == [], sorted(set(seen))


def test_the_recorder_sees_a_host_read():
    """The recorder is not blind: a scalar read and a boolean mask are what it reports."""
    x = torch.ones(3)
    mode = _HostTransfers()
    with mode:
        float(x.sum())
        x[x > 0]
        x[torch.zeros(2, dtype=torch.long)]  # a gather with an integer index: no size to wait for
    assert mode.seen == ["aten._local_scalar_dense.default", "aten.index.Tensor (boolean mask)"]


def test_samplers_draw_on_the_generator_device_with_the_documented_law():
    """Points come back on the generator's device, with the requested dtype; their moments
    match the distribution (Gaussian std 2: variance 4; uniform on [-1, 3]: mean 1,
    variance 16/12; mixture 1/2 N(0, 1) + 1/2 N(0, 3^2): variance 5)."""
    gen = torch.Generator().manual_seed(0)
    n = 40000
    for sampling, mean, var in [(GaussianSampling(2, 2.0), 0.0, 4.0), (UniformSampling([(-1.0, 3.0)]), 1.0, 16 / 12),
                                (MixtureSampling(1, [1.0, 3.0], [1.0, 1.0]), 0.0, 5.0)]:
        x = sampling.sample(n, gen, dtype=torch.float64)
        assert x.device == gen.device and x.dtype == torch.float64
        assert abs(x.mean().item() - mean) < 5 * math.sqrt(var / n)
        assert x.var().item() == pytest.approx(var, rel=0.05)
        assert sampling.log_density(x).shape == (n,)


def test_non_finite_loss_is_acted_on_at_the_next_check_and_recorded_where_it_appeared(monkeypatch):
    """NaN at iteration 3; the check at iteration 10 (log_every) rolls back to the snapshot of
    iteration 0 with the learning rate halved; the run then completes with finite weights."""
    spec, problem, gen, model = _setup("harmonic", 1, **{"training.iterations": 20})
    calls = {"n": 0}
    real = train_module.nested_lora_loss

    def nan_at_3(f, tf, **kw):
        calls["n"] += 1
        loss = real(f, tf, **kw)
        return loss * float("nan") if calls["n"] == 3 else loss

    monkeypatch.setattr(train_module, "nested_lora_loss", nan_at_3)
    with pytest.warns(UserWarning, match="non-finite loss at iteration 3: rolled back to iteration 0"):
        state = fit(model, problem.operator, problem.sampling, spec.training, generator=gen, log_every=10)
    (record,) = state.history["rollbacks"]
    assert record["iteration"] == 3 and record["restored_to"] == 0 and record["learning_rate_factor"] == 0.5
    assert math.isnan(record["loss"])
    assert calls["n"] == 10 + 20  # ten iterations, rolled back, then twenty
    assert state.history["iteration"] == [10, 20] and np.isfinite(state.history["loss"]).all()
    assert all(torch.isfinite(p).all() for p in (*state.model.parameters(), *state.ema.parameters()))


def test_an_interrupt_after_an_unchecked_non_finite_loss_keeps_the_last_good_state(monkeypatch, tmp_path):
    """NaN at iteration 3, Ctrl-C at iteration 6 (before any check): the checkpoint holds the
    snapshot of iteration 0, with finite weights."""
    spec, problem, gen, model = _setup("harmonic", 1, **{"training.iterations": 20})
    calls = {"n": 0}
    real = train_module.nested_lora_loss

    def nan_then_interrupt(f, tf, **kw):
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt
        loss = real(f, tf, **kw)
        return loss * float("nan") if calls["n"] == 3 else loss

    monkeypatch.setattr(train_module, "nested_lora_loss", nan_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        fit(model, problem.operator, problem.sampling, spec.training, generator=gen, log_every=10,
            checkpoint=tmp_path / "c.pt")
    ckpt = load_checkpoint(tmp_path / "c.pt")
    assert ckpt["iteration"] == 0
    assert all(torch.isfinite(t).all() for t in (*ckpt["model"].values(), *ckpt["ema"].values())
               if t.is_floating_point())


# ---- CUDA (bench/gpu_check.sh runs these; skipped without CUDA) ------------------------------

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("name, dim", [("harmonic", 2), ("hydrogen2d", None)])
def test_gpu_ordinary_iterations_never_synchronise(monkeypatch, name, dim):
    """Iterations 2..ITERS-1 under ``set_sync_debug_mode("error")`` (any synchronising CUDA
    call raises); samples, model, EMA and the evaluated model all on the GPU."""
    spec, problem, gen, model = _setup(name, dim, device="cuda", **{"training.dtype": "float32"})
    sample_devices, eval_devices, real_step = set(), set(), train_module._Loop.step
    real_sample = problem.sampling.sample

    def sample(n, generator, dtype=torch.float32):
        x = real_sample(n, generator, dtype=dtype)
        sample_devices.add(x.device.type)
        return x

    def step(self):
        strict = 1 <= self.state.iteration < ITERS - 1
        torch.cuda.set_sync_debug_mode("error" if strict else "default")
        try:
            real_step(self)
        finally:
            torch.cuda.set_sync_debug_mode("default")

    def evaluate(ema_model, iteration):
        from nsvd_cli.evaluate import evaluate_model

        eval_devices.update(p.device.type for p in ema_model.parameters())
        hook = ema_model.register_forward_pre_hook(lambda m, args: eval_devices.add(args[0].device.type))
        try:
            return evaluate_model(ema_model, problem).summary()
        finally:
            hook.remove()

    monkeypatch.setattr(problem.sampling, "sample", sample)
    monkeypatch.setattr(train_module._Loop, "step", step)
    state = fit(model, problem.operator, problem.sampling, spec.training, generator=gen, device="cuda",
                log_every=1000, evaluate=evaluate)
    assert state.iteration == ITERS
    assert sample_devices == {"cuda"} and eval_devices == {"cuda"}
    assert {p.device.type for p in (*state.model.parameters(), *state.ema.parameters())} == {"cuda"}


@pytest.mark.gpu
@needs_cuda
def test_gpu_sample_stream_survives_a_resume(tmp_path):
    """The CUDA sample generator's state is checkpointed: 12 iterations straight equal 6, a
    checkpoint, and 6 more after a resume (same device kind, same number of processes)."""
    def run(**kw):
        spec, problem, gen, model = _setup("harmonic", 2, device="cuda", **{"training.checkpoint_every": 6})
        return fit(model, problem.operator, problem.sampling, spec.training, generator=gen, device="cuda", **kw)

    def stop_at_6(event):
        if isinstance(event, CheckpointSaved) and event.iteration == 6:
            raise KeyboardInterrupt

    straight = run()
    with pytest.raises(KeyboardInterrupt):
        run(checkpoint=tmp_path / "c.pt", callback=stop_at_6)
    ckpt = load_checkpoint(tmp_path / "c.pt")
    assert ckpt["iteration"] == 6 and ckpt["sample_device"] == "cuda" and ckpt["world_size"] == 1
    assert len(ckpt["sample_generators"]) == 1
    resumed = run(resume=ckpt)
    for a, b in zip(straight.model.parameters(), resumed.model.parameters()):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-7)


def test_device_ema_follows_its_formula_and_keeps_the_averaged_model_state():
    """First update copies, then ``ema = d ema + (1 - d) p`` (d = 0.9: 1, then 0.9 + 0.1 * 3 =
    1.2, then 1.08 + 0.1 * 5 = 1.58); the state dict is AveragedModel's, and loading one
    restores the "first update copies" rule."""
    from torch.optim.swa_utils import AveragedModel

    from nsvd_cli.ema import DeviceEMA

    lin = torch.nn.Linear(1, 1, bias=False, dtype=torch.float64)
    ema = DeviceEMA(lin, 0.9)
    assert set(ema.state_dict()) == set(AveragedModel(lin, use_buffers=True).state_dict())
    seen = []
    for w in (1.0, 3.0, 5.0):
        with torch.no_grad():
            lin.weight.fill_(w)
        ema.update_parameters(lin)
        seen.append(ema.module.weight.item())
    assert seen == pytest.approx([1.0, 1.2, 1.58], rel=1e-12) and int(ema.n_averaged) == 3
    fresh = DeviceEMA(lin, 0.9)
    fresh.load_state_dict(ema.state_dict())
    with torch.no_grad():
        lin.weight.fill_(0.0)
    fresh.update_parameters(lin)
    assert fresh.module.weight.item() == pytest.approx(0.9 * 1.58, rel=1e-12)


def test_device_constants_made_inside_a_transform_are_not_cached():
    """The per-device constants of samplings and potentials are cached, but not when first
    made inside ``torch.func.jvp`` (a wrapped tensor would escape its transform): the same
    call afterwards, outside, still works and gives the closed form (uniform on [0, 2]^2:
    log p = -log 4; harmonic with omega = (1, 2) at (1, 1): V = 1 + 4 = 5)."""
    from torch.func import jvp

    from nsvd_cli.potentials import harmonic

    x = torch.ones(3, 2, dtype=torch.float64)
    uniform, mixture, v = UniformSampling([(0.0, 2.0)] * 2), MixtureSampling(2, [1.0, 2.0], [1.0, 1.0]), harmonic([1, 2])
    e = torch.ones_like(x)
    for fn in (uniform.log_density, mixture.log_density, v):
        for _ in range(2):  # second derivatives along e, twice (as the forward Laplacian does)
            jvp(lambda y: jvp(fn, (y,), (e,)), (x,), (e,))
    assert torch.allclose(uniform.log_density(x), torch.full((3,), -math.log(4.0), dtype=torch.float64))
    assert torch.allclose(v(x), torch.full((3,), 5.0, dtype=torch.float64))
    assert torch.isfinite(mixture.log_density(x)).all()
