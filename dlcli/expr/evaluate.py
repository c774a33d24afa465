"""A formula's tree evaluated: over numpy arrays, in torch (for autograd in `activations check`), and printed
back as a formula."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlcli.errors import InputError
from dlcli.expr import parser
from dlcli.expr.functions import Function
from dlcli.expr.tree import Node, deep_recursion, is_num

Array = np.ndarray
Params = dict[str, float]

UNARY = {"exp": np.exp, "log": np.log, "log1p": np.log1p, "expm1": np.expm1, "sqrt": np.sqrt, "abs": np.abs,
         "sin": np.sin, "cos": np.cos, "sign": np.sign}


# --- printing ------------------------------------------------------------------------------------

_PREC = {"add": 1, "sub": 1, "mul": 2, "div": 2, "neg": 3, "pow": 4,
         **{op: 0 for op in parser.COMPARISONS.values()}}


def _number(v: float) -> str:
    if v.is_integer() and abs(v) < 1e16:
        return str(int(v))
    return repr(v)


def to_text(n: Node) -> str:
    """The tree as a formula the formula grammar parses back."""
    with deep_recursion():
        return _text(n)


def _text(n: Node) -> str:
    op = n.op
    if op == "num":
        return _number(n.value)
    if op == "const":
        return n.name
    if op == "x":
        return "x"
    if op == "param":
        return n.name
    if op == "neg":
        return "-" + _wrap(n.args[0], 2, strict=False)  # -(a*b) = (-a)*b exactly: no parentheses needed
    if op in _PREC:
        a, b = n.args
        p = _PREC[op]
        right_assoc = op == "pow"
        left = _wrap(a, p, strict=right_assoc)
        right = _wrap(b, p, strict=not right_assoc)
        sym = parser.SYMBOLS[op]
        return f"{left}{sym}{right}" if op in ("mul", "div", "pow") else f"{left} {sym} {right}"
    args = ", ".join(_text(a) for a in n.args)
    if n.params:
        defaults = _function(n).resolve({})
        shown = [f"{key}={_number(v)}" for key, v in n.params if defaults.get(key) != v]
        args = ", ".join([args, *shown])
    return f"{n.name if op == 'call' else op}({args})"


def _wrap(n: Node, parent: int, strict: bool) -> str:
    p = _PREC.get(n.op, 5)
    if n.op == "num" and n.value < 0:
        p = 3
    text = _text(n)
    return f"({text})" if (p < parent or (strict and p == parent)) else text


def _function(n: Node) -> Function:
    """The passed-in function a call node applies (or differentiates)."""
    assert n.function is not None, f"{n.name} is neither a built-in nor a function passed in"
    return n.function


# --- evaluation over numpy arrays ----------------------------------------------------------------

def _mul(a: Any, b: Any) -> Any:
    """a·b with 0·∞ = 0 (the limit of x·σ(x) and its kin at ±∞), NaN kept."""
    out = np.multiply(a, b)
    if isinstance(out, np.ndarray) and np.isnan(out).any():
        fix = ((np.asarray(a) == 0) & np.isinf(b)) | (np.isinf(a) & (np.asarray(b) == 0))
        out = np.where(fix, 0.0, out)
    return out


def evaluate(n: Node, x: Array, params: Params) -> Any:
    """The node's values at x (float64 array), warnings silenced (overflow gives ±inf, undefined NaN)."""
    op = n.op
    if op in ("num", "const"):
        return n.value
    if op == "x":
        return x
    if op == "param":
        return params[n.name]
    a = [evaluate(c, x, params) for c in n.args]
    if op == "neg":
        return np.negative(a[0])
    if op == "add":
        return np.add(a[0], a[1])
    if op == "sub":
        return np.subtract(a[0], a[1])
    if op == "mul":
        return _mul(a[0], a[1])
    if op == "div":
        return np.divide(a[0], a[1])
    if op == "pow":
        return np.power(np.asarray(a[0], dtype=np.float64), a[1])
    if op in _NUMPY_COMPARE:
        return _NUMPY_COMPARE[op](a[0], a[1])
    if op == "where":
        return np.where(a[0], a[1], a[2])
    if op == "max":
        return np.maximum(a[0], a[1])
    if op == "min":
        return np.minimum(a[0], a[1])
    if n.name in UNARY:
        return UNARY[n.name](a[0])
    if n.name == "erf":
        return _erf(a[0])
    u = np.asarray(a[0], dtype=np.float64)
    act = _function(n)
    return (act.grad if n.name.endswith("'") else act.fn)(u, **dict(n.params))


_NUMPY_COMPARE = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
                  "eq": np.equal, "ne": np.not_equal}
_ERF = np.frompyfunc(math.erf, 1, 1)


def _erf(u: Any) -> Any:
    u = np.asarray(u, dtype=np.float64)
    return np.asarray(_ERF(u), dtype=np.float64)


def values(tree: Node, x: Array, params: Params) -> Array:
    """f(x) over a float64 array: NaN in gives NaN out; the result always has x's shape."""
    with np.errstate(all="ignore"), deep_recursion():
        out = np.asarray(evaluate(tree, x, params), dtype=np.float64)
        out = np.broadcast_to(out, x.shape).copy() if out.shape != x.shape else out
        nan = np.isnan(x)
        if nan.any():
            out = np.where(nan, np.nan, out)
    return out


# --- torch, from the same tree --------------------------------------------------------------------

def torch_values(tree: Node, torch: Any, x: Any, params: Params) -> Any:
    """f(x) in torch, built from the tree (autograd differentiates it for `activations check`)."""
    with deep_recursion():
        out = _torch_eval(tree, torch, x, params)
    if not out.requires_grad or out.shape != x.shape:  # a formula that simplified to a constant
        out = out + 0 * x
    return out


def _torch_eval(tree: Node, torch: Any, x: Any, params: Params) -> Any:
    op = tree.op
    if op in ("num", "const", "param"):  # a 0-d tensor broadcasts: no full-size constant is made
        return torch.tensor(params[tree.name] if op == "param" else tree.value, dtype=x.dtype, device=x.device)
    if op == "x":
        return x
    a = [_torch_eval(c, torch, x, params) for c in tree.args]
    simple = {"neg": lambda: -a[0], "add": lambda: a[0] + a[1], "sub": lambda: a[0] - a[1],
              "mul": lambda: a[0] * a[1], "div": lambda: a[0] / a[1], "pow": lambda: _torch_pow(torch, tree, a),
              "lt": lambda: a[0] < a[1], "le": lambda: a[0] <= a[1], "gt": lambda: a[0] > a[1],
              "ge": lambda: a[0] >= a[1], "eq": lambda: a[0] == a[1], "ne": lambda: a[0] != a[1],
              "where": lambda: torch.where(a[0], a[1], a[2]), "max": lambda: torch.maximum(a[0], a[1]),
              "min": lambda: torch.minimum(a[0], a[1])}
    if op in simple:
        out = simple[op]()
        return out.to(x.dtype) if out.dtype == torch.bool and op not in _NUMPY_COMPARE else out
    name = tree.name
    if name in UNARY or name == "erf":
        return getattr(torch, name)(a[0])
    if name == "tanh'":  # the rewrite of 1 - tanh(u)**2, as written
        return 1 - torch.tanh(a[0]) ** 2
    act = _function(tree)
    if name.endswith("'"):
        raise InputError(f"{name}(…) cannot be built in torch")
    return act.torch_ref(torch, a[0], dict(tree.params))


def _torch_pow(torch: Any, tree: Node, a: list[Any]) -> Any:
    exponent = tree.args[1]
    if is_num(exponent):
        return a[0] ** exponent.value  # a constant exponent: autograd differentiates the base only
    return torch.pow(a[0], a[1])
