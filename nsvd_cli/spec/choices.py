"""The closed vocabularies of nsvd: every choice a spec field or a CLI option accepts.

Each is a :data:`typing.Literal`; the spec models (:mod:`nsvd_cli.spec.tables`) use them as
field types and the CLI builds its option choices from them with :func:`choice_enum`, so a
choice is written down exactly once.  This module imports nothing heavy (no pydantic, no
torch): the CLI imports it at start-up.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal, get_args

__all__ = [
    "SamplingKind", "EnvelopeKind", "Architecture", "Activation", "Optimizer", "Schedule", "Nesting", "Method", "Until",
    "LaplacianKind", "Quadrature", "Dtype", "ReferenceKind", "GridMethod", "FdOrder", "Preconditioner",
    "choices", "choice_enum",
]

SamplingKind = Literal["gaussian", "mixture", "uniform"]
EnvelopeKind = Literal["sampling", "gaussian", "exponential", "box", "none", "gaussian-normal-modes", "gaussian-quartic"]
Architecture = Literal["disjoint", "shared"]
Activation = Literal["softplus", "tanh", "silu"]
Optimizer = Literal["rmsprop", "adam"]
Schedule = Literal["cosine", "constant"]
Nesting = Literal["sequential", "joint"]
#: Training objectives (:mod:`nsvd_cli.methods`): NeuralSVD and the baselines of the paper's Sec. 4.1.
Method = Literal["nestedlora", "lora", "neuralef", "spin"]
#: Laplacian backends (:mod:`nsvd_cli.laplacian`): finite differences, nested AD, forward Laplacian.
LaplacianKind = Literal["fd", "exact", "forward"]
#: When training stops: after ``iterations``, or once every mode passes the verdict (``iterations`` the cap).
Until = Literal["iterations", "converged"]
Quadrature = Literal["gauss-legendre", "polar", "spherical", "monte-carlo"]
Dtype = Literal["float32", "float64"]
ReferenceKind = Literal["auto", "analytic", "grid", "none"]
#: Grid eigensolvers of ``nsvd compare --baseline`` (:mod:`nsvd_cli.baselines`).
GridMethod = Literal["eigsh", "lobpcg", "dense"]
#: Finite-difference accuracy orders of the grid Hamiltonian (``--order``).
FdOrder = Literal["2", "4"]
#: Preconditioners of lobpcg (``--preconditioner``).
Preconditioner = Literal["jacobi"]


def choices(literal) -> tuple:
    """The values of a ``Literal`` type, in declaration order."""
    return get_args(literal)


def choice_enum(name: str, literal) -> type[Enum]:
    """A ``str`` Enum whose members (name = value) are the values of ``literal`` (for Typer)."""
    return Enum(name, [(v, v) for v in get_args(literal)], type=str)
