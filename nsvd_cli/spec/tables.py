"""The spec's tables as pydantic models: the single source of every field, default and choice.

Conventions: ``H = -kinetic * Laplacian + V`` (no 1/2), ``T = scale * (-H + shift)``;
``eigenvalues`` are of T (descending), ``energies`` of H (ascending).

Every model is frozen and refuses unknown fields.  The potential table is a union
discriminated on ``kind`` (one model per kind, holding only that kind's parameters).  The
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

import math
from typing import Annotated, Any, Literal, Union, get_args

from annotated_types import Ge, Le
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from .choices import (
    Activation, Architecture, Dtype, EnvelopeKind, LaplacianKind, Method, Nesting, Optimizer, Quadrature, ReferenceKind,
    SamplingKind, Schedule, Until,
)
from .fields import (
    Box, Float, FloatList, NonNegativeFloat, OptionalPositiveList, PositiveFloat, PositiveList, StrictBool, Widths,
    MAX_BATCH, MAX_WIDTH, count, invalid,
)

__all__ = [
    "PotentialSpec", "HarmonicPotential", "CoulombPotential", "MorsePotential", "PoschlTellerPotential",
    "QuarticPotential", "DoubleWellPotential", "BoxPotential", "ExpressionPotential", "PythonPotential",
    "CoupledHarmonicPotential", "SeparablePotential", "SamplingSpec", "ModelSpec", "TrainingSpec", "EvaluationSpec", "ProblemSpec", "POTENTIAL_MODELS",
    "POTENTIAL_KINDS", "POTENTIAL_ALIASES", "POTENTIAL_PARAMETERS", "ONE_DIMENSIONAL", "MAX_TENSOR_NODES",
]

#: Largest tensor Gauss-Legendre rule accepted (nodes); beyond it use Monte Carlo.
MAX_TENSOR_NODES = 2_000_000


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def _derive(self, **changes) -> "_Table":
        """A copy with derived values set, keeping which fields were given explicitly."""
        new = self.model_copy(update=changes)
        object.__setattr__(new, "__pydantic_fields_set__", set(self.model_fields_set))
        return new


# --------------------------------------------------------------------------------------
# [potential]: one model per kind (formulas in nsvd_cli.potentials)
# --------------------------------------------------------------------------------------

class PotentialSpec(_Table):
    """Base of the potential models: ``kind`` and that kind's parameters only."""

    kind: str

    def parameters(self) -> dict:
        """The parameters of this kind as TOML keys -> values (tuples as lists)."""
        return _plain(self.model_dump(by_alias=True, exclude={"kind"}))

    def check_dimension(self, dim: int) -> "PotentialSpec":
        """This potential checked (and resolved) for dimension ``dim``; called by
        :class:`~nsvd_cli.spec.ProblemSpec` (fields in errors are dotted from the spec root).
        The base class accepts any dimension."""
        return self

    def describe(self) -> str:
        """Short one-line description, e.g. ``"morse depth=16 a=1 center=0"``."""
        if self.kind in ("expression", "python"):
            return next(iter(self.parameters().values()))
        parts = []
        for k, v in self.parameters().items():
            if k == "box":
                v = "×".join(f"[{lo:g}, {hi:g}]" for lo, hi in v)
            elif isinstance(v, list):
                v = f"{v[0]:g}" if len(set(v)) == 1 else "(" + ", ".join(f"{x:g}" for x in v) + ")"
            else:
                v = f"{v:g}"
            parts.append(f"{k}={v}")
        return " ".join([self.kind, *parts])


class HarmonicPotential(PotentialSpec):
    """``V = sum_i omega_i^2 x_i^2``; one ``omega`` is repeated on every axis."""

    kind: Literal["harmonic"] = "harmonic"
    omega: PositiveList = Field((1.0,), description="one value or one per axis")


class CoulombPotential(PotentialSpec):
    """``V = -charge / sqrt(|x|^2 + softening^2)`` (any D; closed form in 2D/3D)."""

    kind: Literal["coulomb"] = "coulomb"
    charge: PositiveFloat = 1.0
    softening: NonNegativeFloat = 0.0


class MorsePotential(PotentialSpec):
    """``V = depth (1 - exp(-a (x - center)))^2`` (D = 1)."""

    kind: Literal["morse"] = "morse"
    depth: PositiveFloat = Field(description="well depth De of V = depth (1 - exp(-a (x - center)))^2")
    a: PositiveFloat = 1.0
    center: Float = 0.0


class PoschlTellerPotential(PotentialSpec):
    """``V = -lam (lam + 1) sech(x)^2`` (D = 1; TOML key ``lambda``)."""

    kind: Literal["poschl_teller"] = "poschl_teller"
    lam: PositiveFloat = Field(alias="lambda", description="V = -lambda (lambda + 1) sech(x)^2")


class QuarticPotential(PotentialSpec):
    """``V = sum_i (quadratic x_i^2 + quartic x_i^4)`` (alias ``anharmonic``: quadratic = 1)."""

    kind: Literal["quartic"] = "quartic"
    quadratic: Float = 0.0
    quartic: NonNegativeFloat = 1.0

    @model_validator(mode="after")
    def _bound(self):
        if self.quartic == 0 and self.quadratic <= 0:
            raise invalid("quadratic", f"must be > 0 when quartic = 0 (no bound states), got {self.quadratic!r}")
        return self


class DoubleWellPotential(PotentialSpec):
    """``V = sum_i a (x_i^2 - b^2)^2``."""

    kind: Literal["double_well"] = "double_well"
    a: PositiveFloat = 1.0
    b: PositiveFloat = 1.0


class BoxPotential(PotentialSpec):
    """``V = 0`` inside ``box`` with infinite (Dirichlet) walls."""

    kind: Literal["box"] = "box"
    box: Box = Field(description="the walls, [[lo, hi], ...] one pair per dimension")


class ExpressionPotential(PotentialSpec):
    """A formula in ``x0..x{D-1}`` and ``r`` (:mod:`nsvd_cli.expressions`)."""

    kind: Literal["expression"] = "expression"
    expression: str = Field(description="a formula in x0..x{D-1} and r")

    def check_dimension(self, dim: int) -> "ExpressionPotential":
        """Refuse a formula that tends to -infinity along some ray (:func:`_refuse_descent`)."""
        from ..errors import SpecError
        from ..expressions import compile_expression

        try:
            fn = compile_expression(self.expression, dim)
        except SpecError:
            return self  # a symbol error is reported where the formula is compiled, with its own message
        _refuse_descent(fn, dim, "potential.expression", f"V = {self.expression}")
        return self


def _refuse_descent(fn, dim: int, field: str, what: str) -> None:
    """An error naming ``field`` when the potential ``fn`` tends to -infinity along a ray
    (:func:`nsvd_cli.potentials.descent_direction`): H is unbounded below, so there is no
    lowest eigenvalue and no bound state to learn (as a coupled_harmonic matrix that is not
    positive definite)."""
    from ..potentials import descent_direction

    u = descent_direction(fn, dim)
    if u is None:
        return
    if dim == 1:
        where = f"x → {'+' if u[0] > 0 else '−'}∞"
    else:
        where = "|x| → ∞ along (" + ", ".join(f"{float(c):.2g}" for c in u) + ")"
    raise invalid(field, f"{what} tends to −∞ as {where}: H is unbounded below (no lowest eigenvalue, no bound "
                         "states); add a term that grows faster, e.g. a positive x**4, or walls (kind = \"box\")")


class PythonPotential(PotentialSpec):
    """``function = "package.module:function"``, a callable ``(B, D) -> (B,)``; the module
    must be importable (installed, or on ``PYTHONPATH``)."""

    kind: Literal["python"] = "python"
    function: str = Field(description="\"package.module:function\"")

    @field_validator("function")
    @classmethod
    def _target(cls, fn: str) -> str:
        from ..expressions import CALLABLE_PATTERN

        if not CALLABLE_PATTERN.match(fn.strip()):
            raise ValueError(f"expected \"package.module:function\", got {fn!r}")
        return fn.strip()


class CoupledHarmonicPotential(PotentialSpec):
    """``V = x^T A x`` with ``A`` symmetric positive definite (D x D).

    ``form``: ``matrix`` (``A = matrix``, D rows of D numbers), ``chain`` (nearest-neighbour
    chain: ``A_ii = 1``, ``A_i,i+1 = A_i+1,i = coupling``; eigenvalues
    ``1 + 2 coupling cos(k pi / (D + 1))``, k = 1..D, positive for ``|coupling| < 1/2`` in
    any D) or ``random`` (``A = Q diag(a) Q^T``, Q Haar-random orthogonal from ``seed``, a
    geometric from 1 to ``condition``).  Levels ``E = sum_k sqrt(kinetic a_k) (2 n_k + 1)``
    (:mod:`nsvd_cli.references.coupled`); ``A = omega^2 I`` is ``harmonic``'s ``omega``.
    """

    kind: Literal["coupled_harmonic"] = "coupled_harmonic"
    form: Literal["matrix", "chain", "random"] = Field("matrix", description="how A is given")
    matrix: tuple[FloatList, ...] = Field((), description="form = matrix: A, [[...], ...] (D rows)")
    coupling: Float = Field(0.0, description="form = chain: the off-diagonal g")
    seed: count(0) = Field(0, description="form = random: seed of Q")
    condition: Annotated[Float, Ge(1.0)] = Field(1.0, description="form = random: condition number of A")

    @model_validator(mode="after")
    def _form(self):
        unused = {"matrix": ("coupling", "seed", "condition"), "chain": ("matrix", "seed", "condition"),
                  "random": ("matrix", "coupling")}[self.form]
        for name in unused:
            if getattr(self, name) != type(self).model_fields[name].default:
                raise invalid(name, f"only used with form = \"{_FORM_OF[name]}\", not \"{self.form}\"")
        if self.form == "matrix":
            _check_spd(self.matrix)
        return self

    def matrix_for(self, dim: int):
        """``A`` in dimension ``dim`` as a float64 ndarray of shape (D, D).

        Raises
        ------
        PydanticCustomError
            ``potential.matrix`` of the wrong size, ``potential.coupling`` not positive definite.
        """
        import numpy as np

        if self.form == "matrix":
            if len(self.matrix) != dim:
                raise invalid("potential.matrix", f"expected {dim} rows of {dim} numbers (dimension {dim}), "
                                                  f"got {len(self.matrix)} rows")
            return np.array(self.matrix, dtype=np.float64)
        if self.form == "chain":
            a_min = 1.0 - 2.0 * abs(self.coupling) * math.cos(math.pi / (dim + 1))
            if a_min <= 0:
                raise invalid("potential.coupling", f"{self.coupling:g} makes the chain matrix not positive "
                                                    f"definite in dimension {dim} (smallest eigenvalue {a_min:.3g});"
                                                    " need |coupling| < 1 / (2 cos(pi / (D + 1))), e.g. < 0.5")
            return np.eye(dim) + self.coupling * (np.eye(dim, k=1) + np.eye(dim, k=-1))
        rng = np.random.default_rng(self.seed)
        q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
        q = q * np.where(np.diag(r) < 0, -1.0, 1.0)  # Haar measure (Mezzadri 2007)
        a = self.condition ** (np.arange(dim) / max(dim - 1, 1))
        return 0.5 * ((q * a) @ q.T + ((q * a) @ q.T).T)

    def check_dimension(self, dim: int) -> "CoupledHarmonicPotential":
        self.matrix_for(dim)
        return self

    def describe(self) -> str:
        if self.form == "matrix":
            return f"coupled_harmonic matrix {len(self.matrix)}x{len(self.matrix)}"
        if self.form == "chain":
            return f"coupled_harmonic chain coupling={self.coupling:g}"
        return f"coupled_harmonic random seed={self.seed} condition={self.condition:g}"


_FORM_OF = {"matrix": "matrix", "coupling": "chain", "seed": "random", "condition": "random"}


def _check_spd(matrix) -> None:
    """A square, symmetric, positive definite matrix, or an error naming ``matrix``."""
    import numpy as np

    if not matrix:
        raise invalid("matrix", "missing: form = \"matrix\" needs A as [[...], ...] (D rows of D numbers)")
    n = len(matrix)
    if any(len(row) != n for row in matrix):
        raise invalid("matrix", f"must be square: {n} rows of {n} numbers, got rows of {[len(r) for r in matrix]}")
    a = np.array(matrix, dtype=np.float64)
    if not np.allclose(a, a.T, rtol=1e-12, atol=1e-12 * np.abs(a).max()):
        i, j = np.unravel_index(np.argmax(np.abs(a - a.T)), a.shape)
        raise invalid("matrix", f"must be symmetric, got A[{i}][{j}] = {a[i, j]:g} != A[{j}][{i}] = {a[j, i]:g}")
    lowest = float(np.linalg.eigvalsh(a)[0])
    if lowest <= 0:
        raise invalid("matrix", f"must be positive definite (bound states need V -> inf), smallest eigenvalue "
                                f"{lowest:.3g}")


class SeparablePotential(PotentialSpec):
    """``V = sum_i v_i(x_i)``: ``expression`` (a formula in ``x``, the same on every axis) or
    ``expressions`` (one formula in ``x`` per axis).  Reference: 1D grid solutions summed over
    index tuples (:mod:`nsvd_cli.baselines.separable`), in any dimension."""

    kind: Literal["separable"] = "separable"
    expression: str = Field("", description="v(x), repeated over the axes")
    expressions: tuple[str, ...] = Field((), description="v_i(x), one per axis")

    @model_validator(mode="after")
    def _one(self):
        from ..errors import SpecError
        from ..expressions import check_expression

        if bool(self.expression) == bool(self.expressions):
            raise invalid("expression", "give exactly one of expression (one formula in x for every axis) or "
                                        "expressions (one per axis)")
        field = "expression" if self.expression else "expressions"
        texts = [self.expression] if self.expression else list(self.expressions)
        try:
            out = [check_expression(t, 1) for t in texts]
        except SpecError as err:
            raise invalid(field, f"{err.message} (a formula in the one variable x)") from None
        from ..expressions import compile_expression

        for i, text in enumerate(out):
            _refuse_descent(compile_expression(text, 1), 1, field if self.expression else f"{field}[{i}]",
                            f"v(x) = {text}")
        self.__dict__[field] = out[0] if self.expression else tuple(out)
        return self

    def axis_expressions(self, dim: int) -> tuple[str, ...]:
        """The formula of each axis, length ``dim``."""
        return (self.expression,) * dim if self.expression else self.expressions

    def check_dimension(self, dim: int) -> "SeparablePotential":
        if self.expressions and len(self.expressions) != dim:
            raise invalid("potential.expressions", f"expected {dim} formulas (one per axis), "
                                                   f"got {len(self.expressions)}")
        return self

    def describe(self) -> str:
        if self.expression:
            return f"separable sum_i v(x_i), v = {self.expression}"
        return "separable " + " + ".join(self.expressions)


#: The potential models by kind.
POTENTIAL_MODELS = {get_args(m.model_fields["kind"].annotation)[0]: m for m in (
    HarmonicPotential, CoulombPotential, MorsePotential, PoschlTellerPotential, QuarticPotential,
    DoubleWellPotential, BoxPotential, ExpressionPotential, PythonPotential, CoupledHarmonicPotential,
    SeparablePotential)}
POTENTIAL_KINDS = tuple(POTENTIAL_MODELS)
#: Accepted spellings of potential kinds that are stored under another name.
POTENTIAL_ALIASES = {"anharmonic": "quartic", "hydrogen": "coulomb", "poschl-teller": "poschl_teller",
                     "double-well": "double_well", "callable": "python",
                     "coupled-harmonic": "coupled_harmonic"}
#: Parameters (TOML keys of ``[potential]``) of each kind.
POTENTIAL_PARAMETERS = {k: tuple(f.alias or n for n, f in m.model_fields.items() if n != "kind")
                        for k, m in POTENTIAL_MODELS.items()}
#: Kinds defined only in one dimension.
ONE_DIMENSIONAL = ("morse", "poschl_teller")
#: Parameters older results files store for every kind, tolerated at these default values.
_LEGACY_DEFAULTS = {"omega": 1.0, "charge": 1.0, "softening": 0.0}


def _potential_table(t: Any) -> Any:
    """Normalise the raw ``potential`` value: an expression / callable string becomes a
    table, aliases their kind, legacy default parameters are dropped, and a parameter of
    another kind is named as such."""
    from ..expressions import CALLABLE_PATTERN

    if isinstance(t, str):
        t = {"kind": "python", "function": t} if CALLABLE_PATTERN.match(t.strip()) else \
            {"kind": "expression", "expression": t}
    if not isinstance(t, dict):
        raise invalid("", f"expected a table or an expression string, got {t!r}")
    spelled = t.get("kind")
    kind = POTENTIAL_ALIASES.get(spelled, spelled) if isinstance(spelled, str) else spelled
    if not isinstance(kind, str) or kind not in POTENTIAL_MODELS:
        return t  # the discriminator reports a missing or unknown kind
    params = POTENTIAL_PARAMETERS[kind]
    out = {"kind": kind}
    for key, value in t.items():
        if key == "kind" or key in params:
            out.setdefault(key, value)
        elif not _is_legacy_default(key, value):
            other = any(key in ps for ps in POTENTIAL_PARAMETERS.values())
            why = f"not a parameter of kind {kind!r}" if other else "unknown field"
            raise invalid(key, f"{why}; {kind} takes: {', '.join(params) or 'nothing'}")
    if spelled == "anharmonic" and "quadratic" not in out:
        out["quadratic"] = 1.0  # "quartic" is the pure x^4 oscillator, "anharmonic" x^2 + x^4
    return out


def _is_legacy_default(key, value) -> bool:
    if key not in _LEGACY_DEFAULTS:
        return False
    values = value if isinstance(value, (list, tuple)) else [value]
    return all(not isinstance(v, bool) and isinstance(v, (int, float)) and v == _LEGACY_DEFAULTS[key] for v in values)


AnyPotential = Annotated[Union[tuple(POTENTIAL_MODELS.values())], Field(discriminator="kind"),
                         BeforeValidator(_potential_table)]


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
    points: count(2, 10 ** 4) = 48
    panels: count(1, 10 ** 4) = 4
    angles: count(4, 10 ** 4) = 64
    samples: count(100, 10 ** 8) = 200_000
    std: NonNegativeFloat = 0.0
    ritz_degree: count(0, 3) | None = None
    next_level_lower: Float | None = None

    @model_validator(mode="after")
    def _std(self):
        if self.std > 0 and self.quadrature != "monte-carlo":
            raise invalid("std", f"only used with quadrature = \"monte-carlo\", not {self.quadrature!r}")
        if self.ritz_degree is None:  # derived from the rule (fields-set unchanged: not explicit)
            self.__dict__["ritz_degree"] = 0 if self.quadrature == "monte-carlo" else 2
        return self


def _plain(value):
    """Tuples -> lists, recursively (TOML / JSON / HDF5 attribute friendly)."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value

