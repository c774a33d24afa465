"""What a formula's tree decides about f without sampling: a sound enclosure of its range, whether that enclosure
is the range itself, its trend (never decreasing, never increasing, constant), and where it has kinks, jumps,
poles and domain edges. Rules: monotone functions of monotone arguments, sums of same-direction terms, positive
scaling, powers, exp/log/sqrt, 1/u with its pole where u = 0, the declared facts of a passed-in function."""

from __future__ import annotations

import math
import re
from typing import NamedTuple

import numpy as np

from dlcli.expr.tree import Node, deep_recursion

INF = math.inf


class Event(NamedTuple):
    """A place where f is not smooth: kind is kink, jump, pole or domain edge; `at` its x (None: not decided)."""

    kind: str
    at: float | None
    text: str = ""  # a passed-in function's own words, where no x is known


class Facts(NamedTuple):
    """f's range lies in [lo, hi] (whose ends are the range's inf and sup when `tight`; `lo_in`/`hi_in`: attained);
    trend +1 never decreasing, -1 never increasing, 0 constant, None not decided; `events` where it is not smooth."""

    lo: float
    hi: float
    lo_in: bool = False
    hi_in: bool = False
    tight: bool = False
    trend: int | None = None
    events: tuple[Event, ...] = ()
    affine: tuple[float, float] | None = None  # (a, b) when the node is a*x + b
    sup_exact: bool = False  # max(|lo|, |hi|) is sup |f| though the range may be wider than [lo, hi] shows

    def sup_abs(self) -> tuple[float, bool] | None:
        """sup |f| and whether it is attained, where decided."""
        if not (self.tight or self.sup_exact):
            return None
        return (-self.lo, self.lo_in) if -self.lo > self.hi else (self.hi, self.hi_in)


UNKNOWN = Facts(-INF, INF)


def facts(tree: Node, params: dict[str, float]) -> Facts:
    """The facts of `tree` as a function of x on the real line, at `params`."""
    with deep_recursion(), np.errstate(all="ignore"):
        return _facts(tree, params)


def _const(v: float) -> Facts:
    return Facts(v, v, True, True, True, 0, (), (0.0, v))


def _facts(n: Node, p: dict[str, float]) -> Facts:
    op = n.op
    if op in ("num", "const"):
        return _const(n.value)
    if op == "param":
        return _const(p[n.name])
    if op == "x":
        return Facts(-INF, INF, False, False, True, 1, (), (1.0, 0.0))
    a = [_facts(c, p) for c in n.args]
    events = tuple(e for f in a for e in f.events)
    if op == "neg":
        return _neg(a[0])
    if op == "add":
        return _add(a[0], a[1])
    if op == "sub":
        return _add(a[0], _neg(a[1]))
    if op == "mul":
        return _mul(a[0], a[1])
    if op == "div":
        return _mul(a[0], _reciprocal(a[1]))
    if op == "pow":
        return _power(a[0], a[1])
    if op in ("max", "min"):
        return _extreme(op, a[0], a[1])
    if op in ("lt", "le", "gt", "ge", "eq", "ne"):
        return Facts(0.0, 1.0, True, True, False, None, (*events, Event("kink or jump", _zero_of(a[0], a[1]))))
    if op == "where":
        lo, hi = min(a[1].lo, a[2].lo), max(a[1].hi, a[2].hi)
        # two constants, and a condition that holds on one side of a point and not on the other: both are taken
        both = a[1].trend == 0 and a[2].trend == 0 and any(e.at is not None for e in a[0].events)
        return Facts(lo, hi, both, both, both, None, events)
    if op == "call":
        return _call(n, a[0], p)
    return UNKNOWN._replace(events=events)


def _neg(a: Facts) -> Facts:
    return Facts(-a.hi, -a.lo, a.hi_in, a.lo_in, a.tight, None if a.trend is None else -a.trend, a.events,
                 None if a.affine is None else (-a.affine[0], -a.affine[1]), a.sup_exact)


def _both(a: Facts, b: Facts) -> tuple[Event, ...]:
    return a.events + b.events


def _trend_sum(s: int | None, t: int | None) -> int | None:
    if s is None or t is None:
        return None
    return s if t == 0 else t if s == 0 else s if s == t else None


def _add(a: Facts, b: Facts) -> Facts:
    trend = _trend_sum(a.trend, b.trend)
    # constant + tight, or two tight terms moving the same way: the ends are reached together
    tight = a.tight and b.tight and (a.trend == 0 or b.trend == 0 or (trend is not None and not _pole(a, b)))
    affine = None if a.affine is None or b.affine is None else (a.affine[0] + b.affine[0], a.affine[1] + b.affine[1])
    # an infinite end a term reaches stays reached when the other term is bounded on that side
    low_reached = any(u.tight and u.lo == -INF and v.lo > -INF for u, v in ((a, b), (b, a)))
    high_reached = any(u.tight and u.hi == INF and v.hi < INF for u, v in ((a, b), (b, a)))
    tight = tight or (low_reached and high_reached)  # continuous: every value between is taken
    return Facts(a.lo + b.lo, a.hi + b.hi, a.lo_in and b.lo_in, a.hi_in and b.hi_in, tight, trend, _both(a, b), affine,
                 low_reached or high_reached)


def _pole(*facts: Facts) -> bool:
    return any(e.kind in ("pole", "jump") for f in facts for e in f.events)


def _times(u: float, v: float) -> float:
    return 0.0 if u == 0.0 or v == 0.0 else u * v  # 0·∞ = 0 at an end: the enclosure stays sound


def _mul(a: Facts, b: Facts) -> Facts:
    if a.trend == 0 and b.trend != 0:
        a, b = b, a
    if b.trend == 0:  # scaling by a constant c
        c = b.lo
        if c == 0:
            return _const(0.0)._replace(events=a.events)
        if c < 0:
            return _neg(_mul(a, _const(-c)))
        return Facts(a.lo * c, a.hi * c, a.lo_in, a.hi_in, a.tight, a.trend, a.events,
                     None if a.affine is None else (a.affine[0] * c, a.affine[1] * c), a.sup_exact)
    corners = [_times(u, v) for u in (a.lo, a.hi) for v in (b.lo, b.hi)]
    lo, hi = min(corners), max(corners)
    same = a.trend is not None and a.trend == b.trend and a.lo >= 0 and b.lo >= 0  # nonnegative, same direction
    return Facts(lo, hi, False, False, same and a.tight and b.tight and not _pole(a, b), a.trend if same else None,
                 _both(a, b))


def _reciprocal(b: Facts) -> Facts:
    if b.trend == 0:
        return _const(1.0 / b.lo) if b.lo != 0 else UNKNOWN._replace(events=(Event("pole", None),))
    crosses = b.lo < 0 < b.hi or (b.lo == 0 and b.lo_in) or (b.hi == 0 and b.hi_in)
    trend = None if b.trend is None else -b.trend
    if not crosses:  # one sign: 1/u is monotone in u, the ends swap
        lo, hi = 1.0 / b.hi if b.hi != 0 else -INF, 1.0 / b.lo if b.lo != 0 else INF
        if b.hi == 0:
            lo, hi = -INF, 1.0 / b.lo
        return Facts(lo, hi, b.hi_in, b.lo_in, b.tight, trend, b.events)
    pole = Event("pole", _zero_of(b, _const(0.0)))
    lo = -INF if b.lo < 0 else 1.0 / b.hi
    hi = INF if b.hi > 0 else 1.0 / b.lo
    return Facts(lo, hi, False, False, b.tight, None, (*b.events, pole))


def _power(a: Facts, b: Facts) -> Facts:
    if b.trend != 0:
        if a.trend == 0 and a.lo > 0:  # c**u = exp(u·log c)
            return _exp(_mul(b, _const(math.log(a.lo))))
        return UNKNOWN._replace(events=_both(a, b))
    k = b.lo
    if k == 0:
        return _const(1.0)
    if k < 0:
        return _reciprocal(_power(a, _const(-k)))
    if float(k).is_integer() and int(k) % 2 == 1:  # odd power: increasing
        return Facts(a.lo ** k, a.hi ** k, a.lo_in, a.hi_in, a.tight, a.trend, a.events)
    if float(k).is_integer():  # even power: like |u|**k
        return _even(a, lambda v: abs(v) ** k)
    return _rooted(a, lambda v: v ** k, 0.0, "kink" if k < 1 else "")


def _even(a: Facts, f) -> Facts:  # type: ignore[no-untyped-def]
    if a.lo >= 0:
        return Facts(f(a.lo), f(a.hi), a.lo_in, a.hi_in, a.tight, a.trend, a.events)
    if a.hi <= 0:
        return Facts(f(a.hi), f(a.lo), a.hi_in, a.lo_in, a.tight, None if a.trend is None else -a.trend, a.events)
    return Facts(0.0, max(f(a.lo), f(a.hi)), True, a.lo_in or a.hi_in, a.tight, None, a.events)


def _increasing(a: Facts, f, lo: float, hi: float, events: tuple[Event, ...] = ()) -> Facts:  # type: ignore
    """g(u) for g increasing on [lo, hi] (its domain); u clipped to the domain."""
    ulo, uhi = max(a.lo, lo), min(a.hi, hi)
    return Facts(f(ulo), f(uhi), a.lo_in and a.lo >= lo, a.hi_in and a.hi <= hi, a.tight, a.trend,
                 a.events + events)


def _exp(a: Facts) -> Facts:
    return _increasing(a, _UNARY["exp"], -INF, INF)


def _rooted(a: Facts, g, low: float, at_edge: str) -> Facts:  # type: ignore[no-untyped-def]
    """g(u) for g increasing where u ≥ `low` (u > low for a pole) and undefined below: a domain edge where u
    crosses `low`; where u only touches it, `at_edge` (sqrt: f' is infinite there; log: f is −∞)."""
    events: tuple[Event, ...] = ()
    if a.lo < low < a.hi or (a.lo < low and a.hi == low):
        events = (Event("domain edge", _zero_of(a, _const(low))),)
    elif a.lo == low and a.lo_in and at_edge:
        events = (Event(at_edge, _zero_of(a, _const(low))),)
    out = _increasing(a, g, low, INF, events)
    if a.lo < low:  # x reaches the edge itself: g(low) is a value unless g has its pole there
        out = out._replace(lo_in=at_edge != "pole")
    return out


def _edge(a: Facts, at: float, kind: str) -> tuple[Event, ...]:
    """An event where u = `at`, if u gets there."""
    inside = a.lo < at < a.hi or (a.lo == at and a.lo_in) or (a.hi == at and a.hi_in)
    return (Event(kind, _zero_of(a, _const(at))),) if inside else ()


_UNARY = {
    "exp": lambda v: float(np.exp(v)), "expm1": lambda v: float(np.expm1(v)),
    "log": lambda v: float(np.log(v)) if v > 0 else -INF, "log1p": lambda v: float(np.log1p(v)) if v > -1 else -INF,
    "sqrt": lambda v: float(np.sqrt(v)), "erf": math.erf,
}
_DOMAIN = {"log": 0.0, "log1p": -1.0, "sqrt": 0.0}


def _call(n: Node, a: Facts, p: dict[str, float]) -> Facts:
    name = n.name
    if name in _DOMAIN:
        return _rooted(a, _UNARY[name], _DOMAIN[name], "kink" if name == "sqrt" else "pole")
    if name in _UNARY:
        return _increasing(a, _UNARY[name], -INF, INF)
    if name == "abs":
        return _even(a, abs)._replace(events=a.events + _edge(a, 0.0, "kink"))
    if name == "sign":
        both = a.lo < 0 < a.hi and a.tight
        return Facts(-1.0, 1.0, both, both, both, None, a.events + _edge(a, 0.0, "jump"))
    if name in ("sin", "cos"):
        return Facts(-1.0, 1.0, True, True, a.hi - a.lo >= 2 * math.pi and a.tight, None, a.events)
    function = n.function
    if function is None:
        return UNKNOWN._replace(events=a.events)
    params = dict(n.params)
    if name.endswith("'"):
        if function.grad_sup is None:
            return UNKNOWN._replace(events=a.events)
        sup, _, attained = function.grad_sup(params)
        low = 0.0 if function.monotonic and params == function.resolve({}) else -sup
        everywhere = a.affine is not None and a.affine[0] != 0  # A' over the whole line: its declared sup
        return Facts(low, sup, False, attained, events=a.events, sup_exact=everywhere)
    return _passed_in(function, params, a)


def _passed_in(function, params: dict[str, float], a: Facts) -> Facts:  # type: ignore[no-untyped-def]
    """A(u) from A's declared facts: its bounds, monotonicity (at its defaults), kinks."""
    lo, hi = function.bounds(params)
    events = a.events + _kinks(function, params, a)
    monotone = function.monotonic and params == function.resolve({})
    if not monotone:
        return Facts(lo, hi, events=events)
    closed = function.output_range[:1] == "[", function.output_range.rstrip()[-1:] == "]"

    def at(v: float, bound: float) -> float:
        return bound if math.isinf(v) else float(function.fn(np.array([v]), **params)[0])

    return Facts(at(a.lo, lo), at(a.hi, hi), closed[0] if math.isinf(a.lo) else a.lo_in,
                 closed[1] if math.isinf(a.hi) else a.hi_in, a.tight and not _pole(a), a.trend, events)


def _kinks(function, params: dict[str, float], a: Facts) -> tuple[Event, ...]:  # type: ignore[no-untyped-def]
    if function.kinks == "smooth":
        return ()
    points = [float(v) for v in re.findall(r"(?<![\w.])[−-]?\d+(?:\.\d+)?(?![\w.])", function.kinks.replace("−", "-"))]
    kind = "jump" if "jump" in function.kinks and "f'" not in function.kinks.split("jump")[0][-3:] else "kink"
    if a.affine is not None and a.affine[0] != 0 and points and "unless" not in function.kinks:
        slope, offset = a.affine
        return tuple(Event(kind, (v - offset) / slope + 0.0) for v in points)
    return (Event(kind, None, f"{function.name}: {function.kinks}"),)


def _extreme(op: str, a: Facts, b: Facts) -> Facts:
    pick = max if op == "max" else min
    trend = a.trend if a.trend is not None and a.trend == b.trend else \
        (a.trend if b.trend == 0 else b.trend if a.trend == 0 else None)
    kink = Event("kink", _zero_of(a, b)) if a.hi > b.lo and b.hi > a.lo else None
    events = _both(a, b) + ((kink,) if kink else ())
    lo, hi = pick(a.lo, b.lo), pick(a.hi, b.hi)
    lo_in = (lo == a.lo and a.lo_in) or (lo == b.lo and b.lo_in)
    hi_in = (hi == a.hi and a.hi_in) or (hi == b.hi and b.hi_in)
    return Facts(lo, hi, lo_in, hi_in, trend is not None and a.tight and b.tight and not _pole(a, b), trend, events)


def _zero_of(a: Facts, b: Facts) -> float | None:
    """The x where a = b, when both are affine in x and cross once; None where it is not decided."""
    if a.affine is None or b.affine is None:
        return None
    slope, offset = a.affine[0] - b.affine[0], a.affine[1] - b.affine[1]
    return -offset / slope + 0.0 if slope != 0 else None  # + 0.0: never -0
