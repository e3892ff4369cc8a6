"""The data flow is one-way: lower layers never import higher ones (DESIGN.md)."""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "nsvd_cli"

# module -> modules of the package it must not import (directly)
FORBIDDEN = {
    "spec": {"models", "train", "objective", "operators", "evaluate", "files", "solve", "cli", "plotting"},
    "objective": {"models", "sampling", "operators", "laplacian", "train", "spec", "potentials", "evaluate",
                  "files", "solve", "cli"},
    "models": {"operators", "laplacian", "train", "objective", "evaluate", "files", "solve", "cli"},
    "operators": {"train", "objective", "evaluate", "files", "solve", "cli", "models"},
    "train": {"evaluate", "solve", "cli", "plotting"},  # files: the atomic writer for checkpoints
    "checkpoint": {"train", "evaluate", "solve", "cli", "plotting", "models", "objective"},  # train imports it
    "evaluate": {"train", "files", "solve", "cli", "plotting"},
    "files/results": {"train", "solve", "cli", "plotting", "compare"},
    "files/compare": {"train", "solve", "cli", "plotting", "evaluate"},  # compare: type hints only
    "files/atomic": {"train", "solve", "cli", "plotting", "compare", "evaluate", "models", "problem"},
    "problem": {"train", "solve", "evaluate", "files", "compare", "models", "cli", "plotting"},
    "metrics": {"models", "train", "files", "solve", "cli", "plotting", "references", "baselines", "problem"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level >= 1:
            mod = (node.module or "").split(".")[0]
            if mod:
                out.add(mod)
            else:
                out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nsvd_cli."):
            out.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[1] for a in node.names if a.name.startswith("nsvd_cli."))
    return out


def _files(module: str) -> list[Path]:
    """The source files of a module, or of a package (its relative imports of level 1 are internal)."""
    path = PKG / f"{module}.py"
    return [path] if path.exists() else sorted((PKG / module).glob("*.py"))


@pytest.mark.parametrize("module", sorted(FORBIDDEN))
def test_no_upward_imports(module):
    for path in _files(module):
        bad = _imports(path) & FORBIDDEN[module]
        assert not bad, f"nsvd_cli.{module} ({path.name}) imports {bad}"


def test_nothing_below_cli_imports_cli_or_presentation():
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG)
        if rel.parts[0] in ("cli", "plotting") or rel.name == "__main__.py":
            continue
        src = path.read_text()
        assert "cli" not in _imports(path), f"{rel} imports the CLI"
        assert "import rich" not in src and "from rich" not in src, f"{rel} imports rich"
        assert "matplotlib" not in src, f"{rel} imports matplotlib"


def test_spec_does_not_import_torch():
    for path in _files("spec"):
        tree = ast.parse(path.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not any(n.split(".")[0] == "torch" for n in names), path


def _package_imports(folder: str) -> dict[str, set[str]]:
    return {str(p.relative_to(PKG)): _imports(p) for p in (PKG / folder).rglob("*.py")}


def test_core_never_imports_cli_or_plotting():
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG)
        if rel.parts[0] in ("cli", "plotting") or rel.name == "__main__.py":
            continue
        bad = _imports(path) & {"cli", "plotting"}
        assert not bad, f"{rel} imports {bad}"


def test_plotting_never_imports_solvers():
    """``nsvd plot`` draws what files hold: no training, no grid solver, no grid reference."""
    for rel, imports in _package_imports("plotting").items():
        bad = imports & {"solve", "train", "baselines", "grid", "compare"}
        assert not bad, f"{rel} imports {bad}"


def test_references_are_closed_forms_only():
    for rel, imports in _package_imports("references").items():
        assert "baselines" not in imports, f"{rel} imports the grid solvers"
        src = (PKG / rel).read_text()
        assert "torch" not in _imports(PKG / rel) and "import torch" not in src
