"""Problem specs: TOML files describing a Schrödinger eigenproblem and how to solve it.

Conventions (used everywhere in nsvd)
-------------------------------------
* Hamiltonian ``H = -kinetic * Laplacian + V`` (the paper's units have ``kinetic = 1``;
  there is no factor 1/2 unless you put it in ``kinetic``).
* The operator whose *top* eigenpairs NeuralSVD learns is ``T = scale * (-H + shift)``.
  ``eigenvalues`` always means eigenvalues of ``T`` (descending), ``energies`` those of
  ``H`` (ascending): ``energy = shift - eigenvalue / scale``.

A spec file has top-level physics fields and the tables ``[potential]``, ``[sampling]``,
``[model]``, ``[training]``, ``[evaluation]`` and optional ``[presets.NAME]`` tables whose
contents are merged over the base spec when ``--preset NAME`` is given.  Every field is
checked; an unknown or invalid one raises :class:`~nsvd_cli.errors.SpecError` naming it.
This module does not import torch.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from .errors import SpecError

__all__ = [
    "PotentialSpec",
    "SamplingSpec",
    "ModelSpec",
    "TrainingSpec",
    "EvaluationSpec",
    "ProblemSpec",
    "load_spec",
    "parse_spec",
    "builtin_problems",
    "spec_to_dict",
    "apply_overrides",
    "apply_preset",
    "resize_dimension",
    "spec_to_toml",
    "to_toml",
    "walls",
]

POTENTIAL_KINDS = ("harmonic", "coulomb", "morse", "poschl_teller", "quartic", "double_well", "box",
                   "expression", "python")
#: Accepted spellings of potential kinds that are stored under another name.
POTENTIAL_ALIASES = {"anharmonic": "quartic", "hydrogen": "coulomb", "poschl-teller": "poschl_teller",
                     "double-well": "double_well", "callable": "python"}
#: Parameters (TOML keys of ``[potential]``) of each kind; ``lambda`` is stored as ``lam``.
POTENTIAL_PARAMETERS = {
    "harmonic": ("omega",),
    "coulomb": ("charge", "softening"),
    "morse": ("depth", "a", "center"),
    "poschl_teller": ("lambda",),
    "quartic": ("quadratic", "quartic"),
    "double_well": ("a", "b"),
    "box": ("box",),
    "expression": ("expression",),
    "python": ("function",),
}
#: Kinds defined only in one dimension.
ONE_DIMENSIONAL = ("morse", "poschl_teller")
SAMPLING_KINDS = ("gaussian", "mixture", "uniform")
ENVELOPE_KINDS = ("sampling", "gaussian", "exponential", "box", "none")
ARCHITECTURES = ("disjoint", "shared")
ACTIVATIONS = ("softplus", "tanh", "silu")
OPTIMIZERS = ("rmsprop", "adam")
SCHEDULES = ("cosine", "constant")
NESTINGS = ("sequential", "joint")
LAPLACIANS = ("fd", "exact")
QUADRATURES = ("gauss-legendre", "polar", "spherical", "monte-carlo")
DTYPES = ("float32", "float64")
REFERENCE_KINDS = ("auto", "analytic", "grid", "none")
#: Largest tensor Gauss-Legendre rule accepted (nodes); beyond it use Monte Carlo.
MAX_TENSOR_NODES = 2_000_000


@dataclass(frozen=True)
class PotentialSpec:
    """Potential V(x); only the parameters of ``kind`` are meaningful (see
    :data:`POTENTIAL_PARAMETERS`; formulas in :mod:`nsvd_cli.potentials`).

    * ``harmonic``: ``V = sum_i omega_i^2 x_i^2`` (``omega`` a number or one per axis).
    * ``coulomb``: ``V = -charge / sqrt(|x|^2 + softening^2)`` (any D; closed form in 2D/3D).
    * ``morse`` (1D): ``V = depth * (1 - exp(-a (x - center)))^2``.
    * ``poschl_teller`` (1D): ``V = -lam (lam + 1) sech(x)^2`` (TOML key ``lambda``).
    * ``quartic`` (alias ``anharmonic``): ``V = sum_i (quadratic x_i^2 + quartic x_i^4)``;
      defaults ``quadratic = 0, quartic = 1`` (``anharmonic``: ``quadratic = 1``).
    * ``double_well``: ``V = sum_i a (x_i^2 - b^2)^2``.
    * ``box``: ``V = 0`` inside ``box`` = ``((lo, hi), ...)`` with infinite (Dirichlet) walls.
    * ``expression``: a formula in ``x0..x{D-1}``, ``r`` (:mod:`nsvd_cli.expressions`).
    * ``python``: ``function = "package.module:function"``, a callable ``(B, D) -> (B,)``.
    """

    kind: str
    omega: tuple[float, ...] = (1.0,)
    charge: float = 1.0
    softening: float = 0.0
    depth: float = 1.0
    a: float = 1.0
    center: float = 0.0
    lam: float = 1.0
    quadratic: float = 1.0
    quartic: float = 1.0
    b: float = 1.0
    box: tuple[tuple[float, float], ...] = ()
    expression: str = ""
    function: str = ""

    def parameters(self) -> dict:
        """The meaningful parameters of this kind as TOML keys -> values (tuples as lists)."""
        out = {}
        for key in POTENTIAL_PARAMETERS[self.kind]:
            v = getattr(self, "lam" if key == "lambda" else key)
            out[key] = [list(r) if isinstance(r, tuple) else r for r in v] if isinstance(v, tuple) else v
        return out

    def describe(self) -> str:
        """Short one-line description, e.g. ``"morse depth=16 a=1 center=0"``."""
        if self.kind == "expression":
            return self.expression
        if self.kind == "python":
            return self.function
        parts = []
        for k, v in self.parameters().items():
            if k == "box":
                v = "×".join(f"[{lo:g}, {hi:g}]" for lo, hi in self.box)
            elif isinstance(v, list):
                v = f"{v[0]:g}" if len(set(v)) == 1 else "(" + ", ".join(f"{x:g}" for x in v) + ")"
            else:
                v = f"{v:g}"
            parts.append(f"{k}={v}")
        return " ".join([self.kind, *parts])


@dataclass(frozen=True)
class SamplingSpec:
    """Training sampling distribution p_tr (importance weight w_tr = p_tr, Lebesgue measure).

    ``gaussian``: N(0, std^2 I). ``mixture``: equal-or-``weights``-weighted isotropic
    centred Gaussians with standard deviations ``stds``. ``uniform``: the box ``box``.
    """

    kind: str
    std: float = 1.0
    stds: tuple[float, ...] = ()
    weights: tuple[float, ...] = ()
    box: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class ModelSpec:
    """Network ansatz: psi_l(x) = envelope_l(x) * MLP_l(features(x)).

    ``architecture``: ``disjoint`` (L separate MLPs evaluated in one batched pass) or
    ``shared`` (one MLP with L outputs). ``fourier_features`` K random Fourier features
    (cos, sin) split evenly over ``fourier_scales``; the raw input (and |x| if
    ``radial_feature``) is appended (App. E.1.1). ``envelope``: ``sampling`` is the paper's
    parameterisation (the MLP represents psi / sqrt(p_tr)); ``gaussian`` exp(-|x|^2/(2 a_l^2))
    and ``exponential`` exp(-|x|/a_l) have a learnable length a_l per mode initialised to
    ``envelope_width``; ``box`` is ``prod_i (x_i - lo_i)(hi_i - x_i) / ((hi_i - lo_i)/2)^2``
    on ``envelope_box`` (Dirichlet walls: the functions vanish on the box boundary; filled
    from the potential's box for ``kind = "box"``); ``none`` uses the MLP alone.
    """

    architecture: str = "disjoint"
    hidden: tuple[int, ...] = (64, 64, 64)
    activation: str = "softplus"
    fourier_features: int = 64
    fourier_scales: tuple[float, ...] = (0.1,)
    radial_feature: bool = False
    envelope: str = "sampling"
    envelope_width: float = 1.0
    envelope_box: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class TrainingSpec:
    """Optimisation settings (App. E.1: RMSProp 1e-4, cosine schedule, EMA 0.995).

    ``gram_batch``: 0 estimates the Gram matrix of the NestedLoRA gradient from the two
    half-batches (App. D.2); N > 0 from N further samples evaluated without a graph
    (independent of the batch, so still unbiased, with lower variance).
    """

    iterations: int = 2000
    batch_size: int = 512
    gram_batch: int = 0
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    final_learning_rate: float = 0.0
    schedule: str = "cosine"
    warmup: int = 0
    ema_decay: float = 0.995
    nesting: str = "sequential"
    joint_weights: tuple[float, ...] = ()
    laplacian: str = "fd"
    fd_step: float = 0.01
    dtype: str = "float32"
    eval_every: int = 1000
    checkpoint_every: int = 1000
    seed: int = 0
    device: str = "auto"


@dataclass(frozen=True)
class EvaluationSpec:
    """Evaluation rule for eigenvalues and metrics (App. E.1.3).

    ``quadrature``: ``gauss-legendre`` (tensor rule on ``box`` with ``points`` nodes per
    axis and ``panels`` panels per axis), ``polar`` (2D: radial Gauss-Legendre panels on
    [0, radius] times ``angles`` trapezoid angles; for Coulomb problems, resolves the
    cusp), ``spherical`` (3D: graded radial panels times Gauss-Legendre in cos(theta) with
    ``angles // 2`` nodes and ``angles`` azimuths; for 3D Coulomb problems), ``monte-carlo``
    (``samples`` uniform points on ``box``, or with ``std > 0`` points drawn from
    N(0, std^2 I) and importance-weighted; for D >= 4).
    """

    box: tuple[tuple[float, float], ...]
    quadrature: str = "gauss-legendre"
    points: int = 48
    panels: int = 4
    angles: int = 64
    samples: int = 200_000
    std: float = 0.0


@dataclass(frozen=True)
class ProblemSpec:
    """A fully resolved, validated problem: physics + model + training + evaluation.

    ``T = scale * (-H + shift)``, ``H = -kinetic * Laplacian + V``.

    ``reference``: ``auto`` (closed form where known, else the eigsh grid solution for
    D <= 3, else none), ``analytic`` (closed form or none), ``grid`` (always the grid, D <= 3)
    or ``none``.  ``reference_grid``: grid points per axis of a grid reference (0: by D,
    see :func:`nsvd_cli.references.grid_reference`).
    """

    name: str
    dimension: int
    potential: PotentialSpec
    sampling: SamplingSpec
    evaluation: EvaluationSpec
    model: ModelSpec = field(default_factory=ModelSpec)
    training: TrainingSpec = field(default_factory=TrainingSpec)
    description: str = ""
    kinetic: float = 1.0
    shift: float = 0.0
    scale: float = 1.0
    modes: int = 8
    reference: str = "auto"
    reference_grid: int = 0
    source: str = ""

    def eigenvalues_from_energies(self, energies):
        """Eigenvalues of T = scale * (shift - E) for energies E of H (array-like)."""
        return self.scale * (self.shift - energies)

    def energies_from_eigenvalues(self, eigenvalues):
        """Energies of H, E = shift - lambda / scale, for eigenvalues lambda of T."""
        return self.shift - eigenvalues / self.scale


# --------------------------------------------------------------------------------------
# parsing and validation
# --------------------------------------------------------------------------------------

_SECTIONS = {
    "potential": PotentialSpec,
    "sampling": SamplingSpec,
    "model": ModelSpec,
    "training": TrainingSpec,
    "evaluation": EvaluationSpec,
}
_TOP_FIELDS = {
    f.name for f in dataclasses.fields(ProblemSpec) if f.name not in _SECTIONS
}


def _num(value, name, *, positive=False, nonneg=False, integer=False, minimum=None):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(name, f"expected a number, got {value!r}")
    if integer and (not isinstance(value, int) and not float(value).is_integer()):
        raise SpecError(name, f"expected an integer, got {value!r}")
    if not math.isfinite(value):
        raise SpecError(name, f"must be finite, got {value!r}")
    if positive and value <= 0:
        raise SpecError(name, f"must be > 0, got {value!r}")
    if nonneg and value < 0:
        raise SpecError(name, f"must be >= 0, got {value!r}")
    if minimum is not None and value < minimum:
        raise SpecError(name, f"must be >= {minimum}, got {value!r}")
    return int(value) if integer else float(value)


def _choice(value, name, choices):
    if value not in choices:
        raise SpecError(name, f"unknown value {value!r}; expected one of {', '.join(choices)}")
    return value


def _num_tuple(value, name, **kw):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)) or len(value) == 0:
        raise SpecError(name, f"expected a non-empty list of numbers, got {value!r}")
    return tuple(_num(v, f"{name}[{i}]", **kw) for i, v in enumerate(value))


def _box(value, name, dim):
    if not isinstance(value, (list, tuple)) or len(value) != dim or not all(
        isinstance(row, (list, tuple)) and len(row) == 2 for row in value
    ):
        raise SpecError(name, f"expected {dim} pairs [low, high] (one per dimension), got {value!r}")
    out = []
    for i, (lo, hi) in enumerate(value):
        lo = _num(lo, f"{name}[{i}][0]")
        hi = _num(hi, f"{name}[{i}][1]")
        if hi <= lo:
            raise SpecError(name, f"axis {i}: high {hi} must exceed low {lo}")
        out.append((lo, hi))
    return tuple(out)


def _check_keys(table, cls, section):
    if not isinstance(table, Mapping):
        raise SpecError(section, f"expected a table, got {table!r}")
    allowed = {f.name for f in dataclasses.fields(cls)}
    for key in table:
        if key not in allowed:
            raise SpecError(f"{section}.{key}", f"unknown field; allowed: {', '.join(sorted(allowed))}")


#: Parameters older results files store for every kind, tolerated at these default values.
_LEGACY_POTENTIAL_DEFAULTS = {"omega": 1.0, "charge": 1.0, "softening": 0.0}


def _is_legacy_default(key, value) -> bool:
    if key not in _LEGACY_POTENTIAL_DEFAULTS:
        return False
    d = _LEGACY_POTENTIAL_DEFAULTS[key]
    values = value if isinstance(value, (list, tuple)) else [value]
    return all(not isinstance(v, bool) and isinstance(v, (int, float)) and v == d for v in values)


def _potential(t, dim):
    """Validate the ``[potential]`` table (or a top-level expression / callable string)."""
    if isinstance(t, str):
        from .expressions import CALLABLE_PATTERN

        t = {"kind": "python", "function": t} if CALLABLE_PATTERN.match(t.strip()) else \
            {"kind": "expression", "expression": t}
    if not isinstance(t, Mapping):
        raise SpecError("potential", f"expected a table or an expression string, got {t!r}")
    if "kind" not in t:
        raise SpecError("potential.kind", "missing")
    spelled = t["kind"]
    kind = POTENTIAL_ALIASES.get(spelled, spelled) if isinstance(spelled, str) else spelled
    kind = _choice(kind, "potential.kind", POTENTIAL_KINDS)
    params = POTENTIAL_PARAMETERS[kind]
    for key in t:
        if key == "kind" or key in params or _is_legacy_default(key, t[key]):
            continue
        other = [k for k, ps in POTENTIAL_PARAMETERS.items() if key in ps]
        why = f"not a parameter of kind {kind!r}" if other else "unknown field"
        raise SpecError(f"potential.{key}", f"{why}; {kind} takes: {', '.join(params) or 'nothing'}")
    if kind in ONE_DIMENSIONAL and dim != 1:
        raise SpecError("potential.kind", f"{kind!r} is one-dimensional; got dimension {dim}")
    out = {"kind": kind}
    g = lambda key, default: t.get(key, default)  # noqa: E731
    if kind == "harmonic":
        omega = _num_tuple(g("omega", 1.0), "potential.omega", positive=True)
        if len(omega) == 1:
            omega = omega * dim
        if len(omega) != dim:
            raise SpecError("potential.omega", f"expected 1 or {dim} values, got {len(omega)}")
        out["omega"] = omega
    elif kind == "coulomb":
        out["charge"] = _num(g("charge", 1.0), "potential.charge", positive=True)
        out["softening"] = _num(g("softening", 0.0), "potential.softening", nonneg=True)
    elif kind == "morse":
        if "depth" not in t:
            raise SpecError("potential.depth", "missing (well depth De of V = depth (1 - exp(-a (x - center)))^2)")
        out["depth"] = _num(t["depth"], "potential.depth", positive=True)
        out["a"] = _num(g("a", 1.0), "potential.a", positive=True)
        out["center"] = _num(g("center", 0.0), "potential.center")
    elif kind == "poschl_teller":
        if "lambda" not in t:
            raise SpecError("potential.lambda", "missing (V = -lambda (lambda + 1) sech(x)^2)")
        out["lam"] = _num(t["lambda"], "potential.lambda", positive=True)
    elif kind == "quartic":
        quartic = _num(g("quartic", 1.0), "potential.quartic", nonneg=True)
        # "quartic" defaults to the pure x^4 oscillator, "anharmonic" to x^2 + x^4
        quadratic = _num(g("quadratic", 1.0 if spelled == "anharmonic" else 0.0), "potential.quadratic")
        if quartic == 0 and quadratic <= 0:
            raise SpecError("potential.quadratic", f"must be > 0 when quartic = 0 (no bound states), got {quadratic!r}")
        out.update(quartic=quartic, quadratic=quadratic)
    elif kind == "double_well":
        out["a"] = _num(g("a", 1.0), "potential.a", positive=True)
        out["b"] = _num(g("b", 1.0), "potential.b", positive=True)
    elif kind == "box":
        if "box" not in t:
            raise SpecError("potential.box", "missing (the walls, [[lo, hi], ...] one pair per dimension)")
        out["box"] = _box(t["box"], "potential.box", dim)
    elif kind == "expression":
        from .expressions import check_expression

        if "expression" not in t:
            raise SpecError("potential.expression", "missing (a formula in x0..x{D-1} and r)")
        out["expression"] = check_expression(t["expression"], dim)
    else:
        from .expressions import CALLABLE_PATTERN

        fn = t.get("function")
        if fn is None:
            raise SpecError("potential.function", "missing (\"package.module:function\")")
        if not isinstance(fn, str) or not CALLABLE_PATTERN.match(fn.strip()):
            raise SpecError("potential.function", f"expected \"package.module:function\", got {fn!r}")
        out["function"] = fn.strip()
    return PotentialSpec(**out)


def _sampling(t, dim):
    _check_keys(t, SamplingSpec, "sampling")
    if "kind" not in t:
        raise SpecError("sampling.kind", "missing")
    kind = _choice(t["kind"], "sampling.kind", SAMPLING_KINDS)
    out = dict(kind=kind)
    if kind == "gaussian":
        out["std"] = _num(t.get("std", 1.0), "sampling.std", positive=True)
    elif kind == "mixture":
        if "stds" not in t:
            raise SpecError("sampling.stds", "missing (list of standard deviations)")
        stds = _num_tuple(t["stds"], "sampling.stds", positive=True)
        weights = _num_tuple(t.get("weights", [1.0] * len(stds)), "sampling.weights", positive=True)
        if len(weights) != len(stds):
            raise SpecError("sampling.weights", f"expected {len(stds)} values (one per std), got {len(weights)}")
        total = sum(weights)
        out.update(stds=stds, weights=tuple(w / total for w in weights))
    else:
        if "box" not in t:
            raise SpecError("sampling.box", "missing")
        out["box"] = _box(t["box"], "sampling.box", dim)
    return SamplingSpec(**out)


def _model(t, dim):
    _check_keys(t, ModelSpec, "model")
    d = ModelSpec()
    hidden = t.get("hidden", list(d.hidden))
    if not isinstance(hidden, (list, tuple)) or not hidden:
        raise SpecError("model.hidden", f"expected a non-empty list of layer widths, got {hidden!r}")
    hidden = tuple(_num(h, f"model.hidden[{i}]", integer=True, minimum=1) for i, h in enumerate(hidden))
    radial = t.get("radial_feature", d.radial_feature)
    if not isinstance(radial, bool):
        raise SpecError("model.radial_feature", f"expected true or false, got {radial!r}")
    return ModelSpec(
        architecture=_choice(t.get("architecture", d.architecture), "model.architecture", ARCHITECTURES),
        hidden=hidden,
        activation=_choice(t.get("activation", d.activation), "model.activation", ACTIVATIONS),
        fourier_features=_num(t.get("fourier_features", d.fourier_features), "model.fourier_features",
                              integer=True, nonneg=True),
        fourier_scales=_num_tuple(t.get("fourier_scales", list(d.fourier_scales)), "model.fourier_scales",
                                  positive=True),
        radial_feature=radial,
        envelope=_choice(t.get("envelope", d.envelope), "model.envelope", ENVELOPE_KINDS),
        envelope_width=_num(t.get("envelope_width", d.envelope_width), "model.envelope_width", positive=True),
        envelope_box=_box(t["envelope_box"], "model.envelope_box", dim) if t.get("envelope_box") else (),
    )


def _training(t, modes):
    _check_keys(t, TrainingSpec, "training")
    d = TrainingSpec()
    g = lambda k: t.get(k, getattr(d, k))  # noqa: E731
    nesting = _choice(g("nesting"), "training.nesting", NESTINGS)
    jw = t.get("joint_weights", [])
    if jw:
        if nesting != "joint":
            raise SpecError("training.joint_weights", "only valid with nesting = \"joint\"")
        jw = _num_tuple(jw, "training.joint_weights", positive=True)
        if len(jw) != modes:
            raise SpecError("training.joint_weights", f"expected {modes} values (one per mode), got {len(jw)}")
    batch = _num(g("batch_size"), "training.batch_size", integer=True, minimum=2)
    if batch % 2:
        raise SpecError("training.batch_size", f"must be even (two independent half-batches), got {batch}")
    device = g("device")
    if not isinstance(device, str) or not (device in ("auto", "cpu") or device.startswith("cuda")):
        raise SpecError("training.device", f"expected auto, cpu or cuda[:N], got {device!r}")
    return TrainingSpec(
        iterations=_num(g("iterations"), "training.iterations", integer=True, minimum=1),
        batch_size=batch,
        gram_batch=_num(g("gram_batch"), "training.gram_batch", integer=True, nonneg=True),
        optimizer=_choice(g("optimizer"), "training.optimizer", OPTIMIZERS),
        learning_rate=_num(g("learning_rate"), "training.learning_rate", positive=True),
        final_learning_rate=_num(g("final_learning_rate"), "training.final_learning_rate", nonneg=True),
        schedule=_choice(g("schedule"), "training.schedule", SCHEDULES),
        warmup=_num(g("warmup"), "training.warmup", integer=True, nonneg=True),
        ema_decay=_num(g("ema_decay"), "training.ema_decay", nonneg=True),
        nesting=nesting,
        joint_weights=tuple(jw),
        laplacian=_choice(g("laplacian"), "training.laplacian", LAPLACIANS),
        fd_step=_num(g("fd_step"), "training.fd_step", positive=True),
        dtype=_choice(g("dtype"), "training.dtype", DTYPES),
        eval_every=_num(g("eval_every"), "training.eval_every", integer=True, minimum=1),
        checkpoint_every=_num(g("checkpoint_every"), "training.checkpoint_every", integer=True, minimum=1),
        seed=_num(g("seed"), "training.seed", integer=True, nonneg=True),
        device=device,
    )


def _evaluation(t, dim):
    _check_keys(t, EvaluationSpec, "evaluation")
    if "box" not in t:
        raise SpecError("evaluation.box", "missing")
    d = EvaluationSpec(box=())
    quad = _choice(t.get("quadrature", d.quadrature), "evaluation.quadrature", QUADRATURES)
    if quad == "polar" and dim != 2:
        raise SpecError("evaluation.quadrature", f"'polar' needs dimension 2, got {dim}")
    if quad == "spherical" and dim != 3:
        raise SpecError("evaluation.quadrature", f"'spherical' needs dimension 3, got {dim}")
    std = _num(t.get("std", d.std), "evaluation.std", nonneg=True)
    if std > 0 and quad != "monte-carlo":
        raise SpecError("evaluation.std", f"only used with quadrature = \"monte-carlo\", not {quad!r}")
    return EvaluationSpec(
        box=_box(t["box"], "evaluation.box", dim),
        quadrature=quad,
        points=_num(t.get("points", d.points), "evaluation.points", integer=True, minimum=2),
        panels=_num(t.get("panels", d.panels), "evaluation.panels", integer=True, minimum=1),
        angles=_num(t.get("angles", d.angles), "evaluation.angles", integer=True, minimum=4),
        samples=_num(t.get("samples", d.samples), "evaluation.samples", integer=True, minimum=100),
        std=std,
    )


def _merge(base: dict, over: Mapping) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def apply_preset(data: Mapping[str, Any], preset: str | None) -> dict:
    """Merge the ``[presets.NAME]`` table of raw spec data over its base; drop all presets.

    Raises
    ------
    SpecError
        If the preset is not defined by this spec.
    """
    data = dict(data)
    presets = data.pop("presets", {})
    if not isinstance(presets, Mapping):
        raise SpecError("presets", "expected a table of preset tables")
    if preset is None:
        return data
    if preset not in presets:
        avail = ", ".join(sorted(presets)) or "none"
        raise SpecError("preset", f"unknown preset {preset!r} for this problem; available: {avail}")
    return _merge(data, presets[preset])


def parse_spec(data: Mapping[str, Any]) -> ProblemSpec:
    """Validate a spec given as a (TOML-like) mapping and return a frozen ProblemSpec.

    Parameters
    ----------
    data : mapping
        Parsed TOML content (top-level fields and section tables). A ``presets`` table,
        if present, is ignored here (see :func:`apply_preset`).

    Raises
    ------
    SpecError
        Naming the first unknown, missing or invalid field.
    """
    data = apply_preset(data, None)
    for key in data:
        if key not in _TOP_FIELDS and key not in _SECTIONS:
            raise SpecError(key, f"unknown field; allowed: {', '.join(sorted(_TOP_FIELDS | set(_SECTIONS)))}")
    for key in ("name", "dimension", "potential", "sampling", "evaluation"):
        if key not in data:
            raise SpecError(key, "missing")
    name = data["name"]
    if not isinstance(name, str) or not name:
        raise SpecError("name", f"expected a non-empty string, got {name!r}")
    dim = _num(data["dimension"], "dimension", integer=True, minimum=1)
    modes = _num(data.get("modes", 8), "modes", integer=True, minimum=1)
    reference = _choice(data.get("reference", "auto"), "reference", REFERENCE_KINDS)
    reference_grid = _num(data.get("reference_grid", 0), "reference_grid", integer=True, nonneg=True)
    if 0 < reference_grid < 8:
        raise SpecError("reference_grid", f"must be 0 (automatic) or >= 8 points per axis, got {reference_grid}")
    if reference == "grid" and dim > 3:
        raise SpecError("reference", f"a grid reference needs dimension <= 3, got {dim}")
    for key in ("description", "source"):
        if not isinstance(data.get(key, ""), str):
            raise SpecError(key, "expected a string")
    spec = ProblemSpec(
        name=name,
        dimension=dim,
        description=data.get("description", ""),
        source=data.get("source", ""),
        kinetic=_num(data.get("kinetic", 1.0), "kinetic", positive=True),
        shift=_num(data.get("shift", 0.0), "shift"),
        scale=_num(data.get("scale", 1.0), "scale", positive=True),
        modes=modes,
        reference=reference,
        reference_grid=reference_grid,
        potential=_potential(data["potential"], dim),
        sampling=_sampling(data["sampling"], dim),
        model=_model(data.get("model", {}), dim),
        training=_training(data.get("training", {}), modes),
        evaluation=_evaluation(data["evaluation"], dim),
    )
    return _cross_check(spec)


def walls(spec: ProblemSpec) -> tuple[tuple[float, float], ...] | None:
    """The Dirichlet box of a problem: the box potential's, else a ``box`` envelope's, else None."""
    if spec.potential.kind == "box":
        return spec.potential.box
    if spec.model.envelope == "box":
        return spec.model.envelope_box
    return None


def _cross_check(spec: ProblemSpec) -> ProblemSpec:
    """Checks that involve several sections; fills the box envelope from a box potential."""
    pot, model = spec.potential, spec.model
    if model.envelope != "box" and model.envelope_box:
        raise SpecError("model.envelope_box", f"only used with envelope = \"box\", not {model.envelope!r}")
    if pot.kind == "box":
        if model.envelope != "box":
            raise SpecError("model.envelope", f"the box potential needs envelope = \"box\" (eigenfunctions vanish "
                                              f"on the walls), got {model.envelope!r}")
        if model.envelope_box and model.envelope_box != pot.box:
            raise SpecError("model.envelope_box", f"must equal potential.box {_fmt_box(pot.box)}, "
                                                  f"got {_fmt_box(model.envelope_box)}")
        spec = dataclasses.replace(spec, model=dataclasses.replace(model, envelope_box=pot.box))
        model = spec.model
    elif model.envelope == "box" and not model.envelope_box:
        raise SpecError("model.envelope_box", "missing: the box envelope needs the walls [[lo, hi], ...] "
                                              "(or a box potential)")
    box = walls(spec)
    if box is not None:
        if spec.sampling.kind != "uniform" or spec.sampling.box != box:
            got = f"uniform on {_fmt_box(spec.sampling.box)}" if spec.sampling.kind == "uniform" else spec.sampling.kind
            raise SpecError("sampling", f"with Dirichlet walls the training samples must be uniform on the box "
                                        f"{_fmt_box(box)} (kind = \"uniform\", same box), got {got}")
        if spec.evaluation.quadrature in ("polar", "spherical"):
            raise SpecError("evaluation.quadrature", f"{spec.evaluation.quadrature!r} cannot integrate over a box "
                                                     "with walls; use gauss-legendre or monte-carlo")
        if spec.evaluation.std > 0:
            raise SpecError("evaluation.std", "Gaussian Monte Carlo integrates over all of R^D; with walls use "
                                              "std = 0 (uniform points in the box)")
        if spec.evaluation.box != box:
            raise SpecError("evaluation.box", f"must equal the walls {_fmt_box(box)} (the functions vanish "
                                              f"outside), got {_fmt_box(spec.evaluation.box)}")
    ev = spec.evaluation
    if ev.quadrature == "gauss-legendre" and (ev.points * ev.panels) ** spec.dimension > MAX_TENSOR_NODES:
        raise SpecError("evaluation.points", f"the tensor Gauss-Legendre rule would have "
                                             f"({ev.points}*{ev.panels})^{spec.dimension} = "
                                             f"{(ev.points * ev.panels) ** spec.dimension:.3g} nodes (limit "
                                             f"{MAX_TENSOR_NODES:.0e}); use fewer points/panels or "
                                             "quadrature = \"monte-carlo\" (D >= 4)")
    return spec


def _fmt_box(box) -> str:
    return "[" + ", ".join(f"[{lo:g}, {hi:g}]" for lo, hi in box) + "]"


# --------------------------------------------------------------------------------------
# registry of built-in problems, loading, overrides
# --------------------------------------------------------------------------------------

def _problem_dir():
    """Folder holding the built-in specs: the installed package data, else the checkout's."""
    try:
        d = resources.files("nsvd_cli.problems")
        if any(str(p.name).endswith(".toml") for p in d.iterdir()):
            return d
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        pass
    return Path(__file__).resolve().parent.parent / "problems"


def builtin_problems() -> dict[str, Any]:
    """Map of built-in problem name -> path-like of its TOML file."""
    d = _problem_dir()
    return {p.name[:-5]: p for p in sorted(d.iterdir(), key=lambda p: p.name) if p.name.endswith(".toml")}


def _read_toml(source) -> dict:
    try:
        with source.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError("spec", f"{source}: invalid TOML ({exc})") from None
    except OSError as exc:
        raise SpecError("spec", f"cannot read {source}: {exc.strerror}") from None


def load_spec_data(name_or_path: str | Path) -> dict:
    """Raw TOML mapping of a built-in problem name or a spec file path."""
    s = str(name_or_path)
    builtins = builtin_problems()
    if s in builtins:
        return _read_toml(builtins[s])
    path = Path(s)
    if path.suffix == ".toml" or path.exists():
        if not path.exists():
            raise SpecError("problem", f"spec file {s} not found")
        return _read_toml(path)
    raise SpecError("problem", f"unknown problem {s!r}; built-in problems: {', '.join(builtins)} (or give a .toml file)")


def load_spec(name_or_path: str | Path, *, preset: str | None = None,
              overrides: Mapping[str, Any] | None = None, dimension: int | None = None) -> ProblemSpec:
    """Load and validate a problem spec.

    Parameters
    ----------
    name_or_path : str or Path
        A built-in problem name (see :func:`builtin_problems`) or a path to a TOML file.
    preset : str, optional
        A ``[presets.NAME]`` table of the spec to apply (e.g. ``"paper"``).
    overrides : mapping, optional
        Dotted field names to values, applied after the preset (CLI options), e.g.
        ``{"modes": 16, "training.iterations": 500}``.
    dimension : int, optional
        Move the problem to this dimension first (:func:`resize_dimension`, ``--dim``).

    Raises
    ------
    SpecError
        If the file is missing or invalid, or any field is unknown or invalid.
    """
    data = apply_preset(load_spec_data(name_or_path), preset)
    if dimension is not None:
        data = resize_dimension(data, dimension)
    data = apply_overrides(data, overrides or {})
    return parse_spec(data)


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict:
    """Return a copy of raw spec data with dotted-name overrides set (None values skipped)."""
    out = copy.deepcopy(dict(data))
    for dotted, value in overrides.items():
        if value is None:
            continue
        node = out
        parts = dotted.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def spec_to_dict(spec: ProblemSpec) -> dict:
    """Plain nested dict (lists, not tuples) of a ProblemSpec, parseable by :func:`parse_spec`.

    The ``potential`` table holds ``kind`` and that kind's parameters only.
    """

    def conv(v):
        if isinstance(v, tuple):
            return [conv(x) for x in v]
        return v

    d = dataclasses.asdict(spec)
    out = {k: ({kk: conv(vv) for kk, vv in v.items()} if isinstance(v, dict) else conv(v)) for k, v in d.items()}
    out["potential"] = {"kind": spec.potential.kind, **spec.potential.parameters()}
    return out


# --------------------------------------------------------------------------------------
# --dim: resizing a spec to another dimension
# --------------------------------------------------------------------------------------

def _broadcast_rows(value, name, dim):
    """A per-axis list (numbers or [lo, hi] pairs) resized to ``dim`` when all rows are equal."""
    if not isinstance(value, (list, tuple)):
        return value  # a single number applies to every axis already
    if len(value) == dim:
        return list(value)
    if len(value) == 0:
        return value
    first = value[0]
    if any(v != first for v in value[1:]):
        raise SpecError(name, f"has {len(value)} different per-axis values; cannot resize it to dimension {dim} "
                              "(give one value per axis in the spec instead of --dim)")
    return [copy.deepcopy(first) for _ in range(dim)]


def resize_dimension(data: Mapping[str, Any], dim: int) -> dict:
    """Raw spec data moved to dimension ``dim`` (the ``--dim`` option of ``nsvd solve``).

    * ``dimension = dim``;
    * per-axis fields whose rows are all equal are repeated ``dim`` times: ``potential.omega``,
      ``potential.box``, ``sampling.box``, ``model.envelope_box``, ``evaluation.box`` (a box
      ``[[-5, 5], [-5, 5]]`` becomes ``[[-5, 5]] * dim``); different rows are an error;
    * evaluation: the cusp rules ``polar`` (2D) and ``spherical`` (3D) become each other,
      else ``gauss-legendre``; for ``dim >= 4`` a tensor ``gauss-legendre`` rule becomes
      ``monte-carlo`` (``samples`` points; with Gaussian sampling and no walls, drawn from
      the training Gaussian, ``evaluation.std = sampling.std``, instead of uniform on the
      box); for ``dim = 3`` the nodes per axis ``points * panels`` are capped at 36 (46656
      nodes), by lowering ``panels`` then ``points``.

    Everything else (shift, scale, sampling widths, modes) is kept: choose ``--modes`` as a
    whole number of degenerate shells (a warning says when it cuts one).

    Raises
    ------
    SpecError
        ``field = "dimension"`` for ``dim < 1``; the field name for per-axis values that
        differ between axes.
    """
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise SpecError("dimension", f"must be an integer >= 1, got {dim!r}")
    out = copy.deepcopy(dict(data))
    out["dimension"] = dim
    pot = out.get("potential")
    if isinstance(pot, Mapping):
        for key in ("omega", "box"):
            if key in pot:
                pot[key] = _broadcast_rows(pot[key], f"potential.{key}", dim)
    for section, key in (("sampling", "box"), ("model", "envelope_box"), ("evaluation", "box")):
        t = out.get(section)
        if isinstance(t, Mapping) and key in t:
            t[key] = _broadcast_rows(t[key], f"{section}.{key}", dim)
    ev = out.get("evaluation")
    if isinstance(ev, Mapping):
        quad = ev.get("quadrature", "gauss-legendre")
        if quad in ("polar", "spherical"):  # the rules for a Coulomb cusp at the origin
            quad = ev["quadrature"] = {2: "polar", 3: "spherical"}.get(dim, "gauss-legendre")
        if quad == "gauss-legendre" and dim >= 4:
            ev["quadrature"] = "monte-carlo"
            samp = out.get("sampling")
            walled = isinstance(pot, Mapping) and pot.get("kind") == "box" or \
                isinstance(out.get("model"), Mapping) and out["model"].get("envelope") == "box"
            if isinstance(samp, Mapping) and samp.get("kind") == "gaussian" and not walled and "std" not in ev:
                ev["std"] = samp.get("std", SamplingSpec(kind="gaussian").std)
        elif quad == "gauss-legendre" and dim == 3:
            d = EvaluationSpec(box=())
            points, panels = ev.get("points", d.points), ev.get("panels", d.panels)
            if isinstance(points, int) and isinstance(panels, int) and points * panels > 36:
                panels = max(1, 36 // points)
                ev["panels"], ev["points"] = panels, min(points, 36 // panels)
    return out


# --------------------------------------------------------------------------------------
# TOML output (tomllib only reads)
# --------------------------------------------------------------------------------------

def _toml_key(key: str) -> str:
    import re

    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_value(key)


def _toml_value(v) -> str:
    import json

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # JSON string escapes are valid TOML basic strings
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def to_toml(data: Mapping[str, Any]) -> str:
    """A small TOML writer for spec data: scalars and arrays first, then one ``[table]``
    per nested mapping (recursively, ``[a.b]``). ``tomllib.loads(to_toml(d)) == d`` for
    mappings of strings, numbers, booleans and (nested) lists."""

    def emit(d, prefix, lines):
        tables = [(k, v) for k, v in d.items() if isinstance(v, Mapping)]
        for k, v in d.items():
            if not isinstance(v, Mapping):
                lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
        for k, v in tables:
            name = f"{prefix}.{_toml_key(k)}" if prefix else _toml_key(k)
            lines.append("")
            lines.append(f"[{name}]")
            emit(v, name, lines)

    lines: list[str] = []
    emit(data, "", lines)
    return "\n".join(lines).strip() + "\n"


def spec_to_toml(spec: ProblemSpec) -> str:
    """The fully resolved spec as TOML text (``nsvd problems show``); parses back to ``spec``."""
    return to_toml(spec_to_dict(spec))
