"""Settings a spec leaves out, derived from the problem instead of fixed numbers.

A user's spec names the physics (dimension, potential, shift, modes, sampling, evaluation
box); the numerical settings it omits are derived here from the problem's own scales, so that
a well 0.1 wide or energies of 10⁴ need no hand tuning:

* **length scale** ``ℓ`` — where the states live, from the sampling distribution: the
  standard deviation of a Gaussian, the smallest and largest of a mixture, a sixth of the
  narrowest side of a uniform box.
* **eigenvalue scale** — a crude estimate of the leading eigenvalue of T,
  ``λ₁ ≈ s (c − E₀)`` with ``E₀ ≈ min_x V(x) + κ D / (2 ℓ²)`` over samples of the training
  distribution (the lowest potential plus the zero-point kinetic energy of a state of width
  ``ℓ``).

What is derived (only for fields the spec, its preset and the CLI left out —
:meth:`~nsvd_cli.spec.ProblemSpec.explicit_fields`):

=====================  ====================================================================
``model.envelope``     ``gaussian`` (``box`` for a box potential, ``exponential`` for Coulomb)
``envelope_width``     ``ℓ`` (largest mixture scale); learnable per mode
``fourier_scales``     ``0.5 / ℓ`` per sampling scale (frequencies resolve structure of size ℓ);
                       with Dirichlet walls ``1 / L``, ``L`` the box's mean side (geometric
                       mean): the states fill the box, and the box envelope already gives each
                       one its fundamental, so the network resolves structure of size ``L / 2``
                       (:func:`wall_fourier_scale`)
``learning_rate``      Adam 3e-3 (every tuned built-in converges with it)
``iterations``         ``1000 + 600 L ⌈D/2⌉`` — later modes of the sequential nesting need
                       the earlier ones converged first (Sec. 3.2)
``eval_every``         ``iterations / 5`` (≥ 250), so that the verdict sees the drift
``laplacian``          ``forward`` (:func:`laplacian_for_dimension`: exact, and measured
                       fastest per training step in every D, ``bench/dimension_bench.py``)
``fd_step``            ``0.01 ℓ`` (the same truncation and float32 rounding error relative to
                       the curvature of a state of width ℓ; only when the Laplacian is ``fd``)
``scale``              1, unless the estimated ``c − E₀`` lies outside [1, 100]: then ``s``
                       brings ``λ₁`` to that range (the network amplitude is ``sqrt(λ)``)
=====================  ====================================================================

The measured effect on user-style specs is the table in ``docs/problems.md``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["derive_defaults", "check_scale", "training_warnings", "rederived_fields", "FOLLOWS", "length_scales", "wall_fourier_scale", "ground_energy_estimate", "laplacian_for_dimension",
           "oscillator_family_defaults", "oscillator_box_half_width", "FAMILY_RULES", "FAMILY_KINDS",
           "FAMILY_EVALUATION_RULES"]

#: Fields this module may fill in (TOML names).
DERIVED = ("model.envelope", "model.envelope_width", "model.fourier_scales", "training.learning_rate",
           "training.iterations", "training.eval_every", "training.checkpoint_every", "training.fd_step", "training.laplacian", "scale")

#: Derived fields whose rule reads another setting that an ``nsvd solve`` option can change
#: (``--modes``, ``--iters``, ``--laplacian``): field -> its rule, in words. ``nsvd problems
#: show`` writes them commented out when the spec left them out, so that solving the shown
#: file derives them again from the same settings (:func:`rederived_fields`).
FOLLOWS = {"training.iterations": "1000 + 600 modes ⌈D/2⌉", "training.eval_every": "iterations / 5 (>= 250)",
           "training.checkpoint_every": "iterations / 5 (>= 250)",
           "training.fd_step": "0.01 ℓ if laplacian = \"fd\", else unused"}

_LEARNING_RATE = 3e-3
_LAMBDA_RANGE = (1.0, 100.0)


def laplacian_for_dimension(dim: int) -> str:
    """The Laplacian backend for a D-dimensional problem: ``forward`` (exact to rounding; per
    training step as fast as ``fd`` at D = 1, 2 and 1.2-3x faster from D = 4 to 16, measured by
    ``bench/dimension_bench.py``)."""
    return "forward"


def length_scales(sampling) -> tuple[float, ...]:
    """The length scales ``ℓ`` of a sampling spec (ascending; one per mixture component).

    Gaussian: its std; mixture: its stds; uniform: a sixth of the narrowest side (a state filling the box spans about three widths each way).
    """
    if sampling.kind == "gaussian":
        return (float(sampling.std),)
    if sampling.kind == "mixture":
        return tuple(sorted(float(s) for s in sampling.stds))
    return (min(hi - lo for lo, hi in sampling.box) / 6.0,)


def wall_fourier_scale(box) -> float:
    """The Fourier feature scale of a problem with Dirichlet walls on ``box`` ((D, 2) pairs):
    ``1 / L`` with ``L = (Π_i (hi_i − lo_i))^(1/D)``, in cycles per unit length (the features
    are ``cos(2π s z·x)``, ``z ~ N(0, I)``).

    The rule of unbounded problems, ``0.5 / ℓ`` with ``ℓ`` a sixth of the sampled box's side,
    gives ``3 / L`` here, three times too fine: the built-in ``box2d``'s physics with every
    other setting derived converged 3 of 6 modes (8.4 % mean energy error) with it; with
    ``1 / L = 0.5``, the value ``box2d`` was tuned to, 6/6 at 0.015 % (seed 0), 4/6 at 0.0025 %
    (seed 1) and 5/6 at 0.06 % (a trial), the modes left flagged by the error estimate only (the
    tuned built-in: 4/6 at 0.006 %). A user box ``[0, 1] × [0, 2]``: 1 of 4 modes with ``3`` (27 %
    mean error), 3 of 4 with ``1 / √2`` (the fourth dead: restarts = 2 gives 4/4 at 0.003 %)
    (2026-11-30).
    """
    sides = [float(hi) - float(lo) for lo, hi in box]
    return _round6(1.0 / math.prod(sides) ** (1.0 / len(sides)))


def _round6(x: float) -> float:
    """``x`` to 6 decimals, or to 6 significant digits below 1e-3 (6 decimals would give 0 for
    the frequency ``0.5 / ℓ`` of a length scale ``ℓ`` of 10^7)."""
    return round(x, 6) if abs(x) >= 1e-3 else float(f"{x:.6g}")


def ground_energy_estimate(problem, n_samples: int = 4096, seed: int = 0) -> float:
    """Crude ground-state energy ``min_x V(x) + κ D / (2 ℓ²)`` over training samples.

    ``problem`` is a :class:`~nsvd_cli.problem.Problem`; energies of ``H = -κ∇² + V``.
    Non-finite potential values (singular points) are skipped.
    """
    import torch

    ell = length_scales(problem.spec.sampling)[0]
    gen = torch.Generator().manual_seed(seed)
    x = problem.sampling.sample(n_samples, gen, dtype=torch.float64)
    with torch.no_grad():
        v = problem.potential(x).numpy()
    v = v[np.isfinite(v)]
    v_min = float(np.min(v)) if v.size else 0.0
    return v_min + problem.kinetic * problem.dimension / 2.0 / ell / ell  # not ell**2: OverflowError for ell = 1e300


def _scale(problem) -> float:
    lam = problem.shift - ground_energy_estimate(problem)
    lo, hi = _LAMBDA_RANGE
    if not math.isfinite(lam) or lam <= 0 or lo <= lam <= hi:
        return 1.0
    return float(min(max(lam, lo), hi) / lam)


#: A leading eigenvalue of T estimated above this fraction of ``sqrt(largest float)`` of the
#: training dtype is refused (:func:`check_scale`): the network amplitudes are ``sqrt(λ)``, the
#: NestedLoRA loss holds squared Gram entries ``~ λ²``.
_OVERFLOW_MARGIN = 0.01


def check_scale(spec, problem) -> None:
    """Refuse a given ``scale`` that makes the eigenvalues of ``T = s (-H + c)`` overflow.

    The leading eigenvalue is estimated as ``λ₁ ≈ s (c − E₀)`` (:func:`ground_energy_estimate`);
    the loss holds terms of order ``λ₁²``, so ``|λ₁|`` above ``0.01 sqrt(max float)`` of
    ``training.dtype`` (~1.8e17 for float32, ~1.3e152 for float64) cannot train. A trial:
    ``scale = 1e308`` ended in "training diverged ... lower training.learning_rate".

    Raises
    ------
    SpecError
        ``field = "scale"``, naming the estimate, the dtype's limit and the fix.
    """
    from .errors import SpecError

    dtype = spec.training.dtype
    limit = _OVERFLOW_MARGIN * math.sqrt(float(np.finfo(np.float32 if dtype == "float32" else np.float64).max))
    with np.errstate(over="ignore", invalid="ignore"):
        gap = float(spec.shift) - ground_energy_estimate(problem)
        lam = float(np.float64(spec.scale) * np.float64(gap))
    if math.isfinite(lam) and abs(lam) <= limit:
        return
    raise SpecError("scale", f"scale = {spec.scale:g} makes the leading eigenvalue of T = scale·(−H + shift) about "
                             f"{spec.scale:g}·{gap:.3g} = {lam:.3g} (estimated), beyond what {dtype} trains with (|λ| <= "
                             f"{limit:.2g}: the loss squares it); leave scale out (derived: λ₁ in [1, 100]) or use "
                             f"scale ≈ {10.0 / abs(gap) if gap else 1.0:.3g}")


def training_warnings(spec) -> list[str]:
    """Training settings that make the run pointless, one sentence each (shown before training).

    * ``training.warmup >= training.iterations``: the learning rate never leaves the linear
      warm-up ramp from ``0.001 learning_rate`` (:func:`nsvd_cli.train.make_scheduler`);
    * ``training.final_learning_rate > training.learning_rate`` (cosine schedule): the schedule
      rises instead of decaying (the last iterations take the largest steps).

    Fields the spec left out are taken as :func:`derive_defaults` sets them (iterations
    ``1000 + 600 L ⌈D/2⌉``, learning rate 3e-3), so a spec before or after deriving gives the
    same warnings.
    """
    explicit, tr, out = spec.explicit_fields(), spec.training, []
    iterations = tr.iterations if "training.iterations" in explicit else \
        1000 + 600 * spec.modes * math.ceil(spec.dimension / 2)
    lr = tr.learning_rate if "training.learning_rate" in explicit else _LEARNING_RATE
    if tr.warmup >= iterations:
        out.append(f"training.warmup = {tr.warmup} is not below the {iterations} iterations: the learning rate "
                   "never leaves its linear warm-up ramp from 0.001·learning_rate (small steps throughout, no decay); "
                   "use warmup well below iterations (e.g. 5 %)")
    if tr.schedule == "cosine" and tr.final_learning_rate > lr:
        out.append(f"training.final_learning_rate = {tr.final_learning_rate:g} exceeds learning_rate = {lr:g}: the "
                   f"{tr.schedule} schedule rises, taking its largest steps last; use final_learning_rate <= "
                   "learning_rate (default 0)")
    return out


def _fourier_scales(spec, ells) -> tuple[float, ...]:
    """``0.5 / ℓ`` per sampling scale, or :func:`wall_fourier_scale` for a problem with walls."""
    from .spec import walls

    box = walls(spec)
    if box:
        return (wall_fourier_scale(box),)
    return tuple(sorted({_round6(0.5 / e) for e in ells}))


def _values(spec, explicit: set[str], problem_factory) -> dict[str, object]:
    """Derived value of every field in :data:`DERIVED` (TOML name -> value)."""
    ells = length_scales(spec.sampling)
    kind = spec.potential.kind
    envelope = "box" if kind == "box" else "exponential" if kind == "coulomb" else "gaussian"
    iterations = 1000 + 600 * spec.modes * math.ceil(spec.dimension / 2)
    if "training.iterations" in explicit:
        iterations = spec.training.iterations
    every = max(iterations // 5, min(250, iterations), 1)
    values = {
        "model.envelope": envelope,
        "model.envelope_width": ells[-1],
        "model.fourier_scales": _fourier_scales(spec, ells),
        "training.learning_rate": _LEARNING_RATE,
        "training.iterations": iterations,
        "training.eval_every": every,
        "training.checkpoint_every": every,
        "training.fd_step": 0.01 * ells[0],
        "training.laplacian": laplacian_for_dimension(spec.dimension),
    }
    laplacian = spec.training.laplacian if "training.laplacian" in explicit else values["training.laplacian"]
    if laplacian != "fd":
        del values["training.fd_step"]  # only finite differences use it: not derived, not printed
    if "scale" not in explicit:
        values["scale"] = _scale(problem_factory(spec))
    return values


def derive_defaults(spec) -> tuple[object, dict[str, object]]:
    """Fill the fields a spec left out with values derived from the problem.

    Parameters
    ----------
    spec : ProblemSpec
        A resolved spec; its :meth:`~nsvd_cli.spec.ProblemSpec.explicit_fields` says what the
        user gave. A spec read back from a results file has every field explicit, so deriving
        is idempotent.

    Returns
    -------
    (ProblemSpec, dict)
        The spec with the derived fields set, and ``{toml name: value}`` of what was derived
        (empty when the spec gave everything).

    Raises
    ------
    SpecError
        ``field = "scale"``: a given scale whose eigenvalues of T overflow (:func:`check_scale`).
    """
    from .problem import Problem
    from .spec import parse_spec, spec_to_dict

    explicit = spec.explicit_fields()
    if "scale" in explicit:
        check_scale(spec, Problem.from_spec(spec))
    missing = [f for f in DERIVED if f not in explicit]
    if not missing:
        return spec, {}
    values = _values(spec, explicit, Problem.from_spec)
    derived = {f: values[f] for f in missing if f in values}
    data = spec_to_dict(spec)
    for name, value in derived.items():
        table, _, key = name.rpartition(".")
        (data[table] if table else data)[key] = list(value) if isinstance(value, tuple) else value
    return parse_spec(data), derived


def rederived_fields(spec) -> list[str]:
    """The :data:`FOLLOWS` fields the spec left out (TOML names, in :data:`FOLLOWS` order).

    Solving derives them from settings a CLI option can change (``--modes``, ``--iters``,
    ``--laplacian``); a shown spec (``nsvd problems show``) that pinned their current values
    would no longer follow those options as the original spec does.
    """
    explicit = spec.explicit_fields()
    return [f for f in FOLLOWS if f not in explicit]


# --------------------------------------------------------------------------------------
# per-dimension defaults of a family (``family = "harmonic"`` in a spec file, used by --dim)
# --------------------------------------------------------------------------------------

#: Dimension from which a family's per-D rule applies (below it the spec file's own values,
#: tuned and measured for D <= 3, are kept).
FAMILY_MIN_DIMENSION = 4


def oscillator_family_defaults(dim: int, omega: float = 1.0, kinetic: float = 1.0) -> dict[str, object]:
    """Settings of the isotropic oscillator ``-kinetic Laplacian + omega^2 |x|^2`` in dimension
    ``dim`` for its first two shells (``1 + D`` modes), as dotted TOML names -> values.

    With ``b = omega / sqrt(kinetic)`` the ground state is ``exp(-b |x|^2 / 2)`` (``|psi|^2``
    has variance ``1 / (2b)`` per axis) and the shells have ``E = sqrt(kinetic) omega (D + 2N)``:

    * ``modes = 1 + D`` (shells N = 0, 1: the natural run);
    * ``shift = 2 (D + 2) sqrt(kinetic) omega``: twice the top wanted level, so every wanted
      ``T = shift - E`` is positive (Remark E.1: not much more, or T nears a multiple of I);
    * ``evaluation.std = sqrt((1/2 + 1/D) / b)``: the Gaussian that minimises the largest
      importance-weight variance ``int psi^4 / p - 1`` over the two shells (the worst mode is
      a first-shell state, ``x_i exp(-b |x|^2 / 2)``; the minimiser of
      ``f_0(sigma)^(D-1) f_1(sigma)`` is ``sigma^2 = 1/2 + 1/D`` to 1 %, where that variance
      stays ~2.1-2.7 for D = 4..16, against 15 at D = 6 and 1600 at D = 16 for sigma = 1.5);
    * ``sampling.std = sqrt((1/2 + 2/D) / b)``: a little wider for training (the tails the
      network learns), still within a factor ~1.5 of the optimal weight variance;
    * ``evaluation.samples = 20000 D``: the energies use the local-energy estimator (zero
      variance at an eigenfunction, docs/method.md), so the samples are set by the Gram
      matrix and the distances, whose Monte Carlo variance grows about like D;
    * ``model.envelope_width = 1 / sqrt(b)``: the ground state's own Gaussian length;
    * ``training.laplacian = "forward"``: exact, and 1.7-2.6x the iterations/s of ``fd`` for
      D = 6..16 (``bench/dimension_bench.py``);
    * ``training.iterations = max(4000, 800 D)`` (evaluation and checkpoint every quarter):
      measured, D = 6 reaches ~0.05 % mean energy error in 4000 (bench/README.md); more
      modes in the sequential nesting need proportionally more steps.
    """
    b = float(omega) / math.sqrt(float(kinetic))
    top = math.sqrt(float(kinetic)) * float(omega) * (dim + 2)
    iterations = max(4000, 800 * dim)
    return {
        "modes": 1 + dim,
        "shift": round(2.0 * top, 6),
        "sampling.std": round(math.sqrt((0.5 + 2.0 / dim) / b), 4),
        "evaluation.std": round(math.sqrt((0.5 + 1.0 / dim) / b), 4),
        "evaluation.samples": 20_000 * dim,
        "model.envelope_width": round(1.0 / math.sqrt(b), 6),
        "training.laplacian": "forward",
        "training.iterations": iterations,
        "training.eval_every": iterations // 4,
        "training.checkpoint_every": iterations // 4,
    }


def _oscillator_rule(data, dim: int) -> dict[str, object]:
    pot = data.get("potential", {})
    omega = pot.get("omega", 1.0) if isinstance(pot, dict) else 1.0
    if isinstance(omega, (list, tuple)):
        omega = omega[0] if omega and all(w == omega[0] for w in omega) else None
    kinetic = data.get("kinetic", 1.0)
    if not isinstance(omega, (int, float)) or not isinstance(kinetic, (int, float)) or omega <= 0 or kinetic <= 0:
        return {}  # not an isotropic oscillator: the spec's own values stand (the spec reports its errors)
    return oscillator_family_defaults(dim, float(omega), float(kinetic))


def oscillator_box_half_width(dim: int, modes: int, omega: float = 1.0, kinetic: float = 1.0) -> float:
    """Half-width ``a`` of the evaluation box ``[-a, a]^D`` for the ``modes`` lowest states of the
    isotropic oscillator ``-kinetic Laplacian + omega^2 |x|^2`` in dimension ``dim``.

    The highest wanted shell is the smallest N with ``C(N + D, D) >= modes`` states up to it; its
    states reach ``n = N`` quanta on one axis, whose 1D factor (Hermite function of ``b x``,
    ``b = omega / sqrt(kinetic)``, lengths in units of ``1/sqrt(b)``) turns at ``sqrt(2N + 1)``. Three
    lengths beyond that turning point its squared norm is below ~1e-6 of the total, so
    ``a = (sqrt(2N + 1) + 3) / sqrt(b)``, rounded up to 0.01: 7.36 for 10 modes in 1D (N = 9),
    5.65 in 2D (N = 3), 5.24 in 3D (N = 2; the 3D spec's 5.5 was chosen by hand).
    """
    b = float(omega) / math.sqrt(float(kinetic))
    n = 0
    while math.comb(n + dim, dim) < modes:
        n += 1
    return math.ceil(100.0 * (math.sqrt(2 * n + 1) + 3.0) / math.sqrt(b)) / 100.0


def _oscillator_evaluation_rule(data, dim: int) -> dict[str, object]:
    pot = data.get("potential", {})
    omega = pot.get("omega", 1.0) if isinstance(pot, dict) else 1.0
    if isinstance(omega, (list, tuple)):
        omega = omega[0] if omega and all(w == omega[0] for w in omega) else None
    kinetic, modes = data.get("kinetic", 1.0), data.get("modes", 1)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in (omega, kinetic, modes)):
        return {}  # not an isotropic oscillator: the spec's own box stands (the spec reports its errors)
    a = oscillator_box_half_width(dim, int(modes), float(omega), float(kinetic))
    return {"evaluation.box": [[-a, a] for _ in range(dim)]}


#: ``family = NAME`` -> rule giving, for ``--dim D`` below :data:`FAMILY_MIN_DIMENSION` (other than
#: the spec's own D), the evaluation settings that depend on D besides the rule's node counts
#: (which take the D-dimensional defaults, :func:`nsvd_cli.spec.resize_dimension`).
FAMILY_EVALUATION_RULES = {"harmonic": _oscillator_evaluation_rule}


#: ``family = NAME`` -> the potential kinds its rule describes; ``--dim`` refuses the family
#: on a spec of another kind (the rule's modes, shift and widths would belong to another V).
FAMILY_KINDS = {"harmonic": ("harmonic",)}

#: ``family = NAME`` in a spec file -> rule giving its per-dimension settings from the raw
#: spec data and D (applied by ``--dim D`` for D >= :data:`FAMILY_MIN_DIMENSION`).
FAMILY_RULES = {"harmonic": _oscillator_rule}
