"""Spec data: built-in problems, TOML files, presets, CLI overrides and ``--dim``.

Raw spec data is the mapping TOML gives; :func:`parse_spec` validates it into a
:class:`~nsvd_cli.spec.ProblemSpec` (the models in :mod:`nsvd_cli.spec.tables`).  Presets,
overrides and ``--dim`` act on raw data, before validation, so that every field they set
counts as given explicitly (:meth:`~nsvd_cli.spec.ProblemSpec.explicit_fields`).
The way out (:func:`spec_to_dict`, :func:`to_toml`, :func:`spec_to_toml`) is
:mod:`nsvd_cli.spec.writing`; its names are re-exported here.
"""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from ..errors import SpecError
from .writing import spec_to_dict, spec_to_toml, to_toml  # spec output; re-exported from here

__all__ = ["parse_spec", "load_spec", "SpecFileError", "load_spec_data", "builtin_problems", "apply_preset", "apply_overrides",
           "resize_dimension", "check_dimension_family", "spec_to_dict", "spec_to_toml", "to_toml"]


def parse_spec(data: Mapping[str, Any]):
    """Validate a spec given as a (TOML-like) mapping and return a frozen ProblemSpec.

    Parameters
    ----------
    data : mapping
        Parsed TOML content (top-level fields and section tables). A ``presets`` table,
        if present, is ignored here (see :func:`apply_preset`), and so is ``family`` (the
        per-dimension rule :func:`resize_dimension` applies).

    Raises
    ------
    SpecError
        Naming the first unknown, missing or invalid field (dotted, e.g.
        ``"training.learning_rate"``), with a one-line message.
    """
    from pydantic import ValidationError

    from .messages import spec_error
    from .problem import ProblemSpec

    if not isinstance(data, Mapping):
        raise SpecError("spec", f"expected a table, got {data!r}")
    data = apply_preset(data, None)
    family = data.pop("family", None)
    if family is not None and family not in _family_rules():
        raise SpecError("family", f"unknown family {family!r}; known: {', '.join(_family_rules())}")
    data = default_evaluation_rule(data)
    try:
        return ProblemSpec.model_validate(data)
    except ValidationError as exc:
        raise spec_error(exc) from None


#: Monte Carlo evaluation points per dimension when a D >= 4 spec names no rule.
MC_SAMPLES_PER_DIMENSION = 20_000


def default_evaluation_rule(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """Raw spec data with an evaluation rule that fits its dimension, when it names none.

    A spec whose ``[evaluation]`` table gives no ``quadrature`` (nor ``points`` / ``panels``)
    gets, in D = 3, 12 Gauss-Legendre nodes x 3 panels per axis (46 656 nodes; the default
    48 x 4 would exceed the node limit) and, in D >= 4, ``quadrature = "monte-carlo"`` with
    ``samples = 20000 D`` and, for Gaussian (mixture) training sampling without walls, the
    importance std of the (widest) sampling Gaussian. Anything the table gives is kept; other
    data are returned unchanged.
    """
    ev, dim = data.get("evaluation"), data.get("dimension")
    if (not isinstance(ev, Mapping) or not isinstance(dim, int) or isinstance(dim, bool) or dim < 3
            or any(k in ev for k in ("quadrature", "points", "panels"))):
        return data
    ev = dict(ev)
    if dim == 3:
        ev.update(points=12, panels=3)
    else:
        ev.setdefault("samples", MC_SAMPLES_PER_DIMENSION * dim)
        ev["quadrature"] = "monte-carlo"
        sampling, pot = data.get("sampling"), data.get("potential")
        walls = isinstance(pot, Mapping) and pot.get("kind") == "box"
        if isinstance(sampling, Mapping) and not walls and "std" not in ev:
            stds = [sampling.get("std")] if sampling.get("kind", "gaussian") == "gaussian" else \
                list(sampling.get("stds") or []) if sampling.get("kind") == "mixture" else []
            stds = [s for s in stds if isinstance(s, (int, float)) and not isinstance(s, bool) and s > 0]
            if stds:
                ev["std"] = float(max(stds))
    return {**data, "evaluation": ev}


def _problem_dir():
    """Folder holding the built-in specs: the source checkout's ``problems/`` when this package
    runs from one (next to ``pyproject.toml``; an editable install's package data may point
    at another checkout), else the installed package data."""
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and any((root / "problems").glob("*.toml")):
        return root / "problems"
    try:
        d = resources.files("nsvd_cli.problems")
        if any(str(p.name).endswith(".toml") for p in d.iterdir()):
            return d
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        pass
    return Path(__file__).resolve().parents[2] / "problems"


def builtin_problems() -> dict[str, Any]:
    """Map of built-in problem name -> path-like of its TOML file."""
    d = _problem_dir()
    return {p.name[:-5]: p for p in sorted(d.iterdir(), key=lambda p: p.name) if p.name.endswith(".toml")}


#: First bytes of every HDF5 file (an nsvd results file given where a spec is expected).
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _read_toml(source) -> dict:
    """The TOML mapping of a spec file: UTF-8 text, with or without a byte-order mark (an
    editor's "UTF-8 with BOM"); other encodings are refused naming the first bad byte."""
    try:
        raw = source.read_bytes()
    except OSError as exc:
        raise SpecError("spec", f"cannot read {source}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if b"\0" in raw:
            raise SpecError("spec", f"{source}: not a TOML spec (binary content)") from None
        raise SpecError("spec", f"{source}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}, e.g. "
                                "Latin-1); save the spec as UTF-8") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError("spec", f"{source}: invalid TOML ({exc})") from None


def _is_hdf5(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE
    except OSError:
        return False


def _stored_spec_data(path: Path) -> dict:
    """The resolved spec stored in an nsvd results file, as spec data (every field explicit, so
    solving it repeats the run: a trial found no documented way to rerun a stored spec, and
    ``nsvd solve results.h5`` ended in a UnicodeDecodeError traceback)."""
    import json

    import h5py  # the root attributes only (nsvd_cli.files, the writer, lies downstream of specs)

    try:
        with h5py.File(path, "r") as h:
            fmt, text = h.attrs.get("format"), h.attrs.get("spec_json")
    except OSError as err:
        raise SpecError("problem", f"{path}: cannot read the HDF5 file ({err})") from None
    if isinstance(fmt, bytes):
        fmt, text = fmt.decode(), text.decode() if isinstance(text, bytes) else text
    if fmt != "nsvd-results" or not isinstance(text, str):
        raise SpecError("problem", f"{path} is an HDF5 file but not a results file of nsvd solve (format "
                                   f"{fmt!r}); give a spec (.toml), a built-in problem or a results file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise SpecError("problem", f"{path}: its stored spec (spec_json) is not valid JSON") from None
    if isinstance(data, dict) and isinstance(data.get("name"), str):
        from .fields import safe_name

        data["name"] = safe_name(data["name"])  # stored before names were checked: still loads
    return data


def load_spec_data(name_or_path: str | Path) -> dict:
    """Raw TOML mapping of a built-in problem name or a spec file path (or the resolved spec
    stored in an nsvd results file, :func:`_stored_spec_data`)."""
    s = str(name_or_path)
    builtins = builtin_problems()
    if s in builtins:
        return _read_toml(builtins[s])
    path = Path(s)
    if path.suffix == ".toml" or path.exists():
        if not path.exists():
            raise SpecError("problem", f"spec file {s} not found")
        if _is_hdf5(path):
            return _stored_spec_data(path)
        return _read_toml(path)
    raise SpecError("problem", f"unknown problem {s!r}; built-in problems: {', '.join(builtins)} (or give a .toml file)")


def load_spec(name_or_path: str | Path, *, preset: str | None = None,
              overrides: Mapping[str, Any] | None = None, dimension: int | None = None, family_only: bool = False):
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
    family_only : bool
        Refuse ``dimension`` (other than the spec's own) for a spec that names no
        ``family`` (:func:`check_dimension_family`): the CLI's ``--dim``.

    Raises
    ------
    SpecError
        If the file is missing or invalid, or any field is unknown or invalid;
        ``field = "dimension"`` for a non-family spec moved with ``family_only``. An invalid
        value the file gave (not ``overrides`` nor ``dimension``) raises the subclass
        :class:`SpecFileError`, whose message names the file.
    """
    data = apply_preset(load_spec_data(name_or_path), preset)
    if dimension is not None:
        _check_target_dimension(dimension)
        if family_only:
            check_dimension_family(data, dimension, str(name_or_path))
        data = resize_dimension(data, dimension)
    data = apply_overrides(data, overrides or {})
    _check_name(data)
    given = {k for k, v in (overrides or {}).items() if v is not None} | ({"dimension"} if dimension is not None else set())
    try:
        return parse_spec(data)
    except SpecError as err:
        if err.field in given or isinstance(err, SpecFileError):
            raise  # the value came from the command line: the CLI names its option
        raise SpecFileError(err.field, err.message, str(name_or_path)) from None


def _check_name(data: Mapping[str, Any]) -> None:
    """Refuse a ``name`` that is no safe file name stem (:func:`~nsvd_cli.spec.fields.check_name`);
    a results file's stored name was made one already (:func:`_stored_spec_data`)."""
    from .fields import check_name

    try:
        check_name(data.get("name"))
    except ValueError as err:
        raise SpecError("name", str(err)) from None


class SpecFileError(SpecError):
    """A :class:`~nsvd_cli.errors.SpecError` about a value a spec file (or built-in spec) gave,
    not a command-line option: ``str(err)`` is ``"SOURCE: FIELD: MESSAGE"`` and the CLI names
    no option (the user passed none).

    Attributes
    ----------
    source : str
        The spec file path (or built-in name) as the user gave it.
    """

    def __init__(self, field: str, message: str, source: str):
        super().__init__(field, message)
        self.source = source
        self.args = (f"{source}: {field}: {message}",)


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


# --------------------------------------------------------------------------------------
# --dim: resizing a spec to another dimension
# --------------------------------------------------------------------------------------

def check_dimension_family(data: Mapping[str, Any], dim: int, name: str = "") -> None:
    """Refuse ``--dim`` for a spec that is not a dimension family.

    Only a spec naming ``family`` (a rule of :data:`nsvd_cli.defaults.FAMILY_RULES`, e.g.
    the built-in ``harmonic``) defines what it means in another dimension (modes, shift,
    widths per D); any other spec would keep its name, modes, shift and widths while its
    dimension changes — another problem under the old label. ``dim`` equal to the spec's
    own dimension is accepted (nothing changes).

    Raises
    ------
    SpecError
        ``field = "dimension"``: the spec names no family and ``dim`` differs from its
        ``dimension``; the message names the built-ins of the same potential kind in ``dim``.
    """
    if data.get("family") is not None or data.get("dimension") == dim:
        return
    label = data.get("name") or name or "this spec"
    family = _builtin_family(label)
    if family is not None:  # e.g. the output of `nsvd problems show harmonic --dim 4`
        raise SpecError("dimension", f"this spec is the {family} family resolved for D = {data.get('dimension')}; "
                                     f"for D = {dim} run `nsvd solve {label} --dim {dim}` or write its spec with "
                                     f"`nsvd problems show {label} --dim {dim} > spec.toml`")
    pot = data.get("potential")
    kind = pot.get("kind") if isinstance(pot, Mapping) else None
    same = [n for n in builtin_problems() if kind is not None and n != label and _builtin_matches(n, kind, dim)]
    hint = f"use {' or '.join(same)}, or " if same else ""
    raise SpecError("dimension", f"{label} is {_a_dim(data.get('dimension'))} problem, not a dimension family "
                                 f"(specs with family = \"...\", e.g. harmonic, take --dim); {hint}write a spec with "
                                 f"dimension = {dim}")


def _a_dim(dim) -> str:
    """``"a 2D"``, ``"an 8D"``, ``"an 11D"``, ``"an 18D"``, ``"an 80D"``: the article as the number is spoken."""
    text = str(dim)
    return f"{'an' if text.startswith('8') or text in ('11', '18') else 'a'} {text}D"


def _builtin_family(name: str) -> str | None:
    """The ``family`` of built-in ``name``, or None (not a built-in, or not a family)."""
    if name not in builtin_problems():
        return None
    return load_spec_data(name).get("family")


def _builtin_matches(name: str, kind: str, dim: int) -> bool:
    """Whether built-in ``name`` has potential ``kind`` (or its alias) in dimension ``dim``."""
    try:
        d = load_spec_data(name)
    except SpecError:
        return False
    pot = d.get("potential")
    other = pot.get("kind") if isinstance(pot, Mapping) else None
    aliases = {"hydrogen": "coulomb", "anharmonic": "quartic"}
    return d.get("dimension") == dim and aliases.get(other, other) == aliases.get(kind, kind)

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
                              "(write the spec for that dimension instead)")
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

    * a spec with ``family = NAME`` moved to another ``dim <= 3`` gets the evaluation rule of
      that dimension: the default nodes (48 x 4 per axis for D <= 2, 12 x 3 for D = 3) instead of
      the spec's own, and the box of :data:`nsvd_cli.defaults.FAMILY_EVALUATION_RULES`
      (``harmonic``: :func:`nsvd_cli.defaults.oscillator_box_half_width`);
    * a spec with ``family = NAME`` (a rule of :data:`nsvd_cli.defaults.FAMILY_RULES`) gets,
      for ``dim >= 4``, the settings its rule derives for that dimension (``harmonic``:
      :func:`nsvd_cli.defaults.oscillator_family_defaults` — modes, shift, sampling and
      evaluation widths, samples, envelope width, iterations); the CLI options applied
      afterwards still override them.

    Everything else (shift, scale, sampling widths, modes of specs without a family) is
    kept: choose ``--modes`` as a whole number of degenerate shells (a warning says when it
    cuts one).

    Raises
    ------
    SpecError
        ``field = "dimension"`` for ``dim < 1``; the field name for per-axis values that
        differ between axes.
    """
    _check_target_dimension(dim)
    if data.get("dimension") != dim:
        _check_resizable_potential(data, dim)
        _check_family_potential(data)
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
                ev["std"] = samp.get("std", _default("sampling", "std"))
        elif quad == "gauss-legendre" and dim == 3:
            points, panels = ev.get("points", _default("evaluation", "points")), \
                ev.get("panels", _default("evaluation", "panels"))
            if isinstance(points, int) and isinstance(panels, int) and points * panels > 36:
                panels = max(1, 36 // points)
                ev["panels"], ev["points"] = panels, min(points, 36 // panels)
    if data.get("dimension") != dim:
        _refit_family_evaluation(out, dim)
    return _apply_family(out, dim)


def _refit_family_evaluation(data: dict, dim: int) -> None:
    """A family spec moved to ``dim`` below the family rule's range: the evaluation rule fitted
    to ``dim`` (in place).

    The spec's ``points``/``panels`` were chosen for its own dimension (``harmonic``: 12 x 3 for
    D = 3, the node limit's; kept in 1D, its 36 nodes put the Ritz value of the ground state
    below the level 1, rule error 0.013): a tensor Gauss–Legendre rule takes the D-dimensional
    default instead (12 x 3 for D = 3, else the :class:`~nsvd_cli.spec.EvaluationSpec` defaults,
    48 x 4), and the family's evaluation rule (:data:`nsvd_cli.defaults.FAMILY_EVALUATION_RULES`)
    its box. Options given on the command line are applied afterwards and still override both.
    """
    from ..defaults import FAMILY_EVALUATION_RULES, FAMILY_MIN_DIMENSION

    family, ev = data.get("family"), data.get("evaluation")
    if family is None or dim >= FAMILY_MIN_DIMENSION or not isinstance(ev, Mapping):
        return
    if ev.get("quadrature", "gauss-legendre") == "gauss-legendre":
        ev.pop("points", None)
        ev.pop("panels", None)
        if dim == 3:
            ev.update(points=12, panels=3)
    rule = FAMILY_EVALUATION_RULES.get(family)
    _set_dotted(data, rule(data, dim) if rule else {})


def _check_target_dimension(dim) -> None:
    from .fields import MAX_DIMENSION

    if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= MAX_DIMENSION:
        raise SpecError("dimension", f"must be an integer in 1..{MAX_DIMENSION}, got {dim!r}")


def _names(expression: str) -> set[str]:
    """Every name a formula uses (``x0``, ``r``, ``exp``, ...); empty for one that does not parse
    (validation reports it)."""
    import ast

    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError):
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def _coordinates(expression: str) -> list[str]:
    """The coordinate names (``x``, ``x0``, ``x1``, ...) a formula uses, sorted; ``[]`` for a
    formula in ``r = |x|`` alone (or one that does not parse)."""
    import re

    return sorted(n for n in _names(expression) if re.fullmatch(r"x\d*", n))


def _check_resizable_potential(data: Mapping[str, Any], dim: int) -> None:
    """Refuse ``--dim`` for a potential that is written for its own dimension only.

    A formula naming coordinates (``x0**2``) keeps confining only those axes in another
    dimension (``x1 .. x{D-1}`` would be free: no bound states), and a Python function's
    dependence on D is unknown; neither is resized. A formula in ``r = |x|`` alone and the
    built-in kinds (whose per-axis parameters :func:`resize_dimension` repeats) are.

    Raises
    ------
    SpecError
        ``field = "potential"`` naming the coordinates, or the function, and the fix.
    """
    from .potential import _potential_table

    own = data.get("dimension")
    try:
        pot = _potential_table(copy.deepcopy(data.get("potential")))
    except Exception:  # noqa: BLE001 -- malformed: parse_spec reports it with its own message
        return
    kind = pot.get("kind") if isinstance(pot, Mapping) else None
    if kind == "expression" and isinstance(pot.get("expression"), str):
        names = _coordinates(pot["expression"])
        if names:
            raise SpecError("potential", f"V = {pot['expression'].strip()} names the coordinates {', '.join(names)} of "
                                         f"{_a_dim(own)} problem: --dim {dim} would keep that formula, which does not "
                                         f"confine the other axes the same way; write the spec for dimension {dim} "
                                         "(or a formula in r = |x|, or a built-in kind such as harmonic)")
    elif kind == "python":
        raise SpecError("potential", f"the Python potential {pot.get('function')} is written for dimension {own}; "
                                     f"--dim {dim} cannot know how it extends: write the spec for dimension {dim}")


def _check_family_potential(data: Mapping[str, Any]) -> None:
    """Refuse a ``family`` whose per-dimension rule is not about the spec's potential kind
    (:data:`nsvd_cli.defaults.FAMILY_KINDS`: the ``harmonic`` rule's modes, shift and widths
    are those of ``V = omega^2 |x|^2``, kind ``harmonic``)."""
    from ..defaults import FAMILY_KINDS
    from .potential import _potential_table

    family = data.get("family")
    if family not in FAMILY_KINDS:
        return  # no family, or an unknown one (reported by name)
    try:
        kind = _potential_table(copy.deepcopy(data.get("potential"))).get("kind")
    except Exception:  # noqa: BLE001 -- malformed: parse_spec reports it
        return
    if kind not in FAMILY_KINDS[family]:
        raise SpecError("family", f"{family!r} sets the per-dimension settings of a potential of kind "
                                  f"{' or '.join(FAMILY_KINDS[family])}, not {kind!r}: remove family (and write the "
                                  f"spec for each dimension) or use potential.kind = \"{FAMILY_KINDS[family][0]}\"")


def _family_rules() -> dict:
    from ..defaults import FAMILY_RULES

    return FAMILY_RULES


def _apply_family(data: dict, dim: int) -> dict:
    """The per-dimension settings of the spec's ``family`` rule (``dim >= 4``), set in place."""
    from ..defaults import FAMILY_MIN_DIMENSION

    family = data.get("family")
    if family is None or dim < FAMILY_MIN_DIMENSION:
        return data
    rules = _family_rules()
    if family not in rules:
        raise SpecError("family", f"unknown family {family!r}; known: {', '.join(rules)}")
    _set_dotted(data, rules[family](data, dim))
    return data


def _set_dotted(data: dict, values: Mapping[str, Any]) -> None:
    """Set ``{"table.key": value}`` in raw spec data (in place; tables created as needed)."""
    for dotted, value in values.items():
        table, _, key = dotted.rpartition(".")
        node = data.setdefault(table, {}) if table else data
        if isinstance(node, Mapping):
            node[key] = value


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


def _default(section: str, name: str):
    from .tables import EvaluationSpec, SamplingSpec

    return {"sampling": SamplingSpec, "evaluation": EvaluationSpec}[section].model_fields[name].default
