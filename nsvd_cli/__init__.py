"""nsvd: lowest eigenstates of Schrödinger operators with NeuralSVD (NestedLoRA).

Public API
----------
load(path) -> Results
    Read a results file; ``Results.eigenfunctions(x)`` evaluates the learned eigenfunctions.
solve(spec, output) -> SolveOutput
    Train and evaluate; write a results file.
load_spec(name_or_path, preset=None, overrides=None) -> ProblemSpec
    A built-in problem (``builtin_problems()``) or a TOML spec file.
nested_lora_loss(f, tf, nesting=...)
    The NestedLoRA objective with its unbiased custom gradient, for any operator.

Conventions: ``H = -kinetic * Laplacian + V`` (no 1/2), ``T = scale * (-H + shift)``;
``eigenvalues`` are of T (descending), ``energies`` of H (ascending).
"""

__version__ = "0.1.0"

from .errors import DivergenceError, NsvdError, ResultsExistError, ResultsFileError, SpecError
from .objective import nested_lora_loss
from .files.results import Results, load
from .solve import SolveOutput, solve
from .spec import ProblemSpec, builtin_problems, load_spec

__all__ = [
    "__version__",
    "load",
    "Results",
    "solve",
    "SolveOutput",
    "load_spec",
    "builtin_problems",
    "ProblemSpec",
    "nested_lora_loss",
    "NsvdError",
    "SpecError",
    "ResultsExistError",
    "ResultsFileError",
    "DivergenceError",
]
