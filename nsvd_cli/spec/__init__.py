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

Modules: :mod:`~nsvd_cli.spec.choices` (the ``Literal`` vocabularies, also used by the CLI),
:mod:`~nsvd_cli.spec.fields` (number, list and box field types), :mod:`~nsvd_cli.spec.base`
(the tables' shared base model), :mod:`~nsvd_cli.spec.potential` (the ``[potential]`` table:
one model per kind), :mod:`~nsvd_cli.spec.tables` (the other tables),
:mod:`~nsvd_cli.spec.problem` (``ProblemSpec`` and cross-table checks),
:mod:`~nsvd_cli.spec.messages` (validation errors -> SpecError), :mod:`~nsvd_cli.spec.loading`
(files, presets, overrides, ``--dim``) and :mod:`~nsvd_cli.spec.writing` (TOML output).

Names are imported lazily, so that ``nsvd_cli.spec.choices`` (imported by the CLI at
start-up) does not load pydantic.  Nothing here imports torch, scipy or h5py.
"""

from __future__ import annotations

import importlib

#: public name -> submodule defining it
_HOME = {
    **dict.fromkeys(["PotentialSpec", "HarmonicPotential", "CoulombPotential", "MorsePotential",
                     "PoschlTellerPotential", "QuarticPotential", "DoubleWellPotential", "BoxPotential",
                     "ExpressionPotential", "PythonPotential", "SamplingSpec", "ModelSpec", "TrainingSpec",
                     "EvaluationSpec", "POTENTIAL_MODELS", "POTENTIAL_KINDS", "POTENTIAL_ALIASES",
                     "POTENTIAL_PARAMETERS", "ONE_DIMENSIONAL", "MAX_TENSOR_NODES"], "tables"),
    **dict.fromkeys(["ProblemSpec", "walls", "SECTIONS"], "problem"),
    **dict.fromkeys(["parse_spec", "load_spec", "SpecFileError", "load_spec_data", "builtin_problems", "apply_preset",
                     "apply_overrides", "resize_dimension", "check_dimension_family", "spec_to_dict", "spec_to_toml",
                     "to_toml"], "loading"),
    **dict.fromkeys(["SAMPLING_KINDS", "ENVELOPE_KINDS", "ARCHITECTURES", "ACTIVATIONS", "OPTIMIZERS", "SCHEDULES",
                     "NESTINGS", "LAPLACIANS", "QUADRATURES", "DTYPES", "REFERENCE_KINDS"], None),
}
#: the choice tuples of earlier versions, derived from the Literal types
_TUPLES = {"SAMPLING_KINDS": "SamplingKind", "ENVELOPE_KINDS": "EnvelopeKind", "ARCHITECTURES": "Architecture",
           "ACTIVATIONS": "Activation", "OPTIMIZERS": "Optimizer", "SCHEDULES": "Schedule", "NESTINGS": "Nesting",
           "LAPLACIANS": "LaplacianKind", "QUADRATURES": "Quadrature", "DTYPES": "Dtype",
           "REFERENCE_KINDS": "ReferenceKind"}

__all__ = [
    "PotentialSpec", "SamplingSpec", "ModelSpec", "TrainingSpec", "EvaluationSpec", "ProblemSpec",
    "load_spec", "SpecFileError", "parse_spec", "builtin_problems", "load_spec_data", "spec_to_dict", "apply_overrides",
    "apply_preset", "resize_dimension", "check_dimension_family", "spec_to_toml", "to_toml", "walls",
]


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _HOME[name] is None:
        from . import choices

        value = choices.choices(getattr(choices, _TUPLES[name]))
    else:
        value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_HOME))
