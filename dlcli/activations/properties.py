"""Facts about an activation: f(0), f'(0), and sup |f'| (declared in closed form where known, else searched)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from dlcli.activations.base import Activation, Params

# A grid step of 1e-3 brackets every registered activation's max |f'|; golden-section search
# inside the bracket then pins it down to ~1e-12.
_GRID = np.linspace(-20.0, 20.0, 40_001)
Progress = Callable[[str, int, int], None]


class Properties(NamedTuple):
    """An activation at given parameters: its declared facts (`act`) and the computed f(0), f'(0), max |f'|."""

    name: str
    params: Params
    value_at_zero: float
    grad_at_zero: float
    max_abs_grad: float
    argmax_abs_grad: float
    max_abs_grad_attained: bool = True  # False: a supremum only approached (softplus' → 1 as x → ∞)
    act: Activation | None = None

    def as_dict(self) -> dict[str, object]:
        """The JSON contract of `activations show`: every declared and computed fact, in the order shown."""
        act = self._act()
        return {
            "name": act.name,
            "aliases": list(act.aliases),
            "formula": act.formula,
            **({"derivative": act.derivative_formula} if act.derivative_formula else {}),
            "params": self.params,
            "range": act.output_range,
            "zero_centred": act.zero_centred,
            "monotonic": act.monotonic,
            "smoothness": act.kinks,
            "saturates": act.saturates,
            "value_at_zero": self.value_at_zero,
            "grad_at_zero": self.grad_at_zero,
            "max_abs_grad": self.max_abs_grad,
            "max_abs_grad_attained": self.max_abs_grad_attained,
            "grad_undefined_at": list(act.undefined_grad_at(self.params)),
            "vector": act.vector,
            "notes": act.notes,
        }

    def as_row(self) -> dict[str, object]:
        """One entry of `activations list`: the registry's summary at the default parameters."""
        act = self._act()
        return {
            "name": act.name,
            "user": act.user,
            "aliases": list(act.aliases),
            "params": {p.name: p.default for p in act.params},
            "range": act.output_range,
            "grad_at_zero": self.grad_at_zero,
            "max_abs_grad": self.max_abs_grad,
            "zero_centred": act.zero_centred,
            "monotonic": act.monotonic,
            "saturates": act.saturates,
            "smoothness": act.kinks,
            "notes": act.notes,
        }

    def _act(self) -> Activation:
        assert self.act is not None, "Properties made by properties() carry their activation"
        return self.act


class Evaluation(NamedTuple):
    """f and f' of one activation at the points x (`activations eval`)."""

    name: str
    params: Params
    x: np.ndarray
    value: np.ndarray
    derivative: np.ndarray

    def as_dict(self) -> dict[str, object]:
        return {"activation": self.name, "params": self.params, "x": self.x, "value": self.value,
                "derivative": self.derivative}


def evaluate(act: Activation, x: np.ndarray, params: Params, values: bool = True, grads: bool = True,
             ) -> Evaluation:
    """f(x) and f'(x) at resolved `params`, each only where asked for (else an empty array)."""
    empty = np.empty(0)
    return Evaluation(act.name, params, x, act.fn(x, **params) if values else empty,
                      act.grad(x, **params) if grads else empty)


def max_abs_grad(act: Activation, params: Params, progress: Progress | None = None) -> tuple[float, float]:
    """sup |f'(x)| over the real line and where: declared, or searched on [-20, 20], where every maximum lies
    (`progress(stage, done, total)` is told as the grid is searched, a piece at a time)."""
    if act.vector:
        return act.vector_max_abs_grad, 0.0
    if act.grad_sup is not None:
        return act.grad_sup(params)[:2]
    grid = np.concatenate([_GRID, [p for p in act.undefined_grad_at(params)]])
    pieces = np.array_split(grid, 8)
    g = np.empty_like(grid)
    start = 0
    for done, piece in enumerate(pieces, 1):
        g[start:start + piece.size] = np.abs(act.grad(piece, **params))
        start += piece.size
        if progress is not None:
            progress("searching max |f'| on [−20, 20]", done, len(pieces))
    g[np.isnan(g)] = -1.0  # a formula's f' is NaN where f is undefined
    i = int(np.argmax(g))
    best_x, best = float(grid[i]), float(g[i])
    lo, hi = best_x - 1e-3, best_x + 1e-3
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    for step in range(60):
        if progress is not None and step % 15 == 0:
            progress("refining max |f'|", step // 15 + 1, 4)
        a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        ga, gb = (float(abs(act.grad(np.array([v]), **params)[0])) for v in (a, b))
        if ga > gb:
            hi = b
        else:
            lo = a
        for v, gv in ((a, ga), (b, gb)):
            if gv > best:
                best_x, best = v, gv
    if abs(best_x) > _GRID[-1] - 1.0:  # still rising at the edge: a limit at infinity, where it is finite and near
        far = float(abs(act.grad(np.array([math.copysign(1e300, best_x)]), **params)[0]))
        if best < far <= best * (1 + 1e-6):
            return far, math.copysign(math.inf, best_x)
    return best, best_x


def properties(act: Activation, params: Params | None = None, progress: Progress | None = None) -> Properties:
    params = act.resolve(params)
    if act.vector:
        zero = np.zeros(2)
        value0, grad0 = float(act.fn(zero, **params)[0]), float(act.grad(zero, **params)[0, 0])
    else:
        value0 = float(act.fn(np.zeros(1), **params)[0])
        grad0 = float(act.grad(np.zeros(1), **params)[0])
    if act.grad_sup is not None:
        best, where, attained = act.grad_sup(params)
    else:
        best, where = max_abs_grad(act, params, progress)
        attained = bool(abs(where) < _GRID[-1] - 1.0)  # a maximum at the edge of the search is a limit at infinity
    return Properties(act.name, params, value0, grad0, best, where, attained, act)
