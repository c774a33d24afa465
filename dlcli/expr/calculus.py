"""The symbolic derivative of a formula's tree, simplified as it is built."""

from __future__ import annotations

import math
from collections.abc import Callable

from dlcli.errors import InputError
from dlcli.expr import parser
from dlcli.expr.functions import NO_FUNCTIONS, Functions
from dlcli.expr.tree import ONE, ZERO, Node, add, call, deep_recursion, div, is_num, mul, neg, num, power, sub, where


def derivative(n: Node, functions: Functions = NO_FUNCTIONS) -> Node:
    """d n / dx, simplified; conventions at kinks as torch's autograd (|u|' = 0 at 0, max splits a tie).
    `functions`: those the formula was parsed with (softplus' is written as sigmoid where one is passed)."""
    with deep_recursion():
        return _derivative(n, functions)


def _derivative(n: Node, functions: Functions) -> Node:
    op = n.op
    if op in ("num", "const", "param") or op in parser.COMPARISONS.values():
        return ZERO
    if op == "x":
        return ONE
    d = [_derivative(a, functions) for a in n.args]
    if op == "neg":
        return neg(d[0])
    if op == "add":
        return add(d[0], d[1])
    if op == "sub":
        return sub(d[0], d[1])
    if op == "mul":
        a, b = n.args
        return add(mul(d[0], b), mul(a, d[1]))
    if op == "div":
        a, b = n.args
        return sub(div(d[0], b), div(mul(a, d[1]), power(b, num(2.0))))
    if op == "pow":
        a, b = n.args
        if is_num(d[1], 0.0):  # u**c
            return mul(mul(b, power(a, sub(b, ONE))), d[0])
        if is_num(d[0], 0.0):  # c**u
            return mul(mul(n, call("log", a)), d[1])
        return mul(n, add(mul(d[1], call("log", a)), div(mul(b, d[0]), a)))
    if op == "where":
        return where(n.args[0], d[1], d[2])
    if op in ("max", "min"):
        a, b = n.args
        first = Node("gt" if op == "max" else "lt", (a, b))
        second = Node("lt" if op == "max" else "gt", (a, b))
        return where(first, d[0], where(second, d[1], mul(num(0.5), add(d[0], d[1]))))
    u, du = n.args[0], d[0]
    return mul(_outer(n, u, functions), du)


def _outer(n: Node, u: Node, functions: Functions) -> Node:
    name = n.name
    table: dict[str, Callable[[], Node]] = {
        "exp": lambda: call("exp", u),
        "expm1": lambda: call("exp", u),
        "log": lambda: div(ONE, u),
        "log1p": lambda: div(ONE, add(ONE, u)),
        "sqrt": lambda: div(num(0.5), call("sqrt", u)),
        "abs": lambda: call("sign", u),
        "sign": lambda: ZERO,
        "sin": lambda: call("cos", u),
        "cos": lambda: neg(call("sin", u)),
        "erf": lambda: mul(num(2.0 / math.sqrt(math.pi)), call("exp", neg(power(u, num(2.0))))),
    }
    if name in table:
        return table[name]()
    if name == "tanh'":  # from the rewrite of 1 - tanh(u)**2
        return mul(num(-2.0), mul(call("tanh", u, function=n.function), call("tanh'", u, function=n.function)))
    if name.endswith("'"):
        raise InputError(f"{name}(…) would need a second derivative, which formulas do not have")
    sigmoid = functions.find("sigmoid")
    if name == "softplus" and sigmoid is not None:
        beta = dict(n.params).get("beta", 1.0)
        return call("sigmoid", mul(num(beta), u), function=sigmoid)
    return call(name + "'", u, n.params, n.function)
