"""The spec's tables as pydantic models: the single source of every field, default and choice.

Conventions: ``H = -kinetic * Laplacian + V`` (no 1/2), ``T = scale * (-H + shift)``;
``eigenvalues`` are of T (descending), ``energies`` of H (ascending).

Every model is frozen and refuses unknown fields (:class:`~nsvd_cli.spec.base._Table`).  The
potential table is a union discriminated on ``kind`` (one model per kind, holding only that
kind's parameters): :mod:`nsvd_cli.spec.potential`, whose names are re-exported here.  The
sampling table is one model for all kinds, because results files store all its fields
for every kind; the fields a kind does not use are reset to their defaults.  Checks that
need the dimension or several tables live in :meth:`ProblemSpec._resolve`.  Validation
errors are :class:`pydantic.ValidationError`; :func:`nsvd_cli.spec.parse_spec` turns them
into one-line :class:`~nsvd_cli.errors.SpecError` naming the dotted field.

``model_fields_set`` of every model holds the fields the spec data gave explicitly (values
the validators derive — a broadcast ``omega``, a box envelope filled from a box potential,
normalised mixture weights — keep the status of the field they replace); see
:meth:`ProblemSpec.explicit_fields`.
"""

from typing import Annotated

from annotated_types import Le
from pydantic import Field, field_validator, model_validator

from .base import _plain, _Table  # noqa: F401 -- _plain: re-exported (spec_to_dict used it from here)
from .choices import (
    Activation, Architecture, Dtype, EnvelopeKind, LaplacianKind, Method, Nesting, Optimizer, Quadrature,
    SamplingKind, Schedule, Until,
)
from .fields import (
    Box, Float, NonNegativeFloat, OptionalPositiveList, PositiveFloat, PositiveList, StrictBool, Widths,
    MAX_BATCH, MAX_WIDTH, count, invalid,
)
from .potential import (  # noqa: F401 -- the [potential] table; its names stay importable from here
    ONE_DIMENSIONAL, POTENTIAL_ALIASES, POTENTIAL_KINDS, POTENTIAL_MODELS, POTENTIAL_PARAMETERS, AnyPotential,
    BoxPotential, CoulombPotential, CoupledHarmonicPotential, DoubleWellPotential, ExpressionPotential,
    HarmonicPotential, MorsePotential, PoschlTellerPotential, PotentialSpec, PythonPotential, QuarticPotential,
    SeparablePotential, _potential_table,
)

__all__ = [
    "PotentialSpec", "HarmonicPotential", "CoulombPotential", "MorsePotential", "PoschlTellerPotential",
    "QuarticPotential", "DoubleWellPotential", "BoxPotential", "ExpressionPotential", "PythonPotential",
    "CoupledHarmonicPotential", "SeparablePotential", "SamplingSpec", "ModelSpec", "TrainingSpec", "EvaluationSpec", "POTENTIAL_MODELS",
    "POTENTIAL_KINDS", "POTENTIAL_ALIASES", "POTENTIAL_PARAMETERS", "ONE_DIMENSIONAL", "MAX_TENSOR_NODES",
]

#: Largest tensor Gauss-Legendre rule accepted (nodes); beyond it use Monte Carlo.
MAX_TENSOR_NODES = 2_000_000

#: Most Gauss-Legendre nodes per panel: numpy's ``leggauss(n)`` costs O(n^3) (measured on one
#: core: 0.07 s at 500, 0.3 s at 1000, 2.2 s at 2000, minutes at 10^4); more panels refine as well.
MAX_PANEL_POINTS = 1000


# --------------------------------------------------------------------------------------
# [sampling], [model], [training], [evaluation]
# --------------------------------------------------------------------------------------

#: The sampling fields each kind uses.
_USED = {"gaussian": {"std"}, "mixture": {"stds", "weights"}, "uniform": {"box"}}


class SamplingSpec(_Table):
    """Training sampling distribution p_tr (importance weight w_tr = p_tr, Lebesgue measure).

    ``gaussian``: N(0, std^2 I). ``mixture``: equal-or-``weights``-weighted isotropic
    centred Gaussians with standard deviations ``stds`` (weights stored normalised).
    ``uniform``: the box ``box``.  Fields another kind uses are reset to their defaults.
    """

    kind: SamplingKind
    std: PositiveFloat = Field(1.0, description="gaussian: standard deviation")
    stds: OptionalPositiveList = Field((), description="mixture: standard deviations (required)")
    weights: OptionalPositiveList = Field((), description="mixture: weights (default equal), normalised")
    box: Box = Field((), description="uniform: [[lo, hi], ...] (required)")

    @model_validator(mode="before")
    @classmethod
    def _drop_unused(cls, data):
        """Fields another kind uses are ignored (results files store them at their defaults)."""
        if isinstance(data, dict) and isinstance(data.get("kind"), str) and data["kind"] in _USED:
            return {k: v for k, v in data.items() if k not in cls.model_fields or k == "kind" or k in _USED[data["kind"]]}
        return data

    @model_validator(mode="after")
    def _per_kind(self):
        used = _USED[self.kind]
        if self.kind == "mixture":
            if not self.stds:
                raise invalid("stds", "missing (list of standard deviations)")
            weights = self.weights or (1.0,) * len(self.stds)
            if len(weights) != len(self.stds):
                raise invalid("weights", f"expected {len(self.stds)} values (one per std), got {len(weights)}")
            self.__dict__["weights"] = tuple(w / sum(weights) for w in weights)
        elif self.kind == "uniform" and not self.box:
            raise invalid("box", "missing")
        for name in set(type(self).model_fields) - used - {"kind"}:
            self.__dict__[name] = type(self).model_fields[name].default
            self.model_fields_set.discard(name)
        return self


class ModelSpec(_Table):
    """Network ansatz: psi_l(x) = envelope_l(x) * MLP_l(features(x)).

    ``architecture``: ``disjoint`` (L separate MLPs evaluated in one batched pass) or
    ``shared`` (one MLP with L outputs). ``fourier_features`` K random Fourier features
    (cos, sin) split evenly over ``fourier_scales``; the raw input (and |x| if
    ``radial_feature``) is appended (App. E.1.1). ``envelope``: ``sampling`` is the paper's
    parameterisation (the MLP represents psi / sqrt(p_tr)); ``gaussian`` exp(-|x|^2/(2 a_l^2))
    and ``exponential`` exp(-|x|/a_l) have a learnable length a_l per mode initialised to
    ``envelope_width``; ``box`` is ``prod_i (x_i - lo_i)(hi_i - x_i) / ((hi_i - lo_i)/2)^2``
    on ``envelope_box`` (Dirichlet walls: the functions vanish on the box boundary; filled
    from the potential's box for ``kind = "box"``); ``gaussian-quartic``
    exp(-|x|^2/(2 a_l^2) - sum_i x_i^4/(4 b_l^4)) adds a learnable quartic length b_l per mode,
    initialised to ``envelope_quartic_width`` (wells growing like x_i^4 along the axes);
    ``none`` uses the MLP alone.
    """

    architecture: Architecture = "disjoint"
    hidden: Widths = (64, 64, 64)
    activation: Activation = "softplus"
    fourier_features: count(0, MAX_WIDTH) = 64
    fourier_scales: PositiveList = (0.1,)
    radial_feature: StrictBool = False
    envelope: EnvelopeKind = "sampling"
    envelope_width: PositiveFloat = 1.0
    envelope_quartic_width: PositiveFloat = 1.5
    envelope_box: Box = ()


#: Learning rates above this are refused (float32 optimiser states overflow long before).
MAX_LEARNING_RATE = 100.0

#: Seeds are refused from here on: torch's CPU generator (mt19937) keeps only the low 32
#: bits of a seed, so 2**32 would silently repeat the run of seed 0.
SEED_LIMIT = 2 ** 32


class TrainingSpec(_Table):
    """Optimisation settings (App. E.1: RMSProp 1e-4, cosine schedule, EMA 0.995).

    ``gram_batch``: 0 estimates the Gram matrix of the NestedLoRA gradient from the two
    half-batches (App. D.2); N > 0 from N further samples evaluated without a graph
    (independent of the batch, so still unbiased, with lower variance).

    ``until``: ``iterations`` trains for ``iterations``; ``converged`` stops at the first
    periodic evaluation at which every mode passes the verdict (:mod:`nsvd_cli.verdict`),
    ``iterations`` being the cap. ``tolerance``: the verdict's agreement threshold
    ``|λ_R − λ_N| / λ_R`` (the overlap, order and drift thresholds scale with it).
    ``method``: the training objective (:mod:`nsvd_cli.methods`): ``nestedlora`` (NeuralSVD),
    ``lora`` (unnested, then Rayleigh–Ritz), ``neuralef`` or ``spin`` (the paper's baselines,
    Sec. 4.1; disjoint networks only).
    ``restarts``: how many times (default 0: off, see ``nsvd_cli.solve._Judge.stuck_modes``
    for the measured harm) a dead mode (norm collapsed, overlapping an earlier mode,
    disagreeing estimates) at two periodic evaluations at least the EMA's memory
    ``1/(1 - ema_decay)`` iterations apart) may be re-initialised, while
    at least 30 % of the iterations remain (disjoint networks only).
    """

    iterations: count(1) = 2000
    batch_size: count(2, MAX_BATCH) = 512
    gram_batch: count(0, MAX_BATCH) = 0
    optimizer: Optimizer = "adam"
    learning_rate: Annotated[PositiveFloat, Le(MAX_LEARNING_RATE)] = 1e-3
    final_learning_rate: Annotated[NonNegativeFloat, Le(MAX_LEARNING_RATE)] = 0.0
    schedule: Schedule = "cosine"
    warmup: count(0) = 0
    ema_decay: NonNegativeFloat = 0.995
    method: Method = "nestedlora"
    nesting: Nesting = "sequential"
    joint_weights: OptionalPositiveList = ()
    laplacian: LaplacianKind = "fd"
    fd_step: PositiveFloat = 0.01
    dtype: Dtype = "float32"
    eval_every: count(1) = 1000
    checkpoint_every: count(1) = 1000
    seed: count(0) = 0
    device: str = "auto"
    until: Until = "iterations"
    tolerance: PositiveFloat = 0.01
    restarts: count(0) = 0

    @field_validator("seed")
    @classmethod
    def _seed(cls, seed: int) -> int:
        if seed >= SEED_LIMIT:
            raise ValueError(f"must be < 2**32 = {SEED_LIMIT} (torch's generator keeps only the low 32 bits, so "
                             f"larger seeds would repeat smaller ones), got {seed}")
        return seed

    @field_validator("ema_decay")
    @classmethod
    def _decay(cls, decay: float) -> float:
        """The EMA keeps ``decay`` of the average per step: 1 would never leave the initial
        weights, which the final evaluation would then score (a trial: silently)."""
        if decay >= 1:
            raise ValueError(f"must be in [0, 1) (0: no average; 1 would keep the untrained initial weights for the "
                             f"final evaluation), got {decay!r}")
        return decay

    @field_validator("batch_size")
    @classmethod
    def _even(cls, batch: int) -> int:
        if batch % 2:
            raise ValueError(f"must be even (two independent half-batches), got {batch}")
        return batch

    @field_validator("device", mode="before")
    @classmethod
    def _device(cls, device):
        if not isinstance(device, str) or not (device in ("auto", "cpu") or device.startswith("cuda")):
            raise ValueError(f"expected auto, cpu or cuda[:N], got {device!r}")
        return device

    @model_validator(mode="after")
    def _joint(self):
        if self.joint_weights and self.nesting != "joint":
            raise invalid("joint_weights", "only valid with nesting = \"joint\"")
        return self


class EvaluationSpec(_Table):
    """Evaluation rule for eigenvalues and metrics (App. E.1.3).

    ``quadrature``: ``gauss-legendre`` (tensor rule on ``box`` with ``points`` nodes per
    axis and ``panels`` panels per axis), ``polar`` (2D: radial Gauss-Legendre panels on
    [0, radius] times ``angles`` trapezoid angles; for Coulomb problems, resolves the
    cusp), ``spherical`` (3D: graded radial panels times Gauss-Legendre in cos(theta) with
    ``angles // 2`` nodes and ``angles`` azimuths; for 3D Coulomb problems), ``monte-carlo``
    (``samples`` uniform points on ``box``, or with ``std > 0`` points drawn from
    N(0, std^2 I) and importance-weighted; for D >= 4). A Monte Carlo rule gives every
    figure a standard error (delete-one-block jackknife, :mod:`nsvd_cli.montecarlo`).

    ``ritz_degree``: Rayleigh–Ritz runs on the learned functions times the monomials of degree
    <= ``ritz_degree`` in the coordinates (:func:`nsvd_cli.ritz.ritz_on_polynomial_basis`; 0:
    the learned span alone). Left out (None), it is resolved here, at validation: 2 for a
    deterministic rule, 0 for ``monte-carlo`` (an extended basis would fit the sampling noise,
    and Monte Carlo Ritz values are no bounds anyway). The resolved value is written with the
    spec, so a results file records the degree used.

    ``next_level_lower``: a lower bound, known to the user, of the first level *above* the
    computed ones (level ``modes + 1``; an energy of H, units of V), e.g. from a comparison
    problem with a known spectrum. With it every level gets a second-order lower bound
    (Lehmann, Lehmann–Goerisch); without it the highest cluster's lower side is Kahan's
    (``docs/bounds.md``). A wrong value makes the intervals wrong: it is an assumption.
    """

    box: Box
    quadrature: Quadrature = "gauss-legendre"
    points: count(2) = 48
    panels: count(1, 10 ** 4) = 4
    angles: count(4, 10 ** 4) = 64
    samples: count(100, 10 ** 8) = 200_000
    std: NonNegativeFloat = 0.0
    ritz_degree: count(0, 3) | None = None
    next_level_lower: Float | None = None

    @field_validator("points")
    @classmethod
    def _points(cls, points: int) -> int:
        if points > MAX_PANEL_POINTS:
            raise ValueError(f"must be <= {MAX_PANEL_POINTS} nodes per panel (the Gauss-Legendre nodes of one panel "
                             f"cost O(points^3) to compute), got {points}; use more panels instead")
        return points

    @model_validator(mode="after")
    def _std(self):
        if self.std > 0 and self.quadrature != "monte-carlo":
            raise invalid("std", f"only used with quadrature = \"monte-carlo\", not {self.quadrature!r}")
        if self.ritz_degree is None:  # derived from the rule (fields-set unchanged: not explicit)
            self.__dict__["ritz_degree"] = 0 if self.quadrature == "monte-carlo" else 2
        return self
