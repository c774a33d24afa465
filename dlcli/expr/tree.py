"""A formula's tree: parsed by the expression parser (formula grammar, never eval), built with simplifying
constructors, and rewritten where the naive formula loses accuracy."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np

from dlcli.errors import InputError
from dlcli.expr import parser
from dlcli.expr.functions import NO_FUNCTIONS, Function, Functions

MAX_DEPTH = 100  # deeper formulas are refused (evaluation and differentiation recurse over the tree)
MAX_LENGTH = 2000
CONSTANTS = {"pi": math.pi, "e": math.e}


class Node(NamedTuple):
    """One node of a formula: op is num, const, x, param, neg, add, sub, mul, div, pow, a comparison, or call."""

    op: str
    args: tuple[Node, ...] = ()
    value: float = 0.0  # num and const
    name: str = ""  # const, param, or the function of a call (A' is the derivative of activation A)
    params: tuple[tuple[str, float], ...] = ()  # an activation call's parameters
    function: Function | None = None  # the passed-in function a call applies (None: a built-in)


def num(v: float) -> Node:
    return Node("num", value=float(v))


ZERO, ONE = num(0.0), num(1.0)


def is_num(n: Node, v: float | None = None) -> bool:
    return n.op in ("num", "const") and (v is None or n.value == v)


# --- parsing -------------------------------------------------------------------------------------

def parse(text: str, functions: Functions, allow_derivatives: bool = False, rewrites: bool = True,
          simplify: bool = True) -> Node:
    """The formula's tree, simplified and with the accurate rewrites applied; an InputError on any problem.
    `functions`: what a call may name beyond the built-ins (the activation library passes its own)."""
    if len(text) > MAX_LENGTH:
        raise InputError(f"the formula is {len(text)} characters long; at most {MAX_LENGTH} characters are accepted")
    with deep_recursion():
        expr = parser.parse(text, formula=True, functions=functions)
        if nesting(expr) > MAX_DEPTH:
            raise InputError(f"the formula nests more than {MAX_DEPTH} levels deep")
        if not simplify:  # the tree as written: only whether x occurs is asked of it
            return _raw(expr)
        tree = _convert(expr, text, allow_derivatives, functions)
        return rewrite(tree, functions) if rewrites else tree


def nesting(expr: parser.Expr) -> int:
    """How deeply `expr` nests: calls, signs, powers and right operands each add a level; a chain of terms
    (a + b - c ...) or of factors (a * b / c ...) is one level however long, as it reads."""
    depth, stack = 0, [(expr, 1)]
    while stack:
        e, d = stack.pop()
        depth = max(depth, d)
        for i, c in enumerate(e.children):
            chained = i == 0 and c.kind in _CHAIN and _CHAIN[c.kind] == _CHAIN.get(e.kind)
            stack.append((c, d if chained else d + 1))
    return depth


_CHAIN = {"add": 1, "sub": 1, "mul": 2, "div": 2}
_RECURSION = 10_000  # evaluation, differentiation and printing recurse once or twice per level of a flat chain


@contextmanager
def deep_recursion() -> Iterator[None]:
    """Room for recursing over a chain of up to MAX_LENGTH terms (Python calls do not use the C stack since 3.11)."""
    before = sys.getrecursionlimit()
    if before < _RECURSION:
        sys.setrecursionlimit(_RECURSION)
    try:
        yield
    finally:
        if before < _RECURSION:
            sys.setrecursionlimit(before)


def _raw(e: parser.Expr) -> Node:
    return Node("x" if e.kind == "name" and e.name == "x" else e.kind, tuple(_raw(c) for c in e.children))


def _convert(e: parser.Expr, text: str, allow_derivatives: bool, functions: Functions) -> Node:
    args = tuple(_convert(c, text, allow_derivatives, functions) for c in e.children)
    if e.kind == "num":
        return num(e.value)
    if e.kind == "name":
        if e.name == "x":
            return Node("x")
        if e.name in CONSTANTS:
            return Node("const", value=CONSTANTS[e.name], name=e.name)
        if e.name in parser.FORMULA_BUILTINS or functions.find(e.name) is not None:
            raise parser.ExprError(f"{e.name} is a function: write {e.name}(...)", text, e.start, e.end)
        return Node("param", name=e.name)
    if e.kind == "neg":
        return neg(args[0])
    if e.kind == "call":
        if e.name.endswith("'") and not allow_derivatives:
            raise parser.ExprError(f"{e.name}(…) is a derivative; write the activation itself", text, e.start, e.end)
        if e.name in ("min", "max"):
            out = args[0]
            for a in args[1:]:
                out = Node(e.name, (out, a))
            return out
        if e.name == "where":
            return where(*args)
        return Node("call", args, name=e.name, params=e.params, function=e.function)
    return BUILD[e.kind](*args)


# --- building with simplification ----------------------------------------------------------------

def neg(a: Node) -> Node:
    if is_num(a):
        return num(-a.value)
    if a.op == "neg":
        return a.args[0]
    if a.op == "mul":
        return mul(num(-1.0), a)
    return Node("neg", (a,))


def _flipped(n: Node) -> Node | None:
    """-n when n carries a visible minus sign (a negative number, a negation, a product led by one), else None."""
    if is_num(n) and n.value < 0:
        return num(-n.value)
    if n.op == "neg":
        return n.args[0]
    if n.op == "mul":
        lead = _factors(n)[0]
        if is_num(lead) and lead.value < 0:
            return mul(num(-1.0), n)
    if n.op == "div" and (top := _flipped(n.args[0])) is not None:
        return Node("div", (top, n.args[1]))
    return None


def add(a: Node, b: Node) -> Node:
    if is_num(a) and is_num(b):
        return num(a.value + b.value)
    if is_num(a, 0.0):
        return b
    if is_num(b, 0.0):
        return a
    if (minus_b := _flipped(b)) is not None:
        return sub(a, minus_b)
    if a.op == "neg":
        return sub(b, a.args[0])
    return Node("add", (a, b))


def sub(a: Node, b: Node) -> Node:
    if is_num(a) and is_num(b):
        return num(a.value - b.value)
    if is_num(b, 0.0):
        return a
    if is_num(a, 0.0):
        return neg(b)
    if (minus_b := _flipped(b)) is not None:
        return add(a, minus_b)
    if a == b:
        return ZERO
    return Node("sub", (a, b))


def _factors(n: Node) -> list[Node]:
    return [f for a in n.args for f in _factors(a)] if n.op == "mul" else [n]


def mul(a: Node, b: Node) -> Node:
    """a·b as one product: numbers folded to the front, then parameters, then x, then the rest in order."""
    factors, sign, c = [], 1.0, 1.0
    for f in _factors(a) + _factors(b):
        while f.op == "neg":
            sign, f = -sign, f.args[0]
        if is_num(f):
            c *= f.value
        else:
            factors.append(f)
    c *= sign
    if c == 0.0 or not factors:
        return num(c)
    if any(f.op == "div" for f in factors):  # a·(p/q) = (a·p)/q
        tops = [f.args[0] if f.op == "div" else f for f in factors]
        bottoms = [f.args[1] for f in factors if f.op == "div"]
        top = mul(num(c), _chain(tops))
        bottom = _chain(bottoms) if len(bottoms) == 1 else mul(ONE, _chain(bottoms))
        return Node("div", (top, bottom)) if not (top.op == "neg") else neg(Node("div", (top.args[0], bottom)))
    rank = {"param": 0, "x": 1}
    factors.sort(key=lambda f: rank.get(f.op, 2))  # stable: the rest keep their order
    if c == -1.0:
        return Node("neg", (mul(ONE, _chain(factors)),))
    return _chain(factors if c == 1.0 else [num(c), *factors])


def _chain(factors: list[Node]) -> Node:
    out = factors[0]
    for f in factors[1:]:
        out = Node("mul", (out, f))
    return out


def div(a: Node, b: Node) -> Node:
    if is_num(a) and is_num(b) and b.value != 0:
        return num(a.value / b.value)
    if is_num(b, 1.0):
        return a
    if is_num(a, 0.0):
        return ZERO
    if is_num(b) and b.value != 0 and math.frexp(b.value)[0] in (0.5, -0.5):  # 1/b exact: a power of two
        return mul(num(1.0 / b.value), a)
    if a.op == "neg":
        return neg(div(a.args[0], b))
    return Node("div", (a, b))


def power(a: Node, b: Node) -> Node:
    if is_num(b, 1.0):
        return a
    if is_num(b, 0.0):
        return ONE
    if is_num(a) and is_num(b):
        with np.errstate(all="ignore"):
            return num(float(np.float64(a.value) ** np.float64(b.value)))
    return Node("pow", (a, b))


def where(c: Node, a: Node, b: Node) -> Node:
    return a if a == b else Node("where", (c, a, b))


def call(name: str, a: Node, params: tuple[tuple[str, float], ...] = (), function: Function | None = None) -> Node:
    return Node("call", (a,), name=name, params=params, function=function)


def _compare(op: str) -> Callable[[Node, Node], Node]:
    return lambda a, b: Node(op, (a, b))


BUILD: dict[str, Callable[..., Node]] = {"add": add, "sub": sub, "mul": mul, "div": div, "pow": power,
                                        **{op: _compare(op) for op in parser.COMPARISONS.values()}}


# --- accurate rewrites ---------------------------------------------------------------------------

def _one_plus(n: Node) -> Node | None:
    """u where n is 1 + u or u + 1."""
    if n.op == "add":
        a, b = n.args
        if is_num(a, 1.0):
            return b
        if is_num(b, 1.0):
            return a
    return None


def _passed_in(functions: Functions, name: str, u: Node, params: tuple[tuple[str, float], ...] = ()) -> Node | None:
    """A call of the passed-in function `name`; None when none was passed (the rewrite is then left out)."""
    found = functions.find(name)
    return None if found is None else call(found.name, u, params, found)


def rewrite(n: Node, functions: Functions = NO_FUNCTIONS) -> Node:
    """Rewrites that keep values accurate where the naive formula loses them (listed in docs/activations.md)."""
    n = n._replace(args=tuple(rewrite(a, functions) for a in n.args))
    return _rewritten(n, functions) or n


def _rewritten(n: Node, functions: Functions) -> Node | None:
    if n.op == "call" and n.name == "log":
        u = _one_plus(n.args[0])
        if u is not None and u.op == "call" and u.name == "exp":
            return _passed_in(functions, "softplus", u.args[0], (("beta", 1.0),))  # log(1 + exp(u)) = softplus(u)
        if u is not None:
            return call("log1p", u)  # log(1 + u) = log1p(u)
        if n.args[0].op == "call" and n.args[0].name == "sigmoid":
            return _passed_in(functions, "logsigmoid", n.args[0].args[0])  # log(sigmoid(u)) = logsigmoid(u)
    if n.op == "call" and n.name == "log1p" and n.args[0].op == "call" and n.args[0].name == "exp":
        return _passed_in(functions, "softplus", n.args[0].args[0], (("beta", 1.0),))  # log1p(exp(u)) = softplus(u)
    if n.op == "sub" and is_num(n.args[1], 1.0) and n.args[0].op == "call" and n.args[0].name == "exp":
        return call("expm1", n.args[0].args[0])  # exp(u) - 1 = expm1(u)
    if n.op == "div" and is_num(n.args[0], 1.0):
        u = _one_plus(n.args[1])
        if u is not None and u.op == "call" and u.name == "exp":
            return _passed_in(functions, "sigmoid", neg(u.args[0]))  # 1/(1 + exp(-u)) = sigmoid(u)
    if n.op == "sub" and is_num(n.args[0], 1.0) and n.args[1].op == "pow" and is_num(n.args[1].args[1], 2.0):
        t = n.args[1].args[0]
        if t.op == "call" and t.name == "tanh" and t.function is not None:
            return call("tanh'", t.args[0], function=t.function)  # 1 - tanh(u)**2 = sech²(u), accurate in the tails
    return None
