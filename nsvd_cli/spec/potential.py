"""The ``[potential]`` table: one pydantic model per kind (formulas in :mod:`nsvd_cli.potentials`).

Conventions: ``H = -kinetic * Laplacian + V`` (no 1/2).  The table is a union discriminated
on ``kind`` (:data:`AnyPotential`): each model holds only that kind's parameters.  The raw
value is normalised first (:func:`_potential_table`): an expression or
``"package.module:function"`` string becomes a table, aliases (``anharmonic``, ``hydrogen``,
...) their kind, and the legacy default parameters older results files store for every kind
are dropped.  Kinds whose ``V`` is unbounded below (a formula tending to -infinity along a
ray, a ``coupled_harmonic`` matrix that is not positive definite) are refused: no lowest
eigenvalue, no bound states.

The registries :data:`POTENTIAL_MODELS`, :data:`POTENTIAL_KINDS`, :data:`POTENTIAL_ALIASES`,
:data:`POTENTIAL_PARAMETERS` and :data:`ONE_DIMENSIONAL` live here too.  Every name is
re-exported by :mod:`nsvd_cli.spec.tables` (and lazily by :mod:`nsvd_cli.spec`).
"""

import math
from typing import Annotated, Any, Literal, Union, get_args

from annotated_types import Ge
from pydantic import BeforeValidator, Field, field_validator, model_validator

from .base import _plain, _Table
from .fields import Box, Float, FloatList, NonNegativeFloat, PositiveFloat, PositiveList, count, invalid

__all__ = [
    "PotentialSpec", "HarmonicPotential", "CoulombPotential", "MorsePotential", "PoschlTellerPotential",
    "QuarticPotential", "DoubleWellPotential", "BoxPotential", "ExpressionPotential", "PythonPotential",
    "CoupledHarmonicPotential", "SeparablePotential", "AnyPotential", "POTENTIAL_MODELS", "POTENTIAL_KINDS",
    "POTENTIAL_ALIASES", "POTENTIAL_PARAMETERS", "ONE_DIMENSIONAL",
]


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
        _refuse_infinite(self.expression)
        return self


def _refuse_infinite(expression: str) -> None:
    """An error when the formula holds a number that overflows to infinity (``1e400``): V is then
    infinite everywhere. A trial: ``x0**2 + 1e400`` was reported as "singular at 192 evaluation
    node(s) ... move the nodes". (A term that overflows only when evaluated, ``exp(1000)``, is
    found on the evaluation nodes, :meth:`nsvd_cli.problem.Problem.check`.)"""
    import ast
    import math

    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        return  # reported where the formula is compiled
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, float) and math.isinf(node.value):
            text = ast.get_source_segment(expression.strip(), node) or repr(node.value)
            raise invalid("potential.expression", f"V = {expression.strip()} is infinite everywhere: the constant "
                                                  f"{text} overflows to infinity (the largest float is ~1.8e308); "
                                                  "write V with finite values")


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
            raise ValueError(_malformed_target(fn.strip()))
        return fn.strip()


def _malformed_target(fn: str) -> str:
    """What is wrong with a ``function`` that is not ``"package.module:function"``: a missing
    part, a file path (``./mypots.py:v``) instead of a module name, or another character."""
    import re

    module, colon, attr = fn.rpartition(":") if fn.count(":") == 1 else ("", "", fn)
    example = f"expected \"package.module:function\", got {fn!r}"
    if not colon:
        return f"{example}: no ':' between the module and the function name" if ":" not in fn else example
    if not attr:
        return f"{example}: missing function name after ':'"
    if not module:
        return f"{example}: missing module name before ':'"
    stem = re.split(r"[/\\]", module)[-1].removesuffix(".py")
    if re.search(r"[/\\]", module) or module.endswith(".py"):
        hint = f"{stem}:{attr}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", stem) else "module:function"
        return (f"{example}: give the module name, not a file path, without .py: {hint} (with the module's folder "
                "on PYTHONPATH)")
    return example


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
        sizes = sorted({len(r) for r in matrix})
        numbers = " or ".join(map(str, sizes))
        raise invalid("matrix", f"must be square (D rows of D numbers, D the dimension): got {n} rows of {numbers} "
                                "numbers")
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

    if isinstance(t, str):  # ':' is never in a formula: a target, maybe malformed ("./mypots.py:v", "pk.sub:")
        target = CALLABLE_PATTERN.match(t.strip()) or (":" in t and not any(c.isspace() for c in t.strip()))
        t = {"kind": "python", "function": t} if target else {"kind": "expression", "expression": t}
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
