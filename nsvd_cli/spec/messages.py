"""pydantic's ValidationError -> one-line :class:`~nsvd_cli.errors.SpecError` naming the dotted field."""

from typing import get_args

from pydantic import BaseModel, ValidationError

from ..errors import SpecError
from .tables import POTENTIAL_MODELS, EvaluationSpec, ModelSpec, SamplingSpec, TrainingSpec
from .problem import ProblemSpec

__all__ = ["spec_error", "TOP_LEVEL_EXTRAS"]

#: Top-level keys a spec file may hold besides the ProblemSpec fields: ``family`` (the
#: per-dimension rule of ``--dim``) and ``presets`` (the ``[presets.NAME]`` tables).
TOP_LEVEL_EXTRAS = ["family", "presets"]

_TABLES = {"sampling": SamplingSpec, "model": ModelSpec, "training": TrainingSpec, "evaluation": EvaluationSpec}
#: pydantic's names of the constraint errors -> our operator.
_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}


def _owner(loc: tuple) -> tuple[type[BaseModel] | None, tuple]:
    """The model holding the field at ``loc`` and the loc without the union tag."""
    if len(loc) >= 2 and loc[0] == "potential" and loc[1] in POTENTIAL_MODELS:
        return POTENTIAL_MODELS[loc[1]], ("potential", *loc[2:])
    if len(loc) <= 1:
        return ProblemSpec, loc
    return _TABLES.get(loc[0]), loc


def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _field_info(model, name):
    if model is None:
        return None
    for n, f in model.model_fields.items():
        if name in (n, f.alias):
            return f
    return None


def _choices(info) -> tuple:
    ann = info.annotation if info is not None else None
    return tuple(get_args(ann)) if ann is not None else ()


def _message(err: dict, model, name) -> str:
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx", {})
    info = _field_info(model, name)
    if kind == "missing":
        hint = info.description if info is not None and info.description else ""
        return f"missing ({hint})" if hint and model is not ProblemSpec else "missing"
    if kind == "extra_forbidden":
        names = [f.alias or n for n, f in model.model_fields.items()] if model else []
        if model is ProblemSpec:
            names += TOP_LEVEL_EXTRAS  # read before validation (parse_spec, apply_preset)
        names = sorted(names)
        return f"unknown field; allowed: {', '.join(names)}"
    if kind == "literal_error":
        return f"unknown value {value!r}; expected one of {', '.join(map(str, _choices(info)))}"
    if kind in _BOUNDS:
        bound = next(iter(ctx.values()))
        return f"must be {_BOUNDS[kind]} {bound}, got {value!r}"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    if kind == "string_type":
        return f"expected a string, got {value!r}"
    if kind == "bool_type":
        return f"expected true or false, got {value!r}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a table, got {value!r}"
    if kind in ("tuple_type", "list_type"):
        return f"expected a list, got {value!r}"
    return err["msg"]


def _pick(errors: list[dict]) -> dict:
    """The error the hand-written validator reported first: an unknown top-level field,
    else the first error, or an unknown field of the same table."""
    extra = [e for e in errors if e["type"] == "extra_forbidden"]
    top = [e for e in extra if len(e["loc"]) == 1]
    if top:
        return top[0]
    first = errors[0]
    same = [e for e in extra if e["loc"][:1] == first["loc"][:1]]
    return same[0] if same and len(first["loc"]) > 1 else first


def spec_error(exc: ValidationError) -> SpecError:
    """The first error of a validation of :class:`ProblemSpec` as a :class:`SpecError`
    (dotted field such as ``"training.learning_rate"`` or ``"potential.omega[0]"``, one-line
    message without pydantic's wording or URLs)."""
    err = _pick(exc.errors(include_url=False))
    loc = tuple(err["loc"])
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        field = _dotted(loc) + ".kind"
        if err["type"] == "union_tag_not_found":
            return SpecError(field, "missing")
        expected = ", ".join(POTENTIAL_MODELS)
        return SpecError(field, f"unknown value {err['ctx']['tag']!r}; expected one of {expected}")
    model, loc = _owner(loc)
    if err["type"] == "spec":
        extra = err["ctx"]["field"]
        field = ".".join(p for p in (_dotted(loc), extra) if p)
        return SpecError(field, err["ctx"]["message"])
    name = next((p for p in reversed(loc) if isinstance(p, str)), "")
    return SpecError(_dotted(loc), _message(err, model, name))
