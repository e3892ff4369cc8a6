"""``ProblemSpec``: the whole resolved spec, and the checks that span several tables."""

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from .choices import ReferenceKind
from .fields import MAX_DIMENSION, MAX_MODES, Float, PositiveFloat, count, invalid, safe_name
from .tables import (
    MAX_TENSOR_NODES, ONE_DIMENSIONAL, AnyPotential, EvaluationSpec, ModelSpec, SamplingSpec, TrainingSpec, _Table,
)

__all__ = ["ProblemSpec", "walls", "SECTIONS"]

#: The tables of a spec (the other fields are top-level scalars).
SECTIONS = ("potential", "sampling", "model", "training", "evaluation")


class ProblemSpec(_Table):
    """A fully resolved, validated problem: physics + model + training + evaluation.

    ``T = scale * (-H + shift)``, ``H = -kinetic * Laplacian + V``.

    ``reference``: ``auto`` (closed form where known, else the eigsh grid solution for
    D <= 3, else none), ``analytic`` (closed form or none), ``grid`` (always the grid, D <= 3)
    or ``none``.  ``reference_grid``: grid points per axis of a grid reference (0: by D,
    see :func:`nsvd_cli.references.grid_reference`).
    """

    name: str = Field(description="problem name")
    dimension: count(1, MAX_DIMENSION) = Field(description="D")
    potential: AnyPotential = Field(description="a table, an expression string or \"package.module:function\"")
    sampling: SamplingSpec
    evaluation: EvaluationSpec
    model: ModelSpec = Field(default_factory=ModelSpec)
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    description: str = ""
    kinetic: PositiveFloat = 1.0
    shift: Float = 0.0
    scale: PositiveFloat = 1.0
    modes: count(1, MAX_MODES) = 8
    reference: ReferenceKind = "auto"
    reference_grid: count(0) = 0
    source: str = ""

    def eigenvalues_from_energies(self, energies):
        """Eigenvalues of T = scale * (shift - E) for energies E of H (array-like)."""
        return self.scale * (self.shift - energies)

    def energies_from_eigenvalues(self, eigenvalues):
        """Energies of H, E = shift - lambda / scale, for eigenvalues lambda of T."""
        return self.shift - eigenvalues / self.scale

    def explicit_fields(self) -> set[str]:
        """Dotted names (TOML keys, e.g. ``"training.learning_rate"``, ``"modes"``,
        ``"potential.lambda"``) of the fields the spec data gave explicitly — in the spec
        file, its preset, a CLI override or a ``--dim`` rewrite — as opposed to defaults.

        A spec rebuilt from :func:`~nsvd_cli.spec.spec_to_dict` (a results file) lists every
        field as explicit; ``nsvd problems show`` output all but the commented-out
        :data:`nsvd_cli.defaults.FOLLOWS` fields.
        """
        out = {n for n in self.model_fields_set if n not in SECTIONS}
        for section in SECTIONS:
            table = getattr(self, section)
            fields = type(table).model_fields
            out |= {f"{section}.{fields[n].alias or n}" for n in table.model_fields_set}
        return out

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        """Non-empty; made a safe file name stem (:func:`~nsvd_cli.spec.fields.safe_name`): a
        results file written before names were checked still loads. Spec files, built-ins and
        the CLI refuse such a name instead (:func:`~nsvd_cli.spec.load_spec`,
        :func:`~nsvd_cli.spec.fields.check_name`)."""
        if not name:
            raise ValueError(f"expected a non-empty string, got {name!r}")
        return safe_name(name)

    @field_validator("reference_grid")
    @classmethod
    def _grid(cls, n: int) -> int:
        if 0 < n < 8:
            raise ValueError(f"must be 0 (automatic) or >= 8 points per axis, got {n}")
        return n

    @model_validator(mode="after")
    def _resolve(self):
        if self.reference == "grid" and self.dimension > 3:
            raise invalid("reference", f"a grid reference needs dimension <= 3, got {self.dimension}")
        _check_dimension(self)
        _check_walls(self)
        _check_confinement(self)
        _check_evaluation(self)
        _check_reference_grid(self)
        from ..singularities import refuse_singularities

        refuse_singularities(self)  # V -> -inf at a point faster than H allows (Hardy)
        return self


def _set(spec: ProblemSpec, section: str, **changes) -> None:
    """Replace derived values of a table of a spec being validated (fields-set kept)."""
    spec.__dict__[section] = getattr(spec, section)._derive(**changes)


def _rows(box, field: str, dim: int):
    if len(box) != dim:
        pairs = "1 pair" if dim == 1 else f"{dim} pairs"
        raise invalid(field, f"expected {pairs} [low, high] (one per dimension), got {[list(r) for r in box]!r}")


def _check_dimension(spec: ProblemSpec) -> None:
    """Per-axis lengths and the kinds / rules tied to a dimension; broadcasts ``omega``."""
    dim, pot = spec.dimension, spec.potential
    if pot.kind in ONE_DIMENSIONAL and dim != 1:
        raise invalid("potential.kind", f"{pot.kind!r} is one-dimensional; got dimension {dim}")
    pot.check_dimension(dim)  # kinds whose parameters depend on D (coupled_harmonic, separable)
    if pot.kind == "harmonic":
        if len(pot.omega) not in (1, dim):
            raise invalid("potential.omega", f"expected 1 or {dim} values, got {len(pot.omega)}")
        _set(spec, "potential", omega=pot.omega * dim if len(pot.omega) == 1 else pot.omega)
    elif pot.kind == "box":
        _rows(pot.box, "potential.box", dim)
    elif pot.kind == "expression":
        from ..errors import SpecError
        from ..expressions import check_expression

        try:
            _set(spec, "potential", expression=check_expression(pot.expression, dim))
        except SpecError as err:
            raise PydanticCustomError("spec", "{message}", {"field": err.field, "message": err.message}) from None
    if spec.sampling.kind == "uniform":
        _rows(spec.sampling.box, "sampling.box", dim)
    if spec.model.envelope_box:
        _rows(spec.model.envelope_box, "model.envelope_box", dim)
    jw = spec.training.joint_weights
    if jw and len(jw) != spec.modes:
        raise invalid("training.joint_weights", f"expected {spec.modes} values (one per mode), got {len(jw)}")
    quad = spec.evaluation.quadrature
    need = {"polar": 2, "spherical": 3}.get(quad)
    if need is not None and dim != need:
        raise invalid("evaluation.quadrature", f"{quad!r} needs dimension {need}, got {dim}")
    _rows(spec.evaluation.box, "evaluation.box", dim)


def walls(spec: ProblemSpec) -> tuple[tuple[float, float], ...] | None:
    """The Dirichlet box of a problem: the box potential's, else a ``box`` envelope's, else None."""
    if spec.potential.kind == "box":
        return spec.potential.box
    if spec.model.envelope == "box":
        return spec.model.envelope_box
    return None


def _fmt_box(box) -> str:
    return "[" + ", ".join(f"[{lo:g}, {hi:g}]" for lo, hi in box) + "]"


def _check_confinement(spec: ProblemSpec) -> None:
    """Refuse a formula that leaves an axis free: ``V`` not depending on ``x_d`` (nor on ``r``)
    without walls is invariant under translations along ``x_d``, so H has no bound states
    (a new-user trial: a D = 6 spec without an ``x5`` term trained and reported energies)."""
    pot = spec.potential
    if pot.kind != "expression" or walls(spec) is not None:
        return
    from .loading import _names

    names = _names(pot.expression)
    if "r" in names or (spec.dimension == 1 and "x" in names):
        return
    free = [f"x{d}" for d in range(spec.dimension) if f"x{d}" not in names]
    if free:
        axes = ", ".join(free)
        raise invalid("potential.expression", f"V = {pot.expression.strip()} does not depend on {axes}: H is then "
                                              f"invariant under translations along {axes} and has no bound states "
                                              f"(free motion); add a confining term (e.g. + {free[0]}**2) or walls "
                                              "(model.envelope = \"box\")")


def _check_walls(spec: ProblemSpec) -> None:
    """The box envelope and Dirichlet walls; fills the box envelope from a box potential."""
    pot, model = spec.potential, spec.model
    if pot.kind == "box" and model.envelope != "box" and "envelope" not in model.model_fields_set:
        _set(spec, "model", envelope="box")  # the default: derived "box" (nsvd_cli.defaults)
        model = spec.model
    if model.envelope != "box" and model.envelope_box:
        raise invalid("model.envelope_box", f"only used with envelope = \"box\", not {model.envelope!r}")
    if pot.kind == "box":
        if model.envelope != "box":
            raise invalid("model.envelope", f"the box potential needs envelope = \"box\" (eigenfunctions vanish "
                                            f"on the walls), got {model.envelope!r}; write envelope = \"box\" "
                                            "in [model] or leave it out (derived)")
        if model.envelope_box and model.envelope_box != pot.box:
            raise invalid("model.envelope_box", f"must equal potential.box {_fmt_box(pot.box)}, "
                                                f"got {_fmt_box(model.envelope_box)}")
        _set(spec, "model", envelope_box=pot.box)
    elif model.envelope == "box" and not model.envelope_box:
        raise invalid("model.envelope_box", "missing: the box envelope needs the walls [[lo, hi], ...] "
                                            "(or a box potential)")
    box = walls(spec)
    if box is None:
        return
    sampling, ev = spec.sampling, spec.evaluation
    if sampling.kind != "uniform" or sampling.box != box:
        got = f"uniform on {_fmt_box(sampling.box)}" if sampling.kind == "uniform" else sampling.kind
        raise invalid("sampling", f"with Dirichlet walls the training samples must be uniform on the box "
                                  f"{_fmt_box(box)} (kind = \"uniform\", same box), got {got}")
    if ev.quadrature in ("polar", "spherical"):
        raise invalid("evaluation.quadrature", f"{ev.quadrature!r} cannot integrate over a box with walls; use "
                                               "gauss-legendre or monte-carlo")
    if ev.std > 0:
        raise invalid("evaluation.std", "Gaussian Monte Carlo integrates over all of R^D; with walls use std = 0 "
                                        "(uniform points in the box)")
    if ev.box != box:
        raise invalid("evaluation.box", f"must equal the walls {_fmt_box(box)} (the functions vanish outside), "
                                        f"got {_fmt_box(ev.box)}")


def _check_evaluation(spec: ProblemSpec) -> None:
    """Refuse an evaluation rule of more than :data:`MAX_TENSOR_NODES` nodes (its build, and every
    evaluation on it, would exhaust memory or time)."""
    ev, dim = spec.evaluation, spec.dimension
    nodes = (ev.points * ev.panels) ** dim
    if ev.quadrature == "gauss-legendre" and nodes > MAX_TENSOR_NODES:
        raise invalid("evaluation.points", f"the tensor Gauss-Legendre rule would have ({ev.points}*{ev.panels})^{dim}"
                                           f" = {nodes:.3g} nodes (limit {MAX_TENSOR_NODES:.0e}); use fewer "
                                           "points/panels or quadrature = \"monte-carlo\"")
    angular = {"polar": ev.angles, "spherical": max(ev.angles // 2, 1) * ev.angles}.get(ev.quadrature)
    if angular is not None and ev.points * ev.panels * angular > MAX_TENSOR_NODES:
        nodes = ev.points * ev.panels * angular
        raise invalid("evaluation.angles", f"the {ev.quadrature} rule would have {nodes:.3g} nodes (points * panels * "
                                           f"{'angles' if ev.quadrature == 'polar' else '(angles // 2) * angles'}; "
                                           f"limit {MAX_TENSOR_NODES:.0e}); use fewer angles, points or panels")


#: A grid reference of more points than this is refused at spec load (``reference_grid``):
#: eigsh on 10^7 points takes ~5 min in 1D and ~1.4 h in 2D (estimated,
#: :func:`nsvd_cli.baselines.timing.estimate_eigsh_seconds`).
MAX_GRID_POINTS = 10 ** 7
#: ... and one estimated (:func:`nsvd_cli.baselines.memory.estimate_memory`) to need more memory
#: than this (1 TiB: more than any machine nsvd runs on; the solve itself checks the memory it finds).
MAX_GRID_MEMORY = 2.0 ** 40


def _check_reference_grid(spec: ProblemSpec) -> None:
    """Refuse a ``reference_grid`` that no machine can solve: ``N^d`` points with ``d = D`` (D <= 3,
    the full grid a grid reference or ``nsvd compare`` solves) or ``d = 1`` (D > 3: the 1D grids of a
    separable reference), beyond :data:`MAX_GRID_POINTS` or :data:`MAX_GRID_MEMORY` for eigsh with
    ``modes + 1`` levels and the order-4 stencil. A trial: ``reference_grid = 100000000`` was
    accepted and the solve hung."""
    n = spec.reference_grid
    if n == 0:
        return
    d = spec.dimension if spec.dimension <= 3 else 1
    points = n ** d
    if points <= MAX_GRID_POINTS and (d == 1 or points <= MAX_GRID_POINTS // 100):
        return  # far below the memory limit: no estimate (and no scipy import) needed
    from ..baselines.memory import estimate_memory, format_bytes, largest_grid

    levels, stencil = spec.modes + 1, 4 * d + 1
    need = estimate_memory(points, levels, "eigsh", stencil, dimension=d)
    if points <= MAX_GRID_POINTS and need <= MAX_GRID_MEMORY:
        return
    fit = min(largest_grid(d, levels, "eigsh", MAX_GRID_MEMORY, nnz_per_row=stencil, upto=n),
              int(round(MAX_GRID_POINTS ** (1.0 / d))))
    grid = f"{n}^{d} = {points:.3g} points" if d > 1 else f"{n} points"
    raise invalid("reference_grid", f"a grid of {grid} (~{format_bytes(need)} for eigsh) is beyond any grid "
                                    f"reference (at most {MAX_GRID_POINTS:.0e} points and {format_bytes(MAX_GRID_MEMORY)}); "
                                    f"use reference_grid <= {fit} (0: automatic) or reference = \"none\"")
