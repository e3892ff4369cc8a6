"""nsvd: lowest eigenstates of Schrödinger operators with NeuralSVD (NestedLoRA).

Public API
----------
load(path) -> Results
    Read a results file; ``Results.eigenfunctions(x)`` evaluates the learned eigenfunctions.
solve(spec, output) -> SolveOutput
    Train and evaluate; write a results file.
load_spec(name_or_path, preset=None, overrides=None) -> ProblemSpec
    A built-in problem (``builtin_problems()``) or a TOML spec file.
Problem.from_spec(spec) -> Problem
    The physics of a run: operator, sampling, evaluation rule, reference, conventions.
nested_lora_loss(f, tf, nesting=...)
    The NestedLoRA objective with its unbiased custom gradient, for any operator.

Conventions: ``H = -kinetic * Laplacian + V`` (no 1/2), ``T = scale * (-H + shift)``;
``eigenvalues`` are of T (descending), ``energies`` of H (ascending).

The names are imported on first use (PEP 562), so that ``import nsvd_cli`` (and
``nsvd --version``) does not import torch, scipy or h5py.
"""

from __future__ import annotations

import importlib
import sys
import types

__version__ = "0.1.0"

#: public name -> module that defines it (imported on first access)
_LAZY = {
    "load": "files.results",
    "Results": "files.results",
    "solve": "solve",
    "SolveOutput": "solve",
    "load_spec": "spec",
    "builtin_problems": "spec",
    "ProblemSpec": "spec",
    "Problem": "problem",
    "nested_lora_loss": "objective",
    "NsvdError": "errors",
    "SpecError": "errors",
    "ResultsExistError": "errors",
    "ResultsFileError": "errors",
    "DivergenceError": "errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


class _Package(types.ModuleType):
    """Keeps ``nsvd_cli.solve`` the function: importing the submodule ``nsvd_cli.solve`` would
    otherwise bind the module over it (the submodule stays in ``sys.modules``)."""

    def __setattr__(self, name, value):
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
