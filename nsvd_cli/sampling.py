"""Training sampling distributions p_tr and their importance weights (App. D.3).

With the Lebesgue measure the importance weight is the density itself, w_tr = p_tr, and
inner products are estimated as ``<f|g> = E_{p_tr}[f g / w_tr]``.  Every distribution
draws with an explicit ``torch.Generator`` (no global seed) and returns points of shape
(B, D) in the requested dtype **on the generator's device**: a CUDA generator draws on the
GPU (no host-to-device copy per batch; the distribution's constants are copied to a device
once and cached), a CPU generator on the CPU exactly as before.
"""

from __future__ import annotations

import math

import torch

from .spec import SamplingSpec

__all__ = ["GaussianSampling", "MixtureSampling", "UniformSampling", "make_sampling", "SAMPLINGS", "fixed_draw"]


def _wrapped(x: torch.Tensor) -> bool:
    """Whether ``x`` lives inside a functorch transform (jvp, grad, vmap) or inference mode:
    constants made there must not be cached (they would escape the transform)."""
    return torch._C._functorch.is_functorch_wrapped_tensor(x) or torch.is_inference_mode_enabled()


class GaussianSampling:
    """Isotropic centred Gaussian N(0, std^2 I) in D dimensions."""

    def __init__(self, dim: int, std: float):
        self.dim, self.std = dim, float(std)

    def sample(self, n: int, generator: torch.Generator, dtype=torch.float32) -> torch.Tensor:
        """Draw ``n`` points, shape (n, D), on ``generator.device``."""
        return torch.randn(n, self.dim, generator=generator, dtype=dtype, device=generator.device) * self.std

    def __str__(self) -> str:
        return f"gaussian with std = {self.std:g}"

    def log_density(self, x: torch.Tensor) -> torch.Tensor:
        """log p_tr(x), shape (B,) for x of shape (B, D)."""
        return -0.5 * (x * x).sum(-1) / self.std**2 - self.dim * math.log(self.std * math.sqrt(2 * math.pi))


class MixtureSampling:
    """Mixture of centred isotropic Gaussians with several scales: sum_k a_k N(0, s_k^2 I).

    Puts samples both near the origin and far out, for problems whose eigenfunctions live on
    very different length scales (the 2D hydrogen shells: r < 3 for n = 0, r ~ 50 for n = 3).
    """

    def __init__(self, dim: int, stds, weights):
        self.dim = dim
        self.stds = torch.tensor(stds, dtype=torch.float64)
        self.weights = torch.tensor(weights, dtype=torch.float64)
        self.weights = self.weights / self.weights.sum()

        self._cache = {}

    def __str__(self) -> str:
        stds = ", ".join(f"{v:g}" for v in self.stds.tolist())
        weights = ", ".join(f"{v:.3g}" for v in self.weights.tolist())
        return f"mixture with stds = [{stds}], weights = [{weights}]"

    def _constants(self, device, dtype=torch.float64, like=None):
        """``(stds, weights, log weights)`` on ``device`` in ``dtype`` (copied once, cached;
        not cached when ``like`` is a functorch-wrapped tensor: made inside a transform,
        they would escape it)."""
        key = (str(device), dtype)
        if key in self._cache:
            return self._cache[key]
        out = (self.stds.to(device=device, dtype=dtype), self.weights.to(device=device, dtype=dtype),
               torch.log(self.weights).to(device=device, dtype=dtype))
        if like is None or not _wrapped(like):
            self._cache[key] = out
        return out

    def sample(self, n: int, generator: torch.Generator, dtype=torch.float32) -> torch.Tensor:
        """Draw ``n`` points, shape (n, D), on ``generator.device`` (component, then point)."""
        stds, weights, _ = self._constants(generator.device)
        comp = torch.multinomial(weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.dim, generator=generator, dtype=torch.float64, device=generator.device)
        return (z * stds[comp, None]).to(dtype)

    def log_density(self, x: torch.Tensor) -> torch.Tensor:
        """log p_tr(x), shape (B,) for x of shape (B, D)."""
        s, _, lw = self._constants(x.device, x.dtype, like=x)
        r2 = (x * x).sum(-1, keepdim=True)
        comp = lw - 0.5 * r2 / s**2 - self.dim * torch.log(s * math.sqrt(2 * math.pi))
        return torch.logsumexp(comp, dim=-1)


class UniformSampling:
    """Uniform distribution on an axis-aligned box ``[(low_0, high_0), ...]``."""

    def __init__(self, box):
        self.box = torch.tensor(box, dtype=torch.float64)
        self.dim = self.box.shape[0]
        self._log_volume = float(torch.log(self.box[:, 1] - self.box[:, 0]).sum())
        self._cache = {}

    def __str__(self) -> str:
        return "uniform on [" + ", ".join(f"[{lo:g}, {hi:g}]" for lo, hi in self.box.tolist()) + "]"

    def _box(self, device, dtype=torch.float64, like=None) -> torch.Tensor:
        """The (D, 2) box on ``device`` in ``dtype`` (copied once, cached; not cached inside
        a functorch transform, as in :meth:`MixtureSampling._constants`)."""
        key = (str(device), dtype)
        if key in self._cache:
            return self._cache[key]
        box = self.box.to(device=device, dtype=dtype)
        if like is None or not _wrapped(like):
            self._cache[key] = box
        return box

    def sample(self, n: int, generator: torch.Generator, dtype=torch.float32) -> torch.Tensor:
        """Draw ``n`` points, shape (n, D), on ``generator.device``."""
        box = self._box(generator.device)
        u = torch.rand(n, self.dim, generator=generator, dtype=torch.float64, device=generator.device)
        return (box[:, 0] + u * (box[:, 1] - box[:, 0])).to(dtype)

    def log_density(self, x: torch.Tensor) -> torch.Tensor:
        """log p_tr(x), shape (B,): ``-log(volume)`` inside the box, ``-inf`` outside."""
        box = self._box(x.device, x.dtype, like=x)
        lo, hi = box[:, 0], box[:, 1]
        inside = ((x >= lo) & (x <= hi)).all(-1)
        out = torch.full(x.shape[:1], -self._log_volume, dtype=x.dtype, device=x.device)
        return torch.where(inside, out, torch.full_like(out, -math.inf))


SAMPLINGS = {
    "gaussian": lambda dim, s: GaussianSampling(dim, s.std),
    "mixture": lambda dim, s: MixtureSampling(dim, s.stds, s.weights),
    "uniform": lambda dim, s: UniformSampling(s.box),
}


def make_sampling(dim: int, spec: SamplingSpec):
    """Build the sampling distribution described by a :class:`~nsvd_cli.spec.SamplingSpec`."""
    return SAMPLINGS[spec.kind](dim, spec)


#: Size and seed of :func:`fixed_draw`, the draw on which V is checked before training.
CHECK_SAMPLES = 4096
CHECK_SEED = 20240229


def fixed_draw(sampling, n: int = CHECK_SAMPLES, dtype=torch.float64) -> torch.Tensor:
    """``n`` points of ``sampling``, shape (n, D), on the CPU, from a generator of its own seeded
    with :data:`CHECK_SEED`: the same points on every call, and the run's random streams (its
    ``torch.Generator`` objects and torch's global one) are left untouched, so a run that checks
    its inputs trains bit-identically to one that does not."""
    return sampling.sample(n, torch.Generator().manual_seed(CHECK_SEED), dtype=dtype)
