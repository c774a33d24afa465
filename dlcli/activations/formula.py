"""Activations written as formulas in x: the Activation built from a formula's tree (dlcli/expr: tree, calculus,
evaluate), its facts, user activations kept by name, and `functions()`, what formulas and graphs may call.

    >>> act = from_formula("x*sigmoid(b*x)")
    >>> act.derivative_formula
    "f'(x) = sigmoid(b*x) + b*x*sigmoid'(b*x)"
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from dlcli.activations import user
from dlcli.activations.base import Activation, Array, Param, Params
from dlcli.activations.base import get as get_activation
from dlcli.activations.base import names as registered
from dlcli.errors import InputError, unknown_name
from dlcli.expr import parser
from dlcli.expr.calculus import derivative
from dlcli.expr.evaluate import UNARY, to_text, torch_values, values
from dlcli.expr.facts import Event, Facts, facts
from dlcli.expr.functions import Function, Functions
from dlcli.expr.tree import CONSTANTS, Node, parse

KINKY = {"abs", "sign", "min", "max", "where", "lt", "le", "gt", "ge", "eq", "ne"}
_IDENTIFIER = re.compile(r"\s*[A-Za-z_][A-Za-z_0-9-]*\s*")
_CACHE: dict[str, Activation] = {}
_TREES: dict[str, tuple[Node, Node]] = {}  # a formula activation's name -> its tree and its derivative's
_RESOLVING: list[str] = []  # the user activations being built now (one that calls itself is refused)
Entries = dict[str, dict[str, Any]]


# --- what formulas and graphs may call -------------------------------------------------------------

def functions(entries: Entries | None = None) -> Functions:
    """Every element-wise activation by name or alias, and the user's activations (`entries`, else read from
    their config when a name is no registered one): what a formula or `dlcli graph` may call."""
    stored: list[Entries] = [] if entries is None else [entries]

    def user_entries() -> Entries:
        if not stored:
            stored.append(user.load())
        return stored[0]

    def find(name: str) -> Function | None:
        if name in registered(include_aliases=True, elementwise_only=True):
            return get_activation(name)
        if name in registered(include_aliases=True) or not name.isidentifier() or name not in user_entries():
            return None
        return _user_activation(name, user_entries())

    def callable_names() -> list[str]:
        return [*registered(include_aliases=True, elementwise_only=True), *user_entries()]

    def maps_vector(name: str) -> bool:
        return name in registered(include_aliases=True) and \
            name not in registered(include_aliases=True, elementwise_only=True)

    return Functions(find=find, names=callable_names, maps_vector=maps_vector)


def _user_activation(name: str, entries: Entries) -> Activation:
    """The user activation `name` built from `entries`; one that calls itself, directly or not, is refused."""
    if name in _CACHE:
        return _CACHE[name]
    if name in _RESOLVING:
        chain = " -> ".join([*_RESOLVING[_RESOLVING.index(name):], name])
        raise InputError(f"user activation '{name}' calls itself ({chain}); redefine one of them")
    _RESOLVING.append(name)
    try:
        stored = entries[name]
        act = from_formula(stored["formula"], name=name, defaults=stored.get("params", {}),
                           notes=stored.get("notes", ""), is_user=True, entries=entries)
    finally:
        _RESOLVING.pop()
    _CACHE[name] = act
    return act


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
                 notes: str = "", is_user: bool = False, entries: Entries | None = None) -> Activation:
    """The Activation the formula `text` spells; its name is the formula itself unless given; `entries`: the
    user activations it may call (else read from their config when needed)."""
    text = text.strip()
    library = functions(entries)
    try:
        tree = parse(text, library)
    except InputError as error:
        raise InputError(f"in the formula '{_short(text)}': {error}") from None
    uses_x = any(n.op == "x" for n in _walk(parse(text, library, rewrites=False, simplify=False)))
    names = parameters(tree)
    if not uses_x:
        raise InputError(f"the formula '{_short(text)}' is not a function of x{_nearest(names)}")
    defaults = dict(defaults or {})
    for key in defaults:
        if key not in names:
            raise unknown_name(f"parameter of '{text}'", key, names) if names else \
                InputError(f"the formula '{text}' takes no parameters (got '{key}')")
    params = tuple(Param(p, float(defaults.get(p, math.nan)), help="formula parameter") for p in names)
    grad_tree = derivative(tree, library)
    evaluated = to_text(tree)
    rewritten = f"Evaluated as {evaluated}." if evaluated != to_text(parse(text, library, rewrites=False)) else ""
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
    _TREES[act.name] = (tree, grad_tree)
    return with_facts(act, sampled=False)  # `activations show` and `list` measure the rest


def _activation(n: Node) -> Activation | None:
    """The registered activation a call node applies (or differentiates); None for other nodes."""
    if n.op != "call" or n.name in UNARY or n.name == "erf" or not isinstance(n.function, Activation):
        return None
    return n.function


def _nearest(names: list[str]) -> str:
    """For a formula without x: what its other names might have meant."""
    if not names:
        return ""
    import difflib

    known = list(dict.fromkeys([*parser.FORMULA_BUILTINS, *parser.function_names(functions())]))
    close = difflib.get_close_matches(names[0], known, n=1, cutoff=0.6)
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


def with_facts(act: Activation, params: Params | None = None,
               progress: Callable[[str, int, int], None] | None = None, sampled: bool = True) -> Activation:
    """Range, monotonicity, kinks and sup |f'| decided from the tree where it allows (dlcli/expr/facts.py), else
    measured on a grid and said so; oddness and saturation measured; at `params` (else the defaults).
    Without `sampled`, only what the tree decides (quick: what every command that takes a formula needs)."""
    p = {q.name: q.default for q in act.params} | dict(params or {})
    if any(math.isnan(v) for v in p.values()) or act.name not in _TREES:
        return act._replace(output_range="unknown until its parameters are set")
    tree, grad_tree = _TREES[act.name]
    report = progress or (lambda stage, done, total: None)
    report("deciding its facts from the formula", 1, 4)
    f_facts, g_facts = facts(tree, p), facts(grad_tree, p)
    events = f_facts.events
    undefined = sorted({e.at for e in events if e.at is not None and e.kind in ("pole", "domain edge")})
    act = act._replace(kinks=_kinks_text(events, tree), undefined_grad_at=lambda q: tuple(undefined))
    if not sampled:
        decided = g_facts.sup_abs()
        return act._replace(output_range=_range_text(f_facts, act, np.empty(0), np.empty(0), p) if f_facts.tight
                            else "not decided (activations show measures it)",
                            monotonic=_monotonic(f_facts, g_facts, None, None),
                            grad_sup=None if decided is None or not math.isinf(decided[0]) else
                            (lambda q: (math.inf, math.nan, False)))
    report("sampling it on [−1e4, 1e4]", 2, 4)
    xs = np.concatenate([-np.logspace(4, -4, 1601), [0.0], np.logspace(-4, 4, 1601)])
    f, g = act.fn(xs, **p), act.grad(xs, **p)
    if not np.isfinite(f).any():
        return act._replace(output_range="nowhere finite")
    half = np.linspace(0.0, 10.0, 2001)
    with np.errstate(all="ignore"):
        odd = bool(np.allclose(act.fn(-half, **p), -act.fn(half, **p), rtol=1e-14, atol=0))
    left, right = (abs(float(act.grad(np.array([v]), **p)[0])) < 1e-6 for v in (-1e3, 1e3))
    saturates = {(False, False): "no", (True, False): "left", (False, True): "right", (True, True): "both"}
    report("its derivative's bound", 3, 4)
    grad_sup = _grad_sup(g_facts, events, act, p)
    notes = act.notes + ("" if grad_sup is not None else " max |f'| is searched on [−20, 20], not decided.")
    return act._replace(output_range=_range_text(f_facts, act, xs, f, p), zero_centred=odd,
                        monotonic=_monotonic(f_facts, g_facts, f, g), saturates=saturates[(left, right)],
                        grad_sup=None if grad_sup is None else (lambda q: grad_sup), notes=notes.strip())


def _number_text(v: float) -> str:
    return "∞" if v == math.inf else "−∞" if v == -math.inf else f"{v + 0.0:.4g}".replace("-", "−")  # as the registry


def _range_text(fx: Facts, act: Activation, xs: Array, f: Array, p: Params) -> str:
    """The range decided from the tree, else the extremes sampled on the grid (refined) and said to be."""
    if fx.tight:
        return f"{'[' if fx.lo_in else '('}{_number_text(fx.lo)}, {_number_text(fx.hi)}{']' if fx.hi_in else ')'}"
    ends = []
    for sign, bound in ((1.0, fx.lo), (-1.0, fx.hi)):
        values = np.where(np.isfinite(f), sign * f, np.inf)
        i = int(np.argmin(values))
        if math.isinf(bound) and i in (0, len(xs) - 1) and abs(f[i]) >= 1e3:  # still going at the grid's edge
            ends.append(_number_text(-sign * math.inf))
            continue
        ends.append(_number_text(sign * _refine(act, p, sign, xs, i)))
    lo, hi = ends
    return (f"{'(' if lo == '−∞' else '≈['}{lo}, {hi}{')' if hi == '∞' else ']'} "
            "(sampled on [−1e4, 1e4], not decided)")


def _refine(act: Activation, p: Params, sign: float, xs: Array, i: int) -> float:
    """min of sign·f near the grid point xs[i]: three zooms of 101 points between its neighbours."""
    lo, hi = float(xs[max(i - 1, 0)]), float(xs[min(i + 1, len(xs) - 1)])
    best = sign * float(act.fn(xs[i:i + 1], **p)[0])
    for _ in range(3):
        grid = np.linspace(lo, hi, 101)
        with np.errstate(all="ignore"):
            values = sign * act.fn(grid, **p)
        values[~np.isfinite(values)] = np.inf
        j = int(np.argmin(values))
        best = min(best, float(values[j]))
        lo, hi = float(grid[max(j - 1, 0)]), float(grid[min(j + 1, 100)])
    return best


def _monotonic(fx: Facts, gx: Facts, f: Array | None, g: Array | None) -> bool | None:
    """Never decreasing? Decided from the tree (a monotone composition, or f' ≥ 0 without a pole or jump);
    a decrease found on the grid says no; else None (not decided)."""
    broken = any(e.kind in ("pole", "jump", "kink or jump") for e in fx.events)
    if fx.trend is not None and not broken:
        return fx.trend >= 0
    if gx.lo >= 0 and not broken:
        return True
    if gx.hi <= 0 and gx.lo < 0:
        return False
    if f is None or g is None:
        return None
    finite = np.isfinite(f)
    step = np.diff(f[finite])
    scale = np.maximum(np.abs(f[finite][1:]), np.abs(f[finite][:-1]))
    if np.any(step < -1e-9 * np.maximum(scale, 1e-300)) or np.any(g[np.isfinite(g)] < -1e-12):
        return False
    return None


def _kinks_text(events: tuple[Event, ...], tree: Node) -> str:
    if not events:
        return "may have kinks (where/min/max/abs/comparisons)" if _kinky(tree) else "smooth"
    words = []
    for e in events:
        text = e.text or (f"{e.kind} at {_number_text(e.at)}" if e.at is not None else f"{e.kind} (where not decided)")
        if text not in words:
            words.append(text)
    return "; ".join(words)


def _grad_sup(gx: Facts, events: tuple[Event, ...], act: Activation, p: Params) -> tuple[float, float, bool] | None:
    """(sup |f'|, where, attained) where the tree decides it; None: search it."""
    decided = gx.sup_abs()
    if decided is None:
        return None
    sup, attained = decided
    if math.isinf(sup):
        where = next((e.at for e in events if e.at is not None and e.kind in ("pole", "domain edge")), None)
        if where is None:
            far = [abs(float(act.grad(np.array([v]), **p)[0])) for v in (-1e300, 1e300)]
            where = math.inf if far[1] >= far[0] else -math.inf
        return math.inf, where, False
    from dlcli.activations.properties import max_abs_grad

    _, where = max_abs_grad(act._replace(grad_sup=None), p)
    return sup, where, attained


def resolve(text: str) -> Activation | None:
    """A user activation called `text`, or the activation the formula `text` spells; None for an unknown plain name
    (the registry then names the closest)."""
    key = text.strip()
    if key in _CACHE:
        return _CACHE[key]
    # a word (hyphens allowed, as in leaky-relu) is a name unless x stands alone in it (x-1 is a formula)
    plain_name = bool(_IDENTIFIER.fullmatch(text)) and not re.search(r"(?<![A-Za-z_0-9])x(?![A-Za-z_0-9])", key)
    entries = user.load() if plain_name else {}  # a formula reads the config file only if it calls a user name
    if key in entries:
        return _user_activation(key, entries)
    if plain_name:
        return None
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
    entries = user.load()
    users = [other for other, entry in entries.items() if other != name and name in _words(entry["formula"])[0]]
    if users:
        raise InputError(f"'{name}' is a parameter of your activation {users[0]}; choose another name")
    entry = {"formula": text.strip(), "params": given}
    _CACHE.clear()  # activations that call `name` are built again with its new formula
    act = _user_activation(name, entries | {name: entry})  # one that calls itself is refused here
    _CACHE.clear()
    act.resolve({})  # every parameter needs its value
    user.store(name, entry)
    return act


def undefine(name: str) -> None:
    callers = [other for other, entry in user.load().items() if other != name and name in _words(entry["formula"])[1]]
    if callers:
        raise InputError(f"your activation {callers[0]} calls {name}; undefine or redefine {callers[0]} first")
    user.remove(name)
    _CACHE.clear()


def _words(text: str) -> tuple[set[str], set[str]]:
    """The names a stored formula uses as parameters, and those it calls."""
    try:
        tokens = parser.tokenize(text, formula=True)
    except InputError:
        return set(), set()
    bare: set[str] = set()
    called: set[str] = set()
    for token, following in zip(tokens, tokens[1:], strict=False):
        if token.kind == "name":
            (called if following.text == "(" else bare if following.text != "=" else set()).add(token.text)
    return bare, called


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
