"""User potentials written as formulas, e.g. ``"x0**2 + 0.5*x0**4"`` or ``"-1/sqrt(r**2 + 0.1)"``.

The grammar is a small, whitelisted subset of Python expressions:

* numbers (``1``, ``2.5``, ``1e-3``), the constant ``pi``;
* coordinates ``x0 .. x{D-1}`` (and ``x`` for ``x0`` when ``D = 1``), ``r = |x|``;
* ``+ - * / **``, unary ``-``/``+``, parentheses;
* calls of ``exp, log, sqrt, sin, cos, tan, sinh, cosh, tanh, sech, abs`` (one argument)
  and ``pow`` (two arguments), positional arguments only.

The string is parsed ONCE with :func:`ast.parse` (``mode="eval"``); every node is checked
against the whitelist, and the tree is turned into a tree of closures over torch
operations.  Nothing is ever passed to ``eval``/``exec``/``compile``-to-bytecode, so a
string such as ``__import__('os').system('...')`` is refused before anything runs: calls of
names outside the list, attribute access, subscripts, lambdas, comprehensions, strings,
keyword arguments, comparisons, ... all raise a one-line :class:`~nsvd_cli.errors.SpecError`
naming the field (``potential``) and the offending token.  Checking needs no torch
(:func:`check_expression` is used by spec validation); :func:`compile_expression` imports
torch lazily.
"""

from __future__ import annotations

import ast
import math
import re
from typing import Callable

from .errors import SpecError

__all__ = ["check_expression", "compile_expression", "FUNCTIONS", "MAX_LENGTH", "CALLABLE_PATTERN"]

#: Longest accepted expression (characters).
MAX_LENGTH = 2000
#: Deepest accepted expression tree (guards the recursive compiler).
MAX_DEPTH = 60

#: ``"package.module:function"`` — a Python callable instead of a formula.
CALLABLE_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$")


def _torch_functions():
    import torch

    return {
        "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt, "sin": torch.sin, "cos": torch.cos,
        "tan": torch.tan, "sinh": torch.sinh, "cosh": torch.cosh, "tanh": torch.tanh,
        "sech": lambda z: 1.0 / torch.cosh(z), "abs": torch.abs, "pow": torch.pow,
    }


#: Function name -> number of arguments.
FUNCTIONS = {"exp": 1, "log": 1, "sqrt": 1, "sin": 1, "cos": 1, "tan": 1, "sinh": 1, "cosh": 1, "tanh": 1,
             "sech": 1, "abs": 1, "pow": 2}
_CONSTANTS = {"pi": math.pi}
_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_UNARY = {ast.USub: "-", ast.UAdd: "+"}
_FIELD = "potential"

# A readable name for the most likely refused node types.
_REFUSED = {
    ast.Attribute: "attribute access", ast.Subscript: "subscript", ast.Lambda: "lambda",
    ast.ListComp: "comprehension", ast.SetComp: "comprehension", ast.DictComp: "comprehension",
    ast.GeneratorExp: "comprehension", ast.List: "list", ast.Tuple: "tuple", ast.Dict: "dict", ast.Set: "set",
    ast.Compare: "comparison", ast.BoolOp: "boolean operator", ast.IfExp: "conditional expression",
    ast.NamedExpr: "assignment", ast.Starred: "starred argument", ast.JoinedStr: "f-string",
    ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield", ast.Slice: "slice",
}


def _err(message: str) -> SpecError:
    return SpecError(_FIELD, message)


def _segment(text: str, node: ast.AST) -> str:
    seg = ast.get_source_segment(text, node) or type(node).__name__
    seg = " ".join(seg.split())
    return seg if len(seg) <= 60 else seg[:57] + "..."


def _symbols(dim: int) -> dict[str, int | None]:
    """Allowed variable names -> coordinate index (None for r)."""
    out: dict[str, int | None] = {f"x{i}": i for i in range(dim)}
    if dim == 1:
        out["x"] = 0
    out["r"] = None
    return out


def _parse(text, dim: int) -> ast.Expression:
    if not isinstance(text, str):
        raise _err(f"expected an expression string, got {text!r}")
    if not text.strip():
        raise _err("empty expression")
    if len(text) > MAX_LENGTH:
        raise _err(f"expression longer than {MAX_LENGTH} characters")
    if "\n" in text.strip() or "\r" in text:
        raise _err("expression must be on one line")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        col = f" at column {exc.offset}" if exc.offset else ""
        raise _err(f"invalid expression {text.strip()!r}: syntax error{col}") from None
    except (RecursionError, MemoryError, ValueError):
        raise _err("expression too deeply nested or invalid") from None
    _check(tree.body, text.strip(), _symbols(dim), dim, 0)
    return tree


def _check(node: ast.AST, text: str, symbols, dim: int, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise _err(f"expression nested deeper than {MAX_DEPTH} levels")
    if isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise _err(f"refused constant {_segment(text, node)} in expression (only numbers are allowed)")
        return
    if isinstance(node, ast.Name):
        if node.id in symbols or node.id in _CONSTANTS:
            return
        if node.id in FUNCTIONS:
            raise _err(f"function {node.id!r} used without a call in expression")
        if re.fullmatch(r"x\d+", node.id):
            raise _err(f"unknown symbol {node.id!r} in expression: dimension {dim} has x0..x{dim - 1}")
        allowed = ", ".join([*symbols, *_CONSTANTS])
        raise _err(f"unknown symbol {node.id!r} in expression; allowed: {allowed} and functions "
                   f"{', '.join(FUNCTIONS)}")
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINOPS:
            raise _err(f"refused operator in {_segment(text, node)!r} (allowed: + - * / **)")
        _check(node.left, text, symbols, dim, depth + 1)
        _check(node.right, text, symbols, dim, depth + 1)
        return
    if isinstance(node, ast.UnaryOp):
        if type(node.op) not in _UNARY:
            raise _err(f"refused operator in {_segment(text, node)!r} (allowed: unary - and +)")
        _check(node.operand, text, symbols, dim, depth + 1)
        return
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            # e.g. __import__('os').system(...) or (lambda: 1)(): name what is called
            inner = node.func
            what = _REFUSED.get(type(inner), "call of a non-name")
            raise _err(f"refused {what} {_segment(text, inner)!r} in expression")
        name = node.func.id
        if name not in FUNCTIONS:
            raise _err(f"refused call of unknown function {name!r} in expression; allowed: {', '.join(FUNCTIONS)}")
        if node.keywords:
            raise _err(f"refused keyword argument in {_segment(text, node)!r} (positional arguments only)")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise _err(f"refused starred argument in {_segment(text, node)!r}")
        if len(node.args) != FUNCTIONS[name]:
            raise _err(f"{name} takes {FUNCTIONS[name]} argument(s), got {len(node.args)} in {_segment(text, node)!r}")
        for a in node.args:
            _check(a, text, symbols, dim, depth + 1)
        return
    what = _REFUSED.get(type(node), type(node).__name__)
    raise _err(f"refused {what} {_segment(text, node)!r} in expression")


def check_expression(text: str, dim: int) -> str:
    """Validate a potential expression for dimension ``dim`` without compiling it.

    Returns
    -------
    str
        The stripped expression.

    Raises
    ------
    SpecError
        ``field = "potential"``: syntax error, a refused construct or an unknown symbol,
        naming the offending token.
    """
    _parse(text, dim)
    return text.strip()


def compile_expression(text: str, dim: int) -> Callable:
    """Compile a potential expression into a torch function ``V: (B, D) -> (B,)``.

    The AST is walked once into a tree of closures; calling the result evaluates torch
    operations only.  Numbers are float64 0-dim tensors, so integer powers such as
    ``10**10**10`` overflow to ``inf`` instead of hanging, and results take the dtype and
    device of ``x``.

    Raises
    ------
    SpecError
        As :func:`check_expression`.
    """
    import torch

    tree = _parse(text, dim)
    symbols = _symbols(dim)
    funcs = _torch_functions()
    binops = {ast.Add: torch.add, ast.Sub: torch.sub, ast.Mult: torch.mul, ast.Div: torch.div,
              ast.Pow: torch.pow}

    def build(node):
        if isinstance(node, ast.Constant):
            c = torch.tensor(float(node.value), dtype=torch.float64)
            return lambda env: c
        if isinstance(node, ast.Name):
            if node.id in _CONSTANTS:
                c = torch.tensor(_CONSTANTS[node.id], dtype=torch.float64)
                return lambda env: c
            idx = symbols[node.id]
            if idx is None:
                return lambda env: env["r"]
            return lambda env, i=idx: env["x"][:, i]
        if isinstance(node, ast.BinOp):
            op, left, right = binops[type(node.op)], build(node.left), build(node.right)
            return lambda env: op(left(env), right(env))
        if isinstance(node, ast.UnaryOp):
            inner = build(node.operand)
            if isinstance(node.op, ast.USub):
                return lambda env: torch.neg(inner(env))
            return inner
        if isinstance(node, ast.Call):
            f, args = funcs[node.func.id], [build(a) for a in node.args]
            if len(args) == 1:
                a0 = args[0]
                return lambda env: f(a0(env))
            a0, a1 = args
            return lambda env: f(a0(env), a1(env))
        raise AssertionError(f"unchecked node {type(node).__name__}")  # pragma: no cover

    body = build(tree.body)
    uses_r = any(isinstance(n, ast.Name) and n.id == "r" for n in ast.walk(tree))

    def potential(x: torch.Tensor) -> torch.Tensor:
        env = {"x": x}
        if uses_r:
            env["r"] = torch.sqrt((x * x).sum(-1))
        out = body(env)
        if not torch.is_tensor(out) or out.dim() == 0:
            out = torch.as_tensor(out)
        return torch.broadcast_to(out.to(dtype=x.dtype, device=x.device), x.shape[:1])

    potential.expression = text.strip()
    return potential
