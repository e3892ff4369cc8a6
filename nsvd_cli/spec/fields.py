"""Field types of the spec models: numbers, lists and boxes, checked as the TOML gives them.

A TOML spec gives numbers as int or float; these types accept both (never a bool or a
string), refuse non-finite values, and give one-line messages such as ``must be > 0, got
-1.0``.  Lists of numbers accept a single number for a one-element list.  A box is a list of
``[low, high]`` pairs with ``high > low`` (its length, one pair per dimension, is checked by
:class:`~nsvd_cli.spec.tables.ProblemSpec`, which knows the dimension).
"""

import math
from typing import Annotated

from annotated_types import Ge, Gt, Le
from pydantic import AfterValidator, BeforeValidator, Strict
from pydantic_core import PydanticCustomError

__all__ = ["Float", "PositiveFloat", "NonNegativeFloat", "Integer", "count", "Widths", "FloatList",
           "PositiveList", "OptionalPositiveList", "Box", "StrictBool", "invalid", "check_name", "safe_name"]


def invalid(field: str, message: str) -> PydanticCustomError:
    """A validation error naming ``field`` (dotted, relative to the model that raises it)."""
    return PydanticCustomError("spec", "{message}", {"field": field, "message": message})


def _toml(value) -> str:
    """``value`` as a spec author wrote it: TOML's ``true`` / ``false`` for a bool, else its repr."""
    return ("true" if value else "false") if isinstance(value, bool) else repr(value)


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number, got {_toml(value)}")
    if not math.isfinite(value):
        raise ValueError(f"must be finite, got {value!r}")
    return float(value)


def _integer(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected an integer, got {_toml(value)}")
    if not float(value).is_integer():
        raise ValueError(f"expected an integer, got {value!r}")
    return int(value)


def _number_list(value, *, allow_empty: bool):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)) or (not value and not allow_empty):
        raise ValueError(f"expected a non-empty list of numbers, got {value!r}")
    return value


def _widths(value):
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"expected a non-empty list of layer widths, got {value!r}")
    return value


def _box_rows(value):
    if not isinstance(value, (list, tuple)) or not all(isinstance(r, (list, tuple)) and len(r) == 2 for r in value):
        raise ValueError(f"expected pairs [low, high] (one per dimension), got {value!r}")
    return value


def _ordered(box):
    for i, (lo, hi) in enumerate(box):
        if hi <= lo:
            raise ValueError(f"axis {i}: high {hi} must exceed low {lo}")
    return box


Float = Annotated[float, BeforeValidator(_number)]
PositiveFloat = Annotated[float, BeforeValidator(_number), Gt(0)]
NonNegativeFloat = Annotated[float, BeforeValidator(_number), Ge(0)]
Integer = Annotated[int, BeforeValidator(_integer)]


def count(minimum: int, maximum: int | None = None):
    """An integer ``>= minimum`` (and ``<= maximum``: sizes beyond it would exhaust memory
    or hang before any useful work, so they are refused up front)."""
    if maximum is None:
        return Annotated[int, BeforeValidator(_integer), Ge(minimum)]
    return Annotated[int, BeforeValidator(_integer), Ge(minimum), Le(maximum)]


#: Upper bounds of size fields (refused above: memory or time would run out first).
MAX_DIMENSION = 64
MAX_MODES = 1024
MAX_BATCH = 2 ** 22
MAX_WIDTH = 2 ** 14


#: Hidden-layer widths, a non-empty list of integers >= 1.
Widths = Annotated[tuple[count(1, MAX_WIDTH), ...], BeforeValidator(_widths)]
#: A number or a non-empty list of numbers.
FloatList = Annotated[tuple[Float, ...], BeforeValidator(lambda v: _number_list(v, allow_empty=False))]
#: A positive number or a non-empty list of positive numbers.
PositiveList = Annotated[tuple[PositiveFloat, ...], BeforeValidator(lambda v: _number_list(v, allow_empty=False))]
#: As PositiveList, but ``[]`` (the field's "not given") is accepted.
OptionalPositiveList = Annotated[tuple[PositiveFloat, ...], BeforeValidator(lambda v: _number_list(v, allow_empty=True))]
#: ``[[lo, hi], ...]`` with ``hi > lo`` on every axis; ``[]`` is "not given".
Box = Annotated[tuple[tuple[Float, Float], ...], BeforeValidator(_box_rows), AfterValidator(_ordered)]
#: ``true`` or ``false`` only (no 0/1, no strings).
StrictBool = Annotated[bool, Strict()]


#: The form of a problem name, as the refusal states it (the name is the stem of the default
#: results file ``runs/NAME-TIME.h5``, so it must not leave ``runs/``).
NAME_FORM = ("a file name stem (results go to runs/NAME-TIME.h5): no / or \\, no control characters, not . or .., "
             "not starting with -, e.g. \"my-anharmonic\"")


def _name_problem(name: str) -> str | None:
    """Why ``name`` is no safe file name stem, or None."""
    if "/" in name or "\\" in name:
        return "contains a path separator"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "contains a control character"
    if name in (".", ".."):
        return "is a relative folder"
    if name.startswith("-"):
        return "starts with '-' (read as an option)"
    return None


def check_name(name) -> None:
    """Refuse a problem ``name`` that is no safe file name stem (:data:`NAME_FORM`).

    A new-user trial: ``name = "../../evil"`` wrote ``runs/../../evil-TIME.h5`` outside
    ``runs/``; an absolute name created folders; a newline went into the file name.

    Raises
    ------
    ValueError
        One line: what is wrong, the allowed form and the name given.
    """
    if not isinstance(name, str):
        return  # the model reports the type
    why = _name_problem(name)
    if why is not None:
        raise ValueError(f"{why}; must be {NAME_FORM}; got {name!r}")


def safe_name(name: str) -> str:
    """``name`` made a safe file name stem: path separators and control characters become
    ``_``, leading ``-`` are dropped, ``.``/``..`` (or nothing left) become ``problem``.

    For names stored before :func:`check_name` existed (results files): they still load."""
    out = "".join("_" if c in "/\\" or ord(c) < 32 or ord(c) == 127 else c for c in name).lstrip("-")
    return "problem" if out in ("", ".", "..") else out
