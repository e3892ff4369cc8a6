"""Spec output: a :class:`~nsvd_cli.spec.ProblemSpec` as plain data and as TOML text.

:func:`spec_to_dict` gives the nested mapping :func:`~nsvd_cli.spec.parse_spec` reads back;
:func:`to_toml` writes such a mapping as TOML (numeric arrays on one line);
:func:`spec_to_toml` writes a resolved spec for ``nsvd problems show``, marking the fields
derived from the problem.  The reading side (files, presets, overrides, ``--dim``) is
:mod:`nsvd_cli.spec.loading`, which re-exports these names.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

__all__ = ["spec_to_dict", "to_toml", "spec_to_toml"]


def spec_to_dict(spec) -> dict:
    """Plain nested dict (lists, not tuples; TOML key ``lambda``) of a ProblemSpec, parseable
    by :func:`~nsvd_cli.spec.parse_spec`.  The ``potential`` table holds ``kind`` and that kind's parameters
    only.  Every field is written, so a spec parsed back from it has every field explicit."""
    from .base import _plain

    return _plain(spec.model_dump(by_alias=True, exclude_none=True))


def to_toml(data: Mapping[str, Any]) -> str:
    """TOML text of spec data (:mod:`tomli_w`): scalars first, then one ``[table]`` per
    nested mapping; arrays of numbers (and arrays of such arrays, e.g. a box) on one line
    (``box = [[-4.5, 4.5], [-4.5, 4.5]]``; tomli_w writes one element per line).
    ``tomllib.loads(to_toml(d)) == d`` for mappings of strings, numbers, booleans and (nested)
    lists."""
    import tomli_w

    inline: dict[str, str] = {}

    def mark(value):
        if isinstance(value, Mapping):
            return {k: mark(v) for k, v in value.items()}
        if _numeric_array(value):
            key = f"@inline{len(inline)}@"
            inline[key] = _inline_array(value, tomli_w)
            return key
        return value

    text = tomli_w.dumps(mark(data))
    for key, array in inline.items():
        text = text.replace(f'"{key}"', array)
    return text


def _numeric_array(value) -> bool:
    """A non-empty list of numbers, or of such lists."""
    if not isinstance(value, (list, tuple)) or not value:
        return False
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) or _numeric_array(v) for v in value)


def _inline_array(value, tomli_w) -> str:
    """``[a, b, ...]`` with each number written by tomli_w (valid TOML: ``inf``, ``1e-05``)."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_inline_array(v, tomli_w) for v in value) + "]"
    return tomli_w.dumps({"x": value}).split("=", 1)[1].strip()


def spec_to_toml(spec, derived: Mapping[str, Any] | None = None, rederived: Iterable[str] = (),
                 header: str = "") -> str:
    """The fully resolved spec as TOML text (``nsvd problems show``).

    Parameters
    ----------
    spec : ProblemSpec
        The spec to write; with no other argument the text parses back to ``spec``.
    derived : mapping, optional
        ``{toml name: value}`` of fields derived from the problem
        (:func:`nsvd_cli.defaults.derive_defaults`): their lines end in ``# derived``.
    rederived : iterable of str, optional
        TOML names written commented out (``# name = value  # derived from ...``), so that
        reading the text back leaves them out and the solver derives them again
        (:func:`nsvd_cli.defaults.rederived_fields`).
    header : str
        Comment lines to put first (each prefixed with ``# ``).
    """
    text = to_toml(spec_to_dict(spec))
    derived, rederived = dict(derived or {}), set(rederived)
    if not derived and not rederived and not header:
        return text
    lines, table = [f"# {ln}".rstrip() for ln in header.splitlines()], ""
    for line in text.splitlines():
        if line.startswith("[") and line.endswith("]"):
            table = line[1:-1]
        key = line.split(" = ", 1)[0] if " = " in line and not line.startswith("[") else None
        name = f"{table}.{key}" if table and key else key
        if name in rederived:
            line = f"# {line}  # derived: {_rule(name)}; solve derives it again"
        elif name in derived:
            line += "  # derived"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _rule(name: str) -> str:
    from ..defaults import FOLLOWS

    return FOLLOWS.get(name, "from the problem")
