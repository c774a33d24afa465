"""Activations written as formulas in x: parsed by the graph parser (formula grammar, never eval), evaluated over
numpy arrays, differentiated symbolically, and rebuilt in torch from the same tree for `activations check`.

    >>> act = from_formula("x*sigmoid(b*x)")
    >>> act.derivative_formula
    "f'(x) = sigmoid(b*x) + b*x*sigmoid'(b*x)"
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from dlcli.activations import user
from dlcli.activations.base import Activation, Array, Param, Params
from dlcli.activations.base import get as get_activation
from dlcli.errors import InputError, unknown_name
from dlcli.graph import parser

MAX_DEPTH = 100  # deeper formulas are refused (evaluation and differentiation recurse over the tree)
MAX_LENGTH = 2000
CONSTANTS = {"pi": math.pi, "e": math.e}
UNARY = {"exp": np.exp, "log": np.log, "log1p": np.log1p, "expm1": np.expm1, "sqrt": np.sqrt, "abs": np.abs,
         "sin": np.sin, "cos": np.cos, "sign": np.sign}
KINKY = {"abs", "sign", "min", "max", "where", "lt", "le", "gt", "ge", "eq", "ne"}
_IDENTIFIER = re.compile(r"\s*[A-Za-z_][A-Za-z_0-9-]*\s*")
_CACHE: dict[str, Activation] = {}


class Node(NamedTuple):
    """One node of a formula: op is num, const, x, param, neg, add, sub, mul, div, pow, a comparison, or call."""

    op: str
    args: tuple[Node, ...] = ()
    value: float = 0.0  # num and const
    name: str = ""  # const, param, or the function of a call (A' is the derivative of activation A)
    params: tuple[tuple[str, float], ...] = ()  # an activation call's parameters


def num(v: float) -> Node:
    return Node("num", value=float(v))


ZERO, ONE = num(0.0), num(1.0)


def _is_num(n: Node, v: float | None = None) -> bool:
    return n.op in ("num", "const") and (v is None or n.value == v)


# --- parsing -------------------------------------------------------------------------------------

def parse(text: str, allow_derivatives: bool = False, rewrites: bool = True, simplify: bool = True) -> Node:
    """The formula's tree, simplified and with the accurate rewrites applied; an InputError on any problem."""
    if len(text) > MAX_LENGTH:
        raise InputError(f"the formula is {len(text)} characters long; at most {MAX_LENGTH} characters are accepted")
    expr = parser.parse(text, formula=True)
    depth, stack = 0, [(expr, 1)]
    while stack:
        e, d = stack.pop()
        depth = max(depth, d)
        if depth > MAX_DEPTH:
            raise InputError(f"the formula nests more than {MAX_DEPTH} levels deep")
        stack.extend((c, d + 1) for c in e.children)
    if not simplify:  # the tree as written: only whether x occurs is asked of it
        return _raw(expr)
    tree = _convert(expr, text, allow_derivatives)
    return rewrite(tree) if rewrites else tree


def _raw(e: parser.Expr) -> Node:
    return Node("x" if e.kind == "name" and e.name == "x" else e.kind, tuple(_raw(c) for c in e.children))


def _convert(e: parser.Expr, text: str, allow_derivatives: bool) -> Node:
    args = tuple(_convert(c, text, allow_derivatives) for c in e.children)
    if e.kind == "num":
        return num(e.value)
    if e.kind == "name":
        if e.name == "x":
            return Node("x")
        if e.name in CONSTANTS:
            return Node("const", value=CONSTANTS[e.name], name=e.name)
        if e.name in parser.FORMULA_BUILTINS or e.name in _function_names():
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
        return Node("call", args, name=e.name, params=e.params)
    return BUILD[e.kind](*args)


def _function_names() -> list[str]:
    return parser.function_names()


# --- building with simplification ----------------------------------------------------------------

def neg(a: Node) -> Node:
    if _is_num(a):
        return num(-a.value)
    if a.op == "neg":
        return a.args[0]
    if a.op == "mul":
        return mul(num(-1.0), a)
    return Node("neg", (a,))


def _flipped(n: Node) -> Node | None:
    """-n when n carries a visible minus sign (a negative number, a negation, a product led by one), else None."""
    if _is_num(n) and n.value < 0:
        return num(-n.value)
    if n.op == "neg":
        return n.args[0]
    if n.op == "mul":
        lead = _factors(n)[0]
        if _is_num(lead) and lead.value < 0:
            return mul(num(-1.0), n)
    if n.op == "div" and (top := _flipped(n.args[0])) is not None:
        return Node("div", (top, n.args[1]))
    return None


def add(a: Node, b: Node) -> Node:
    if _is_num(a) and _is_num(b):
        return num(a.value + b.value)
    if _is_num(a, 0.0):
        return b
    if _is_num(b, 0.0):
        return a
    if (minus_b := _flipped(b)) is not None:
        return sub(a, minus_b)
    if a.op == "neg":
        return sub(b, a.args[0])
    return Node("add", (a, b))


def sub(a: Node, b: Node) -> Node:
    if _is_num(a) and _is_num(b):
        return num(a.value - b.value)
    if _is_num(b, 0.0):
        return a
    if _is_num(a, 0.0):
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
        if _is_num(f):
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
    if _is_num(a) and _is_num(b) and b.value != 0:
        return num(a.value / b.value)
    if _is_num(b, 1.0):
        return a
    if _is_num(a, 0.0):
        return ZERO
    if _is_num(b) and b.value != 0 and math.frexp(b.value)[0] in (0.5, -0.5):  # 1/b exact: a power of two
        return mul(num(1.0 / b.value), a)
    if a.op == "neg":
        return neg(div(a.args[0], b))
    return Node("div", (a, b))


def power(a: Node, b: Node) -> Node:
    if _is_num(b, 1.0):
        return a
    if _is_num(b, 0.0):
        return ONE
    if _is_num(a) and _is_num(b):
        with np.errstate(all="ignore"):
            return num(float(np.float64(a.value) ** np.float64(b.value)))
    return Node("pow", (a, b))


def where(c: Node, a: Node, b: Node) -> Node:
    return a if a == b else Node("where", (c, a, b))


def call(name: str, a: Node, params: tuple[tuple[str, float], ...] = ()) -> Node:
    return Node("call", (a,), name=name, params=params)


def _compare(op: str) -> Callable[[Node, Node], Node]:
    return lambda a, b: Node(op, (a, b))


BUILD: dict[str, Callable[..., Node]] = {"add": add, "sub": sub, "mul": mul, "div": div, "pow": power,
                                        **{op: _compare(op) for op in parser.COMPARISONS.values()}}


# --- accurate rewrites ---------------------------------------------------------------------------

def _one_plus(n: Node) -> Node | None:
    """u where n is 1 + u or u + 1."""
    if n.op == "add":
        a, b = n.args
        if _is_num(a, 1.0):
            return b
        if _is_num(b, 1.0):
            return a
    return None


def _softplus(u: Node) -> Node:
    return call("softplus", u, (("beta", 1.0),))


def rewrite(n: Node) -> Node:
    """Rewrites that keep values accurate where the naive formula loses them (listed in docs/activations.md)."""
    n = n._replace(args=tuple(rewrite(a) for a in n.args))
    if n.op == "call" and n.name == "log":
        u = _one_plus(n.args[0])
        if u is not None and u.op == "call" and u.name == "exp":
            return _softplus(u.args[0])  # log(1 + exp(u)) = softplus(u)
        if u is not None:
            return call("log1p", u)  # log(1 + u) = log1p(u)
        if n.args[0].op == "call" and n.args[0].name == "sigmoid":
            return call("logsigmoid", n.args[0].args[0])  # log(sigmoid(u)) = logsigmoid(u)
    if n.op == "call" and n.name == "log1p" and n.args[0].op == "call" and n.args[0].name == "exp":
        return _softplus(n.args[0].args[0])  # log1p(exp(u)) = softplus(u)
    if n.op == "sub" and _is_num(n.args[1], 1.0) and n.args[0].op == "call" and n.args[0].name == "exp":
        return call("expm1", n.args[0].args[0])  # exp(u) - 1 = expm1(u)
    if n.op == "div" and _is_num(n.args[0], 1.0):
        u = _one_plus(n.args[1])
        if u is not None and u.op == "call" and u.name == "exp":
            return call("sigmoid", neg(u.args[0]))  # 1/(1 + exp(-u)) = sigmoid(u)
    if n.op == "sub" and _is_num(n.args[0], 1.0) and n.args[1].op == "pow" and _is_num(n.args[1].args[1], 2.0):
        t = n.args[1].args[0]
        if t.op == "call" and t.name == "tanh":
            return call("tanh'", t.args[0])  # 1 - tanh(u)**2 = sech²(u), accurate in the tails
    return n


# --- symbolic derivative -------------------------------------------------------------------------

def derivative(n: Node) -> Node:
    """d n / dx, simplified; conventions at kinks as torch's autograd (|u|' = 0 at 0, max splits a tie)."""
    op = n.op
    if op in ("num", "const", "param") or op in parser.COMPARISONS.values():
        return ZERO
    if op == "x":
        return ONE
    d = [derivative(a) for a in n.args]
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
        if _is_num(d[1], 0.0):  # u**c
            return mul(mul(b, power(a, sub(b, ONE))), d[0])
        if _is_num(d[0], 0.0):  # c**u
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
    return mul(_outer(n, u), du)


def _outer(n: Node, u: Node) -> Node:
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
        return mul(num(-2.0), mul(call("tanh", u), call("tanh'", u)))
    if name.endswith("'"):
        raise InputError(f"{name}(…) would need a second derivative, which formulas do not have")
    if name == "softplus":
        beta = dict(n.params).get("beta", 1.0)
        return call("sigmoid", mul(num(beta), u))
    return call(name + "'", u, n.params)


# --- printing ------------------------------------------------------------------------------------

_PREC = {"add": 1, "sub": 1, "mul": 2, "div": 2, "neg": 3, "pow": 4,
         **{op: 0 for op in parser.COMPARISONS.values()}}


def _number(v: float) -> str:
    if v.is_integer() and abs(v) < 1e16:
        return str(int(v))
    return repr(v)


def to_text(n: Node) -> str:
    """The tree as a formula the formula grammar parses back."""
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
    args = ", ".join(to_text(a) for a in n.args)
    if n.params:
        defaults = get_activation(n.name.removesuffix("'")).resolve({})
        shown = [f"{key}={_number(v)}" for key, v in n.params if defaults.get(key) != v]
        args = ", ".join([args, *shown])
    return f"{n.name if op == 'call' else op}({args})"


def _wrap(n: Node, parent: int, strict: bool) -> str:
    p = _PREC.get(n.op, 5)
    if n.op == "num" and n.value < 0:
        p = 3
    text = to_text(n)
    return f"({text})" if (p < parent or (strict and p == parent)) else text


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
    act = get_activation(n.name.removesuffix("'"))
    return (act.grad if n.name.endswith("'") else act.fn)(u, **dict(n.params))


_NUMPY_COMPARE = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
                  "eq": np.equal, "ne": np.not_equal}
_ERF = np.frompyfunc(math.erf, 1, 1)


def _erf(u: Any) -> Any:
    u = np.asarray(u, dtype=np.float64)
    return np.asarray(_ERF(u), dtype=np.float64)


def values(tree: Node, x: Array, params: Params) -> Array:
    """f(x) over a float64 array: NaN in gives NaN out; the result always has x's shape."""
    with np.errstate(all="ignore"):
        out = np.asarray(evaluate(tree, x, params), dtype=np.float64)
        out = np.broadcast_to(out, x.shape).copy() if out.shape != x.shape else out
        nan = np.isnan(x)
        if nan.any():
            out = np.where(nan, np.nan, out)
    return out


# --- torch, from the same tree --------------------------------------------------------------------

def torch_values(tree: Node, torch: Any, x: Any, params: Params) -> Any:
    """f(x) in torch, built from the tree (autograd differentiates it for `activations check`)."""
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
    act = get_activation(name.removesuffix("'"))
    if name.endswith("'"):
        raise InputError(f"{name}(…) cannot be built in torch")
    return act.torch_ref(torch, a[0], dict(tree.params))


def _torch_pow(torch: Any, tree: Node, a: list[Any]) -> Any:
    exponent = tree.args[1]
    if _is_num(exponent):
        return a[0] ** exponent.value  # a constant exponent: autograd differentiates the base only
    return torch.pow(a[0], a[1])


# --- the Activation ------------------------------------------------------------------------------

def parameters(tree: Node) -> list[str]:
    """Parameter names in order of first appearance."""
    found: list[str] = []
    for n in _walk(tree):
        if n.op == "param" and n.name not in found:
            found.append(n.name)
    return found


def _walk(tree: Node) -> Iterator[Node]:
    stack = [tree]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.args))


def from_formula(text: str, name: str | None = None, defaults: Params | None = None,
                 notes: str = "", is_user: bool = False) -> Activation:
    """The Activation the formula `text` spells; its name is the formula itself unless given."""
    text = text.strip()
    try:
        tree = parse(text)
    except InputError as error:
        raise InputError(f"in the formula '{_short(text)}': {error}") from None
    uses_x = any(n.op == "x" for n in _walk(parse(text, rewrites=False, simplify=False)))
    names = parameters(tree)
    if not uses_x:
        raise InputError(f"the formula '{_short(text)}' is not a function of x{_nearest(names)}")
    defaults = dict(defaults or {})
    for key in defaults:
        if key not in names:
            raise unknown_name(f"parameter of '{text}'", key, names) if names else \
                InputError(f"the formula '{text}' takes no parameters (got '{key}')")
    params = tuple(Param(p, float(defaults.get(p, math.nan)), help="formula parameter") for p in names)
    grad_tree = derivative(tree)
    evaluated = to_text(tree)
    rewritten = f"Evaluated as {evaluated}." if evaluated != to_text(parse(text, rewrites=False)) else ""
    notes = " ".join(filter(None, ["A user activation." if is_user else "A formula.", notes, rewritten]))
    used = [a for a in map(_activation, _walk(tree)) if a is not None]
    rtol = max([1e-12, *(a.reference_rtol for a in used)])
    act = Activation(
        name=name or text,
        formula="f(x) = " + text,
        fn=lambda x, **p: values(tree, x, p),
        grad=(lambda x, **p: _grad(tree, grad_tree, x, p)) if _partial(tree) else
        (lambda x, **p: values(grad_tree, x, p)),
        torch_ref=lambda t, x, p: torch_values(tree, t, x, p),
        torch_native=False,
        reference_rtol=rtol,
        output_range="", bounds=lambda p: (-math.inf, math.inf),
        zero_centred=False, monotonic=False, saturates="unknown",
        kinks="may have kinks (where/min/max/abs/comparisons)" if _kinky(tree) else "smooth",
        params=params,
        derivative_formula="f'(x) = " + to_text(grad_tree),
        notes=notes,
        user=is_user,
    )
    return with_facts(act)


def _activation(n: Node) -> Activation | None:
    """The registered activation a call node applies (or differentiates); None for other nodes."""
    if n.op != "call" or n.name in UNARY or n.name == "erf":
        return None
    return get_activation(n.name.removesuffix("'"))


def _nearest(names: list[str]) -> str:
    """For a formula without x: what its other names might have meant."""
    if not names:
        return ""
    import difflib

    functions = list(dict.fromkeys([*parser.FORMULA_BUILTINS, *_function_names()]))
    close = difflib.get_close_matches(names[0], functions, n=1, cutoff=0.6)
    guess = close[0] + "(...)" if close else "x"
    return (f" ({', '.join(names)}: parameters, set with -p NAME=VALUE; did you mean '{guess}'"
            f" for '{names[0]}'?)")


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def _kinky(tree: Node) -> bool:
    for n in _walk(tree):
        act = _activation(n)
        if n.op in KINKY or n.name in KINKY or (act is not None and act.kinks != "smooth"):
            return True
    return False


def _partial(tree: Node) -> bool:
    """Whether f may be undefined (NaN) at some finite x: it divides, takes a power, a log or a square root."""
    return any(n.op in ("div", "pow") or n.name in ("log", "log1p", "sqrt") for n in _walk(tree))


def _grad(tree: Node, grad_tree: Node, x: Array, params: Params) -> Array:
    """f'(x), NaN wherever f(x) is NaN (undefined)."""
    g = values(grad_tree, x, params)
    with np.errstate(all="ignore"):
        undefined = np.isnan(values(tree, x, params))
    return np.where(undefined, np.nan, g) if undefined.any() else g


def with_facts(act: Activation, params: Params | None = None) -> Activation:
    """Range, oddness, monotonicity and saturation measured on a grid, at `params` (else the defaults)."""
    p = {q.name: q.default for q in act.params} | dict(params or {})
    if any(math.isnan(v) for v in p.values()):
        return act._replace(output_range="unknown until its parameters are set")
    xs = np.concatenate([-np.logspace(4, -4, 1601), [0.0], np.logspace(-4, 4, 1601)])
    f, g = act.fn(xs, **p), act.grad(xs, **p)
    finite = f[np.isfinite(f)]
    if finite.size == 0:
        return act._replace(output_range="nowhere finite")
    lo, hi = float(finite.min()), float(finite.max())
    lo_text = "(−∞" if lo == f[0] and lo < -1e3 else f"[{lo:.4g}"
    hi_text = "∞)" if hi == f[-1] and hi > 1e3 else f"{hi:.4g}]"
    half = np.linspace(0.0, 10.0, 2001)
    with np.errstate(all="ignore"):
        odd = bool(np.allclose(act.fn(-half, **p), -act.fn(half, **p), rtol=1e-14, atol=0))
        monotonic = bool(np.all(np.diff(f) >= 0) and np.all(g[np.isfinite(g)] >= 0))
    left, right = (abs(float(act.grad(np.array([v]), **p)[0])) < 1e-6 for v in (-1e3, 1e3))
    saturates = {(False, False): "no", (True, False): "left", (False, True): "right", (True, True): "both"}
    return act._replace(output_range=f"≈{lo_text}, {hi_text} (sampled on [−1e4, 1e4])", zero_centred=odd,
                        monotonic=monotonic, saturates=saturates[(left, right)])


def resolve(text: str) -> Activation | None:
    """A user activation called `text`, or the activation the formula `text` spells; None for an unknown plain name
    (the registry then names the closest)."""
    key = text.strip()
    if key in _CACHE:
        return _CACHE[key]
    # a word (hyphens allowed, as in leaky-relu) is a name unless x stands alone in it (x-1 is a formula)
    plain_name = bool(_IDENTIFIER.fullmatch(text)) and not re.search(r"(?<![A-Za-z_0-9])x(?![A-Za-z_0-9])", key)
    stored = user.load().get(key) if plain_name else None  # a formula never needs the config file
    if stored is not None:
        act = from_formula(stored["formula"], name=key, defaults=stored.get("params", {}),
                           notes=stored.get("notes", ""), is_user=True)
    elif plain_name:
        return None
    else:
        act = from_formula(key)
    _CACHE[key] = act
    return act


def user_activations() -> list[Activation]:
    """Every activation the user has defined, in the order defined."""
    found = [resolve(name) for name in user.load()]
    return [a for a in found if a is not None]


def define(name: str, text: str, params: dict[str, str] | None = None) -> Activation:
    """Check and keep a user activation (nothing is written unless all of it is valid)."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z_0-9]*", name):
        raise InputError(f"'{name}' is not a valid name: letters, digits and _, not starting with a digit")
    try:
        get_activation(name)
    except InputError:
        pass
    else:
        if name not in user.load():
            raise InputError(f"'{name}' is a built-in activation; choose another name")
    if name in ("x", *CONSTANTS, *parser.FORMULA_BUILTINS):
        raise InputError(f"'{name}' is reserved in formulas; choose another name")
    given: Params = {}
    for key, raw in (params or {}).items():
        try:
            given[key] = float(raw)
        except ValueError:
            raise InputError(f"parameter {key}={raw!r} is not a number") from None
        if not math.isfinite(given[key]):
            raise InputError(f"parameter {key}={raw} must be finite")
    act = from_formula(text, name=name, defaults=given, is_user=True)
    act.resolve({})  # every parameter needs its value
    user.store(name, {"formula": text.strip(), "params": given})
    _CACHE.pop(name, None)
    return act


def undefine(name: str) -> None:
    user.remove(name)
    _CACHE.pop(name, None)


def split_names(text: str) -> list[str]:
    """'relu, max(x, 0)' into ['relu', 'max(x, 0)']: split on commas outside parentheses only."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            out.append(text[start:i])
            start = i + 1
    out.append(text[start:])
    return [s.strip() for s in out if s.strip()]
